//! The alert state of each profile in PostgreSQL (table `alerts`, shared schema version 2):
//! the same rows and rules as the SQLite store's `alerts`. Shared by the workers, so the one
//! that polls a profile next (whichever holds its lease) sees whether its alert went out: one
//! alert and one recovery per trouble, not one per worker.

use super::{PgStore, pg_err};
use crate::state::error::StateError;
use crate::state::types::{AlertKind, AlertRow};

impl PgStore {
    /// The alert rows of `profile` (a kind this worker does not know is left out).
    pub(crate) async fn alerts(&self, profile: &str) -> Result<Vec<AlertRow>, StateError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT profile, kind, since, detail, sent_at FROM alerts WHERE profile = $1 ORDER BY kind",
                &[&profile],
            )
            .await
            .map_err(pg_err)?;
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                Some(AlertRow {
                    kind: AlertKind::parse(&row.get::<_, String>(1))?,
                    profile: row.get(0),
                    since: row.get(2),
                    detail: row.get(3),
                    sent_at: row.get(4),
                })
            })
            .collect())
    }

    /// Writes (inserts or replaces) an alert row; committed when this returns `Ok`.
    pub(crate) async fn put_alert(&self, row: AlertRow) -> Result<(), StateError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO alerts (profile, kind, since, detail, sent_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (profile, kind) DO UPDATE SET
                   since = excluded.since, detail = excluded.detail, sent_at = excluded.sent_at",
                &[
                    &row.profile,
                    &row.kind.as_str(),
                    &row.since,
                    &row.detail,
                    &row.sent_at,
                ],
            )
            .await
            .map(drop)
            .map_err(pg_err)
    }

    /// Forgets an alert row.
    pub(crate) async fn clear_alert(
        &self,
        profile: &str,
        kind: AlertKind,
    ) -> Result<(), StateError> {
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM alerts WHERE profile = $1 AND kind = $2",
                &[&profile, &kind.as_str()],
            )
            .await
            .map(drop)
            .map_err(pg_err)
    }
}
