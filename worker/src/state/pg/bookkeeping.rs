//! The shared state's bookkeeping in PostgreSQL, as the SQLite store's `queries`,
//! `mailboxes` and `attempts` do it: confirmed deletions and the poll's clean-up, the write
//! that opens a poll, counts, which mailbox each profile polls (and moving its records), and
//! the attempts and held messages.

use std::collections::{HashMap, HashSet};

use tokio_postgres::Row;

use super::{PgStore, now_secs, pg_err};
use crate::state::error::StateError;
use crate::state::schema::{HISTORY_MAX_ROWS, HISTORY_RETENTION_DAYS, SENT_RETENTION_DAYS};
use crate::state::types::{Attempt, HeldAction, MailboxKey, Summary};

const COLUMNS: &str = "account, folder, uidvalidity, uid, profile, attempts, first_at, last_at, next_at, reason, held, action, sender, subject, message_date, size";

fn attempt_of(row: &Row) -> Attempt {
    Attempt {
        key: MailboxKey {
            account: row.get(0),
            folder: row.get(1),
            uidvalidity: u32::try_from(row.get::<_, i64>(2)).unwrap_or_default(),
        },
        uid: row.get(3),
        profile: row.get(4),
        attempts: u32::try_from(row.get::<_, i64>(5)).unwrap_or(u32::MAX),
        first_at: row.get(6),
        last_at: row.get(7),
        next_at: row.get(8),
        reason: row.get(9),
        held: row.get(10),
        action: row
            .get::<_, Option<String>>(11)
            .as_deref()
            .and_then(HeldAction::parse),
        summary: row.get::<_, Option<i64>>(15).map(|size| Summary {
            from: row.get::<_, Option<String>>(12).unwrap_or_default(),
            subject: row.get::<_, Option<String>>(13).unwrap_or_default(),
            date: row.get(14),
            size: size.max(0) as u64,
        }),
    }
}

/// The three columns of a mailbox key as parameters.
fn key_params(key: &MailboxKey) -> (String, String, i64) {
    (
        key.account.clone(),
        key.folder.clone(),
        i64::from(key.uidvalidity),
    )
}

impl PgStore {
    /// Notes that the server confirmed the deletion of these UIDs.
    pub(crate) async fn mark_deleted(
        &self,
        key: &MailboxKey,
        uids: Vec<String>,
    ) -> Result<(), StateError> {
        if uids.is_empty() {
            return Ok(());
        }
        let (account, folder, uidvalidity) = key_params(key);
        let client = self.client().await?;
        client
            .execute(
                "UPDATE delivered SET deleted = TRUE
                 WHERE account = $1 AND folder = $2 AND uidvalidity = $3 AND uid = ANY($4)",
                &[&account, &folder, &uidvalidity, &uids],
            )
            .await
            .map(drop)
            .map_err(pg_err)
    }

