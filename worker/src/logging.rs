//! Logging through tracing: human-readable lines to stderr and to a daily-rotated file
//! `mailpull.log` in the state directory's `logs/` folder (14 days kept), and to the live log
//! ([`LiveLog`]) that IPC clients subscribe to. The log never holds a secret, so neither
//! does the live log.

use std::io::IsTerminal;
use std::path::Path;

use std::io::Write;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use tokio::sync::broadcast;
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

/// A broadcast of formatted log lines (without ANSI colours or trailing newline).
#[derive(Clone)]
pub struct LiveLog {
    sender: broadcast::Sender<String>,
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
        }
    }

    /// Receives every line logged from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.sender.subscribe()
    }

    /// Sends one line to the subscribers (nothing happens without any).
    pub fn publish(&self, line: impl Into<String>) {
        if self.sender.receiver_count() > 0 {
            let _ = self.sender.send(line.into());
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
        if self.log.sender.receiver_count() > 0 {
            self.buf.extend_from_slice(bytes);
        }
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

/// Logs to stderr, to `<state_dir>/logs/mailpull.log.YYYY-MM-DD` and to the live log.
pub fn init(level: &str, state_dir: &Path) -> std::io::Result<LogGuard> {
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
    let _ = tracing_subscriber::registry()
        .with(filter(level))
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
}
