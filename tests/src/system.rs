//! System facts and process plumbing shared by the test servers: the unprivileged mail user,
//! running commands with their output in errors, stopping daemons by pid.

use std::fs;
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tempfile::TempDir;

/// The system user that owns test mailboxes. Dovecot refuses to run mail processes as root;
/// `scripts/setup-deps.sh` creates this user.
pub const TEST_SYSTEM_USER: &str = "mailpulltest";

/// Where test servers keep their state. `MAILPULL_TEST_TMPDIR` if set; otherwise `/dev/shm`
/// when it is a tmpfs with at least 1 GiB free (the disk here needs ~1.5 s just to delete a
/// mailbox tree of 100 users); otherwise the usual temp dir (`TMPDIR`).
pub fn scratch_base() -> PathBuf {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    BASE.get_or_init(|| {
        if let Some(dir) = std::env::var_os("MAILPULL_TEST_TMPDIR") {
            return PathBuf::from(dir);
        }
        let shm = Path::new("/dev/shm");
        if shm.is_dir() && free_kib(shm).is_some_and(|kib| kib >= 1024 * 1024) {
            return shm.to_owned();
        }
        std::env::temp_dir()
    })
    .clone()
}

/// Free space of the file system holding `path`, from `df -Pk`.
fn free_kib(path: &Path) -> Option<u64> {
    let out = Command::new("df").arg("-Pk").arg(path).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().nth(1)?.split_whitespace().nth(3)?.parse().ok()
}

/// A new temp dir (mode 0755, so the servers' unprivileged users can traverse it) under
/// [`scratch_base`], removed when dropped.
pub fn scratch_dir(prefix: &str) -> anyhow::Result<TempDir> {
    let base = scratch_base();
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(&base)
        .with_context(|| format!("creating a temp dir in {}", base.display()))?;
    make_dir(dir.path(), None, 0o755)?;
    Ok(dir)
}

/// A system user's name and numeric ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

/// Looks up a system user through NSS (`getent passwd`).
pub fn system_user(name: &str) -> anyhow::Result<SystemUser> {
    let out = Command::new("getent")
        .args(["passwd", name])
        .output()
        .context("running getent passwd")?;
    if !out.status.success() {
        bail!(
            "system user {name:?} does not exist; run scripts/setup-deps.sh as root to create it"
        );
    }
    let line = String::from_utf8_lossy(&out.stdout);
    let fields: Vec<&str> = line.trim_end().split(':').collect();
    if fields.len() < 4 {
        bail!("getent passwd {name} printed an unexpected line: {line:?}");
    }
    let uid = fields[2]
        .parse()
        .with_context(|| format!("uid of {name}: {:?}", fields[2]))?;
    let gid = fields[3]
        .parse()
        .with_context(|| format!("gid of {name}: {:?}", fields[3]))?;
    Ok(SystemUser {
        name: name.to_owned(),
        uid,
        gid,
    })
}

/// Looks up a system group's id through NSS (`getent group`).
pub fn group_id(name: &str) -> anyhow::Result<u32> {
    let out = Command::new("getent")
        .args(["group", name])
        .output()
        .context("running getent group")?;
    if !out.status.success() {
        bail!("system group {name:?} does not exist; run scripts/setup-deps.sh as root");
    }
    let line = String::from_utf8_lossy(&out.stdout);
    line.trim_end()
        .split(':')
        .nth(2)
        .and_then(|g| g.parse().ok())
        .with_context(|| format!("getent group {name} printed an unexpected line: {line:?}"))
}

/// The user that owns test mailboxes (see [`TEST_SYSTEM_USER`]).
pub fn mail_user() -> anyhow::Result<SystemUser> {
    system_user(TEST_SYSTEM_USER)
}

