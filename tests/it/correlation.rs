//! One evaluation id links the evaluation's log lines, the alert change it committed,
//! the payload's alert and every delivery of the notifications it caused; concurrent
//! deliveries' log lines carry their own ids, not each other's.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use driftwatch::clock::SystemClock;
use driftwatch::demo::receiver::Receiver;
use driftwatch::notify::deliver::settings::ReceiverConfig;
use driftwatch::rule::{parse_rules, RuleContext};
use driftwatch::types::SourceFile;

use crate::helpers::{finished_run, service_config, Backend, TestDb, SECRET, SLOW_BY_MODE};

/// Log output collected in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<String> {
        let text = String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned();
        text.lines().map(str::to_owned).collect()
    }
}

/// The value of `field=` in a log line's span context.
fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let start = line.find(&format!("{name}="))? + name.len() + 1;
    let rest = &line[start..];
    let end = rest.find([' ', '}', ':']).unwrap_or(rest.len());
    Some(&rest[..end])
}

// A current-thread runtime: every task runs on this thread, so the thread's log
// subscriber sees them all, and a span left entered across an await would show on the
// lines of whatever task runs next.
#[tokio::test(flavor = "current_thread")]
async fn one_evaluation_id_links_the_change_the_payload_and_each_delivery() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    let _logs = tracing::subscriber::set_default(subscriber);

    let db = TestDb::new(Backend::Sqlite).await;
    let fast = Receiver::start(Some(SECRET), 0, false).await.unwrap();
    let slow = Receiver::start_slow(Some(SECRET), 0, false, Duration::from_millis(700))
        .await
        .unwrap();
    let mut config = service_config(&db.url, &db.store_url(), &fast);
    let mut slow_hook = config.receivers["hook"].clone();
    if let ReceiverConfig::Webhook(w) = &mut slow_hook {
        w.url = slow.url().parse().unwrap();
    }
    config.receivers.insert("slow".to_owned(), slow_hook);
    config.default_receivers = vec!["hook".to_owned(), "slow".to_owned()];
    let ctx = RuleContext {
        sources: vec!["cmbagent".to_owned()],
        source_kinds: Default::default(),
        receivers: vec!["hook".to_owned(), "slow".to_owned()],
        default_receivers: vec!["hook".to_owned(), "slow".to_owned()],
    };
    let rules = parse_rules(&[SourceFile::new("test.toml", SLOW_BY_MODE)], &ctx).unwrap();
    let running = driftwatch::app::start(config, rules, Arc::new(SystemClock))
        .await
        .unwrap();
    let writer = db.writer();
    writer
        .insert(&finished_run("r1", "one_shot", 900.0, "completed"))
        .await
        .unwrap();
    writer
        .insert(&finished_run("r2", "deep_research", 1900.0, "completed"))
        .await
        .unwrap();

    let wait = Duration::from_secs(15);
    let got = fast.wait_for(wait, |d| d.len() >= 2).await;
    slow.wait_for(wait, |d| d.len() >= 2).await;
    let alert = got[0].payload.as_ref().unwrap().alerts[0].clone();
    let evaluation_id = alert
        .evaluation_id
        .clone()
        .expect("payload names its evaluation");

    let base = format!("http://{}", running.addr);
    let client = reqwest::Client::new();
    let history: serde_json::Value = client
        .get(format!(
            "{base}/api/v1/alerts/{}/history",
            alert.fingerprint
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let change = &history["changes"][0];
    assert_eq!(change["to"], "firing", "{history}");
    assert_eq!(change["evaluation_id"], evaluation_id.as_str(), "{history}");

    // Both receivers' notifications of that change, delivered, list the evaluation.
    let url = format!("{base}/api/v1/notifications?evaluation_id={evaluation_id}");
    let mut delivered = Vec::new();
    for _ in 0..50 {
        let answer: serde_json::Value =
            client.get(&url).send().await.unwrap().json().await.unwrap();
        delivered = answer["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["status"] == "delivered")
            .map(|n| n["receiver"].as_str().unwrap().to_owned())
            .collect();
        if delivered.contains(&"hook".to_owned()) && delivered.contains(&"slow".to_owned()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        delivered.contains(&"hook".to_owned()) && delivered.contains(&"slow".to_owned()),
        "{delivered:?}"
    );
    let bad = client
        .get(format!("{base}/api/v1/notifications?evaluation_id=%25"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    running.stop(Duration::from_secs(5)).await;

    let lines = captured.lines();
    let delivered_lines: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("notification delivered"))
        .collect();
    assert!(delivered_lines.len() >= 4, "{lines:#?}");
    let slow_got = slow.deliveries();
    let ids: Vec<&str> = got.iter().chain(&slow_got).map(|d| d.id.as_str()).collect();
    for line in &lines {
        // A delivery's span never shows on another delivery's line, nor on any line
        // that is not a delivery's.
        let spans = line.matches("delivery{").count();
        assert!(spans <= 1, "spans leaked onto: {line}");
        if line.contains("notification delivered") {
            assert_eq!(spans, 1, "{line}");
            let id = field(line, "id").unwrap();
            assert!(ids.contains(&id), "{line}");
            assert!(
                field(line, "evaluation_ids").is_some_and(|e| !e.is_empty()),
                "{line}"
            );
        } else {
            assert_eq!(spans, 0, "a delivery span on another task's line: {line}");
        }
    }
    let evaluation_lines = lines
        .iter()
        .filter(|l| field(l, "evaluation_id") == Some(evaluation_id.as_str()))
        .count();
    assert!(
        evaluation_lines >= 1,
        "the evaluation's own lines carry its id: {lines:#?}"
    );
}
