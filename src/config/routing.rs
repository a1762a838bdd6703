//! The notification policy sections of `driftwatch.toml` — `[route]` (nested
//! `[[route.routes]]`), `[[inhibit_rules]]`, `[time_intervals.NAME]` and `[notify]`'s
//! flap control — as written, and their validation into a [`NotifyPolicy`].

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

use crate::model::silence::Matcher;
use crate::notify::mute::inhibit::InhibitRule;
use crate::notify::mute::time_interval::{
    parse_days_of_month, parse_location, parse_months, parse_times, parse_weekdays, TimeInterval,
    TimeSpec,
};
use crate::notify::pipeline::policy::{FlapControl, NotifyPolicy};
use crate::notify::pipeline::route::{GroupBy, Route};
use crate::types::DurationSpec;
use crate::types::{ConfigError, SourceFile};

/// `[route]` and each `[[route.routes]]`: unset settings are inherited from the parent.
#[derive(Debug, Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteSection {
    /// Label matchers, all of which must match (`severity="critical"`, `model=~"gpt.*"`);
    /// ignored on the root, which matches every alert.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub matchers: Vec<Spanned<String>>,
    /// The receiver; unset on the root: each rule's own receivers (or the defaults).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub receiver: Option<Spanned<String>>,
    /// Labels that form a group (`["..."]`: every label, one group per alert).
    #[serde(default)]
    pub group_by: Option<Vec<String>>,
    /// Wait after a group's first alert before notifying (root default 30s).
    #[serde(default)]
    pub group_wait: Option<DurationSpec>,
    /// Wait after a notification before one about changes in the group (default 5m).
    #[serde(default)]
    pub group_interval: Option<DurationSpec>,
    /// Resend a group that still fires after this long (default 4h; "0s": never).
    #[serde(default)]
    pub repeat_interval: Option<DurationSpec>,
    /// After matching, keep trying the following sibling routes.
    #[serde(default, rename = "continue")]
    pub continue_matching: bool,
    /// Time intervals during which this route sends nothing.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub mute_time_intervals: Vec<Spanned<String>>,
    /// Time intervals outside which this route sends nothing.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub active_time_intervals: Vec<Spanned<String>>,
    /// Child routes, tried in order.
    #[serde(default)]
    pub routes: Vec<RouteSection>,
}

/// `[[inhibit_rules]]`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InhibitSection {
    /// Matchers of the alert that mutes (e.g. `rule="source_down"`).
    #[schemars(with = "Vec<String>")]
    pub source_matchers: Vec<Spanned<String>>,
    /// Matchers of the alerts it mutes.
    #[schemars(with = "Vec<String>")]
    pub target_matchers: Vec<Spanned<String>>,
    /// Labels whose values both must share (e.g. `["source"]`).
    #[serde(default)]
    pub equal: Vec<String>,
}

/// `[time_intervals.NAME]`: holds when any of its `[[time_intervals.NAME.spec]]` holds.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeIntervalSection {
    /// Alternatives.
    #[schemars(with = "Vec<TimeSpecSection>")]
    pub spec: Vec<Spanned<TimeSpecSection>>,
}

/// One time spec; every part given must hold.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeSpecSection {
    /// Times of day, `[{ start_time = "22:00", end_time = "24:00" }]`.
    #[serde(default)]
    pub times: Vec<TimeRangeSection>,
    /// `["monday:friday", "sunday"]`.
    #[serde(default)]
    pub weekdays: Vec<String>,
    /// `["1:7", "-1"]` (negative: from the month's end).
    #[serde(default)]
    pub days_of_month: Vec<String>,
    /// `["january:march", "12"]`.
    #[serde(default)]
    pub months: Vec<String>,
    /// IANA time zone the parts are read in (default UTC).
    #[serde(default)]
    pub location: Option<String>,
}

/// A time-of-day range `[start_time, end_time)`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeRangeSection {
    /// `HH:MM`.
    pub start_time: String,
    /// `HH:MM`, up to `24:00`.
    pub end_time: String,
}

/// The defaults of Alertmanager's root route, used when `[route]` is given.
const DEFAULT_GROUP_WAIT: Duration = Duration::from_secs(30);
const DEFAULT_GROUP_INTERVAL: Duration = Duration::from_secs(300);
const DEFAULT_REPEAT_INTERVAL: Duration = Duration::from_secs(4 * 3600);

fn matchers(
    file: &SourceFile,
    errors: &mut Vec<ConfigError>,
    what: &str,
    texts: &[Spanned<String>],
) -> Vec<Matcher> {
    texts
        .iter()
        .filter_map(|t| match Matcher::parse(t.get_ref()) {
            Ok(m) => Some(m),
            Err(e) => {
                errors.push(file.error(Some(t.span()), None, format!("{what}: {e}")));
                None
            }
        })
        .collect()
}

struct RouteContext<'a> {
    file: &'a SourceFile,
    receivers: &'a BTreeSet<String>,
    intervals: &'a BTreeMap<String, TimeInterval>,
}

