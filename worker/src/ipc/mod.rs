//! The worker's end of the Pull Manager's pipe, inside `mailpull-worker run`: listens on the
//! configuration's [`Endpoint`], serves many clients at once (each its own task, at most
//! [`MAX_CLIENTS`]), and closes only the connection that sends a malformed, oversized or
//! unknown frame, after an error reply. The wire format lives in [`mailpull_shared::ipc`].
//!
//! Access control on Unix: the socket lives in a directory of mode 0700 owned by the worker's
//! user, and every peer's uid is checked on accept (same user or root). On Windows the named
//! pipe carries a security descriptor for SYSTEM, Administrators, the service's account, the
//! owner and, when it exists, the group "Mailpull Administrators" ([`pipe_sddl`]).
//!
//! - [`handler`]: what each request does.
//! - [`edit`]: configuration file edits and the atomic write.
//! - [`probe`]: the step-by-step connection test.
//! - `find_server`: the first-run wizard's "find my server" (TLS and STARTTLS ports, no login).
//! - `held`: the held-message requests (list, retry, deliver to the fallback, delete).
//! - `history`: a profile's delivery history, and the routing preview of a message.
//! - `import`: a fetchmailrc or getmailrc's text into profiles, passwords to the keyring.

pub mod edit;
mod find_server;
pub mod handler;
mod held;
mod history;
mod import;
pub mod probe;

use std::sync::Arc;
use std::time::Duration;

use interprocess::local_socket::ListenerOptions;
use interprocess::local_socket::tokio::{Listener, Stream};
use interprocess::local_socket::traits::tokio::Listener as _;
use mailpull_shared::ipc::frame;
use mailpull_shared::ipc::{
    ClientHello, Endpoint, ErrorKind, Event, FramedStream, IpcError, PROTOCOL_VERSION, Request,
    Response, ServerHello, StreamError, version_mismatch,
};
use tokio::io::AsyncReadExt;
use tokio::sync::{Semaphore, broadcast};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

pub use handler::WorkerState;

/// Clients served at once; more are refused with a "busy" hello.
pub const MAX_CLIENTS: usize = 32;
/// How long a client may take to send its hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IpcSetupError {
    #[error("another worker already serves this configuration at {endpoint}")]
    AlreadyRunning { endpoint: String },
    #[error("IPC socket directory {dir}: {reason}")]
    Directory { dir: String, reason: String },
    #[error("cannot listen on {endpoint}: {source}")]
    Listen {
        endpoint: String,
        #[source]
        source: std::io::Error,
    },
}

/// Creates the listener of `endpoint` (and on Unix its private directory).
pub fn bind(endpoint: &Endpoint) -> Result<Listener, IpcSetupError> {
    let listen_err = |source| IpcSetupError::Listen {
        endpoint: endpoint.to_string(),
        source,
    };
    #[cfg(unix)]
    prepare_unix(endpoint)?;
    let name = endpoint.name().map_err(listen_err)?;
    let options = ListenerOptions::new().name(name);
    #[cfg(windows)]
    let options = windows_security(options).map_err(listen_err)?;
    let listener = options.create_tokio().map_err(listen_err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&endpoint.address, std::fs::Permissions::from_mode(0o600));
    }
    Ok(listener)
}

/// The directory: created with mode 0700, refused when someone else owns it; a socket file
/// left by a dead worker is removed, a live one means another worker runs this config.
#[cfg(unix)]
fn prepare_unix(endpoint: &Endpoint) -> Result<(), IpcSetupError> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let Some(dir) = endpoint.directory() else {
        return Ok(());
    };
    let dir_err = |reason: String| IpcSetupError::Directory {
        dir: dir.display().to_string(),
        reason,
    };
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|err| dir_err(format!("cannot create it: {err}")))?;
    }
    let meta = std::fs::symlink_metadata(dir).map_err(|err| dir_err(err.to_string()))?;
    if !meta.is_dir() {
        return Err(dir_err("not a directory".into()));
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(dir_err(format!(
            "owned by uid {}, not by this worker's uid {me}; remove it or fix its owner",
            meta.uid()
        )));
    }
    if meta.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|err| dir_err(format!("cannot make it private (0700): {err}")))?;
    }
    if endpoint.address.exists() {
        if std::os::unix::net::UnixStream::connect(&endpoint.address).is_ok() {
            return Err(IpcSetupError::AlreadyRunning {
                endpoint: endpoint.to_string(),
            });
        }
        std::fs::remove_file(&endpoint.address)
            .map_err(|err| dir_err(format!("cannot remove the stale socket: {err}")))?;
    }
    Ok(())
}

