//! A realistic exposition of an agent platform's exporter, for the scrape benchmarks:
//! latency histograms by model and agent, token and run counters, and per-session gauges
//! (the high-cardinality part), with escaped label values on the error-info lines.

use std::fmt::Write;

const MODELS: [&str; 8] = [
    "gpt-4o",
    "gpt-4o-mini",
    "o3",
    "claude-sonnet-4",
    "claude-haiku",
    "gemini-2.5-pro",
    "gemini-flash",
    "llama-3.1-70b",
];
const AGENTS: [&str; 25] = [
    "planner",
    "engineer",
    "researcher",
    "executor",
    "reviewer",
    "coder",
    "critic",
    "summarizer",
    "retriever",
    "router",
    "verifier",
    "writer",
    "analyst",
    "tester",
    "debugger",
    "archivist",
    "scheduler",
    "monitor",
    "translator",
    "extractor",
    "classifier",
    "ranker",
    "formatter",
    "auditor",
    "controller",
];
const BUCKETS: [&str; 15] = [
    "0.5", "1", "2", "2.5", "3", "4", "5", "6", "8", "10", "12", "15", "20", "30", "60",
];

/// The payload with about `series` sample lines; `scrape` moves counters forward.
pub fn payload(series: usize, scrape: u64) -> String {
    let mut out = String::with_capacity(series * 110);
    let mut lines = 0usize;
    out.push_str("# HELP llm_call_duration_seconds LLM call duration\n");
    out.push_str("# TYPE llm_call_duration_seconds histogram\n");
    for model in MODELS {
        for agent in AGENTS {
            let mut cumulative = 0u64;
            for (i, le) in BUCKETS.iter().enumerate() {
                cumulative += (scrape + 1) * (16 - i as u64);
                let _ = writeln!(
                    out,
                    "llm_call_duration_seconds_bucket{{agent=\"{agent}\",model=\"{model}\",le=\"{le}\"}} {cumulative}.0"
                );
            }
            let _ = writeln!(out, "llm_call_duration_seconds_bucket{{agent=\"{agent}\",model=\"{model}\",le=\"+Inf\"}} {cumulative}.0");
            let _ = writeln!(
                out,
                "llm_call_duration_seconds_sum{{agent=\"{agent}\",model=\"{model}\"}} {}",
                cumulative as f64 * 2.37
            );
            let _ = writeln!(out, "llm_call_duration_seconds_count{{agent=\"{agent}\",model=\"{model}\"}} {cumulative}.0");
            lines += BUCKETS.len() + 3;
        }
    }
    out.push_str("# HELP llm_tokens_total Tokens used\n# TYPE llm_tokens_total counter\n");
    for model in MODELS {
        for agent in AGENTS {
            for kind in ["prompt", "completion"] {
                let _ = writeln!(
                    out,
                    "llm_tokens_total{{agent=\"{agent}\",kind=\"{kind}\",model=\"{model}\"}} {}",
                    (scrape + 1) * 1234
                );
                lines += 1;
            }
        }
    }
    out.push_str(
        "# HELP workflow_count_total Workflow runs\n# TYPE workflow_count_total counter\n",
    );
    for agent in AGENTS {
        for status in ["completed", "failed", "cancelled"] {
            let _ = writeln!(
                out,
                "workflow_count_total{{agent=\"{agent}\",status=\"{status}\"}} {}",
                (scrape + 1) * 17
            );
            lines += 1;
        }
    }
    out.push_str(
        "# HELP session_error_info Last error of a session\n# TYPE session_error_info gauge\n",
    );
    let errors = series / 50;
    for s in 0..errors {
        let _ = writeln!(
            out,
            "session_error_info{{session_id=\"sess-{s:08}\",message=\"tool \\\"search\\\" failed:\\nC:\\\\tmp\\\\out.json not found\"}} 1"
        );
        lines += 1;
    }
    out.push_str(
        "# HELP session_cost_dollars Cost of a session so far\n# TYPE session_cost_dollars gauge\n",
    );
    let mut s = 0usize;
    while lines < series {
        let model = MODELS[s % MODELS.len()];
        let agent = AGENTS[s % AGENTS.len()];
        let _ = writeln!(
            out,
            "session_cost_dollars{{agent=\"{agent}\",model=\"{model}\",session_id=\"sess-{s:08}\"}} {}",
            0.01 * ((s % 997) as f64 + 1.0) + scrape as f64 * 0.001
        );
        lines += 1;
        s += 1;
    }
    out
}
