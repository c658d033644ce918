//! Delivery intents: before a message's data goes to the local server, the worker writes an
//! intent naming the delivery (mailbox key, UID, the message's digest and the recipients) and
//! its delivery id. The message carries the id in `X-Mailpull-Delivery-Id`. When the worker
//! dies between the local server's 250 and the record (or the reply after the final dot never
//! comes), the next attempt finds the intent and sends the message again under the same id,
//! so the receiving side can drop the copy (Sieve `duplicate`). The record of the delivery
//! removes its intents; intents of UIDs the server no longer lists go with the poll's clean-up
//! (`queries`).
//!
//! An intent is committed without fsync: a write survives the process being killed, and
//! after a power loss the worst case is the behaviour without intents (a new id).

use rusqlite::{Connection, OptionalExtension, params};

use super::types::MailboxKey;

/// One delivery about to be attempted.
#[derive(Debug, Clone)]
pub struct Intent {
    pub key: MailboxKey,
    /// The profile that delivers: on the shared state its lease is checked in the intent's
    /// transaction (a worker that lost the profile sends nothing more).
    pub profile: String,
    pub uid: String,
    /// SHA-256 of the message as fetched: another message under the same UID is another
    /// delivery, with another id.
    pub digest: String,
    /// RCPT TO of this attempt (a multi-drop message can be sent in several parts).
    pub recipients: Vec<String>,
}

/// The delivery id of an intent, and how many attempts it has seen (1: the first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intended {
    pub delivery_id: String,
    pub attempts: u32,
}

/// A fresh delivery id: this installation's id and 128 random bits.
fn new_delivery_id(installation_id: &str) -> String {
    format!(
        "{installation_id}.{:016x}{:016x}",
        fastrand::u64(..),
        fastrand::u64(..)
    )
}

/// Writes the intents in one transaction, on the writer thread (`now`: Unix seconds); the
/// ids in their order. ([`super::Store::intend`] hands them over.)
pub(super) fn commit_intents<'a>(
    conn: &mut Connection,
    now: i64,
    intents: impl Iterator<Item = &'a Intent>,
) -> Result<Vec<Intended>, rusqlite::Error> {
    let tx = conn.transaction()?;
    let installation_id: String = tx
        .query_row(super::schema::SELECT_INSTALLATION_ID, [], |row| row.get(0))
        .optional()?
        .unwrap_or_default();
    let mut out = Vec::new();
    {
        let mut find = tx.prepare_cached(
            "SELECT delivery_id, digest, attempts FROM intents
             WHERE account = ?1 AND folder = ?2 AND uidvalidity = ?3 AND uid = ?4 AND recipients = ?5",
        )?;
        let mut again = tx.prepare_cached(
            "UPDATE intents SET attempts = ?6
             WHERE account = ?1 AND folder = ?2 AND uidvalidity = ?3 AND uid = ?4 AND recipients = ?5",
        )?;
        let mut insert = tx.prepare_cached(
            "INSERT OR REPLACE INTO intents
             (account, folder, uidvalidity, uid, recipients, digest, delivery_id, attempts, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8)",
        )?;
        for intent in intents {
            let key = &intent.key;
            let recipients = intent.recipients.join(",");
            let earlier = find
                .query_row(
                    params![
                        key.account,
                        key.folder,
                        key.uidvalidity,
                        intent.uid,
                        recipients
                    ],
                    |row| {
                        Ok((
                            row.get::<_, String>(0)?,
                            row.get::<_, String>(1)?,
                            row.get::<_, u32>(2)?,
                        ))
                    },
                )
                .optional()?;
            let intended = match earlier {
                Some((delivery_id, digest, attempts)) if digest == intent.digest => {
                    let attempts = attempts.saturating_add(1);
                    again.execute(params![
                        key.account,
                        key.folder,
                        key.uidvalidity,
                        intent.uid,
                        recipients,
                        attempts
                    ])?;
                    Intended {
                        delivery_id,
                        attempts,
                    }
                }
                _ => {
                    let delivery_id = new_delivery_id(&installation_id);
                    insert.execute(params![
                        key.account,
                        key.folder,
                        key.uidvalidity,
                        intent.uid,
                        recipients,
                        intent.digest,
                        delivery_id,
                        now
                    ])?;
                    Intended {
                        delivery_id,
                        attempts: 1,
                    }
                }
            };
            out.push(intended);
        }
    }
    tx.commit()?;
    Ok(out)
}
