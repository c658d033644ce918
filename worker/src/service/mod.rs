//! `mailpull-worker service …` (Windows only): the worker as the "Mailpull Worker" service of
//! the Service Control Manager.
//!
//! - [`control`]: install, uninstall, start, stop and status through the SCM, for people and
//!   for the installer.
//! - [`entry`]: `service run`, the process the SCM starts: the library's
//!   [`mailpull_worker::run`], like `mailpull-worker run`, with an SCM stop turned into the
//!   graceful shutdown that finishes the message in hand.
//! - [`acl`]: the data directory's owner and access list (the service account,
//!   administrators and SYSTEM only), set before anything is written into it.
//! - [`trust`]: which owners of a pre-existing data folder are trusted (pure, tested on
//!   every platform).
//! - `eventlog` (Windows): the Event Log source `MailpullWorker`: the worker's errors and
//!   warnings, and why the service stopped.
//! - `process` (Windows): waits for the service's process to exit after it reported
//!   "stopped", so that an upgrade can replace `mailpull-worker.exe`.
//! - [`errlog`]: `service-errors.log`, where a service that cannot start says why, with a
//!   size cap and a few rotated files (pure file handling, tested on every platform).
//!
//! Only [`trust`] and [`errlog`] are built outside Windows (for their tests).
#![cfg_attr(not(windows), allow(dead_code))]

#[cfg(windows)]
pub mod acl;
#[cfg(windows)]
pub mod control;
#[cfg(windows)]
pub mod entry;
pub mod errlog;
#[cfg(windows)]
pub mod eventlog;
#[cfg(windows)]
pub mod process;
pub mod trust;

#[cfg(windows)]
use std::path::PathBuf;
#[cfg(windows)]
use std::process::ExitCode;

#[cfg(windows)]
use clap::Subcommand;

/// The service's key name in the registry (`sc query MailpullWorker`).
pub const SERVICE_NAME: &str = mailpull_shared::ipc::hello::WINDOWS_SERVICE;
/// The name people see in services.msc.
pub const DISPLAY_NAME: &str = "Mailpull Worker";
/// The description shown in services.msc.
pub const DESCRIPTION: &str =
    "Pulls POP3/IMAP mailboxes and delivers every message over SMTP to the local mail server.";

/// What `mailpull-worker service` can do.
#[cfg(windows)]
#[derive(Subcommand)]
pub enum Action {
    /// Register the service (automatic start, restart on failure) and protect the data folder.
    Install {
        /// The configuration file the service runs (default: %ProgramData%\Mailpull\mailpull.toml).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Stop the service if it runs and remove its registration (config and state stay).
    Uninstall,
    /// Start the registered service.
    Start,
    /// Stop the service; it finishes the message in hand first.
    Stop,
    /// Stop the service (if it runs), then start it again: what the Pull Manager's
    /// "Restart service" runs, elevated.
    Restart,
    /// Show whether the service is registered and running.
    Status,
    /// The service process itself: only the Service Control Manager starts this.
    #[command(hide = true)]
    Run {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

/// Runs one `service` action.
#[cfg(windows)]
pub fn execute(action: Action) -> anyhow::Result<ExitCode> {
    let config_path = |config: Option<PathBuf>| {
        config.unwrap_or_else(mailpull_shared::paths::default_config_file)
    };
    match action {
        Action::Install { config } => control::install(&config_path(config)),
        Action::Uninstall => control::uninstall(),
        Action::Start => control::start(),
        Action::Stop => control::stop(),
        Action::Restart => control::restart(),
        Action::Status => control::status(),
        Action::Run { config } => entry::run(config_path(config)),
    }
}
