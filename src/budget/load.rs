//! Reading the `[[budget]]` tables of `rules/*.toml` into validated [`Budget`]s, every
//! problem reported at once with file:line:col, the way rules are read.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

use crate::budget::settings::{validate_budget, Budget, BudgetConfig};
use crate::rule::toml_text::{read, toml_message, with_suggestion};
use crate::rule::{rule_files, RuleContext};
use crate::types::{ConfigErrors, SourceFile};

/// One chunk of a rule file that starts at a `[[budget]]` header.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BudgetChunk {
    #[serde(default)]
    budget: Vec<BudgetConfig>,
}

/// Loads and validates every budget in the rule files of `dir`.
pub fn load_budgets(dir: &Path, ctx: &RuleContext) -> Result<Vec<Arc<Budget>>, ConfigErrors> {
    let mut files = Vec::new();
    for path in rule_files(dir)? {
        files.push(SourceFile::new(path.display().to_string(), read(&path)?));
    }
    parse_budgets(&files, ctx)
}

/// Validates the budgets of rule files already in memory. A file whose TOML does not
/// parse is left to the rules' loader to report.
pub fn parse_budgets(
    files: &[SourceFile],
    ctx: &RuleContext,
) -> Result<Vec<Arc<Budget>>, ConfigErrors> {
    let mut errors = Vec::new();
    let mut budgets = Vec::new();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for file in files {
        let Ok(table) = file.text.parse::<toml::Table>() else {
            continue;
        };
        for (i, (start, end)) in budget_chunks(&file.text).into_iter().enumerate() {
            let chunk = file.text.get(start..end).unwrap_or_default();
            let parsed = match toml::from_str::<BudgetChunk>(chunk) {
                Ok(c) => c.budget,
                Err(e) => {
                    let span = e.span().map(|s| s.start + start..s.end + start);
                    let name = table
                        .get("budget")
                        .and_then(|b| b.get(i))
                        .and_then(|b| b.get("name"))
                        .and_then(|n| n.as_str())
                        .map_or(String::new(), |n| format!("budget {n:?}: "));
                    let message = format!("{name}{}", with_suggestion(&toml_message(&e, chunk)));
                    errors.push(file.error(span, None, message));
                    continue;
                }
            };
            for cfg in parsed {
                match validate_budget(cfg, file, start, ctx) {
                    Ok(b) => match seen.get(&b.name) {
                        Some(first) => errors.push(file.error(
                            Some(start..start),
                            None,
                            format!(
                                "budget {:?}: duplicate budget name (first defined in {first})",
                                b.name
                            ),
                        )),
                        None => {
                            seen.insert(b.name.clone(), file.path.clone());
                            budgets.push(Arc::new(b));
                        }
                    },
                    Err(mut e) => errors.append(&mut e),
                }
            }
        }
    }
    ConfigErrors(errors).into_result(budgets)
}

/// The byte ranges of a file's `[[budget]]` tables: from each `[[budget]]` header to the
/// next header of another table (a `[budget.x]` sub-table stays in its budget).
pub fn budget_chunks(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut open: Option<usize> = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let header = line.split('#').next().unwrap_or("").trim().replace(' ', "");
        if header.starts_with('[') {
            let is_budget = header == "[[budget]]";
            let inside = header.starts_with("[budget.") || header.starts_with("[[budget.");
            if !inside {
                if let Some(s) = open.take() {
                    out.push((s, offset));
                }
                if is_budget {
                    open = Some(offset);
                }
            }
        }
        offset += line.len();
    }
    if let Some(s) = open {
        out.push((s, text.len()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> RuleContext {
        RuleContext {
            sources: vec!["cmbagent".to_owned()],
            source_kinds: Default::default(),
            receivers: vec!["hook".to_owned()],
            default_receivers: vec!["hook".to_owned()],
        }
    }

    const GOOD: &str = r#"
[[rule]]
name = "r"
metric = "llm.cost"
window = "1h"
severity = "info"
detector = { kind = "threshold", above = 1 }

[[budget]]
name = "gpt4o_monthly"
metric = "llm.cost"
filter = { model = "gpt-4o" }
amount = 1000
period = "month"
timezone = "Europe/Berlin"

[[budget]]
name = "tokens_per_agent"
metric = "llm.tokens"
group_by = ["agent"]
amount = 5e6
period = "week"
"#;

    #[test]
    fn budgets_are_read_beside_rules() {
        let b = parse_budgets(&[SourceFile::new("a.toml", GOOD)], &ctx()).unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].timezone, chrono_tz::Europe::Berlin);
        assert_eq!(b[1].unit, crate::budget::settings::Unit::Tokens);
        assert_eq!(b[1].group_names(), vec!["agent".to_owned()]);
        assert_eq!(b[0].receivers, vec!["hook".to_owned()]);
        // The rules' loader reads the same file and leaves the budgets alone.
        let rules = crate::rule::parse_rules(&[SourceFile::new("a.toml", GOOD)], &ctx()).unwrap();
        assert_eq!(rules.rules.len(), 1);
        let budgets_first = format!(
            "{}\n{}",
            &GOOD[GOOD.find("[[budget]]").unwrap()..],
            &GOOD[..GOOD.find("[[budget]]").unwrap()]
        );
        let rules =
            crate::rule::parse_rules(&[SourceFile::new("a.toml", budgets_first)], &ctx()).unwrap();
        assert_eq!(rules.rules.len(), 1);
    }

    #[test]
    fn every_error_is_reported_with_its_place() {
        let bad = r#"[[budget]]
name = "a"
metric = "llm.call.duration"
amount = -5
period = "month"
timezone = "Mars/Olympus"

[[budget]]
name = "b"
metric = "llm.cost"
amount = 10
period = "fortnight"

[[budget]]
name = "c"
metric = "llm.cost"
amount = 10
period = "day"
unit = "tokens"
grop_by = ["model"]
"#;
        let e = parse_budgets(&[SourceFile::new("b.toml", bad)], &ctx()).unwrap_err();
        let lines: Vec<String> =
            e.0.iter()
                .map(|e| format!("{}:{}:{} {}", e.file, e.line, e.column, e.message))
                .collect();
        let all = lines.join("\n");
        assert!(
            all.contains("b.toml:3:10 budget \"a\": a budget counts spend"),
            "{all}"
        );
        assert!(
            all.contains("b.toml:4:10 budget \"a\": `amount` must be a number above 0"),
            "{all}"
        );
        assert!(
            all.contains("b.toml:6:12 budget \"a\": unknown time zone \"Mars/Olympus\""),
            "{all}"
        );
        assert!(
            all.contains("b.toml:12:10 budget \"b\": unknown variant `fortnight`"),
            "{all}"
        );
        assert!(
            all.contains("b.toml:20:1 budget \"c\": unknown field `grop_by`"),
            "{all}"
        );
        assert!(all.contains("did you mean `group_by`"), "{all}");
        assert_eq!(e.0.len(), 5, "{all}");
    }

    #[test]
    fn chunks_end_at_the_next_table() {
        let text = "[[budget]]\na = 1\n[budget.x]\nb = 2\n[[rule]]\nc = 3\n[[budget]]\nd = 4\n";
        let chunks = budget_chunks(text);
        assert_eq!(chunks.len(), 2);
        assert_eq!(
            &text[chunks[0].0..chunks[0].1],
            "[[budget]]\na = 1\n[budget.x]\nb = 2\n"
        );
        assert_eq!(&text[chunks[1].0..chunks[1].1], "[[budget]]\nd = 4\n");
    }
}
