//! The two programs the window may start: the worker for its configuration (when none runs),
//! and the desktop's opener for the log file. Neither touches the network.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The worker binary: next to this executable, else `mailpull-worker` from `PATH`.
pub fn worker_binary() -> PathBuf {
    let name = format!("mailpull-worker{}", std::env::consts::EXE_SUFFIX);
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(&name)))
        .filter(|candidate| candidate.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// Starts `mailpull-worker run --config FILE` in the background; it lives on after the
/// window closes (it is the service, the window only watches it).
pub fn start_worker(config: &Path) -> Result<String, String> {
    let binary = worker_binary();
    let mut command = Command::new(&binary);
    command
        .arg("run")
        .arg("--config")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    match command.spawn() {
        Ok(child) => Ok(format!(
            "started {} (process {}) for {}",
            binary.display(),
            child.id(),
            config.display()
        )),
        Err(err) => Err(format!("cannot start {}: {err}", binary.display())),
    }
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
        .map(drop)
        .map_err(|err| format!("cannot run {opener} {}: {err}", path.display()))
}
