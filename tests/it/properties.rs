//! Property tests (issue 14): the rule and config parsers, the exposition reader and the
//! silence API's JSON body never panic, whatever they are given — arbitrary text and
//! valid files mutated byte by byte and token by token. Case counts are bounded so the
//! whole set stays well inside 30 s in a debug build; no regression files are written.

use std::cell::RefCell;
use std::path::Path;
use std::time::Duration;

use driftwatch::config::parse_service_config;

use driftwatch::rule::{parse_rules, RuleContext};

use driftwatch::demo::receiver::Receiver;
use driftwatch::sources::exposition::{Format, Reader};
use driftwatch::types::SourceFile;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::helpers::{rules, service_config, start, Backend, TestDb, API_TOKEN, SECRET};

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// One edit of a text: what to do, where (a fraction of the length) and with what.
#[derive(Debug, Clone)]
enum Edit {
    Delete { at: f64, len: usize },
    Insert { at: f64, token: usize },
    Replace { at: f64, len: usize, token: usize },
    Byte { at: f64, byte: u8 },
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        (0.0..1.0f64, 1usize..12).prop_map(|(at, len)| Edit::Delete { at, len }),
        (0.0..1.0f64, any::<usize>()).prop_map(|(at, token)| Edit::Insert { at, token }),
        (0.0..1.0f64, 1usize..8, any::<usize>()).prop_map(|(at, len, token)| Edit::Replace {
            at,
            len,
            token
        }),
        (0.0..1.0f64, any::<u8>()).prop_map(|(at, byte)| Edit::Byte { at, byte }),
    ];
    prop::collection::vec(edit, 1..8)
}

