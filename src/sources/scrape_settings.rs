//! A scrape source's settings: the `[sources.NAME] kind = "scrape"` section as written,
//! and the validated [`ScrapeSettings`] the running source is built from, defaults
//! resolved here once. `config` parses the file and places each problem at its line.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::sources::scrape_store::DEFAULT_MAX_SERIES;
use crate::types::{DurationSpec, EnvString};

/// `[sources.NAME] kind = "scrape"`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScrapeSourceSection {
    /// The endpoint, e.g. `http://127.0.0.1:9464/metrics`; may use `${VAR}`.
    pub url: EnvString,
    /// Time between scrapes (default 15s).
    #[serde(default)]
    pub interval: Option<DurationSpec>,
    /// Deadline of one scrape, body included (default 10s, at most the interval).
    #[serde(default)]
    pub timeout: Option<DurationSpec>,
    /// Largest body read in bytes (default 64 MiB); a larger one fails the scrape.
    #[serde(default)]
    pub max_bytes: Option<u64>,
    /// How long scraped points stay readable (default 15m). Rules keep their own window
    /// once running, so this only needs to cover a new rule's first window.
    #[serde(default)]
    pub retention: Option<DurationSpec>,
    /// Most series held at once (default 1,000,000); beyond it new series are dropped,
    /// counted in `driftwatch_scrape_series_dropped_total`, until old ones expire.
    #[serde(default)]
    pub max_series: Option<u64>,
}

/// What the scrape source needs to know.
#[derive(Debug, Clone)]
pub struct ScrapeSettings {
    /// The endpoint, e.g. `http://127.0.0.1:9464/metrics`.
    pub url: reqwest::Url,
    /// Time between scrapes.
    pub interval: Duration,
    /// Deadline for one scrape, reading the body included.
    pub timeout: Duration,
    /// Largest body read; a larger one fails the scrape.
    pub max_bytes: usize,
    /// How long scraped points stay readable by rules.
    pub retention: Duration,
    /// Most series held at once; new series beyond it are dropped and counted.
    pub max_series: usize,
}

impl ScrapeSourceSection {
    /// The settings with their defaults (interval 15s; timeout 10s, at most the interval;
    /// retention 15m, at least two intervals; 64 MiB per scrape) for the endpoint `url`
    /// (this section's `url`, expanded), and every problem found.
    pub fn settings(&self, url: reqwest::Url) -> (ScrapeSettings, Vec<String>) {
        let mut problems = Vec::new();
        let interval = self
            .interval
            .map(|d| d.get())
            .unwrap_or(Duration::from_secs(15));
        let timeout = self
            .timeout
            .map(|d| d.get())
            .unwrap_or(Duration::from_secs(10))
            .min(interval);
        if interval < Duration::from_millis(100) {
            problems.push("`interval` must be at least 100ms".to_owned());
        }
        let max_series = self.max_series.map_or(DEFAULT_MAX_SERIES, |n| {
            usize::try_from(n).unwrap_or(usize::MAX)
        });
        if max_series == 0 {
            problems.push("`max_series` must be at least 1".to_owned());
        }
        let settings = ScrapeSettings {
            url,
            interval,
            timeout,
            max_bytes: self.max_bytes.unwrap_or(64 << 20) as usize,
            retention: self
                .retention
                .map(|d| d.get())
                .unwrap_or(Duration::from_secs(15 * 60))
                .max(interval * 2),
            max_series,
        };
        (settings, problems)
    }
}
