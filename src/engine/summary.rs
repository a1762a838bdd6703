//! Renders a rule's summary text with the value, threshold, reason and labels.

use crate::detect::threshold::fmt_num;
use crate::model::Labels;
use crate::rule::Rule;

/// What a summary can mention.
#[derive(Debug, Clone, Copy)]
pub struct SummaryInputs<'a> {
    /// The aggregated value, if any.
    pub value: Option<f64>,
    /// The threshold or baseline centre, if any.
    pub threshold: Option<f64>,
    /// The detector's reason fragment.
    pub reason: &'a str,
    /// The group's labels.
    pub group: &'a Labels,
}

/// Fills `{measure} {value} {unit} {threshold} {reason} {labels} {label.NAME} {rule}
/// {severity}` in the rule's summary; unknown placeholders stay as written.
pub fn render_summary(rule: &Rule, inputs: SummaryInputs<'_>) -> String {
    let template = &rule.summary;
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template.as_str();
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            out.push_str(&rest[open..]);
            rest = "";
            break;
        };
        let key = &after[..close];
        match key {
            "measure" => out.push_str(&rule.measure_name()),
            "value" => match inputs.value {
                Some(v) => {
                    out.push_str(&fmt_num(v));
                    // `"{value} s"` already writes the unit: do not write it twice.
                    if !writes_unit_next(&after[close + 1..], rule.unit()) {
                        out.push_str(rule.unit());
                    }
                }
                None => out.push_str("(no data)"),
            },
            "unit" => out.push_str(rule.unit().trim()),
            "threshold" => match inputs.threshold {
                Some(t) => out.push_str(&fmt_num(t)),
                None => out.push('-'),
            },
            "reason" => out.push_str(inputs.reason),
            "labels" => {
                if inputs.group.is_empty() {
                    out.push_str("all");
                } else {
                    out.push_str(&inputs.group.to_string());
                }
            }
            "rule" => out.push_str(&rule.name),
            "severity" => out.push_str(rule.severity.as_str()),
            _ => match key.strip_prefix("label.") {
                Some(name) => out.push_str(inputs.group.get(name).unwrap_or("")),
                None => {
                    out.push('{');
                    out.push_str(key);
                    out.push('}');
                }
            },
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

/// True when the template text after `{value}` starts with the value's unit as a word
/// of its own (`" s"`, `"s/run"`, `" USD."`), or with the `{unit}` placeholder.
fn writes_unit_next(rest: &str, unit: &str) -> bool {
    let unit = unit.trim();
    let rest = rest.trim_start();
    if unit.is_empty() {
        return false;
    }
    if rest.starts_with("{unit}") {
        return true;
    }
    rest.strip_prefix(unit)
        .is_some_and(|after| !after.starts_with(|c: char| c.is_alphanumeric() || c == '_'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::{parse_rules, RuleContext};
    use crate::types::SourceFile;

    fn rule(summary: &str) -> Rule {
        let text = format!(
            "[[rule]]\nname = \"r\"\nmetric = \"llm.call.duration\"\ngroup_by = [\"model\"]\n\
             window = \"10m\"\nseverity = \"warning\"\nsummary = {summary:?}\n\
             detector = {{ kind = \"threshold\", above = 10 }}\n"
        );
        let ctx = RuleContext {
            sources: vec!["s".into()],
            source_kinds: Default::default(),
            receivers: vec![],
            default_receivers: vec![],
        };
        let set = parse_rules(&[SourceFile::new("t.toml", text)], &ctx).unwrap();
        (*set.rules[0]).clone()
    }

    fn render(summary: &str) -> String {
        let group = Labels::from([("model", "gpt-4o")]);
        render_summary(
            &rule(summary),
            SummaryInputs {
                value: Some(12.5),
                threshold: Some(10.0),
                reason: "is above the threshold 10",
                group: &group,
            },
        )
    }

    #[test]
    fn the_unit_is_written_once() {
        assert_eq!(
            render("{value} {reason}"),
            "12.5 s is above the threshold 10"
        );
        assert_eq!(
            render("{value} s {reason}"),
            "12.5 s is above the threshold 10"
        );
        assert_eq!(render("took {value}s."), "took 12.5s.");
        assert_eq!(render("{value} {unit}"), "12.5 s");
        // A word that merely starts with the unit's letter is not the unit.
        assert_eq!(render("{value} since"), "12.5 s since");
        assert_eq!(render("{label.model} at {value}"), "gpt-4o at 12.5 s");
    }
}