fn build_route(
    ctx: &RouteContext<'_>,
    errors: &mut Vec<ConfigError>,
    section: &RouteSection,
    parent: &Route,
    id: String,
) -> Route {
    let file = ctx.file;
    let receiver = match &section.receiver {
        Some(r) if ctx.receivers.contains(r.get_ref()) => Some(r.get_ref().clone()),
        Some(r) => {
            errors.push(file.error(
                Some(r.span()),
                None,
                format!(
                    "route {id}: unknown receiver {:?}; configured receivers: {}",
                    r.get_ref(),
                    ctx.receivers.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
            ));
            None
        }
        None => parent.receiver.clone(),
    };
    let interval_names = |list: &[Spanned<String>], errors: &mut Vec<ConfigError>| {
        list.iter()
            .filter_map(|n| {
                if ctx.intervals.contains_key(n.get_ref()) {
                    Some(n.get_ref().clone())
                } else {
                    errors.push(file.error(
                        Some(n.span()),
                        None,
                        format!(
                            "route {id}: unknown time interval {:?}; define it as [time_intervals.{}]",
                            n.get_ref(),
                            n.get_ref()
                        ),
                    ));
                    None
                }
            })
            .collect::<Vec<_>>()
    };
    let group_by = match &section.group_by {
        Some(list) if list.iter().any(|l| l == "...") => GroupBy::All,
        Some(list) => GroupBy::Labels(list.clone()),
        None => parent.group_by.clone(),
    };
    let mut route = Route {
        id: id.clone(),
        matchers: matchers(file, errors, &format!("route {id}"), &section.matchers),
        receiver,
        group_by,
        group_wait: section.group_wait.map_or(parent.group_wait, |d| d.get()),
        group_interval: section
            .group_interval
            .map_or(parent.group_interval, |d| d.get()),
        repeat_interval: match section.repeat_interval {
            Some(d) if d.get().is_zero() => None,
            Some(d) => Some(d.get()),
            None => parent.repeat_interval,
        },
        continue_matching: section.continue_matching,
        mute_time_intervals: interval_names(&section.mute_time_intervals, errors),
        active_time_intervals: interval_names(&section.active_time_intervals, errors),
        routes: Vec::new(),
    };
    route.routes = section
        .routes
        .iter()
        .enumerate()
        .map(|(i, child)| build_route(ctx, errors, child, &route, format!("{id}.{i}")))
        .collect();
    route
}

fn build_interval(
    file: &SourceFile,
    errors: &mut Vec<ConfigError>,
    name: &str,
    section: &TimeIntervalSection,
) -> TimeInterval {
    let mut specs = Vec::new();
    for spec in &section.spec {
        let span = Some(spec.span());
        let s = spec.get_ref();
        let mut fail = |e: String| {
            errors.push(file.error(span.clone(), None, format!("time interval {name:?}: {e}")))
        };
        let mut parsed = TimeSpec {
            times: Vec::new(),
            weekdays: Vec::new(),
            days_of_month: Vec::new(),
            months: Vec::new(),
            location: chrono_tz::UTC,
        };
        for t in &s.times {
            match parse_times(&t.start_time, &t.end_time) {
                Ok(r) => parsed.times.push(r),
                Err(e) => fail(e),
            }
        }
        for w in &s.weekdays {
            match parse_weekdays(w) {
                Ok(r) => parsed.weekdays.push(r),
                Err(e) => fail(e),
            }
        }
        for d in &s.days_of_month {
            match parse_days_of_month(d) {
                Ok(r) => parsed.days_of_month.push(r),
                Err(e) => fail(e),
            }
        }
        for m in &s.months {
            match parse_months(m) {
                Ok(r) => parsed.months.push(r),
                Err(e) => fail(e),
            }
        }
        if let Some(loc) = &s.location {
            match parse_location(loc) {
                Ok(tz) => parsed.location = tz,
                Err(e) => fail(e),
            }
        }
        specs.push(parsed);
    }
    TimeInterval {
        name: name.to_owned(),
        specs,
    }
}

/// What the notification policy is built from.
pub struct PolicySections<'a> {
    /// `[route]`, if given.
    pub route: Option<&'a RouteSection>,
    /// `[[inhibit_rules]]`.
    pub inhibit_rules: &'a [InhibitSection],
    /// `[time_intervals.NAME]`.
    pub time_intervals: &'a BTreeMap<String, TimeIntervalSection>,
    /// `[notify] flap_window`.
    pub flap_window: Option<DurationSpec>,
    /// `[notify] flap_threshold` (0 turns flap control off).
    pub flap_threshold: Option<usize>,
    /// `[notify] decision_log_retention`.
    pub decision_log_retention: Option<DurationSpec>,
    /// Receivers with `send_resolved = false`.
    pub no_resolved: BTreeSet<String>,
}

