//! Strings with `${VAR}` references, expanded from the environment at validation.

use serde::Deserialize;

/// A string that may hold `${VAR}` references, expanded from the environment when the
/// configuration is validated.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct EnvString(pub String);

impl EnvString {
    /// Replaces every `${VAR}` with the variable's value; names the first missing one.
    pub fn expand(&self) -> Result<String, String> {
        expand_env(&self.0, |name| std::env::var(name).ok())
    }
}

/// Expands `${VAR}` references using `lookup`; `$$` stays a literal `$`.
pub fn expand_env(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body
                .find('}')
                .ok_or_else(|| format!("unterminated ${{...}} in {text:?}"))?;
            let name = &body[..end];
            let value =
                lookup(name).ok_or_else(|| format!("environment variable {name} is not set"))?;
            out.push_str(&value);
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_expansion() {
        let look = |n: &str| (n == "A").then(|| "x".to_owned());
        assert_eq!(expand_env("a${A}b$$c", look).unwrap(), "axb$c");
        assert!(expand_env("${B}", look)
            .unwrap_err()
            .contains("B is not set"));
    }
}
