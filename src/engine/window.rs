//! The per-rule cache of observations inside the window, so each evaluation reads only
//! rows newer than the last one instead of the whole window again.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};

use crate::sources::Observation;

/// Observations inside a rule's window and how far the source has been read.
#[derive(Debug, Default)]
pub struct WindowBuffer {
    observations: VecDeque<Observation>,
    cursor: Option<DateTime<Utc>>,
}

impl WindowBuffer {
    /// The range to fetch for a window `(start, end]`: everything after the cursor when
    /// the cache covers the window start, else the whole window.
    pub fn fetch_range(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> (DateTime<Utc>, DateTime<Utc>) {
        match self.cursor {
            Some(c) if c >= start && c <= end => (c, end),
            _ => (start, end),
        }
    }

    /// Adds freshly fetched rows for `(after, until]`, then drops what fell out of the
    /// window `(start, …]`.
    pub fn extend(
        &mut self,
        fetched: Vec<Observation>,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
        start: DateTime<Utc>,
    ) {
        if self.cursor != Some(after) {
            // A full re-read: the cache is replaced, not appended to.
            self.observations.clear();
        }
        self.observations.extend(fetched);
        self.observations.retain(|o| o.sample.ts > start);
        self.cursor = Some(until);
    }

    /// Replaces the whole cache (snapshot metrics).
    pub fn replace(&mut self, fetched: Vec<Observation>) {
        self.observations = fetched.into();
        self.cursor = None;
    }

    /// The observations in the window.
    pub fn observations(&self) -> impl Iterator<Item = &Observation> {
        self.observations.iter()
    }

    /// How many observations are held.
    pub fn len(&self) -> usize {
        self.observations.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.observations.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Labels, Sample};

    fn obs(secs: i64) -> Observation {
        Observation {
            labels: Labels::new(),
            sample: Sample {
                ts: DateTime::from_timestamp(secs, 0).unwrap(),
                value: secs as f64,
            },
        }
    }

    #[test]
    fn incremental_reads_and_eviction() {
        let t = |s| DateTime::from_timestamp(s, 0).unwrap();
        let mut w = WindowBuffer::default();
        assert_eq!(w.fetch_range(t(0), t(100)), (t(0), t(100)));
        w.extend(vec![obs(10), obs(90)], t(0), t(100), t(0));
        assert_eq!(w.fetch_range(t(50), t(150)), (t(100), t(150)));
        w.extend(vec![obs(120)], t(100), t(150), t(50));
        let values: Vec<f64> = w.observations().map(|o| o.sample.value).collect();
        assert_eq!(values, vec![90.0, 120.0]);
        // A gap longer than the window forces a full read.
        assert_eq!(w.fetch_range(t(500), t(600)), (t(500), t(600)));
    }
}
