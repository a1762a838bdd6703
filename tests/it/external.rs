//! Real outside programs the tests start on loopback: a Python exporter built on the
//! official Prometheus client library, and a Prometheus server (Debian package) that
//! scrapes it. Both are killed when their handle drops.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed on drop.
pub struct Proc(Child);

impl Proc {
    /// Takes ownership of a started child.
    pub fn new(child: Child) -> Self {
        Self(child)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free loopback port (bound, read, released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The system Python, where `apt-get install python3-prometheus-client` (and
/// `python3-aiosmtpd`) put their modules.
pub fn python() -> PathBuf {
    let system = Path::new("/usr/bin/python3");
    if system.exists() {
        system.to_path_buf()
    } else {
        "python3".into()
    }
}

/// Waits until `url` answers 200, or panics after `within`.
pub async fn wait_ready(url: &str, within: Duration) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + within;
    loop {
        if let Ok(r) = client.get(url).send().await {
            if r.status().is_success() {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{url} not ready after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The test exporter on `port`; its latency factor is read from `control`.
pub async fn start_exporter(port: u16, control: &Path) -> Proc {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/support/exporter.py");
    let child = Command::new(python())
        .arg(script)
        .arg(port.to_string())
        .arg(control)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 with prometheus_client (apt-get install python3-prometheus-client)");
    let proc = Proc(child);
    wait_ready(
        &format!("http://127.0.0.1:{port}/metrics"),
        Duration::from_secs(15),
    )
    .await;
    proc
}

/// A Prometheus server on `port` scraping `target` every second, storing in `dir`.
pub async fn start_prometheus(port: u16, target: &str, dir: &Path) -> Proc {
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: exporter\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus on PATH (apt-get install prometheus)");
    let proc = Proc(child);
    wait_ready(
        &format!("http://127.0.0.1:{port}/-/ready"),
        Duration::from_secs(30),
    )
    .await;
    proc
}
