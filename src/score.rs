//! `driftwatch score`: runs a detector over CSV series (timestamp,value) one sample at a
//! time, using only the past, and writes `timestamp,value,anomaly_score` rows — the
//! format of the Numenta Anomaly Benchmark's scorer.

use std::path::{Path, PathBuf};

use crate::detect::DetectorSpec;
use crate::sources::sql::parse_timestamp;

/// What each output row's score means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoreMode {
    /// The detector's anomaly score in [0,1] where an alert would start, else 0 (so a
    /// threshold sweep ranks alerts by strength).
    Score,
    /// 1 where an alert would start firing, else 0: what users of the engine live with.
    Alerts,
}

/// Totals of one run.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ScoreSummary {
    /// Files scored.
    pub files: usize,
    /// Rows scored.
    pub rows: usize,
    /// Alerts that would have fired.
    pub alerts: usize,
}

/// The CSV files under `input` (or `input` itself), in name order.
fn inputs(input: &Path) -> Result<Vec<PathBuf>, String> {
    if input.is_file() {
        return Ok(vec![input.to_owned()]);
    }
    let mut out = Vec::new();
    let mut dirs = vec![input.to_owned()];
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for e in entries {
            let p = e.map_err(|e| e.to_string())?.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "csv") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Scores one CSV into another; returns (rows, alerts).
pub fn score_file(
    input: &Path,
    output: &Path,
    detector: &DetectorSpec,
    mode: ScoreMode,
) -> Result<(usize, usize), String> {
    let mut reader =
        csv::Reader::from_path(input).map_err(|e| format!("{}: {e}", input.display()))?;
    let headers = reader
        .headers()
        .map_err(|e| format!("{}: {e}", input.display()))?
        .clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| {
                format!(
                    "{}: expected a `{name}` column, found {:?}",
                    input.display(),
                    headers
                )
            })
    };
    let (ts_col, value_col) = (col("timestamp")?, col("value")?);
    if let Some(parent) = output.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    let mut writer =
        csv::Writer::from_path(output).map_err(|e| format!("{}: {e}", output.display()))?;
    writer
        .write_record(["timestamp", "value", "anomaly_score"])
        .map_err(|e| e.to_string())?;
    let mut d = detector.build();
    let (mut rows, mut alerts, mut firing) = (0, 0, false);
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| format!("{}: row {}: {e}", input.display(), i + 2))?;
        let ts_text = record.get(ts_col).unwrap_or_default();
        let ts = parse_timestamp(ts_text)
            .map_err(|e| format!("{}: row {}: {e}", input.display(), i + 2))?;
        let value_text = record.get(value_col).unwrap_or_default();
        let value: f64 = value_text.trim().parse().map_err(|_| {
            format!(
                "{}: row {}: {value_text:?} is not a number",
                input.display(),
                i + 2
            )
        })?;
        let v = d.observe(ts.timestamp_millis(), value);
        // An alert starts where the detector turns anomalous; the rows after it, while
        // it stays anomalous, are the same alert and carry no new score.
        let fires = v.anomalous && !firing;
        firing = v.anomalous;
        alerts += usize::from(fires);
        let score = match (mode, fires) {
            (_, false) => 0.0,
            (ScoreMode::Score, true) => v.score,
            (ScoreMode::Alerts, true) => 1.0,
        };
        writer
            .write_record([ts_text, value_text, &format!("{score:.6}")])
            .map_err(|e| e.to_string())?;
        rows += 1;
    }
    writer.flush().map_err(|e| e.to_string())?;
    Ok((rows, alerts))
}

/// Scores a file, or every CSV under a folder into `output/<category>/<name>_<file>.csv`
/// (the layout NAB's scorer reads). `progress` gets (files done, files in all).
pub fn score_path(
    input: &Path,
    output: &Path,
    name: &str,
    detector: &DetectorSpec,
    mode: ScoreMode,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<ScoreSummary, String> {
    let files = inputs(input)?;
    if files.is_empty() {
        return Err(format!("{}: no CSV files", input.display()));
    }
    let mut summary = ScoreSummary::default();
    for (i, file) in files.iter().enumerate() {
        let target = if input.is_file() {
            output.to_owned()
        } else {
            let category = file
                .parent()
                .and_then(|p| p.file_name())
                .map(|c| c.to_string_lossy().into_owned())
                .unwrap_or_default();
            let stem = file.file_name().expect("a file").to_string_lossy();
            output.join(category).join(format!("{name}_{stem}"))
        };
        let (rows, alerts) = score_file(file, &target, detector, mode)?;
        summary.files += 1;
        summary.rows += rows;
        summary.alerts += alerts;
        progress(i + 1, files.len());
    }
    Ok(summary)
}
