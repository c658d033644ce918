//! The queries of [`Store`] other than recording a delivery: what is known of a mailbox's
//! UIDs and digests, the multi-drop `sent` table, confirmed deletions and their clean-up, the
//! write that opens every poll, and counts. Reads run on a reader connection
//! (`Store::read`); writes on the writer thread, after any record waiting, the bookkeeping
//! ones without fsync (`Store::run_bookkeeping`). (Recording multi-drop recipients is a record:
//! `Store::record_sent`.)

use std::collections::{HashMap, HashSet};

use rusqlite::{OptionalExtension, params};

use super::error::{StateError, file_system_problem};
use super::schema::{HISTORY_MAX_ROWS, HISTORY_RETENTION_DAYS, SENT_RETENTION_DAYS};
use super::store::Store;
use super::types::{CopyKey, Known, MailboxKey};
use super::writer::now_secs;

impl Store {
    /// The UIDs recorded for a mailbox, with what tells the recorded message apart from another
    /// one under the same UID.
    pub async fn known(&self, key: &MailboxKey) -> Result<HashMap<String, Known>, StateError> {
        if let Some(pg) = &self.shared {
            return pg.known(key).await;
        }
        let key = key.clone();
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT uid, deleted, delivered_at, remote_size, digest FROM delivered WHERE account = ?1 AND folder = ?2 AND uidvalidity = ?3",
                )
                .map_err(StateError::Read)?;
            let rows = stmt
                .query_map(params![key.account, key.folder, key.uidvalidity], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        Known {
                            deleted: row.get(1)?,
                            delivered_at: row.get(2)?,
                            remote_size: row.get::<_, Option<i64>>(3)?.map(|n| n as u64),
                            digest: row.get(4)?,
                        },
                    ))
                })
                .map_err(StateError::Read)?;
            rows.collect::<Result<HashMap<_, _>, _>>()
                .map_err(StateError::Read)
        })
        .await
    }

    /// Whether a message with this digest was already delivered from this account.
    pub async fn digest_known(&self, account: &str, digest: &str) -> Result<bool, StateError> {
        if let Some(pg) = &self.shared {
            return pg.digest_known(account, digest).await;
        }
        let (account, digest) = (account.to_string(), digest.to_string());
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT 1 FROM delivered WHERE account = ?1 AND digest = ?2 LIMIT 1",
            )
            .and_then(|mut stmt| {
                stmt.query_row(params![account, digest], |_| Ok(()))
                    .optional()
            })
            .map(|found| found.is_some())
            .map_err(StateError::Read)
        })
        .await
    }

    /// Of `recipients`, those that already received a copy of the message `key` from
    /// `profile` within the last [`SENT_RETENTION_DAYS`].
    pub async fn already_sent(
        &self,
        profile: &str,
        key: &CopyKey,
        recipients: &[String],
    ) -> Result<Vec<String>, StateError> {
        if let Some(pg) = &self.shared {
            return pg.already_sent(profile, key, recipients).await;
        }
        let (profile, key, recipients) = (profile.to_string(), key.clone(), recipients.to_vec());
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT 1 FROM sent WHERE profile = ?1 AND message_id = ?2 AND content = ?3 AND recipient = ?4 AND sent_at >= ?5",
                )
                .map_err(StateError::Read)?;
            let since = now_secs() - SENT_RETENTION_DAYS * 86_400;
            let mut found = Vec::new();
            for recipient in recipients {
                if stmt
                    .exists(params![profile, key.message_id, key.content, recipient, since])
                    .map_err(StateError::Read)?
                {
                    found.push(recipient);
                }
            }
            Ok(found)
        })
        .await
    }

    /// Notes that the server confirmed the deletion of these UIDs.
    pub async fn mark_deleted(
        &self,
        key: &MailboxKey,
        uids: Vec<String>,
    ) -> Result<(), StateError> {
        if let Some(pg) = &self.shared {
            return pg.mark_deleted(key, uids).await;
        }
        if uids.is_empty() {
            return Ok(());
        }
        let key = key.clone();
        self.run_bookkeeping(move |conn| {
            let tx = conn.transaction().map_err(StateError::Write)?;
            {
                let mut stmt = tx
                    .prepare_cached(
                        "UPDATE delivered SET deleted = 1 WHERE account = ?1 AND folder = ?2 AND uidvalidity = ?3 AND uid = ?4",
                    )
                    .map_err(StateError::Write)?;
                for uid in &uids {
                    stmt.execute(params![key.account, key.folder, key.uidvalidity, uid])
                        .map_err(StateError::Write)?;
                }
            }
            tx.commit().map_err(StateError::Write)
        })
        .await
    }

    /// Drops the rows of deleted messages that the server no longer lists, and the delivery
    /// intents of UIDs it no longer lists, so the database does not grow without end and a
    /// UID the server reuses is not taken for the delivered message. Rows of kept messages
    /// stay; so does every delivery's `history` row (the History page).
    pub async fn forget_deleted_missing(
        &self,
        key: &MailboxKey,
        present: HashSet<String>,
    ) -> Result<usize, StateError> {
        if let Some(pg) = &self.shared {
            return pg.forget_deleted_missing(key, present).await;
        }
        let key = key.clone();
        self.run_bookkeeping(move |conn| {
            let gone: Vec<String> = {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT uid FROM delivered WHERE account = ?1 AND folder = ?2 AND uidvalidity = ?3 AND deleted = 1",
                    )
                    .map_err(StateError::Read)?;
                let rows = stmt
                    .query_map(params![key.account, key.folder, key.uidvalidity], |row| row.get::<_, String>(0))
                    .map_err(StateError::Read)?;
                rows.filter_map(Result::ok)
                    .filter(|uid| !present.contains(uid))
                    .collect()
            };
            let tx = conn.transaction().map_err(StateError::Write)?;
            {
                let mut stmt = tx
                    .prepare_cached(
                        "DELETE FROM delivered WHERE account = ?1 AND folder = ?2 AND uidvalidity = ?3 AND uid = ?4",
                    )
                    .map_err(StateError::Write)?;
                for uid in &gone {
                    stmt.execute(params![key.account, key.folder, key.uidvalidity, uid])
                        .map_err(StateError::Write)?;
                }
            }
            forget_missing_intents(&tx, &key, &present).map_err(StateError::Write)?;
            tx.commit().map_err(StateError::Write)?;
            Ok(gone.len())
        })
        .await
    }

    /// A write at the start of each poll: when the disk is full or the database read-only,
    /// the poll stops here, before anything is fetched or delivered. The file system is asked
    /// first: SQLite may still fit a small write into WAL pages it reuses, and the poll would
    /// then deliver a message whose record no longer fits (a duplicate on the next poll).
    pub async fn begin_poll(&self, profile: &str) -> Result<(), StateError> {
        if let Some(pg) = &self.shared {
            return pg.begin_poll(profile).await;
        }
        if let Some(cause) = self.path().parent().and_then(file_system_problem) {
            return Err(StateError::Unwritable { cause });
        }
        let profile = profile.to_string();
        self.run_bookkeeping(move |conn| {
            let tx = conn.transaction().map_err(StateError::Write)?;
            tx.execute(
                "INSERT INTO polls (profile, started_at) VALUES (?1, ?2)
                 ON CONFLICT(profile) DO UPDATE SET started_at = excluded.started_at",
                params![profile, now_secs()],
            )
            .map_err(StateError::Write)?;
            // Multi-drop deliveries older than the retention period are forgotten.
            tx.execute(
                "DELETE FROM sent WHERE sent_at < ?1",
                params![now_secs() - SENT_RETENTION_DAYS * 86_400],
            )
            .map_err(StateError::Write)?;
            // The History page's rows older than the retention or beyond the count are
            // forgotten.
            tx.execute(
                "DELETE FROM history WHERE delivered_at < ?1",
                params![now_secs() - HISTORY_RETENTION_DAYS * 86_400],
            )
            .map_err(StateError::Write)?;
            tx.execute(
                "DELETE FROM history WHERE profile = ?1 AND delivered_at <
                 (SELECT delivered_at FROM history WHERE profile = ?1
                  ORDER BY delivered_at DESC LIMIT 1 OFFSET ?2)",
                params![profile, HISTORY_MAX_ROWS - 1],
            )
            .map_err(StateError::Write)?;
            tx.commit().map_err(StateError::Write)
        })
        .await
    }

    /// Number of delivered messages recorded for a profile.
    pub async fn delivered_count(&self, profile: &str) -> Result<u64, StateError> {
        if let Some(pg) = &self.shared {
            return pg.delivered_count(profile).await;
        }
        let profile = profile.to_string();
        self.read(move |conn| {
            conn.query_row(
                "SELECT COUNT(*) FROM delivered WHERE profile = ?1",
                params![profile],
                |row| row.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(StateError::Read)
        })
        .await
    }
}

/// Drops the delivery intents of `key` whose UID the server no longer lists.
fn forget_missing_intents(
    tx: &rusqlite::Transaction<'_>,
    key: &MailboxKey,
    present: &HashSet<String>,
) -> Result<(), rusqlite::Error> {
    let uids: Vec<String> = {
        let mut stmt = tx.prepare_cached(
            "SELECT DISTINCT uid FROM intents WHERE account = ?1 AND folder = ?2 AND uidvalidity = ?3",
        )?;
        let rows = stmt.query_map(params![key.account, key.folder, key.uidvalidity], |row| {
            row.get::<_, String>(0)
        })?;
        rows.collect::<Result<Vec<_>, _>>()?
    };
    let mut delete = tx.prepare_cached(
        "DELETE FROM intents WHERE account = ?1 AND folder = ?2 AND uidvalidity = ?3 AND uid = ?4",
    )?;
    for uid in uids.iter().filter(|uid| !present.contains(*uid)) {
        delete.execute(params![key.account, key.folder, key.uidvalidity, uid])?;
    }
    Ok(())
}
