//! Windows: the Mailpull service through the service manager. Reading its state and its
//! command line needs only "connect" and "query" rights, which every user has, so the window
//! runs unelevated; Start / Stop / Restart run `mailpull-worker.exe service …` through the
//! shell's "runas" verb, the one place the window asks for elevation (a UAC prompt).
#![allow(unsafe_code)] // ShellExecuteExW and the process handle it returns.

use std::path::Path;

use mailpull_shared::ipc::hello::WINDOWS_SERVICE;
use windows_service::service::{ServiceAccess, ServiceState as Scm};
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};

use super::{Host, ServiceState, config_in_command_line, same_config};

/// Windows' ERROR_SERVICE_DOES_NOT_EXIST.
const ERROR_SERVICE_DOES_NOT_EXIST: i32 = 1060;
/// Windows' ERROR_CANCELLED: the person said no to the UAC prompt.
const ERROR_CANCELLED: i32 = 1223;

fn state(scm: Scm) -> ServiceState {
    match scm {
        Scm::Stopped => ServiceState::Stopped,
        Scm::StartPending | Scm::ContinuePending => ServiceState::Starting,
        Scm::StopPending | Scm::PausePending => ServiceState::Stopping,
        Scm::Running => ServiceState::Running,
        Scm::Paused => ServiceState::Paused,
    }
}

/// The service's state when it is installed for `config` (its `--config`, else the default
/// file); [`Host::Nobody`] when it is not installed or runs another configuration.
pub fn probe(config: &Path) -> Host {
    let manager = match ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT)
    {
        Ok(manager) => manager,
        Err(err) => {
            return Host::WindowsService {
                state: Err(format!("cannot open the service manager: {err}")),
            };
        }
    };
    let access = ServiceAccess::QUERY_STATUS | ServiceAccess::QUERY_CONFIG;
    let service = match manager.open_service(WINDOWS_SERVICE, access) {
        Ok(service) => service,
        Err(windows_service::Error::Winapi(err))
            if err.raw_os_error() == Some(ERROR_SERVICE_DOES_NOT_EXIST) =>
        {
            return Host::Nobody;
        }
        Err(err) => {
            return Host::WindowsService {
                state: Err(format!("cannot open the service {WINDOWS_SERVICE}: {err}")),
            };
        }
    };
    if let Ok(registered) = service.query_config() {
        let line = registered.executable_path.to_string_lossy();
        let served = config_in_command_line(&line)
            .map(std::path::PathBuf::from)
            .unwrap_or_else(mailpull_shared::paths::default_config_file);
        if !same_config(&served, config) {
            return Host::Nobody;
        }
    }
    Host::WindowsService {
        state: service
            .query_status()
            .map(|status| state(status.current_state))
            .map_err(|err| format!("cannot query the service {WINDOWS_SERVICE}: {err}")),
    }
}

fn wide(text: &std::ffi::OsStr) -> Vec<u16> {
    use std::os::windows::ffi::OsStrExt as _;
    text.encode_wide().chain(std::iter::once(0)).collect()
}

/// Runs `worker parameters` elevated (UAC), hidden, waits for it and says how it ended.
/// Blocks: call it off the UI thread.
pub fn run_elevated(worker: &Path, parameters: &str) -> Result<String, String> {
    use windows_sys::Win32::Foundation::CloseHandle;
    use windows_sys::Win32::System::Threading::{
        GetExitCodeProcess, INFINITE, WaitForSingleObject,
    };
    use windows_sys::Win32::UI::Shell::{
        SEE_MASK_NOASYNC, SEE_MASK_NOCLOSEPROCESS, SHELLEXECUTEINFOW, ShellExecuteExW,
    };
    use windows_sys::Win32::UI::WindowsAndMessaging::SW_HIDE;

    let verb = wide("runas".as_ref());
    let file = wide(worker.as_os_str());
    let params = wide(parameters.as_ref());
    let mut info = SHELLEXECUTEINFOW {
        cbSize: std::mem::size_of::<SHELLEXECUTEINFOW>() as u32,
        fMask: SEE_MASK_NOCLOSEPROCESS | SEE_MASK_NOASYNC,
        lpVerb: verb.as_ptr(),
        lpFile: file.as_ptr(),
        lpParameters: params.as_ptr(),
        nShow: SW_HIDE,
        ..Default::default()
    };
    let command = format!("{} {parameters}", worker.display());
    // SAFETY: `info` is initialised, its strings are NUL-terminated and outlive the call.
    if unsafe { ShellExecuteExW(&mut info) } == 0 {
        let err = std::io::Error::last_os_error();
        return Err(if err.raw_os_error() == Some(ERROR_CANCELLED) {
            format!("Not done: the administrator prompt for {command} was declined.")
        } else {
            format!("Cannot run {command} as administrator: {err}")
        });
    }
    if info.hProcess.is_null() {
        return Ok(format!("Asked Windows to run {command} as administrator."));
    }
    let mut code = 0u32;
    // SAFETY: SEE_MASK_NOCLOSEPROCESS gave a process handle, closed below.
    let read = unsafe {
        WaitForSingleObject(info.hProcess, INFINITE);
        let read = GetExitCodeProcess(info.hProcess, &mut code);
        CloseHandle(info.hProcess);
        read
    };
    match (read, code) {
        (0, _) => Err(format!("{command} ran, but its exit code cannot be read")),
        (_, 0) => Ok(format!("Done: {command}.")),
        (_, code) => Err(format!(
            "{command} failed (exit code {code}); \"mailpull-worker service status\" and the \
             Event Log (source MailpullWorker) say why"
        )),
    }
}
