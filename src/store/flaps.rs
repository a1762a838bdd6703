//! Flap-control records in the store: each alert's recent changes and whether it is held
//! as flapping, written in the evaluation's transaction and read back at start, so a
//! restart neither forgets a flapping alert nor notifies the changes it held.

use std::collections::HashMap;

use sqlx::{Any, Row, Transaction};

use super::{Store, StoreError};
use crate::model::flap::FlapRecord;
use crate::types::Fingerprint;

/// Upserts (rule, fingerprint, record) rows.
pub(super) async fn write_flap_records(
    tx: &mut Transaction<'static, Any>,
    records: &[(String, Fingerprint, FlapRecord)],
    at_ms: i64,
) -> Result<(), StoreError> {
    for (rule, fingerprint, record) in records {
        let body = serde_json::to_string(record).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO alert_flaps (fingerprint, rule, record, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (fingerprint) DO UPDATE SET rule = excluded.rule, record = excluded.record, \
             updated_at = excluded.updated_at",
        )
        .bind(fingerprint.to_string())
        .bind(rule.clone())
        .bind(body)
        .bind(at_ms)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

impl Store {
    /// Every stored flap record: by rule, then by fingerprint.
    pub async fn load_flap_records(
        &self,
    ) -> Result<HashMap<String, HashMap<Fingerprint, FlapRecord>>, StoreError> {
        let rows = sqlx::query("SELECT fingerprint, rule, record FROM alert_flaps")
            .fetch_all(&self.pool)
            .await?;
        let mut out: HashMap<String, HashMap<Fingerprint, FlapRecord>> = HashMap::new();
        for r in rows {
            let record: FlapRecord = serde_json::from_str(&r.try_get::<String, _>("record")?)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let fingerprint = Fingerprint::parse(&r.try_get::<String, _>("fingerprint")?)
                .map_err(StoreError::Corrupt)?;
            out.entry(r.try_get("rule")?)
                .or_default()
                .insert(fingerprint, record);
        }
        Ok(out)
    }
}
