//! Renders a rule's summary text with the value, threshold, reason and labels.

use crate::config::validated::Rule;
use crate::detect::threshold::fmt_num;
use crate::model::Labels;

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
                    out.push_str(rule.unit());
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
