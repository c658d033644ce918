//! The client side of the pipe, for the CLI and the Pull Manager: connect (with the hello),
//! one method per request, and the live log as a stream of [`Event`]s.

use std::io;
use std::time::Duration;

use interprocess::local_socket::tokio::Stream;
use interprocess::local_socket::traits::tokio::Stream as _;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::endpoint::Endpoint;
use super::frame::FrameError;
use super::protocol::*;
use super::stream::{FramedStream, StreamError};

/// How long the worker may take to answer the hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    #[error(
        "no worker is running for {} (nothing listens on {endpoint}); start it with `mailpull-worker run --config {}`",
        config.display(), config.display()
    )]
    NotRunning {
        endpoint: String,
        config: std::path::PathBuf,
    },
    #[error("permission denied connecting to the worker at {endpoint}: it runs as another user")]
    PermissionDenied { endpoint: String },
    /// The socket's directory could have been made by another user (see [`super::owner`]):
    /// nothing was sent.
    #[error("{0}")]
    Untrusted(String),
    #[error("cannot connect to the worker at {endpoint}: {source}")]
    Connect {
        endpoint: String,
        #[source]
        source: io::Error,
    },
    #[error("connection to the worker failed: {0}")]
    Io(#[from] io::Error),
    #[error("bad frame from the worker: {0}")]
    Frame(#[from] FrameError),
    #[error("the worker closed the connection")]
    Closed,
    #[error("the worker refused the connection: {0}")]
    Refused(String),
    #[error("the worker did not answer the hello within {0} s")]
    HelloTimeout(u64),
    #[error("{0}")]
    Worker(IpcError),
    #[error("unexpected answer from the worker to {request}: {got}")]
    Unexpected { request: &'static str, got: String },
}

impl ClientError {
    /// The worker's typed error, if this is one.
    pub fn worker_error(&self) -> Option<&IpcError> {
        match self {
            ClientError::Worker(err) => Some(err),
            _ => None,
        }
    }
}

impl From<StreamError> for ClientError {
    fn from(err: StreamError) -> Self {
        match err {
            StreamError::Io(err) => ClientError::Io(err),
            StreamError::Frame(err) => ClientError::Frame(err),
        }
    }
}

/// A connection to the worker.
#[derive(Debug)]
pub struct IpcClient {
    stream: FramedStream<Stream>,
    worker: String,
    log_dir: Option<std::path::PathBuf>,
    run_mode: super::RunMode,
}

/// Sends one frame.
async fn send<T: Serialize>(
    stream: &mut FramedStream<Stream>,
    message: &T,
) -> Result<(), ClientError> {
    Ok(stream.write_frame(message).await?)
}

/// Reads one frame and decodes it; `Closed` at a clean end of stream.
async fn receive<T: DeserializeOwned>(stream: &mut FramedStream<Stream>) -> Result<T, ClientError> {
    stream.read_message().await?.ok_or(ClientError::Closed)
}

impl IpcClient {
    /// Connects to the worker at `endpoint` and exchanges the hello.
    pub async fn connect(endpoint: &Endpoint) -> Result<IpcClient, ClientError> {
        let name = format!("mailpull-client {}", env!("CARGO_PKG_VERSION"));
        Self::connect_with(endpoint, ClientHello::new(name)).await
    }

    /// Connects with an explicit hello (tests use it to send another version).
    pub async fn connect_with(
        endpoint: &Endpoint,
        hello: ClientHello,
    ) -> Result<IpcClient, ClientError> {
        let mut stream = FramedStream::new(Self::open(endpoint).await?);
        // A worker that is busy (at its client limit) sends its refusal and closes at once:
        // the hello may then meet a closed socket (EPIPE), while the refusal still waits in
        // the receive buffer. Read it, so the caller learns "busy" rather than "broken pipe".
        let sent = send(&mut stream, &hello).await;
        if let Err(err) = sent {
            return Err(match receive::<ServerHello>(&mut stream).await {
                Ok(ServerHello {
                    refused: Some(reason),
                    ..
                }) => ClientError::Refused(reason),
                _ => err,
            });
        }
        let reply: ServerHello = tokio::time::timeout(HELLO_TIMEOUT, receive(&mut stream))
            .await
            .map_err(|_| ClientError::HelloTimeout(HELLO_TIMEOUT.as_secs()))??;
        if let Some(reason) = reply.refused {
            return Err(ClientError::Refused(reason));
        }
        if reply.protocol != hello.protocol {
            return Err(ClientError::Refused(version_mismatch(
                hello.protocol,
                reply.protocol,
            )));
        }
        Ok(IpcClient {
            stream,
            worker: reply.worker,
            log_dir: reply.log_dir.map(std::path::PathBuf::from),
            run_mode: reply.run_mode,
        })
    }

    /// Opens the raw stream, mapping "nothing there" and "not allowed" to clear errors.
    pub async fn open(endpoint: &Endpoint) -> Result<Stream, ClientError> {
        let name = endpoint.name().map_err(|source| ClientError::Connect {
            endpoint: endpoint.to_string(),
            source,
        })?;
        // Before anything goes out: who could have put the socket there?
        if let Some(dir) = endpoint.directory() {
            super::owner::check_socket_dir(dir).map_err(ClientError::Untrusted)?;
        }
        match Stream::connect(name).await {
            Ok(stream) => {
                // Connecting sent nothing; before the hello: who serves this pipe?
                #[cfg(windows)]
                super::owner::check_pipe_server(&stream, &endpoint.to_string())
                    .map_err(ClientError::Untrusted)?;
                Ok(stream)
            }
            Err(err) => Err(match err.kind() {
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
                    ClientError::NotRunning {
                        endpoint: endpoint.to_string(),
                        config: endpoint.config.clone(),
                    }
                }
                io::ErrorKind::PermissionDenied => ClientError::PermissionDenied {
                    endpoint: endpoint.to_string(),
                },
                _ => ClientError::Connect {
                    endpoint: endpoint.to_string(),
                    source: err,
                },
            }),
        }
    }

    /// The worker's name and version from its hello.
    pub fn worker_version(&self) -> &str {
        &self.worker
    }

    /// The folder of the worker's log files, when the worker said (see [`ServerHello`]).
    pub fn log_dir(&self) -> Option<&std::path::Path> {
        self.log_dir.as_deref()
    }

    /// How the worker runs, as it said in its hello ([`super::RunMode::Unknown`] for an
    /// older worker).
    pub fn run_mode(&self) -> &super::RunMode {
        &self.run_mode
    }

    /// Sends `request` and returns the answer; a typed error reply becomes
    /// [`ClientError::Worker`].
    pub async fn request(&mut self, request: &Request) -> Result<Response, ClientError> {
        send(&mut self.stream, request).await?;
        match receive(&mut self.stream).await? {
            Response::Error { error } => Err(ClientError::Worker(error)),
            response => Ok(response),
        }
    }

    fn unexpected(request: &Request, got: Response) -> ClientError {
        ClientError::Unexpected {
            request: request.kind(),
            got: format!("{got:?}"),
        }
    }

    async fn done(&mut self, request: Request) -> Result<String, ClientError> {
        match self.request(&request).await? {
            Response::Done { message } => Ok(message),
            other => Err(Self::unexpected(&request, other)),
        }
    }

    pub async fn list_profiles(&mut self) -> Result<Vec<ProfileSummary>, ClientError> {
        let request = Request::ListProfiles;
        match self.request(&request).await? {
            Response::Profiles { profiles } => Ok(profiles),
            other => Err(Self::unexpected(&request, other)),
        }
    }

    pub async fn read_profile(&mut self, name: &str) -> Result<ProfileForm, ClientError> {
        let request = Request::ReadProfile { name: name.into() };
        match self.request(&request).await? {
            Response::Profile { profile } => Ok(*profile),
            other => Err(Self::unexpected(&request, other)),
        }
    }

    /// Saves `profile` (replacing `original` when given); returns the saved name.
    pub async fn save_profile(
        &mut self,
        original: Option<&str>,
        profile: ProfileForm,
    ) -> Result<String, ClientError> {
        let request = Request::SaveProfile {
            original: original.map(str::to_string),
            profile: Box::new(profile),
        };
        match self.request(&request).await? {
            Response::Saved { name } => Ok(name),
            other => Err(Self::unexpected(&request, other)),
        }
    }

    pub async fn set_enabled(&mut self, name: &str, enabled: bool) -> Result<String, ClientError> {
        self.done(Request::SetEnabled {
            name: name.into(),
            enabled,
        })
        .await
    }

    pub async fn delete_profile(&mut self, name: &str) -> Result<String, ClientError> {
        self.done(Request::DeleteProfile { name: name.into() })
            .await
    }

    /// Stores the password of `name` in the worker's OS keyring.
    pub async fn set_secret(&mut self, name: &str, password: &str) -> Result<String, ClientError> {
        self.done(Request::SetSecret {
            name: name.into(),
            password: WirePassword::new(password),
        })
        .await
    }

    /// Removes every profile's stored secrets in the worker's OS keyring.
    pub async fn forget_secrets(&mut self) -> Result<String, ClientError> {
        self.done(Request::ForgetSecrets).await
    }

    /// Stores the OAuth client secret of `name` in the worker's OS keyring.
    pub async fn set_client_secret(
        &mut self,
        name: &str,
        secret: &str,
    ) -> Result<String, ClientError> {
        self.done(Request::SetClientSecret {
            name: name.into(),
            secret: WirePassword::new(secret),
        })
        .await
    }

    pub async fn test_connection(
        &mut self,
        target: TestTarget,
    ) -> Result<Vec<TestStep>, ClientError> {
        self.test_connection_with(target, None).await
    }

    /// Tests `target`, logging in with `password` (typed, not saved yet) when given.
    pub async fn test_connection_with(
        &mut self,
        target: TestTarget,
        password: Option<WirePassword>,
    ) -> Result<Vec<TestStep>, ClientError> {
        let request = Request::TestConnection { target, password };
        match self.request(&request).await? {
            Response::TestReport { steps } => Ok(steps),
            other => Err(Self::unexpected(&request, other)),
        }
    }

    pub async fn poll_now(&mut self, name: &str) -> Result<String, ClientError> {
        self.done(Request::PollNow { name: name.into() }).await
    }

    /// The held messages, of `profile` or of all profiles.
    pub async fn list_held(
        &mut self,
        profile: Option<&str>,
    ) -> Result<Vec<super::HeldMessage>, ClientError> {
        let request = Request::ListHeld {
            profile: profile.map(str::to_string),
        };
        match self.request(&request).await? {
            Response::Held { messages } => Ok(messages),
            other => Err(Self::unexpected(&request, other)),
        }
    }

    /// Retry, deliver to the fallback or delete one held message (done by a poll of its
    /// profile, started at once).
    pub async fn held_action(
        &mut self,
        id: super::HeldId,
        action: super::HeldActionKind,
    ) -> Result<String, ClientError> {
        self.done(Request::HeldAction { id, action }).await
    }

    /// Profiles made from a fetchmailrc or getmailrc's `text` (passwords stored in the
    /// worker's keyring), and the import's report; nothing is saved.
    pub async fn import(
        &mut self,
        format: super::ImportFormat,
        file: &str,
        text: WirePassword,
    ) -> Result<(Vec<ProfileForm>, String), ClientError> {
        let request = Request::Import {
            format,
            file: file.to_string(),
            text,
        };
        match self.request(&request).await? {
            Response::Imported { profiles, report } => Ok((profiles, report)),
            other => Err(Self::unexpected(&request, other)),
        }
    }

    /// Profile `profile`'s delivery history, its days counted at `utc_offset` seconds from UTC.
    pub async fn history(
        &mut self,
        profile: &str,
        utc_offset: i32,
    ) -> Result<super::History, ClientError> {
        let request = Request::History {
            profile: profile.into(),
            utc_offset,
        };
        match self.request(&request).await? {
            Response::History { history } => Ok(*history),
            other => Err(Self::unexpected(&request, other)),
        }
    }

    /// Where `message` would go under profile `profile`'s routing (nothing is delivered).
    pub async fn route(
        &mut self,
        profile: &str,
        message: String,
    ) -> Result<super::RoutePreview, ClientError> {
        let request = Request::Route {
            profile: profile.into(),
            message,
        };
        match self.request(&request).await? {
            Response::Route { preview } => Ok(preview),
            other => Err(Self::unexpected(&request, other)),
        }
    }

    /// Tries each of `candidates` on `host` (connection, encryption, greeting; no login).
    pub async fn find_server(
        &mut self,
        host: &str,
        ca_file: Option<String>,
        candidates: Vec<super::ServerCandidate>,
    ) -> Result<Vec<super::ServerFinding>, ClientError> {
        let request = Request::FindServer {
            host: host.to_string(),
            ca_file,
            candidates,
        };
        match self.request(&request).await? {
            Response::ServerFound { findings } => Ok(findings),
            other => Err(Self::unexpected(&request, other)),
        }
    }

    pub async fn status(&mut self) -> Result<Vec<ProfileStatus>, ClientError> {
        let request = Request::Status;
        match self.request(&request).await? {
            Response::Status { profiles } => Ok(profiles),
            other => Err(Self::unexpected(&request, other)),
        }
    }

    /// Starts an OAuth sign-in of profile `name`: the session id and what to show.
    pub async fn start_sign_in(
        &mut self,
        name: &str,
        method: SignInMethod,
    ) -> Result<(String, SignInPrompt), ClientError> {
        let request = Request::StartSignIn {
            name: name.into(),
            method,
        };
        match self.request(&request).await? {
            Response::SignInStarted { session, prompt } => Ok((session, prompt)),
            other => Err(Self::unexpected(&request, other)),
        }
    }

    /// The state of a started sign-in.
    pub async fn sign_in_result(&mut self, session: &str) -> Result<SignInState, ClientError> {
        let request = Request::SignInResult {
            session: session.into(),
        };
        match self.request(&request).await? {
            Response::SignIn { state, .. } => Ok(state),
            other => Err(Self::unexpected(&request, other)),
        }
    }

    /// Signs profile `name` out: the worker removes its refresh token from its OS keyring.
    pub async fn sign_out(&mut self, name: &str) -> Result<String, ClientError> {
        self.done(Request::SignOut { name: name.into() }).await
    }

    /// Turns this connection into the live log.
    pub async fn subscribe_log(mut self) -> Result<LogStream, ClientError> {
        let request = Request::SubscribeLog;
        match self.request(&request).await? {
            Response::Subscribed => Ok(LogStream { client: self }),
            other => Err(Self::unexpected(&request, other)),
        }
    }
}

/// The worker's live log after [`IpcClient::subscribe_log`].
#[derive(Debug)]
pub struct LogStream {
    client: IpcClient,
}

impl LogStream {
    /// The next event; `Ok(None)` when the worker closed the connection (it stopped).
    pub async fn next(&mut self) -> Result<Option<Event>, ClientError> {
        match receive(&mut self.client.stream).await {
            Ok(event) => Ok(Some(event)),
            Err(ClientError::Closed) => Ok(None),
            Err(err) => Err(err),
        }
    }
}
