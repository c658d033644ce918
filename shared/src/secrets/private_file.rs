//! What the two secret files (the service secret store and the service's token file) do
//! alike: a lock file beside the file, the private-file checks (a regular file that neither
//! group nor others may access), the atomic replacement (temporary file 0600, fsync, rename,
//! folder fsync) and the line of a TOML error (never its text, which may quote a value).
//! Errors are plain words for the caller's own error type.

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The folder and file name of `path`.
pub(super) fn folder_and_name(path: &Path) -> Result<(&Path, String), String> {
    let dir = path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .ok_or("the path names no folder")?;
    let name = path.file_name().ok_or("the path names no file")?;
    Ok((dir, name.to_string_lossy().into_owned()))
}

/// Opens and locks `.NAME.lock` beside `path` (mode 0600); the lock holds until the file is
/// dropped. Two writers each rewrite the whole file: without it one would undo the other.
pub(super) fn lock_beside(path: &Path) -> Result<std::fs::File, String> {
    let (dir, name) = folder_and_name(path)?;
    let lock = dir.join(format!(".{name}.lock"));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options
        .open(&lock)
        .map_err(|err| format!("cannot open the lock file {}: {err}", lock.display()))?;
    file.lock()
        .map_err(|err| format!("cannot lock {}: {err}", lock.display()))?;
    Ok(file)
}

/// Why `meta` is no private regular file (group or others may access it), if it is not.
#[cfg(unix)]
pub(super) fn not_private(meta: &std::fs::Metadata) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    if !meta.is_file() {
        return Some("it is not a regular file".into());
    }
    let mode = meta.mode() & 0o777;
    (mode & 0o077 != 0).then(|| format!("its mode is {mode:04o}: group or others can access it"))
}

/// Replaces `path` with `bytes` atomically: a temporary file beside it (mode 0600; a leftover
/// of a crashed writer with the same process id is replaced), `check` on the new file (e.g.
/// its owner), fsync, rename, and an fsync of the folder so that the rename reaches the disk.
pub(super) fn replace(
    path: &Path,
    bytes: &[u8],
    check: impl Fn(&std::fs::File) -> Result<(), String>,
) -> Result<(), String> {
    let (dir, name) = folder_and_name(path)?;
    let tmp: PathBuf = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let written = write_new(&tmp, bytes, check).and_then(|()| {
        std::fs::rename(&tmp, path)
            .map_err(|err| format!("cannot rename {} into place: {err}", tmp.display()))
    });
    if let Err(reason) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(reason);
    }
    if let Ok(folder) = std::fs::File::open(dir) {
        let _ = folder.sync_all();
    }
    Ok(())
}

fn write_new(
    path: &Path,
    bytes: &[u8],
    check: impl Fn(&std::fs::File) -> Result<(), String>,
) -> Result<(), String> {
    let _ = std::fs::remove_file(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .map_err(|err| format!("cannot create {}: {err}", path.display()))?;
    check(&file)?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|err| format!("cannot write {}: {err}", path.display()))
}

/// The line (from 1) where `err` stopped in `text`.
pub(super) fn error_line(err: &toml::de::Error, text: &str) -> usize {
    err.span()
        .map(|span| {
            let end = span.start.min(text.len());
            text.get(..end)
                .map_or(1, |before| before.matches('\n').count() + 1)
        })
        .unwrap_or(1)
}
