//! Email against a real SMTP server (aiosmtpd, started on loopback by the test): a firing
//! alert arrives over STARTTLS, authenticated, as a multipart text + HTML email whose
//! subject and bodies were rendered from the receiver's templates, with a Message-ID
//! derived from the notification id; a server that offers no STARTTLS is refused. The SMTP
//! host is under the address policy: these servers on loopback are allowlisted, and one
//! that is not is never connected to.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use driftwatch::config::parse_service_config;
use driftwatch::demo::receiver::Receiver;
use driftwatch::notify::deliver::allowlist::AllowedDestination;
use driftwatch::notify::deliver::email::EmailSender;
use driftwatch::notify::deliver::settings::{EmailConfig, ReceiverConfig};
use driftwatch::notify::deliver::webhook::FailureKind;
use driftwatch::notify::render::sample::sample_payload;
use driftwatch::rule::parse_rules;
use driftwatch::types::SourceFile;

use crate::external::{free_port, python, Proc};
use crate::helpers::{finished_run, service_config, start, Backend, TestDb};

const INSTALL: &str = "the email tests need aiosmtpd for the system Python: \
                       apt-get install python3-aiosmtpd (CI's .ci/run installs it)";

/// An SMTP server on loopback writing what it accepts to `maildir`.
struct SmtpServer {
    port: u16,
    maildir: PathBuf,
    _proc: Proc,
}

impl SmtpServer {
    /// Starts `support/smtp_server.py` with `args` after the port, maildir and mode.
    fn start(dir: &Path, mode: &str, args: &[&str]) -> SmtpServer {
        let check = Command::new(python())
            .args(["-c", "import aiosmtpd"])
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}; {INSTALL}", python().display()));
        assert!(
            check.status.success(),
            "{INSTALL}\n{}",
            String::from_utf8_lossy(&check.stderr)
        );
        let maildir = dir.join(format!("mail-{mode}"));
        std::fs::create_dir_all(&maildir).unwrap();
        let port = free_port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/support/smtp_server.py");
        let mut child = Command::new(python())
            .arg(script)
            .arg(port.to_string())
            .arg(&maildir)
            .arg(mode)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the SMTP server: {e}; {INSTALL}"));
        let stdout = child.stdout.take().unwrap();
        let proc = Proc::new(child);
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        assert_eq!(
            line.trim(),
            "ready",
            "the SMTP server did not start; {INSTALL}"
        );
        SmtpServer {
            port,
            maildir,
            _proc: proc,
        }
    }

    /// The messages received so far: (the .eml text, its envelope JSON).
    fn received(&self) -> Vec<(String, serde_json::Value)> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.maildir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| {
                let meta = std::fs::read_to_string(p.with_extension("json")).unwrap();
                (
                    std::fs::read_to_string(p).unwrap(),
                    serde_json::from_str(&meta).unwrap(),
                )
            })
            .collect()
    }

    async fn wait_for(&self, n: usize, within: Duration) -> Vec<(String, serde_json::Value)> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.received();
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A test CA and a certificate it signed for `localhost` and 127.0.0.1, written to `dir`
/// as ca.pem, server.pem and server.key.
fn mint_certificates(dir: &Path) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "driftwatch test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&server_key, &issuer)
        .unwrap();
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    std::fs::write(dir.join("server.pem"), server.pem()).unwrap();
    std::fs::write(dir.join("server.key"), server_key.serialize_pem()).unwrap();
}

/// The headers of a message (unfolded) and its body.
fn split_message(eml: &str) -> (Vec<(String, String)>, String) {
    let eml = eml.replace("\r\n", "\n");
    let (head, body) = eml.split_once("\n\n").expect("headers and body");
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            let last = headers.last_mut().expect("a header to continue");
            last.1.push(' ');
            last.1.push_str(line.trim());
        } else if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    (headers, body.to_owned())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name} header in {headers:?}"))
}

/// The parts of a multipart body, each as (content type, decoded text).
fn parts(content_type: &str, body: &str) -> Vec<(String, String)> {
    let boundary = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .expect("a boundary")
        .trim_matches('"');
    body.split(&format!("--{boundary}"))
        .skip(1)
        .filter(|p| !p.starts_with("--"))
        .map(|part| {
            let (headers, body) = split_message(part.trim_start_matches('\n'));
            let encoding = headers
                .iter()
                .find(|(k, _)| k == "content-transfer-encoding")
                .map(|(_, v)| v.to_ascii_lowercase())
                .unwrap_or_default();
            let text = if encoding == "quoted-printable" {
                decode_quoted_printable(&body)
            } else {
                body
            };
            (header(&headers, "content-type").to_owned(), text)
        })
        .collect()
}

