//! Named time intervals (nights, weekends, a maintenance day) that mute a route, or
//! outside which a route is muted, in a time zone, as Alertmanager's `time_intervals`.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use crate::model::group::GroupRecord;
use crate::model::group::Hold;
use crate::notify::mute::Muter;

/// One `times`/`weekdays`/`days_of_month`/`months` combination; every part given must
/// hold (an empty part holds always).
#[derive(Debug, Clone, PartialEq)]
pub struct TimeSpec {
    /// Minute-of-day ranges `[start, end)`, e.g. 22:00–24:00 is (1320, 1440).
    pub times: Vec<(u32, u32)>,
    /// Inclusive weekday ranges, Monday = 0.
    pub weekdays: Vec<(u32, u32)>,
    /// Inclusive day-of-month ranges; negative counts from the month's end (-1 = last).
    pub days_of_month: Vec<(i32, i32)>,
    /// Inclusive month ranges, January = 1.
    pub months: Vec<(u32, u32)>,
    /// The zone the parts are read in.
    pub location: Tz,
}

/// A named interval: it holds when any of its specs holds.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeInterval {
    /// Its name, as routes refer to it.
    pub name: String,
    /// Alternatives.
    pub specs: Vec<TimeSpec>,
}

impl TimeInterval {
    /// Whether `at` falls inside the interval.
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.specs.iter().any(|s| s.contains(at))
    }
}

impl TimeSpec {
    /// Whether `at` falls inside this spec.
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        let local = self.location.from_utc_datetime(&at.naive_utc());
        let minute = local.hour() * 60 + local.minute();
        let weekday = local.weekday().num_days_from_monday();
        let day = local.day() as i32;
        let days_in_month = days_in_month(local.year(), local.month()) as i32;
        let in_days = |&(a, b): &(i32, i32)| {
            let abs = |d: i32| if d < 0 { days_in_month + 1 + d } else { d };
            (abs(a)..=abs(b)).contains(&day)
        };
        (self.times.is_empty() || self.times.iter().any(|&(a, b)| a <= minute && minute < b))
            && (self.weekdays.is_empty()
                || self
                    .weekdays
                    .iter()
                    .any(|&(a, b)| (a..=b).contains(&weekday)))
            && (self.days_of_month.is_empty() || self.days_of_month.iter().any(in_days))
            && (self.months.is_empty()
                || self
                    .months
                    .iter()
                    .any(|&(a, b)| (a..=b).contains(&local.month())))
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    let (ny, nm) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    chrono::NaiveDate::from_ymd_opt(ny, nm, 1)
        .and_then(|d| d.pred_opt())
        .map_or(31, |d| d.day())
}

/// Parses `"HH:MM"` (00:00 to 24:00) into minutes of the day.
pub fn parse_clock(text: &str) -> Result<u32, String> {
    let (h, m) = text
        .split_once(':')
        .ok_or_else(|| format!("time {text:?}: expected HH:MM"))?;
    let (h, m): (u32, u32) = (
        h.parse().map_err(|_| format!("time {text:?}: bad hour"))?,
        m.parse()
            .map_err(|_| format!("time {text:?}: bad minute"))?,
    );
    if m >= 60 || h > 24 || (h == 24 && m > 0) {
        return Err(format!("time {text:?}: expected 00:00 to 24:00"));
    }
    Ok(h * 60 + m)
}

/// Parses one `start_time`/`end_time` pair; the range may not wrap midnight (write
/// 22:00–24:00 and 00:00–06:00 as two ranges, as in Alertmanager).
pub fn parse_times(start: &str, end: &str) -> Result<(u32, u32), String> {
    let (a, b) = (parse_clock(start)?, parse_clock(end)?);
    if a >= b {
        return Err(format!(
            "time range {start}–{end}: the end must be after the start (split a range over midnight in two)"
        ));
    }
    Ok((a, b))
}

const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];
const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

fn range<T: Copy + PartialOrd>(
    text: &str,
    one: impl Fn(&str) -> Result<T, String>,
) -> Result<(T, T), String> {
    let (a, b) = match text.split_once(':') {
        Some((a, b)) => (one(a.trim())?, one(b.trim())?),
        None => {
            let v = one(text.trim())?;
            (v, v)
        }
    };
    if a > b {
        return Err(format!("range {text:?}: the start is after the end"));
    }
    Ok((a, b))
}

