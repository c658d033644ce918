//! The syncer thread: it makes the records durable that the writer thread wrote. The writer
//! commits a batch of records with `synchronous=NORMAL`: when the commit returns, the WAL
//! frames are in the kernel, and a SIGKILL of the worker no longer takes them (only a power
//! loss can). It then hands the batch's replies here, and goes on with the next job at once.
//! This thread fsyncs the WAL file (one fsync for every batch waiting: group commit) and only
//! then tells the polls their records are durable, so a message is deleted remotely only
//! after its record is on disk.
//!
//! So no fsync sits between the local server's 250 and the record's write: not the previous
//! batch's, and not a checkpoint's either. Checkpoints (copying the WAL into the database
//! file, two fsyncs) run here too, on their own connection ([`CHECKPOINT_EVERY`]); the writer's
//! own automatic checkpoint is only a backstop for a WAL that grows large
//! ([`WRITER_AUTOCHECKPOINT_PAGES`]).

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::error::StateError;
use super::writer::Written;

/// How often at most this thread checkpoints the WAL into the database file (after a sync).
pub(super) const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// The writer connection's `wal_autocheckpoint`: far above what the syncer lets the WAL grow
/// to, so the writer checkpoints only when the syncer cannot keep up.
pub(super) const WRITER_AUTOCHECKPOINT_PAGES: i64 = 10_000;

/// Makes every write to the WAL that returned before it was called durable.
pub(super) type SyncFn = Box<dyn FnMut() -> std::io::Result<()> + Send>;

/// The path of the WAL file of the database at `db`.
fn wal_path(db: &Path) -> PathBuf {
    let mut path = db.as_os_str().to_owned();
    path.push("-wal");
    PathBuf::from(path)
}

/// An fsync of the WAL file of the database at `db` (open, so the file exists). The first call
/// also syncs the directory, so a WAL file created since the last sync keeps its name.
pub(super) fn wal_sync(db: &Path) -> Result<SyncFn, StateError> {
    let path = wal_path(db);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .map_err(|source| StateError::Sync {
            path: path.clone(),
            source,
        })?;
    let mut dir_synced = false;
    let dir = db.parent().map(Path::to_path_buf);
    Ok(Box::new(move || {
        file.sync_data()?;
        if !dir_synced {
            sync_dir(dir.as_deref())?;
            dir_synced = true;
        }
        Ok(())
    }))
}

#[cfg(unix)]
fn sync_dir(dir: Option<&Path>) -> std::io::Result<()> {
    match dir {
        Some(dir) => std::fs::File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

/// Windows keeps a file's name with the file's metadata: nothing to sync.
#[cfg(not(unix))]
fn sync_dir(_dir: Option<&Path>) -> std::io::Result<()> {
    Ok(())
}

/// The syncer thread: takes every batch waiting, syncs once, answers them all; checkpoints
/// with `checkpoint` (its own connection) at most every [`CHECKPOINT_EVERY`]. Ends when the
/// writer is gone. `path` names the database in errors.
pub(super) fn syncer(
    mut sync: SyncFn,
    checkpoint: Option<Connection>,
    path: PathBuf,
    jobs: mpsc::Receiver<Written>,
) {
    let mut last_checkpoint = Instant::now();
    while let Ok(first) = jobs.recv() {
        let mut waiting = vec![first];
        while let Ok(more) = jobs.try_recv() {
            waiting.push(more);
        }
        let result = sync();
        for written in waiting {
            if result.is_ok() {
                for (account, uid) in &written.traced {
                    tracing::debug!(target: "mailpull::delivery", account = %account, uid = %uid,
                        "record durable");
                }
            }
            for reply in written.replies {
                let _ = reply.send(match &result {
                    Ok(()) => Ok(()),
                    Err(err) => Err(StateError::Sync {
                        path: wal_path(&path),
                        source: std::io::Error::new(err.kind(), err.to_string()),
                    }),
                });
            }
        }
        if let Some(conn) = &checkpoint
            && last_checkpoint.elapsed() >= CHECKPOINT_EVERY
        {
            last_checkpoint = Instant::now();
            // PASSIVE: copies what it can without waiting for the writer or the readers.
            if let Err(err) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                tracing::warn!(error = %err, "state database: checkpoint failed; the writer's own checkpoint takes over");
            }
        }
    }
}
