//! Writing detector baselines (their JSON text): many rows a commit (a minute's share of every series of a
//! rule), so they go in multi-row statements rather than one statement a row.

use std::collections::HashSet;

use sqlx::{Any, Transaction};

use super::StoreError;
use crate::sources::dialect::Dialect;
use crate::types::Fingerprint;

/// Rows a statement: 4 parameters each stays under SQLite's oldest limit of 999.
const ROWS_PER_STATEMENT: usize = 200;

/// Upserts `(rule, fingerprint, state)` rows stamped `at_ms`, in fingerprint order. A
/// fingerprint listed twice keeps its last state (one statement may not update a row
/// twice on PostgreSQL).
pub(super) async fn write_baselines(
    tx: &mut Transaction<'static, Any>,
    dialect: Dialect,
    rows: &[(String, Fingerprint, String)],
    at_ms: i64,
) -> Result<(), StoreError> {
    let mut seen = HashSet::with_capacity(rows.len());
    let mut latest: Vec<&(String, Fingerprint, String)> = rows
        .iter()
        .rev()
        .filter(|(_, fp, _)| seen.insert(fp.as_str()))
        .collect();
    // In fingerprint order: a store whose rows lie in the order first written then keeps
    // the rows the engine writes together (a range of fingerprints) on the same pages.
    latest.sort_by(|a, b| a.1.cmp(&b.1));
    for chunk in latest.chunks(ROWS_PER_STATEMENT) {
        let sql = upsert_sql(dialect, chunk.len());
        let mut query = sqlx::query(&sql);
        for (rule, fp, state) in chunk {
            query = query
                .bind(fp.as_str())
                .bind(rule.as_str())
                .bind(state.as_str())
                .bind(at_ms);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// `INSERT … VALUES ($1, $2, $3, $4), ($5, …) ON CONFLICT …` for `rows` rows. SQLite
/// gets anonymous `?` placeholders: it resolves a numbered one by walking the list of
/// names, which made binding 800 of them quadratic.
fn upsert_sql(dialect: Dialect, rows: usize) -> String {
    let values: Vec<String> = (0..rows)
        .map(|r| match dialect {
            Dialect::Sqlite => "(?, ?, ?, ?)".to_owned(),
            Dialect::Postgres => {
                let p = 4 * r;
                format!("(${}, ${}, ${}, ${})", p + 1, p + 2, p + 3, p + 4)
            }
        })
        .collect();
    format!(
        "INSERT INTO baselines (fingerprint, rule, state, updated_at) VALUES {} \
         ON CONFLICT (fingerprint) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
        values.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_every_row() {
        assert!(upsert_sql(Dialect::Sqlite, 2).contains("VALUES (?, ?, ?, ?), (?, ?, ?, ?) ON"));
        assert_eq!(
            upsert_sql(Dialect::Postgres, 2),
            "INSERT INTO baselines (fingerprint, rule, state, updated_at) VALUES ($1, $2, $3, $4), ($5, $6, $7, $8) \
             ON CONFLICT (fingerprint) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at"
        );
    }
}
