//! The messages of the Pull Manager ⇄ worker protocol, version [`PROTOCOL_VERSION`].
//!
//! A connection starts with the client's [`ClientHello`] and the worker's [`ServerHello`];
//! a version mismatch is refused there with a message naming both versions. After that the
//! client sends one [`Request`] at a time and gets one [`Response`]. After
//! [`Request::SubscribeLog`] the connection carries only [`Event`]s from the worker.
//!
//! **Invariant:** a password or client secret travels only client → worker
//! ([`Request::SetSecret`], [`Request::SetClientSecret`], and the typed password of a test in
//! [`Request::TestConnection`], used for that test only and stored nowhere); no
//! [`Response`] or [`Event`] ever carries one, and [`ProfileForm`] never holds an inline one.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::config::raw::RawProfile;
use crate::ipc::find_server::{ServerCandidate, ServerFinding};
use crate::ipc::held::{HeldActionKind, HeldId, HeldMessage};
pub use crate::ipc::hello::{
    ClientHello, PROTOCOL_VERSION, RunMode, ServerHello, version_mismatch,
};
use crate::ipc::history::History;
use crate::ipc::import::ImportFormat;
use crate::ipc::route::RoutePreview;
pub use crate::ipc::signin::{SignInMethod, SignInPrompt, SignInState};

/// The editable form of a profile: the profile as written in the configuration file
/// (`[[profile]]`), every field optional. The worker validates it with the same checks as
/// `mailpull-worker check`.
pub type ProfileForm = RawProfile;

/// A password on its way to the worker. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WirePassword(String);

impl WirePassword {
    pub fn new(value: impl Into<String>) -> Self {
        WirePassword(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for WirePassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WirePassword(****)")
    }
}

/// What to test in [`Request::TestConnection`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestTarget {
    /// A profile of the running configuration.
    Saved(String),
    /// An edited profile not saved yet (validated first, nothing written).
    Form(Box<ProfileForm>),
}

/// One request from the client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum Request {
    /// The profiles of the configuration: [`Response::Profiles`].
    ListProfiles,
    /// One profile as written in the file: [`Response::Profile`].
    ReadProfile { name: String },
    /// Validates `profile`, writes the configuration file and applies it without a restart.
    /// `original`: the name it had before (rename or replace); `None` adds a new profile, or
    /// replaces the profile of the same name. Answer: [`Response::Saved`].
    SaveProfile {
        original: Option<String>,
        profile: Box<ProfileForm>,
    },
    /// Sets `enabled` in the file and applies it: [`Response::Done`].
    SetEnabled { name: String, enabled: bool },
    /// Removes the profile from the file (and its keyring password): [`Response::Done`].
    DeleteProfile { name: String },
    /// Stores the profile's password in the OS keyring of the worker's account:
    /// [`Response::Done`] (which never repeats the password).
    SetSecret {
        name: String,
        password: WirePassword,
    },
    /// Stores the OAuth 2.0 client secret of an `xoauth2`/`oauthbearer` profile (for
    /// `client_secret = { keyring = true }`) in the OS keyring of the worker's account:
    /// [`Response::Done`] (which never repeats it).
    SetClientSecret { name: String, secret: WirePassword },
    /// Removes every profile's password, OAuth client secret and refresh token from the OS
    /// keyring of the worker's account (the uninstaller's "Remove my data": on Windows that
    /// store belongs to the service's account, which only the running worker can reach):
    /// [`Response::Done`]. Added within version 1.
    ForgetSecrets,
    /// Connect, TLS, login, message count, local SMTP: [`Response::TestReport`].
    TestConnection {
        target: TestTarget,
        /// The password typed into the form and not saved yet: the test logs in with it
        /// instead of reading the profile's source (a keyring profile has nothing there
        /// before its first save). Used for this test only: never logged, repeated or
        /// stored. Ignored for an OAuth profile. Added within version 1.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password: Option<WirePassword>,
    },
    /// Polls the profile now: [`Response::Done`].
    PollNow { name: String },
    /// Every profile's state: [`Response::Status`].
    Status,
    /// From now on the worker sends log lines as [`Event`]s: [`Response::Subscribed`], then
    /// the last lines it logged before (up to 500, oldest first; workers before this sent
    /// none), then every new line.
    SubscribeLog,
    /// Starts an OAuth 2.0 sign-in of an `xoauth2`/`oauthbearer` profile:
    /// [`Response::SignInStarted`] with what to show the person. The worker finishes it in
    /// the background and stores the refresh token in its OS keyring.
    StartSignIn { name: String, method: SignInMethod },
    /// The state of a sign-in started with [`Request::StartSignIn`]: [`Response::SignIn`].
    SignInResult { session: String },
    /// Removes the refresh token of an `xoauth2`/`oauthbearer` profile from the worker's OS
    /// keyring and forgets its access token (`mailpull-worker oauth sign-out`):
    /// [`Response::Done`]. Added within version 1: an older worker answers it with a
    /// bad-request error.
    SignOut { name: String },
    /// The held messages, of one profile or of all: [`Response::Held`] (see `held`).
    ListHeld { profile: Option<String> },
    /// Retry, deliver to the fallback or delete one held message: [`Response::Done`]. Both
    /// added within version 1: an older worker answers them with a bad-request error.
    HeldAction { id: HeldId, action: HeldActionKind },
    /// A fetchmailrc or getmailrc's text into profiles: [`Response::Imported`] (see `import`).
    Import {
        format: ImportFormat,
        file: String,
        text: WirePassword,
    },
    /// A profile's delivery history: [`Response::History`] (see `history`).
    History { profile: String, utc_offset: i32 },
    /// Where a message would go: [`Response::Route`] (see `route`).
    Route { profile: String, message: String },
    /// Tries each of `candidates` on `host` up to the encrypted connection and the greeting,
    /// never a login (the first-run wizard's "find my server", see `find_server`):
    /// [`Response::ServerFound`]. `ca_file`: a private CA to trust. Added within version 1.
    FindServer {
        host: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ca_file: Option<String>,
        candidates: Vec<ServerCandidate>,
    },
}

