//! User templates (minijinja) over a notification's payload: compiled once when the
//! configuration loads, rendered at delivery time. Rendering sees only the payload, so the
//! same payload always gives the same bytes.

use std::fmt;
use std::sync::Arc;

use minijinja::value::Serde;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;

use crate::model::payload::{AlertPayload, WebhookPayload};

/// The shipped default email subject.
pub const DEFAULT_EMAIL_SUBJECT: &str = include_str!("templates/email_subject.j2");
/// The shipped default plain-text email body.
pub const DEFAULT_EMAIL_TEXT: &str = include_str!("templates/email.txt.j2");
/// The shipped default HTML email body.
pub const DEFAULT_EMAIL_HTML: &str = include_str!("templates/email.html.j2");

/// A template that failed to compile, with where minijinja says the problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// The template's name: its file path, or what names an inline template.
    pub name: String,
    /// 1-based line in the template, when known.
    pub line: Option<usize>,
    /// 1-based column (in characters) in the template, when known.
    pub column: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => {
                write!(f, "{}:{line}:{column}: {}", self.name, self.message)
            }
            (Some(line), None) => write!(f, "{}:{line}: {}", self.name, self.message),
            _ => write!(f, "{}: {}", self.name, self.message),
        }
    }
}

impl std::error::Error for TemplateError {}

/// A compiled template, cheap to clone and safe to share between deliveries.
#[derive(Clone)]
pub struct Template {
    env: Arc<Environment<'static>>,
    name: String,
    source: Arc<str>,
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Template")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Template {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.source == other.source
    }
}

/// What a template sees: every payload field at the top level (`status`, `receiver`,
/// `alerts`, `common_labels`, …) and the alerts split by state.
#[derive(Serialize)]
struct Context<'a> {
    #[serde(flatten)]
    payload: &'a WebhookPayload,
    /// The alerts still firing.
    firing: Vec<&'a AlertPayload>,
    /// The alerts that resolved.
    resolved: Vec<&'a AlertPayload>,
}

impl Template {
    /// Compiles `source` under `name`. A name ending in `.html` (before an optional
    /// `.j2`) escapes HTML in `{{ }}`; one ending in `.json` writes values as JSON.
    /// Printing an undefined value is an error (so a misspelt field does not quietly
    /// render as nothing), while `{% if x %}` on an undefined value is simply false.
    pub fn compile(name: &str, source: &str) -> Result<Self, TemplateError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        env.set_auto_escape_callback(|name| {
            let base = name.strip_suffix(".j2").unwrap_or(name);
            if base.ends_with(".html") || base.ends_with(".htm") {
                AutoEscape::Html
            } else if base.ends_with(".json") {
                AutoEscape::Json
            } else {
                AutoEscape::None
            }
        });
        env.add_template_owned(name.to_owned(), source.to_owned())
            .map_err(|e| TemplateError {
                name: name.to_owned(),
                line: e.line(),
                column: e.range().map(|r| column_of(source, r.start)),
                message: describe(&e),
            })?;
        Ok(Self {
            env: Arc::new(env),
            name: name.to_owned(),
            source: source.into(),
        })
    }

    /// The template's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Renders the template for `payload`.
    pub fn render(&self, payload: &WebhookPayload) -> Result<String, TemplateError> {
        let context = Context {
            payload,
            firing: payload
                .alerts
                .iter()
                .filter(|a| a.state != crate::model::AlertState::Resolved)
                .collect(),
            resolved: payload
                .alerts
                .iter()
                .filter(|a| a.state == crate::model::AlertState::Resolved)
                .collect(),
        };
        let template = self
            .env
            .get_template(&self.name)
            .map_err(|e| TemplateError {
                name: self.name.clone(),
                line: None,
                column: None,
                message: describe(&e),
            })?;
        template
            .render(minijinja::Value::from(Serde(&context)))
            .map_err(|e| TemplateError {
                name: self.name.clone(),
                line: e.line(),
                column: e.range().map(|r| column_of(template.source(), r.start)),
                message: describe(&e),
            })
    }
}

