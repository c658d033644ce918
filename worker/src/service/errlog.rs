//! `service-errors.log`: where a service that cannot start (or stops with an error) says why,
//! since a service has no console and the worker's own log may not exist yet. It is capped:
//! past [`MAX_BYTES`] the file becomes `service-errors.log.1` (the older ones move up to
//! `.KEEP`, the oldest is dropped), so a service that fails again and again cannot fill the disk.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

/// The file name, in the default state folder's `logs`.
pub const ERROR_LOG: &str = "service-errors.log";
/// The size at which the file is rotated.
pub const MAX_BYTES: u64 = 1024 * 1024;
/// How many rotated files are kept.
pub const KEEP: u32 = 3;

fn numbered(file: &Path, n: u32) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// Rotates `file` when it has reached `max_bytes`: `file.(keep-1)` → `file.keep`, …,
/// `file` → `file.1`.
pub fn rotate(file: &Path, max_bytes: u64, keep: u32) -> io::Result<()> {
    match fs::metadata(file) {
        Ok(meta) if meta.len() >= max_bytes => {}
        _ => return Ok(()),
    }
    if keep == 0 {
        return fs::remove_file(file);
    }
    let _ = fs::remove_file(numbered(file, keep));
    for n in (1..keep).rev() {
        let from = numbered(file, n);
        if from.exists() {
            fs::rename(&from, numbered(file, n + 1))?;
        }
    }
    fs::rename(file, numbered(file, 1))
}

/// Appends one line to `dir/ERROR_LOG` (rotating it first when it is full).
pub fn append_in(dir: &Path, line: &str, max_bytes: u64, keep: u32) -> io::Result<PathBuf> {
    fs::create_dir_all(dir)?;
    let file = dir.join(ERROR_LOG);
    rotate(&file, max_bytes, keep)?;
    let mut out = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&file)?;
    writeln!(out, "{line}")?;
    Ok(file)
}

/// A line with the time (UTC, RFC 3339) in front.
pub fn stamped(text: &str) -> String {
    format!(
        "[{}] {text}",
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_log_rotates_and_only_keep_files_stay() {
        let dir = tempfile::tempdir().expect("tempdir");
        // 40-byte lines, a 100-byte cap: every third line starts a new file.
        let line = "x".repeat(39);
        for _ in 0..30 {
            append_in(dir.path(), &line, 100, 2).expect("append");
        }
        let file = dir.path().join(ERROR_LOG);
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "service-errors.log",
                "service-errors.log.1",
                "service-errors.log.2"
            ]
        );
        for path in [file.clone(), numbered(&file, 1), numbered(&file, 2)] {
            let len = fs::metadata(&path).expect("meta").len();
            assert!(len <= 120, "{} has {len} bytes", path.display());
        }
        assert_eq!(
            fs::read_to_string(numbered(&file, 1))
                .expect("read")
                .lines()
                .count(),
            3
        );
    }

    #[test]
    fn a_small_log_is_appended_to() {
        let dir = tempfile::tempdir().expect("tempdir");
        append_in(dir.path(), "one", MAX_BYTES, KEEP).expect("append");
        let file = append_in(dir.path(), "two", MAX_BYTES, KEEP).expect("append");
        assert_eq!(fs::read_to_string(file).expect("read"), "one\ntwo\n");
        assert!(!numbered(&dir.path().join(ERROR_LOG), 1).exists());
    }

    #[test]
    fn lines_carry_the_time() {
        let line = stamped("the service stopped");
        assert!(
            line.starts_with("[20") && line.ends_with("] the service stopped"),
            "{line}"
        );
    }
}
