//! What can go wrong with the state database, and why a file system refuses writes (named in
//! the errors, because SQLite itself often only says "I/O error").

use std::path::{Path, PathBuf};

use super::schema::SCHEMA_VERSION;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    #[error("cannot create the state directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("state database {path}: {source}{}", cause_suffix(.cause))]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
        /// What is wrong with the file system holding it, if anything visible.
        cause: Option<String>,
    },
    #[error(
        "state database {path} has schema version {found}, newer than this worker ({SCHEMA_VERSION}); upgrade Mailpull"
    )]
    TooNew { path: PathBuf, found: i64 },
    #[error("state database write failed (disk full or read-only?): {0}")]
    Write(#[source] rusqlite::Error),
    /// The file system holding the database cannot take writes (see [`file_system_problem`]).
    #[error("state database cannot be written: {cause}")]
    Unwritable { cause: String },
    /// A write failed and the file system says why (see [`file_system_problem`]).
    #[error("state database write failed: {cause}: {source}")]
    WriteOn {
        cause: String,
        #[source]
        source: rusqlite::Error,
    },
    /// The fsync that makes written records durable failed.
    #[error("state database {path}: cannot make the written records durable (fsync): {source}")]
    Sync {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("state database read failed: {0}")]
    Read(#[source] rusqlite::Error),
    /// Another worker holds the state directory's lock (`worker.lock`).
    #[error(
        "the state directory {dir} is in use by another worker ({owner}); stop that worker first, or give this configuration its own worker.state_dir"
    )]
    Locked { dir: PathBuf, owner: String },
    #[error("cannot lock the state directory ({path})")]
    Lock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The shared state (PostgreSQL) refused or failed; the server's words.
    #[error("shared state database (PostgreSQL): {message}")]
    Shared { message: String },
    /// This worker no longer holds the profile's lease in the shared state (it lapsed or
    /// another worker took it): the poll stops before touching the mailbox again.
    #[error(
        "profile \"{profile}\": this worker no longer holds its lease in the shared state; another worker polls it"
    )]
    LeaseLost { profile: String },
    #[error("the state database thread has stopped")]
    Gone,
}

fn cause_suffix(cause: &Option<String>) -> String {
    cause
        .as_ref()
        .map(|c| format!(" ({c})"))
        .unwrap_or_default()
}

/// Why the file system holding `dir` cannot take writes: read-only, or no space left. SQLite
/// reports both as generic I/O errors in some places (the WAL index is a memory-mapped file),
/// so the error message names the cause from the file system's own figures.
#[cfg(unix)]
pub fn file_system_problem(dir: &Path) -> Option<String> {
    let stat = rustix::fs::statvfs(dir).ok()?;
    if stat.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY) {
        return Some(format!("{} is on a read-only file system", dir.display()));
    }
    // Less than 64 KiB free for unprivileged writers: disk full for SQLite's purposes. A file
    // system that reports no size at all (some FUSE or network ones) is not judged.
    if stat.f_blocks > 0 && stat.f_bavail.saturating_mul(stat.f_frsize) < 64 * 1024 {
        return Some(format!(
            "disk full: no space left on the file system holding {}",
            dir.display()
        ));
    }
    None
}

/// Elsewhere (Windows) the file system's figures are not read: errors keep SQLite's own text.
#[cfg(not(unix))]
pub fn file_system_problem(_dir: &Path) -> Option<String> {
    None
}
