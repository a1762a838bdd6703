//! Newtypes parsed at the config boundary: durations, label names, schedules, secrets.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

/// A duration written as `"30s"`, `"5m"`, `"1h30m"`, `"7d"`, at most
/// [`DurationSpec::MAX`]: a longer one could not be added to or taken from a time, so it
/// cannot be made (the field is private; `new` and parsing check the bound).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct DurationSpec(Duration);

impl DurationSpec {
    /// The longest duration any setting takes: 400 days (a rule's window or delay, a
    /// retention, a timeout). Settings with a tighter bound check it themselves.
    pub const MAX: Duration = Duration::from_secs(400 * 86_400);

    /// A duration of at most [`Self::MAX`].
    pub fn new(duration: Duration) -> Result<Self, String> {
        if duration > Self::MAX {
            return Err(format!(
                "duration {} is too long; expected at most 400d",
                humantime::format_duration(duration)
            ));
        }
        Ok(DurationSpec(duration))
    }

    /// The duration as std's type.
    pub fn get(self) -> Duration {
        self.0
    }

    /// The duration as chrono's type, for time arithmetic; exact, since the bound keeps
    /// it far inside chrono's range.
    pub fn chrono(self) -> chrono::TimeDelta {
        chrono::TimeDelta::from_std(self.0).unwrap_or(chrono::TimeDelta::MAX)
    }
}

impl FromStr for DurationSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parsed = humantime::parse_duration(s.trim()).map_err(|e| {
            format!("invalid duration {s:?} ({e}); expected e.g. \"30s\", \"5m\", \"1h\", \"7d\"")
        })?;
        DurationSpec::new(parsed).map_err(|_| {
            format!("duration {s:?} is too long; expected at most 400d (e.g. \"7d\", \"30d\")")
        })
    }
}

impl<'de> Deserialize<'de> for DurationSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for DurationSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(self.0).to_string())
    }
}

impl schemars::JsonSchema for DurationSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A duration such as \"30s\", \"5m\", \"1h30m\" or \"7d\".",
            "pattern": "^\\s*([0-9]+(\\.[0-9]+)?\\s*(ns|us|µs|ms|s|sec|secs|m|min|mins|h|hr|hrs|d|days?|w|weeks?)\\s*)+$"
        })
    }
}

impl fmt::Display for DurationSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

/// A Prometheus-style label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct LabelName(String);

impl LabelName {
    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for LabelName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut chars = s.chars();
        let ok = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if ok {
            Ok(LabelName(s.to_owned()))
        } else {
            Err(format!(
                "invalid label name {s:?}; expected letters, digits and '_', not starting with a digit"
            ))
        }
    }
}

impl<'de> Deserialize<'de> for LabelName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for LabelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A cron expression. Accepts the classic five fields (minute first) or the cron
/// crate's six/seven (seconds first).
#[derive(Clone)]
pub struct CronSpec {
    text: String,
    schedule: cron::Schedule,
}

impl CronSpec {
    /// The parsed schedule.
    pub fn schedule(&self) -> &cron::Schedule {
        &self.schedule
    }
}

impl fmt::Debug for CronSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CronSpec({:?})", self.text)
    }
}

impl PartialEq for CronSpec {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl FromStr for CronSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let fields = s.split_whitespace().count();
        let full = if fields == 5 {
            format!("0 {s}")
        } else {
            s.to_owned()
        };
        cron::Schedule::from_str(&full)
            .map(|schedule| CronSpec {
                text: s.to_owned(),
                schedule,
            })
            .map_err(|e| {
                // The cron crate's message spans lines with a caret; keep its last line.
                let text = e.to_string();
                let why = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
                format!("invalid cron expression {s:?} ({why}); expected 5 fields (min hour day month weekday) or 6-7 with seconds first")
            })
    }
}

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

/// A secret value: never printed by Debug or Display.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself; call only where it is used, never to log.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_humanly() {
        assert_eq!(
            "90s".parse::<DurationSpec>().unwrap().get(),
            Duration::from_secs(90)
        );
        assert_eq!(
            "7d".parse::<DurationSpec>().unwrap().get(),
            Duration::from_secs(7 * 86400)
        );
        assert!("soon".parse::<DurationSpec>().is_err());
    }

    #[test]
    fn cron_accepts_five_and_six_fields() {
        assert!("*/5 * * * *".parse::<CronSpec>().is_ok());
        assert!("0 */5 * * * *".parse::<CronSpec>().is_ok());
        let err = "61 * * * *".parse::<CronSpec>().unwrap_err();
        assert!(err.contains("invalid cron expression"), "{err}");
    }

    #[test]
    fn env_expansion() {
        let look = |n: &str| (n == "A").then(|| "x".to_owned());
        assert_eq!(expand_env("a${A}b$$c", look).unwrap(), "axb$c");
        assert!(expand_env("${B}", look)
            .unwrap_err()
            .contains("B is not set"));
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("whsec_abc");
        assert_eq!(format!("{s:?} {s}"), "Secret(***) ***");
    }

    #[test]
    fn label_names() {
        assert!("model".parse::<LabelName>().is_ok());
        assert!("1x".parse::<LabelName>().is_err());
        assert!("a-b".parse::<LabelName>().is_err());
    }
}
