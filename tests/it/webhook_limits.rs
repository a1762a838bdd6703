//! Webhook attempts never follow redirects, stop at a total deadline, and read at most
//! the configured number of response bytes.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, StatusCode};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use driftwatch::demo::receiver::Receiver;
use driftwatch::notify::deliver::settings::WebhookConfig;
use driftwatch::notify::deliver::webhook::WebhookSender;
use driftwatch::types::Secret;

use crate::helpers::SECRET;

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

fn sender(url: &str, timeout: Duration) -> WebhookSender {
    WebhookSender::new(
        WebhookConfig {
            url: url.parse().unwrap(),
            secret: Some(Secret::new(SECRET)),
            previous_secrets: Vec::new(),
            timeout,
            max_response_bytes: 1024,
            allow_private: false,
            disable_after: None,
            body: Default::default(),
        },
        &["127.0.0.1".parse().unwrap()],
    )
    .unwrap()
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let target = Receiver::start(Some(SECRET), 0, false).await.unwrap();
    let location = target.url();
    let url = serve(Router::new().route(
        "/hook",
        post(move || {
            let location = location.clone();
            async move {
                Response::builder()
                    .status(StatusCode::TEMPORARY_REDIRECT)
                    .header(header::LOCATION, location)
                    .body(Body::empty())
                    .unwrap()
            }
        }),
    ))
    .await;
    let err = sender(&url, Duration::from_secs(2))
        .send("msg_1", "{}")
        .await
        .unwrap_err();
    assert!(
        err.message.contains("307") && err.message.contains("redirect not followed"),
        "{err}"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        target.deliveries().is_empty(),
        "the redirect target got nothing"
    );
}

#[tokio::test]
async fn a_receiver_that_never_answers_hits_the_deadline() {
    let url = serve(Router::new().route(
        "/hook",
        post(|| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            "late"
        }),
    ))
    .await;
    let started = Instant::now();
    let err = sender(&url, Duration::from_millis(300))
        .send("msg_2", "{}")
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(err.retryable(), "{err}");
}

#[tokio::test]
async fn an_endless_response_is_read_only_up_to_the_cap() {
    let url = serve(Router::new().route(
        "/hook",
        post(|| async {
            // An endless body: a stream that never ends.
            let chunks = futures::stream::repeat_with(|| {
                Ok::<_, std::io::Error>(axum::body::Bytes::from_static(&[b'x'; 4096]))
            });
            Response::builder()
                .status(StatusCode::OK)
                .body(Body::from_stream(chunks))
                .unwrap()
        }),
    ))
    .await;
    let started = Instant::now();
    let status = sender(&url, Duration::from_secs(5))
        .send("msg_3", "{}")
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}
