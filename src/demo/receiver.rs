//! A webhook receiver on loopback that verifies signatures and records deliveries; the
//! demo prints them, tests inspect them.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use tokio::sync::Notify;

use crate::model::payload::WebhookPayload;
use crate::notify::deliver::signing::SigningKey;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The `webhook-id` header.
    pub id: String,
    /// The `webhook-timestamp` header.
    pub timestamp: i64,
    /// Whether `webhook-signature` verified against the secret.
    pub signature_ok: bool,
    /// The status code answered.
    pub answered: u16,
    /// The parsed body (None when it was not a driftwatch payload).
    pub payload: Option<WebhookPayload>,
    /// The raw body.
    pub body: String,
}

struct Inner {
    key: Option<SigningKey>,
    delay: std::time::Duration,
    deliveries: Mutex<Vec<Delivery>>,
    fail_first: AtomicUsize,
    arrived: Notify,
    print: bool,
}

/// A running receiver.
#[derive(Clone)]
pub struct Receiver {
    /// Its address.
    pub addr: SocketAddr,
    inner: Arc<Inner>,
}

impl Receiver {
    /// Starts a receiver on `127.0.0.1:0`. It answers 500 to the first `fail_first`
    /// requests, then 200; `print` writes each delivery to stdout.
    pub async fn start(
        secret: Option<&str>,
        fail_first: usize,
        print: bool,
    ) -> std::io::Result<Self> {
        Self::start_slow(secret, fail_first, print, std::time::Duration::ZERO).await
    }

    /// Like [`Receiver::start`], but each answer waits `delay` first (a slow receiver).
    pub async fn start_slow(
        secret: Option<&str>,
        fail_first: usize,
        print: bool,
        delay: std::time::Duration,
    ) -> std::io::Result<Self> {
        let inner = Arc::new(Inner {
            delay,
            key: secret.map(|s| SigningKey::from_whsec(s).expect("valid test secret")),
            deliveries: Mutex::new(Vec::new()),
            fail_first: AtomicUsize::new(fail_first),
            arrived: Notify::new(),
            print,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = Router::new()
            .route("/hook", post(handle))
            .with_state(Arc::clone(&inner));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, inner })
    }

    /// The URL to configure as a webhook.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Every request so far.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.inner.deliveries.lock().expect("lock").clone()
    }

    /// Waits until `pred` holds for the deliveries, or `timeout` passes; returns them.
    pub async fn wait_for(
        &self,
        timeout: std::time::Duration,
        pred: impl Fn(&[Delivery]) -> bool,
    ) -> Vec<Delivery> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.inner.arrived.notified();
            let now = self.deliveries();
            if pred(&now) || tokio::time::Instant::now() >= deadline {
                return now;
            }
            let _ = tokio::time::timeout_at(deadline, notified).await;
        }
    }
}

async fn handle(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    if !inner.delay.is_zero() {
        tokio::time::sleep(inner.delay).await;
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let id = header("webhook-id");
    let timestamp: i64 = header("webhook-timestamp").parse().unwrap_or_default();
    let signature_ok = inner
        .key
        .as_ref()
        .is_some_and(|k| k.verify(&id, timestamp, &body, &header("webhook-signature")));
    let failing = inner
        .fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let status = if failing {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    let text = String::from_utf8_lossy(&body).into_owned();
    let payload: Option<WebhookPayload> = serde_json::from_str(&text).ok();
    if inner.print {
        print_delivery(&id, signature_ok, status, payload.as_ref());
    }
    inner.deliveries.lock().expect("lock").push(Delivery {
        id,
        timestamp,
        signature_ok,
        answered: status.as_u16(),
        payload,
        body: text,
    });
    inner.arrived.notify_waiters();
    status
}

fn print_delivery(
    id: &str,
    signature_ok: bool,
    status: StatusCode,
    payload: Option<&WebhookPayload>,
) {
    let time = chrono::Utc::now().format("%H:%M:%S");
    let sig = if signature_ok {
        "signature ok"
    } else {
        "SIGNATURE BAD"
    };
    match payload {
        Some(p) => {
            for a in &p.alerts {
                let state = a.state.as_str().to_uppercase();
                let summary = a
                    .annotations
                    .get("summary")
                    .map(String::as_str)
                    .unwrap_or("");
                let summary = if a.state == crate::model::AlertState::Resolved {
                    let now = a
                        .annotations
                        .get("reason")
                        .map(String::as_str)
                        .unwrap_or("");
                    // A resolve's summary already shows the value now; add why it is
                    // fine unless the summary says it itself.
                    if now.is_empty() || summary.contains(now) {
                        summary.to_owned()
                    } else {
                        format!("{summary}; now {now}")
                    }
                } else {
                    summary.to_owned()
                };
                println!(
                    "{time}  webhook <- {state:<8} {:<8} {:<22} {summary}  [{id}, {sig}, answered {}]",
                    a.severity,
                    a.rule,
                    status.as_u16()
                );
            }
        }
        None => println!("{time}  webhook <- (unreadable body) [{id}, {sig}]"),
    }
}
