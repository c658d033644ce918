//! What each [`Action`] of the views does: select, new, edit, save, test, delete, poll now,
//! start the worker, the log buttons and the sign-in dialog's buttons.

use mailpull_shared::ipc::TestTarget;

use super::state::{Action, Connection, Editor, Mode};
use super::window::ManagerApp;
use crate::backend::Command;
use crate::form::describe_problem;
use crate::launch;
use crate::log::newest_log_file;

impl ManagerApp {
    /// Applies what the views asked for in this frame.
    pub fn apply(&mut self, actions: Vec<Action>, ctx: &egui::Context) {
        for action in actions {
            self.apply_action(action, ctx);
        }
    }

    fn apply_action(&mut self, action: Action, ctx: &egui::Context) {
        match action {
            Action::Select(name) => {
                if !self.editor.editing() {
                    self.select(name);
                }
            }
            Action::New => {
                self.selected = None;
                self.test_report = None;
                self.editor = Editor {
                    mode: Mode::Editing { original: None },
                    ..Editor::default()
                };
                self.notice = None;
            }
            Action::Edit => {
                if let Some(name) = self.selected.clone() {
                    self.editor.mode = Mode::Editing {
                        original: Some(name),
                    };
                    self.notice = None;
                }
            }
            Action::Cancel => {
                self.editor.mode = Mode::Viewing;
                self.editor.problems.clear();
                self.notice = None;
                match self.selected.clone() {
                    Some(name) => self.select(name),
                    None => self.editor = Editor::default(),
                }
            }
            Action::Save => self.save(),
            Action::AskDelete => self.confirm_delete = self.selected.clone(),
            Action::CancelDelete => self.confirm_delete = None,
            Action::ConfirmDelete => {
                if let Some(name) = self.confirm_delete.take() {
                    self.busy = Some(format!("Deleting \"{name}\" ..."));
                    self.backend.send(Command::Delete(name));
                }
            }
            Action::Test => self.test(),
            Action::PollNow => {
                if let Some(name) = self.selected.clone() {
                    self.busy = Some(format!("Asking the worker to poll \"{name}\" ..."));
                    self.backend.send(Command::PollNow(name));
                }
            }
            Action::StartWorker => {
                match launch::start_worker(&self.worker_binary, &self.config_path) {
                    Ok((pid, message)) => {
                        self.started_worker = Some(pid);
                        self.connection = Connection::Connecting;
                        self.notify(message, false);
                    }
                    Err(message) => self.notify(message, true),
                }
            }
            Action::OpenLog => match &self.log_dir {
                Some(dir) => {
                    let file = newest_log_file(dir);
                    if let Err(message) = (self.opener)(&file.to_string_lossy()) {
                        self.notify(message, true);
                    }
                }
                None => self.notify("The worker did not say where its log file is.", true),
            },
            Action::CopyLog => {
                ctx.copy_text(self.log.visible_text(&self.settings.log_filter));
                self.notify("Copied the shown log lines.", false);
            }
            Action::ClearLog => self.log.clear(),
            Action::SetPaused(paused) => self.log.set_paused(paused),
            Action::SignIn(method) => self.start_sign_in(method),
            Action::OpenSignInPage(url) => {
                if let Err(why) = (self.opener)(&url) {
                    self.notify(format!("Could not open the browser: {why}"), true);
                }
            }
            Action::CopyCode(code) => ctx.copy_text(code),
            Action::CloseSignIn => self.sign_in = None,
        }
    }

    fn save(&mut self) {
        let Mode::Editing { original } = self.editor.mode.clone() else {
            return;
        };
        match self.editor.fields.to_profile(&self.editor.base) {
            Err(problems) => {
                let list: Vec<String> = problems.iter().map(describe_problem).collect();
                self.notify(format!("Not saved: {}", list.join("; ")), true);
                self.editor.problems = problems;
            }
            Ok(profile) => {
                self.editor.problems.clear();
                self.busy = Some("Saving ...".into());
                self.backend.send(Command::Save {
                    original,
                    profile: Box::new(profile),
                    password: self.editor.fields.password_to_send(),
                    client_secret: self.editor.fields.client_secret_to_send(),
                });
            }
        }
    }

    /// Tests the selected profile, or the form being edited with the password typed into it
    /// (sent for this test only; it reaches the keyring only with Save).
    fn test(&mut self) {
        let mut password = None;
        let target = if self.editor.editing() {
            match self.editor.fields.to_profile(&self.editor.base) {
                Ok(profile) => {
                    password = self.editor.fields.password_to_send();
                    TestTarget::Form(Box::new(profile))
                }
                Err(problems) => {
                    self.notify("Fix the marked fields before testing.", true);
                    self.editor.problems = problems;
                    return;
                }
            }
        } else {
            match &self.selected {
                Some(name) => TestTarget::Saved(name.clone()),
                None => return,
            }
        };
        self.test_report = None;
        self.busy = Some("Testing the connection ...".into());
        self.backend.send(Command::Test { target, password });
    }
}
