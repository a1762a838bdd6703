//! Three replicas as real processes on one real PostgreSQL store, sharing three rules
//! that raise 1,000 alerts: kill -9 of one rule's owner, SIGSTOP of another for longer
//! than its lease then SIGCONT, and a cut of the third's connection to the store (a TCP
//! proxy on loopback). Every alert's notification reaches the receiver, a duplicate only
//! ever with the same webhook-id, and the paused replica's stale commit is refused
//! (counted by its fencing metric).

use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use driftwatch::demo::receiver::{Delivery, Receiver};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::{finished_run, Backend, TestDb, SECRET};

const ALERTS: usize = 1000;
const MODES: [&str; 3] = ["m1", "m2", "m3"];

/// A loopback TCP proxy to PostgreSQL that can cut every connection and refuse new ones.
struct Proxy {
    port: u16,
    cut: Arc<AtomicBool>,
    generation: Arc<tokio::sync::watch::Sender<u64>>,
}

impl Proxy {
    async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let (generation, _) = tokio::sync::watch::channel(0u64);
        let generation = Arc::new(generation);
        let (c, g) = (Arc::clone(&cut), Arc::clone(&generation));
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if c.load(Ordering::SeqCst) {
                    continue; // dropped: refused while cut
                }
                let target = target.clone();
                let mut cut_now = g.subscribe();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&target).await else {
                        return;
                    };
                    let (mut client, mut server) = (client, server);
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut_now.changed() => {}
                    }
                });
            }
        });
        Proxy {
            port,
            cut,
            generation,
        }
    }

    /// Drops every open connection and refuses new ones until `restore`.
    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Replica {
    id: String,
    port: u16,
    child: Child,
}