/// `text` with `edits` applied, byte-wise (so an edit may split a character; the result
/// is read lossily, as a reader of UTF-8 text would see it).
fn mutate(text: &str, edits: &[Edit], tokens: &[&str]) -> String {
    let mut b = text.as_bytes().to_vec();
    let pos = |at: f64, len: usize| ((at * len as f64) as usize).min(len);
    for e in edits {
        match *e {
            Edit::Delete { at, len } => {
                let from = pos(at, b.len());
                let to = (from + len).min(b.len());
                b.drain(from..to);
            }
            Edit::Insert { at, token } => {
                let from = pos(at, b.len());
                let t = tokens[token % tokens.len()].as_bytes();
                b.splice(from..from, t.iter().copied());
            }
            Edit::Replace { at, len, token } => {
                let from = pos(at, b.len());
                let to = (from + len).min(b.len());
                let t = tokens[token % tokens.len()].as_bytes();
                b.splice(from..to, t.iter().copied());
            }
            Edit::Byte { at, byte } => {
                let from = pos(at, b.len());
                b.insert(from, byte);
            }
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

/// Tokens that break TOML, or are valid TOML that the validation must refuse.
const TOML_TOKENS: &[&str] = &[
    "nan",
    "inf",
    "-inf",
    "+inf",
    "-nan",
    "\"300000y\"",
    "\"1000000y\"",
    "\"0s\"",
    "\"-1s\"",
    "\"9999999999999999999s\"",
    "1e308",
    "-1",
    "0",
    "9223372036854775807",
    "18446744073709551616",
    "]",
    "[",
    "]]",
    "[[rule]]\n",
    "[receivers.x]\n",
    "=",
    "\"",
    "'",
    "'''",
    "\"\"\"",
    "{",
    "}",
    ",",
    ".",
    "\n",
    "#",
    "\\",
    "\\u{0}",
    "é",
    "\u{0}",
    "true",
    "\"\"",
    "\"${NO_SUCH_VARIABLE}\"",
    "\"http://169.254.169.254/\"",
    "\"{{ x }\"",
    "\"{label.}\"",
    "1979-05-27T07:32:00Z",
];

fn rule_files() -> Vec<String> {
    let mut files = Vec::new();
    for dir in ["rules", "rules/tests"] {
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        files.extend(paths.iter().map(|p| std::fs::read_to_string(p).unwrap()));
    }
    files
}

fn rule_context() -> RuleContext {
    RuleContext {
        sources: vec!["cmbagent".to_owned()],
        source_kinds: Default::default(),
        receivers: vec!["ops".to_owned(), "hook".to_owned()],
        default_receivers: vec!["ops".to_owned()],
    }
}

/// Parses rules and checks each error has a position inside the text, or none at all,
/// and that a TOML syntax error (whose span toml knows) is reported at a line.
fn check_rules(text: &str) -> Result<(), TestCaseError> {
    let result = parse_rules(&[SourceFile::new("prop.toml", text)], &rule_context());
    check_errors(text, result.err().map(|e| e.0))
}

fn check_errors(
    text: &str,
    errors: Option<Vec<driftwatch::types::ConfigError>>,
) -> Result<(), TestCaseError> {
    let syntax_span = toml::from_str::<toml::Value>(text)
        .err()
        .and_then(|e| e.span());
    let Some(errors) = errors else {
        prop_assert!(syntax_span.is_none(), "invalid TOML accepted: {text:?}");
        return Ok(());
    };
    prop_assert!(!errors.is_empty(), "an Err without errors for {text:?}");
    let lines = text.split('\n').count();
    for e in &errors {
        prop_assert!(!e.message.is_empty(), "{e}");
        prop_assert_eq!(e.line == 0, e.column == 0, "{}", e);
        prop_assert!(e.line <= lines, "{e} is past the last line ({lines})");
    }
    if syntax_span.is_some() {
        prop_assert!(
            errors.iter().any(|e| e.line >= 1),
            "a syntax error without its line: {errors:?}"
        );
    }
    Ok(())
}

#[test]
fn the_rule_parser_never_panics_on_arbitrary_text() {
    TestRunner::new(config(1000))
        .run(&"\\PC{0,300}", |text| check_rules(&text))
        .unwrap();
    // Text made of TOML's own punctuation reaches further than random characters do.
    let tokens = prop::collection::vec(prop::sample::select(TOML_TOKENS), 0..40);
    TestRunner::new(config(1000))
        .run(&tokens, |t| check_rules(&t.join(" ")))
        .unwrap();
}

#[test]
fn the_rule_parser_never_panics_on_mutated_rule_files() {
    let files = rule_files();
    assert!(files.len() >= 4, "rules/*.toml are the seeds");
    for text in &files {
        check_rules(text).unwrap();
    }
    TestRunner::new(config(3000))
        .run(&(0..files.len(), edits()), |(i, e)| {
            check_rules(&mutate(&files[i], &e, TOML_TOKENS))
        })
        .unwrap();
}

fn check_service_config(text: &str) -> Result<(), TestCaseError> {
    let result = parse_service_config(Path::new("driftwatch.toml"), text);
    check_errors(text, result.err().map(|e| e.0))
}

#[test]
fn the_config_parser_never_panics_on_arbitrary_or_mutated_text() {
    let seed = std::fs::read_to_string("driftwatch.toml").unwrap();
    TestRunner::new(config(500))
        .run(&"\\PC{0,300}", |text| check_service_config(&text))
        .unwrap();
    TestRunner::new(config(3000))
        .run(&edits(), |e| {
            check_service_config(&mutate(&seed, &e, TOML_TOKENS))
        })
        .unwrap();
}

/// Found by the properties above: toml reports a control character in a comment with
/// an empty message, which printed as `prop.toml:1:3: ` and nothing else.
#[test]
fn a_control_character_in_a_comment_is_named() {
    let e = parse_rules(&[SourceFile::new("r.toml", "# \0\n")], &rule_context()).unwrap_err();
    assert_eq!(e.0.len(), 1, "{e}");
    assert_eq!((e.0[0].line, e.0[0].column), (1, 3), "{e}");
    assert!(e.0[0].message.contains("unexpected '\\0'"), "{e}");
    let e = parse_service_config(Path::new("driftwatch.toml"), "# \0\n").unwrap_err();
    assert!(e.0[0].message.contains("unexpected '\\0'"), "{e}");
}

/// Found by the properties above: an empty OpenMetrics payload was refused at line 0.
#[test]
fn an_empty_openmetrics_payload_is_refused_at_line_1() {
    let e = Reader::new()
        .read("", Format::OpenMetrics, |_| Ok(()))
        .unwrap_err();
    assert_eq!(e.line, 1, "{e}");
}

const TEXT_SEED: &str = "# HELP llm_call_duration_seconds LLM call duration\n\
# TYPE llm_call_duration_seconds histogram\n\
llm_call_duration_seconds_bucket{model=\"gpt-4o\",agent=\"engineer\",le=\"0.5\"} 0.0\n\
llm_call_duration_seconds_bucket{model=\"gpt-4o\",agent=\"engineer\",le=\"+Inf\"} 17.0\n\
llm_call_duration_seconds_sum{model=\"gpt-4o\",agent=\"engineer\"} 34.2\n\
llm_call_duration_seconds_count{model=\"gpt-4o\",agent=\"engineer\"} 17.0\n\
# TYPE llm_calls_total counter\n\
llm_calls_total{model=\"claude\",agent=\"res\\\\ear\\\"ch\\ner\"} 42 1395066363000\n\
# TYPE rpc summary\n\
rpc{quantile=\"0.5\"} NaN\n\
rpc_sum -Inf\n\
rpc_count 3\n\
\n\
plain 1\n";

const OPENMETRICS_SEED: &str = "# TYPE foo counter\n\
# UNIT foo seconds\n\
# HELP foo Some help.\n\
foo_total{a=\"b\"} 17.0 1520879607.789 # {trace_id=\"KOO5S4vxi0o\"} 0.67\n\
foo_created{a=\"b\"} 1520430000.123\n\
# TYPE i info\n\
i_info{v=\"1\"} 1\n\
# EOF\n";

const EXPOSITION_TOKENS: &[&str] = &[
    "{",
    "}",
    "\"",
    "\\",
    "\\\\",
    "\\n",
    "\\q",
    "=",
    ",",
    " ",
    "\t",
    "\n",
    "#",
    "# ",
    "# TYPE x counter\n",
    "# TYPE ",
    "# HELP ",
    "# EOF",
    "# EOF\n",
    "# {",
    "NaN",
    "+Inf",
    "-Inf",
    "1e999",
    "-0",
    "9223372036854775808",
    "1.5",
    "_bucket",
    "_total",
    "le=\"+Inf\"",
    "a=\"\"",
    "é",
    "\u{0}",
    "\u{feff}",
    "𝕏",
];

/// Reads `text` in both formats, touching everything a consumer would, and checks that
/// what it reports is consistent.
fn check_exposition(reader: &mut Reader, text: &str) -> Result<(), TestCaseError> {
    let lines = text.split('\n').count();
    for format in [Format::Text, Format::OpenMetrics] {
        let mut bad = None;
        let result = reader.read(text, format, |s| {
            let names: Vec<(&str, &str)> = s.labels().collect();
            if !s.series.starts_with(s.name)
                || !s.name.starts_with(s.family)
                || !s.name.ends_with(s.suffix())
                || names.iter().any(|(n, _)| n.is_empty())
                || names.iter().any(|(n, v)| s.label(n) != Some(*v))
            {
                bad = Some(format!("{s:?}"));
            }
            Ok(())
        });
        prop_assert!(bad.is_none(), "inconsistent sample {:?} in {text:?}", bad);
        if let Err(e) = result {
            prop_assert!(e.line >= 1 && e.line <= lines, "{e} (of {lines} lines)");
            prop_assert!(!e.message.is_empty());
        }
    }
    Ok(())
}

#[test]
fn the_exposition_reader_never_panics_on_arbitrary_bytes() {
    let reader = RefCell::new(Reader::new());
    TestRunner::new(config(3000))
        .run(&prop::collection::vec(any::<u8>(), 0..400), |bytes| {
            check_exposition(&mut reader.borrow_mut(), &String::from_utf8_lossy(&bytes))
        })
        .unwrap();
    let reader = RefCell::new(Reader::new());
    TestRunner::new(config(3000))
        .run(&"[a-z_{}=\",# \\\\\n\t0-9.+-]{0,200}", |text| {
            check_exposition(&mut reader.borrow_mut(), &text)
        })
        .unwrap();
}

#[test]
fn the_exposition_reader_never_panics_on_mutated_payloads() {
    let reader = RefCell::new(Reader::new());
    for seed in [TEXT_SEED, OPENMETRICS_SEED] {
        check_exposition(&mut reader.borrow_mut(), seed).unwrap();
    }
    Reader::new()
        .read(TEXT_SEED, Format::Text, |_| Ok(()))
        .unwrap();
    Reader::new()
        .read(OPENMETRICS_SEED, Format::OpenMetrics, |_| Ok(()))
        .unwrap();
    TestRunner::new(config(5000))
        .run(&(any::<bool>(), edits()), |(om, e)| {
            let seed = if om { OPENMETRICS_SEED } else { TEXT_SEED };
            check_exposition(
                &mut reader.borrow_mut(),
                &mutate(seed, &e, EXPOSITION_TOKENS),
            )
        })
        .unwrap();
}

/// Values a silence body's fields are likely to trip on.
fn silence_field() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::json;
    prop_oneof![
        prop::sample::select(vec![
            json!("1h"),
            json!("0s"),
            json!("-1h"),
            json!("1y"),
            json!("366d"),
            json!("300000y"),
            json!("1000000y"),
            json!("99999999999999999999s"),
            json!("2026-01-01T00:00:00Z"),
            json!("+262143-12-31T23:59:59Z"),
            json!("-262143-01-01T00:00:00Z"),
            json!("1970-01-01T00:00:00Z"),
            json!(["mode=one_shot"]),
            json!(["a=~("]),
            json!(["a!~.*", "b!=", "=x", "a"]),
            json!([]),
            json!(["severity=~warning|info"]),
            json!("ops"),
            json!(""),
            json!(true),
            json!(null),
            json!(1e308),
            json!(-1),
            json!(u64::MAX),
        ]),
        json_value(),
    ]
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinities", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC{0,20}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("\\PC{0,10}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A silence body: known fields with likely-trouble values, arbitrary extra fields, or
/// any JSON at all, or bytes that are not JSON.
fn silence_body() -> impl Strategy<Value = Vec<u8>> {
    let fields = [
        "matchers",
        "duration",
        "ends_at",
        "starts_at",
        "created_by",
        "comment",
        "expire_on_resolve",
    ];
    let object = prop::collection::btree_map(
        prop_oneof![
            prop::sample::select(fields.to_vec()).prop_map(str::to_owned),
            "\\PC{0,8}"
        ],
        silence_field(),
        0..8,
    )
    .prop_map(|m| serde_json::to_vec(&serde_json::Value::Object(m.into_iter().collect())).unwrap());
    prop_oneof![
        8 => typed_silence_body(),
        3 => object,
        2 => json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        1 => prop::collection::vec(any::<u8>(), 0..200),
    ]
}

/// A body with every field of the right JSON type, so most reach the handler's own
/// checks, the time arithmetic and the store.
fn typed_silence_body() -> impl Strategy<Value = Vec<u8>> {
    let text = |pool: Vec<&'static str>| {
        prop_oneof![
            9 => prop::sample::select(pool).prop_map(str::to_owned),
            1 => "\\PC{0,12}",
        ]
    };
    let matchers = prop::collection::vec(
        text(vec![
            "mode=one_shot",
            "mode=one_shot",
            "severity=~warning|info",
            "model!=gpt-4o",
            "model!~gpt.*",
            "a!~.*",
            "a=~(",
            "a=~",
            "=x",
            "a",
            "é=é",
        ]),
        1..4,
    );
    let duration = text(vec![
        "1h",
        "1s",
        "0s",
        "1y",
        "365d",
        "366d",
        "8766h",
        "300000y",
        "1000000y",
        "-1h",
        "99999999999999999999s",
        "1ms",
        "",
    ]);
    let instant = text(vec![
        "2026-01-01T00:00:00Z",
        "1970-01-01T00:00:00Z",
        "+262143-12-31T23:59:59Z",
        "-262143-01-01T00:00:00Z",
        "2026-12-02T17:00:00+14:00",
        "9999-12-31T23:59:59.999999999Z",
    ]);
    let who = text(vec!["ops", "ops", "ops", "é", "", " ", "\n"]);
    (
        matchers,
        prop::option::of(duration),
        prop::option::of(instant.clone()),
        prop::option::of(instant),
        who.clone(),
        who,
        prop::option::of(any::<bool>()),
    )
        .prop_map(|(m, d, s, e, by, comment, expire)| {
            let mut body = serde_json::json!({
                "matchers": m,
                "created_by": by,
                "comment": comment,
            });
            for (key, value) in [("duration", d), ("starts_at", s), ("ends_at", e)] {
                if let Some(v) = value {
                    body[key] = serde_json::Value::String(v);
                }
            }
            if let Some(x) = expire {
                body["expire_on_resolve"] = serde_json::Value::Bool(x);
            }
            serde_json::to_vec(&body).unwrap()
        })
}

#[test]
fn the_silence_api_answers_every_body_with_a_status_not_a_panic() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (db, running, receiver) = rt.block_on(async {
        let db = TestDb::new(Backend::Sqlite).await;
        let receiver = Receiver::start(Some(SECRET), 0, false).await.unwrap();
        let config = service_config(&db.url, &db.store_url(), &receiver);
        let running = start(config, rules(crate::helpers::SLOW_BY_MODE)).await;
        (db, running, receiver)
    });
    let url = format!("http://{}/api/v1/silences", running.addr);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let statuses = RefCell::new(std::collections::BTreeMap::<u16, usize>::new());
    TestRunner::new(config(600))
        .run(&silence_body(), |body| {
            let sent = rt.block_on(async {
                client
                    .post(&url)
                    .bearer_auth(API_TOKEN)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
            });
            let status = match sent {
                Ok(r) => r.status(),
                Err(e) => {
                    return Err(TestCaseError::fail(format!(
                        "no answer to {:?}: {e}",
                        String::from_utf8_lossy(&body)
                    )))
                }
            };
            *statuses.borrow_mut().entry(status.as_u16()).or_default() += 1;
            prop_assert!(
                status.is_success() || status.is_client_error(),
                "{status} for {:?}",
                String::from_utf8_lossy(&body)
            );
            Ok(())
        })
        .unwrap();
    let statuses = statuses.into_inner();
    println!("silence API answers: {statuses:?}");
    assert!(
        !statuses.contains_key(&401),
        "the bodies must reach the handler: {statuses:?}"
    );
    // Whatever was accepted reads back.
    let listed = rt.block_on(async { client.get(&url).send().await.unwrap().status() });
    assert_eq!(listed, 200);
    drop(receiver);
    rt.block_on(async {
        running.stop(Duration::from_secs(5)).await;
        db.drop_db().await;
    });
}
