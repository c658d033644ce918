//! Registration and control of the service through the Service Control Manager: what
//! `service install|uninstall|start|stop|status` and the installer do.
//!
//! The service runs as its own virtual account `NT SERVICE\MailpullWorker` (no password,
//! no rights beyond what the data folder's ACL grants it, not LocalSystem), starts automatically at boot and is restarted by the SCM
//! when its process ends without reporting "stopped" (after 10 s, 30 s, then every 60 s; the
//! count resets after a day): the worker ends that way after an error while running. A
//! configuration it refuses is different: the service reports "stopped" with exit code
//! [`super::entry::EXIT_BAD_CONFIG`] and, since the recovery actions are not applied to such
//! non-crash stops, stays stopped until someone starts it again (no restart every 60 s).

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use windows_service::service::{
    Service, ServiceAccess, ServiceAction, ServiceActionType, ServiceErrorControl, ServiceExitCode,
    ServiceFailureActions, ServiceFailureResetPeriod, ServiceInfo, ServiceStartType, ServiceState,
    ServiceType,
};
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};

use mailpull_shared::ipc::owner::SERVICE_ACCOUNT;

use super::{DESCRIPTION, DISPLAY_NAME, SERVICE_NAME, acl};

/// Exit code of `service status` when the service is not registered.
pub const EXIT_NOT_INSTALLED: u8 = 3;
/// How long `stop` and `uninstall` wait for the worker to finish the message in hand.
const STOP_TIMEOUT: Duration = Duration::from_secs(120);
/// How long `stop` waits for the process to exit once the service reports "stopped".
const PROCESS_EXIT_TIMEOUT: Duration = Duration::from_secs(30);
/// Windows' ERROR_SERVICE_DOES_NOT_EXIST.
const ERROR_SERVICE_DOES_NOT_EXIST: i32 = 1060;

fn manager(access: ServiceManagerAccess) -> anyhow::Result<ServiceManager> {
    ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT | access).context(
        "cannot open the Service Control Manager (run this from an administrator's prompt)",
    )
}

/// Opens the service, `None` when it is not registered.
fn open(access: ServiceAccess) -> anyhow::Result<Option<Service>> {
    match manager(ServiceManagerAccess::empty())?.open_service(SERVICE_NAME, access) {
        Ok(service) => Ok(Some(service)),
        Err(windows_service::Error::Winapi(err))
            if err.raw_os_error() == Some(ERROR_SERVICE_DOES_NOT_EXIST) =>
        {
            Ok(None)
        }
        Err(err) => Err(err).with_context(|| format!("cannot open the service {SERVICE_NAME}")),
    }
}

fn open_existing(access: ServiceAccess) -> anyhow::Result<Service> {
    open(access)?.with_context(|| {
        format!("the service {SERVICE_NAME} is not installed (mailpull-worker service install)")
    })
}

/// The restart-on-failure policy.
fn failure_actions() -> ServiceFailureActions {
    let restart = |secs| ServiceAction {
        action_type: ServiceActionType::Restart,
        delay: Duration::from_secs(secs),
    };
    ServiceFailureActions {
        reset_period: ServiceFailureResetPeriod::After(Duration::from_secs(86_400)),
        reboot_msg: None,
        command: None,
        actions: Some(vec![restart(10), restart(30), restart(60)]),
    }
}

/// The registration: this executable with `service run --config CONFIG`.
fn service_info(config: &Path) -> anyhow::Result<ServiceInfo> {
    let executable_path =
        std::env::current_exe().context("cannot find the path of mailpull-worker.exe")?;
    Ok(ServiceInfo {
        name: OsString::from(SERVICE_NAME),
        display_name: OsString::from(DISPLAY_NAME),
        service_type: ServiceType::OWN_PROCESS,
        start_type: ServiceStartType::AutoStart,
        error_control: ServiceErrorControl::Normal,
        executable_path,
        launch_arguments: vec![
            OsString::from("service"),
            OsString::from("run"),
            OsString::from("--config"),
            config.as_os_str().to_owned(),
        ],
        dependencies: vec![],
        // A virtual account: Windows manages it, it has no password and only the rights
        // granted to its SID (the data folder's ACL, the pipe's descriptor).
        account_name: Some(OsString::from(SERVICE_ACCOUNT)),
        account_password: None,
    })
}

