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
    /// The folder of the worker's log files (`mailpull.log.YYYY-MM-DD`), for the manager's
    /// "open log file". Added within version 1: a worker that does not send it is read as
    /// `None`, and an older client ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_dir: Option<String>,
}

/// The message both sides use for a version mismatch, naming both versions.
pub fn version_mismatch(client: u32, worker: u32) -> String {
    format!(
        "protocol version mismatch: the client speaks Mailpull IPC version {client}, the worker speaks version {worker}; use a Pull Manager and a worker from the same release"
    )
}
