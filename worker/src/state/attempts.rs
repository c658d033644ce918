//! The attempts of messages that failed on their own (table `attempts`, schema version 6): per
//! message (mailbox key and UID) how often and when it was tried, when it is due again, the
//! last reason, whether it is held, the action asked for a held message over the pipe, and
//! what the message is once an attempt downloaded it (From, Subject, Date, size; version 10).
//! The poll decides (`poll::retry`); this module only keeps the rows. A delivered message's
//! row is cleared; rows of UIDs the server no longer lists go with the poll's clean-up.
//!
//! [`read_held`] lists the held messages from a read-only connection that takes no lock, so
//! `mailpull-worker held` works while a worker runs (SQLite WAL readers do not block).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use rusqlite::{Connection, OpenFlags, Row, params};

use super::error::{StateError, file_system_problem};
use super::schema::SCHEMA_VERSION;
use super::store::Store;
use super::types::{Attempt, HeldAction, MailboxKey, Summary};

const COLUMNS: &str = "account, folder, uidvalidity, uid, profile, attempts, first_at, last_at, next_at, reason, held, action, sender, subject, message_date, size";

/// [`COLUMNS`] of a database written before version 10, which has no summary columns: read as
/// "not known".
const COLUMNS_BEFORE_V10: &str = "account, folder, uidvalidity, uid, profile, attempts, first_at, last_at, next_at, reason, held, action, NULL, NULL, NULL, NULL";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Attempt> {
    Ok(Attempt {
        key: MailboxKey {
            account: row.get(0)?,
            folder: row.get(1)?,
            uidvalidity: row.get(2)?,
        },
        uid: row.get(3)?,
        profile: row.get(4)?,
        attempts: row.get(5)?,
        first_at: row.get(6)?,
        last_at: row.get(7)?,
        next_at: row.get(8)?,
        reason: row.get(9)?,
        held: row.get(10)?,
        action: row
            .get::<_, Option<String>>(11)?
            .as_deref()
            .and_then(HeldAction::parse),
        summary: match row.get::<_, Option<i64>>(15)? {
            Some(size) => Some(Summary {
                from: row.get::<_, Option<String>>(12)?.unwrap_or_default(),
                subject: row.get::<_, Option<String>>(13)?.unwrap_or_default(),
                date: row.get(14)?,
                size: size.max(0) as u64,
            }),
            None => None,
        },
    })
}

/// The held messages, of one profile or of all, oldest first, from a database of `version`.
fn select_held(
    conn: &Connection,
    profile: Option<&str>,
    version: i64,
) -> Result<Vec<Attempt>, StateError> {
    let columns = if version < 10 {
        COLUMNS_BEFORE_V10
    } else {
        COLUMNS
    };
    let sql = format!(
        "SELECT {columns} FROM attempts WHERE held = 1 AND (?1 IS NULL OR profile = ?1) ORDER BY profile, first_at, uid"
    );
    let mut stmt = conn.prepare_cached(&sql).map_err(StateError::Read)?;
    let rows = stmt
        .query_map(params![profile], from_row)
        .map_err(StateError::Read)?;
    rows.collect::<Result<_, _>>().map_err(StateError::Read)
}

/// The held messages in the state database of `dir`, from a read-only connection that takes
/// no lock and starts nothing: beside a running worker too. No database yet: none.
pub fn read_held(dir: &Path, profile: Option<&str>) -> Result<Vec<Attempt>, StateError> {
    let path = dir.join("state.sqlite3");
    if !path.is_file() {
        return Ok(Vec::new());
    }
    let open_err = |source| StateError::Open {
        path: path.clone(),
        source,
        cause: file_system_problem(dir),
    };
    let conn =
        Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(open_err)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(open_err)?;
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(open_err)?;
    if version < 6 {
        // Written by an older worker: nothing was ever held.
        return Ok(Vec::new());
    }
    select_held(&conn, profile, version)
}

impl Store {
    /// The attempts of a mailbox's messages, by UID.
    pub async fn attempts(&self, key: &MailboxKey) -> Result<HashMap<String, Attempt>, StateError> {
        if let Some(pg) = &self.shared {
            return pg.attempts(key).await;
        }
        let key = key.clone();
        self.read(move |conn| {
            let sql = format!(
                "SELECT {COLUMNS} FROM attempts WHERE account = ?1 AND folder = ?2 AND uidvalidity = ?3"
            );
            let mut stmt = conn.prepare_cached(&sql).map_err(StateError::Read)?;
            let rows = stmt
                .query_map(params![key.account, key.folder, key.uidvalidity], from_row)
                .map_err(StateError::Read)?;
            rows.map(|row| row.map(|attempt| (attempt.uid.clone(), attempt)))
                .collect::<Result<_, _>>()
                .map_err(StateError::Read)
        })
        .await
    }

