//! File → Import: the dialog's state, reading the chosen fetchmailrc or getmailrc and handing
//! its text to the worker ([`Command::Import`]), which maps it as `mailpull-worker import`
//! does, stores the passwords in its keyring, and the pipe thread saves each profile through
//! the usual save request. The text is read, sent and dropped: the window keeps none of it.

use mailpull_shared::ipc::{ImportFormat, WirePassword};

use super::window::ManagerApp;
use crate::backend::{Command, ImportOutcome};

/// The import dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportDialog {
    pub format: ImportFormat,
    /// The file, as typed.
    pub path: String,
    /// The import is on its way.
    pub running: bool,
    /// `None` until done; then what was saved and the report, or why nothing was imported.
    pub outcome: Option<Result<ImportOutcome, String>>,
}

impl ImportDialog {
    pub fn new(format: ImportFormat) -> Self {
        ImportDialog {
            format,
            path: String::new(),
            running: false,
            outcome: None,
        }
    }

    /// "fetchmailrc" / "getmailrc".
    pub fn format_name(&self) -> &'static str {
        format_name(self.format)
    }
}

pub fn format_name(format: ImportFormat) -> &'static str {
    match format {
        ImportFormat::Fetchmailrc => "fetchmailrc",
        ImportFormat::Getmailrc => "getmailrc",
    }
}

impl ManagerApp {
    /// Reads the dialog's file and sends it to the worker.
    pub(super) fn run_import(&mut self) {
        let Some(dialog) = self.import.as_mut() else {
            return;
        };
        let path = dialog.path.trim().to_string();
        if path.is_empty() {
            dialog.outcome = Some(Err("Type the path of the file to import.".into()));
            return;
        }
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) => {
                dialog.outcome = Some(Err(format!("Cannot read {path}: {err}")));
                return;
            }
        };
        dialog.running = true;
        dialog.outcome = None;
        let format = dialog.format;
        self.backend.send(Command::Import {
            format,
            file: path,
            text: WirePassword::new(text),
        });
    }
}
