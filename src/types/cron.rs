//! A cron expression, parsed once and kept with its text.

use std::fmt;
use std::str::FromStr;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_accepts_five_and_six_fields() {
        assert!("*/5 * * * *".parse::<CronSpec>().is_ok());
        assert!("0 */5 * * * *".parse::<CronSpec>().is_ok());
        let err = "61 * * * *".parse::<CronSpec>().unwrap_err();
        assert!(err.contains("invalid cron expression"), "{err}");
    }
}
