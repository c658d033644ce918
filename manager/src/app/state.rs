//! The window's plain state: what is persisted ([`Settings`]), the connection to the worker,
//! the form being edited, the message above it, and the [`Action`]s the views return.

use mailpull_shared::ipc::{FieldProblem, ProfileForm, SignInMethod};
use serde::{Deserialize, Serialize};

use crate::form::FormFields;
use crate::log::LogFilter;

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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    Connecting,
    Connected { worker: String },
    Disconnected { reason: String, not_running: bool },
}

impl Connection {
    pub fn is_connected(&self) -> bool {
        matches!(self, Connection::Connected { .. })
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
}

impl Default for Editor {
    fn default() -> Self {
        Editor {
            mode: Mode::Viewing,
            fields: FormFields::default(),
            base: ProfileForm::default(),
            problems: Vec::new(),
        }
    }
}

impl Editor {
    pub fn editing(&self) -> bool {
        matches!(self.mode, Mode::Editing { .. })
    }

    /// The problems for any of `fields` (dotted names as the worker uses them).
    pub fn problems_for<'a>(&'a self, fields: &'a [&str]) -> impl Iterator<Item = &'a str> + 'a {
        self.problems
            .iter()
            .filter(|p| fields.contains(&p.field.as_str()))
            .map(|p| p.message.as_str())
    }
}

/// A message above the form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub text: String,
    pub error: bool,
}

/// What the views ask for; applied after drawing.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Select(String),
    New,
    Edit,
    Cancel,
    Save,
    /// Ask to confirm deleting the selected profile.
    AskDelete,
    ConfirmDelete,
    CancelDelete,
    Test,
    PollNow,
    StartWorker,
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
}
