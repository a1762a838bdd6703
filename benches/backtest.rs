//! Backtest speed: minute-resolution history for 1,000 series (one day by default;
//! `BACKTEST_DAYS=30` for the month the target names, which takes criterion ~10 minutes),
//! replayed with the live engine's schedule, windows, aggregation, detector and state machine.
// criterion_group! generates undocumented items; the bench functions say what they measure.
#![allow(missing_docs)]

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use driftwatch::backtest::backtest;
use driftwatch::model::{Labels, Sample};
use driftwatch::rule::{parse_rules, RuleContext};
use driftwatch::sources::async_trait_free::BoxFuture;
use driftwatch::sources::RuleQuery;
use driftwatch::sources::{FetchRequest, Observation, Source, SourceError};
use driftwatch::types::SourceFile;

const SERIES: usize = 1_000;

/// History made on the fly: one sample a minute per series, a spike now and then.
struct Synthetic {
    labels: Vec<Arc<Labels>>,
}

impl Source for Synthetic {
    fn name(&self) -> &str {
        "cmbagent"
    }

    fn fetch<'a>(
        &'a self,
        r: FetchRequest<'a>,
    ) -> BoxFuture<'a, Result<Vec<Observation>, SourceError>> {
        let first = r.after.timestamp() / 60 + 1;
        let last = r.until.timestamp() / 60;
        let mut out = Vec::with_capacity(((last - first + 1).max(0) as usize) * SERIES);
        for minute in first..=last {
            let ts = DateTime::from_timestamp(minute * 60, 0).unwrap();
            for (i, labels) in self.labels.iter().enumerate() {
                let spike = (minute as usize + i * 7919).is_multiple_of(20_000);
                let value = 2.0
                    + ((minute as usize * 31 + i) % 17) as f64 * 0.1
                    + if spike { 50.0 } else { 0.0 };
                out.push(Observation {
                    labels: Arc::clone(labels),
                    sample: Sample { ts, value },
                });
            }
        }
        Box::pin(async move { Ok(out) })
    }

    fn is_snapshot(&self, _: &RuleQuery) -> bool {
        false
    }
}

fn month_for_1000_series(c: &mut Criterion) {
    let rules = parse_rules(
        &[SourceFile::new(
            "bench.toml",
            r#"
[[rule]]
name = "llm_call_slow"
metric = "llm.call.duration"
group_by = ["model"]
aggregate = "p95"
window = "10m"
every = "1m"
for = "2m"
severity = "warning"
detector = { kind = "threshold", above = 30, recover_below = 25 }
"#,
        )],
        &RuleContext {
            sources: vec!["cmbagent".into()],
            ..Default::default()
        },
    )
    .unwrap();
    let source = Synthetic {
        labels: (0..SERIES)
            .map(|i| Arc::new(Labels::from([("model", format!("m{i}").as_str())])))
            .collect(),
    };
    let sources: HashMap<String, Arc<dyn Source>> =
        HashMap::from([("cmbagent".to_owned(), Arc::new(source) as Arc<dyn Source>)]);
    let from = DateTime::<Utc>::from_timestamp(1_790_000_000 / 60 * 60, 0).unwrap();
    let days: i64 = std::env::var("BACKTEST_DAYS")
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(1);
    let to = from + chrono::Duration::days(days);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut group = c.benchmark_group("backtest");
    group.sample_size(10);
    group.throughput(Throughput::Elements((days as usize * 1440 * SERIES) as u64));
    group.bench_function(format!("{days}d_minutes_1000_series"), |b| {
        b.iter(|| {
            let report = rt
                .block_on(backtest(&rules, &sources, from, to, false, &mut |_, _| {}))
                .unwrap();
            assert!(!report.rules[0].alerts.is_empty());
            report
        })
    });
    group.finish();
}

criterion_group!(benches, month_for_1000_series);
criterion_main!(benches);
