//! Owner-only files (Unix): the state directory 0700, the database, its WAL and shared-memory
//! files, the lock and owner files and the logs 0600, whatever the umask the worker was
//! started with. [`prepare`] runs first in `run` (and the service): it sets the umask to 077,
//! so files made later (a new day's log file, SQLite's WAL) are private too, and fixes what an
//! earlier start left more open; [`dir`] and [`file`] set the modes explicitly where the
//! worker creates them. Only the worker's own files are touched, never anything else that
//! happens to be in the state directory. On Windows the ProgramData ACL does this job
//! (`service::acl`); these functions only create the directory there.

use std::io;
use std::path::Path;

/// Names of the worker's own files directly in the state directory (SQLite adds `-wal`,
/// `-shm` and `-journal` to the database's name).
const STATE_FILES: &[&str] = &["state.sqlite3", "worker.lock", "worker.owner"];

/// The umask for everything the worker creates.
#[cfg(unix)]
const UMASK: u32 = 0o077;

/// Sets the process umask to 077 and makes `state_dir` (created if needed), its files and its
/// `logs` folder owner-only.
pub fn prepare(state_dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(UMASK));
    dir(state_dir)?;
    fix_files(state_dir)?;
    let logs = state_dir.join("logs");
    if logs.is_dir() {
        dir(&logs)?;
        fix_files(&logs)?;
    }
    Ok(())
}

/// Creates `path` (and its parents) if needed and makes it 0700.
pub fn dir(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)?;
        set_mode(path, 0o700)
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(path)
}

/// Makes `path` 0600 if it is a regular file (a missing file is no error).
pub fn file(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.is_file() => set_mode(path, 0o600),
            Ok(_) => Ok(()),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(err),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
    }
}

/// Creates `path` empty and 0600 if it does not exist yet, else makes it 0600.
pub fn create_file(path: &Path) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => file(path),
        // A read-only file system: the database's own error will say so.
        Err(_) if path.is_file() => Ok(()),
        Err(err) => Err(err),
    }
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let current = std::fs::symlink_metadata(path)?.permissions().mode() & 0o7777;
    if current == mode {
        return Ok(());
    }
    match std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)) {
        // Nothing can be written there either; the state database says so in its own words.
        Err(err) if err.kind() == io::ErrorKind::ReadOnlyFilesystem => Ok(()),
        result => result,
    }
}

/// Makes the worker's own files in `dir` 0600: the state files and SQLite's companions, and
/// in the `logs` folder the log files (`mailpull.*`, `service-error.log`).
pub fn fix_files(dir: &Path) -> io::Result<()> {
    let logs = dir.file_name().is_some_and(|name| name == "logs");
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let ours = if logs {
            name.starts_with("mailpull") || name.ends_with(".log")
        } else {
            STATE_FILES.iter().any(|own| {
                name.as_ref() == *own
                    || ["-wal", "-shm", "-journal"]
                        .iter()
                        .any(|suffix| name.as_ref() == format!("{own}{suffix}"))
            })
        };
        if ours {
            file(&entry.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[cfg(unix)]
    mod unix {
        use super::super::*;
        use std::os::unix::fs::PermissionsExt as _;

        fn mode(path: &Path) -> u32 {
            std::fs::metadata(path).expect("meta").permissions().mode() & 0o777
        }

        #[test]
        fn a_new_state_directory_is_private_whatever_the_umask() {
            let tmp = tempfile::tempdir().expect("tempdir");
            let state = tmp.path().join("state");
            let before = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0));
            let store = crate::state::Store::open(&state);
            rustix::process::umask(before);
            let _store = store.expect("open");
            assert_eq!(mode(&state), 0o700);
            for name in [
                "state.sqlite3",
                "state.sqlite3-wal",
                "state.sqlite3-shm",
                "worker.lock",
                "worker.owner",
            ] {
                assert_eq!(mode(&state.join(name)), 0o600, "{name}");
            }
        }

        #[test]
        fn prepare_fixes_the_worker_files_and_leaves_others_alone() {
            let tmp = tempfile::tempdir().expect("tempdir");
            let state = tmp.path().join("state");
            std::fs::create_dir_all(state.join("logs")).expect("mkdir");
            let open = |path: &Path, m: u32| {
                std::fs::write(path, b"x").expect("write");
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(m)).expect("chmod");
            };
            for name in ["state.sqlite3", "state.sqlite3-wal", "worker.owner"] {
                open(&state.join(name), 0o666);
            }
            open(&state.join("logs/mailpull.2026-12-04.log"), 0o644);
            open(&state.join("notes.txt"), 0o644);
            std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o777))
                .expect("chmod");
            std::fs::set_permissions(state.join("logs"), std::fs::Permissions::from_mode(0o755))
                .expect("chmod");
            let before = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
            prepare(&state).expect("prepare");
            let set = rustix::process::umask(before);
            assert_eq!(set.as_raw_mode(), UMASK, "the umask is 077 afterwards");
            assert_eq!(mode(&state), 0o700);
            assert_eq!(mode(&state.join("logs")), 0o700);
            for name in [
                "state.sqlite3",
                "state.sqlite3-wal",
                "worker.owner",
                "logs/mailpull.2026-12-04.log",
            ] {
                assert_eq!(mode(&state.join(name)), 0o600, "{name}");
            }
            assert_eq!(mode(&state.join("notes.txt")), 0o644, "not ours: untouched");
        }
    }
}