    /// Drops the rows of deleted messages the server no longer lists, and the intents of UIDs
    /// it no longer lists; the number of rows dropped.
    pub(crate) async fn forget_deleted_missing(
        &self,
        key: &MailboxKey,
        present: HashSet<String>,
    ) -> Result<usize, StateError> {
        let (account, folder, uidvalidity) = key_params(key);
        let present: Vec<String> = present.into_iter().collect();
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_err)?;
        let gone = tx
            .execute(
                "DELETE FROM delivered WHERE account = $1 AND folder = $2 AND uidvalidity = $3
                 AND deleted AND NOT (uid = ANY($4))",
                &[&account, &folder, &uidvalidity, &present],
            )
            .await
            .map_err(pg_err)?;
        tx.execute(
            "DELETE FROM intents WHERE account = $1 AND folder = $2 AND uidvalidity = $3
             AND NOT (uid = ANY($4))",
            &[&account, &folder, &uidvalidity, &present],
        )
        .await
        .map_err(pg_err)?;
        tx.commit().await.map_err(pg_err)?;
        Ok(gone as usize)
    }

    /// The write that opens every poll: the database takes writes, or the poll stops here.
    pub(crate) async fn begin_poll(&self, profile: &str) -> Result<(), StateError> {
        let generation = self.fence(profile)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_err)?;
        if let Some(generation) = generation {
            // A poll starts only under a live lease of this worker.
            self.check_lease(&tx, profile, generation).await?;
        }
        tx.execute(
            "INSERT INTO polls (profile, started_at) VALUES ($1, $2)
             ON CONFLICT (profile) DO UPDATE SET started_at = excluded.started_at",
            &[&profile, &now_secs()],
        )
        .await
        .map_err(pg_err)?;
        tx.execute(
            "DELETE FROM sent WHERE sent_at < $1",
            &[&(now_secs() - SENT_RETENTION_DAYS * 86_400)],
        )
        .await
        .map_err(pg_err)?;
        // The History page's rows older than the retention or beyond the count are forgotten.
        tx.execute(
            "DELETE FROM history WHERE delivered_at < $1",
            &[&(now_secs() - HISTORY_RETENTION_DAYS * 86_400)],
        )
        .await
        .map_err(pg_err)?;
        tx.execute(
            "DELETE FROM history WHERE profile = $1 AND delivered_at <
             (SELECT delivered_at FROM history WHERE profile = $1
              ORDER BY delivered_at DESC LIMIT 1 OFFSET $2)",
            &[&profile, &(HISTORY_MAX_ROWS - 1)],
        )
        .await
        .map_err(pg_err)?;
        tx.commit().await.map_err(pg_err)
    }

    /// Number of delivered messages recorded for a profile.
    pub(crate) async fn delivered_count(&self, profile: &str) -> Result<u64, StateError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT COUNT(*) FROM delivered WHERE profile = $1",
                &[&profile],
            )
            .await
            .map_err(pg_err)?;
        Ok(row.get::<_, i64>(0).max(0) as u64)
    }

    /// The mailbox `profile` polled last.
    pub(crate) async fn mailbox_of(&self, profile: &str) -> Result<Option<String>, StateError> {
        let client = self.client().await?;
        client
            .query_opt(
                "SELECT account FROM profile_mailboxes WHERE profile = $1",
                &[&profile],
            )
            .await
            .map(|row| row.map(|row| row.get(0)))
            .map_err(pg_err)
    }

    /// Whether any record is kept under `account`.
    pub(crate) async fn has_records(&self, account: &str) -> Result<bool, StateError> {
        let client = self.client().await?;
        client
            .query_opt(
                "SELECT 1 FROM delivered WHERE account = $1 LIMIT 1",
                &[&account],
            )
            .await
            .map(|row| row.is_some())
            .map_err(pg_err)
    }

    /// Whether a profile other than `profile` polls `account`.
    pub(crate) async fn polled_by_another(
        &self,
        account: &str,
        profile: &str,
    ) -> Result<bool, StateError> {
        let client = self.client().await?;
        client
            .query_opt(
                "SELECT 1 FROM profile_mailboxes WHERE account = $1 AND profile <> $2 LIMIT 1",
                &[&account, &profile],
            )
            .await
            .map(|row| row.is_some())
            .map_err(pg_err)
    }

    /// Notes that `profile` polls `account`.
    pub(crate) async fn set_mailbox(&self, profile: &str, account: &str) -> Result<(), StateError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO profile_mailboxes (profile, account) VALUES ($1, $2)
                 ON CONFLICT (profile) DO UPDATE SET account = excluded.account",
                &[&profile, &account],
            )
            .await
            .map(drop)
            .map_err(pg_err)
    }

    /// Moves every record, intent and attempt of mailbox `from` to `to` (rows `to` already has
    /// win) and notes that `profile` polls `to`, in one transaction; the records moved.
    pub(crate) async fn move_mailbox(
        &self,
        profile: &str,
        from: &str,
        to: &str,
    ) -> Result<usize, StateError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_err)?;
        let moved = tx
            .execute(
                "UPDATE delivered d SET account = $2 WHERE d.account = $1 AND NOT EXISTS
                 (SELECT 1 FROM delivered o WHERE o.account = $2 AND o.folder = d.folder
                  AND o.uidvalidity = d.uidvalidity AND o.uid = d.uid)",
                &[&from, &to],
            )
            .await
            .map_err(pg_err)?;
        let moves = [
            "DELETE FROM delivered WHERE account = $1",
            "UPDATE intents d SET account = $2 WHERE d.account = $1 AND NOT EXISTS
             (SELECT 1 FROM intents o WHERE o.account = $2 AND o.folder = d.folder
              AND o.uidvalidity = d.uidvalidity AND o.uid = d.uid AND o.recipients = d.recipients)",
            "DELETE FROM intents WHERE account = $1",
            "UPDATE attempts d SET account = $2 WHERE d.account = $1 AND NOT EXISTS
             (SELECT 1 FROM attempts o WHERE o.account = $2 AND o.folder = d.folder
              AND o.uidvalidity = d.uidvalidity AND o.uid = d.uid)",
            "DELETE FROM attempts WHERE account = $1",
        ];
        for sql in moves {
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&from, &to];
            let used = if sql.contains("$2") {
                &params[..]
            } else {
                &params[..1]
            };
            tx.execute(sql, used).await.map_err(pg_err)?;
        }
        tx.execute(
            "INSERT INTO profile_mailboxes (profile, account) VALUES ($1, $2)
             ON CONFLICT (profile) DO UPDATE SET account = excluded.account",
            &[&profile, &to],
        )
        .await
        .map_err(pg_err)?;
        tx.commit().await.map_err(pg_err)?;
        Ok(moved as usize)
    }

    /// The attempts of a mailbox's messages, by UID.
    pub(crate) async fn attempts(
        &self,
        key: &MailboxKey,
    ) -> Result<HashMap<String, Attempt>, StateError> {
        let (account, folder, uidvalidity) = key_params(key);
        let client = self.client().await?;
        let sql = format!(
            "SELECT {COLUMNS} FROM attempts WHERE account = $1 AND folder = $2 AND uidvalidity = $3"
        );
        let rows = client
            .query(&sql, &[&account, &folder, &uidvalidity])
            .await
            .map_err(pg_err)?;
        Ok(rows
            .iter()
            .map(attempt_of)
            .map(|attempt| (attempt.uid.clone(), attempt))
            .collect())
    }

    /// How many messages each profile has held (profiles with none left out).
    pub(crate) async fn held_counts(&self) -> Result<Vec<(String, u64)>, StateError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT profile, count(*) FROM attempts WHERE held GROUP BY profile ORDER BY profile",
                &[],
            )
            .await
            .map_err(pg_err)?;
        Ok(rows
            .iter()
            .map(|row| (row.get(0), row.get::<_, i64>(1).max(0) as u64))
            .collect())
    }

    /// The held messages, of one profile or of all, oldest first.
    pub(crate) async fn held(&self, profile: Option<String>) -> Result<Vec<Attempt>, StateError> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {COLUMNS} FROM attempts WHERE held AND ($1::TEXT IS NULL OR profile = $1)
             ORDER BY profile, first_at, uid"
        );
        let rows = client.query(&sql, &[&profile]).await.map_err(pg_err)?;
        Ok(rows.iter().map(attempt_of).collect())
    }

    /// Writes (inserts or replaces) the row of a failed attempt.
    pub(crate) async fn put_attempt(&self, attempt: Attempt) -> Result<(), StateError> {
        let (account, folder, uidvalidity) = key_params(&attempt.key);
        let client = self.client().await?;
        let sql = format!(
            "INSERT INTO attempts ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
             ON CONFLICT (account, folder, uidvalidity, uid) DO UPDATE SET
               profile = excluded.profile, attempts = excluded.attempts, first_at = excluded.first_at,
               last_at = excluded.last_at, next_at = excluded.next_at, reason = excluded.reason,
               held = excluded.held, action = excluded.action, sender = excluded.sender,
               subject = excluded.subject, message_date = excluded.message_date, size = excluded.size"
        );
        let (sender, subject, date, size) = Summary::columns(attempt.summary.as_ref());
        client
            .execute(
                &sql,
                &[
                    &account,
                    &folder,
                    &uidvalidity,
                    &attempt.uid,
                    &attempt.profile,
                    &i64::from(attempt.attempts),
                    &attempt.first_at,
                    &attempt.last_at,
                    &attempt.next_at,
                    &attempt.reason,
                    &attempt.held,
                    &attempt.action.map(HeldAction::as_str),
                    &sender,
                    &subject,
                    &date,
                    &size,
                ],
            )
            .await
            .map(drop)
            .map_err(pg_err)
    }

    /// Forgets the attempts of a message.
    pub(crate) async fn clear_attempt(
        &self,
        key: &MailboxKey,
        uid: &str,
    ) -> Result<(), StateError> {
        let (account, folder, uidvalidity) = key_params(key);
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM attempts WHERE account = $1 AND folder = $2 AND uidvalidity = $3 AND uid = $4",
                &[&account, &folder, &uidvalidity, &uid],
            )
            .await
            .map(drop)
            .map_err(pg_err)
    }

    /// Asks for `action` on a held message (`None`: retry now); false when none is held.
    pub(crate) async fn ask_held(
        &self,
        message: (&str, &str, u32, &str),
        action: Option<HeldAction>,
    ) -> Result<bool, StateError> {
        let (profile, folder, uidvalidity, uid) = message;
        let uidvalidity = i64::from(uidvalidity);
        let client = self.client().await?;
        let changed = match action {
            None => {
                client
                    .execute(
                        "DELETE FROM attempts WHERE profile = $1 AND folder = $2 AND uidvalidity = $3 AND uid = $4 AND held",
                        &[&profile, &folder, &uidvalidity, &uid],
                    )
                    .await
            }
            Some(action) => {
                client
                    .execute(
                        "UPDATE attempts SET action = $5 WHERE profile = $1 AND folder = $2 AND uidvalidity = $3 AND uid = $4 AND held",
                        &[&profile, &folder, &uidvalidity, &uid, &action.as_str()],
                    )
                    .await
            }
        }
        .map_err(pg_err)?;
        Ok(changed > 0)
    }

    /// Forgets the attempts of the mailbox's UIDs the server no longer lists.
    pub(crate) async fn forget_attempts_missing(
        &self,
        key: &MailboxKey,
        present: HashSet<String>,
    ) -> Result<(), StateError> {
        let (account, folder, uidvalidity) = key_params(key);
        let present: Vec<String> = present.into_iter().collect();
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM attempts WHERE account = $1 AND folder = $2 AND uidvalidity = $3
                 AND NOT (uid = ANY($4))",
                &[&account, &folder, &uidvalidity, &present],
            )
            .await
            .map(drop)
            .map_err(pg_err)
    }
}
