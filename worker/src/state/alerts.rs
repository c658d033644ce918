//! The alert state of each profile (table `alerts`, schema version 7): per profile and kind,
//! since when the trouble lasts, its last detail and when its alert mail went out. What to do
//! about it is `crate::alerts`' decision; this module only keeps the rows. Kept in the
//! database so that a restart neither sends an alert again nor forgets the recovery mail; on
//! the shared state the rows are in PostgreSQL (`pg::alerts`), shared by every worker.

use rusqlite::{Row, params};

use super::error::StateError;
use super::store::Store;
use super::types::{AlertKind, AlertRow};

fn from_row(row: &Row<'_>) -> rusqlite::Result<Option<AlertRow>> {
    let Some(kind) = AlertKind::parse(&row.get::<_, String>(1)?) else {
        return Ok(None);
    };
    Ok(Some(AlertRow {
        profile: row.get(0)?,
        kind,
        since: row.get(2)?,
        detail: row.get(3)?,
        sent_at: row.get(4)?,
    }))
}

impl Store {
    /// The alert rows of `profile` (a kind this worker does not know is left out).
    pub async fn alerts(&self, profile: &str) -> Result<Vec<AlertRow>, StateError> {
        if let Some(pg) = &self.shared {
            return pg.alerts(profile).await;
        }
        let profile = profile.to_string();
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT profile, kind, since, detail, sent_at FROM alerts WHERE profile = ?1 ORDER BY kind",
                )
                .map_err(StateError::Read)?;
            let rows = stmt
                .query_map(params![profile], from_row)
                .map_err(StateError::Read)?;
            let rows: Vec<Option<AlertRow>> =
                rows.collect::<Result<_, _>>().map_err(StateError::Read)?;
            Ok(rows.into_iter().flatten().collect())
        })
        .await
    }

    /// Writes (inserts or replaces) an alert row; durable, so that a mail marked sent is
    /// not sent again after a crash.
    pub async fn put_alert(&self, row: AlertRow) -> Result<(), StateError> {
        if let Some(pg) = &self.shared {
            return pg.put_alert(row).await;
        }
        self.run(move |conn| {
            conn.execute(
                "INSERT OR REPLACE INTO alerts (profile, kind, since, detail, sent_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![row.profile, row.kind.as_str(), row.since, row.detail, row.sent_at],
            )
            .map(drop)
            .map_err(StateError::Write)
        })
        .await
    }

    /// Forgets an alert row: the trouble is over (and its recovery mail, if due, went out).
    pub async fn clear_alert(&self, profile: &str, kind: AlertKind) -> Result<(), StateError> {
        if let Some(pg) = &self.shared {
            return pg.clear_alert(profile, kind).await;
        }
        let profile = profile.to_string();
        self.run(move |conn| {
            conn.execute(
                "DELETE FROM alerts WHERE profile = ?1 AND kind = ?2",
                params![profile, kind.as_str()],
            )
            .map(drop)
            .map_err(StateError::Write)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kind: AlertKind, sent_at: Option<i64>) -> AlertRow {
        AlertRow {
            profile: "p".into(),
            kind,
            since: 100,
            detail: "login refused".into(),
            sent_at,
        }
    }

    #[tokio::test]
    async fn a_version_6_database_gains_the_alerts_table_and_keeps_its_rows() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let conn =
                rusqlite::Connection::open(dir.path().join("state.sqlite3")).expect("create");
            conn.execute_batch(super::super::schema::CREATE_V1)
                .expect("v1");
            conn.execute_batch(super::super::schema::MIGRATE_V2)
                .expect("v2");
            conn.execute_batch(super::super::schema::CREATE_V3)
                .expect("v3");
            conn.execute_batch(super::super::schema::CREATE_V4)
                .expect("v4");
            conn.execute_batch(super::super::schema::MIGRATE_V5_SENT)
                .expect("v5");
            conn.execute_batch(super::super::schema::CREATE_V6)
                .expect("v6");
            let version: i64 = conn
                .pragma_query_value(None, "user_version", |row| row.get(0))
                .expect("user_version");
            assert_eq!(version, 6);
        }
        let store = Store::open(dir.path()).expect("open and migrate");
        assert!(store.alerts("p").await.expect("none yet").is_empty());
        store
            .put_alert(row(AlertKind::Failing, None))
            .await
            .expect("put");
        store
            .put_alert(row(AlertKind::Held, Some(200)))
            .await
            .expect("put");
        store
            .put_alert(row(AlertKind::Failing, Some(300)))
            .await
            .expect("replace");
        let rows = store.alerts("p").await.expect("rows");
        assert_eq!(
            rows,
            [
                row(AlertKind::Failing, Some(300)),
                row(AlertKind::Held, Some(200))
            ]
        );
        assert!(store.alerts("q").await.expect("other").is_empty());
        store
            .clear_alert("p", AlertKind::Failing)
            .await
            .expect("clear");
        drop(store);
        // Across a restart the rows are what was written.
        let store = Store::open(dir.path()).expect("reopen");
        assert_eq!(
            store.alerts("p").await.expect("rows"),
            [row(AlertKind::Held, Some(200))]
        );
        let conn = rusqlite::Connection::open(dir.path().join("state.sqlite3")).expect("open");
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .expect("user_version");
        assert_eq!(version, super::super::schema::SCHEMA_VERSION);
    }
}
