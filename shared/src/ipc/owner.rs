//! Who serves the endpoint (Unix): before the client sends anything — a hello, a password —
//! it checks the socket's directory. Only its owner could have put the socket there, so the
//! directory must be owned by the current user or root and not be writable by group or
//! others. A root client also accepts a directory that only root could have made (its parent
//! is owned by root and writable by no one else), such as the service's `/run/mailpull`
//! owned by the service account. Otherwise another local user may have created the directory
//! first (`/tmp/mailpull-<uid>` without `XDG_RUNTIME_DIR`) to play the worker.

use std::path::Path;

/// The Windows service's own virtual account (`sc qc MailpullWorker` shows it as SERVICE_START_NAME).
pub const SERVICE_ACCOUNT: &str = r"NT SERVICE\MailpullWorker";

/// The SID of [`SERVICE_ACCOUNT`]: Windows derives a service's SID from its name alone
/// (`S-1-5-80-` and the SHA-1 of the upper-case name in UTF-16LE as five little-endian u32),
/// so it is known before the service exists — the data folder's ACL names it before any
/// file is written. `sc showsid MailpullWorker` prints the same value on Windows.
pub const SERVICE_SID: &str = "S-1-5-80-1205134927-3800904582-4225447824-998588982-1088651656";

/// Why `dir` cannot be trusted, or `Ok` (also when it does not exist: then nothing listens).
#[cfg(unix)]
pub fn check_socket_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt as _;
    let me = rustix::process::geteuid().as_raw();
    // A symlink in a shared directory could be swapped after the check by whoever owns it.
    let link = match std::fs::symlink_metadata(dir) {
        Ok(meta) => meta,
        Err(_) => return Ok(()),
    };
    if link.file_type().is_symlink() && link.uid() != me && link.uid() != 0 {
        return Err(refusal(
            dir,
            link.uid(),
            link.mode(),
            "is a symbolic link of",
        ));
    }
    let Ok(meta) = std::fs::metadata(dir) else {
        return Ok(());
    };
    let (owner, mode) = (meta.uid(), meta.mode());
    let writable_by_others = mode & 0o022 != 0;
    let trusted_owner = owner == me || owner == 0 || (me == 0 && made_by_root(dir));
    if trusted_owner && !writable_by_others {
        return Ok(());
    }
    Err(refusal(dir, owner, mode, "belongs to"))
}

/// The Windows pipe's server is not checked here (its name's security descriptor decides
/// who may create it; see `endpoint`).
#[cfg(not(unix))]
pub fn check_socket_dir(_dir: &Path) -> Result<(), String> {
    Ok(())
}

/// `dir`'s parent is owned by root and writable by no one else: only root made `dir`.
#[cfg(unix)]
fn made_by_root(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    dir.parent()
        .and_then(|parent| std::fs::metadata(parent).ok())
        .is_some_and(|meta| meta.uid() == 0 && meta.mode() & 0o022 == 0)
}

#[cfg(unix)]
fn refusal(dir: &Path, owner: u32, mode: u32, relation: &str) -> String {
    let me = rustix::process::geteuid().as_raw();
    format!(
        "refusing to talk to the worker: the socket directory {} {relation} {} (uid {owner}) \
         with mode {:04o}; it must belong to this user ({}, uid {me}) or root and not be \
         writable by group or others, or another user could stand in for the worker. Remove \
         it and start the worker again",
        dir.display(),
        user_name(owner),
        mode & 0o7777,
        user_name(me),
    )
}

/// The user name of `uid` from /etc/passwd, or `uid N`.
#[cfg(unix)]
fn user_name(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|line| {
                let mut fields = line.split(':');
                let name = fields.next()?;
                let id = fields.nth(1)?.parse::<u32>().ok()?;
                (id == uid).then(|| name.to_string())
            })
        })
        .unwrap_or_else(|| format!("uid {uid}"))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn names_the_directory_its_owner_and_its_mode() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("mailpull-1000");
        std::fs::create_dir(&dir).expect("mkdir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        let err = check_socket_dir(&dir).expect_err("0777 refused");
        assert!(
            err.contains(&dir.display().to_string()) && err.contains("0777"),
            "{err}"
        );
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        check_socket_dir(&dir).expect("0700 and ours");
        check_socket_dir(&tmp.path().join("missing")).expect("nothing there");
    }

    /// The client refuses a socket in a directory anyone could write, before it connects: the
    /// listener there never sees a connection, let alone a hello or a password.
    #[test]
    fn the_client_sends_nothing_to_a_socket_in_an_open_directory() {
        use crate::ipc::{Endpoint, IpcClient};
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("mailpull-1000");
        std::fs::create_dir(&dir).expect("mkdir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        let socket = dir.join("0123456789abcdef.sock");
        let listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let endpoint = Endpoint::at(&socket, "mailpull.toml");
        let err = runtime
            .block_on(IpcClient::connect(&endpoint))
            .expect_err("an open directory is refused");
        let text = err.to_string();
        assert!(
            text.contains(&dir.display().to_string()) && text.contains("0777"),
            "{text}"
        );
        assert_eq!(
            listener.accept().map(|_| ()).map_err(|e| e.kind()),
            Err(std::io::ErrorKind::WouldBlock),
            "the client connected"
        );
    }
}
