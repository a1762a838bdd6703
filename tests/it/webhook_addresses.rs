//! Webhooks never reach loopback, private or metadata addresses unless allowlisted: not
//! as IP literals, not as names that resolve there. A TCP listener shows that no
//! connection is even opened, and the refusal is kept on the dead letter.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use driftwatch::clock::SystemClock;
use driftwatch::notify::deliver::allowlist::AllowedDestination;
use driftwatch::notify::deliver::resolver::StaticLookup;
use driftwatch::notify::deliver::settings::{DeliveryConfig, WebhookConfig};
use driftwatch::notify::deliver::webhook::{FailureKind, WebhookSender};
use driftwatch::notify::{Dispatcher, StepOutcome};
use driftwatch::store::{NewMessage, Store};
use driftwatch::telemetry::Metrics;
use driftwatch::types::Secret;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::SECRET;

/// A TCP listener on 127.0.0.1 that counts every connection it accepts and answers
/// each with an empty HTTP 200.
struct CountingListener {
    port: u16,
    accepted: Arc<AtomicUsize>,
}

impl CountingListener {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    let _ = socket.read(&mut buf).await;
                    let _ = socket
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                        )
                        .await;
                });
            }
        });
        Self { port, accepted }
    }

    async fn connections_after_a_moment(&self) -> usize {
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.accepted.load(Ordering::SeqCst)
    }
}

fn webhook(url: &str, allow_private: bool) -> WebhookConfig {
    WebhookConfig {
        url: url.parse().unwrap(),
        secret: Some(Secret::new(SECRET)),
        previous_secrets: Vec::new(),
        timeout: Duration::from_secs(3),
        max_response_bytes: 1024,
        allow_private,
        disable_after: None,
        body: Default::default(),
    }
}

fn entries(list: &[&str]) -> Vec<AllowedDestination> {
    list.iter().map(|e| e.parse().unwrap()).collect()
}

/// A name table standing in for DNS: the names resolve where the test says.
fn names(port_target: IpAddr) -> Arc<StaticLookup> {
    Arc::new(
        StaticLookup::new()
            .with("rebind.test", &[port_target])
            .with("inside.test", &["10.0.0.1".parse().unwrap()])
            .with("metadata.test", &["169.254.169.254".parse().unwrap()]),
    )
}

#[tokio::test]
async fn loopback_literals_are_refused_before_any_connection() {
    let listener = CountingListener::start().await;
    for url in [
        format!("http://127.0.0.1:{}/hook", listener.port),
        format!("http://[::ffff:127.0.0.1]:{}/hook", listener.port),
        format!("http://[::1]:{}/hook", listener.port),
        format!("http://2130706433:{}/hook", listener.port),
    ] {
        let sender = WebhookSender::new(webhook(&url, false), &entries(&["10.0.0.0/8"])).unwrap();
        let err = sender.send("msg_1", "{}").await.unwrap_err();
        assert_eq!(err.kind, FailureKind::Refused, "{url}: {err}");
        assert!(
            err.message.contains("loopback address") && err.message.contains("allow_private"),
            "{url}: {err}"
        );
    }
    assert_eq!(listener.connections_after_a_moment().await, 0);

    // The same listener is reachable once loopback is allowlisted: the test can fail.
    let url = format!("http://127.0.0.1:{}/hook", listener.port);
    let sender = WebhookSender::new(webhook(&url, false), &entries(&["127.0.0.1"])).unwrap();
    assert_eq!(sender.send("msg_2", "{}").await.unwrap(), 200);
    assert_eq!(listener.connections_after_a_moment().await, 1);
}