/// The 1-based character column of byte `offset` in `source`.
fn column_of(source: &str, offset: usize) -> usize {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    let start = source[..offset].rfind('\n').map_or(0, |i| i + 1);
    source[start..offset].chars().count() + 1
}

/// minijinja's message without its own "(in name:line)" suffix, which we say ourselves.
fn describe(e: &minijinja::Error) -> String {
    let mut message = e.kind().to_string();
    if let Some(detail) = e.detail() {
        message.push_str(": ");
        message.push_str(detail);
    }
    message
}

/// The shipped email templates, compiled; panics only if a shipped file is broken, which
/// the unit tests rule out.
pub fn default_email_templates() -> (Template, Template, Template) {
    let compile = |name: &str, source: &str| {
        Template::compile(name, source).unwrap_or_else(|e| panic!("shipped template: {e}"))
    };
    (
        compile("default email subject", DEFAULT_EMAIL_SUBJECT),
        compile("default email.txt", DEFAULT_EMAIL_TEXT),
        compile("default email.html", DEFAULT_EMAIL_HTML),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::render::sample::sample_payload;

    #[test]
    fn a_syntax_error_names_the_template_and_line() {
        let err = Template::compile("hooks/body.j2", "line one\n{{ status }\n").unwrap_err();
        assert_eq!(err.name, "hooks/body.j2");
        assert_eq!(err.line, Some(2));
        assert!(err.to_string().starts_with("hooks/body.j2:2:"), "{err}");
        assert!(err.message.starts_with("syntax error"), "{err}");
    }

    #[test]
    fn printing_a_misspelt_field_is_a_render_error_but_testing_it_is_not() {
        let payload = sample_payload("ops");
        let t = Template::compile("t.j2", "{% if nope %}x{% endif %}{{ status }}").unwrap();
        assert_eq!(t.render(&payload).unwrap(), "firing");
        let t = Template::compile("t.j2", "a\n{{ alerts[0].labelz.model }}").unwrap();
        let err = t.render(&payload).unwrap_err();
        assert_eq!(err.line, Some(2), "{err}");
        assert!(err.message.contains("undefined"), "{err}");
    }

    #[test]
    fn the_same_payload_renders_the_same_bytes() {
        let payload = sample_payload("ops");
        let (subject, text, html) = default_email_templates();
        for t in [&subject, &text, &html] {
            let first = t.render(&payload).unwrap();
            assert_eq!(first, t.render(&payload).unwrap(), "{}", t.name());
            assert!(!first.trim().is_empty(), "{}", t.name());
        }
        let subject = subject.render(&payload).unwrap();
        assert!(subject.starts_with("[FIRING:2]"), "{subject}");
        assert!(!subject.contains('\n'), "one line: {subject:?}");
    }

    #[test]
    fn html_templates_escape_and_json_templates_quote() {
        let mut payload = sample_payload("ops");
        payload.alerts[0]
            .annotations
            .insert("summary".into(), "<b>\"x\"</b>".into());
        let html = Template::compile("mail.html.j2", "{{ alerts[0].annotations.summary }}")
            .unwrap()
            .render(&payload)
            .unwrap();
        assert_eq!(html, "&lt;b&gt;&quot;x&quot;&lt;&#x2f;b&gt;");
        let json = Template::compile("body.json", "{\"s\": {{ alerts[0].annotations.summary }}}")
            .unwrap()
            .render(&payload)
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["s"], "<b>\"x\"</b>");
    }

    #[test]
    fn templates_see_alerts_split_by_state() {
        let payload = sample_payload("ops");
        let t = Template::compile(
            "t",
            "{{ firing|length }}/{{ resolved|length }}/{{ alerts|length }}",
        )
        .unwrap();
        assert_eq!(t.render(&payload).unwrap(), "2/1/3");
    }
}