/// SYSTEM, Administrators, the service's virtual account (`NT SERVICE\\MailpullWorker`) and
/// the pipe's owner (the worker's account) full access; nobody else.
pub const PIPE_SDDL: &str = concat!(
    "D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;",
    "S-1-5-80-1205134927-3800904582-4225447824-998588982-1088651656",
    ")(A;;GA;;;OW)"
);

/// [`PIPE_SDDL`], plus read/write (connect) for the local group "Mailpull Administrators"
/// (`group_sid`) when it exists: its members open the Pull Manager without elevation (an
/// administrator's unelevated token does not count as Administrators under UAC).
pub fn pipe_sddl(group_sid: Option<&str>) -> String {
    match group_sid {
        Some(sid) => format!("{PIPE_SDDL}(A;;GRGW;;;{sid})"),
        None => PIPE_SDDL.to_string(),
    }
}

#[cfg(windows)]
fn windows_security(options: ListenerOptions<'_>) -> std::io::Result<ListenerOptions<'_>> {
    use interprocess::os::windows::local_socket::ListenerOptionsExt;
    use interprocess::os::windows::security_descriptor::SecurityDescriptor;
    use mailpull_shared::ipc::owner::ADMIN_GROUP;
    let group = mailpull_shared::winsec::account_sid(ADMIN_GROUP).unwrap_or_else(|err| {
        warn!("cannot look up the group {ADMIN_GROUP}: {err}; only administrators (elevated) reach the pipe");
        None
    });
    let sddl = widestring::U16CString::from_str(pipe_sddl(group.as_deref()))
        .map_err(|err| std::io::Error::other(err.to_string()))?;
    let descriptor = SecurityDescriptor::deserialize(&sddl)?;
    Ok(options.security_descriptor(descriptor))
}

/// Accepts clients until `cancel`.
pub async fn serve(listener: Listener, state: Arc<WorkerState>, cancel: CancellationToken) {
    let slots = Arc::new(Semaphore::new(MAX_CLIENTS));
    loop {
        let accepted = tokio::select! {
            _ = cancel.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok(stream) => stream,
            Err(err) => {
                warn!("IPC accept failed: {err}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (state, cancel) = (state.clone(), cancel.clone());
        match slots.clone().try_acquire_owned() {
            Ok(permit) => {
                tokio::spawn(async move {
                    let _permit = permit;
                    serve_client(stream, state, cancel).await;
                });
            }
            Err(_) => {
                tokio::spawn(async move {
                    let mut conn = Conn::new(stream);
                    let _ = conn
                        .send(&refusal(format!(
                            "busy: {MAX_CLIENTS} clients are connected already; try again"
                        )))
                        .await;
                });
            }
        }
    }
}

fn refusal(reason: String) -> ServerHello {
    ServerHello {
        protocol: PROTOCOL_VERSION,
        worker: worker_name(),
        refused: Some(reason),
        log_dir: None,
        run_mode: mailpull_shared::ipc::RunMode::Unknown,
    }
}

fn worker_name() -> String {
    format!("mailpull-worker {}", env!("CARGO_PKG_VERSION"))
}

/// One client connection: frames over the local socket or pipe.
struct Conn {
    stream: FramedStream<Stream>,
}

impl Conn {
    fn new(stream: Stream) -> Self {
        Conn {
            stream: FramedStream::new(stream),
        }
    }

    async fn send<T: serde::Serialize>(&mut self, message: &T) -> Result<(), StreamError> {
        self.stream.write_frame(message).await
    }

    /// Sends the error reply for a bad frame; the caller closes the connection next.
    async fn reject(&mut self, message: String) {
        debug!("IPC client sent a bad frame: {message}");
        let _ = self
            .send(&Response::Error {
                error: IpcError::new(ErrorKind::BadRequest, message),
            })
            .await;
    }
}

/// The peer must run as the worker's user or as root.
#[cfg(unix)]
fn peer_allowed(stream: &Stream) -> Result<(), String> {
    use interprocess::local_socket::traits::StreamCommon as _;
    let me = rustix::process::geteuid().as_raw();
    let creds = stream
        .peer_creds()
        .map_err(|err| format!("cannot read the peer's credentials: {err}"))?;
    match creds.euid() {
        Some(uid) if uid == me || uid == 0 => Ok(()),
        Some(uid) => Err(format!(
            "permission denied: uid {uid} may not control a worker running as uid {me}"
        )),
        None => Err("permission denied: the peer's uid is unknown".into()),
    }
}

/// The named pipe's security descriptor already decides who may connect.
#[cfg(not(unix))]
fn peer_allowed(_stream: &Stream) -> Result<(), String> {
    Ok(())
}

async fn serve_client(stream: Stream, state: Arc<WorkerState>, cancel: CancellationToken) {
    let peer_check = peer_allowed(&stream);
    let mut conn = Conn::new(stream);
    if let Err(reason) = peer_check {
        warn!("IPC connection refused: {reason}");
        let _ = conn.send(&refusal(reason)).await;
        return;
    }
    let hello = match tokio::time::timeout(HELLO_TIMEOUT, conn.stream.read_frame()).await {
        Err(_) => {
            debug!(
                "IPC client sent no hello within {} s",
                HELLO_TIMEOUT.as_secs()
            );
            return;
        }
        Ok(Ok(None) | Err(StreamError::Io(_))) => return,
        Ok(Err(StreamError::Frame(err))) => {
            let _ = conn.send(&refusal(format!("bad hello: {err}"))).await;
            return;
        }
        Ok(Ok(Some(body))) => match frame::decode::<ClientHello>(&body) {
            Ok(hello) => hello,
            Err(err) => {
                let _ = conn.send(&refusal(format!("bad hello: {err}"))).await;
                return;
            }
        },
    };
    if hello.protocol != PROTOCOL_VERSION {
        let reason = version_mismatch(hello.protocol, PROTOCOL_VERSION);
        info!(client = %hello.client, "IPC client refused: {reason}");
        let _ = conn.send(&refusal(reason)).await;
        return;
    }
    let accepted = ServerHello {
        protocol: PROTOCOL_VERSION,
        worker: worker_name(),
        refused: None,
        log_dir: Some(
            crate::logging::log_dir(&state.config().worker.state_dir)
                .display()
                .to_string(),
        ),
        run_mode: state.run_mode.clone(),
    };
    if conn.send(&accepted).await.is_err() {
        return;
    }
    debug!(client = %hello.client, "IPC client connected");
    loop {
        let read = tokio::select! {
            _ = cancel.cancelled() => return,
            read = conn.stream.read_frame() => read,
        };
        let body = match read {
            Ok(Some(body)) => body,
            Ok(None) => return,
            Err(StreamError::Io(err)) => {
                debug!("IPC client connection failed: {err}");
                return;
            }
            Err(StreamError::Frame(err)) => {
                conn.reject(err.to_string()).await;
                return;
            }
        };
        let request: Request = match frame::decode(&body) {
            Ok(request) => request,
            Err(err) => {
                conn.reject(format!("unknown or malformed request: {err}"))
                    .await;
                return;
            }
        };
        debug!(request = request.kind(), "IPC request");
        if request == Request::SubscribeLog {
            stream_log(conn, &state, &cancel).await;
            return;
        }
        let response = tokio::select! {
            _ = cancel.cancelled() => return,
            response = state.handle(request) => response,
        };
        if conn.send(&response).await.is_err() {
            return;
        }
    }
}

/// Sends the last [`crate::logging::RECENT_LINES`] log lines, then forwards every new one
/// until the client goes away or the worker stops.
async fn stream_log(mut conn: Conn, state: &WorkerState, cancel: &CancellationToken) {
    let (recent, mut lines) = state.live.subscribe_with_recent();
    if conn.send(&Response::Subscribed).await.is_err() {
        return;
    }
    // What happened before the window opened: the last lines first.
    for line in recent {
        if conn.send(&Event::Log { line }).await.is_err() {
            return;
        }
    }
    let mut probe = [0u8; 64];
    loop {
        let event = tokio::select! {
            _ = cancel.cancelled() => return,
            // The client sends nothing after subscribing: any read result means it is gone.
            _ = conn.stream.get_mut().read(&mut probe) => return,
            line = lines.recv() => match line {
                Ok(line) => Event::Log { line },
                Err(broadcast::error::RecvError::Lagged(skipped)) => Event::Lagged { skipped },
                Err(broadcast::error::RecvError::Closed) => return,
            },
        };
        if conn.send(&event).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{PIPE_SDDL, pipe_sddl};
    use mailpull_shared::ipc::owner::SERVICE_SID;

    /// With the group "Mailpull Administrators" in place its members may connect (read and
    /// write, not change the pipe's security); without it nothing is added.
    #[test]
    fn the_group_mailpull_administrators_may_connect_when_it_exists() {
        let group = "S-1-5-21-111-222-333-1005";
        assert_eq!(
            pipe_sddl(Some(group)),
            format!("{PIPE_SDDL}(A;;GRGW;;;S-1-5-21-111-222-333-1005)")
        );
        assert_eq!(pipe_sddl(None), PIPE_SDDL);
    }

    /// The pipe admits the service's virtual account by its SID, SYSTEM, Administrators and
    /// the owner, and no inherited or other entry ("D:P", protected).
    #[test]
    fn the_pipe_admits_the_service_account_system_administrators_and_owner_only() {
        assert_eq!(
            PIPE_SDDL,
            format!("D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;{SERVICE_SID})(A;;GA;;;OW)")
        );
    }
}