    /// How many messages each profile has held (profiles with none left out): the metrics
    /// endpoint's gauge, and its health check's question to the database.
    pub async fn held_counts(&self) -> Result<Vec<(String, u64)>, StateError> {
        if let Some(pg) = &self.shared {
            return pg.held_counts().await;
        }
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT profile, count(*) FROM attempts WHERE held = 1 GROUP BY profile ORDER BY profile",
                )
                .map_err(StateError::Read)?;
            let rows = stmt
                .query_map([], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?.max(0) as u64))
                })
                .map_err(StateError::Read)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(StateError::Read)
        })
        .await
    }

    /// The held messages, of one profile or of all.
    pub async fn held(&self, profile: Option<String>) -> Result<Vec<Attempt>, StateError> {
        if let Some(pg) = &self.shared {
            return pg.held(profile).await;
        }
        self.read(move |conn| select_held(conn, profile.as_deref(), SCHEMA_VERSION))
            .await
    }

    /// Writes (inserts or replaces) the row of a failed attempt.
    pub async fn put_attempt(&self, attempt: Attempt) -> Result<(), StateError> {
        if let Some(pg) = &self.shared {
            return pg.put_attempt(attempt).await;
        }
        self.run_bookkeeping(move |conn| {
            let sql = format!(
                "INSERT OR REPLACE INTO attempts ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"
            );
            let (sender, subject, date, size) = Summary::columns(attempt.summary.as_ref());
            conn.execute(
                &sql,
                params![
                    attempt.key.account,
                    attempt.key.folder,
                    attempt.key.uidvalidity,
                    attempt.uid,
                    attempt.profile,
                    attempt.attempts,
                    attempt.first_at,
                    attempt.last_at,
                    attempt.next_at,
                    attempt.reason,
                    attempt.held,
                    attempt.action.map(HeldAction::as_str),
                    sender,
                    subject,
                    date,
                    size,
                ],
            )
            .map(drop)
            .map_err(StateError::Write)
        })
        .await
    }

    /// Forgets the attempts of a message: it was delivered, or deleted by the explicit action.
    pub async fn clear_attempt(&self, key: &MailboxKey, uid: &str) -> Result<(), StateError> {
        if let Some(pg) = &self.shared {
            return pg.clear_attempt(key, uid).await;
        }
        let (key, uid) = (key.clone(), uid.to_string());
        self.run_bookkeeping(move |conn| {
            conn.execute(
                "DELETE FROM attempts WHERE account = ?1 AND folder = ?2 AND uidvalidity = ?3 AND uid = ?4",
                params![key.account, key.folder, key.uidvalidity, uid],
            )
            .map(drop)
            .map_err(StateError::Write)
        })
        .await
    }

    /// Asks for `action` on the held message `uid` of `profile` in `folder`/`uidvalidity`
    /// (`None`: retry now, which forgets its attempts: no hold, no delay, the count starts
    /// again). False when no such message is held.
    pub async fn ask_held(
        &self,
        message: (&str, &str, u32, &str),
        action: Option<HeldAction>,
    ) -> Result<bool, StateError> {
        if let Some(pg) = &self.shared {
            return pg.ask_held(message, action).await;
        }
        let (profile, folder, uidvalidity, uid) = message;
        let (profile, folder, uid) = (profile.to_string(), folder.to_string(), uid.to_string());
        self.run(move |conn| {
            let sql = match action {
                // Forgotten: the next poll tries it like a new message (the count starts again).
                None => "DELETE FROM attempts WHERE profile = ?1 AND folder = ?2 AND uidvalidity = ?3 AND uid = ?4 AND held = 1 AND ?5 IS NULL",
                Some(_) => "UPDATE attempts SET action = ?5 WHERE profile = ?1 AND folder = ?2 AND uidvalidity = ?3 AND uid = ?4 AND held = 1",
            };
            conn.execute(
                sql,
                params![profile, folder, uidvalidity, uid, action.map(HeldAction::as_str)],
            )
            .map(|changed| changed > 0)
            .map_err(StateError::Write)
        })
        .await
    }

    /// Forgets the attempts of the mailbox's UIDs the server no longer lists.
    pub async fn forget_attempts_missing(
        &self,
        key: &MailboxKey,
        present: HashSet<String>,
    ) -> Result<(), StateError> {
        if let Some(pg) = &self.shared {
            return pg.forget_attempts_missing(key, present).await;
        }
        let key = key.clone();
        self.run_bookkeeping(move |conn| {
            let tx = conn.transaction().map_err(StateError::Write)?;
            let uids: Vec<String> = {
                let mut stmt = tx
                    .prepare_cached(
                        "SELECT uid FROM attempts WHERE account = ?1 AND folder = ?2 AND uidvalidity = ?3",
                    )
                    .map_err(StateError::Write)?;
                stmt.query_map(params![key.account, key.folder, key.uidvalidity], |row| {
                    row.get(0)
                })
                .and_then(Iterator::collect)
                .map_err(StateError::Write)?
            };
            for uid in uids.iter().filter(|uid| !present.contains(*uid)) {
                tx.execute(
                    "DELETE FROM attempts WHERE account = ?1 AND folder = ?2 AND uidvalidity = ?3 AND uid = ?4",
                    params![key.account, key.folder, key.uidvalidity, uid],
                )
                .map_err(StateError::Write)?;
            }
            tx.commit().map_err(StateError::Write)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::schema;

    const V9_ROWS: &str = "INSERT INTO attempts VALUES ('u@h', 'INBOX', 7, '2', 'p', 10, 100, 200, 300, '550 no', 1, 'fallback');
         INSERT INTO attempts VALUES ('u@h', 'INBOX', 7, '3', 'p', 1, 100, 100, 160, '451 later', 0, NULL);";

    /// A database of version 9 (attempts without what the message is) is read by `held`
    /// beside its older worker, then migrated to 10 at open: its rows kept, read as not known,
    /// and a new attempt keeps From, Subject, Date and size.
    #[tokio::test]
    async fn a_version_9_database_gains_what_a_failed_message_is_and_keeps_its_rows() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let conn = Connection::open(dir.path().join("state.sqlite3")).expect("create");
            for step in [
                schema::CREATE_V1,
                schema::MIGRATE_V2,
                schema::CREATE_V3,
                schema::CREATE_V4,
                schema::MIGRATE_V5_SENT,
                schema::CREATE_V6,
                schema::CREATE_V7,
                schema::MIGRATE_V8,
                schema::MIGRATE_V9,
            ] {
                conn.execute_batch(step).expect("older schema");
            }
            conn.execute_batch(V9_ROWS).expect("v9 rows");
            let version: i64 = conn
                .pragma_query_value(None, "user_version", |row| row.get(0))
                .expect("version");
            assert_eq!(version, 9);
        }
        // The `held` command of the new worker reads the older database as it is.
        let before = read_held(dir.path(), None).expect("read v9");
        assert_eq!(before.len(), 1);
        assert_eq!(
            (before[0].uid.as_str(), before[0].summary.as_ref()),
            ("2", None)
        );
        let store = Store::open(dir.path()).expect("open and migrate");
        let version: i64 = store
            .read(|conn| {
                conn.pragma_query_value(None, "user_version", |row| row.get(0))
                    .map_err(StateError::Read)
            })
            .await
            .expect("version");
        assert_eq!(version, 10);
        let key = MailboxKey {
            account: "u@h".into(),
            folder: "INBOX".into(),
            uidvalidity: 7,
        };
        let rows = store.attempts(&key).await.expect("attempts");
        assert_eq!(rows.len(), 2);
        let held = &rows["2"];
        assert_eq!(
            (held.attempts, held.reason.as_str(), held.held, held.action),
            (10, "550 no", true, Some(HeldAction::Fallback))
        );
        assert_eq!(held.summary, None);
        assert_eq!(rows["3"].summary, None);
        // The next failed attempt downloaded the message: kept with the row.
        let about = Summary {
            from: "Eve <eve@x.example>".into(),
            subject: "After the upgrade".into(),
            date: Some(1_764_800_000),
            size: 321,
        };
        store
            .put_attempt(Attempt {
                attempts: 11,
                summary: Some(about.clone()),
                ..held.clone()
            })
            .await
            .expect("put");
        let after = read_held(dir.path(), Some("p")).expect("read v10");
        assert_eq!(after.len(), 1);
        assert_eq!(
            (after[0].attempts, after[0].summary.as_ref()),
            (11, Some(&about))
        );
    }
}
