//! A source that goes away raises `source_down`; when it comes back, the alert resolves.
//! PostgreSQL is reached through a TCP proxy on loopback that the test stops and restarts.

use std::net::SocketAddr;
use std::time::Duration;

use driftwatch::demo::receiver::Receiver;
use driftwatch::model::AlertState;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::helpers::{pg_admin_url, rules, service_config, start, Backend, TestDb, SECRET};

/// Forwards connections from `listen` to `target` until dropped.
struct Proxy {
    tasks: JoinSet<()>,
}

impl Proxy {
    async fn start(listen: SocketAddr, target: SocketAddr) -> (Proxy, SocketAddr) {
        let listener = TcpListener::bind(listen).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            let mut conns = JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                conns.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        (Proxy { tasks }, addr)
    }

    /// Drops the listener and every forwarded connection.
    async fn stop(mut self) {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
    }
}

const RULE: &str = r#"
[[rule]]
name = "workflow_slow"
metric = "workflow.duration"
window = "1h"
every = "200ms"
severity = "warning"
detector = { kind = "threshold", above = 600 }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_down_fires_and_resolves() {
    let db = TestDb::new(Backend::Postgres).await;
    let pg: SocketAddr = "127.0.0.1:5432".parse().unwrap();
    let (proxy, proxy_addr) = Proxy::start("127.0.0.1:0".parse().unwrap(), pg).await;
    let db_name = db.url.rsplit('/').next().unwrap().to_owned();
    let user = pg_admin_url()
        .split("://")
        .nth(1)
        .and_then(|r| r.split('@').next())
        .unwrap_or("postgres")
        .to_owned();
    let source_url = format!("postgres://{user}@{proxy_addr}/{db_name}");

    let receiver = Receiver::start(Some(SECRET), 0, false).await.unwrap();
    let store_dir = tempfile::tempdir().unwrap();
    let store_url = format!("sqlite://{}/store.db", store_dir.path().display());
    let running = start(
        service_config(&source_url, &store_url, &receiver),
        rules(RULE),
    )
    .await;

    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        receiver.deliveries().is_empty(),
        "a healthy source raises nothing"
    );

    proxy.stop().await;
    let got = receiver
        .wait_for(Duration::from_secs(15), |d| !d.is_empty())
        .await;
    let alert = &got
        .first()
        .expect("source_down fired")
        .payload
        .as_ref()
        .unwrap()
        .alerts[0];
    assert_eq!(alert.rule, "source_down");
    assert_eq!(alert.state, AlertState::Firing);
    assert_eq!(alert.labels.get("source"), Some("cmbagent"));
    assert!(
        alert.annotations["summary"].contains("unreachable"),
        "{:?}",
        alert.annotations
    );
    assert!(
        !alert.annotations["summary"].contains("postgres://"),
        "no URL in the text"
    );

    let (proxy, _) = Proxy::start(proxy_addr, pg).await;
    let got = receiver
        .wait_for(Duration::from_secs(15), |d| d.len() >= 2)
        .await;
    let resolved = &got
        .get(1)
        .expect("source_down resolved")
        .payload
        .as_ref()
        .unwrap()
        .alerts[0];
    assert_eq!(resolved.rule, "source_down");
    assert_eq!(resolved.state, AlertState::Resolved);
    assert_eq!(got.len(), 2, "one firing, one resolved: {got:?}");

    let metrics = running.metrics.render();
    assert!(
        metrics.contains(r#"driftwatch_source_errors_total{kind="unreachable",source="cmbagent"}"#),
        "{metrics}"
    );
    running.stop(Duration::from_secs(5)).await;
    proxy.stop().await;
    db.drop_db().await;
}
