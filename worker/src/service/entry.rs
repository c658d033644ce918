//! `mailpull-worker service run`: the process the Service Control Manager starts. It hands
//! the main thread to the SCM's dispatcher, which calls [`service_main`] on a thread of its
//! own; that runs exactly what `mailpull-worker run` runs ([`mailpull_worker::run`]). An SCM stop (or shutdown) cancels
//! the scheduler the way Ctrl-C does: polls finish the message in hand, record it, and the
//! service reports "stopped" only then. While it finishes, it keeps telling the SCM it is
//! still stopping so the SCM does not give up on it.
//!
//! A worker that ends with an error while running ends its process without reporting
//! "stopped" (exit code [`EXIT_FAILED`]), which the SCM's recovery actions (set at install)
//! answer with a restart. A configuration it refuses reports "stopped" with the
//! service-specific code [`EXIT_BAD_CONFIG`], which the recovery actions leave alone: the
//! service stays stopped and `service-errors.log` says so, rather than retrying every 60 s
//! something only a person can fix.
#![allow(unsafe_code)] // `define_windows_service!` expands to the FFI entry point the SCM calls.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use anyhow::Context;
use mailpull_shared::config::Config;
use tokio_util::sync::CancellationToken;
use windows_service::service::{
    ServiceControl, ServiceControlAccept, ServiceExitCode, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{
    self, ServiceControlHandlerResult, ServiceStatusHandle,
};
use windows_service::{define_windows_service, service_dispatcher};

use super::SERVICE_NAME;

/// The configuration named on the service's command line, for [`service_main`].
static CONFIG: OnceLock<PathBuf> = OnceLock::new();

/// How long the SCM should wait between two "still stopping" reports.
const STOP_WAIT_HINT: Duration = Duration::from_secs(30);
/// How often the stopping service reports progress.
const STOP_PROGRESS_EVERY: Duration = Duration::from_secs(10);
/// Process exit code of a worker that ended with an error while running (restarted).
pub const EXIT_FAILED: u32 = 2;
/// Service-specific exit code of a configuration the worker refuses (not restarted).
pub const EXIT_BAD_CONFIG: u32 = 3;

/// Connects to the SCM and runs the service until it stops.
pub fn run(config: PathBuf) -> anyhow::Result<ExitCode> {
    let _ = CONFIG.set(config);
    service_dispatcher::start(SERVICE_NAME, ffi_service_main).context(
        "cannot reach the Service Control Manager: `service run` is started by the SCM; \
         to run the worker in a console use `mailpull-worker run`",
    )?;
    Ok(ExitCode::SUCCESS)
}

define_windows_service!(ffi_service_main, service_main);

fn service_main(_arguments: Vec<OsString>) {
    if let Err(err) = run_service() {
        tracing::error!("the service failed: {err:#}");
    }
}

fn status(state: ServiceState, exit_code: ServiceExitCode, checkpoint: u32) -> ServiceStatus {
    ServiceStatus {
        service_type: ServiceType::OWN_PROCESS,
        current_state: state,
        controls_accepted: if state == ServiceState::Running {
            ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN
        } else {
            ServiceControlAccept::empty()
        },
        exit_code,
        checkpoint,
        wait_hint: if state == ServiceState::Running || state == ServiceState::Stopped {
            Duration::ZERO
        } else {
            STOP_WAIT_HINT
        },
        process_id: None,
    }
}

fn run_service() -> anyhow::Result<()> {
    let config = CONFIG
        .get()
        .cloned()
        .unwrap_or_else(mailpull_shared::paths::default_config_file);
    let stop = CancellationToken::new();
    // True from the SCM's stop until the worker has finished; status reports hold the lock
    // so that no "still stopping" can follow the final "stopped".
    let stopping = Arc::new(Mutex::new(false));
    let handle_slot: Arc<OnceLock<ServiceStatusHandle>> = Arc::new(OnceLock::new());

    let handler = {
        let (stop, stopping, handle_slot) = (stop.clone(), stopping.clone(), handle_slot.clone());
        move |control| match control {
            ServiceControl::Stop | ServiceControl::Shutdown => {
                let mut flag = stopping.lock().unwrap_or_else(PoisonError::into_inner);
                if !*flag && !stop.is_cancelled() {
                    *flag = true;
                    if let Some(handle) = handle_slot.get() {
                        let _ = handle.set_service_status(status(
                            ServiceState::StopPending,
                            ServiceExitCode::NO_ERROR,
                            1,
                        ));
                        report_progress(*handle, stopping.clone());
                    }
                    stop.cancel();
                }
                ServiceControlHandlerResult::NoError
            }
            ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
            _ => ServiceControlHandlerResult::NotImplemented,
        }
    };
    let handle = service_control_handler::register(SERVICE_NAME, handler)
        .context("cannot register the service's control handler")?;
    let _ = handle_slot.set(handle);
    // A configuration the worker refuses stops the service before it ever reports "running",
    // so `service start` and services.msc show the failure at once.
    let checked = match mailpull_worker::engine::load(&config) {
        Ok(checked) => checked,
        Err(err) => {
            let err = anyhow::Error::from(err);
            record_failure(&format!(
                "the service stopped: {err:#}. The configuration {} was refused: the service \
                 stays stopped (no automatic restart) until it is repaired and the service is \
                 started again (mailpull-worker service start, or services.msc)",
                config.display()
            ));
            let _ = handle.set_service_status(status(
                ServiceState::Stopped,
                ServiceExitCode::ServiceSpecific(EXIT_BAD_CONFIG),
                0,
            ));
            return Err(err);
        }
    };
    handle
        .set_service_status(status(ServiceState::Running, ServiceExitCode::NO_ERROR, 0))
        .context("cannot report the service as running")?;

    let result = run_worker(&config, &checked, stop.clone().cancelled_owned());
    let mut flag = stopping.lock().unwrap_or_else(PoisonError::into_inner);
    *flag = false;
    stop.cancel(); // a late SCM stop has nothing left to do
    if let Err(err) = &result {
        record_failure(&format!(
            "the worker stopped with an error: {err:#}. The service restarts it (after 10 s, \
             30 s, then every 60 s)"
        ));
        tracing::error!("the worker stopped with an error: {err:#}");
        // Ending the process without reporting "stopped" is what the SCM's recovery actions
        // answer with a restart (they are off for reported stops: see `control`).
        std::process::exit(EXIT_FAILED as i32);
    }
    handle
        .set_service_status(status(ServiceState::Stopped, ServiceExitCode::NO_ERROR, 0))
        .context("cannot report the service as stopped")?;
    drop(flag);
    result
}

/// What `mailpull-worker run` runs (logging, then the library's worker), with the SCM's stop
/// as the shutdown.
fn run_worker(
    config_file: &Path,
    config: &Config,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let log = mailpull_worker::logging::init_with(
        &config.worker.log_level,
        &config.worker.state_dir,
        Some(Box::new(super::eventlog::EventLogLayer)),
    )?;
    let mode = mailpull_shared::ipc::RunMode::WindowsService;
    mailpull_worker::run(config_file, config, log.live.clone(), mode, shutdown)?;
    Ok(())
}

/// Appends `text` to `service-errors.log` (capped and rotated, see [`super::errlog`]) and
/// writes it to the Event Log; a service has no console to print it on.
fn record_failure(text: &str) {
    use super::errlog;
    super::eventlog::report(true, super::eventlog::ID_STOPPED, text);
    let dir = mailpull_shared::paths::default_state_dir().join("logs");
    let _ = errlog::append_in(
        &dir,
        &errlog::stamped(text),
        errlog::MAX_BYTES,
        errlog::KEEP,
    );
}

/// Tells the SCM every few seconds that the service is still stopping (a growing checkpoint),
/// until the worker has finished.
fn report_progress(handle: ServiceStatusHandle, stopping: Arc<Mutex<bool>>) {
    std::thread::spawn(move || {
        let mut checkpoint = 1;
        loop {
            std::thread::sleep(STOP_PROGRESS_EVERY);
            let still = stopping.lock().unwrap_or_else(PoisonError::into_inner);
            if !*still {
                return;
            }
            checkpoint += 1;
            let _ = handle.set_service_status(status(
                ServiceState::StopPending,
                ServiceExitCode::NO_ERROR,
                checkpoint,
            ));
        }
    });
}
