//! The programs the window may start: the worker for its configuration (when none runs),
//! and the desktop's opener for the log file and for an OAuth sign-in page (the browser).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use mailpull_shared::ipc::hello::{STARTED_BY_ENV, STARTED_BY_MANAGER};

/// The worker binary: next to this executable, else `mailpull-worker` from `PATH`.
pub fn worker_binary() -> PathBuf {
    let name = format!("mailpull-worker{}", std::env::consts::EXE_SUFFIX);
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(&name)))
        .filter(|candidate| candidate.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// Starts `binary run --config FILE` in the background; it lives on after the window closes
/// (it is the service, the window only watches it). Returns its process id and a message.
/// The worker is told who started it ([`STARTED_BY_ENV`], for its hello's run mode); the
/// markers of a systemd unit the window itself may run in (`INVOCATION_ID`,
/// `NOTIFY_SOCKET`) are not passed on, so the worker does not take itself for that unit.
pub fn start_worker(binary: &Path, config: &Path) -> Result<(u32, String), String> {
    let mut command = Command::new(binary);
    command
        .env(STARTED_BY_ENV, STARTED_BY_MANAGER)
        .env_remove("INVOCATION_ID")
        .env_remove("NOTIFY_SOCKET")
        .arg("run")
        .arg("--config")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    match command.spawn() {
        Ok(child) => {
            let pid = child.id();
            reap(child);
            Ok((
                pid,
                format!(
                    "Started {} (process {pid}) for {}.",
                    binary.display(),
                    config.display()
                ),
            ))
        }
        Err(err) => Err(format!("Cannot start {}: {err}", binary.display())),
    }
}

/// Waits for `child` on a thread of its own, so it leaves no zombie when it ends.
fn reap(mut child: Child) {
    let _ = std::thread::Builder::new()
        .name("mailpull-reaper".into())
        .spawn(move || child.wait());
}

/// Opens `url` (an OAuth sign-in page) in the desktop's default browser.
pub fn open_url(url: &str) -> Result<(), String> {
    open_path(Path::new(url))
}

/// Opens `path` with the desktop's default program.
pub fn open_path(path: &Path) -> Result<(), String> {
    let opener = if cfg!(windows) {
        "explorer"
    } else if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    Command::new(opener)
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(reap)
        .map_err(|err| format!("Cannot run {opener} {}: {err}", path.display()))
}
