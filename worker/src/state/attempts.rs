//! The attempts of messages that failed on their own (table `attempts`, schema version 6): per
//! message (mailbox key and UID) how often and when it was tried, when it is due again, the
//! last reason, whether it is held, and the action asked for a held message over the pipe.
//! The poll decides (`poll::retry`); this module only keeps the rows. A delivered message's
//! row is cleared; rows of UIDs the server no longer lists go with the poll's clean-up.
//!
//! [`read_held`] lists the held messages from a read-only connection that takes no lock, so
//! `mailpull-worker held` works while a worker runs (SQLite WAL readers do not block).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use rusqlite::{Connection, OpenFlags, Row, params};

use super::error::{StateError, file_system_problem};
use super::store::Store;
use super::types::{Attempt, HeldAction, MailboxKey};

const COLUMNS: &str = "account, folder, uidvalidity, uid, profile, attempts, first_at, last_at, next_at, reason, held, action";

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
    })
}

/// The held messages, of one profile or of all, oldest first.
fn select_held(conn: &Connection, profile: Option<&str>) -> Result<Vec<Attempt>, StateError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM attempts WHERE held = 1 AND (?1 IS NULL OR profile = ?1) ORDER BY profile, first_at, uid"
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
    select_held(&conn, profile)
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
        self.read(move |conn| select_held(conn, profile.as_deref()))
            .await
    }

    /// Writes (inserts or replaces) the row of a failed attempt.
    pub async fn put_attempt(&self, attempt: Attempt) -> Result<(), StateError> {
        if let Some(pg) = &self.shared {
            return pg.put_attempt(attempt).await;
        }
        self.run_bookkeeping(move |conn| {
            let sql = format!(
                "INSERT OR REPLACE INTO attempts ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
            );
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
