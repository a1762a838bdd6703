//! The Prometheus query source: runs a rule's `promql` against a Prometheus server's HTTP
//! API. An evaluation asks for the new part of its window, `(after, until]`: a range query
//! (`/api/v1/query_range`) with points ending at `until`, at most [`MAX_POINTS`] of them
//! (so warming a baseline over days is one request), or an instant query (`/api/v1/query`)
//! when less than a second is new. Every result series becomes observations with its
//! labels, judged by driftwatch's detectors like SQL rows.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::model::{Labels, Sample};
use crate::sources::async_trait_free::BoxFuture;
use crate::sources::RuleQuery;
use crate::sources::{FetchRequest, Observation, Source, SourceError};

/// The most points a range query asks for per series (Prometheus allows 11,000).
pub const MAX_POINTS: i64 = 1000;

/// The finest step of a range query.
const MIN_STEP_MS: i64 = 1000;

/// The most response bytes read from one query.
const MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;

/// A Prometheus server.
pub struct PrometheusSource {
    name: String,
    base: reqwest::Url,
    client: reqwest::Client,
}

impl PrometheusSource {
    /// A source for the server at `base` (e.g. `http://127.0.0.1:9090`).
    pub fn new(name: &str, base: reqwest::Url, timeout: Duration) -> Result<Self, SourceError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| SourceError::Query {
                source_name: name.to_owned(),
                message: format!("cannot build an HTTP client: {e}"),
            })?;
        Ok(Self {
            name: name.to_owned(),
            base,
            client,
        })
    }

    /// Runs `expr` as an instant query at `at`.
    pub async fn instant(
        &self,
        expr: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<Observation>, SourceError> {
        self.get("api/v1/query", &[("query", expr), ("time", &seconds(at))])
            .await
    }

    /// Runs `expr` as a range query from `start` to `end` every `step_ms`.
    pub async fn range(
        &self,
        expr: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        step_ms: i64,
    ) -> Result<Vec<Observation>, SourceError> {
        let step = format!("{:.3}", step_ms as f64 / 1000.0);
        let params = [
            ("query", expr),
            ("start", &seconds(start)),
            ("end", &seconds(end)),
            ("step", &step),
        ];
        self.get("api/v1/query_range", &params).await
    }

    /// The points of `(after, until]` an evaluation needs: ending at `until`, one per
    /// step, the step growing with the span so that no more than `MAX_POINTS` are asked.
    pub async fn window(
        &self,
        expr: &str,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<Observation>, SourceError> {
        let span_ms = (until - after).num_milliseconds();
        let step_ms = (span_ms / MAX_POINTS).max(MIN_STEP_MS);
        let points = span_ms / step_ms;
        if points <= 1 {
            return self.instant(expr, until).await;
        }
        let start = crate::time_math::earlier_by(
            until,
            chrono::TimeDelta::milliseconds((points - 1).saturating_mul(step_ms)),
        );
        self.range(expr, start, until, step_ms).await
    }

    async fn get(
        &self,
        path: &str,
        params: &[(&str, &str)],
    ) -> Result<Vec<Observation>, SourceError> {
        let url = self.base.join(path).map_err(|e| self.query_err(e))?;
        let response = self
            .client
            .get(url)
            .query(params)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let status = response.status();
        if status.is_server_error() {
            return Err(self.unreachable(format!("HTTP {status}")));
        }
        let mut body = Vec::new();
        let mut response = response;
        while let Some(chunk) = response.chunk().await.map_err(|e| self.unreachable(e))? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_RESPONSE_BYTES {
                return Err(self.query_err(format!(
                    "response larger than {MAX_RESPONSE_BYTES} bytes; narrow the expression"
                )));
            }
        }
        parse_response(&body).map_err(|m| self.query_err(format!("HTTP {status}: {m}")))
    }

    fn unreachable(&self, e: impl std::fmt::Display) -> SourceError {
        SourceError::Unreachable {
            source_name: self.name.clone(),
            message: e.to_string(),
        }
    }

    fn query_err(&self, e: impl std::fmt::Display) -> SourceError {
        SourceError::Query {
            source_name: self.name.clone(),
            message: e.to_string(),
        }
    }
}

impl Source for PrometheusSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn fetch<'a>(
        &'a self,
        request: FetchRequest<'a>,
    ) -> BoxFuture<'a, Result<Vec<Observation>, SourceError>> {
        Box::pin(async move {
            match request.query {
                RuleQuery::PromQl { expr } => self.window(expr, request.after, request.until).await,
                RuleQuery::Increase { metric, filter } => {
                    self.increases(metric, filter, request.after, request.until)
                        .await
                }
                _ => Err(self.query_err(
                    "a prometheus source runs only `promql` rules (not `metric` or `query`)",
                )),
            }
        })
    }

    /// Evaluations read only the new part of their window, and new rules can warm
    /// their baselines from the server's history.
    fn is_snapshot(&self, _query: &RuleQuery) -> bool {
        false
    }
}

