//! Reads and writes Maildir++ mailboxes the way Dovecot lays them out, so tests can fill a
//! mailbox instantly and inspect what was delivered without speaking IMAP.

use std::fs;
use std::os::unix::fs::chown;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};

use crate::system::{SystemUser, make_dir, write_file};

/// Name of the IMAP inbox; every other folder is a `.Name` sub-directory.
pub const INBOX: &str = "INBOX";

/// Directory of `folder` inside the Maildir root `maildir`. Hierarchy separators `/` and `.`
/// both map to Maildir++'s `.` (so "Archive/2024" is `.Archive.2024`).
pub fn folder_dir(maildir: &Path, folder: &str) -> anyhow::Result<PathBuf> {
    if folder.eq_ignore_ascii_case(INBOX) {
        return Ok(maildir.to_owned());
    }
    if folder.is_empty()
        || folder.contains(['\0', '\n', '\r'])
        || folder.split(['/', '.']).any(|part| part.is_empty())
    {
        bail!("invalid folder name {folder:?}");
    }
    Ok(maildir.join(format!(".{}", folder.replace('/', "."))))
}

/// Creates `cur`, `new` and `tmp` in `dir` (and a `maildirfolder` marker for sub-folders).
pub fn create(dir: &Path, owner: &SystemUser, is_subfolder: bool) -> anyhow::Result<()> {
    make_dir(dir, Some(owner), 0o700)?;
    for sub in ["cur", "new", "tmp"] {
        make_dir(&dir.join(sub), Some(owner), 0o700)?;
    }
    if is_subfolder {
        let marker = dir.join("maildirfolder");
        if !marker.exists() {
            write_file(&marker, b"", 0o600)?;
            chown(&marker, Some(owner.uid), Some(owner.gid))
                .with_context(|| format!("chown {}", marker.display()))?;
        }
    }
    Ok(())
}

/// Drops `raw` into `dir/new` as one message owned by `owner`: written to `tmp/` first, then
/// renamed, as Maildir requires. File names sort in the order messages were added, which is
/// the order Dovecot gives them UIDs (and POP3 message numbers).
pub fn deliver(dir: &Path, owner: &SystemUser, raw: &[u8]) -> anyhow::Result<PathBuf> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let name = format!(
        "{}.M{:06}P{}Q{seq:010}.mailpull-test,S={}",
        now.as_secs(),
        now.subsec_micros(),
        std::process::id(),
        raw.len()
    );
    let tmp = dir.join("tmp").join(&name);
    let new = dir.join("new").join(&name);
    write_file(&tmp, raw, 0o600)?;
    chown(&tmp, Some(owner.uid), Some(owner.gid))
        .with_context(|| format!("chown {}", tmp.display()))?;
    fs::rename(&tmp, &new)
        .with_context(|| format!("renaming {} to {}", tmp.display(), new.display()))?;
    Ok(new)
}

/// The message files in `dir/new` and `dir/cur`, oldest first (by the time and microseconds
/// at the start of Maildir file names, then by name).
pub fn message_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for sub in ["new", "cur"] {
        let path = dir.join(sub);
        let entries = match fs::read_dir(&path) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("listing {}", path.display())),
        };
        for entry in entries {
            let entry = entry.with_context(|| format!("listing {}", path.display()))?;
            if entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
                files.push(entry.path());
            }
        }
    }
    files.sort_by_cached_key(|p| {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        (sort_key(&name), name)
    });
    Ok(files)
}

/// (seconds, microseconds) from a Maildir name like `1700000000.M123P45.host,S=1:2,S`.
fn sort_key(name: &str) -> (u64, u64) {
    let (secs, rest) = name.split_once('.').unwrap_or((name, ""));
    let micros = rest
        .strip_prefix('M')
        .map(|r| {
            r.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .and_then(|d| d.parse().ok())
        .unwrap_or(0);
    (secs.parse().unwrap_or(u64::MAX), micros)
}

/// Maildir flags of a message file (the letters after `:2,`), empty for messages in `new/`.
pub fn flags(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    name.split_once(":2,")
        .map(|(_, f)| f.to_owned())
        .unwrap_or_default()
}

/// Raw bytes of every message in `dir` (new + cur), oldest first.
pub fn read_messages(dir: &Path) -> anyhow::Result<Vec<Vec<u8>>> {
    message_files(dir)?
        .iter()
        .map(|p| fs::read(p).with_context(|| format!("reading {}", p.display())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_key_reads_dovecot_and_own_names() {
        assert_eq!(
            sort_key("1795372088.M885457P17897.vm,S=557,W=575"),
            (1795372088, 885457)
        );
        assert_eq!(
            sort_key("1795372088.M000012P1Q0000000003.mailpull-test,S=5"),
            (1795372088, 12)
        );
        assert_eq!(sort_key("garbage"), (u64::MAX, 0));
    }

    #[test]
    fn folder_dir_maps_hierarchy_to_maildirplusplus() -> anyhow::Result<()> {
        let root = Path::new("/m");
        assert_eq!(folder_dir(root, "inbox")?, PathBuf::from("/m"));
        assert_eq!(
            folder_dir(root, "Archive/2024")?,
            PathBuf::from("/m/.Archive.2024")
        );
        assert!(folder_dir(root, "a//b").is_err());
        assert!(folder_dir(root, "").is_err());
        Ok(())
    }

    #[test]
    fn flags_are_read_from_the_info_part() {
        assert_eq!(flags(Path::new("/m/cur/1.M1P1.h,S=3:2,ST")), "ST");
        assert_eq!(flags(Path::new("/m/new/1.M1P1.h,S=3")), "");
    }
}
