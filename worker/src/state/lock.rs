//! One worker per state directory: [`lock_dir`] takes an exclusive, non-blocking lock on
//! `worker.lock` in the directory (flock on Unix, LockFileEx on Windows) and holds it as long as
//! the [`DirLock`] lives. The operating system drops it when the process ends, `kill -9`
//! included, so a crash never leaves a stale lock behind.
//!
//! Who holds the lock is written beside it, in `worker.owner` (pid, start time, command line):
//! Windows' locks are mandatory, so the locked file itself cannot be read by the worker that is
//! refused. The owner file is only a label; the lock alone decides.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use super::error::StateError;

/// The lock file's name in the state directory.
pub const LOCK_FILE: &str = "worker.lock";
/// The file naming the lock's holder, beside it.
pub const OWNER_FILE: &str = "worker.owner";

/// The state directory's lock, held until dropped (or the process ends).
#[derive(Debug)]
pub(super) struct DirLock {
    _file: File,
}

/// Locks `dir` (which exists) for this process, or says which worker holds it.
pub(super) fn lock_dir(dir: &Path) -> Result<DirLock, StateError> {
    let path = dir.join(LOCK_FILE);
    let lock_err = |source| StateError::Lock {
        path: path.clone(),
        source,
    };
    // Read-write, created if needed; an existing file on a read-only file system is locked
    // read-only (flock and LockFileEx need no write access), so that the database's own
    // error names what is wrong.
    let file = match OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
    {
        Ok(file) => file,
        Err(err) if path.is_file() => File::open(&path).map_err(|_| lock_err(err))?,
        Err(err) => return Err(lock_err(err)),
    };
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(StateError::Locked {
                dir: dir.to_path_buf(),
                owner: read_owner(dir),
            });
        }
        Err(TryLockError::Error(source)) => return Err(lock_err(source)),
    }
    let owner = dir.join(OWNER_FILE);
    if let Err(err) = std::fs::write(&owner, owner_text()) {
        // Only the label is missing: a refused worker will say "pid unknown".
        tracing::warn!(file = %owner.display(), error = %err, "cannot write the state directory's owner file");
    }
    Ok(DirLock { _file: file })
}

/// What a refused worker says about the holder: "pid 1234, started …, command …".
fn read_owner(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join(OWNER_FILE)).unwrap_or_default();
    let field = |key: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
            .map(str::trim)
            .filter(|value| !value.is_empty())
    };
    match field("pid") {
        Some(pid) => {
            let mut owner = format!("pid {pid}");
            if let Some(started) = field("started") {
                let _ = write!(owner, ", started {started}");
            }
            if let Some(command) = field("command") {
                let _ = write!(owner, ", command: {command}");
            }
            owner
        }
        None => "pid unknown".to_string(),
    }
}

/// The owner file's text for this process.
fn owner_text() -> String {
    let command: Vec<String> = std::env::args().collect();
    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| utc_text(d.as_secs()))
        .unwrap_or_default();
    format!(
        "pid={}\nstarted={started}\ncommand={}\n",
        std::process::id(),
        command.join(" ").replace(['\r', '\n'], " ")
    )
}

/// `secs` since the Unix epoch as `YYYY-MM-DD HH:MM:SS UTC` (the civil calendar from days,
/// after Howard Hinnant's `civil_from_days`).
fn utc_text(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rest = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rest / 3_600,
        rest % 3_600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_text_is_the_civil_date() {
        assert_eq!(utc_text(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_text(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc_text(1_796_300_000), "2026-12-03 12:13:20 UTC");
    }

    #[test]
    fn a_second_lock_is_refused_with_the_holders_pid_and_taken_after_the_first_goes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = lock_dir(dir.path()).expect("first lock");
        let err = lock_dir(dir.path()).expect_err("second lock must be refused");
        let text = err.to_string();
        assert!(
            text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        assert!(text.contains(&dir.path().display().to_string()), "{text}");
        drop(first);
        lock_dir(dir.path()).expect("lock again once the first is gone");
    }

    #[test]
    fn an_unreadable_owner_file_still_refuses() {
        let dir = tempfile::tempdir().expect("tempdir");
        let _first = lock_dir(dir.path()).expect("first lock");
        std::fs::remove_file(dir.path().join(OWNER_FILE)).expect("remove owner");
        let err = lock_dir(dir.path()).expect_err("refused");
        assert!(matches!(err, StateError::Locked { ref owner, .. } if owner == "pid unknown"));
    }
}
