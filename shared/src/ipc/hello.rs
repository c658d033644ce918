//! The first two frames of a connection: the client's hello with its protocol version, the
//! worker's answer (accepted or refused, and where its log files are), and the words both
//! sides use for a version mismatch.

use serde::{Deserialize, Serialize};

/// Bumped on any incompatible change of the pipe's types (`protocol` and its modules).
pub const PROTOCOL_VERSION: u32 = 1;

/// First frame from the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientHello {
    /// The protocol version the client speaks.
    pub protocol: u32,
    /// Who is calling, e.g. `mailpull-manager 0.1.0`, for the worker's log.
    pub client: String,
}

impl ClientHello {
    pub fn new(client: impl Into<String>) -> Self {
        ClientHello {
            protocol: PROTOCOL_VERSION,
            client: client.into(),
        }
    }
}

/// The worker's answer to the hello.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerHello {
    /// The protocol version the worker speaks.
    pub protocol: u32,
    /// e.g. `mailpull-worker 0.1.0`.
    pub worker: String,
    /// `None`: accepted. Otherwise why the worker refuses the connection (it closes it next).
    pub refused: Option<String>,
    /// The folder of the worker's log files (`mailpull.YYYY-MM-DD.log`), for the manager's
    /// "open log file". Added within version 1: a worker that does not send it is read as
    /// `None`, and an older client ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_dir: Option<String>,
    /// How the worker runs: a service, a systemd unit, a worker a window started, or one
    /// from a terminal. Added within version 1: a worker that does not send it is read as
    /// [`RunMode::Unknown`], and an older client ignores it.
    #[serde(default)]
    pub run_mode: RunMode,
}

/// The Windows service's key name (`sc query MailpullWorker`); the worker registers it and
/// the window asks the service manager for its state.
pub const WINDOWS_SERVICE: &str = "MailpullWorker";

/// The systemd unit the Debian package installs.
pub const SYSTEMD_UNIT: &str = "mailpull.service";

/// The environment variable the Pull Manager sets on a worker it starts (value
/// [`STARTED_BY_MANAGER`]), so the worker can say so in its hello.
pub const STARTED_BY_ENV: &str = "MAILPULL_STARTED_BY";
/// The value of [`STARTED_BY_ENV`] set by the Pull Manager.
pub const STARTED_BY_MANAGER: &str = "manager";

/// How the worker that answers the pipe was started, as it tells in its hello.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RunMode {
    /// The Windows service (the service manager started it).
    WindowsService,
    /// A systemd unit (`INVOCATION_ID` or `NOTIFY_SOCKET` in its environment); `unit` is its
    /// name when the worker could read it from its control group.
    Systemd { unit: Option<String> },
    /// Started by a Pull Manager window ("Start worker"); `pid` is the worker's process.
    Manager { pid: u32 },
    /// Started from a terminal (or another program); `pid` is the worker's process.
    Foreground { pid: u32 },
    /// An older worker that does not say, or a kind this client does not know.
    #[default]
    #[serde(other)]
    Unknown,
}

/// The message both sides use for a version mismatch, naming both versions.
pub fn version_mismatch(client: u32, worker: u32) -> String {
    format!(
        "protocol version mismatch: the client speaks Mailpull IPC version {client}, the worker speaks version {worker}; use a Pull Manager and a worker from the same release"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(json: &str) -> ServerHello {
        serde_json::from_str(json).expect("hello")
    }

    #[test]
    fn an_older_worker_reads_as_an_unknown_run_mode() {
        let old = hello(r#"{"protocol":1,"worker":"mailpull-worker 0.1.0","refused":null}"#);
        assert_eq!(old.run_mode, RunMode::Unknown);
    }

    #[test]
    fn each_run_mode_goes_over_the_wire_and_back() {
        for mode in [
            RunMode::WindowsService,
            RunMode::Systemd {
                unit: Some(SYSTEMD_UNIT.into()),
            },
            RunMode::Systemd { unit: None },
            RunMode::Manager { pid: 4242 },
            RunMode::Foreground { pid: 7 },
            RunMode::Unknown,
        ] {
            let sent = ServerHello {
                protocol: PROTOCOL_VERSION,
                worker: "mailpull-worker 0.1.0".into(),
                refused: None,
                log_dir: None,
                run_mode: mode.clone(),
            };
            let json = serde_json::to_string(&sent).expect("json");
            assert_eq!(hello(&json), sent, "{json}");
        }
        let json = serde_json::to_string(&RunMode::Manager { pid: 9 }).expect("json");
        assert_eq!(json, r#"{"kind":"manager","pid":9}"#);
    }

    /// A later worker may know a way of running this client does not: it still connects.
    #[test]
    fn a_run_mode_from_a_later_release_reads_as_unknown() {
        let later = hello(
            r#"{"protocol":1,"worker":"w","refused":null,"run_mode":{"kind":"launchd","label":"x"}}"#,
        );
        assert_eq!(later.run_mode, RunMode::Unknown);
        let bare = hello(r#"{"protocol":1,"worker":"w","refused":null,"run_mode":{"kind":"k8s"}}"#);
        assert_eq!(bare.run_mode, RunMode::Unknown);
    }
}
