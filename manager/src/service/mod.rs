//! Who serves this window's configuration, in words an administrator reads, and what the
//! window offers when no worker answers: the worker's own account of how it runs (the
//! hello's [`RunMode`]) becomes "Served by ..." ([`served_by`]); an installed service or unit
//! for this configuration ([`Host`], found by [`probe`]) replaces "Start worker", so the
//! window never starts a second worker beside a service.
//!
//! Pure except [`probe`]: `unit` (Linux: is `mailpull.service` installed?) and `windows`
//! (the service manager: the service's state and configuration, asked without elevation;
//! Start / Stop / Restart run `mailpull-worker service …` elevated).

use std::path::Path;

use mailpull_shared::ipc::{Endpoint, RunMode};

#[cfg(unix)]
mod unit;
#[cfg(windows)]
mod windows;

/// The state of the installed Windows service, as the service manager tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceState {
    Stopped,
    Starting,
    Stopping,
    Running,
    Paused,
}

impl ServiceState {
    /// In words: "stopped", "starting" ...
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceState::Stopped => "stopped",
            ServiceState::Starting => "starting",
            ServiceState::Stopping => "stopping",
            ServiceState::Running => "running",
            ServiceState::Paused => "paused",
        }
    }
}

/// What may serve this window's configuration when no worker answers its pipe.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Host {
    /// No service or unit is installed for it: "Start worker" starts one.
    #[default]
    Nobody,
    /// Linux: the system configuration, and the systemd unit `unit` is installed.
    SystemdUnit { unit: String },
    /// Windows: the Mailpull service is installed for this configuration; its state, or why
    /// the service manager could not tell.
    WindowsService { state: Result<ServiceState, String> },
}

impl Host {
    /// A service or unit serves this configuration: the window must not start a worker.
    pub fn is_service(&self) -> bool {
        !matches!(self, Host::Nobody)
    }

    /// What the status bar says while no worker answers.
    pub fn describe(&self) -> String {
        match self {
            Host::Nobody => "no worker is running for this configuration".into(),
            Host::SystemdUnit { unit } => format!(
                "the systemd unit {unit} serves this configuration and is not answering; \
                 start it with: sudo systemctl start {unit}  (its log: journalctl -u {unit})"
            ),
            Host::WindowsService { state: Ok(state) } => match state {
                ServiceState::Running => "the Mailpull service is running but does not answer \
                     yet (it may still be starting; Restart if this lasts)"
                    .into(),
                state => format!("the Mailpull service is {}", state.as_str()),
            },
            Host::WindowsService { state: Err(why) } => {
                format!("the Mailpull service is installed, but its state is unknown: {why}")
            }
        }
    }

    /// The service-control buttons the status bar offers (Windows service only).
    pub fn controls(&self) -> &'static [ServiceVerb] {
        match self {
            Host::WindowsService { state: Ok(state) } => match state {
                ServiceState::Stopped => &[ServiceVerb::Start],
                ServiceState::Running | ServiceState::Paused => {
                    &[ServiceVerb::Stop, ServiceVerb::Restart]
                }
                ServiceState::Starting | ServiceState::Stopping => &[],
            },
            Host::WindowsService { state: Err(_) } => {
                &[ServiceVerb::Start, ServiceVerb::Stop, ServiceVerb::Restart]
            }
            _ => &[],
        }
    }
}

/// What the window may ask the Windows service manager to do (elevated).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceVerb {
    Start,
    Stop,
    Restart,
}

impl ServiceVerb {
    /// The `mailpull-worker service` subcommand.
    pub fn command(self) -> &'static str {
        match self {
            ServiceVerb::Start => "start",
            ServiceVerb::Stop => "stop",
            ServiceVerb::Restart => "restart",
        }
    }

    /// The button's label.
    pub fn label(self) -> &'static str {
        match self {
            ServiceVerb::Start => "Start service",
            ServiceVerb::Stop => "Stop service",
            ServiceVerb::Restart => "Restart service",
        }
    }
}