fn spawn(dir: &std::path::Path, id: &str, store: &str, source: &str, hook: &str) -> Replica {
    let port = free_port();
    let config = dir.join(format!("{id}.toml"));
    std::fs::write(
        &config,
        format!(
            r#"
[server]
listen = "127.0.0.1:{port}"
[store]
url = "{store}"
[rules]
dir = "rules"
[cluster]
leases = true
replica_id = "{id}"
lease_ttl = "3s"
[sources.cmbagent]
kind = "sql"
url = "{source}"
[receivers.hook]
kind = "webhook"
url = "{hook}"
secret = "{SECRET}"
[delivery]
allow_private = ["127.0.0.1"]
retry_schedule = ["100ms", "200ms", "500ms", "1s", "1s", "1s", "1s", "1s"]
concurrency = 8
"#
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_driftwatch"))
        .args(["run", "--config"])
        .arg(&config)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Replica {
        id: id.to_owned(),
        port,
        child,
    }
}

fn signal(replica: &Replica, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &replica.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {sig}");
}

async fn get(port: u16, path: &str) -> Option<String> {
    let url = format!("http://127.0.0.1:{port}{path}");
    let answer = reqwest::Client::new()
        .get(url)
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?;
    answer.text().await.ok()
}

/// The owner of each rule, as one live replica's API reports the lease table.
async fn owners(port: u16) -> HashMap<String, String> {
    let Some(text) = get(port, "/api/v1/leases").await else {
        return HashMap::new();
    };
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    v["leases"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter_map(|r| {
                    Some((
                        r["rule"].as_str()?.to_owned(),
                        r["owner"].as_str()?.to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until each of the three rules has an owner among `live` (by id), asking each of
/// `ports` in turn (one replica's API may be down, or its port taken at start).
async fn settled(ports: &[u16], live: &[&str]) -> HashMap<String, String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut attempt = 0usize;
    loop {
        let o = owners(ports[attempt % ports.len()]).await;
        attempt += 1;
        if o.len() == 3 && o.values().all(|id| live.contains(&id.as_str())) {
            return o;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "leases never settled: {o:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn firing_fingerprints(d: &[Delivery]) -> HashSet<String> {
    d.iter()
        .filter_map(|x| x.payload.as_ref())
        .flat_map(|p| p.alerts.iter())
        .filter(|a| a.state == driftwatch::model::AlertState::Firing)
        .map(|a| a.fingerprint.clone())
        .collect()
}

async fn fenced(port: u16) -> u64 {
    let text = get(port, "/metrics").await.unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with("driftwatch_fenced_commits_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_survive_a_kill_a_pause_and_a_cut_connection() {
    let db = TestDb::new(Backend::Postgres).await;
    let writer = db.writer();
    for i in 0..ALERTS {
        let mode = MODES[i % 3];
        let mut run = finished_run(&format!("run-{i:04}"), mode, 900.0, "completed");
        run.session_id = format!("sess-{i:04}");
        writer.insert(&run).await.unwrap();
    }
    let receiver = Receiver::start(Some(SECRET), 0, false).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    let rules: String = MODES
        .iter()
        .map(|m| {
            format!(
                "[[rule]]\nname = \"slow_{m}\"\nmetric = \"workflow.duration\"\nfilter = {{ mode = \"{m}\" }}\n\
                 group_by = [\"session_id\"]\nwindow = \"1h\"\nevery = \"300ms\"\nseverity = \"warning\"\n\
                 detector = {{ kind = \"threshold\", above = 600 }}\n\n"
            )
        })
        .collect();
    std::fs::write(dir.path().join("rules/slow.toml"), rules).unwrap();

    // Every replica reaches the store through its own proxy, so any one can be cut.
    let pg = db.url.clone();
    let (host_port, db_name) = {
        let rest = pg.split("://").nth(1).unwrap();
        let (authority, name) = rest.split_once('/').unwrap();
        let host = authority.rsplit('@').next().unwrap().to_owned();
        (host, name.to_owned())
    };
    let mut proxies = HashMap::new();
    let mut replicas = Vec::new();
    for id in ["a", "b", "c"] {
        let proxy = Proxy::start(host_port.clone()).await;
        let store = format!("postgres://postgres@127.0.0.1:{}/{db_name}", proxy.port);
        replicas.push(spawn(dir.path(), id, &store, &db.url, &receiver.url()));
        proxies.insert(id.to_owned(), proxy);
    }
    let port_of = |id: &str, rs: &[Replica]| rs.iter().find(|r| r.id == id).unwrap().port;
    let ports = |rs: &[Replica]| rs.iter().map(|r| r.port).collect::<Vec<u16>>();
    let owners_now = settled(&ports(&replicas), &["a", "b", "c"]).await;
    receiver
        .wait_for(Duration::from_secs(30), |d| d.len() >= 100)
        .await;

    // kill -9 the owner of slow_m1, mid-work.
    let killed_id = owners_now["slow_m1"].clone();
    let killed = replicas.iter().position(|r| r.id == killed_id).unwrap();
    let mut gone = replicas.remove(killed);
    gone.child.kill().unwrap();
    gone.child.wait().unwrap();
    let live: Vec<String> = replicas.iter().map(|r| r.id.clone()).collect();
    let live_ids: Vec<&str> = live.iter().map(String::as_str).collect();
    let owners_now = settled(&ports(&replicas), &live_ids).await;

    // SIGSTOP a live replica holding a lease for longer than its lease, then SIGCONT;
    // repeated (at most five times) until its stale commit lands: where the pause falls
    // in its evaluation is chance.
    let paused_id = owners_now.values().next().unwrap().clone();
    let other = live.iter().find(|id| **id != paused_id).unwrap().clone();
    let paused = replicas.iter().find(|r| r.id == paused_id).unwrap();
    let mut refused = 0;
    for _ in 0..5 {
        settled(&[port_of(&other, &replicas)], &live_ids).await;
        signal(paused, "-STOP");
        tokio::time::sleep(Duration::from_millis(4500)).await;
        signal(paused, "-CONT");
        tokio::time::sleep(Duration::from_millis(1500)).await;
        refused = fenced(paused.port).await;
        if refused > 0 {
            break;
        }
    }
    assert!(
        refused > 0,
        "the paused replica's stale commit was never refused"
    );

    // Cut the other replica's connection to the store for longer than a lease.
    let proxy = &proxies[&other];
    proxy.cut();
    tokio::time::sleep(Duration::from_millis(4000)).await;
    proxy.restore();

    // A killed or cut replica's claims on notifications run out after a minute, and then
    // another replica delivers them.
    let got = receiver
        .wait_for(Duration::from_secs(120), |d| {
            firing_fingerprints(d).len() >= ALERTS
        })
        .await;
    for r in &mut replicas {
        r.child.kill().unwrap();
        r.child.wait().unwrap();
    }
    assert_eq!(
        firing_fingerprints(&got).len(),
        ALERTS,
        "every alert arrived"
    );
    let mut ids: HashMap<(String, String), HashSet<String>> = HashMap::new();
    for d in &got {
        assert!(d.signature_ok);
        for a in &d.payload.as_ref().unwrap().alerts {
            ids.entry((a.fingerprint.clone(), a.state.as_str().to_owned()))
                .or_default()
                .insert(d.id.clone());
        }
    }
    let twice: Vec<_> = ids.iter().filter(|(_, set)| set.len() > 1).collect();
    assert!(
        twice.is_empty(),
        "notified twice with different webhook-ids: {:?}",
        twice.iter().take(3).collect::<Vec<_>>()
    );
    println!(
        "{ALERTS} alerts, {} deliveries, {refused} fenced commit(s) on the paused replica",
        got.len()
    );
    db.drop_db().await;
}
