//! Logging through tracing: human-readable lines to stderr and to a daily-rotated file
//! `mailpull.log` in the state directory's `logs/` folder (14 days kept).

use std::io::IsTerminal;
use std::path::Path;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, fmt};

/// Keeps the file writer alive; drop it last so buffered lines reach the file.
pub struct LogGuard {
    _file: WorkerGuard,
}

fn filter(level: &str) -> EnvFilter {
    // RUST_LOG, when set, wins over the configured level.
    EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Logs to stderr and to `<state_dir>/logs/mailpull.log.YYYY-MM-DD`.
pub fn init(level: &str, state_dir: &Path) -> std::io::Result<LogGuard> {
    let dir = state_dir.join("logs");
    std::fs::create_dir_all(&dir).map_err(|err| {
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
    let (writer, guard) = tracing_appender::non_blocking(appender);
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
        .try_init();
    Ok(LogGuard { _file: guard })
}
