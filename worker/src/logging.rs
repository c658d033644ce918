//! Logging through tracing: human-readable lines to stderr and to a daily-rotated file
//! `mailpull.YYYY-MM-DD.log` (tracing-appender's `prefix.date.suffix`) in the state
//! directory's `logs/` folder (14 days kept), and to the live log ([`LiveLog`]) that IPC
//! clients subscribe to. The log never holds a secret, so neither does the live log.

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use std::io::Write;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use tokio::sync::broadcast;
use tracing::{Level, Metadata};
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::{EnvFilter, fmt};

/// Keeps the file writer alive; drop it last so buffered lines reach the file.
pub struct LogGuard {
    _file: Option<WorkerGuard>,
    /// The live log of this process, for IPC subscribers.
    pub live: LiveLog,
}

/// Lines kept for a slow subscriber before it starts losing them.
const LIVE_CAPACITY: usize = 1024;

/// The last lines a new subscriber gets first (the window shows what happened before it
/// opened).
pub const RECENT_LINES: usize = 500;

/// A broadcast of formatted log lines (without ANSI colours or trailing newline), and the
/// last [`RECENT_LINES`] of them.
#[derive(Clone)]
pub struct LiveLog {
    sender: broadcast::Sender<String>,
    /// Also the lock that makes "the recent lines, then every later one" exact: a line is
    /// kept and sent under it, and a subscriber takes the copy and subscribes under it.
    recent: Arc<Mutex<VecDeque<String>>>,
}

impl Default for LiveLog {
    fn default() -> Self {
        Self::new()
    }
}

impl LiveLog {
    pub fn new() -> Self {
        LiveLog {
            sender: broadcast::channel(LIVE_CAPACITY).0,
            recent: Arc::new(Mutex::new(VecDeque::with_capacity(RECENT_LINES))),
        }
    }

    fn recent(&self) -> MutexGuard<'_, VecDeque<String>> {
        self.recent.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Receives every line logged from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.sender.subscribe()
    }

    /// The last [`RECENT_LINES`] lines, oldest first, and every line logged after them: none
    /// missing between the two, none in both.
    pub fn subscribe_with_recent(&self) -> (Vec<String>, broadcast::Receiver<String>) {
        let recent = self.recent();
        (recent.iter().cloned().collect(), self.sender.subscribe())
    }

    /// Keeps one line among the recent ones and sends it to the subscribers.
    pub fn publish(&self, line: impl Into<String>) {
        let line = line.into();
        let mut recent = self.recent();
        if recent.len() == RECENT_LINES {
            recent.pop_front();
        }
        recent.push_back(line.clone());
        if self.sender.receiver_count() > 0 {
            let _ = self.sender.send(line);
        }
    }
}

impl<'a> MakeWriter<'a> for LiveLog {
    type Writer = LiveLineWriter;

    fn make_writer(&'a self) -> Self::Writer {
        LiveLineWriter {
            log: self.clone(),
            buf: Vec::new(),
        }
    }
}

/// Collects one formatted event and publishes its lines when dropped.
pub struct LiveLineWriter {
    log: LiveLog,
    buf: Vec<u8>,
}

impl Write for LiveLineWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LiveLineWriter {
    fn drop(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.buf);
        for line in text.lines().filter(|line| !line.is_empty()) {
            self.log.publish(line);
        }
    }
}

/// Crates whose logs at some level carry what goes over the wire, logins included, with the
/// most verbose level that is still safe (`None`: nothing from them at all). async-imap
/// traces every command it encodes (`LOGIN "user" "password"`, the base64 AUTHENTICATE
/// lines) and every reply it decodes; lettre's debug lines are the SMTP commands (AUTH
/// included); ureq's debug lines are the HTTP requests of OAuth (forms with refresh tokens
/// and client secrets); rustls's trace holds whole handshake messages.
const WIRE_TARGETS: &[(&str, Option<Level>)] = &[
    ("async_imap", None),
    ("imap_proto", None),
    ("lettre", Some(Level::INFO)),
    ("ureq", Some(Level::INFO)),
    ("ureq_proto", Some(Level::INFO)),
    ("rustls", Some(Level::DEBUG)),
    ("tokio_rustls", Some(Level::DEBUG)),
];

/// Whether an event or span may be logged at all: not from [`WIRE_TARGETS`] above their
/// level. A global filter beside the level filter, so neither `log_level` nor `RUST_LOG`
/// (whatever its directives, spans included) can turn those lines back on.
fn wire_safe(meta: &Metadata<'_>) -> bool {
    let target = meta.target();
    WIRE_TARGETS.iter().all(|(crate_name, most_verbose)| {
        let ours = target
            .strip_prefix(crate_name)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"));
        !ours || most_verbose.is_some_and(|level| *meta.level() <= level)
    })
}

fn filter(level: &str) -> EnvFilter {
    // RUST_LOG, when set, wins over the configured level.
    EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Logs to stderr only (commands such as `check`).
pub fn init_stderr(level: &str) {
    let _ = tracing_subscriber::registry()
        .with(filter(level))
        .with(filter_fn(wire_safe))
        .with(
            fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal())
                .with_target(false),
        )
        .try_init();
}

