//! Budget periods (day, ISO week, calendar month) as UTC instants, their boundaries at
//! local midnight in the budget's IANA time zone, right across daylight-saving changes.

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How long one budget lasts before it starts again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// From local midnight to the next.
    Day,
    /// From Monday's local midnight to the next Monday's.
    Week,
    /// From the 1st's local midnight to the next month's 1st.
    Month,
}

impl Period {
    /// The name as written in budgets.
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
        }
    }
}

/// One occurrence of a period: `[start, end)` in UTC, with its zone for dates in text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// The first instant (a local midnight).
    pub start: DateTime<Utc>,
    /// The first instant of the next period.
    pub end: DateTime<Utc>,
    /// The zone the period is local to.
    pub tz: Tz,
}

impl Bounds {
    /// The occurrence of `period` in `tz` that holds `at`.
    pub fn containing(period: Period, tz: Tz, at: DateTime<Utc>) -> Bounds {
        let today = at.with_timezone(&tz).date_naive();
        let first = match period {
            Period::Day => today,
            Period::Week => {
                today - Duration::days(i64::from(today.weekday().num_days_from_monday()))
            }
            Period::Month => today.with_day(1).unwrap_or(today),
        };
        let next = match period {
            Period::Day => first + Duration::days(1),
            Period::Week => first + Duration::days(7),
            Period::Month => first
                .checked_add_months(chrono::Months::new(1))
                .unwrap_or(first + Duration::days(31)),
        };
        Bounds {
            start: local_midnight(tz, first),
            end: local_midnight(tz, next),
            tz,
        }
    }

    /// The occurrence just before this one.
    pub fn previous(&self, period: Period) -> Bounds {
        Bounds::containing(period, self.tz, self.start - Duration::seconds(1))
    }

    /// Its length (23 or 25 hours for a day with a clock change).
    pub fn length(&self) -> Duration {
        self.end - self.start
    }

    /// The fraction of the period gone at `at`, in [0, 1].
    pub fn elapsed_fraction(&self, at: DateTime<Utc>) -> f64 {
        let total = self.length().num_seconds().max(1) as f64;
        ((at - self.start).num_seconds() as f64 / total).clamp(0.0, 1.0)
    }

    /// The period's last local day, as people name it (`31 Dec`).
    pub fn last_day(&self) -> String {
        day_name(self.end - Duration::seconds(1), self.tz)
    }

    /// A stable key of the occurrence: its start in unix ms.
    pub fn key(&self) -> i64 {
        self.start.timestamp_millis()
    }
}

/// The local day of `at` in `tz`, as `24 Dec`.
pub fn day_name(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%-d %b").to_string()
}

/// The first instant of `date` in `tz`: its midnight, the earlier one when the clock goes
/// back over midnight, and the first instant after the gap when midnight is skipped
/// (zones that change the clock at 00:00).
pub fn local_midnight(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    for minutes in (0..=180).step_by(15) {
        match tz.from_local_datetime(&(midnight + Duration::minutes(minutes))) {
            LocalResult::Single(t) => return t.with_timezone(&Utc),
            LocalResult::Ambiguous(earlier, _) => return earlier.with_timezone(&Utc),
            LocalResult::None => continue,
        }
    }
    Utc.from_utc_datetime(&midnight)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_berlin_day_across_the_october_change_lasts_25_hours() {
        // 2026-10-25 is the last Sunday of October: 03:00 CEST becomes 02:00 CET.
        let b = Bounds::containing(
            Period::Day,
            chrono_tz::Europe::Berlin,
            utc("2026-10-25T12:00:00Z"),
        );
        assert_eq!(b.start, utc("2026-10-24T22:00:00Z"));
        assert_eq!(b.end, utc("2026-10-25T23:00:00Z"));
        assert_eq!(b.length(), Duration::hours(25));
        // The instant just before the next local midnight still belongs to this day.
        let late = Bounds::containing(
            Period::Day,
            chrono_tz::Europe::Berlin,
            utc("2026-10-25T22:59:59Z"),
        );
        assert_eq!(late, b);
    }

    #[test]
    fn a_berlin_week_and_month_around_the_change_start_at_local_midnight() {
        let tz = chrono_tz::Europe::Berlin;
        let w = Bounds::containing(Period::Week, tz, utc("2026-10-25T12:00:00Z"));
        assert_eq!(w.start, utc("2026-10-18T22:00:00Z"), "Monday 19 Oct, CEST");
        assert_eq!(w.end, utc("2026-10-25T23:00:00Z"), "Monday 26 Oct, CET");
        assert_eq!(w.length(), Duration::hours(7 * 24 + 1));
        let m = Bounds::containing(Period::Month, tz, utc("2026-10-31T23:30:00Z"));
        assert_eq!(
            m.start,
            utc("2026-11-01T00:00:00Z")
                .checked_sub_signed(Duration::hours(1))
                .unwrap(),
            "00:30 on 1 Nov in Berlin is November"
        );
        assert_eq!(m.end, utc("2026-11-30T23:00:00Z"));
        assert_eq!(m.previous(Period::Month).start, utc("2026-09-30T22:00:00Z"));
        assert_eq!(m.last_day(), "30 Nov");
    }

    #[test]
    fn a_new_york_day_in_march_lasts_23_hours() {
        // 2026-03-08: 02:00 EST becomes 03:00 EDT.
        let tz = chrono_tz::America::New_York;
        let d = Bounds::containing(Period::Day, tz, utc("2026-03-08T15:00:00Z"));
        assert_eq!(d.start, utc("2026-03-08T05:00:00Z"));
        assert_eq!(d.end, utc("2026-03-09T04:00:00Z"));
        assert_eq!(d.length(), Duration::hours(23));
        let m = Bounds::containing(Period::Month, tz, utc("2026-03-01T04:59:00Z"));
        assert_eq!(
            m.start,
            utc("2026-02-01T05:00:00Z"),
            "still February in New York"
        );
        assert_eq!(m.end, utc("2026-03-01T05:00:00Z"));
        let march = Bounds::containing(Period::Month, tz, utc("2026-03-20T00:00:00Z"));
        assert_eq!(
            march.end,
            utc("2026-04-01T04:00:00Z"),
            "April begins on EDT"
        );
        assert_eq!(march.length(), Duration::hours(31 * 24 - 1));
    }

    #[test]
    fn a_skipped_midnight_starts_the_day_after_the_gap() {
        // Santiago moves its clocks at 24:00: on 2026-09-06 midnight does not exist.
        let tz = chrono_tz::America::Santiago;
        let start = local_midnight(tz, NaiveDate::from_ymd_opt(2026, 9, 6).unwrap());
        assert_eq!(
            start.with_timezone(&tz).format("%H:%M").to_string(),
            "01:00"
        );
    }

    #[test]
    fn elapsed_fraction_is_clamped() {
        let b = Bounds::containing(Period::Day, Tz::UTC, utc("2026-01-10T06:00:00Z"));
        assert_eq!(b.elapsed_fraction(utc("2026-01-10T06:00:00Z")), 0.25);
        assert_eq!(b.elapsed_fraction(utc("2026-01-12T00:00:00Z")), 1.0);
    }
}
