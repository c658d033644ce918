//! What the command line's sign-in shows: one line at a time on standard output (flushed,
//! so that scripts and tests read each at once), and the authorization address opened in
//! the desktop's browser.

use std::io::{IsTerminal, Write};

/// Prints one line of the prompt.
pub fn say(line: impl AsRef<str>) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", line.as_ref());
    let _ = out.flush();
}

/// Opens `url` in the desktop's default browser (`explorer`, `open` or `xdg-open`).
pub fn open_in_browser(url: &str) -> Result<(), String> {
    let opener = if cfg!(windows) {
        "explorer"
    } else if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let mut child = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|err| format!("cannot run {opener}: {err}"))?;
    // Reaped on a thread of its own: no zombie, and no wait for the browser.
    let _ = std::thread::Builder::new()
        .name("mailpull-browser".into())
        .spawn(move || child.wait());
    Ok(())
}

/// Whether to open the authorization URL here: on request, with a terminal to read the
/// prompt on, and (outside Windows and macOS) a graphical session — over SSH `xdg-open`
/// would start a text browser in the terminal.
pub fn may_open_browser(no_browser: bool) -> bool {
    let graphical = cfg!(any(windows, target_os = "macos"))
        || std::env::var_os("DISPLAY").is_some()
        || std::env::var_os("WAYLAND_DISPLAY").is_some();
    !no_browser && graphical && std::io::stdout().is_terminal()
}
