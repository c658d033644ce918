//! Delivery records, delivery intents and the multi-drop `sent` rows in PostgreSQL, and the
//! reads of what is known of a mailbox: the same rules as the SQLite store's `writer`,
//! `intents` and `queries` (a record removes the delivery's intents in its transaction; an
//! intent for the same message and recipients keeps its delivery id).

use std::collections::HashMap;

use tokio_postgres::Transaction;

use super::{PgStore, now_secs, pg_err};
use crate::state::error::StateError;
use crate::state::intents::{Intended, Intent};
use crate::state::schema::SENT_RETENTION_DAYS;
use crate::state::types::{CopyKey, Known, MailboxKey, Record};

impl PgStore {
    /// Commits a delivery record (and its `sent` rows), removing the delivery's intents, in one
    /// transaction; durable in the database when this returns `Ok`.
    pub(crate) async fn record(&self, record: Record) -> Result<(), StateError> {
        let generation = self.fence(&record.profile)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_err)?;
        if let Some(generation) = generation {
            // Fencing: a worker whose lease lapsed or was taken records nothing (and so
            // deletes nothing remotely); the lease row stays locked until the commit.
            self.check_lease(&tx, &record.profile, generation).await?;
        }
        let key = &record.key;
        let uidvalidity = i64::from(key.uidvalidity);
        let now = now_secs();
        tx.execute(
            "INSERT INTO delivered
             (account, folder, uidvalidity, uid, profile, size, digest, message_id, recipients, delivered_at, deleted, remote_size,
              sender, subject, reply)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, FALSE, $11, $12, $13, $14)
             ON CONFLICT (account, folder, uidvalidity, uid) DO UPDATE SET
               profile = excluded.profile, size = excluded.size, digest = excluded.digest,
               message_id = excluded.message_id, recipients = excluded.recipients,
               delivered_at = excluded.delivered_at, deleted = FALSE, remote_size = excluded.remote_size,
               sender = excluded.sender, subject = excluded.subject, reply = excluded.reply",
            &[
                &key.account,
                &key.folder,
                &uidvalidity,
                &record.uid,
                &record.profile,
                &(record.size as i64),
                &record.digest,
                &record.message_id,
                &record.recipients.join(","),
                &now,
                &record.remote_size.map(|size| size as i64),
                &record.shown.from,
                &record.shown.subject,
                &record.shown.reply,
            ],
        )
        .await
        .map_err(pg_err)?;
        // What the History page lists outlives the record (schema version 3); a message
        // recognised as already delivered (no recipients) is no delivery.
        if !record.recipients.is_empty() {
            tx.execute(
                "INSERT INTO history
                 (profile, delivered_at, size, sender, subject, recipients, reply, account, folder, uid)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                &[
                    &record.profile,
                    &now,
                    &(record.size as i64),
                    &record.shown.from,
                    &record.shown.subject,
                    &record.recipients.join(","),
                    &record.shown.reply,
                    &key.account,
                    &key.folder,
                    &record.uid,
                ],
            )
            .await
            .map_err(pg_err)?;
        }
        tx.execute(
            "DELETE FROM intents WHERE account = $1 AND folder = $2 AND uidvalidity = $3 AND uid = $4",
            &[&key.account, &key.folder, &uidvalidity, &record.uid],
        )
        .await
        .map_err(pg_err)?;
        if let Some(copy) = &record.dedupe_key {
            insert_sent(&tx, copy, &record.profile, &record.recipients).await?;
        }
        tx.commit().await.map_err(pg_err)
    }

    /// Remembers that `recipients` received the message known as `copy` (multi-drop).
    pub(crate) async fn record_sent(
        &self,
        copy: &CopyKey,
        profile: &str,
        recipients: &[String],
    ) -> Result<(), StateError> {
        let generation = self.fence(profile)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_err)?;
        if let Some(generation) = generation {
            self.check_lease(&tx, profile, generation).await?;
        }
        insert_sent(&tx, copy, profile, recipients).await?;
        tx.commit().await.map_err(pg_err)
    }

    /// Writes (or finds) the intent and returns its delivery id. The row is locked while it is
    /// read and updated, so two workers never give one delivery two ids. Fenced like a record:
    /// a worker whose lease lapsed or was taken writes no intent, and so sends nothing more
    /// (else it could send, under a new id, a message that the new holder delivered and
    /// recorded since: a copy under another id, which the receiving side cannot drop).
    pub(crate) async fn intend(&self, intent: Intent) -> Result<Intended, StateError> {
        let generation = self.fence(&intent.profile)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_err)?;
        if let Some(generation) = generation {
            self.check_lease(&tx, &intent.profile, generation).await?;
        }
        let key = &intent.key;
        let uidvalidity = i64::from(key.uidvalidity);
        let recipients = intent.recipients.join(",");
        let earlier = tx
            .query_opt(
                "SELECT delivery_id, digest, attempts FROM intents
                 WHERE account = $1 AND folder = $2 AND uidvalidity = $3 AND uid = $4 AND recipients = $5
                 FOR UPDATE",
                &[&key.account, &key.folder, &uidvalidity, &intent.uid, &recipients],
            )
            .await
            .map_err(pg_err)?;
        let intended = match earlier {
            Some(row) if row.get::<_, String>(1) == intent.digest => {
                let attempts = u32::try_from(row.get::<_, i64>(2))
                    .unwrap_or(u32::MAX)
                    .saturating_add(1);
                tx.execute(
                    "UPDATE intents SET attempts = $6
                     WHERE account = $1 AND folder = $2 AND uidvalidity = $3 AND uid = $4 AND recipients = $5",
                    &[
                        &key.account,
                        &key.folder,
                        &uidvalidity,
                        &intent.uid,
                        &recipients,
                        &i64::from(attempts),
                    ],
                )
                .await
                .map_err(pg_err)?;
                Intended {
                    delivery_id: row.get(0),
                    attempts,
                }
            }
            _ => {
                let delivery_id = format!(
                    "{}.{:016x}{:016x}",
                    self.installation_id,
                    fastrand::u64(..),
                    fastrand::u64(..)
                );
                tx.execute(
                    "INSERT INTO intents
                     (account, folder, uidvalidity, uid, recipients, digest, delivery_id, attempts, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8)
                     ON CONFLICT (account, folder, uidvalidity, uid, recipients) DO UPDATE SET
                       digest = excluded.digest, delivery_id = excluded.delivery_id,
                       attempts = 1, created_at = excluded.created_at",
                    &[
                        &key.account,
                        &key.folder,
                        &uidvalidity,
                        &intent.uid,
                        &recipients,
                        &intent.digest,
                        &delivery_id,
                        &now_secs(),
                    ],
                )
                .await
                .map_err(pg_err)?;
                Intended {
                    delivery_id,
                    attempts: 1,
                }
            }
        };
        tx.commit().await.map_err(pg_err)?;
        Ok(intended)
    }

    /// The UIDs recorded for a mailbox.
    pub(crate) async fn known(
        &self,
        key: &MailboxKey,
    ) -> Result<HashMap<String, Known>, StateError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT uid, deleted, delivered_at, remote_size, digest FROM delivered
                 WHERE account = $1 AND folder = $2 AND uidvalidity = $3",
                &[&key.account, &key.folder, &i64::from(key.uidvalidity)],
            )
            .await
            .map_err(pg_err)?;
        Ok(rows
            .into_iter()
            .map(|row| {
                (
                    row.get(0),
                    Known {
                        deleted: row.get(1),
                        delivered_at: row.get(2),
                        remote_size: row.get::<_, Option<i64>>(3).map(|n| n as u64),
                        digest: row.get(4),
                    },
                )
            })
            .collect())
    }

    /// Whether a message with this digest was already delivered from this account.
    pub(crate) async fn digest_known(
        &self,
        account: &str,
        digest: &str,
    ) -> Result<bool, StateError> {
        let client = self.client().await?;
        client
            .query_opt(
                "SELECT 1 FROM delivered WHERE account = $1 AND digest = $2 LIMIT 1",
                &[&account, &digest],
            )
            .await
            .map(|row| row.is_some())
            .map_err(pg_err)
    }

    /// Of `recipients`, those that received a copy of `copy` from `profile` lately.
    pub(crate) async fn already_sent(
        &self,
        profile: &str,
        copy: &CopyKey,
        recipients: &[String],
    ) -> Result<Vec<String>, StateError> {
        let client = self.client().await?;
        let since = now_secs() - SENT_RETENTION_DAYS * 86_400;
        let rows = client
            .query(
                "SELECT recipient FROM sent WHERE profile = $1 AND message_id = $2 AND content = $3
                 AND recipient = ANY($4) AND sent_at >= $5",
                &[
                    &profile,
                    &copy.message_id,
                    &copy.content,
                    &recipients,
                    &since,
                ],
            )
            .await
            .map_err(pg_err)?;
        let found: Vec<String> = rows.into_iter().map(|row| row.get(0)).collect();
        // In the order asked, like the SQLite store.
        Ok(recipients
            .iter()
            .filter(|recipient| found.contains(recipient))
            .cloned()
            .collect())
    }
}

/// The `sent` rows of one delivery; a copy seen again starts its retention period afresh.
async fn insert_sent(
    tx: &Transaction<'_>,
    copy: &CopyKey,
    profile: &str,
    recipients: &[String],
) -> Result<(), StateError> {
    let now = now_secs();
    for recipient in recipients {
        tx.execute(
            "INSERT INTO sent (profile, message_id, content, recipient, sent_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (profile, message_id, content, recipient) DO UPDATE SET sent_at = excluded.sent_at",
            &[&profile, &copy.message_id, &copy.content, recipient, &now],
        )
        .await
        .map_err(pg_err)?;
    }
    Ok(())
}