#[tokio::test]
async fn names_resolving_to_private_addresses_are_refused() {
    let listener = CountingListener::start().await;
    let lookup = names("127.0.0.1".parse().unwrap());
    let url = format!("http://rebind.test:{}/hook", listener.port);
    let refused =
        WebhookSender::with_lookup(webhook(&url, false), &[], Arc::clone(&lookup) as _).unwrap();
    let err = refused.send("msg_1", "{}").await.unwrap_err();
    assert_eq!(err.kind, FailureKind::Refused, "{err}");
    assert!(
        err.message
            .starts_with("refused to connect to rebind.test at 127.0.0.1 (loopback address)"),
        "{err}"
    );
    assert_eq!(listener.connections_after_a_moment().await, 0);

    let started = Instant::now();
    let inside = WebhookSender::with_lookup(
        webhook("http://inside.test/hook", false),
        &entries(&["127.0.0.1"]),
        Arc::clone(&lookup) as _,
    )
    .unwrap();
    let err = inside.send("msg_2", "{}").await.unwrap_err();
    assert_eq!(err.kind, FailureKind::Refused, "{err}");
    assert!(
        err.message
            .contains("inside.test at 10.0.0.1 (private address)"),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "refused without trying to connect: {:?}",
        started.elapsed()
    );

    // Allowlisting the host name lets the same resolution through.
    let allowed = WebhookSender::with_lookup(
        webhook(&url, false),
        &entries(&["rebind.test"]),
        Arc::clone(&lookup) as _,
    )
    .unwrap();
    assert_eq!(allowed.send("msg_3", "{}").await.unwrap(), 200);
    assert_eq!(listener.connections_after_a_moment().await, 1);
}

#[tokio::test]
async fn metadata_addresses_are_refused_even_with_private_allowed() {
    let lookup = names("127.0.0.1".parse().unwrap());
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://metadata.test/computeMetadata/v1/",
    ] {
        let started = Instant::now();
        let sender = WebhookSender::with_lookup(
            webhook(url, true),
            &entries(&["metadata.test", "169.254.0.0/17"]),
            Arc::clone(&lookup) as _,
        )
        .unwrap();
        let err = sender.send("msg_1", "{}").await.unwrap_err();
        assert_eq!(err.kind, FailureKind::Refused, "{url}: {err}");
        assert!(err.message.contains("cloud metadata address"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(1), "{url}");
    }
}

#[tokio::test]
async fn a_refused_notification_is_a_dead_letter_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite://{}/store.db", dir.path().display()))
        .await
        .unwrap();
    let listener = CountingListener::start().await;
    let url = format!("http://127.0.0.1:{}/hook", listener.port);
    let sender = WebhookSender::new(webhook(&url, false), &[]).unwrap();
    let metrics = Metrics::new();
    let dispatcher = Dispatcher::new(
        store.clone(),
        HashMap::from([("hook".to_owned(), sender)]),
        DeliveryConfig::default(),
        Arc::new(SystemClock),
        metrics.clone(),
    );
    store
        .enqueue(&[NewMessage {
            id: "msg_refused".to_owned(),
            receiver: "hook".to_owned(),
            fingerprint: "f1".to_owned(),
            event: "firing".to_owned(),
            payload: "{}".to_owned(),
            created_at_ms: chrono::Utc::now().timestamp_millis(),
            evaluation_ids: Vec::new(),
        }])
        .await
        .unwrap();
    assert_eq!(
        dispatcher.step().await.unwrap(),
        StepOutcome::Processed {
            delivered: 0,
            retried: 0,
            dead: 1
        },
        "a refusal is not retried"
    );
    let dead = store.dead_letters(Some("hook"), 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].id, "msg_refused");
    let error = dead[0].last_error.as_deref().unwrap();
    assert!(
        error.starts_with("refused to connect to 127.0.0.1 (loopback address)"),
        "{error}"
    );
    assert_eq!(listener.connections_after_a_moment().await, 0);
    assert!(metrics
        .render()
        .contains(r#"driftwatch_notifications_total{receiver="hook",result="refused"} 1"#));
}

#[test]
fn a_config_naming_a_refused_literal_fails_to_load_with_its_place() {
    let path = std::path::Path::new("driftwatch.toml");
    let config = |extra: &str| {
        format!("[receivers.ops]\nkind = \"webhook\"\nurl = \"http://10.1.2.3:9000/hook\"\n{extra}")
    };
    let err = driftwatch::config::parse_service_config(path, &config(""))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("driftwatch.toml:1:1: receiver \"ops\": refused to connect to 10.1.2.3 (private address)"),
        "{err}"
    );
    for allowed in [
        "allow_private = true\n",
        "[delivery]\nallow_private = [\"10.0.0.0/8\"]\n",
    ] {
        let loaded = driftwatch::config::parse_service_config(path, &config(allowed));
        assert!(loaded.is_ok(), "{allowed}: {:?}", loaded.err());
    }
    let bad = driftwatch::config::parse_service_config(
        path,
        "[delivery]\nallow_private = [\"10.0.0.0/33\"]\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        bad.starts_with("driftwatch.toml:2:17: invalid allow_private entry"),
        "{bad}"
    );
}
