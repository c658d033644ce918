//! The window's plain state: what is persisted ([`Settings`]), the connection to the worker,
//! the form being edited, the message above it, the sign-in dialog, and the [`Action`]s the
//! views return.

use std::time::{Duration, Instant};

use mailpull_shared::ipc::{
    FieldProblem, HeldActionKind, HeldId, ImportFormat, ProfileForm, RunMode, SignInMethod,
    SignInPrompt,
};
use serde::{Deserialize, Serialize};

use crate::form::{FormFields, Section};
use crate::log::LogFilter;
use crate::service::ServiceVerb;
use crate::tray::Link;
use crate::wizard::WizardAction;

/// The key of [`Settings`] in eframe's storage.
pub const SETTINGS_KEY: &str = "mailpull-manager";

/// What the window remembers between runs (window size and panel sizes are remembered by
/// eframe and egui themselves).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub log_filter: LogFilter,
    /// The profile shown last.
    pub selected: Option<String>,
    /// No desktop notifications (File → Desktop notifications); the tray icon stays.
    pub notifications_off: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    Connecting,
    /// `run_mode`: how the worker runs, as it said in its hello.
    Connected {
        worker: String,
        run_mode: RunMode,
    },
    Disconnected {
        reason: String,
        not_running: bool,
    },
}

impl Connection {
    pub fn is_connected(&self) -> bool {
        matches!(self, Connection::Connected { .. })
    }

    /// The link as the tray sees it.
    pub fn link(&self) -> Link {
        match self {
            Connection::Connecting => Link::Connecting,
            Connection::Connected { .. } => Link::Connected,
            Connection::Disconnected {
                not_running: true, ..
            } => Link::NotRunning,
            Connection::Disconnected { .. } => Link::Unreachable,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// The selected profile, read-only.
    Viewing,
    /// Editing; `original` is the saved name (`None` for a new profile).
    Editing { original: Option<String> },
}

/// The profile form.
#[derive(Debug, Clone)]
pub struct Editor {
    pub mode: Mode,
    pub fields: FormFields,
    /// The profile as read from the file (or empty for a new one): the base of the save.
    pub base: ProfileForm,
    /// The problems of the last save attempt, by field.
    pub problems: Vec<FieldProblem>,
    /// The section shown.
    pub section: Section,
    /// The fields when editing started: edits are what differs from them.
    pub initial: FormFields,
}

impl Default for Editor {
    fn default() -> Self {
        Editor {
            mode: Mode::Viewing,
            fields: FormFields::default(),
            base: ProfileForm::default(),
            problems: Vec::new(),
            section: Section::default(),
            initial: FormFields::default(),
        }
    }
}

impl Editor {
    pub fn editing(&self) -> bool {
        matches!(self.mode, Mode::Editing { .. })
    }

    /// Editing, with something changed since editing started (a new profile always counts).
    pub fn unsaved(&self) -> bool {
        match &self.mode {
            Mode::Viewing => false,
            Mode::Editing { original: None } => true,
            Mode::Editing { original: Some(_) } => self.fields != self.initial,
        }
    }

    /// Starts editing `fields` (`original`: the saved name, `None` for a new profile).
    pub fn start_editing(&mut self, original: Option<String>) {
        self.mode = Mode::Editing { original };
        self.initial = self.fields.clone();
        self.problems.clear();
    }

    /// The problems for any of `fields` (dotted names as the worker uses them).
    pub fn problems_for<'a>(&'a self, fields: &'a [&str]) -> impl Iterator<Item = &'a str> + 'a {
        self.problems
            .iter()
            .filter(|p| fields.contains(&p.field.as_str()))
            .map(|p| p.message.as_str())
    }
}

/// What the centre of the window shows for the selected profile.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Page {
    /// The profile form.
    #[default]
    Profile,
    /// Its held messages and the actions on them.
    Held,
    /// What it delivered: totals, per day, the last deliveries.
    History,
    /// Where a message would go under its routing.
    Route,
}

/// A message above the form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub text: String,
    pub error: bool,
}

/// What waits for the answer to "unsaved changes": selecting another profile, or closing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pending {
    Select(String),
    Close,
}

/// What the views ask for; applied after drawing.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Show another profile (asks first when the form has unsaved edits).
    Select(String),
    New,
    /// A new profile with the selected one's settings.
    Duplicate,
    /// A new profile with the settings of this one (selected and read first if need be).
    DuplicateOf(String),
    Edit,
    Cancel,
    Save,
    /// Ask to confirm deleting the selected profile.
    AskDelete,
    ConfirmDelete,
    CancelDelete,
    Test,
    CloseReport,
    PollNow,
    /// Every enabled profile, now.
    PollAll,
    /// Enable or disable a profile from the list.
    SetEnabled(String, bool),
    /// The window is being closed (asks first when the form has unsaved edits).
    CloseRequested,
    /// The answers to "unsaved changes": save then go on, drop the edits then go on, or stay.
    SavePending,
    DiscardPending,
    CancelPending,
    StartWorker,
    /// Start, stop or restart the Windows service (elevated).
    ServiceControl(ServiceVerb),
    OpenLog,
    CopyLog,
    ClearLog,
    SetPaused(bool),
    /// Start an OAuth sign-in of the selected profile.
    SignIn(SignInMethod),
    /// Open a sign-in page (the device flow's link, or the authorization URL again).
    OpenSignInPage(String),
    /// Copy the device flow's code.
    CopyCode(String),
    /// Close the sign-in dialog (Cancel or Close).
    CloseSignIn,
    /// Show the profile form or the held messages.
    ShowPage(Page),
    /// Retry a held message or deliver it to the fallback (Delete asks first).
    Held(HeldId, HeldActionKind),
    /// Ask to confirm deleting a held message on the server.
    AskHeldDelete(HeldId),
    ConfirmHeldDelete,
    CancelHeldDelete,
    /// File → Import: open the dialog for this format.
    OpenImport(ImportFormat),
    /// Read the dialog's file and import it.
    RunImport,
    CloseImport,
    /// Ask for the selected profile's history (again).
    RefreshHistory,
    /// Preview the routing of the draft message.
    PreviewRoute,
    /// Open the message file typed in the routing preview.
    OpenRouteFile,
    /// A file dropped on the window: preview it.
    DroppedFile(std::path::PathBuf),
    /// The first-run wizard (also behind New).
    Wizard(WizardAction),
    /// Turn desktop notifications on or off.
    SetNotifications(bool),
    /// The tray's Quit: close the window (asks first when the form has unsaved edits).
    Quit,
}

/// How often a running sign-in's state is asked for.
pub const SIGN_IN_POLL: Duration = Duration::from_millis(1500);

/// Opens a sign-in page or the log file with the desktop's default program
/// ([`launch::open_url`] unless changed, e.g. by tests).
pub type Opener = Box<dyn Fn(&str) -> Result<(), String> + Send>;

/// The sign-in dialog of one profile.
#[derive(Debug, Clone)]
pub struct SignIn {
    pub name: String,
    pub method: SignInMethod,
    /// Known once the worker started it.
    pub session: Option<String>,
    pub prompt: Option<SignInPrompt>,
    /// When the device code stops working.
    pub expires: Option<Instant>,
    /// `None` while pending; the worker's message once done (`Ok`) or failed (`Err`).
    pub outcome: Option<Result<String, String>>,
    /// A state request is on its way.
    pub(super) asking: bool,
    pub(super) last_asked: Instant,
}

impl SignIn {
    pub fn pending(&self) -> bool {
        self.outcome.is_none()
    }
}