fn decode_quoted_printable(text: &str) -> String {
    let joined = text.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

const RULE: &str = r#"
[[rule]]
name = "workflow_slow"
metric = "workflow.duration"
group_by = ["mode"]
aggregate = "max"
window = "1h"
every = "250ms"
severity = "warning"
summary = "slowest {label.mode} workflow took {value}"
detector = { kind = "threshold", above = 600 }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_firing_alert_arrives_as_a_templated_multipart_email_over_starttls() {
    let dir = tempfile::tempdir().unwrap();
    mint_certificates(dir.path());
    let server = SmtpServer::start(
        dir.path(),
        "starttls",
        &[
            dir.path().join("server.pem").to_str().unwrap(),
            dir.path().join("server.key").to_str().unwrap(),
            "dw:s3cret-pass",
        ],
    );
    std::fs::write(
        dir.path().join("mail.txt.j2"),
        "Notification {{ id }}\n{% for a in firing %}* {{ a.rule }} {{ a.labels.mode }}: {{ a.annotations.summary }}\n{% endfor %}",
    )
    .unwrap();
    let toml = format!(
        r#"
[receivers.mail]
kind = "email"
host = "localhost"
port = {port}
ca_file = "ca.pem"
from = "driftwatch <dw@example.com>"
to = ["ops@example.com", "Oncall <oncall@example.com>"]
username = "dw"
password = "s3cret-pass"
subject = "{{{{ status|upper }}}}: {{{{ alerts|length }}}} alert(s) on {{{{ alerts[0].labels.mode }}}}"
text_template = "mail.txt.j2"

[delivery]
allow_private = ["127.0.0.1"]
"#,
        port = server.port
    );
    let parsed = parse_service_config(&dir.path().join("driftwatch.toml"), &toml)
        .unwrap_or_else(|e| panic!("{e}"));

    let db = TestDb::new(Backend::Sqlite).await;
    let unused = Receiver::start(None, 0, false).await.unwrap();
    let mut config = service_config(&db.url, &db.store_url(), &unused);
    config.receivers = parsed.receivers;
    config.default_receivers = vec!["mail".to_owned()];
    let rules = parse_rules(&[SourceFile::new("r.toml", RULE)], &config.rule_context())
        .unwrap_or_else(|e| panic!("{e}"));
    let running = start(config, rules).await;
    db.writer()
        .insert(&finished_run("slow-1", "one_shot", 900.0, "completed"))
        .await
        .unwrap();

    let got = server.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 1, "one email");
    let (eml, envelope) = &got[0];
    assert_eq!(envelope["tls"], true, "sent after STARTTLS: {envelope}");
    assert_eq!(envelope["user"], "dw", "authenticated: {envelope}");
    assert_eq!(envelope["mail_from"], "dw@example.com");
    assert_eq!(
        envelope["rcpt_tos"],
        serde_json::json!(["ops@example.com", "oncall@example.com"])
    );

    let (headers, body) = split_message(eml);
    assert_eq!(
        header(&headers, "subject"),
        "FIRING: 1 alert(s) on one_shot"
    );
    let message_id = header(&headers, "message-id");
    let id = message_id
        .strip_prefix('<')
        .and_then(|m| m.strip_suffix("@driftwatch>"))
        .unwrap_or_else(|| panic!("Message-ID {message_id}"));
    assert!(id.starts_with("msg_"), "{message_id}");
    let content_type = header(&headers, "content-type");
    assert!(
        content_type.starts_with("multipart/alternative"),
        "{content_type}"
    );

    let parts = parts(content_type, &body);
    assert_eq!(parts.len(), 2, "{parts:?}");
    assert!(parts[0].0.starts_with("text/plain"), "{parts:?}");
    let text = &parts[0].1;
    assert!(
        text.starts_with(&format!(
            "Notification {id}\n* workflow_slow one_shot: slowest one_shot workflow took 900"
        )),
        "{text}"
    );
    assert!(parts[1].0.starts_with("text/html"), "{parts:?}");
    let html = &parts[1].1;
    assert!(
        html.contains("<html>") && html.contains("<b>workflow_slow</b>"),
        "{html}"
    );
    assert!(
        html.contains(&format!("driftwatch notification {id}")),
        "{html}"
    );

    // Delivered once, counted under the receiver.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stats = running.store.outbox_stats().await.unwrap();
    assert_eq!(
        (stats.pending, stats.dead, stats.delivered),
        (0, 0, 1),
        "{stats:?}"
    );
    assert_eq!(server.received().len(), 1, "nothing sent twice");
    let metrics = running.metrics.render();
    assert!(
        metrics.contains(r#"driftwatch_notifications_total{receiver="mail",result="delivered"} 1"#),
        "{metrics}"
    );
    running.stop(Duration::from_secs(5)).await;
}

/// The allowlist the SMTP servers of these tests, on loopback, need.
fn loopback() -> Vec<AllowedDestination> {
    vec!["127.0.0.1".parse().unwrap()]
}

fn email_receiver(dir: &Path, port: u16, extra: &str) -> EmailConfig {
    email_receiver_at(dir, "localhost", port, extra)
}

fn email_receiver_at(dir: &Path, host: &str, port: u16, extra: &str) -> EmailConfig {
    let toml = format!(
        "[receivers.mail]\nkind = \"email\"\nhost = \"{host}\"\nport = {port}\n\
         from = \"dw@example.com\"\nto = [\"ops@example.com\"]\ntimeout = \"5s\"\n{extra}\n\
         [delivery]\nallow_private = [\"127.0.0.1\"]\n"
    );
    match parse_service_config(&dir.join("driftwatch.toml"), &toml)
        .unwrap_or_else(|e| panic!("{e}"))
        .receivers
        .remove("mail")
    {
        Some(ReceiverConfig::Email(e)) => e,
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_offering_no_starttls_is_refused_when_tls_is_required() {
    let dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(dir.path(), "plain", &[]);
    let stored = serde_json::to_string(&sample_payload("mail")).unwrap();

    let required =
        EmailSender::new(email_receiver(dir.path(), server.port, ""), &loopback()).unwrap();
    let err = required.send("msg_refused", &stored).await.unwrap_err();
    assert!(
        err.message.contains("STARTTLS is not supported"),
        "a clear error: {}",
        err.message
    );
    assert_eq!(
        err.kind,
        FailureKind::Transient,
        "may work once the server is fixed"
    );
    assert!(server.received().is_empty(), "nothing was delivered");

    // The same server takes the mail in plaintext when that is explicitly allowed, so
    // the refusal above was the TLS requirement and nothing else.
    let plaintext = EmailSender::new(
        email_receiver(
            dir.path(),
            server.port,
            "tls = \"none\"\nallow_plaintext = true\n",
        ),
        &loopback(),
    )
    .unwrap();
    assert_eq!(plaintext.send("msg_plain", &stored).await.unwrap(), 250);
    let got = server.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1);
    assert!(
        got[0].0.contains("Message-ID: <msg_plain@driftwatch>"),
        "{}",
        got[0].0
    );
    assert_eq!(got[0].1["tls"], false);
}

/// Accepts TCP connections on loopback and counts them; speaks no SMTP.
async fn counting_listener() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    (port, accepted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_smtp_host_on_loopback_not_allowlisted_is_refused_and_never_connected_to() {
    let dir = tempfile::tempdir().unwrap();
    let (port, accepted) = counting_listener().await;

    // At check time: a literal (or localhost) the policy refuses is a configuration error.
    for host in ["127.0.0.1", "localhost"] {
        let toml = format!(
            "[receivers.mail]\nkind = \"email\"\nhost = \"{host}\"\nport = {port}\n\
             tls = \"none\"\nallow_plaintext = true\nfrom = \"dw@example.com\"\nto = [\"ops@example.com\"]\n"
        );
        let err = parse_service_config(&dir.path().join("driftwatch.toml"), &toml)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("refused to connect to 127.0.0.1 (loopback address): not allowlisted"),
            "{host}: {err}"
        );
    }

    // At send time, as the service would with an allowlist that no longer names the host
    // (or a name that resolves to loopback): refused and dead-lettered, like a webhook.
    let email = email_receiver_at(
        dir.path(),
        "127.0.0.1",
        port,
        "tls = \"none\"\nallow_plaintext = true\n",
    );
    let db = TestDb::new(Backend::Sqlite).await;
    let unused = Receiver::start(None, 0, false).await.unwrap();
    let mut config = service_config(&db.url, &db.store_url(), &unused);
    config
        .receivers
        .insert("mail".to_owned(), ReceiverConfig::Email(email));
    config.default_receivers = vec!["mail".to_owned()];
    config.delivery.allow_private.clear();
    let rules = parse_rules(&[SourceFile::new("r.toml", RULE)], &config.rule_context())
        .unwrap_or_else(|e| panic!("{e}"));
    let running = start(config, rules).await;
    db.writer()
        .insert(&finished_run("slow-1", "one_shot", 900.0, "completed"))
        .await
        .unwrap();
    let started = Instant::now();
    let dead = loop {
        let dead = running.store.dead_letters(Some("mail"), 10).await.unwrap();
        if !dead.is_empty() {
            break dead;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no dead letter; {} connection(s) reached the SMTP port",
            accepted.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let error = dead[0].last_error.clone().unwrap_or_default();
    assert!(
        error.contains("refused to connect to 127.0.0.1 (loopback address)"),
        "{error}"
    );
    assert_eq!(dead[0].attempts, 1, "not retried: it cannot succeed");
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        0,
        "no connection reached the SMTP server"
    );
    let metrics = running.metrics.render();
    assert!(
        metrics.contains(r#"driftwatch_notifications_total{receiver="mail",result="refused"} 1"#),
        "{metrics}"
    );
    running.stop(Duration::from_secs(5)).await;
}
