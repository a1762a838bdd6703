//! driftwatch's own metrics: every name in one place, registered in one registry.

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
        let m = Metrics {
            evaluations: IntCounterVec::new(
                Opts::new(
                    "driftwatch_evaluations_total",
                    "Rule evaluations by rule and result.",
                ),
                &["rule", "result"],
            )
            .expect("valid metric"),
            evaluation_seconds: HistogramVec::new(
                HistogramOpts::new(
                    "driftwatch_evaluation_duration_seconds",
                    "Time one rule evaluation took.",
                )
                .buckets(vec![0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0]),
                &["rule"],
            )
            .expect("valid metric"),
            series: IntGaugeVec::new(
                Opts::new(
                    "driftwatch_rule_series",
                    "Series in the last evaluation of a rule.",
                ),
                &["rule"],
            )
            .expect("valid metric"),
            series_dropped: IntCounterVec::new(
                Opts::new(
                    "driftwatch_rule_series_dropped_total",
                    "Series dropped by a rule's max_series limit.",
                ),
                &["rule"],
            )
            .expect("valid metric"),
            rule_task_restarts: IntCounterVec::new(
                Opts::new(
                    "driftwatch_rule_task_restarts_total",
                    "Evaluations that panicked; each restarts its rule after a backoff.",
                ),
                &["rule"],
            )
            .expect("valid metric"),
            alerts: IntGaugeVec::new(
                Opts::new("driftwatch_alerts", "Alerts by state."),
                &["state"],
            )
            .expect("valid metric"),
            notifications: IntCounterVec::new(
                Opts::new(
                    "driftwatch_notifications_total",
                    "Notification attempts by receiver and result.",
                ),
                &["receiver", "result"],
            )
            .expect("valid metric"),
            delivery_latency_seconds: HistogramVec::new(
                HistogramOpts::new(
                    "driftwatch_notification_delivery_latency_seconds",
                    "Seconds from a notification's creation to its delivery.",
                )
                .buckets(vec![
                    0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0, 600.0, 3600.0,
                ]),
                &["receiver"],
            )
            .expect("valid metric"),
            outbox_depth: IntGauge::new(
                "driftwatch_outbox_depth",
                "Notifications waiting for delivery.",
            )
            .expect("valid metric"),
            outbox_oldest_age_seconds: Gauge::new(
                "driftwatch_outbox_oldest_age_seconds",
                "Age of the oldest undelivered notification.",
            )
            .expect("valid metric"),
            outbox_dead: IntGauge::new("driftwatch_outbox_dead", "Dead-lettered notifications.")
                .expect("valid metric"),
            receiver_disabled: IntGaugeVec::new(
                Opts::new(
                    "driftwatch_receiver_disabled",
                    "1 when a receiver is disabled (HTTP 410 Gone or failing longer than its disable_after).",
                ),
                &["receiver"],
            )
            .expect("valid metric"),
            source_errors: IntCounterVec::new(
                Opts::new(
                    "driftwatch_source_errors_total",
                    "Source fetch errors by source and kind.",
                ),
                &["source", "kind"],
            )
            .expect("valid metric"),
            notifications_silenced: IntCounterVec::new(
                Opts::new(
                    "driftwatch_notifications_silenced_total",
                    "Firing alerts held back from their group's notification by a silence, by rule.",
                ),
                &["rule"],
            )
            .expect("valid metric"),
            notifications_inhibited: IntCounterVec::new(
                Opts::new(
                    "driftwatch_notifications_inhibited_total",
                    "Firing alerts held back by an inhibiting alert, by rule.",
                ),
                &["rule"],
            )
            .expect("valid metric"),
            notifications_muted: IntCounterVec::new(
                Opts::new(
                    "driftwatch_notifications_muted_total",
                    "Group flushes with news held back by a mute time interval, by receiver.",
                ),
                &["receiver"],
            )
            .expect("valid metric"),
            alerts_flapping: IntCounterVec::new(
                Opts::new(
                    "driftwatch_alerts_flapping_total",
                    "Alerts that started flapping; their changes are held until they settle.",
                ),
                &["rule"],
            )
            .expect("valid metric"),
            scrapes: IntCounterVec::new(
                Opts::new(
                    "driftwatch_scrapes_total",
                    "Scrapes of scrape sources by source and result.",
                ),
                &["source", "result"],
            )
            .expect("valid metric"),
            scrape_seconds: HistogramVec::new(
                HistogramOpts::new(
                    "driftwatch_scrape_duration_seconds",
                    "Time one scrape took: fetch, parse and store.",
                )
                .buckets(vec![0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0]),
                &["source"],
            )
            .expect("valid metric"),
            scrape_series: IntGaugeVec::new(
                Opts::new("driftwatch_scrape_series", "Series a scrape source holds."),
                &["source"],
            )
            .expect("valid metric"),
            scrape_series_dropped: IntCounterVec::new(
                Opts::new(
                    "driftwatch_scrape_series_dropped_total",
                    "New series a scrape source did not store because it held max_series, counted per scrape.",
                ),
                &["source"],
            )
            .expect("valid metric"),
            config_last_reload_successful: IntGauge::new(
                "driftwatch_config_last_reload_successful",
                "1 when the last configuration load succeeded.",
            )
            .expect("valid metric"),
            rules_loaded: IntGauge::new("driftwatch_rules_loaded", "Rules currently loaded.")
                .expect("valid metric"),
            last_evaluation_timestamp: GaugeVec::new(
                Opts::new(
                    "driftwatch_rule_last_evaluation_timestamp_seconds",
                    "Unix time of a rule's last evaluation.",
                ),
                &["rule"],
            )
            .expect("valid metric"),
            registry,
        };
        for c in [
            Box::new(m.evaluations.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(m.evaluation_seconds.clone()),
            Box::new(m.series.clone()),
            Box::new(m.series_dropped.clone()),
            Box::new(m.rule_task_restarts.clone()),
            Box::new(m.alerts.clone()),
            Box::new(m.notifications.clone()),
            Box::new(m.delivery_latency_seconds.clone()),
            Box::new(m.outbox_depth.clone()),
            Box::new(m.outbox_oldest_age_seconds.clone()),
            Box::new(m.outbox_dead.clone()),
            Box::new(m.receiver_disabled.clone()),
            Box::new(m.source_errors.clone()),
            Box::new(m.notifications_silenced.clone()),
            Box::new(m.notifications_inhibited.clone()),
            Box::new(m.notifications_muted.clone()),
            Box::new(m.alerts_flapping.clone()),
            Box::new(m.scrapes.clone()),
            Box::new(m.scrape_seconds.clone()),
            Box::new(m.scrape_series.clone()),
            Box::new(m.scrape_series_dropped.clone()),
            Box::new(m.config_last_reload_successful.clone()),
            Box::new(m.rules_loaded.clone()),
            Box::new(m.last_evaluation_timestamp.clone()),
        ] {
            m.registry.register(c).expect("each metric registered once");
        }
        m
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

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
