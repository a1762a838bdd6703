//! The scrape source: pulls a Prometheus text-format or OpenMetrics endpoint on its own
//! interval (with a timeout and a size limit) into a [`ScrapeStore`] that rules read.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::clock::SharedClock;
use crate::sources::async_trait_free::BoxFuture;
use crate::sources::exposition::Format;
use crate::sources::scrape_store::{IngestStats, ScrapeStore};
use crate::sources::RuleQuery;

use crate::sources::scrape_settings::ScrapeSettings;
use crate::sources::{FetchRequest, Observation, Source, SourceError};
use crate::telemetry::Metrics;

/// Asks for OpenMetrics first, then the classic text format, as Prometheus does.
const ACCEPT: &str = "application/openmetrics-text;version=1.0.0;q=0.9,\
                      text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// The outcome of the last scrape: fetches fail while the target is down.
#[derive(Debug, Clone)]
enum Health {
    NotYetScraped,
    Up,
    Down(String),
}

/// A scrape target and the points read from it.
pub struct ScrapeSource {
    name: String,
    settings: ScrapeSettings,
    client: reqwest::Client,
    clock: SharedClock,
    /// Read and written on blocking threads: a large scrape takes long enough to parse
    /// that it would hold up the runtime's workers (and a shutdown's timers).
    store: Arc<Mutex<ScrapeStore>>,
    health: Mutex<Health>,
    scrapes: watch::Sender<u64>,
    metrics: Option<Metrics>,
}

impl ScrapeSource {
    /// A source that has not scraped yet; [`ScrapeSource::run`] drives it.
    pub fn new(
        name: &str,
        settings: ScrapeSettings,
        clock: SharedClock,
        metrics: Option<Metrics>,
    ) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .user_agent(concat!("driftwatch/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("source {name}: {e}"))?;
        Ok(Self {
            name: name.to_owned(),
            store: Arc::new(Mutex::new(ScrapeStore::with_max_series(
                settings.retention,
                settings.max_series,
            ))),
            settings,
            client,
            clock,
            health: Mutex::new(Health::NotYetScraped),
            scrapes: watch::channel(0).0,
            metrics,
        })
    }

    /// Scrapes on the interval until `shutdown`; a slow scrape delays the next one
    /// rather than overlapping it.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        self.run_while_needed(shutdown, || true).await;
    }

    /// Like [`ScrapeSource::run`], skipping the scrapes while `needed` says no rule this
    /// process evaluates reads the source (replicas sharing rules scrape only for theirs).
    pub async fn run_while_needed(
        self: Arc<Self>,
        shutdown: CancellationToken,
        needed: impl Fn() -> bool,
    ) {
        let mut ticker = tokio::time::interval(self.settings.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            if !needed() {
                continue;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.scrape_once() => {}
            }
        }
    }

    /// One scrape: fetch, parse, store. Errors are kept for the next fetch to report.
    pub async fn scrape_once(&self) -> Result<IngestStats, String> {
        let started = Instant::now();
        let result = self.scrape().await;
        if let Ok(stats) = &result {
            self.report_dropped(stats.dropped_series);
        }
        let label = match &result {
            Ok(_) => "ok",
            Err(_) => "error",
        };
        if let Some(m) = &self.metrics {
            m.scrapes.with_label_values(&[&self.name, label]).inc();
            m.scrape_seconds
                .with_label_values(&[&self.name])
                .observe(started.elapsed().as_secs_f64());
            if let Ok(stats) = &result {
                m.scrape_series
                    .with_label_values(&[&self.name])
                    .set(stats.series as i64);
            }
        }
        *self.health.lock().unwrap_or_else(PoisonError::into_inner) = match &result {
            Ok(_) => Health::Up,
            Err(e) => {
                tracing::warn!(source = %self.name, error = %e, "scrape failed");
                Health::Down(e.clone())
            }
        };
        self.scrapes.send_modify(|n| *n += 1);
        result
    }

    /// Counts and logs (once per scrape, not per series) the series `max_series` left out.
    fn report_dropped(&self, dropped: usize) {
        if dropped == 0 {
            return;
        }
        if let Some(m) = &self.metrics {
            m.scrape_series_dropped
                .with_label_values(&[&self.name])
                .inc_by(dropped as u64);
        }
        tracing::warn!(
            source = %self.name,
            dropped,
            max_series = self.settings.max_series,
            "scrape source holds max_series series; new series were dropped"
        );
    }