/// Validates the policy sections; errors name file:line:col.
pub fn build_policy(
    file: &SourceFile,
    errors: &mut Vec<ConfigError>,
    receivers: &BTreeSet<String>,
    sections: PolicySections<'_>,
) -> NotifyPolicy {
    let time_intervals: BTreeMap<String, TimeInterval> = sections
        .time_intervals
        .iter()
        .map(|(name, s)| (name.clone(), build_interval(file, errors, name, s)))
        .collect();
    let ctx = RouteContext {
        file,
        receivers,
        intervals: &time_intervals,
    };
    let route = match sections.route {
        None => Route::implicit(),
        Some(section) => {
            let defaults = Route {
                group_by: GroupBy::Labels(Vec::new()),
                group_wait: DEFAULT_GROUP_WAIT,
                group_interval: DEFAULT_GROUP_INTERVAL,
                repeat_interval: Some(DEFAULT_REPEAT_INTERVAL),
                ..Route::implicit()
            };
            let mut root = build_route(&ctx, errors, section, &defaults, "root".to_owned());
            // The root catches every alert, whatever it says.
            root.matchers.clear();
            root
        }
    };
    let inhibit_rules = sections
        .inhibit_rules
        .iter()
        .enumerate()
        .map(|(i, r)| InhibitRule {
            source: matchers(
                file,
                errors,
                &format!("inhibit rule {}", i + 1),
                &r.source_matchers,
            ),
            target: matchers(
                file,
                errors,
                &format!("inhibit rule {}", i + 1),
                &r.target_matchers,
            ),
            equal: r.equal.clone(),
        })
        .collect();
    let flap = match sections.flap_threshold.unwrap_or(DEFAULT_FLAP_THRESHOLD) {
        0 => None,
        threshold => Some(FlapControl {
            window: sections
                .flap_window
                .map_or(DEFAULT_FLAP_WINDOW, |d| d.get()),
            threshold,
        }),
    };
    NotifyPolicy {
        route,
        inhibit_rules,
        time_intervals,
        no_resolved: sections.no_resolved.into_iter().collect(),
        flap,
        decision_log_retention: sections
            .decision_log_retention
            .map_or(DEFAULT_DECISION_LOG_RETENTION, |d| d.get()),
    }
}

/// How long the decision log is kept, unless configured.
const DEFAULT_DECISION_LOG_RETENTION: Duration = Duration::from_secs(14 * 24 * 3600);

/// Changes within `flap_window` that make an alert flapping, unless configured.
pub const DEFAULT_FLAP_THRESHOLD: usize = 8;
/// The window flap control counts changes in, unless configured.
pub const DEFAULT_FLAP_WINDOW: Duration = Duration::from_secs(3600);

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::parse_service_config;
    use crate::notify::pipeline::route::GroupBy;

    const RECEIVERS: &str = r#"
[receivers.ops]
kind = "webhook"
url = "https://hooks.example.com/ops"

[receivers.pager]
kind = "webhook"
url = "https://hooks.example.com/pager"
send_resolved = false
"#;

    #[test]
    fn a_route_tree_inherits_settings_and_resolves_receivers() {
        let text = format!(
            r#"{RECEIVERS}
[route]
receiver = "ops"
group_by = ["rule"]
repeat_interval = "0s"

[[route.routes]]
matchers = ['severity="critical"']
receiver = "pager"
group_wait = "5s"
mute_time_intervals = ["nights"]

[time_intervals.nights]
spec = [{{ times = [{{ start_time = "22:00", end_time = "24:00" }}], location = "Europe/Berlin" }}]

[[inhibit_rules]]
source_matchers = ['rule="source_down"']
target_matchers = ['rule!="source_down"']
equal = ["source"]

[notify]
flap_threshold = 0
"#
        );
        let cfg = parse_service_config(Path::new("driftwatch.toml"), &text).unwrap();
        let p = &cfg.notify_policy;
        let child = &p.route.routes[0];
        assert_eq!(child.receiver.as_deref(), Some("pager"));
        assert_eq!(
            child.group_by,
            GroupBy::Labels(vec!["rule".into()]),
            "inherited"
        );
        assert_eq!(child.group_wait.as_secs(), 5);
        assert_eq!(
            child.group_interval.as_secs(),
            300,
            "Alertmanager's default"
        );
        assert_eq!(child.repeat_interval, None, "0s: never repeat, inherited");
        assert_eq!(p.inhibit_rules.len(), 1);
        assert!(p.no_resolved.contains("pager") && !p.no_resolved.contains("ops"));
        assert!(p.flap.is_none(), "flap_threshold = 0 turns it off");
    }

    #[test]
    fn mistakes_are_reported_at_their_line_and_column() {
        let text = format!(
            r#"{RECEIVERS}
[route]
receiver = "ops"

[[route.routes]]
matchers = ['severity~"critical"']
receiver = "pagr"
mute_time_intervals = ["weekends"]

[time_intervals.nights]
spec = [{{ times = [{{ start_time = "22:00", end_time = "06:00" }}] }}]
"#
        );
        let err = parse_service_config(Path::new("driftwatch.toml"), &text)
            .unwrap_err()
            .to_string();
        for expected in [
            "driftwatch.toml:15:13: route root.0: matcher",
            "driftwatch.toml:16:12: route root.0: unknown receiver \"pagr\"",
            "driftwatch.toml:17:24: route root.0: unknown time interval \"weekends\"",
            "split a range over midnight",
        ] {
            assert!(err.contains(expected), "{expected:?} missing in:\n{err}");
        }
    }
}
