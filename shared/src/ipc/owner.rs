//! Who serves the endpoint. Windows: once connected and before anything is sent, the pipe
//! server's process must run as the service's account, SYSTEM or the client's own user
//! ([`check_pipe_server`]), else someone may have taken the pipe's name while the service
//! restarted. Unix: before the client sends anything — a hello, a password —
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

/// Windows has no socket directory: the pipe's server is checked once connected
/// ([`check_pipe_server`]).
#[cfg(not(unix))]
pub fn check_socket_dir(_dir: &Path) -> Result<(), String> {
    Ok(())
}

/// Whether a pipe server running as `server_sid` may be sent anything by a client running as
/// `client_sid`: the service's account, SYSTEM, or the client's own user (a worker it
/// started). Anyone else may have taken the pipe's name while the service restarted.
pub fn trusted_pipe_server(server_sid: &str, client_sid: &str) -> bool {
    server_sid == SERVICE_SID || server_sid == SYSTEM_SID || server_sid == client_sid
}

/// The local group whose members use the Pull Manager without elevation: the installer
/// creates it and adds the installing user; the pipe and the data folder grant it.
pub const ADMIN_GROUP: &str = "Mailpull Administrators";

/// NT AUTHORITY\SYSTEM.
pub const SYSTEM_SID: &str = "S-1-5-18";

/// The refusal of a pipe served by `server` (process `pid`).
pub fn pipe_refusal(pipe: &str, pid: u32, server: &str, client: &str) -> String {
    format!(
        "refusing to talk to the worker: the pipe {pipe} is served by process {pid} running as \
         {server}, not by the Mailpull service ({SERVICE_ACCOUNT}), SYSTEM or this user \
         ({client}); another program may have taken the pipe's name. Nothing was sent. Restart \
         the service (mailpull-worker service start) and try again"
    )
}

/// Checks who serves the connected pipe `stream` before anything is sent (Windows): the
/// server process's account must pass [`trusted_pipe_server`].
#[cfg(windows)]
pub fn check_pipe_server(
    stream: &interprocess::local_socket::tokio::Stream,
    pipe: &str,
) -> Result<(), String> {
    let interprocess::local_socket::tokio::Stream::NamedPipe(named) = stream;
    let cannot = |what: &str, err: std::io::Error| {
        format!(
            "refusing to talk to the worker: cannot tell who serves the pipe {pipe} ({what}: {err}); nothing was sent"
        )
    };
    let pid = named
        .inner()
        .server_process_id()
        .map_err(|err| cannot("its server's process id", err))?;
    let client =
        crate::winsec::current_user().map_err(|err| cannot("this process's account", err))?;
    let server = match crate::winsec::process_user(pid) {
        Ok(server) => server,
        // An unelevated client may not read the token of the service's process; the pipe's
        // own owner is the account that created it (another owner needs a privilege only
        // administrators hold), and the client may read it.
        Err(err) => {
            use std::os::windows::io::AsHandle as _;
            crate::winsec::owner_of_handle(named.inner().as_handle())
                .map_err(|_| cannot("its server's account", err))?
        }
    };
    if trusted_pipe_server(&server.sid, &client.sid) {
        return Ok(());
    }
    Err(pipe_refusal(
        pipe,
        pid,
        &server.to_string(),
        &client.to_string(),
    ))
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

#[cfg(test)]
mod pipe_tests {
    use super::*;

    #[test]
    fn the_pipe_server_must_be_the_service_system_or_this_user() {
        let me = "S-1-5-21-1-2-3-1001";
        assert!(trusted_pipe_server(SERVICE_SID, me));
        assert!(trusted_pipe_server(SYSTEM_SID, me));
        assert!(trusted_pipe_server(me, me));
        // Another user, a group or a well-known account is not.
        for other in [
            "S-1-5-21-1-2-3-1002",
            "S-1-5-32-544",
            "S-1-5-19",
            "S-1-5-20",
        ] {
            assert!(!trusted_pipe_server(other, me), "{other}");
        }
        let text = pipe_refusal(
            r"\\.\pipe\mailpull-0123",
            4242,
            r"PC\eve (S-1-5-21-1-2-3-1002)",
            "PC\\bob",
        );
        assert!(
            text.contains("4242") && text.contains(r"PC\eve") && text.contains("Nothing was sent"),
            "{text}"
        );
    }
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