#[derive(Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    data: Option<Data>,
}

#[derive(Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum Data {
    Vector(Vec<VectorItem>),
    Scalar((f64, String)),
    Matrix(Vec<MatrixItem>),
    String((f64, String)),
}

#[derive(Deserialize)]
struct MatrixItem {
    metric: std::collections::BTreeMap<String, String>,
    values: Vec<(f64, String)>,
}

#[derive(Deserialize)]
struct VectorItem {
    metric: std::collections::BTreeMap<String, String>,
    value: (f64, String),
}

/// Parses an `/api/v1/query` reply into observations; errors say what the server said.
pub fn parse_response(body: &[u8]) -> Result<Vec<Observation>, String> {
    let envelope: Envelope =
        serde_json::from_slice(body).map_err(|e| format!("not a Prometheus API reply ({e})"))?;
    if envelope.status != "success" {
        return Err(envelope
            .error
            .unwrap_or_else(|| format!("status {:?}", envelope.status)));
    }
    let point = |(ts, v): (f64, String)| -> Result<Sample, String> {
        let value = match v.as_str() {
            "NaN" => f64::NAN,
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            s => s
                .parse()
                .map_err(|_| format!("value {s:?} is not a number"))?,
        };
        let ts = DateTime::from_timestamp_millis((ts * 1000.0).round() as i64)
            .ok_or_else(|| format!("timestamp {ts} out of range"))?;
        Ok(Sample { ts, value })
    };
    match envelope.data {
        Some(Data::Vector(items)) => items
            .into_iter()
            .map(|item| {
                let mut labels = Labels::new();
                for (k, v) in item.metric {
                    labels.insert(k, v);
                }
                Ok(Observation {
                    labels: labels.into(),
                    sample: point(item.value)?,
                })
            })
            .collect(),
        Some(Data::Scalar(p)) => Ok(vec![Observation {
            labels: Labels::new().into(),
            sample: point(p)?,
        }]),
        Some(Data::Matrix(series)) => {
            let mut out = Vec::new();
            for item in series {
                let labels = std::sync::Arc::new(Labels(item.metric.into_iter().collect()));
                for p in item.values {
                    out.push(Observation {
                        labels: labels.clone(),
                        sample: point(p)?,
                    });
                }
            }
            Ok(out)
        }
        Some(Data::String((_, s))) => Err(format!(
            "the expression returned the string {s:?}; a rule needs an instant vector or a scalar"
        )),
        None => Err("reply without data".to_owned()),
    }
}

/// Unix seconds with milliseconds, as the API takes them.
fn seconds(t: DateTime<Utc>) -> String {
    format!("{:.3}", t.timestamp_millis() as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_vectors_scalars_and_errors() {
        let body = br#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"model":"gpt-4o"},"value":[1700000000.5,"2.25"]},
            {"metric":{"model":"o1"},"value":[1700000000.5,"NaN"]}]}}"#;
        let obs = parse_response(body).unwrap();
        assert_eq!(obs.len(), 2);
        assert_eq!(obs[0].labels.get("model"), Some("gpt-4o"));
        assert_eq!(obs[0].sample.value, 2.25);
        assert_eq!(obs[0].sample.ts.timestamp_millis(), 1_700_000_000_500);
        assert!(obs[1].sample.value.is_nan());
        let scalar = br#"{"status":"success","data":{"resultType":"scalar","result":[1,"+Inf"]}}"#;
        assert_eq!(
            parse_response(scalar).unwrap()[0].sample.value,
            f64::INFINITY
        );
        let err = br#"{"status":"error","errorType":"bad_data","error":"parse error at char 5"}"#;
        assert_eq!(parse_response(err).unwrap_err(), "parse error at char 5");
        let matrix = br#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"model":"o1"},"values":[[10,"1"],[11,"2"]]}]}}"#;
        let obs = parse_response(matrix).unwrap();
        assert_eq!(obs.len(), 2);
        assert_eq!(obs[1].sample.value, 2.0);
        assert_eq!(obs[1].sample.ts.timestamp(), 11);
        assert_eq!(obs[1].labels.get("model"), Some("o1"));
        assert!(parse_response(b"<html>")
            .unwrap_err()
            .contains("not a Prometheus"));
    }
}