/// `service install`: registers (or updates) the service and protects the data folder.
pub fn install(config: &Path) -> anyhow::Result<ExitCode> {
    // Absolute, but not canonical: `\\?\C:\…` would work yet reads badly in services.msc.
    // The pipe's name is derived from the canonical form on both ends anyway.
    let config = std::path::absolute(config)
        .with_context(|| format!("cannot make {} an absolute path", config.display()))?;
    // First the SCM: without administrator rights this fails with the clearest message.
    let scm = manager(ServiceManagerAccess::CREATE_SERVICE)?;
    // The data folder first: owner and access list set before the installer writes the
    // sample configuration into it; a folder someone else made is refused.
    let data_dir = mailpull_shared::paths::default_state_dir();
    acl::protect(&data_dir)?;
    // A `state_dir` elsewhere gets the same list.
    if let Ok(checked) = mailpull_worker::engine::load(&config) {
        let state_dir = &checked.worker.state_dir;
        if !state_dir.starts_with(&data_dir) {
            acl::protect(state_dir)?;
            println!(
                "  state:  {} ({SERVICE_ACCOUNT}, administrators and SYSTEM only)",
                state_dir.display()
            );
        }
    }
    let info = service_info(&config)?;
    let access = ServiceAccess::QUERY_CONFIG
        | ServiceAccess::CHANGE_CONFIG
        | ServiceAccess::QUERY_STATUS
        | ServiceAccess::START;
    let service = match open(access)? {
        Some(service) => {
            service
                .change_config(&info)
                .context("cannot update the service's registration")?;
            println!("updated the service {SERVICE_NAME}");
            service
        }
        None => {
            let service = scm
                .create_service(&info, access)
                .context("cannot register the service")?;
            println!("registered the service {SERVICE_NAME} ({DISPLAY_NAME})");
            service
        }
    };
    service
        .set_description(DESCRIPTION)
        .context("cannot set the service's description")?;
    // The service works without recovery actions, so failing to set them is a warning
    // (wine, for one, lacks the second call); on Windows both succeed.
    if let Err(err) = service.update_failure_actions(failure_actions()) {
        eprintln!(
            "mailpull-worker: warning: cannot set the restart-on-failure recovery actions: {err}"
        );
    }
    // Only a process that ends without reporting "stopped" is restarted (see the module
    // documentation): a refused configuration stops the service for good.
    if let Err(err) = service.set_failure_actions_on_non_crash_failures(false) {
        eprintln!(
            "mailpull-worker: warning: cannot keep the recovery actions from restarting a \
             service stopped by a configuration error: {err}"
        );
    }
    println!("  runs:   {}", describe_command(&info));
    println!(
        "  data:   {} ({SERVICE_ACCOUNT}, administrators and SYSTEM only)",
        data_dir.display()
    );
    println!("  as:     {SERVICE_ACCOUNT}");
    println!(
        "  starts: automatically at boot; restarted when it fails while running, not after a \
         configuration error"
    );
    Ok(ExitCode::SUCCESS)
}

fn describe_command(info: &ServiceInfo) -> String {
    let mut line = format!("\"{}\"", info.executable_path.display());
    for arg in &info.launch_arguments {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}

/// Waits until the service reaches `wanted` (or `timeout` passes).
fn wait_for(service: &Service, wanted: ServiceState, timeout: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let status = service.query_status().context("cannot query the service")?;
        let state = status.current_state;
        if state == wanted {
            return Ok(());
        }
        if wanted == ServiceState::Running && state == ServiceState::Stopped {
            return Err(stopped_at_once(status.exit_code));
        }
        if started.elapsed() > timeout {
            bail!(
                "the service is still {} after {} s",
                state_name(state),
                timeout.as_secs()
            );
        }
        sleep(Duration::from_millis(250));
    }
}

/// The error of a service that stopped instead of running: where to read why.
fn stopped_at_once(exit_code: ServiceExitCode) -> anyhow::Error {
    let log = mailpull_shared::paths::default_state_dir()
        .join("logs")
        .join(super::errlog::ERROR_LOG);
    anyhow::anyhow!(
        "the service stopped at once ({exit_code:?}); the reason is in {}",
        log.display()
    )
}

