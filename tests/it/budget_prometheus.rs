//! Budgets over Prometheus-format sources: the official Python client exports a counter
//! of spend (`llm_cost_usd_total`, by model), read both from a real Prometheus server
//! scraping it and by driftwatch's own scrape source. Spending $0.10 a second on gpt-4o
//! against $100 a month raises the fast-burn alert for gpt-4o only, and the exporter's
//! restart (its counter back at zero) is a reset: spend keeps growing, by what was spent.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use driftwatch::budget::{parse_budgets, Budget, BudgetStatus};
use driftwatch::clock::SystemClock;
use driftwatch::config::validated::{ServiceConfig, SourceConfig};
use driftwatch::demo::receiver::Receiver;
use driftwatch::model::AlertState;
use driftwatch::sources::scrape_settings::ScrapeSettings;
use driftwatch::types::SourceFile;

use crate::external::{free_port, start_exporter, start_prometheus};
use crate::helpers::{rules, service_config, Backend, TestDb, SECRET};

const BUDGETS: &str = r#"
[[budget]]
name = "prom_spend"
source = "prom"
metric = "llm_cost_usd_total"
group_by = ["model"]
amount = 100
period = "month"

[[budget]]
name = "scraped_spend"
source = "exporter"
metric = "llm_cost_usd_total"
group_by = ["model"]
amount = 100
period = "month"
"#;

/// `config` with the Prometheus server on `prom_port` and a 1 s scrape of the exporter
/// on `exporter_port`.
fn with_sources(mut config: ServiceConfig, prom_port: u16, exporter_port: u16) -> ServiceConfig {
    config.sources.insert(
        "prom".to_owned(),
        SourceConfig::Prometheus {
            url: format!("http://127.0.0.1:{prom_port}").parse().unwrap(),
            timeout: Duration::from_secs(2),
        },
    );
    config.sources.insert(
        "exporter".to_owned(),
        SourceConfig::Scrape(ScrapeSettings {
            url: format!("http://127.0.0.1:{exporter_port}/metrics")
                .parse()
                .unwrap(),
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            max_bytes: 1 << 20,
            retention: Duration::from_secs(3600),
            max_series: driftwatch::sources::scrape_store::DEFAULT_MAX_SERIES,
        }),
    );
    config
}

/// Each budget's fast-burn alert states by model, as stored.
async fn fast_burns(store: &driftwatch::store::Store) -> Vec<(String, String, AlertState)> {
    let mut out: Vec<_> = store
        .load_alerts()
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.labels.get("budget_alert") == Some("fast_burn"))
        .map(|a| {
            let model = a.labels.get("model").unwrap_or("").to_owned();
            (a.rule.clone(), model, a.state)
        })
        .collect();
    out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    out
}

/// The spend so far of `budget`'s gpt-4o group, as last judged.
fn gpt4o_spent(statuses: &[BudgetStatus], budget: &str) -> f64 {
    statuses
        .iter()
        .find(|s| s.budget == budget && s.group.get("model") == Some("gpt-4o"))
        .map(|s| s.spent)
        .unwrap_or_else(|| panic!("no gpt-4o status of {budget}: {statuses:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_over_a_spend_counter_fires_and_counts_a_reset_as_one() {
    let dir = tempfile::tempdir().unwrap();
    let control = dir.path().join("factor");
    let exporter_port = free_port();
    let exporter = start_exporter(exporter_port, &control).await;
    let prom_port = free_port();
    let _prometheus =
        start_prometheus(prom_port, &format!("127.0.0.1:{exporter_port}"), dir.path()).await;
    let db = TestDb::new(Backend::Sqlite).await;
    let receiver = Receiver::start(Some(SECRET), 0, false).await.unwrap();
    let config = with_sources(
        service_config(&db.url, &db.store_url(), &receiver),
        prom_port,
        exporter_port,
    );
    let budgets: Vec<Arc<Budget>> = parse_budgets(
        &[SourceFile::new("spend.toml", BUDGETS)],
        &config.rule_context(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let running =
        driftwatch::app::start_with_budgets(config, rules(""), budgets, Arc::new(SystemClock))
            .await
            .unwrap();

    // $0.10 a second is 14.4 × the even pace ($100 / 744 h) within 15 s.
    let deadline = Instant::now() + Duration::from_secs(60);
    let firing = |b: &str, m: &str| (format!("budget:{b}"), m.to_owned(), AlertState::Firing);
    let want = [
        firing("prom_spend", "gpt-4o"),
        firing("scraped_spend", "gpt-4o"),
    ];
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        running.budgets.tick_due(chrono::Utc::now(), true).await;
        seen = fast_burns(&running.store).await;
        if want.iter().all(|w| seen.contains(w)) {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert!(want.iter().all(|w| seen.contains(w)), "{seen:?}");
    assert!(
        seen.iter()
            .all(|(_, model, state)| model == "gpt-4o" || *state != AlertState::Firing),
        "claude spends $0.001 a second, no burn: {seen:?}"
    );
    let got = receiver
        .wait_for(Duration::from_secs(15), |d| {
            d.iter()
                .flat_map(|d| d.payload.iter())
                .flat_map(|p| &p.alerts)
                .any(|a| a.rule == "budget:prom_spend")
        })
        .await;
    assert!(got.iter().all(|d| d.signature_ok));

    restart_counts_on(&running, exporter, exporter_port, &control).await;
    running.stop(Duration::from_secs(5)).await;
}

/// Restarts the exporter (its counters start from zero again): the spend read from both
/// sources grows by what was spent meanwhile — not less (a drop taken for a negative
/// increase) and not the counter's whole value again. From the Prometheus server the
/// growth after the reset shows once the grid step holding the reset has ended.
async fn restart_counts_on(
    running: &driftwatch::app::Running,
    exporter: crate::external::Proc,
    port: u16,
    control: &Path,
) {
    running.budgets.tick_due(chrono::Utc::now(), true).await;
    let before = running.budgets.statuses.all();
    let started = Instant::now();
    drop(exporter);
    let _exporter = start_exporter(port, control).await;
    let grown = |budget: &str| {
        gpt4o_spent(&running.budgets.statuses.all(), budget) - gpt4o_spent(&before, budget)
    };
    let budgets = ["prom_spend", "scraped_spend"];
    // Grid steps of a 6-hour read are 22 s long.
    let deadline = Instant::now() + Duration::from_secs(50);
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        running.budgets.tick_due(chrono::Utc::now(), true).await;
        if budgets.iter().all(|b| grown(b) > 0.05) || Instant::now() > deadline {
            break;
        }
    }
    // At most $0.10 a second was spent since (the exporter was down part of it).
    let most = 0.1 * started.elapsed().as_secs_f64() + 0.05;
    for budget in budgets {
        let grown = grown(budget);
        assert!(
            grown > 0.05 && grown <= most,
            "{budget}: spend grew by ${grown:.3} across the restart (at most ${most:.3})"
        );
    }
}
