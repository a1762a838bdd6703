//! `Retry-After` on 429 and 503, as seconds or an HTTP-date, holds the next attempt back
//! at least that long (up to `max_retry_after`), for that row and for the receiver's
//! other rows; on other statuses it is ignored.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::post;
use axum::Router;
use driftwatch::clock::{Clock, ManualClock};
use driftwatch::notify::deliver::settings::{DeliveryConfig, WebhookConfig};
use driftwatch::notify::deliver::webhook::WebhookSender;
use driftwatch::notify::{Dispatcher, StepOutcome};
use driftwatch::store::{NewMessage, Store};
use driftwatch::telemetry::Metrics;
use driftwatch::types::Secret;

use crate::helpers::SECRET;

/// A receiver that answers `status` with `retry_after` to the first request and 200 to
/// the rest; counts the requests.
async fn receiver(status: u16, retry_after: String) -> (String, Arc<AtomicUsize>) {
    let requests = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&requests);
    let app = Router::new().route(
        "/hook",
        post(move || {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            let retry_after = retry_after.clone();
            async move {
                let mut headers = HeaderMap::new();
                if n > 0 {
                    return (StatusCode::OK, headers);
                }
                headers.insert("retry-after", HeaderValue::from_str(&retry_after).unwrap());
                (StatusCode::from_u16(status).unwrap(), headers)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, requests)
}

struct Setup {
    store: Store,
    dispatcher: Dispatcher,
    clock: ManualClock,
    requests: Arc<AtomicUsize>,
    _dir: tempfile::TempDir,
}

/// One message to a receiver answering `status` + `retry_after` first, retried every
/// 100 ms by the schedule, with the clock standing still until the test moves it.
async fn setup(status: u16, retry_after: String, cap: Duration) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite://{}/store.db", dir.path().display()))
        .await
        .unwrap();
    let (url, requests) = receiver(status, retry_after).await;
    let sender = WebhookSender::new(
        WebhookConfig {
            url: url.parse().unwrap(),
            secret: Some(Secret::new(SECRET)),
            previous_secrets: Vec::new(),
            timeout: Duration::from_secs(2),
            max_response_bytes: 1024,
            allow_private: true,
            disable_after: None,
            body: Default::default(),
        },
        &[],
    )
    .unwrap();
    let clock = ManualClock::new(chrono::Utc::now());
    let dispatcher = Dispatcher::new(
        store.clone(),
        HashMap::from([("hook".to_owned(), sender)]),
        DeliveryConfig {
            retry_schedule: vec![Duration::from_millis(100); 5],
            jitter: 0.0,
            max_retry_after: cap,
            // One at a time, so a later row sees what an earlier answer asked for.
            concurrency: 1,
            ..DeliveryConfig::default()
        },
        Arc::new(clock.clone()),
        Metrics::new(),
    );
    store
        .enqueue(&[NewMessage {
            id: "msg_1".to_owned(),
            receiver: "hook".to_owned(),
            fingerprint: "f".to_owned(),
            event: "firing".to_owned(),
            payload: "{}".to_owned(),
            created_at_ms: clock_ms(&clock),
            evaluation_ids: Vec::new(),
        }])
        .await
        .unwrap();
    Setup {
        store,
        dispatcher,
        clock,
        requests,
        _dir: dir,
    }
}

fn clock_ms(clock: &ManualClock) -> i64 {
    clock.now().timestamp_millis()
}

const RETRIED: StepOutcome = StepOutcome::Processed {
    delivered: 0,
    retried: 1,
    dead: 0,
};

/// Milliseconds from the failed first attempt to the next attempt's due time.
async fn first_wait_ms(s: &Setup) -> i64 {
    let at = clock_ms(&s.clock);
    assert_eq!(s.dispatcher.step().await.unwrap(), RETRIED);
    s.store.next_due_ms().await.unwrap().unwrap() - at
}

#[tokio::test]
async fn delay_seconds_hold_the_next_attempt_back() {
    let s = setup(429, "2".to_owned(), Duration::from_secs(3600)).await;
    assert_eq!(first_wait_ms(&s).await, 2000, "not the schedule's 100 ms");
    s.clock.advance(Duration::from_millis(1900));
    assert_eq!(s.dispatcher.step().await.unwrap(), StepOutcome::Empty);
    assert_eq!(s.requests.load(Ordering::SeqCst), 1, "no attempt before it");
    s.clock.advance(Duration::from_millis(100));
    assert_eq!(
        s.dispatcher.step().await.unwrap(),
        StepOutcome::Processed {
            delivered: 1,
            retried: 0,
            dead: 0
        }
    );
    assert_eq!(s.requests.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_http_date_is_read_relative_to_now() {
    let date = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(4));
    let s = setup(503, date, Duration::from_secs(3600)).await;
    let wait = first_wait_ms(&s).await;
    // The date has whole seconds: between 3 and 4 s away when the answer came.
    assert!((2500..=4000).contains(&wait), "{wait}");
}

#[tokio::test]
async fn the_wait_is_capped_and_other_statuses_are_not_believed() {
    let capped = setup(429, "86400".to_owned(), Duration::from_secs(5)).await;
    assert_eq!(first_wait_ms(&capped).await, 5000);
    let server_error = setup(500, "60".to_owned(), Duration::from_secs(3600)).await;
    assert_eq!(
        first_wait_ms(&server_error).await,
        100,
        "the schedule's wait"
    );
}

#[tokio::test]
async fn the_oldest_undelivered_age_counts_a_held_back_notification() {
    let s = setup(429, "600".to_owned(), Duration::from_secs(3600)).await;
    assert_eq!(first_wait_ms(&s).await, 600_000);
    s.clock.advance(Duration::from_secs(90));
    let metrics = Metrics::new();
    driftwatch::app::record_outbox_gauges(&s.store, &metrics, s.clock.now())
        .await
        .unwrap();
    let text = metrics.render();
    for line in [
        "driftwatch_outbox_oldest_age_seconds 90",
        "driftwatch_outbox_depth 1",
        "driftwatch_outbox_dead 0",
    ] {
        assert!(text.contains(line), "{line}\n{text}");
    }
}

#[tokio::test]
async fn the_receivers_other_notifications_wait_too() {
    let s = setup(429, "30".to_owned(), Duration::from_secs(3600)).await;
    s.store
        .enqueue(&[NewMessage {
            id: "msg_2".to_owned(),
            receiver: "hook".to_owned(),
            fingerprint: "g".to_owned(),
            event: "firing".to_owned(),
            payload: "{}".to_owned(),
            created_at_ms: clock_ms(&s.clock) + 1,
            evaluation_ids: Vec::new(),
        }])
        .await
        .unwrap();
    s.clock.advance(Duration::from_millis(1));
    let at = clock_ms(&s.clock);
    assert_eq!(
        s.dispatcher.step().await.unwrap(),
        StepOutcome::Processed {
            delivered: 0,
            retried: 2,
            dead: 0
        }
    );
    assert_eq!(s.requests.load(Ordering::SeqCst), 1, "msg_2 was not sent");
    assert_eq!(s.store.next_due_ms().await.unwrap(), Some(at + 30_000));
    s.clock.advance(Duration::from_secs(30));
    assert_eq!(
        s.dispatcher.step().await.unwrap(),
        StepOutcome::Processed {
            delivered: 2,
            retried: 0,
            dead: 0
        }
    );
    assert_eq!(s.requests.load(Ordering::SeqCst), 3);
}