/// Asks a running service to stop and waits for it.
fn stop_service(service: &Service) -> anyhow::Result<bool> {
    let status = service.query_status().context("cannot query the service")?;
    if status.current_state == ServiceState::Stopped {
        return Ok(false);
    }
    if status.current_state != ServiceState::StopPending {
        service.stop().context("cannot stop the service")?;
    }
    wait_for(service, ServiceState::Stopped, STOP_TIMEOUT)?;
    // "Stopped" comes a moment before the process exits and lets go of its executable.
    if let Some(pid) = status.process_id
        && !super::process::wait_for_exit(pid, PROCESS_EXIT_TIMEOUT)
    {
        bail!(
            "the service reports \"stopped\" but its process {pid} is still running after {} s",
            PROCESS_EXIT_TIMEOUT.as_secs()
        );
    }
    Ok(true)
}

/// `service uninstall`: stops the service and removes its registration.
pub fn uninstall() -> anyhow::Result<ExitCode> {
    let access = ServiceAccess::QUERY_STATUS | ServiceAccess::STOP | ServiceAccess::DELETE;
    let Some(service) = open(access)? else {
        println!("the service {SERVICE_NAME} is not installed");
        return Ok(ExitCode::SUCCESS);
    };
    if stop_service(&service)? {
        println!("stopped the service {SERVICE_NAME}");
    }
    service
        .delete()
        .context("cannot remove the service's registration")?;
    println!("removed the service {SERVICE_NAME}; configuration and state are kept");
    Ok(ExitCode::SUCCESS)
}

/// `service start`.
pub fn start() -> anyhow::Result<ExitCode> {
    let service = open_existing(ServiceAccess::QUERY_STATUS | ServiceAccess::START)?;
    if service
        .query_status()
        .context("cannot query the service")?
        .current_state
        == ServiceState::Running
    {
        println!("the service {SERVICE_NAME} is already running");
        return Ok(ExitCode::SUCCESS);
    }
    if let Err(err) = service.start::<&str>(&[]) {
        // A service that stops before it runs fails StartService on some systems (wine).
        if let Ok(status) = service.query_status()
            && status.current_state == ServiceState::Stopped
            && status.exit_code != ServiceExitCode::NO_ERROR
        {
            return Err(stopped_at_once(status.exit_code));
        }
        return Err(err).context("cannot start the service");
    }
    wait_for(&service, ServiceState::Running, Duration::from_secs(30))?;
    println!("started the service {SERVICE_NAME}");
    Ok(ExitCode::SUCCESS)
}

/// `service stop`.
pub fn stop() -> anyhow::Result<ExitCode> {
    let service = open_existing(ServiceAccess::QUERY_STATUS | ServiceAccess::STOP)?;
    if stop_service(&service)? {
        println!("stopped the service {SERVICE_NAME}");
    } else {
        println!("the service {SERVICE_NAME} is not running");
    }
    Ok(ExitCode::SUCCESS)
}

/// `service restart`: stop (finishing the message in hand), then start.
pub fn restart() -> anyhow::Result<ExitCode> {
    stop()?;
    start()
}

/// `service status`: registered? running? what does it run?
pub fn status() -> anyhow::Result<ExitCode> {
    let Some(service) = open(ServiceAccess::QUERY_STATUS | ServiceAccess::QUERY_CONFIG)? else {
        println!("{SERVICE_NAME}: not installed");
        return Ok(ExitCode::from(EXIT_NOT_INSTALLED));
    };
    let status = service.query_status().context("cannot query the service")?;
    let config = service
        .query_config()
        .context("cannot read the service's configuration")?;
    println!("{SERVICE_NAME} ({DISPLAY_NAME})");
    println!("  state:   {}", state_name(status.current_state));
    if let Some(pid) = status.process_id {
        println!("  process: {pid}");
    }
    println!("  start:   {:?}", config.start_type);
    println!("  command: {}", config.executable_path.display());
    Ok(ExitCode::SUCCESS)
}

fn state_name(state: ServiceState) -> &'static str {
    match state {
        ServiceState::Stopped => "stopped",
        ServiceState::StartPending => "starting",
        ServiceState::StopPending => "stopping",
        ServiceState::Running => "running",
        ServiceState::ContinuePending => "resuming",
        ServiceState::PausePending => "pausing",
        ServiceState::Paused => "paused",
    }
}
