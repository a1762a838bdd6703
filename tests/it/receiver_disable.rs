//! Receivers get disabled: at once on HTTP 410 Gone, or after failing without a
//! success for `disable_after`. Their notifications are kept as dead letters, nothing
//! more is sent to them, and the other receivers are told. On SQLite and PostgreSQL.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use driftwatch::clock::{Clock, ManualClock};
use driftwatch::demo::receiver::Receiver;
use driftwatch::notify::deliver::receiver_health::RECEIVER_DISABLED_RULE;
use driftwatch::notify::deliver::settings::{DeliveryConfig, WebhookConfig};
use driftwatch::notify::deliver::webhook::WebhookSender;
use driftwatch::notify::{Dispatcher, StepOutcome};
use driftwatch::store::{NewMessage, Store};
use driftwatch::telemetry::Metrics;
use driftwatch::types::Secret;

use crate::helpers::{Backend, TestDb, SECRET};

/// A receiver answering whatever status `status` holds; counts requests.
pub struct ScriptedReceiver {
    pub url: String,
    pub status: Arc<AtomicU16>,
    pub requests: Arc<AtomicUsize>,
}

impl ScriptedReceiver {
    pub async fn start(status: u16) -> Self {
        let status = Arc::new(AtomicU16::new(status));
        let requests = Arc::new(AtomicUsize::new(0));
        let (answer, seen) = (Arc::clone(&status), Arc::clone(&requests));
        let app = Router::new().route(
            "/hook",
            post(move || {
                seen.fetch_add(1, Ordering::SeqCst);
                let code = StatusCode::from_u16(answer.load(Ordering::SeqCst)).unwrap();
                async move { (code, "endpoint removed") }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url,
            status,
            requests,
        }
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn sender(url: &str, disable_after: Option<Duration>) -> WebhookSender {
    WebhookSender::new(
        WebhookConfig {
            url: url.parse().unwrap(),
            secret: Some(Secret::new(SECRET)),
            previous_secrets: Vec::new(),
            timeout: Duration::from_secs(2),
            max_response_bytes: 1024,
            allow_private: true,
            disable_after,
            body: Default::default(),
        },
        &[],
    )
    .unwrap()
}

fn message(id: &str, receiver: &str, created_at_ms: i64) -> NewMessage {
    NewMessage {
        id: id.to_owned(),
        receiver: receiver.to_owned(),
        fingerprint: "f1".to_owned(),
        event: "firing".to_owned(),
        payload: "{}".to_owned(),
        created_at_ms,
        evaluation_ids: Vec::new(),
    }
}

struct Bench {
    db: TestDb,
    store: Store,
    clock: ManualClock,
    metrics: Metrics,
    dispatcher: Dispatcher,
    ops: Receiver,
}

/// A store on `backend`, a dispatcher over `flaky` (the receiver under test, reached at
/// `url`) and `ops` (a healthy receiver), retrying every minute, on a still clock.
async fn bench(backend: Backend, url: &str, disable_after: Option<Duration>) -> Bench {
    let db = TestDb::new(backend).await;
    let store = Store::connect(&db.store_url()).await.unwrap();
    let ops = Receiver::start(Some(SECRET), 0, false).await.unwrap();
    let clock = ManualClock::new(chrono::Utc::now());
    let metrics = Metrics::new();
    let dispatcher = Dispatcher::new(
        store.clone(),
        HashMap::from([
            ("flaky".to_owned(), sender(url, disable_after)),
            ("ops".to_owned(), sender(&ops.url(), None)),
        ]),
        DeliveryConfig {
            retry_schedule: vec![Duration::from_secs(60); 100],
            jitter: 0.0,
            ..DeliveryConfig::default()
        },
        Arc::new(clock.clone()),
        metrics.clone(),
    );
    Bench {
        db,
        store,
        clock,
        metrics,
        dispatcher,
        ops,
    }
}

fn now_ms(clock: &ManualClock) -> i64 {
    clock.now().timestamp_millis()
}

fn processed(delivered: usize, retried: usize, dead: usize) -> StepOutcome {
    StepOutcome::Processed {
        delivered,
        retried,
        dead,
    }
}

/// The `receiver_disabled` notice `ops` got about `flaky`, with its summary.
async fn notice_summary(ops: &Receiver) -> String {
    let got = ops
        .wait_for(Duration::from_secs(5), |d| !d.is_empty())
        .await;
    assert_eq!(got.len(), 1, "one notice: {got:?}");
    assert!(got[0].signature_ok);
    let payload = got[0].payload.as_ref().expect("a driftwatch payload");
    let alert = &payload.alerts[0];
    assert_eq!(alert.rule, RECEIVER_DISABLED_RULE);
    assert_eq!(alert.labels.get("receiver"), Some("flaky"));
    alert.annotations["summary"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gone_disables_the_receiver_keeps_its_rows_and_tells_the_others() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let gone = ScriptedReceiver::start(410).await;
        let b = bench(backend, &gone.url, None).await;
        let t0 = now_ms(&b.clock);
        b.store
            .enqueue(&[
                message("msg_first", "flaky", t0),
                message("msg_later", "flaky", t0 + 60_000),
            ])
            .await
            .unwrap();
        assert_eq!(b.dispatcher.step().await.unwrap(), processed(0, 0, 1));
        assert_eq!(gone.requests(), 1);

        // The notice to ops goes out; rows written for the gone receiver are not sent.
        b.store
            .enqueue(&[message("msg_new", "flaky", t0)])
            .await
            .unwrap();
        assert_eq!(b.dispatcher.step().await.unwrap(), processed(1, 0, 1));
        let summary = notice_summary(&b.ops).await;
        assert!(
            summary.contains("flaky was disabled") && summary.contains("HTTP 410 Gone"),
            "{summary}"
        );
        b.clock.advance(Duration::from_secs(120));
        assert_eq!(b.dispatcher.step().await.unwrap(), StepOutcome::Empty);
        assert_eq!(gone.requests(), 1, "nothing more reached the gone endpoint");

        let dead = b.store.dead_letters(Some("flaky"), 10).await.unwrap();
        let error = |id: &str| {
            dead.iter()
                .find(|d| d.id == id)
                .and_then(|d| d.last_error.clone())
                .unwrap_or_else(|| panic!("{id} is a dead letter: {dead:?}"))
        };
        assert!(error("msg_first").starts_with("HTTP 410 Gone: endpoint removed"));
        let attempts = |id: &str| dead.iter().find(|d| d.id == id).map(|d| d.attempts);
        assert_eq!(
            (
                attempts("msg_first"),
                attempts("msg_later"),
                attempts("msg_new")
            ),
            (Some(1), Some(0), Some(0)),
            "rows never sent record no attempt"
        );
        for id in ["msg_later", "msg_new"] {
            assert!(
                error(id).starts_with("not sent: receiver flaky was disabled"),
                "{}",
                error(id)
            );
        }
        let states = b.store.receiver_states().await.unwrap();
        assert!(states[0].disabled_at_ms.is_some(), "{states:?}");
        let metrics = b.metrics.render();
        for line in [
            r#"driftwatch_receiver_disabled{receiver="flaky"} 1"#,
            r#"driftwatch_receiver_disabled{receiver="ops"} 0"#,
            r#"driftwatch_notifications_total{receiver="flaky",result="gone"} 1"#,
            r#"driftwatch_notifications_total{receiver="flaky",result="disabled"} 1"#,
        ] {
            assert!(metrics.contains(line), "{line}\n{metrics}");
        }
        b.store.close().await;
        b.db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_longer_than_disable_after_disables_and_a_success_resets_the_clock() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let flaky = ScriptedReceiver::start(500).await;
        let minutes = |m: u64| Duration::from_secs(60 * m);
        let b = bench(backend, &flaky.url, Some(minutes(10))).await;
        let t0 = now_ms(&b.clock);
        b.store
            .enqueue(&[message("msg_1", "flaky", t0)])
            .await
            .unwrap();
        assert_eq!(b.dispatcher.step().await.unwrap(), processed(0, 1, 0));

        // A success five minutes in ends the first failure run.
        b.clock.advance(minutes(5));
        flaky.status.store(200, Ordering::SeqCst);
        assert_eq!(b.dispatcher.step().await.unwrap(), processed(1, 0, 0));

        flaky.status.store(500, Ordering::SeqCst);
        b.store
            .enqueue(&[message("msg_2", "flaky", now_ms(&b.clock))])
            .await
            .unwrap();
        b.clock.advance(minutes(1));
        let second_run_began = now_ms(&b.clock);
        assert_eq!(b.dispatcher.step().await.unwrap(), processed(0, 1, 0));
        b.clock.advance(minutes(9));
        assert_eq!(b.dispatcher.step().await.unwrap(), processed(0, 1, 0));
        let state = b.store.receiver_states().await.unwrap().remove(0);
        assert_eq!(
            (state.failing_since_ms, state.disabled_at_ms),
            (Some(second_run_began), None),
            "15 minutes since the first failure, but only 9 of failing without a success"
        );

        b.clock.advance(minutes(1));
        assert_eq!(b.dispatcher.step().await.unwrap(), processed(0, 1, 0));
        let state = b.store.receiver_states().await.unwrap().remove(0);
        assert!(state.disabled_at_ms.is_some(), "{state:?}");
        let reason = state.disabled_reason.unwrap();
        assert!(
            reason.contains("(disable_after 10m)") && reason.contains("HTTP 500"),
            "{reason}"
        );
        let dead = b.store.dead_letters(Some("flaky"), 10).await.unwrap();
        assert_eq!(dead.len(), 1, "the retrying row is kept as a dead letter");
        assert_eq!(dead[0].id, "msg_2");

        assert_eq!(b.dispatcher.step().await.unwrap(), processed(1, 0, 0));
        let summary = notice_summary(&b.ops).await;
        assert!(summary.contains("every attempt since"), "{summary}");
        b.store.close().await;
        b.db.drop_db().await;
    }
}
