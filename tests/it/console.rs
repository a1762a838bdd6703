//! The web console in a real headless browser (Debian's chromium driven through
//! chromedriver with fantoccini): a firing alert from a real evaluation is listed; a
//! silence made through the form mutes its next notification and its decision log names
//! the silence, and expiring it through its form brings the alert back; without a login
//! the form is refused; a label value holding `<script>` renders as text; a disabled
//! receiver is re-enabled and a dead letter re-sent through their forms. Every page is
//! screenshotted at 375 and 1280 px into `target/console-screenshots/`, and each must not
//! be blank, scroll sideways, log a browser error or weigh over 200 KB.
//!
//! Without a browser: the login form's own CSRF token, a logout ending the session on
//! every replica, and the rules page's last-week backtest summary.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use driftwatch::demo::receiver::{Delivery, Receiver};
use fantoccini::error::{CmdError, ErrorStatus};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::helpers::{
    finished_run, rules, run_ending_at, service_config, start, Backend, TestDb, API_TOKEN, SECRET,
    SLOW_BY_MODE,
};

/// The label value that must render as text.
const SCRIPT_MODE: &str = "<script>alert(1)</script>";
/// The heaviest a page may be, with its stylesheet and images.
const MAX_PAGE_BYTES: f64 = 200.0 * 1024.0;