/// The parameters of the elevated `mailpull-worker.exe` that carries out `verb`.
pub fn elevated_parameters(verb: ServiceVerb) -> String {
    format!("service {}", verb.command())
}

/// "Served by ...": how the connected worker runs, in words; `started` is the process this
/// window started last, if any.
pub fn served_by(mode: &RunMode, started: Option<u32>) -> String {
    match mode {
        RunMode::WindowsService => "Served by the Mailpull service".into(),
        RunMode::Systemd { unit: Some(unit) } => format!("Served by the systemd unit {unit}"),
        RunMode::Systemd { unit: None } => "Served by a systemd unit".into(),
        RunMode::Manager { pid } if started == Some(*pid) => {
            format!("Served by a worker this window started (process {pid})")
        }
        RunMode::Manager { pid } => {
            format!("Served by a worker another Pull Manager window started (process {pid})")
        }
        RunMode::Foreground { pid } => {
            format!("Served by a worker started from a terminal (process {pid})")
        }
        RunMode::Unknown => "Served by a worker of an older release".into(),
    }
}

/// Whether the configuration a service runs (`service_config`) is `config`: both name the
/// same pipe (the endpoint is derived from the file's canonical path).
pub fn same_config(service_config: &Path, config: &Path) -> bool {
    Endpoint::for_config(service_config).address == Endpoint::for_config(config).address
}

/// The `--config` file in a service's command line (as the service manager shows it, e.g.
/// `"C:\Program Files\Mailpull\mailpull-worker.exe" service run --config "C:\Data\m.toml"`),
/// quoted or not; `None` when it names none (then the service runs the default file).
pub fn config_in_command_line(line: &str) -> Option<String> {
    let mut rest = line;
    let mut tokens = Vec::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        let (token, after) = if let Some(quoted) = rest.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (&quoted[..end], &quoted[end + 1..]),
                None => (quoted, ""),
            }
        } else {
            match rest.find(char::is_whitespace) {
                Some(end) => (&rest[..end], &rest[end..]),
                None => (rest, ""),
            }
        };
        tokens.push(token);
        rest = after;
    }
    tokens
        .iter()
        .position(|token| *token == "--config" || *token == "-c")
        .and_then(|at| tokens.get(at + 1))
        .map(|config| config.to_string())
}

/// How the window finds what serves a configuration: [`probe`] unless changed (tests on
/// Linux stand in for the Windows service manager with their own).
pub type Probe = fn(&Path) -> Host;

/// What serves `config` when no worker answers: a systemd unit installed for the system
/// configuration (Linux), the Mailpull service installed for it (Windows), or nobody.
pub fn probe(config: &Path) -> Host {
    #[cfg(unix)]
    {
        unit::probe(config, unit::UNIT_DIRS)
    }
    #[cfg(windows)]
    {
        windows::probe(config)
    }
    #[cfg(not(any(unix, windows)))]
    {
        let _ = config;
        Host::Nobody
    }
}

/// Runs `mailpull-worker service VERB` elevated (the one thing the window asks elevation
/// for) on a thread of its own, and hands `done` how it ended; on other systems there is no
/// Windows service to control, and `done` hears so at once.
pub fn control(
    worker: &Path,
    verb: ServiceVerb,
    done: impl FnOnce(Result<String, String>) + Send + 'static,
) {
    #[cfg(windows)]
    {
        let worker = worker.to_path_buf();
        let spawned = std::thread::Builder::new()
            .name("mailpull-service-control".into())
            .spawn(move || done(windows::run_elevated(&worker, &elevated_parameters(verb))));
        if let Err(err) = spawned {
            tracing::warn!("cannot start the service-control thread: {err}");
        }
    }
    #[cfg(not(windows))]
    {
        let _ = worker;
        done(Err(format!(
            "\"{}\" controls the Windows service; this system has none",
            verb.label()
        )));
    }
}

#[cfg(test)]
mod tests;
