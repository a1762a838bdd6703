//! The console's templates, compiled into the binary, in one minijinja environment with
//! HTML auto-escaping for every `.html` template: a label value is text, never markup.

use std::sync::OnceLock;

use minijinja::{AutoEscape, Environment};

/// Each template's name and text.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("alerts.html", include_str!("templates/alerts.html")),
    ("alert.html", include_str!("templates/alert.html")),
    ("rules.html", include_str!("templates/rules.html")),
    ("silences.html", include_str!("templates/silences.html")),
    (
        "silence_new.html",
        include_str!("templates/silence_new.html"),
    ),
    ("receivers.html", include_str!("templates/receivers.html")),
    ("summary.html", include_str!("templates/summary.html")),
    ("login.html", include_str!("templates/login.html")),
    ("error.html", include_str!("templates/error.html")),
];

/// The environment, built on first use.
pub fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        for (name, text) in TEMPLATES {
            if let Err(e) = env.add_template(name, text) {
                // A broken template is a build mistake the unit tests catch; the page
                // that uses it answers with the error instead of the service stopping.
                tracing::error!(template = name, error = %e, "console template does not parse");
            }
        }
        env
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses_and_html_is_escaped() {
        for (name, _) in TEMPLATES {
            env().get_template(name).unwrap();
        }
        let mut env = env().clone();
        env.add_template("probe.html", "<b>{{ v }}</b>").unwrap();
        let out = env
            .get_template("probe.html")
            .unwrap()
            .render(minijinja::context! { v => "<script>alert(1)</script>\"'&" })
            .unwrap();
        assert_eq!(
            out,
            "<b>&lt;script&gt;alert(1)&lt;&#x2f;script&gt;&quot;&#x27;&amp;</b>"
        );
    }
}