/// Parses `"monday"` or `"monday:friday"` (Monday = 0).
pub fn parse_weekdays(text: &str) -> Result<(u32, u32), String> {
    range(text, |w| {
        WEEKDAYS
            .iter()
            .position(|d| d.eq_ignore_ascii_case(w))
            .map(|i| i as u32)
            .ok_or_else(|| format!("unknown weekday {w:?}; expected monday … sunday"))
    })
}

/// Parses `"january"`, `"1"`, or a range of either (January = 1).
pub fn parse_months(text: &str) -> Result<(u32, u32), String> {
    range(text, |m| {
        if let Ok(n) = m.parse::<u32>() {
            return (1..=12)
                .contains(&n)
                .then_some(n)
                .ok_or_else(|| format!("month {n}: expected 1 to 12"));
        }
        MONTHS
            .iter()
            .position(|d| d.eq_ignore_ascii_case(m))
            .map(|i| i as u32 + 1)
            .ok_or_else(|| format!("unknown month {m:?}; expected january … december or 1 … 12"))
    })
}

/// Parses `"1"`, `"1:15"` or `"-3:-1"` (negative days count from the month's end).
pub fn parse_days_of_month(text: &str) -> Result<(i32, i32), String> {
    let one = |d: &str| -> Result<i32, String> {
        let n: i32 = d
            .parse()
            .map_err(|_| format!("day of month {d:?}: expected a number"))?;
        if n == 0 || !(-31..=31).contains(&n) {
            return Err(format!("day of month {n}: expected 1 to 31 or -31 to -1"));
        }
        Ok(n)
    };
    let (a, b) = match text.split_once(':') {
        Some((a, b)) => (one(a.trim())?, one(b.trim())?),
        None => {
            let v = one(text.trim())?;
            (v, v)
        }
    };
    if a.signum() == b.signum() && a > b {
        return Err(format!("range {text:?}: the start is after the end"));
    }
    Ok((a, b))
}

/// Parses a time zone name such as `Europe/Berlin` (default `UTC`).
pub fn parse_location(text: &str) -> Result<Tz, String> {
    text.parse::<Tz>().map_err(|_| {
        format!("unknown time zone {text:?}; expected an IANA name such as Europe/Berlin or UTC")
    })
}

/// The named time intervals routes refer to, as a [`Muter`] of whole groups: a group
/// is held while one of its route's `mute_time_intervals` holds, or while none of its
/// `active_time_intervals` (when it has any) does.
pub struct IntervalMuter<'a> {
    /// The intervals by name.
    pub intervals: &'a BTreeMap<String, TimeInterval>,
}

impl IntervalMuter<'_> {
    fn holds(&self, name: &str, now: DateTime<Utc>) -> bool {
        self.intervals.get(name).is_some_and(|i| i.contains(now))
    }
}