/// chromedriver on a free port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    async fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is required (apt-get install chromium chromium-driver)");
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = match http.get(format!("{url}/status")).send().await {
                Ok(r) => r.json::<Value>().await.ok(),
                Err(_) => None,
            };
            if ready.is_some_and(|v| v["value"]["ready"] == json!(true)) {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Driver { child, url }
    }

    async fn browser(&self) -> Client {
        let caps = json!({
            "goog:chromeOptions": {
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,900"],
            },
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where screenshots go (not committed).
fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The browser's log entries since the last call, as chromedriver keeps them.
async fn browser_log(driver: &Driver, browser: &Client) -> Vec<Value> {
    let session = browser.session_id().await.unwrap().unwrap();
    let answer: Value = reqwest::Client::new()
        .post(format!("{}/session/{session}/se/log", driver.url))
        .json(&json!({ "type": "browser" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["value"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("chromedriver gave no browser log: {answer}"))
}

async fn js(browser: &Client, script: &str) -> Value {
    browser.execute(script, vec![]).await.unwrap()
}

/// Sets the viewport (not the window) to `width` px; returns the window's width.
async fn viewport(browser: &Client, width: u32) -> u32 {
    browser.set_window_size(width, 900).await.unwrap();
    let inner = js(browser, "return window.innerWidth")
        .await
        .as_u64()
        .unwrap() as i64;
    let adjusted = (2 * i64::from(width) - inner).max(1) as u32;
    browser.set_window_size(adjusted, 900).await.unwrap();
    adjusted
}

/// Screenshots the whole page (the window made as tall as the page, up to 5000 px).
async fn screenshot(browser: &Client, window_width: u32, file: &str) {
    let tall = js(
        browser,
        "return document.documentElement.scrollHeight + window.outerHeight - window.innerHeight",
    )
    .await;
    let height = tall.as_u64().unwrap().clamp(600, 5000) as u32;
    browser.set_window_size(window_width, height).await.unwrap();
    let shot = browser.screenshot().await.unwrap();
    std::fs::write(screenshot_dir().join(file), shot).unwrap();
    browser.set_window_size(window_width, 900).await.unwrap();
}

/// Opens `path` at 375 and 1280 px, screenshots it, and checks it is a page: not
/// blank, no sideways scroll, no browser error, at most 200 KB with its assets.
async fn check_page(driver: &Driver, browser: &Client, base: &str, name: &str, path: &str) {
    for width in [375, 1280] {
        let window = viewport(browser, width).await;
        browser_log(driver, browser).await;
        browser.goto(&format!("{base}{path}")).await.unwrap();
        screenshot(browser, window, &format!("{name}-{width}.png")).await;
        let text = js(
            browser,
            "return document.querySelector('main').innerText.trim().length",
        )
        .await;
        assert!(text.as_u64().unwrap() > 20, "{name} at {width} px is blank");
        let (scroll, client) = (
            js(browser, "return document.documentElement.scrollWidth").await,
            js(browser, "return document.documentElement.clientWidth").await,
        );
        assert!(
            scroll.as_u64() <= client.as_u64(),
            "{name} at {width} px scrolls sideways: {scroll} > {client}"
        );
        let weight = js(
            browser,
            "return performance.getEntries().reduce((n, e) => n + (e.decodedBodySize || 0), 0)",
        )
        .await;
        let weight = weight.as_f64().unwrap();
        assert!(
            weight > 0.0 && weight <= MAX_PAGE_BYTES,
            "{name} weighs {weight} bytes"
        );
        let errors: Vec<Value> = browser_log(driver, browser)
            .await
            .into_iter()
            .filter(|e| e["level"] == json!("SEVERE"))
            .collect();
        assert!(
            errors.is_empty(),
            "{name} at {width} px logged errors: {errors:?}"
        );
    }
}

fn modes_notified(got: &[Delivery]) -> Vec<Vec<String>> {
    got.iter()
        .filter_map(|d| d.payload.as_ref())
        .map(|p| {
            p.alerts
                .iter()
                .map(|a| a.labels.get("mode").unwrap_or("").to_owned())
                .collect()
        })
        .collect()
}

/// The test service's config: one route grouping by rule, flushing every second and
/// repeating every two, so a silence shows at the group's next notification.
fn config(db: &TestDb, receiver: &Receiver) -> driftwatch::config::validated::ServiceConfig {
    let mut config = service_config(&db.url, &db.store_url(), receiver);
    let text = "[receivers.hook]\nkind = \"webhook\"\nurl = \"https://hooks.example.com/x\"\n\
        [route]\nreceiver = \"hook\"\ngroup_by = [\"rule\"]\ngroup_wait = \"0s\"\n\
        group_interval = \"1s\"\nrepeat_interval = \"2s\"\n";
    let parsed =
        driftwatch::config::parse_service_config(std::path::Path::new("driftwatch.toml"), text)
            .unwrap_or_else(|e| panic!("{e}"));
    config.notify_policy = parsed.notify_policy;
    config
}

/// The text of the element `css` selects, waiting (up to 10 s) for a navigation a
/// click started to bring it. An element the page replaced between finding and reading
/// it (the navigation still settling) is found again.
async fn text_of(browser: &Client, css: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    let found = loop {
        let found = browser
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await;
        let read = match found {
            Ok(element) => element.text().await,
            Err(e) => break Err(e),
        };
        match read {
            Ok(text) => break Ok(text),
            Err(CmdError::Standard(e))
                if e.error == ErrorStatus::StaleElementReference && Instant::now() < deadline =>
            {
                continue
            }
            Err(e) => panic!("reading {css}: {e}"),
        }
    };
    match found {
        Ok(text) => text,
        Err(e) => panic!(
            "no {css} ({e}) at {:?} with cookies {:?}: {}",
            browser.current_url().await.map(|u| u.to_string()),
            browser.get_all_cookies().await,
            browser.source().await.unwrap_or_default()
        ),
    }
}

/// Waits (up to 10 s) until the browser has loaded a page whose path is `path`: the
/// navigation a click started is over before the test goes on.
async fn arrive(browser: &Client, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let url = browser.current_url().await.unwrap();
        let ready = js(browser, "return document.readyState").await;
        if url.path() == path && ready == json!("complete") {
            return;
        }
        assert!(Instant::now() < deadline, "still at {url}, not {path}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Clicks the button `css` selects and waits until the browser is back at `path`.
async fn click(browser: &Client, css: &str, path: &str) {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .click()
        .await
        .unwrap();
    arrive(browser, path).await;
}

async fn get_json(url: String) -> Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

/// Fills the silence form the alert page's "Silence…" button opens, and submits it.
async fn silence_through_the_form(browser: &Client, base: &str, fingerprint: &str) {
    browser
        .goto(&format!("{base}/ui/alerts/{fingerprint}"))
        .await
        .unwrap();
    browser
        .find(Locator::Id("silence-this"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    arrive(browser, "/ui/silences/new").await;
    for (field, value) in [("created_by", "on-call"), ("comment", "known slow run")] {
        let input = browser
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Id(field))
            .await
            .unwrap();
        input.send_keys(value).await.unwrap();
    }
    browser
        .find(Locator::Id("create-silence"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    arrive(browser, "/ui/silences").await;
}

/// The alert's decision log as the API tells it: (kind, text) oldest first.
async fn decision_log(base: &str, fingerprint: &str) -> Vec<(String, String)> {
    let log: Value = reqwest::get(format!("{base}/api/v1/alerts/{fingerprint}/log"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or("").to_owned();
            (s("kind"), s("text"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_a_real_browser_lists_silences_and_escapes() {
    let db = TestDb::new(Backend::Sqlite).await;
    let receiver = Receiver::start(Some(SECRET), 0, false).await.unwrap();
    let running = start(config(&db, &receiver), rules(SLOW_BY_MODE)).await;
    let base = format!("http://{}", running.addr);
    let w = db.writer();
    for (id, mode) in [("slow-1", "deep_research"), ("slow-2", SCRIPT_MODE)] {
        w.insert(&finished_run(id, mode, 900.0, "completed"))
            .await
            .unwrap();
    }
    let both = |d: &[Delivery]| modes_notified(d).iter().any(|m| m.len() == 2);
    receiver.wait_for(Duration::from_secs(30), both).await;
    let alerts: Value = reqwest::get(format!(
        "{base}/api/v1/alerts?state=firing&label=mode=deep_research"
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let fp = alerts["alerts"][0]["fingerprint"]
        .as_str()
        .unwrap()
        .to_owned();
    let driver = Driver::start().await;
    let browser = driver.browser().await;

    // The alerts page lists both firing alerts; the <script> label value is text.
    browser.goto(&format!("{base}/ui")).await.unwrap();
    let listed = text_of(&browser, "main").await;
    assert!(listed.contains("mode=deep_research"), "{listed}");
    assert!(listed.contains(&format!("mode={SCRIPT_MODE}")), "{listed}");
    // One notification group (the route groups by rule), headed as the route names it.
    assert!(listed.contains("rule=workflow_slow (2)"), "{listed}");
    assert!(listed.contains("route root → hook"), "{listed}");
    assert_eq!(
        js(&browser, "return document.scripts.length").await,
        json!(0)
    );

    // Without a login the form is refused and no silence is made.
    silence_through_the_form(&browser, &base, &fp).await;
    let refused = text_of(&browser, "#error-message").await;
    assert!(refused.contains("log in first"), "{refused}");
    let silences: Value = reqwest::get(format!("{base}/api/v1/silences"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(silences["silences"], json!([]));

    // Logged in, the form previews the alert it matches and makes the silence.
    browser.goto(&format!("{base}/ui/login")).await.unwrap();
    let token = browser.find(Locator::Id("token")).await.unwrap();
    token.send_keys(API_TOKEN).await.unwrap();
    browser
        .find(Locator::Id("login"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    arrive(&browser, "/ui").await;
    assert!(text_of(&browser, "header form button")
        .await
        .contains("Log out"));
    browser
        .goto(&format!("{base}/ui/silences/new?from={fp}"))
        .await
        .unwrap();
    let preview = text_of(&browser, "#preview").await;
    assert!(preview.contains("workflow_slow"), "{preview}");
    assert_eq!(
        browser
            .find_all(Locator::Css("#preview li"))
            .await
            .unwrap()
            .len(),
        1,
        "only the deep_research alert matches its own labels: {preview}"
    );
    silence_through_the_form(&browser, &base, &fp).await;
    let id = text_of(&browser, "#created-silence").await;
    assert!(!id.is_empty());
    browser.goto(&format!("{base}/ui")).await.unwrap();
    let listed = text_of(&browser, "main").await;
    assert!(listed.contains(&format!("silenced by {id}")), "{listed}");

    // Its decision log says so, and the group's next notification leaves it out.
    let silenced = format!("silenced by {id}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let seen = loop {
        let seen = receiver.deliveries().len();
        browser
            .goto(&format!("{base}/ui/alerts/{fp}"))
            .await
            .unwrap();
        if text_of(&browser, "#decision-log").await.contains(&silenced) {
            break seen;
        }
        assert!(Instant::now() < deadline, "no `{silenced}` in the log");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let only_script = move |d: &[Delivery]| {
        modes_notified(d.get(seen..).unwrap_or_default())
            .iter()
            .any(|m| m == &[SCRIPT_MODE.to_owned()])
    };
    receiver
        .wait_for(Duration::from_secs(20), only_script)
        .await;
    let log = decision_log(&base, &fp).await;
    let held_at = log.iter().position(|(_, t)| t.contains(&silenced)).unwrap();
    assert!(
        !log[held_at..].iter().any(|(kind, _)| kind == "sent"),
        "nothing sent after the silence: {log:?}"
    );

    expire_through_the_form(&browser, &base, &receiver, &id).await;
    receivers_through_the_forms(&browser, &base, &running, &receiver, &fp).await;

    for (name, path) in [
        ("alerts", "/ui".to_owned()),
        ("alert", format!("/ui/alerts/{fp}")),
        ("rules", "/ui/rules".to_owned()),
        ("silences", "/ui/silences".to_owned()),
        ("silence-new", format!("/ui/silences/new?from={fp}")),
        ("receivers", "/ui/receivers".to_owned()),
        (
            "summary",
            "/ui/summary?scope=session_id&value=sess-slow-1".to_owned(),
        ),
        ("login", "/ui/login".to_owned()),
    ] {
        check_page(&driver, &browser, &base, name, &path).await;
    }
    browser.close().await.unwrap();
    drop(driver);
    running.stop(Duration::from_secs(5)).await;
    db.drop_db().await;
}

/// Expires silence `id` through its form on the silences page: it is listed as
/// expired, and the group's next notification lists the deep_research alert again.
async fn expire_through_the_form(browser: &Client, base: &str, receiver: &Receiver, id: &str) {
    let seen = receiver.deliveries().len();
    browser.goto(&format!("{base}/ui/silences")).await.unwrap();
    let expire = format!("form[action='/ui/silences/{id}/expire'] button");
    click(browser, &expire, "/ui/silences").await;
    let listed = text_of(browser, "#silences").await;
    assert!(listed.contains("expired"), "{listed}");
    assert!(
        browser.find(Locator::Css(&expire)).await.is_err(),
        "{listed}"
    );
    let silences = get_json(format!("{base}/api/v1/silences")).await;
    assert_eq!(silences["silences"][0]["id"], json!(id));
    assert_eq!(silences["silences"][0]["active"], json!(false));
    let back = move |d: &[Delivery]| {
        modes_notified(d.get(seen..).unwrap_or_default())
            .iter()
            .any(|m| m.iter().any(|mode| mode == "deep_research"))
    };
    let got = receiver.wait_for(Duration::from_secs(20), &back).await;
    assert!(
        back(&got),
        "no notification with deep_research after the expiry"
    );
}

/// Disables the receiver in the store (as a 410 would), which also turns a message
/// waiting for it into a dead letter; then, through the receivers page's forms,
/// re-enables it and re-sends the dead letter, which reaches the receiver under its id.
async fn receivers_through_the_forms(
    browser: &Client,
    base: &str,
    running: &driftwatch::app::Running,
    receiver: &Receiver,
    fp: &str,
) {
    use driftwatch::store::NewMessage;
    let now = chrono::Utc::now().timestamp_millis();
    let letter = NewMessage {
        id: "msg_console_resend".to_owned(),
        receiver: "hook".to_owned(),
        fingerprint: fp.to_owned(),
        event: "firing".to_owned(),
        payload: "{}".to_owned(),
        // Due in an hour: the dispatcher leaves it, so only the disabling settles it.
        created_at_ms: now + 3_600_000,
        evaluation_ids: Vec::new(),
    };
    let store = &running.store;
    store.enqueue(std::slice::from_ref(&letter)).await.unwrap();
    let reason = "HTTP 410 Gone (set by the test)";
    assert!(store
        .disable_receiver("hook", reason, now, &[])
        .await
        .unwrap());

    browser.goto(&format!("{base}/ui/receivers")).await.unwrap();
    let listed = text_of(browser, "#receivers").await;
    assert!(
        listed.contains("disabled") && listed.contains(reason),
        "{listed}"
    );
    click(
        browser,
        "form[action='/ui/receivers/hook/enable'] button",
        "/ui/receivers",
    )
    .await;
    let listed = text_of(browser, "#receivers").await;
    assert!(!listed.contains("disabled"), "{listed}");
    let receivers = get_json(format!("{base}/api/v1/receivers")).await;
    assert_eq!(receivers["receivers"][0]["disabled"], json!(false));

    let resend = "form[action='/ui/deadletters/msg_console_resend/resend'] button";
    click(browser, resend, "/ui/receivers").await;
    let sent = |d: &[Delivery]| d.iter().any(|x| x.id == "msg_console_resend");
    let got = receiver.wait_for(Duration::from_secs(20), sent).await;
    assert!(sent(&got), "the dead letter was not sent again");
    let dead = store.dead_letters(None, 100).await.unwrap();
    assert!(dead.iter().all(|d| d.id != letter.id), "{dead:?}");
}

/// What the console keeps in the store, on SQLite and PostgreSQL: two replicas read one
/// signing key, and one dead letter goes back to the outbox, due now, once. Then, with
/// `console_read = "token"`, reading needs the login.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_the_console_key_a_dead_letter_is_sent_again_and_reading_can_need_the_login()
{
    use driftwatch::store::{DeliveryResult, NewMessage, Store};
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let db = TestDb::new(backend).await;
        let (one, two) = (
            Store::connect(&db.store_url()).await.unwrap(),
            Store::connect(&db.store_url()).await.unwrap(),
        );
        let key = one.console_key(1).await.unwrap();
        assert_eq!(key.len(), 64, "{backend:?}");
        assert_eq!(two.console_key(2).await.unwrap(), key, "{backend:?}");

        let now = chrono::Utc::now().timestamp_millis();
        let message = NewMessage {
            id: "msg_console_dead".to_owned(),
            receiver: "hook".to_owned(),
            fingerprint: "00000000000000aa".to_owned(),
            event: "firing".to_owned(),
            payload: "{}".to_owned(),
            created_at_ms: now,
            evaluation_ids: Vec::new(),
        };
        one.enqueue(std::slice::from_ref(&message)).await.unwrap();
        assert_eq!(one.claim_due(now, 10, 60_000).await.unwrap().len(), 1);
        let dead = DeliveryResult::Dead {
            id: message.id.clone(),
            error: "410 Gone".to_owned(),
        };
        one.record_results(now, &[dead]).await.unwrap();
        assert_eq!(one.dead_letters(None, 10).await.unwrap().len(), 1);
        assert!(!two.requeue_dead_letter("msg_other", now).await.unwrap());
        assert!(two.requeue_dead_letter(&message.id, now).await.unwrap());
        assert!(one.dead_letters(None, 10).await.unwrap().is_empty());
        let due = one.claim_due(now, 10, 60_000).await.unwrap();
        assert_eq!(due.len(), 1, "{backend:?}: due again");
        assert!(
            !two.requeue_dead_letter(&message.id, now).await.unwrap(),
            "only a dead letter is requeued"
        );
        listing_and_sessions(&one, &two, backend).await;
        for store in [one, two] {
            store.close().await;
        }
        db.drop_db().await;
    }
    reading_needs_the_login_when_the_setting_says_so().await;
}

/// The alerts page's narrow listing (kept by triggers beside the alerts) has each
/// alert's labels and resolve time and follows its changes; a console session
/// opened through one store handle is seen, and ended, through the other.
async fn listing_and_sessions(
    one: &driftwatch::store::Store,
    two: &driftwatch::store::Store,
    backend: Backend,
) {
    use driftwatch::engine::Alert;
    use driftwatch::model::{AlertState, Labels, Severity};
    let t = chrono::Utc::now();
    let alert = |mode: &str, state: AlertState| {
        let group = Labels::new().with("mode", mode);
        let mut a = Alert::new("r", group, &Labels::new(), Severity::Critical, t);
        a.state = state;
        a.resolved_at = (state == AlertState::Resolved).then_some(t);
        a
    };
    let alerts = vec![
        alert("<b>\"quoted\"</b>", AlertState::Firing),
        alert("done", AlertState::Resolved),
        alert("quiet", AlertState::Inactive),
    ];
    let batch = driftwatch::store::CommitBatch {
        alerts: alerts.clone(),
        at_ms: t.timestamp_millis(),
        ..Default::default()
    };
    one.commit(&batch).await.unwrap();
    let mut listed = two
        .listed_alerts(&[AlertState::Firing, AlertState::Resolved])
        .await
        .unwrap();
    listed.sort_by_key(|l| l.state == AlertState::Resolved);
    let got: Vec<_> = listed
        .iter()
        .map(|l| (l.fingerprint.as_str(), l.state, &l.labels, l.resolved_at))
        .collect();
    let want: Vec<_> = alerts[..2]
        .iter()
        .map(|a| (a.fingerprint.as_str(), a.state, &a.labels, a.resolved_at))
        .collect();
    assert_eq!(got, want, "{backend:?}");
    // The listing follows the alerts' changes: one resolves, one is forgotten.
    let mut resolved = alerts[0].clone();
    resolved.state = AlertState::Resolved;
    resolved.resolved_at = Some(t + chrono::TimeDelta::seconds(1));
    let batch = driftwatch::store::CommitBatch {
        alerts: vec![resolved.clone()],
        forgotten: vec![alerts[1].fingerprint.clone()],
        at_ms: t.timestamp_millis() + 1_000,
        ..Default::default()
    };
    one.commit(&batch).await.unwrap();
    let listed = two
        .listed_alerts(&[AlertState::Firing, AlertState::Resolved])
        .await
        .unwrap();
    let got: Vec<_> = listed
        .iter()
        .map(|l| (l.fingerprint.as_str(), l.state, l.resolved_at))
        .collect();
    let want = (
        resolved.fingerprint.as_str(),
        resolved.state,
        resolved.resolved_at,
    );
    assert_eq!(got, vec![want], "{backend:?}");

    let now = t.timestamp_millis();
    one.open_console_session("s1", now + 1_000, now)
        .await
        .unwrap();
    assert!(
        two.console_session_live("s1", now).await.unwrap(),
        "{backend:?}"
    );
    assert!(
        !two.console_session_live("s1", now + 1_000).await.unwrap(),
        "expired"
    );
    assert!(two.revoke_console_session("s1").await.unwrap());
    assert!(
        !one.console_session_live("s1", now).await.unwrap(),
        "{backend:?}: revoked"
    );
    assert!(!one.revoke_console_session("s1").await.unwrap());
}

/// With `[server] console_read = "token"`, a page sends a reader without a session to
/// the login form, and answers once logged in.
async fn reading_needs_the_login_when_the_setting_says_so() {
    use driftwatch::server::settings::ConsoleRead;
    let db = TestDb::new(Backend::Sqlite).await;
    let receiver = Receiver::start(Some(SECRET), 0, false).await.unwrap();
    let mut config = config(&db, &receiver);
    config.console_read = ConsoleRead::Token;
    let running = start(config, rules(SLOW_BY_MODE)).await;
    let base = format!("http://{}", running.addr);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let refused = http.get(format!("{base}/ui/rules")).send().await.unwrap();
    assert_eq!(refused.status().as_u16(), 303);
    assert_eq!(refused.headers()["location"], "/ui/login");
    let bare = http
        .post(format!("{base}/ui/login"))
        .form(&[("token", API_TOKEN)])
        .send()
        .await
        .unwrap();
    assert_eq!(
        bare.status().as_u16(),
        403,
        "a login without the form's token"
    );
    assert!(set_cookie(&bare, "dw_session").is_none());
    let (seed, _) = login_form(&http, &base).await;
    let (_, other_token) = login_form(&http, &base).await;
    let crossed = http
        .post(format!("{base}/ui/login"))
        .header("cookie", &seed)
        .form(&[("token", API_TOKEN), ("csrf", other_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(crossed.status().as_u16(), 403, "another form's token");
    assert!(set_cookie(&crossed, "dw_session").is_none());
    let login = log_in(&http, &base).await;
    assert_eq!(login.status().as_u16(), 303);
    let cookie = set_cookie(&login, "dw_session").unwrap();
    let session = cookie.split(';').next().unwrap().to_owned();
    let read = http
        .get(format!("{base}/ui/rules"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status().as_u16(), 200);
    let csp = read.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'self'") && !csp.contains("unsafe-inline"));
    assert!(read.text().await.unwrap().contains("workflow_slow"));
    let forged = format!("{}0", session);
    let refused = http
        .get(format!("{base}/ui/rules"))
        .header("cookie", forged)
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused.status().as_u16(),
        303,
        "a tampered cookie is no session"
    );
    running.stop(Duration::from_secs(5)).await;
}

/// The `name=value` part of the response's `Set-Cookie` for cookie `name`, whole.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// The value of the hidden field `name` in `html`.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// Opens the login form: its cookie (`name=value`) and the token it carries.
async fn login_form(http: &reqwest::Client, base: &str) -> (String, String) {
    let form = http.get(format!("{base}/ui/login")).send().await.unwrap();
    let cookie = set_cookie(&form, "dw_login").expect("the login form sets its cookie");
    for part in ["HttpOnly", "SameSite=Strict", "Path=/ui/login"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    let seed = cookie.split(';').next().unwrap().to_owned();
    (seed, hidden(&form.text().await.unwrap(), "csrf"))
}

/// Logs in as a browser does: the form first, then its cookie and token with the API
/// token.
async fn log_in(http: &reqwest::Client, base: &str) -> reqwest::Response {
    let (seed, token) = login_form(http, base).await;
    http.post(format!("{base}/ui/login"))
        .header("cookie", seed)
        .form(&[("token", API_TOKEN), ("csrf", token.as_str())])
        .send()
        .await
        .unwrap()
}

/// GET `path` at `base` with `cookie`: the status, and whether the page has a session.
async fn read_with(http: &reqwest::Client, base: &str, path: &str, cookie: &str) -> (u16, bool) {
    let answer = http
        .get(format!("{base}{path}"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    (status, answer.text().await.unwrap().contains("Log out"))
}

/// Two replicas on one PostgreSQL store: a session opened on one is good on the other;
/// logging out on the second ends it on both, so a copied cookie stops working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_ends_the_session_on_every_replica() {
    let db = TestDb::new(Backend::Postgres).await;
    let receiver = Receiver::start(Some(SECRET), 0, false).await.unwrap();
    let one = start(config(&db, &receiver), rules(SLOW_BY_MODE)).await;
    let two = start(config(&db, &receiver), rules(SLOW_BY_MODE)).await;
    let (a, b) = (
        format!("http://{}", one.addr),
        format!("http://{}", two.addr),
    );
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = log_in(&http, &a).await;
    let cookie = set_cookie(&login, "dw_session").unwrap();
    let session = cookie.split(';').next().unwrap().to_owned();
    assert_eq!(
        read_with(&http, &a, "/ui/rules", &session).await,
        (200, true)
    );
    assert_eq!(
        read_with(&http, &b, "/ui/rules", &session).await,
        (200, true)
    );

    let page = http
        .get(format!("{b}/ui/rules"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    let csrf = hidden(&page.text().await.unwrap(), "csrf");
    let out = http
        .post(format!("{b}/ui/logout"))
        .header("cookie", &session)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status().as_u16(), 303);
    assert!(set_cookie(&out, "dw_session")
        .unwrap()
        .contains("Max-Age=0"));
    for base in [&a, &b] {
        assert_eq!(
            read_with(&http, base, "/ui/rules", &session).await,
            (200, false),
            "{base}: the copied cookie is no session after the logout"
        );
    }
    let refused = http
        .post(format!("{a}/ui/logout"))
        .header("cookie", &session)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused.status().as_u16(),
        401,
        "changing anything needs a session"
    );
    one.stop(Duration::from_secs(5)).await;
    two.stop(Duration::from_secs(5)).await;
    db.drop_db().await;
}

/// The rules page says "computing…" until the background task has replayed the rule
/// over the last 7 days of its source, then what it would have done: here an alert for
/// each of two slow runs of the week (a fast one and one of ten days ago do not count).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rules_page_shows_what_each_rule_would_have_done_last_week() {
    let db = TestDb::new(Backend::Sqlite).await;
    let receiver = Receiver::start(Some(SECRET), 0, false).await.unwrap();
    let now = chrono::Utc::now();
    let w = db.writer();
    for (id, mode, seconds, days_ago) in [
        ("slow-1", "deep_research", 900.0, 2),
        ("slow-2", "planning", 900.0, 3),
        ("fast", "deep_research", 30.0, 1),
        ("old-slow", "deep_research", 900.0, 10),
    ] {
        let ended = now - chrono::TimeDelta::days(days_ago);
        w.insert(&run_ending_at(id, mode, seconds, "completed", ended))
            .await
            .unwrap();
    }
    let every_minute = SLOW_BY_MODE.replace("every = \"250ms\"", "every = \"1m\"");
    let running = start(config(&db, &receiver), rules(&every_minute)).await;
    let base = format!("http://{}", running.addr);
    let page = || async {
        let answer = reqwest::get(format!("{base}/ui/rules")).await.unwrap();
        assert_eq!(answer.status().as_u16(), 200);
        answer.text().await.unwrap()
    };
    let first = page().await;
    assert!(first.contains("computing…"), "{first}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let done = loop {
        let text = page().await;
        if !text.contains("computing…") {
            break text;
        }
        assert!(Instant::now() < deadline, "still computing: {text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(done.contains("<strong>2 alerts</strong> a week"), "{done}");
    assert!(done.contains("10080 evaluations"), "{done}");
    running.stop(Duration::from_secs(5)).await;
}