impl Request {
    /// A short name for logs (never the arguments: they may hold a password).
    pub fn kind(&self) -> &'static str {
        match self {
            Request::ListProfiles => "list_profiles",
            Request::ReadProfile { .. } => "read_profile",
            Request::SaveProfile { .. } => "save_profile",
            Request::SetEnabled { .. } => "set_enabled",
            Request::DeleteProfile { .. } => "delete_profile",
            Request::SetSecret { .. } => "set_secret",
            Request::SetClientSecret { .. } => "set_client_secret",
            Request::ForgetSecrets => "forget_secrets",
            Request::TestConnection { .. } => "test_connection",
            Request::PollNow { .. } => "poll_now",
            Request::Status => "status",
            Request::SubscribeLog => "subscribe_log",
            Request::StartSignIn { .. } => "start_sign_in",
            Request::SignInResult { .. } => "sign_in_result",
            Request::SignOut { .. } => "sign_out",
            Request::ListHeld { .. } => "list_held",
            Request::HeldAction { .. } => "held_action",
            Request::Import { .. } => "import",
            Request::History { .. } => "history",
            Request::Route { .. } => "route",
            Request::FindServer { .. } => "find_server",
        }
    }
}

/// A profile in [`Response::Profiles`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileSummary {
    pub name: String,
    pub enabled: bool,
    /// `pop3` or `imap`.
    pub protocol: String,
    pub host: String,
    pub port: u16,
    pub username: String,
    /// The single-drop recipient (or the multi-drop fallback).
    pub local_address: String,
    pub multi_drop: bool,
    /// `keyring`, `file` or `env`; `oauth2` for an OAuth login (no password).
    pub password_source: String,
}

/// What a profile is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProfileState {
    Idle,
    Polling,
    Ok,
    Error,
    Disabled,
}

impl ProfileState {
    pub fn as_str(self) -> &'static str {
        match self {
            ProfileState::Idle => "idle",
            ProfileState::Polling => "polling",
            ProfileState::Ok => "ok",
            ProfileState::Error => "error",
            ProfileState::Disabled => "disabled",
        }
    }
}

/// One row of [`Response::Status`]. Times are seconds since the Unix epoch (UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileStatus {
    pub name: String,
    pub state: ProfileState,
    pub last_poll: Option<u64>,
    pub next_poll: Option<u64>,
    /// Messages delivered since the worker started.
    pub messages: u64,
    /// Bytes delivered since the worker started.
    pub bytes: u64,
    pub last_error: Option<String>,
    pub consecutive_failures: u32,
    /// An OAuth profile whose refresh token is missing or was revoked: only a new sign-in
    /// ([`Request::StartSignIn`]) helps. Absent from older workers (false).
    #[serde(default)]
    pub needs_sign_in: bool,
    /// IMAP IDLE of a push profile; absent from older workers (off).
    #[serde(default)]
    pub push: crate::ipc::PushState,
    /// With a shared state (several workers): the worker holding this profile's lease now
    /// (`host:pid:id`), `None` when no worker holds it. Absent with a local state and from
    /// older workers.
    #[serde(default)]
    pub holder: Option<String>,
}