impl Muter for IntervalMuter<'_> {
    /// Held until the next minute boundary (intervals have minute resolution), when the
    /// flush looks again.
    fn hold_group(&self, group: &GroupRecord, now: DateTime<Utc>) -> Option<Hold> {
        let until_ms = (now.timestamp_millis() / 60_000 + 1) * 60_000;
        let settings = &group.settings;
        if let Some(name) = settings
            .mute_time_intervals
            .iter()
            .find(|n| self.holds(n, now))
        {
            return Some(Hold::MuteInterval {
                name: name.clone(),
                until_ms,
            });
        }
        let active = &settings.active_time_intervals;
        (!active.is_empty() && !active.iter().any(|n| self.holds(n, now))).then(|| {
            Hold::OutsideActiveIntervals {
                names: active.clone(),
                until_ms,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn nights_and_weekends(tz: &str) -> TimeInterval {
        let loc = parse_location(tz).unwrap();
        TimeInterval {
            name: "off-hours".into(),
            specs: vec![
                TimeSpec {
                    times: vec![
                        parse_times("22:00", "24:00").unwrap(),
                        parse_times("00:00", "07:00").unwrap(),
                    ],
                    weekdays: vec![parse_weekdays("monday:friday").unwrap()],
                    days_of_month: vec![],
                    months: vec![],
                    location: loc,
                },
                TimeSpec {
                    times: vec![],
                    weekdays: vec![parse_weekdays("saturday:sunday").unwrap()],
                    days_of_month: vec![],
                    months: vec![],
                    location: loc,
                },
            ],
        }
    }

    #[test]
    fn nights_and_weekends_in_a_time_zone() {
        let i = nights_and_weekends("Europe/Berlin");
        // 2026-12-02 is a Wednesday; Berlin is UTC+1 in December.
        assert!(i.contains(at("2026-12-02T21:30:00Z")), "22:30 Berlin");
        assert!(i.contains(at("2026-12-02T05:59:00Z")), "06:59 Berlin");
        assert!(
            !i.contains(at("2026-12-02T06:00:00Z")),
            "07:00 Berlin is day"
        );
        assert!(!i.contains(at("2026-12-02T12:00:00Z")));
        assert!(i.contains(at("2026-12-05T12:00:00Z")), "Saturday");
        assert!(!i.contains(at("2026-12-04T12:00:00Z")), "Friday noon");
        let utc = nights_and_weekends("UTC");
        assert!(
            !utc.contains(at("2026-12-02T21:30:00Z")),
            "21:30 UTC is day"
        );
    }

    #[test]
    fn days_of_month_count_back_from_the_end_and_months_parse() {
        let spec = TimeSpec {
            times: vec![],
            weekdays: vec![],
            days_of_month: vec![parse_days_of_month("-1").unwrap()],
            months: vec![parse_months("february:march").unwrap()],
            location: chrono_tz::UTC,
        };
        assert!(
            spec.contains(at("2028-02-29T10:00:00Z")),
            "leap year's last day"
        );
        assert!(!spec.contains(at("2028-02-28T10:00:00Z")));
        assert!(spec.contains(at("2027-03-31T10:00:00Z")));
        assert!(
            !spec.contains(at("2027-04-30T10:00:00Z")),
            "April is not listed"
        );
    }

    #[test]
    fn bad_specs_are_refused_with_a_reason() {
        assert!(parse_times("22:00", "06:00")
            .unwrap_err()
            .contains("midnight"));
        assert!(parse_clock("24:30").is_err());
        assert!(parse_weekdays("funday").unwrap_err().contains("monday"));
        assert!(parse_weekdays("friday:monday").is_err());
        assert!(parse_months("13").is_err());
        assert!(parse_days_of_month("0").is_err());
        assert!(parse_location("Mars/Olympus").unwrap_err().contains("IANA"));
    }

    #[test]
    fn a_group_is_held_in_its_mute_interval_and_outside_its_active_ones_saying_which() {
        let intervals = BTreeMap::from([("off-hours".to_owned(), nights_and_weekends("UTC"))]);
        let muter = IntervalMuter {
            intervals: &intervals,
        };
        let mut group = GroupRecord {
            key: "g".into(),
            receiver: "ops".into(),
            route: "root".into(),
            group_labels: Default::default(),
            settings: crate::model::group::GroupSettings {
                group_wait_ms: 0,
                group_interval_ms: 0,
                repeat_interval_ms: None,
                send_resolved: true,
                mute_time_intervals: vec!["off-hours".into()],
                active_time_intervals: vec![],
            },
            created_at_ms: 0,
            last_sent_at_ms: None,
            sent_firing: Default::default(),
            version: 1,
        };
        let night = at("2026-12-02T23:30:10Z");
        let hold = muter.hold_group(&group, night).expect("muted at night");
        assert_eq!(hold.describe(), "muted by time interval off-hours");
        assert_eq!(
            hold.until_ms(),
            Some(at("2026-12-02T23:31:00Z").timestamp_millis())
        );
        assert_eq!(muter.hold_group(&group, at("2026-12-02T12:00:00Z")), None);
        group.settings.mute_time_intervals.clear();
        group.settings.active_time_intervals = vec!["off-hours".into()];
        assert_eq!(muter.hold_group(&group, night), None, "active at night");
        let day = muter
            .hold_group(&group, at("2026-12-02T12:00:00Z"))
            .unwrap();
        assert_eq!(
            day.describe(),
            "outside its active time intervals off-hours"
        );
    }
}
