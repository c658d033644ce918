//! [`Store`], the handle every poll holds: it opens the database, starts the writer thread and
//! the readers and hands them work. Records go through [`Store::record`] (first in the
//! writer's queue, group commit); writes are closures run on the writer's connection by
//! [`Store::run`] (durable) or [`Store::run_bookkeeping`] (no fsync); reads run on a reader's
//! connection by [`Store::read`] (see `queries`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::error::{StateError, file_system_problem};
use super::intents::{Intended, Intent};
use super::lock::{DirLock, lock_dir};
use super::open::open_database;
use super::pg::PgStore;
use super::reader::{ReadJob, start_readers};
use super::syncer::{WRITER_AUTOCHECKPOINT_PAGES, syncer, wal_sync};
use super::types::{CopyKey, Record};
use super::writer::{Job, SentRow, writer};

/// A delivery record handed to the writer and not yet known to be durable
/// ([`Store::record_at_once`]).
#[derive(Debug)]
pub struct PendingRecord(Pending);

#[derive(Debug)]
enum Pending {
    /// Queued for the SQLite writer; its answer comes when the record is durable.
    Queued(oneshot::Receiver<Result<(), StateError>>),
    /// For the shared state: written (with its lease check) when [`Store::durable`] runs,
    /// since a PostgreSQL transaction cannot be started from the SMTP lane's thread.
    Shared(Box<Record>),
}

/// A handle to the state database; cheap to clone. The state directory stays locked for this
/// process (see `lock`) until the last clone is dropped.
#[derive(Clone)]
pub struct Store {
    jobs: mpsc::Sender<Job>,
    reads: mpsc::Sender<ReadJob>,
    installation_id: String,
    path: PathBuf,
    _lock: Arc<DirLock>,
    /// `Some` when the state is shared in PostgreSQL (`[worker] state`): every query goes
    /// there, and the SQLite channels above lead nowhere.
    pub(super) shared: Option<PgStore>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.shared {
            Some(pg) => f.debug_struct("Store").field("shared", pg).finish(),
            None => f.debug_struct("Store").field("path", &self.path).finish(),
        }
    }
}

impl Store {
    /// Locks `dir` for this worker, opens (creating if needed) `state.sqlite3` in it and
    /// starts the writer thread. Another worker holding `dir` is [`StateError::Locked`], named
    /// by its pid, and the database is not touched.
    pub fn open(dir: &Path) -> Result<Store, StateError> {
        crate::private::dir(dir).map_err(|source| StateError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let lock = Arc::new(lock_dir(dir)?);
        let (conn, path, installation_id) = open_database(dir)?;
        let open_err = |source| StateError::Open {
            path: path.clone(),
            source,
            cause: file_system_problem(dir),
        };
        // Checkpoints are the syncer's (see `syncer`); the writer's only a backstop.
        conn.pragma_update(None, "wal_autocheckpoint", WRITER_AUTOCHECKPOINT_PAGES)
            .map_err(open_err)?;
        let checkpoint = Connection::open(&path).map_err(open_err)?;
        // The lock and owner files, the database and SQLite's companions: owner-only.
        if let Err(err) = crate::private::fix_files(dir) {
            tracing::warn!(dir = %dir.display(), error = %err, "cannot make the state files owner-only");
        }
        let reads = start_readers(&path)?;
        // The WAL opened for the syncer's fsync: on a file system that takes no writes, say so
        // in its own words (as `open_database` does) rather than as a failed fsync.
        let sync = wal_sync(&path).map_err(|err| match file_system_problem(dir) {
            Some(cause) => StateError::Unwritable { cause },
            None => err,
        })?;
        let (jobs, rx) = mpsc::channel();
        let (written, durable) = mpsc::channel();
        let spawn_err = |source| StateError::CreateDir {
            path: path.clone(),
            source,
        };
        let db = path.clone();
        std::thread::Builder::new()
            .name("mailpull-state-sync".into())
            .spawn(move || syncer(sync, Some(checkpoint), db, durable))
            .map_err(spawn_err)?;
        std::thread::Builder::new()
            .name("mailpull-state".into())
            .spawn(move || writer(conn, rx, written))
            .map_err(spawn_err)?;
        Ok(Store {
            jobs,
            reads,
            installation_id,
            path,
            _lock: lock,
            shared: None,
        })
    }

    /// Locks `dir` for this worker (its logs and lock stay local) and connects to the shared
    /// state in PostgreSQL at `url` with `password` (see `pg`); the tables are created when
    /// missing.
    pub async fn open_shared(
        dir: &Path,
        url: &str,
        password: Option<mailpull_shared::secrets::Secret>,
    ) -> Result<Store, StateError> {
        crate::private::dir(dir).map_err(|source| StateError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let lock = Arc::new(lock_dir(dir)?);
        let pg = PgStore::connect(url, password).await?;
        // No SQLite thread: a call that reached one would see `Gone`, never a local file.
        let (jobs, _) = mpsc::channel();
        let (reads, _) = mpsc::channel();
        Ok(Store {
            jobs,
            reads,
            installation_id: pg.installation_id().to_string(),
            path: dir.to_path_buf(),
            _lock: lock,
            shared: Some(pg),
        })
    }

    /// Whether the state is shared in PostgreSQL.
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// A random id made when the database was created; the trace header carries it so that a
    /// message that comes back to this installation is recognised as a loop.
    pub fn installation_id(&self) -> &str {
        &self.installation_id
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `query` on the writer thread's connection, in order with the other writes (after
    /// the records waiting); committed with fsync.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        query: impl FnOnce(&mut Connection) -> Result<T, StateError> + Send + 'static,
    ) -> Result<T, StateError> {
        let (tx, rx) = oneshot::channel();
        self.send(Job::Run(Box::new(move |conn| {
            let _ = tx.send(query(conn));
        })))?;
        self.reply(rx).await
    }

    /// Like [`Store::run`] for a write of bookkeeping, committed without fsync: it survives a
    /// crash of the process, not a power loss, and never holds a record back behind an fsync.
    pub(super) async fn run_bookkeeping<T: Send + 'static>(
        &self,
        query: impl FnOnce(&mut Connection) -> Result<T, StateError> + Send + 'static,
    ) -> Result<T, StateError> {
        let (tx, rx) = oneshot::channel();
        self.send(Job::Bookkeeping(Box::new(move |conn| {
            let _ = tx.send(query(conn));
        })))?;
        self.reply(rx).await
    }

    /// Runs a read-only `query` on a reader's connection, beside the writer.
    pub(super) async fn read<T: Send + 'static>(
        &self,
        query: impl FnOnce(&Connection) -> Result<T, StateError> + Send + 'static,
    ) -> Result<T, StateError> {
        let (tx, rx) = oneshot::channel();
        let job: ReadJob = Box::new(move |conn| {
            let _ = tx.send(query(conn));
        });
        self.reads.send(job).map_err(|_| StateError::Gone)?;
        self.reply(rx).await
    }

