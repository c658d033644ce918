//! `mailpull-manager [--config FILE]`: opens the Pull Manager for the worker that runs FILE
//! (default: the installation's configuration).

#![cfg_attr(all(windows, not(debug_assertions)), windows_subsystem = "windows")]

use std::path::PathBuf;

use anyhow::{Context, bail};
use mailpull_manager::{ManagerApp, Settings, app::SETTINGS_KEY};

fn config_from_args() -> anyhow::Result<PathBuf> {
    let mut args = std::env::args().skip(1);
    let mut config = mailpull_shared::paths::default_config_file();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" => {
                config = PathBuf::from(args.next().context("--config needs a FILE")?);
            }
            "-h" | "--help" => {
                println!("usage: mailpull-manager [--config FILE]");
                std::process::exit(0);
            }
            other => bail!("unknown argument \"{other}\"; usage: mailpull-manager [--config FILE]"),
        }
    }
    Ok(config)
}

/// The window's own lines (no tray here, a notification not shown, the service-control
/// thread) go to standard error, at info level unless `MAILPULL_MANAGER_LOG` says otherwise
/// (an `EnvFilter`, e.g. `debug`). The worker's log is what the window's Log panel shows.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MAILPULL_MANAGER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

fn main() -> anyhow::Result<()> {
    init_logging();
    let config = config_from_args()?;
    let options = mailpull_manager::desktop::native_options();
    eframe::run_native(
        "mailpull-manager",
        options,
        Box::new(move |cc| {
            let settings: Settings = cc
                .storage
                .and_then(|storage| eframe::get_value(storage, SETTINGS_KEY))
                .unwrap_or_default();
            let mut app = ManagerApp::new(config, settings)?;
            app.start_tray(&cc.egui_ctx);
            Ok(Box::new(app))
        }),
    )
    .map_err(|err| anyhow::anyhow!("cannot open the window: {err}"))
}
