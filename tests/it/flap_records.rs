//! Flap-control records in the store, on SQLite and PostgreSQL: written with an
//! evaluation's commit, read back at start, deleted with their alert; and records that
//! earlier versions kept inside alert bodies move to their own table on upgrade.

use driftwatch::engine::Alert;
use driftwatch::model::flap::FlapRecord;
use driftwatch::model::{Labels, Severity};
use driftwatch::store::{CommitBatch, Store};
use sqlx::AnyPool;

use crate::helpers::{Backend, TestDb};

fn flapping() -> FlapRecord {
    FlapRecord {
        changes: vec![1_000, 2_000, 3_000],
        flapping: true,
    }
}

async fn records_round_trip_and_leave_with_their_alert(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = Store::connect(&db.store_url()).await.unwrap();
    let t0 = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    let alert = Alert::new("r", Labels::new(), &Labels::new(), Severity::Warning, t0);
    let fp = alert.fingerprint.clone();
    let batch = CommitBatch {
        alerts: vec![alert],
        flap_records: vec![("r".into(), fp.clone(), flapping())],
        at_ms: 5_000,
        ..Default::default()
    };
    store.commit(&batch).await.unwrap();
    let loaded = store.load_flap_records().await.unwrap();
    assert_eq!(loaded["r"][&fp], flapping(), "{loaded:?}");

    let settled = FlapRecord::default();
    let batch = CommitBatch {
        flap_records: vec![("r".into(), fp.clone(), settled.clone())],
        at_ms: 6_000,
        ..Default::default()
    };
    store.commit(&batch).await.unwrap();
    assert_eq!(store.load_flap_records().await.unwrap()["r"][&fp], settled);

    let batch = CommitBatch {
        forgotten: vec![fp.clone()],
        at_ms: 7_000,
        ..Default::default()
    };
    store.commit(&batch).await.unwrap();
    assert!(store.load_flap_records().await.unwrap().is_empty());
}

#[tokio::test]
async fn flap_records_round_trip_on_sqlite() {
    records_round_trip_and_leave_with_their_alert(Backend::Sqlite).await;
}

#[tokio::test]
async fn flap_records_round_trip_on_postgres() {
    records_round_trip_and_leave_with_their_alert(Backend::Postgres).await;
}

/// An alert body as versions before the intake stage wrote it, with its flap record
/// inside, is moved by the migration's import statement.
async fn a_legacy_flap_record_is_imported(backend: Backend, migration: &str) {
    let db = TestDb::new(backend).await;
    let store = Store::connect(&db.store_url()).await.unwrap();
    let pool = AnyPool::connect(&db.store_url()).await.unwrap();
    let (fp1, fp2) = ("00000000000000f1", "00000000000000f2");
    let body = r#"{"fingerprint":"00000000000000f1","rule":"r","changes":[10,20],"flapping":true}"#;
    let calm = r#"{"fingerprint":"00000000000000f2","rule":"r"}"#;
    for (fp, body) in [(fp1, body), (fp2, calm)] {
        sqlx::query(
            "INSERT INTO alerts (fingerprint, rule, state, body, updated_at) VALUES ($1, 'r', 'firing', $2, 1)",
        )
        .bind(fp)
        .bind(body)
        .execute(&pool)
        .await
        .unwrap();
    }
    sqlx::raw_sql(migration).execute(&pool).await.unwrap();
    let loaded = store.load_flap_records().await.unwrap();
    assert_eq!(
        loaded["r"][fp1],
        FlapRecord {
            changes: vec![10, 20],
            flapping: true
        }
    );
    assert!(!loaded["r"].contains_key(fp2), "no record, none made up");
}

#[tokio::test]
async fn a_legacy_flap_record_moves_to_its_table_on_sqlite() {
    let sql = include_str!("../../migrations/sqlite/0006_alert_flaps.sql");
    a_legacy_flap_record_is_imported(Backend::Sqlite, sql).await;
}

#[tokio::test]
async fn a_legacy_flap_record_moves_to_its_table_on_postgres() {
    let sql = include_str!("../../migrations/postgres/0006_alert_flaps.sql");
    a_legacy_flap_record_is_imported(Backend::Postgres, sql).await;
}