/// The outcome of one step of a connection test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepOutcome {
    Passed,
    Failed,
    /// Not run: an earlier step failed, or it does not apply (no TLS on a plain profile).
    Skipped,
}

/// One step of [`Response::TestReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestStep {
    /// `connect`, `tls`, `login`, `messages` or `local_smtp`.
    pub step: String,
    pub outcome: StepOutcome,
    /// What happened, e.g. `TLSv1_3` or the error.
    pub detail: String,
}

/// What kind of error a request met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The frame or request could not be understood; the worker closes the connection.
    BadRequest,
    /// No profile of that name.
    NoSuchProfile,
    /// The profile or configuration is invalid; `fields` names each problem.
    Invalid,
    /// Profile disabled (e.g. poll-now on a disabled profile).
    Disabled,
    /// The OS keyring refused.
    Keyring,
    /// Reading or writing the configuration file failed.
    Io,
    /// Too many clients at once.
    Busy,
    /// An OAuth sign-in could not start, or its session is unknown.
    SignIn,
    /// Anything else inside the worker.
    Internal,
}

/// One invalid field of a refused profile: the checker's own [`FieldError`], sent as it is
/// (`{"profile": …, "field": "remote.port", "message": …}`).
pub use crate::config::FieldError as FieldProblem;

/// A typed error reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub struct IpcError {
    pub kind: ErrorKind,
    pub message: String,
    /// For [`ErrorKind::Invalid`]: every problem found.
    #[serde(default)]
    pub fields: Vec<FieldProblem>,
}

impl IpcError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        IpcError {
            kind,
            message: message.into(),
            fields: Vec::new(),
        }
    }

    pub fn no_such_profile(name: &str) -> Self {
        IpcError::new(
            ErrorKind::NoSuchProfile,
            format!("no profile named \"{name}\""),
        )
    }
}

impl fmt::Display for IpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        for problem in &self.fields {
            write!(f, "\n  {problem}")?;
        }
        Ok(())
    }
}

/// One answer from the worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "response", rename_all = "snake_case")]
pub enum Response {
    Profiles {
        profiles: Vec<ProfileSummary>,
    },
    Profile {
        profile: Box<ProfileForm>,
    },
    /// The profile was written and applied.
    Saved {
        name: String,
    },
    /// A request that needs no data back succeeded; `message` says what was done.
    Done {
        message: String,
    },
    TestReport {
        steps: Vec<TestStep>,
    },
    /// A sign-in is running under `session` (for [`Request::SignInResult`]).
    SignInStarted {
        session: String,
        prompt: SignInPrompt,
    },
    SignIn {
        session: String,
        state: SignInState,
    },
    Status {
        profiles: Vec<ProfileStatus>,
    },
    Subscribed,
    Held {
        messages: Vec<HeldMessage>,
    },
    /// The profiles and report of [`Request::Import`] (see `import`).
    Imported {
        profiles: Vec<ProfileForm>,
        report: String,
    },
    History {
        history: Box<History>,
    },
    Route {
        preview: RoutePreview,
    },
    /// One finding per candidate of [`Request::FindServer`], in order.
    ServerFound {
        findings: Vec<ServerFinding>,
    },
    Error {
        error: IpcError,
    },
}

