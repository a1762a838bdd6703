//! The receivers API against the running service: a 410 from a receiver shows up in
//! `GET /api/v1/deadletters` and `GET /api/v1/receivers`; an authenticated POST
//! enables it again and sends its dead letters anew; the other receiver hears both. On
//! SQLite and PostgreSQL.

use std::sync::atomic::Ordering;
use std::time::Duration;

use driftwatch::demo::receiver::Receiver;
use driftwatch::notify::deliver::settings::{ReceiverConfig, WebhookConfig};
use driftwatch::types::Secret;

use crate::helpers::{
    finished_run, rules, service_config, start, Backend, TestDb, API_TOKEN, SECRET,
};
use crate::receiver_disable::ScriptedReceiver;

const RULE: &str = r#"
[[rule]]
name = "workflow_failed"
metric = "workflow.error_rate"
window = "1h"
every = "200ms"
severity = "warning"
detector = { kind = "threshold", above = 0.5 }
"#;

async fn get(client: &reqwest::Client, url: String) -> (u16, serde_json::Value) {
    let response = client.get(url).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_and_a_disabled_receiver_is_enabled_again() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        through_the_api(backend).await;
    }
}

async fn through_the_api(backend: Backend) {
    let db = TestDb::new(backend).await;
    let ops = Receiver::start(Some(SECRET), 0, false).await.unwrap();
    let gone = ScriptedReceiver::start(410).await;
    // Rules notify "hook", whose endpoint is gone; "ops" hears about it.
    let mut config = service_config(&db.url, &db.store_url(), &ops);
    let ReceiverConfig::Webhook(hook) = config.receivers.get_mut("hook").unwrap() else {
        unreachable!("the test service's `hook` is a webhook")
    };
    hook.url = gone.url.parse().unwrap();
    config.receivers.insert(
        "ops".to_owned(),
        ReceiverConfig::Webhook(WebhookConfig {
            url: ops.url().parse().unwrap(),
            secret: Some(Secret::new(SECRET)),
            previous_secrets: Vec::new(),
            timeout: Duration::from_secs(2),
            max_response_bytes: 4096,
            allow_private: false,
            disable_after: None,
            body: Default::default(),
        }),
    );
    let running = start(config, rules(RULE)).await;
    let base = format!("http://{}", running.addr);
    let client = reqwest::Client::new();

    db.writer()
        .insert(&finished_run("r1", "one_shot", 10.0, "failed"))
        .await
        .unwrap();
    let told = ops
        .wait_for(Duration::from_secs(10), |d| !d.is_empty())
        .await;
    let notice = told[0].payload.as_ref().unwrap();
    assert_eq!(notice.alerts[0].rule, "receiver_disabled");
    assert_eq!(notice.alerts[0].labels.get("receiver"), Some("hook"));

    let (status, body) = get(&client, format!("{base}/api/v1/deadletters")).await;
    assert_eq!(status, 200, "{body}");
    let letters = body["dead_letters"].as_array().unwrap();
    assert_eq!(letters.len(), 1, "{body}");
    assert_eq!(letters[0]["receiver"], "hook");
    assert!(
        letters[0]["last_error"]
            .as_str()
            .unwrap()
            .starts_with("HTTP 410 Gone"),
        "{body}"
    );
    assert_eq!(
        letters[0]["payload"]["alerts"][0]["rule"],
        "workflow_failed"
    );
    let (status, body) = get(&client, format!("{base}/api/v1/deadletters?receiver=nope")).await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("hook, ops"),
        "{body}"
    );

    let (_, body) = get(&client, format!("{base}/api/v1/receivers")).await;
    let receivers = body["receivers"].as_array().unwrap();
    assert_eq!(receivers[0]["name"], "hook");
    assert_eq!(receivers[0]["disabled"], true);
    assert!(receivers[0]["disabled_reason"]
        .as_str()
        .unwrap()
        .contains("410 Gone"));
    assert_eq!(receivers[1]["disabled"], false);

    let enable = format!("{base}/api/v1/receivers/hook/enable?requeue=true");
    let denied = client.post(&enable).send().await.unwrap();
    assert_eq!(denied.status().as_u16(), 401);
    gone.status.store(200, Ordering::SeqCst);
    let enabled: serde_json::Value = client
        .post(&enable)
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        enabled,
        serde_json::json!({ "receiver": "hook", "was_disabled": true, "requeued": 1 })
    );

    // The dead letter goes out again, and ops hears that hook is back.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while gone.requests() < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(gone.requests(), 2);
    let told = ops
        .wait_for(Duration::from_secs(10), |d| d.len() >= 2)
        .await;
    let back = told[1].payload.as_ref().unwrap();
    assert_eq!(back.kind, "alert.resolved");
    assert_eq!(back.alerts[0].fingerprint, notice.alerts[0].fingerprint);
    let (_, body) = get(&client, format!("{base}/api/v1/deadletters")).await;
    assert_eq!(body["dead_letters"].as_array().unwrap().len(), 0, "{body}");
    running.stop(Duration::from_secs(5)).await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_template_that_cannot_render_dead_letters_at_once_with_its_error() {
    let db = TestDb::new(Backend::Sqlite).await;
    let hook = Receiver::start(Some(SECRET), 0, false).await.unwrap();
    let mut config = service_config(&db.url, &db.store_url(), &hook);
    let ReceiverConfig::Webhook(w) = config.receivers.get_mut("hook").unwrap() else {
        unreachable!("the test service's `hook` is a webhook")
    };
    // Compiles, but a one-alert notification has no fourth alert to print.
    w.body = driftwatch::notify::render::body::WebhookBody::Template(
        driftwatch::notify::render::template::Template::compile(
            "fourth.j2",
            "{{ alerts[3].rule }}",
        )
        .unwrap(),
    );
    let running = start(config, rules(RULE)).await;
    let client = reqwest::Client::new();
    db.writer()
        .insert(&finished_run("r1", "one_shot", 10.0, "failed"))
        .await
        .unwrap();
    let url = format!("http://{}/api/v1/deadletters", running.addr);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let letters = loop {
        let (_, body) = get(&client, url.clone()).await;
        let letters = body["dead_letters"].as_array().unwrap().clone();
        if !letters.is_empty() || tokio::time::Instant::now() > deadline {
            break letters;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(letters.len(), 1, "{letters:?}");
    let error = letters[0]["last_error"].as_str().unwrap();
    assert!(error.contains("fourth.j2"), "names the template: {error}");
    assert_eq!(
        letters[0]["attempts"], 1,
        "dead at the first attempt, not retried: {:?}",
        letters[0]
    );
    assert!(hook.deliveries().is_empty(), "nothing was sent");
    let metrics = running.metrics.render();
    assert!(
        metrics
            .contains(r#"driftwatch_notifications_total{receiver="hook",result="unrenderable"} 1"#),
        "{metrics}"
    );
    running.stop(Duration::from_secs(5)).await;
}