/// The folder of the log files of a worker whose state directory is `state_dir`.
pub fn log_dir(state_dir: &Path) -> std::path::PathBuf {
    state_dir.join("logs")
}

/// A further destination of the log (the Windows service's Event Log), after the level filter.
pub type ExtraLayer =
    Box<dyn tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync>;

/// Logs to stderr, to `<state_dir>/logs/mailpull.YYYY-MM-DD.log` and to the live log.
pub fn init(level: &str, state_dir: &Path) -> std::io::Result<LogGuard> {
    init_with(level, state_dir, None)
}

/// [`init`], and also to `extra`.
pub fn init_with(
    level: &str,
    state_dir: &Path,
    extra: Option<ExtraLayer>,
) -> std::io::Result<LogGuard> {
    let dir = log_dir(state_dir);
    crate::private::dir(&dir).map_err(|err| {
        std::io::Error::other(format!(
            "cannot create log directory {}: {err}",
            dir.display()
        ))
    })?;
    let appender = RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix("mailpull")
        .filename_suffix("log")
        .max_log_files(14)
        .build(&dir)
        .map_err(|err| {
            std::io::Error::other(format!("cannot open log file in {}: {err}", dir.display()))
        })?;
    // Today's file exists now; later days' files are private through the umask
    // (`private::prepare`).
    crate::private::fix_files(&dir).map_err(|err| {
        std::io::Error::other(format!(
            "cannot make the log files in {} owner-only: {err}",
            dir.display()
        ))
    })?;
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let live = LiveLog::new();
    // The level and wire filters are global (`enabled`): they apply to `extra` too.
    let _ = tracing_subscriber::registry()
        .with(extra)
        .with(filter(level))
        .with(filter_fn(wire_safe))
        .with(
            fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal())
                .with_target(false),
        )
        .with(
            fmt::layer()
                .with_writer(writer)
                .with_ansi(false)
                .with_target(false),
        )
        .with(
            fmt::layer()
                .with_writer(live.clone())
                .with_ansi(false)
                .with_target(false),
        )
        .try_init();
    Ok(LogGuard {
        _file: Some(guard),
        live,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_logs_stay_out_whatever_the_level() {
        let live = LiveLog::new();
        let mut rx = live.subscribe();
        let subscriber = tracing_subscriber::registry()
            .with(EnvFilter::new("trace,async_imap=trace,lettre=trace"))
            .with(filter_fn(wire_safe))
            .with(fmt::layer().with_writer(live.clone()).with_ansi(false));
        tracing::subscriber::with_default(subscriber, || {
            tracing::trace!(target: "async_imap::imap_stream", "encode: LOGIN \"u\" \"hunter2\"");
            tracing::error!(target: "async_imap", "hunter2 at error too");
            tracing::debug!(target: "lettre::transport::smtp", "<< AUTH PLAIN aHVudGVyMg==");
            tracing::debug!(target: "ureq_proto::client", "refresh_token=hunter2");
            tracing::trace!(target: "rustls::client", "hunter2 handshake bytes");
            tracing::warn!(target: "lettre", "kept: lettre warns");
            tracing::debug!(target: "rustls::client", "kept: rustls debug");
            tracing::trace!(target: "async_imap_like", "kept: another crate");
            tracing::trace!("kept: our own trace");
        });
        let mut lines = Vec::new();
        while let Ok(line) = rx.try_recv() {
            lines.push(line);
        }
        let text = lines.join("\n");
        assert!(
            !text.contains("hunter2") && !text.contains("aHVudGVyMg"),
            "{text}"
        );
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines.iter().all(|line| line.contains("kept:")), "{text}");
    }

    #[test]
    fn live_log_publishes_each_formatted_line_to_subscribers() {
        let live = LiveLog::new();
        let mut rx = live.subscribe();
        let subscriber = tracing_subscriber::registry().with(
            fmt::layer()
                .with_writer(live.clone())
                .with_ansi(false)
                .with_target(false),
        );
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(profile = "isp", "poll done");
            tracing::warn!("second line");
        });
        let first = rx.try_recv().expect("first line");
        assert!(
            first.contains("INFO")
                && first.contains("poll done")
                && first.contains("profile=\"isp\""),
            "{first}"
        );
        assert!(!first.ends_with('\n'));
        assert!(rx.try_recv().expect("second line").contains("second line"));
        assert!(rx.try_recv().is_err());
    }

    /// A window that opens late first gets the last 500 lines, then every later line, with
    /// nothing lost or repeated between the two.
    #[test]
    fn a_late_subscriber_gets_the_last_lines_first() {
        let live = LiveLog::new();
        for i in 0..RECENT_LINES + 100 {
            live.publish(format!("line {i}"));
        }
        let (recent, mut rx) = live.subscribe_with_recent();
        assert_eq!(recent.len(), RECENT_LINES);
        assert_eq!(recent.first().map(String::as_str), Some("line 100"));
        assert_eq!(recent.last().map(String::as_str), Some("line 599"));
        assert!(rx.try_recv().is_err(), "nothing twice");
        live.publish("line 600");
        assert_eq!(rx.try_recv().expect("live line"), "line 600");
    }
}