/// Pushed by the worker after [`Request::SubscribeLog`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// One formatted log line (no trailing newline).
    Log { line: String },
    /// The subscriber was too slow; this many lines were dropped.
    Lagged { skipped: u64 },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_debug_hides_the_password() {
        let request = Request::SetSecret {
            name: "isp".into(),
            password: WirePassword::new("hunter2"),
        };
        let json = serde_json::to_string(&request).expect("json");
        assert_eq!(
            json,
            r#"{"request":"set_secret","name":"isp","password":"hunter2"}"#
        );
        let back: Request = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, request);
        assert!(!format!("{request:?}").contains("hunter2"));
        assert_eq!(request.kind(), "set_secret");

        let request = Request::SetClientSecret {
            name: "gmail".into(),
            secret: WirePassword::new("GOCSPX-s3cret"),
        };
        let json = serde_json::to_string(&request).expect("json");
        assert_eq!(
            json,
            r#"{"request":"set_client_secret","name":"gmail","secret":"GOCSPX-s3cret"}"#
        );
        assert_eq!(
            serde_json::from_str::<Request>(&json).expect("parse"),
            request
        );
        assert!(!format!("{request:?}").contains("s3cret"));
        assert_eq!(request.kind(), "set_client_secret");
    }

    #[test]
    fn unknown_requests_and_fields_are_refused() {
        assert!(serde_json::from_str::<Request>(r#"{"request":"format_disk"}"#).is_err());
        assert!(
            serde_json::from_str::<Request>(
                r#"{"request":"save_profile","original":null,"profile":{"name":"x","colour":"red"}}"#
            )
            .is_err()
        );
    }

    #[test]
    fn sign_in_messages_round_trip_and_old_statuses_still_parse() {
        let request = Request::StartSignIn {
            name: "m365".into(),
            method: SignInMethod::Device,
        };
        let json = serde_json::to_string(&request).expect("json");
        assert_eq!(
            json,
            r#"{"request":"start_sign_in","name":"m365","method":"device"}"#
        );
        assert_eq!(
            serde_json::from_str::<Request>(&json).expect("parse"),
            request
        );
        let response = Response::SignInStarted {
            session: "1".into(),
            prompt: SignInPrompt::Device {
                verification_uri: "https://microsoft.com/devicelogin".into(),
                verification_uri_complete: None,
                user_code: "ABCD-EFGH".into(),
                expires_in_secs: 900,
            },
        };
        let json = serde_json::to_string(&response).expect("json");
        assert_eq!(
            serde_json::from_str::<Response>(&json).expect("parse"),
            response
        );
        let done = Response::SignIn {
            session: "1".into(),
            state: SignInState::Failed {
                message: "declined".into(),
            },
        };
        let json = serde_json::to_string(&done).expect("json");
        assert!(json.contains(r#""state":"failed""#), "{json}");
        let sign_out = Request::SignOut {
            name: "m365".into(),
        };
        let json = serde_json::to_string(&sign_out).expect("json");
        assert_eq!(json, r#"{"request":"sign_out","name":"m365"}"#);
        assert_eq!(sign_out.kind(), "sign_out");
        // A status row from a worker before OAuth (no needs_sign_in) still parses.
        let old = r#"{"name":"a","state":"ok","last_poll":null,"next_poll":null,"messages":0,"bytes":0,"last_error":null,"consecutive_failures":0}"#;
        let status: ProfileStatus = serde_json::from_str(old).expect("old status");
        assert!(!status.needs_sign_in);
    }

    #[test]
    fn a_hello_without_log_dir_still_reads() {
        let old: ServerHello = serde_json::from_str(
            r#"{"protocol":1,"worker":"mailpull-worker 0.1.0","refused":null}"#,
        )
        .expect("old hello");
        assert_eq!(old.log_dir, None);
        let new = ServerHello {
            log_dir: Some("/var/lib/mailpull/logs".into()),
            ..old
        };
        let json = serde_json::to_string(&new).expect("json");
        assert_eq!(
            serde_json::from_str::<ServerHello>(&json).expect("new"),
            new
        );
    }

    #[test]
    fn mismatch_message_names_both_versions() {
        let text = version_mismatch(7, 1);
        assert!(
            text.contains("version 7") && text.contains("version 1"),
            "{text}"
        );
    }

    #[test]
    fn a_field_problem_keeps_its_wire_form() {
        let problem = FieldProblem {
            profile: Some("a".into()),
            field: "remote.port".into(),
            message: "70000 is not a port".into(),
        };
        let json = serde_json::to_string(&problem).expect("json");
        assert_eq!(
            json,
            r#"{"profile":"a","field":"remote.port","message":"70000 is not a port"}"#
        );
        assert_eq!(
            serde_json::from_str::<FieldProblem>(&json).expect("read back"),
            problem
        );
        let file_wide = FieldProblem {
            profile: None,
            field: String::new(),
            message: "not valid TOML".into(),
        };
        assert_eq!(
            serde_json::to_string(&file_wide).expect("json"),
            r#"{"profile":null,"field":"","message":"not valid TOML"}"#
        );
        let error = IpcError {
            kind: ErrorKind::Invalid,
            message: "invalid profile".into(),
            fields: vec![problem],
        };
        assert_eq!(
            serde_json::to_string(&error).expect("json"),
            r#"{"kind":"invalid","message":"invalid profile","fields":[{"profile":"a","field":"remote.port","message":"70000 is not a port"}]}"#
        );
    }

    #[test]
    fn error_display_lists_every_field() {
        let err = IpcError {
            kind: ErrorKind::Invalid,
            message: "invalid profile".into(),
            fields: vec![FieldProblem {
                profile: Some("a".into()),
                field: "remote.port".into(),
                message: "70000 is not a port".into(),
            }],
        };
        assert_eq!(
            err.to_string(),
            "invalid profile\n  profile \"a\": remote.port: 70000 is not a port"
        );
    }
}
