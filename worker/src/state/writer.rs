//! The writer thread: it owns the one writing connection and runs the jobs the
//! [`super::Store`] handles send. Jobs are taken in three lanes, in this order:
//! 1. records (a delivery, or multi-drop recipients, that the local server accepted): the
//!    ones waiting are committed together (one transaction for up to [`MAX_BATCH`] records
//!    from concurrent polls), before anything queued ahead of them, with
//!    `synchronous=NORMAL`: when the commit returns the WAL frames are in the kernel and
//!    survive a SIGKILL. Their replies go to the syncer thread (`syncer`), which fsyncs the
//!    WAL and only then answers: a record is durable when the poll hears of it, and no fsync
//!    sits between the local server's 250 and the record's write;
//! 2. delivery intents (see `intents`), likewise together, without fsync;
//! 3. every other write, in order. Bookkeeping writes ([`Job::Bookkeeping`]) commit without
//!    fsync (`synchronous=NORMAL`): what a write returned survives a crash of the process,
//!    only a power loss can take it, and then nothing is lost but a note. [`Job::Run`]
//!    commits with fsync (`synchronous=FULL`) before it answers; it is rare (moving a
//!    profile's records to another mailbox name).
//!
//! Reads do not come here: they run on the reader connections (`reader`).

use std::collections::VecDeque;
use std::sync::mpsc;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, params};
use tokio::sync::oneshot;

use super::error::StateError;
use super::intents::{Intended, Intent, commit_intents};
use super::schema::INSERT_HISTORY;
use super::types::{CopyKey, Record};

/// Records committed together at most.
const MAX_BATCH: usize = 256;

pub(super) type Reply<T> = oneshot::Sender<Result<T, StateError>>;
pub(super) type Query = Box<dyn FnOnce(&mut Connection) + Send>;

/// What a handle asks of the writer thread.
pub(super) enum Job {
    /// A delivery to commit, first (with any that queue up beside it); the reply (from the
    /// syncer) says when it is durable.
    Record(Box<Record>, Reply<()>),
    /// Multi-drop: recipients that received the message known as `dedupe_key`; a record, so
    /// committed first like one.
    Sent(Box<SentRow>, Reply<()>),
    /// A delivery intent, before the data is sent; the reply carries its delivery id.
    Intent(Box<Intent>, Reply<Intended>),
    /// A write that must be durable (fsync), in order; it sends its own reply.
    Run(Query),
    /// A write of bookkeeping, in order, committed without fsync.
    Bookkeeping(Query),
}

/// Records written (the writer's commit returned) and waiting for the syncer's fsync.
pub(super) struct Written {
    pub replies: Vec<Reply<()>>,
    /// `(account, uid)` of each delivery record, for the crash window's trace (empty when that
    /// trace is off).
    pub traced: Vec<(String, String)>,
}

/// Rows of the `sent` table: `recipients` received the message known as `dedupe_key`.
pub(super) struct SentRow {
    pub dedupe_key: CopyKey,
    pub profile: String,
    pub recipients: Vec<String>,
}

/// A record of the records lane.
enum Done {
    Delivered(Box<Record>),
    Sent(Box<SentRow>),
}

/// Now, in Unix seconds (0 if the clock is before 1970).
pub(super) fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// The jobs taken from the channel and not yet done, by lane.
#[derive(Default)]
struct Lanes {
    records: VecDeque<(Done, Reply<()>)>,
    intents: VecDeque<(Box<Intent>, Reply<Intended>)>,
    others: VecDeque<(Query, Sync)>,
}

/// How a commit reaches the disk.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Sync {
    /// `synchronous=FULL`: the WAL is fsync'd at commit (power-loss safe).
    Full,
    /// `synchronous=NORMAL`: written at commit, fsync'd at the next checkpoint (crash safe).
    Normal,
}

impl Lanes {
    fn push(&mut self, job: Job) {
        match job {
            Job::Record(record, reply) => self.records.push_back((Done::Delivered(record), reply)),
            Job::Sent(rows, reply) => self.records.push_back((Done::Sent(rows), reply)),
            Job::Intent(intent, reply) => self.intents.push_back((intent, reply)),
            Job::Run(query) => self.others.push_back((query, Sync::Full)),
            Job::Bookkeeping(query) => self.others.push_back((query, Sync::Normal)),
        }
    }

    fn is_empty(&self) -> bool {
        self.records.is_empty() && self.intents.is_empty() && self.others.is_empty()
    }
}

/// The connection and the `synchronous` mode it is in.
struct Writer {
    conn: Connection,
    sync: Option<Sync>,
}

impl Writer {
    /// Puts the connection in `sync` mode for the next commit. Where the pragma fails the
    /// connection stays as it was (FULL when opened), which is only slower.
    fn set_sync(&mut self, sync: Sync) {
        if self.sync == Some(sync) {
            return;
        }
        let value = match sync {
            Sync::Full => "FULL",
            Sync::Normal => "NORMAL",
        };
        match self.conn.pragma_update(None, "synchronous", value) {
            Ok(()) => self.sync = Some(sync),
            Err(err) => {
                tracing::warn!(error = %err, "state database: cannot set synchronous={value}");
                self.sync = None;
            }
        }
    }
}