    async fn scrape(&self) -> Result<IngestStats, String> {
        let url = &self.settings.url;
        let mut response = self
            .client
            .get(url.clone())
            .header(reqwest::header::ACCEPT, ACCEPT)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {}", without_url(&e)))?;
        if !response.status().is_success() {
            return Err(format!("GET {url}: HTTP {}", response.status()));
        }
        let format = Format::from_content_type(
            response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
        );
        let limit = self.settings.max_bytes;
        if response
            .content_length()
            .is_some_and(|n| n as usize > limit)
        {
            return Err(format!("GET {url}: body larger than {limit} bytes"));
        }
        let mut body = Vec::with_capacity(response.content_length().unwrap_or(0) as usize);
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("GET {url}: {}", without_url(&e)))?
        {
            if body.len() + chunk.len() > limit {
                return Err(format!("GET {url}: body larger than {limit} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        let (store, clock, at) = (
            Arc::clone(&self.store),
            Arc::clone(&self.clock),
            url.clone(),
        );
        tokio::task::spawn_blocking(move || {
            let text = std::str::from_utf8(&body)
                .map_err(|e| format!("GET {at}: body is not UTF-8 ({e})"))?;
            let mut store = store
                .lock()
                .map_err(|_| format!("GET {at}: the scrape store is unusable"))?;
            // Stamped under the lock, so a fetch sees either all of a scrape or none of
            // it and never misses one stamped before its window's end.
            let now = clock.now();
            store
                .ingest(text, format, now)
                .map_err(|e| format!("GET {at}: malformed exposition at {e}"))
        })
        .await
        .map_err(|e| format!("GET {url}: storing the scrape failed: {e}"))?
    }

    /// What the store holds of `metric` matching `filter` in `(after, until]`, read on a
    /// blocking thread.
    async fn observations(
        &self,
        metric: &str,
        filter: &crate::model::Labels,
        after: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<Observation>, SourceError> {
        let (store, metric, filter) = (Arc::clone(&self.store), metric.to_owned(), filter.clone());
        let read = tokio::task::spawn_blocking(move || {
            store
                .lock()
                .map(|s| s.observations(&metric, &filter, after, until))
                .map_err(|_| "the scrape store is unusable".to_owned())
        })
        .await
        .unwrap_or_else(|e| Err(format!("reading the scrape store failed: {e}")));
        read.map_err(|message| SourceError::Query {
            source_name: self.name.clone(),
            message,
        })
    }

    /// Waits (up to the scrape timeout) for the first scrape, so rules evaluated right
    /// after start do not see "no data".
    async fn first_scrape(&self) {
        let mut seen = self.scrapes.subscribe();
        let _ = tokio::time::timeout(self.settings.timeout, seen.wait_for(|n| *n > 0)).await;
    }
}

/// What went wrong, without repeating the URL the caller already names.
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "reading the body failed"
    } else {
        "request failed"
    };
    match std::error::Error::source(e) {
        Some(source) => format!("{kind}: {source}"),
        None => kind.to_owned(),
    }
}

impl Source for ScrapeSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn fetch<'a>(
        &'a self,
        request: FetchRequest<'a>,
    ) -> BoxFuture<'a, Result<Vec<Observation>, SourceError>> {
        Box::pin(async move {
            // Counters are stored as their increase: a budget's spend reads as a rule's.
            let (RuleQuery::Scraped { metric, filter } | RuleQuery::Increase { metric, filter }) =
                request.query
            else {
                return Err(SourceError::Query {
                    source_name: self.name.clone(),
                    message: "a scrape source answers only `metric` rules".to_owned(),
                });
            };
            self.first_scrape().await;
            let health = self
                .health
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            match health {
                Health::Down(message) => Err(SourceError::Unreachable {
                    source_name: self.name.clone(),
                    message,
                }),
                Health::NotYetScraped => Err(SourceError::Unreachable {
                    source_name: self.name.clone(),
                    message: format!("no scrape of {} has finished yet", self.settings.url),
                }),
                Health::Up => {
                    self.observations(metric, filter, request.after, request.until)
                        .await
                }
            }
        })
    }

    fn is_snapshot(&self, _query: &RuleQuery) -> bool {
        false
    }
}