    /// Hands `job` to the writer thread.
    pub(super) fn send(&self, job: Job) -> Result<(), StateError> {
        self.jobs.send(job).map_err(|_| StateError::Gone)
    }

    /// Waits for a job's reply; a failed write with the file system's reason.
    pub(super) async fn reply<T>(
        &self,
        rx: oneshot::Receiver<Result<T, StateError>>,
    ) -> Result<T, StateError> {
        rx.await
            .map_err(|_| StateError::Gone)?
            .map_err(|err| self.explain(err))
    }

    /// A failed write with the file system's reason, when it has one.
    fn explain(&self, err: StateError) -> StateError {
        match err {
            StateError::Write(source) => match self.path.parent().and_then(file_system_problem) {
                Some(cause) => StateError::WriteOn { cause, source },
                None => StateError::Write(source),
            },
            other => other,
        }
    }

    /// Records a delivery; durable on disk (fsync'd) when this returns `Ok`. It goes before
    /// every job queued ahead of it that is not a record, and is written (in the kernel,
    /// visible to every connection, safe from a SIGKILL) before the fsync that makes it
    /// durable, without waiting for any other fsync (see `writer`, `syncer`).
    pub async fn record(&self, record: Record) -> Result<(), StateError> {
        let pending = self.record_at_once(record)?;
        self.durable(pending).await
    }

    /// Queues a delivery record for the writer without waiting (no `await`: the SMTP lane
    /// calls it on its own thread the moment the local server's 250 is read, see
    /// `deliver::lane`); [`Store::durable`] then waits until it is durable. On the shared
    /// state the record is only kept here and written by [`Store::durable`].
    pub fn record_at_once(&self, record: Record) -> Result<PendingRecord, StateError> {
        if self.shared.is_some() {
            return Ok(PendingRecord(Pending::Shared(Box::new(record))));
        }
        let (tx, rx) = oneshot::channel();
        self.send(Job::Record(Box::new(record), tx))?;
        Ok(PendingRecord(Pending::Queued(rx)))
    }

    /// Waits until the record queued by [`Store::record_at_once`] is durable (fsync'd; on the
    /// shared state: committed, its lease checked in the same transaction).
    pub async fn durable(&self, pending: PendingRecord) -> Result<(), StateError> {
        match pending.0 {
            Pending::Queued(rx) => self.reply(rx).await,
            Pending::Shared(record) => match &self.shared {
                Some(pg) => pg.record(*record).await,
                None => Err(StateError::Gone),
            },
        }
    }

    /// Remembers that `recipients` received the message known as `dedupe_key` (multi-drop
    /// progress when the recipients are delivered one by one): a record, durable when this
    /// returns `Ok`, committed first like [`Store::record`].
    pub async fn record_sent(
        &self,
        dedupe_key: &CopyKey,
        profile: &str,
        recipients: &[String],
    ) -> Result<(), StateError> {
        if let Some(pg) = &self.shared {
            return pg.record_sent(dedupe_key, profile, recipients).await;
        }
        let rows = SentRow {
            dedupe_key: dedupe_key.clone(),
            profile: profile.to_string(),
            recipients: recipients.to_vec(),
        };
        let (tx, rx) = oneshot::channel();
        self.send(Job::Sent(Box::new(rows), tx))?;
        self.reply(rx).await
    }

    /// Writes (or finds) the intent to deliver and returns its delivery id: the id of the
    /// earlier attempt when there was one for the same message and recipients (see `intents`).
    pub async fn intend(&self, intent: Intent) -> Result<Intended, StateError> {
        if let Some(pg) = &self.shared {
            return pg.intend(intent).await;
        }
        let (tx, rx) = oneshot::channel();
        self.send(Job::Intent(Box::new(intent), tx))?;
        self.reply(rx).await
    }
}
