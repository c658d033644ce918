//! [`Store`], the handle every poll holds: it opens the database, starts the writer thread and
//! hands it work. Records go through [`Store::record`] (group commit); every other query is a
//! closure run on the writer's connection by [`Store::run`] (see `queries`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::error::{StateError, file_system_problem};
use super::lock::{DirLock, lock_dir};
use super::open::open_database;
use super::types::Record;
use super::writer::{Job, writer};

/// A handle to the state database; cheap to clone. The state directory stays locked for this
/// process (see `lock`) until the last clone is dropped.
#[derive(Clone)]
pub struct Store {
    jobs: mpsc::Sender<Job>,
    installation_id: String,
    path: PathBuf,
    _lock: Arc<DirLock>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Locks `dir` for this worker, opens (creating if needed) `state.sqlite3` in it and
    /// starts the writer thread. Another worker holding `dir` is [`StateError::Locked`], named
    /// by its pid, and the database is not touched.
    pub fn open(dir: &Path) -> Result<Store, StateError> {
        std::fs::create_dir_all(dir).map_err(|source| StateError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let lock = Arc::new(lock_dir(dir)?);
        let (conn, path, installation_id) = open_database(dir)?;
        let (jobs, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("mailpull-state".into())
            .spawn(move || writer(conn, rx))
            .map_err(|source| StateError::CreateDir {
                path: path.clone(),
                source,
            })?;
        Ok(Store {
            jobs,
            installation_id,
            path,
            _lock: lock,
        })
    }

    /// A random id made when the database was created; the trace header carries it so that a
    /// message that comes back to this installation is recognised as a loop.
    pub fn installation_id(&self) -> &str {
        &self.installation_id
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `query` on the writer thread's connection, in order with every other job.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        query: impl FnOnce(&mut Connection) -> Result<T, StateError> + Send + 'static,
    ) -> Result<T, StateError> {
        let (tx, rx) = oneshot::channel();
        let job = Job::Run(Box::new(move |conn| {
            let _ = tx.send(query(conn));
        }));
        self.jobs.send(job).map_err(|_| StateError::Gone)?;
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

    /// Records a delivery; durable on disk when this returns `Ok`.
    pub async fn record(&self, record: Record) -> Result<(), StateError> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Job::Record(Box::new(record), tx))
            .map_err(|_| StateError::Gone)?;
        rx.await
            .map_err(|_| StateError::Gone)?
            .map_err(|err| self.explain(err))
    }
}
