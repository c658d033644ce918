//! The writer thread: it owns the one connection and runs the jobs the [`super::Store`]
//! handles send, in order. Consecutive records are committed together (group commit: one
//! transaction, so one fsync, for up to [`MAX_BATCH`] records from concurrent polls).

use std::sync::mpsc;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, params};
use tokio::sync::oneshot;

use super::error::StateError;
use super::types::Record;

/// Records committed together at most.
const MAX_BATCH: usize = 256;

pub(super) type Reply<T> = oneshot::Sender<Result<T, StateError>>;
pub(super) type Query = Box<dyn FnOnce(&mut Connection) + Send>;

/// What a handle asks of the writer thread.
pub(super) enum Job {
    /// A delivery to commit (with any that queue up behind it); the reply says when it is
    /// durable.
    Record(Box<Record>, Reply<()>),
    /// Any other query; it sends its own reply.
    Run(Query),
}

/// Now, in Unix seconds (0 if the clock is before 1970).
pub(super) fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// The writer thread: runs queries in order; consecutive records are committed together.
pub(super) fn writer(mut conn: Connection, jobs: mpsc::Receiver<Job>) {
    let mut pending: Option<Job> = None;
    loop {
        let job = match pending.take() {
            Some(job) => job,
            None => match jobs.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
        };
        match job {
            Job::Run(query) => query(&mut conn),
            Job::Record(first, reply) => {
                let mut batch = vec![(first, reply)];
                while batch.len() < MAX_BATCH {
                    match jobs.try_recv() {
                        Ok(Job::Record(record, reply)) => batch.push((record, reply)),
                        Ok(other) => {
                            pending = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                let result =
                    commit_records(&mut conn, batch.iter().map(|(record, _)| record.as_ref()));
                for (_, reply) in batch {
                    let _ = reply.send(match &result {
                        Ok(()) => Ok(()),
                        Err(err) => Err(StateError::Write(clone_sqlite_error(err))),
                    });
                }
            }
        }
    }
}

fn clone_sqlite_error(err: &rusqlite::Error) -> rusqlite::Error {
    match err {
        rusqlite::Error::SqliteFailure(code, message) => {
            rusqlite::Error::SqliteFailure(*code, message.clone())
        }
        other => rusqlite::Error::ToSqlConversionFailure(other.to_string().into()),
    }
}

fn commit_records<'a>(
    conn: &mut Connection,
    records: impl Iterator<Item = &'a Record>,
) -> Result<(), rusqlite::Error> {
    let tx = conn.transaction()?;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT OR REPLACE INTO delivered
             (account, folder, uidvalidity, uid, profile, size, digest, message_id, recipients, delivered_at, deleted, remote_size)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 0, ?11)",
        )?;
        let now = now_secs();
        for record in records {
            stmt.execute(params![
                record.key.account,
                record.key.folder,
                record.key.uidvalidity,
                record.uid,
                record.profile,
                record.size as i64,
                record.digest,
                record.message_id,
                record.recipients.join(","),
                now,
                record.remote_size.map(|size| size as i64),
            ])?;
            if let Some(key) = &record.dedupe_key {
                insert_sent(&tx, key, &record.profile, &record.recipients)?;
            }
        }
    }
    tx.commit()
}

/// Remembers that `recipients` received the message known as `key` (the `sent` table).
pub(super) fn insert_sent(
    tx: &rusqlite::Transaction<'_>,
    key: &str,
    profile: &str,
    recipients: &[String],
) -> Result<(), rusqlite::Error> {
    let mut stmt = tx.prepare_cached(
        "INSERT OR IGNORE INTO sent (dedupe_key, recipient, profile, sent_at) VALUES (?1, ?2, ?3, ?4)",
    )?;
    let now = now_secs();
    for recipient in recipients {
        stmt.execute(params![key, recipient, profile, now])?;
    }
    Ok(())
}
