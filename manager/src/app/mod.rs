//! The window's state and logic, apart from drawing: what is known about the worker, the
//! profiles and their status, the form being edited, the live log, and the [`Action`]s the
//! views return, applied after each frame is drawn. Only [`Settings`] is persisted.
//! An OAuth sign-in is a [`SignIn`]: started through the pipe thread, its page opened with
//! [`ManagerApp::opener`], its state asked for every [`SIGN_IN_POLL`] until it ends.
//!
//! Layout: `state` (the plain state types: settings, connection, mode, editor, notice, the
//! sign-in dialog, the actions), `window` ([`ManagerApp`] itself: building it, taking in the pipe's updates),
//! `updates` (what each update from the pipe changes), `actions` (what each action of the
//! views does: select, edit, save, test, delete ...), `sign_in` (starting the OAuth sign-in
//! dialog and polling its state), `import` (File → Import: the dialog, reading the file and
//! handing it to the worker), `history` (the History page and the routing preview: their
//! state, asking the worker, taking in its answers), `wizard` (the first-run wizard: opening
//! it, its search, test and save through the pipe, the first poll after Save).

mod actions;
mod history;
mod import;
mod sign_in;
mod state;
mod updates;
mod window;
mod wizard;

pub use history::{HISTORY_REFRESH, HistoryPage, RouteDraft};
pub use import::{ImportDialog, format_name};
pub use state::{
    Action, Connection, Editor, Mode, Notice, Opener, Page, Pending, SETTINGS_KEY, SIGN_IN_POLL,
    Settings, SignIn,
};
pub use window::ManagerApp;

#[cfg(test)]
mod history_tests;
#[cfg(test)]
mod service_tests;
#[cfg(test)]
mod tests;
