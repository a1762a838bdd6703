//! Reading `rules/*.toml` into a validated [`RuleSet`], every problem reported at once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::rule::spec::{RuleConfig, RuleFileConfig};
use crate::rule::toml_text::{read, toml_message, with_suggestion};
use crate::rule::validate::{validate_rule, RuleContext};
use crate::rule::validated::RuleSet;
use crate::types::{ConfigError, ConfigErrors, SourceFile};

/// The rule files of a directory: `*.toml` directly inside it, in name order.
pub fn rule_files(dir: &Path) -> Result<Vec<PathBuf>, ConfigErrors> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: dir.display().to_string(),
            line: 0,
            column: 0,
            rule: None,
            message: format!("cannot read the rules directory: {e}"),
        }])
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    Ok(files)
}

/// Loads and validates every rule file in `dir`, reporting all problems at once.
pub fn load_rules(dir: &Path, ctx: &RuleContext) -> Result<RuleSet, ConfigErrors> {
    let mut sources = Vec::new();
    for path in rule_files(dir)? {
        sources.push(SourceFile::new(path.display().to_string(), read(&path)?));
    }
    parse_rules(&sources, ctx)
}

/// Validates rule files already in memory.
pub fn parse_rules(files: &[SourceFile], ctx: &RuleContext) -> Result<RuleSet, ConfigErrors> {
    let mut errors = Vec::new();
    let mut rules = Vec::new();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for file in files {
        for (offset, parsed) in parse_rule_chunks(file, &mut errors) {
            match validate_rule(parsed, file, offset, ctx) {
                Ok(rule) => {
                    if let Some(first) = seen.get(&rule.name) {
                        errors.push(ConfigError {
                            file: file.path.clone(),
                            line: file.position(offset).0,
                            column: 1,
                            rule: Some(rule.name.clone()),
                            message: format!("duplicate rule name (first defined in {first})"),
                        });
                    } else {
                        seen.insert(rule.name.clone(), file.path.clone());
                        rules.push(Arc::new(rule));
                    }
                }
                Err(mut e) => errors.append(&mut e),
            }
        }
    }
    ConfigErrors(errors).into_result(RuleSet { rules })
}

/// Splits a file at its `[[rule]]` headers and deserializes each rule on its own, so one
/// bad rule does not hide the problems of the next. Returns (offset, rule) pairs.
fn parse_rule_chunks(file: &SourceFile, errors: &mut Vec<ConfigError>) -> Vec<(usize, RuleConfig)> {
    // First the whole file's syntax: a syntax error makes chunking meaningless.
    let table = match file.text.parse::<toml::Table>() {
        Ok(t) => t,
        Err(e) => {
            errors.push(file.error(e.span(), None, toml_message(&e, &file.text)));
            return Vec::new();
        }
    };
    errors.extend(crate::rule::numbers::non_finite_numbers(file));
    let expected = table
        .get("rule")
        .and_then(|r| r.as_array())
        .map(|a| a.len())
        .unwrap_or(0);
    let mut starts = Vec::new();
    // Where each rule's text ends: the next rule, or a `[[budget]]` table (budget::load).
    let mut ends = Vec::new();
    let mut offset = 0;
    for line in file.text.split_inclusive('\n') {
        let t = line.trim();
        let header = t.split('#').next().unwrap_or("").trim().replace(' ', "");
        if header == "[[rule]]" || header == "[[budget]]" {
            ends.push(offset);
        }
        if header == "[[rule]]" {
            starts.push(offset);
        }
        offset += line.len();
    }
    let mut out = Vec::new();
    if starts.len() != expected
        || starts
            .first()
            .is_some_and(|s| !only_comments(&file.text[..*s]))
    {
        // Unusual layout (inline arrays, keys before the first rule): whole-file parse.
        match toml::from_str::<RuleFileConfig>(&file.text) {
            Ok(f) => out.extend(f.rule.into_iter().map(|r| (0, r))),
            Err(e) => errors.push(file.error(e.span(), None, toml_message(&e, &file.text))),
        }
        return out;
    }
    for (i, start) in starts.iter().enumerate() {
        let end = ends
            .iter()
            .copied()
            .find(|e| e > start)
            .unwrap_or(file.text.len());
        let chunk = &file.text[*start..end];
        match toml::from_str::<RuleFileConfig>(chunk) {
            Ok(mut f) if f.rule.len() == 1 => out.push((*start, f.rule.remove(0))),
            Ok(_) => errors.push(file.error(Some(*start..*start), None, "expected one rule")),
            Err(e) => {
                let name = table
                    .get("rule")
                    .and_then(|r| r.as_array())
                    .and_then(|a| a.get(i))
                    .and_then(|r| r.get("name"))
                    .and_then(|n| n.as_str())
                    .map(str::to_owned);
                let span = e.span().map(|s| s.start + start..s.end + start);
                let message = with_suggestion(&toml_message(&e, chunk));
                errors.push(file.error(span, name.as_deref(), message));
            }
        }
    }
    out
}

/// Whether `text` holds only blank lines and comments.
fn only_comments(text: &str) -> bool {
    text.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#')
    })
}
