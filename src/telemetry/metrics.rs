//! driftwatch's own metrics: every name in one place, registered in one registry.

use prometheus::core::Collector;
use prometheus::{
    Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

/// All of driftwatch's own metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Evaluations by rule and result (`ok`, `source_error`, `query_error`, `store_error`).
    pub evaluations: IntCounterVec,
    /// Evaluation duration by rule.
    pub evaluation_seconds: HistogramVec,
    /// Series (groups) in the last evaluation, by rule.
    pub series: IntGaugeVec,
    /// Series dropped by the per-rule limit, by rule.
    pub series_dropped: IntCounterVec,
    /// Evaluations that panicked, by rule; each restarts its rule after a backoff.
    pub rule_task_restarts: IntCounterVec,
    /// Alerts by state.
    pub alerts: IntGaugeVec,
    /// Notifications by receiver and result: `delivered`, `retry`, `dead` (attempts used
    /// up), `refused` (address policy), `gone` (HTTP 410), `disabled` (not sent),
    /// `postponed` (not sent while the receiver's `Retry-After` runs).
    pub notifications: IntCounterVec,
    /// Seconds from a notification's creation to its delivery, by receiver.
    pub delivery_latency_seconds: HistogramVec,
    /// Notifications waiting in the outbox.
    pub outbox_depth: IntGauge,
    /// Age in seconds of the oldest undelivered notification.
    pub outbox_oldest_age_seconds: Gauge,
    /// Dead-lettered notifications.
    pub outbox_dead: IntGauge,
    /// 1 for a disabled receiver (410 Gone or failing too long), 0 otherwise.
    pub receiver_disabled: IntGaugeVec,
    /// Source fetch errors by source and kind (`unreachable`, `query`).
    pub source_errors: IntCounterVec,
    /// Firing alerts held back from their group's notification by a silence, by rule.
    pub notifications_silenced: IntCounterVec,
    /// Firing alerts held back by an inhibiting alert, by rule.
    pub notifications_inhibited: IntCounterVec,
    /// Group flushes with news held back by a mute time interval, by receiver.
    pub notifications_muted: IntCounterVec,
    /// 1 for each rule whose lease this replica holds (replicas sharing rules).
    pub rule_leased: IntGaugeVec,
    /// Lease changes of this replica, by change: `acquired`, `released` (rebalance or
    /// stop), `lost` (a renewal found it taken).
    pub lease_changes: IntCounterVec,
    /// Evaluation commits refused because the rule's lease had moved to another replica
    /// (fencing), by rule.
    pub fenced_commits: IntCounterVec,
    /// Alerts that started flapping (their changes are then held), by rule.
    pub alerts_flapping: IntCounterVec,
    /// Scrapes by source and result (`ok`, `error`).
    pub scrapes: IntCounterVec,
    /// Time one scrape took (fetch, parse, store), by source.
    pub scrape_seconds: HistogramVec,
    /// Series a scrape source holds, by source.
    pub scrape_series: IntGaugeVec,
    /// New series a scrape source did not store because it held `max_series`, by source
    /// (a series left out of several scrapes counts once per scrape).
    pub scrape_series_dropped: IntCounterVec,
    /// 1 when the last configuration reload succeeded.
    pub config_last_reload_successful: IntGauge,
    /// Rules loaded.
    pub rules_loaded: IntGauge,
    /// Unix time of the last evaluation, by rule.
    pub last_evaluation_timestamp: GaugeVec,
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let registry = Registry::new();
        let make = Maker(&registry);
        Metrics {
            evaluations: make.counters("driftwatch_evaluations_total", "Rule evaluations by rule and result.", &["rule", "result"]),
            evaluation_seconds: make.histograms("driftwatch_evaluation_duration_seconds", "Time one rule evaluation took.", vec![0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0], &["rule"]),
            series: make.int_gauges("driftwatch_rule_series", "Series in the last evaluation of a rule.", &["rule"]),
            series_dropped: make.counters("driftwatch_rule_series_dropped_total", "Series dropped by a rule's max_series limit.", &["rule"]),
            rule_task_restarts: make.counters("driftwatch_rule_task_restarts_total", "Evaluations that panicked; each restarts its rule after a backoff.", &["rule"]),
            alerts: make.int_gauges("driftwatch_alerts", "Alerts by state.", &["state"]),
            notifications: make.counters("driftwatch_notifications_total", "Notification attempts by receiver and result.", &["receiver", "result"]),
            delivery_latency_seconds: make.histograms("driftwatch_notification_delivery_latency_seconds", "Seconds from a notification's creation to its delivery.", vec![0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0, 600.0, 3600.0], &["receiver"]),
            outbox_depth: make.int_gauge("driftwatch_outbox_depth", "Notifications waiting for delivery."),
            outbox_oldest_age_seconds: make.gauge("driftwatch_outbox_oldest_age_seconds", "Age of the oldest undelivered notification."),
            outbox_dead: make.int_gauge("driftwatch_outbox_dead", "Dead-lettered notifications."),
            receiver_disabled: make.int_gauges("driftwatch_receiver_disabled", "1 when a receiver is disabled (HTTP 410 Gone or failing longer than its disable_after).", &["receiver"]),
            source_errors: make.counters("driftwatch_source_errors_total", "Source fetch errors by source and kind.", &["source", "kind"]),
            notifications_silenced: make.counters("driftwatch_notifications_silenced_total", "Firing alerts held back from their group's notification by a silence, by rule.", &["rule"]),
            notifications_inhibited: make.counters("driftwatch_notifications_inhibited_total", "Firing alerts held back by an inhibiting alert, by rule.", &["rule"]),
            notifications_muted: make.counters("driftwatch_notifications_muted_total", "Group flushes with news held back by a mute time interval, by receiver.", &["receiver"]),
            rule_leased: make.int_gauges("driftwatch_rule_leased", "1 for each rule whose lease this replica holds (replicas sharing rules).", &["rule"]),
            lease_changes: make.counters("driftwatch_lease_changes_total", "Rule lease changes of this replica: acquired, released, lost.", &["change"]),
            fenced_commits: make.counters("driftwatch_fenced_commits_total", "Evaluation commits refused because the rule's lease had moved to another replica.", &["rule"]),
            alerts_flapping: make.counters("driftwatch_alerts_flapping_total", "Alerts that started flapping; their changes are held until they settle.", &["rule"]),
            scrapes: make.counters("driftwatch_scrapes_total", "Scrapes of scrape sources by source and result.", &["source", "result"]),
            scrape_seconds: make.histograms("driftwatch_scrape_duration_seconds", "Time one scrape took: fetch, parse and store.", vec![0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0], &["source"]),
            scrape_series: make.int_gauges("driftwatch_scrape_series", "Series a scrape source holds.", &["source"]),
            scrape_series_dropped: make.counters("driftwatch_scrape_series_dropped_total", "New series a scrape source did not store because it held max_series, counted per scrape.", &["source"]),
            config_last_reload_successful: make.int_gauge("driftwatch_config_last_reload_successful", "1 when the last configuration load succeeded."),
            rules_loaded: make.int_gauge("driftwatch_rules_loaded", "Rules currently loaded."),
            last_evaluation_timestamp: make.gauges("driftwatch_rule_last_evaluation_timestamp_seconds", "Unix time of a rule's last evaluation.", &["rule"]),
            registry,
        }
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding cannot fail");
        String::from_utf8(buf).expect("exposition is UTF-8")
    }
}

/// Makes each metric and registers it at once, so none can be declared and left out of
/// the exposition. The names and help texts are constants: a failure is a bug here.
struct Maker<'a>(&'a Registry);

impl Maker<'_> {
    fn register<C: Collector + Clone + 'static>(&self, metric: C) -> C {
        self.0
            .register(Box::new(metric.clone()))
            .expect("each metric registered once");
        metric
    }

    fn counters(&self, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
        self.register(IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric"))
    }

    fn int_gauges(&self, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
        self.register(IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric"))
    }

    fn gauges(&self, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
        self.register(GaugeVec::new(Opts::new(name, help), labels).expect("valid metric"))
    }

    fn histograms(
        &self,
        name: &str,
        help: &str,
        buckets: Vec<f64>,
        labels: &[&str],
    ) -> HistogramVec {
        let opts = HistogramOpts::new(name, help).buckets(buckets);
        self.register(HistogramVec::new(opts, labels).expect("valid metric"))
    }

    fn int_gauge(&self, name: &str, help: &str) -> IntGauge {
        self.register(IntGauge::new(name, help).expect("valid metric"))
    }

    fn gauge(&self, name: &str, help: &str) -> Gauge {
        self.register(Gauge::new(name, help).expect("valid metric"))
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
