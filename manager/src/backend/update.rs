//! What the pipe thread reports back to the window: one [`Update`] per event.

use std::path::PathBuf;

use mailpull_shared::ipc::{
    HeldActionKind, HeldId, HeldMessage, IpcError, ProfileForm, ProfileStatus, ProfileSummary,
    RunMode, ServerFinding, SignInPrompt, SignInState, TestStep,
};

use super::{HistoryUpdate, ImportOutcome};
use crate::service::{Host, ServiceVerb};

/// What the pipe reports back to the window.
#[derive(Debug, Clone)]
pub enum Update {
    Connected {
        worker: String,
        log_dir: Option<PathBuf>,
        run_mode: RunMode,
    },
    /// No connection; `not_running` when nothing listens for this configuration.
    Disconnected {
        reason: String,
        not_running: bool,
    },
    /// While nothing listens: the service or unit installed for this configuration (asked
    /// again every tick, sent when it changes).
    Host(Host),
    /// How an elevated Start / Stop / Restart of the Windows service ended.
    ServiceControlled {
        verb: ServiceVerb,
        outcome: Result<String, String>,
    },
    Profiles(Vec<ProfileSummary>),
    Status(Vec<ProfileStatus>),
    Profile {
        name: String,
        form: Box<ProfileForm>,
    },
    Saved {
        name: String,
        /// The outcome of storing the typed password, when one was typed.
        secret: Option<Result<String, String>>,
        /// The outcome of storing the typed OAuth client secret, when one was typed.
        client_secret: Option<Result<String, String>>,
    },
    /// The worker refused to save: nothing was written. `error.fields` names each problem.
    SaveRefused(IpcError),
    Deleted(String),
    TestReport(Vec<TestStep>),
    /// A request that succeeded, with the worker's message.
    Done(String),
    /// A request that failed, with what was asked and why.
    Failed {
        what: String,
        error: String,
    },
    /// A sign-in of profile `name` runs under `session`; show `prompt`.
    SignInStarted {
        name: String,
        session: String,
        prompt: SignInPrompt,
    },
    /// The worker refused to start a sign-in of profile `name`.
    SignInRefused {
        name: String,
        error: String,
    },
    /// The state of the sign-in `session`.
    SignIn {
        session: String,
        state: SignInState,
    },
    /// Every held message of every profile.
    Held(Vec<HeldMessage>),
    /// What an import came to: the worker's report, the profiles saved, and those the
    /// worker refused to save with why; `Err` when nothing was imported.
    Imported(Result<ImportOutcome, String>),
    /// The outcome of an action on a held message: the worker's message, or why not.
    HeldResult {
        id: HeldId,
        action: HeldActionKind,
        outcome: Result<String, String>,
    },
    /// The answer to a [`Command::History`].
    History(HistoryUpdate),
    /// What answered on `host`, one finding per candidate asked for.
    ServerFound {
        host: String,
        findings: Vec<ServerFinding>,
    },
    Log(String),
    Lagged(u64),
}
