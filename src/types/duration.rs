//! A duration as settings write it ("30s", "7d"), bounded so time arithmetic cannot overflow.

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
}