/// Creates `dir` (and parents) and gives it to `owner` with `mode`.
pub(crate) fn make_dir(dir: &Path, owner: Option<&SystemUser>, mode: u32) -> anyhow::Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    if let Some(user) = owner {
        chown(dir, Some(user.uid), Some(user.gid))
            .with_context(|| format!("chown {} to {}", dir.display(), user.name))?;
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {mode:o} {}", dir.display()))?;
    Ok(())
}

/// Writes `contents` to `path` with `mode`.
pub(crate) fn write_file(path: &Path, contents: &[u8], mode: u32) -> anyhow::Result<()> {
    fs::write(path, contents).with_context(|| format!("writing {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {mode:o} {}", path.display()))?;
    Ok(())
}

/// Runs a command to completion; a non-zero exit becomes an error carrying its output.
pub(crate) fn run(cmd: &mut Command) -> anyhow::Result<Output> {
    let shown = format!("{cmd:?}");
    let out = cmd.output().with_context(|| format!("starting {shown}"))?;
    if !out.status.success() {
        bail!(
            "{shown} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out)
}

/// Reads a file for an error message; a missing file reads as a note saying so.
pub(crate) fn read_log(path: &Path) -> String {
    match fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => format!("({} unreadable: {e})", path.display()),
    }
}

/// True while `pid` names a live process (a zombie counts as gone).
pub(crate) fn process_alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses, which may itself contain spaces.
        Ok(stat) => match stat.rfind(')') {
            Some(end) => !matches!(stat[end + 1..].trim_start().chars().next(), Some('Z' | 'X')),
            None => true,
        },
        Err(_) => false,
    }
}

/// Sends `signal` (a name such as "TERM") to `pid` through kill(1).
pub(crate) fn signal(pid: u32, signal: &str) -> bool {
    Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Asks a daemon that is not our child to stop (SIGTERM), waits up to `timeout`, then kills it.
pub(crate) fn terminate_pid(pid: u32, timeout: Duration) {
    if !process_alive(pid) {
        return;
    }
    signal(pid, "TERM");
    let deadline = Instant::now() + timeout;
    while process_alive(pid) {
        if Instant::now() >= deadline {
            signal(pid, "KILL");
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Process ids of live (non-zombie) processes whose process group is `pgid`.
pub(crate) fn group_members(pgid: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            let Some(end) = stat.rfind(')') else {
                return false;
            };
            // After the command name: state, ppid, pgrp, ...
            let mut fields = stat[end + 1..].split_whitespace();
            let state = fields.next().unwrap_or("Z");
            let pgrp = fields.nth(1).and_then(|f| f.parse::<u32>().ok());
            pgrp == Some(pgid) && state != "Z" && state != "X"
        })
        .collect()
}

/// The process's name as the kernel shows it (`/proc/PID/comm`; Dovecot sets it to the
/// service name, e.g. "pop3-login").
pub(crate) fn process_name(pid: u32) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// Waits until no process of group `pgid` is left (a daemon's workers keep its listening
/// sockets open for a moment after the master exits); SIGKILLs stragglers after `timeout`.
pub(crate) fn wait_group_gone(pgid: u32, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let members = group_members(pgid);
        if members.is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            for pid in &members {
                eprintln!(
                    "mailpull-tests: process {pid} ({}) outlived its server; killing it",
                    process_name(*pid)
                );
            }
            for pid in members {
                signal(pid, "KILL");
            }
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Sends `signal` to every process in group `pgid` (kill(1) with a negative pid).
pub(crate) fn signal_group(pgid: u32, signal: &str) -> bool {
    Command::new("kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .arg(format!("-{pgid}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Stops a child process: SIGTERM, up to `timeout` to exit, then SIGKILL; always reaps it.
pub(crate) fn terminate_child(child: &mut Child, timeout: Duration) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    signal(child.id(), "TERM");
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(_)) | Err(_) => return,
            Ok(None) if Instant::now() >= deadline => {
                eprintln!(
                    "mailpull-tests: process {} ignored SIGTERM; killing it",
                    child.id()
                );
                let _ = child.kill();
                let _ = child.wait();
                return;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}