/// The writer thread: takes every job waiting, then does the first of the first non-empty
/// lane (records and intents as a batch); until every handle is gone. Written records go to
/// the syncer by `written`.
pub(super) fn writer(conn: Connection, jobs: mpsc::Receiver<Job>, written: mpsc::Sender<Written>) {
    let mut writer = Writer { conn, sync: None };
    let mut lanes = Lanes::default();
    loop {
        if lanes.is_empty() {
            match jobs.recv() {
                Ok(job) => lanes.push(job),
                Err(_) => return,
            }
        }
        while let Ok(job) = jobs.try_recv() {
            lanes.push(job);
        }
        if !lanes.records.is_empty() {
            let take = lanes.records.len().min(MAX_BATCH);
            let batch: Vec<_> = lanes.records.drain(..take).collect();
            // No fsync here: the syncer makes the batch durable while this thread goes on.
            writer.set_sync(Sync::Normal);
            trace_records(&batch, "record write begins");
            let result = commit_records(&mut writer.conn, batch.iter().map(|(done, _)| done));
            if result.is_ok() {
                trace_records(&batch, "record written");
                let traced = traced(&batch);
                let replies = batch.into_iter().map(|(_, reply)| reply).collect();
                // The syncer gone: the replies drop with this, and the polls see `Gone`.
                let _ = written.send(Written { replies, traced });
            } else {
                for (_, reply) in batch {
                    let _ = reply.send(shared_result(&result));
                }
            }
        } else if !lanes.intents.is_empty() {
            let take = lanes.intents.len().min(MAX_BATCH);
            let batch: Vec<_> = lanes.intents.drain(..take).collect();
            writer.set_sync(Sync::Normal);
            match commit_intents(
                &mut writer.conn,
                now_secs(),
                batch.iter().map(|(i, _)| i.as_ref()),
            ) {
                Ok(ids) => {
                    for ((_, reply), id) in batch.into_iter().zip(ids) {
                        let _ = reply.send(Ok(id));
                    }
                }
                Err(err) => {
                    for (_, reply) in batch {
                        let _ = reply.send(Err(StateError::Write(clone_sqlite_error(&err))));
                    }
                }
            }
        } else if let Some((query, sync)) = lanes.others.pop_front() {
            writer.set_sync(sync);
            query(&mut writer.conn);
        }
    }
}

/// The crash window's trace (target `mailpull::delivery`, debug; see `dispatch`): one event
/// per delivery record of `batch`.
fn trace_records<T>(batch: &[(Done, T)], what: &str) {
    if !tracing::enabled!(target: "mailpull::delivery", tracing::Level::DEBUG) {
        return;
    }
    for (done, _) in batch {
        if let Done::Delivered(record) = done {
            tracing::debug!(target: "mailpull::delivery", account = %record.key.account,
                uid = %record.uid, "{what}");
        }
    }
}

/// `(account, uid)` of the delivery records of `batch` when the crash window's trace is on.
fn traced<T>(batch: &[(Done, T)]) -> Vec<(String, String)> {
    if !tracing::enabled!(target: "mailpull::delivery", tracing::Level::DEBUG) {
        return Vec::new();
    }
    batch
        .iter()
        .filter_map(|(done, _)| match done {
            Done::Delivered(record) => Some((record.key.account.clone(), record.uid.clone())),
            Done::Sent(_) => None,
        })
        .collect()
}

fn shared_result(result: &Result<(), rusqlite::Error>) -> Result<(), StateError> {
    match result {
        Ok(()) => Ok(()),
        Err(err) => Err(StateError::Write(clone_sqlite_error(err))),
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

/// Commits the records in one transaction; a delivery's intents go with it.
fn commit_records<'a>(
    conn: &mut Connection,
    records: impl Iterator<Item = &'a Done>,
) -> Result<(), rusqlite::Error> {
    let tx = conn.transaction()?;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT OR REPLACE INTO delivered
             (account, folder, uidvalidity, uid, profile, size, digest, message_id, recipients, delivered_at, deleted, remote_size, sender, subject, reply)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 0, ?11, ?12, ?13, ?14)",
        )?;
        let mut history = tx.prepare_cached(INSERT_HISTORY)?;
        let mut forget_intents = tx.prepare_cached(
            "DELETE FROM intents WHERE account = ?1 AND folder = ?2 AND uidvalidity = ?3 AND uid = ?4",
        )?;
        let now = now_secs();
        for done in records {
            let record = match done {
                Done::Delivered(record) => record,
                Done::Sent(rows) => {
                    insert_sent(&tx, &rows.dedupe_key, &rows.profile, &rows.recipients)?;
                    continue;
                }
            };
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
                record.shown.from,
                record.shown.subject,
                record.shown.reply,
            ])?;
            // What the History page lists outlives the record (see `schema`, version 9);
            // a message recognised as already delivered (no recipients) is no delivery.
            if !record.recipients.is_empty() {
                history.execute(params![
                    record.profile,
                    now,
                    record.size as i64,
                    record.shown.from,
                    record.shown.subject,
                    record.recipients.join(","),
                    record.shown.reply,
                    record.key.account,
                    record.key.folder,
                    record.uid,
                ])?;
            }
            forget_intents.execute(params![
                record.key.account,
                record.key.folder,
                record.key.uidvalidity,
                record.uid,
            ])?;
            if let Some(key) = &record.dedupe_key {
                insert_sent(&tx, key, &record.profile, &record.recipients)?;
            }
        }
    }
    tx.commit()
}

/// Remembers that `recipients` received the message known as `key` from `profile` (the
/// `sent` table); a copy seen again starts its retention period afresh.
pub(super) fn insert_sent(
    tx: &rusqlite::Transaction<'_>,
    key: &CopyKey,
    profile: &str,
    recipients: &[String],
) -> Result<(), rusqlite::Error> {
    let mut stmt = tx.prepare_cached(
        "INSERT OR REPLACE INTO sent (profile, message_id, content, recipient, sent_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let now = now_secs();
    for recipient in recipients {
        stmt.execute(params![
            profile,
            key.message_id,
            key.content,
            recipient,
            now
        ])?;
    }
    Ok(())
}
