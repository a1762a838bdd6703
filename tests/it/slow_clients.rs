//! Clients that open connections and never finish their request headers: the HTTP server
//! drops them after its header-read timeout, serves normal requests meanwhile, and holds
//! no more than `max_connections` at once (more wait until a slot frees).

use std::time::{Duration, Instant};

use driftwatch::server::settings::HttpLimits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{service_config, start, Backend, TestDb};

const HEADER_TIMEOUT: Duration = Duration::from_secs(1);

/// The service with `limits`; the receiver is never used.
async fn start_with(limits: HttpLimits) -> (TestDb, driftwatch::app::Running) {
    let db = TestDb::new(Backend::Sqlite).await;
    let receiver = driftwatch::demo::receiver::Receiver::start(None, 0, false)
        .await
        .unwrap();
    let mut config = service_config(&db.url, &db.store_url(), &receiver);
    config.http = limits;
    let running = start(config, crate::helpers::rules("")).await;
    (db, running)
}

/// `n` connections that send half a request line and then nothing.
async fn slow_clients(addr: std::net::SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"GET /healthz HT").await.unwrap();
        out.push(stream);
    }
    out
}

/// Waits for the server to close `stream` (EOF or reset); panics after `within`.
async fn closed_within(mut stream: TcpStream, within: Duration) {
    let mut buf = [0u8; 512];
    loop {
        match tokio::time::timeout(within, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return,
            // A 408 or the like before closing is fine too.
            Ok(Ok(_)) => continue,
            Err(_) => panic!("a slow client was still connected after {within:?}"),
        }
    }
}

async fn healthz(addr: std::net::SocketAddr) -> reqwest::StatusCode {
    reqwest::Client::new()
        .get(format!("http://{addr}/healthz"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_header_clients_are_dropped_after_the_timeout_while_others_are_served() {
    let (_db, running) = start_with(HttpLimits {
        header_read_timeout: HEADER_TIMEOUT,
        max_connections: 64,
    })
    .await;
    let slow = slow_clients(running.addr, 40).await;
    let asked = Instant::now();
    assert_eq!(healthz(running.addr).await, 200);
    assert!(
        asked.elapsed() < Duration::from_millis(500),
        "a normal request waited {:?} behind slow clients",
        asked.elapsed()
    );
    let opened = Instant::now();
    for stream in slow {
        closed_within(stream, HEADER_TIMEOUT * 3).await;
    }
    let took = opened.elapsed();
    assert!(
        took >= HEADER_TIMEOUT / 2,
        "closed after {took:?}, before the timeout"
    );
    running.stop(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_limit_wait_for_a_free_slot() {
    let (_db, running) = start_with(HttpLimits {
        header_read_timeout: HEADER_TIMEOUT,
        max_connections: 4,
    })
    .await;
    let slow = slow_clients(running.addr, 4).await;
    // Let the server take the four slow connections before the normal one arrives.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let asked = Instant::now();
    assert_eq!(healthz(running.addr).await, 200);
    let waited = asked.elapsed();
    assert!(
        waited >= HEADER_TIMEOUT / 2,
        "served after {waited:?}: the limit of 4 did not hold"
    );
    assert!(waited < HEADER_TIMEOUT * 3, "served only after {waited:?}");
    drop(slow);
    running.stop(Duration::from_secs(5)).await;
}
