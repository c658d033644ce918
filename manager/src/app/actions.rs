//! What each [`Action`] of the views does: select, new, edit, save, test, delete, poll now,
//! start the worker (or, where a service serves the configuration, control the service), the
//! log buttons and the sign-in dialog's buttons.

use mailpull_shared::ipc::{HeldActionKind, HeldId, TestTarget};

use super::state::{Action, Connection, Editor, Mode, Notice, Page, Pending};
use super::window::ManagerApp;
use crate::backend::{Command, Update};
use crate::form::describe_problem;
use crate::launch;
use crate::log::newest_log_file;
use crate::wizard::WizardAction;

impl ManagerApp {
    /// Applies what the views asked for in this frame.
    pub fn apply(&mut self, actions: Vec<Action>, ctx: &egui::Context) {
        for action in actions {
            self.apply_action(action, ctx);
        }
    }

    fn apply_action(&mut self, action: Action, ctx: &egui::Context) {
        // Whatever starts editing shows the form.
        if matches!(
            action,
            Action::New | Action::Edit | Action::Duplicate | Action::DuplicateOf(_)
        ) {
            self.page = Page::Profile;
        }
        match action {
            Action::Select(_) | Action::DuplicateOf(_) if self.wizard.is_some() => self.notify(
                "Finish the set-up or press Cancel in it before showing another profile.",
                true,
            ),
            Action::Select(name) => {
                if self.editor.unsaved() {
                    if self.selected.as_deref() != Some(name.as_str())
                        || self.editor.mode == (Mode::Editing { original: None })
                    {
                        self.pending = Some(Pending::Select(name));
                        self.ask_unsaved = true;
                    }
                } else {
                    self.editor.mode = Mode::Viewing;
                    self.select(name);
                }
            }
            Action::New => {
                if !self.editor.editing() {
                    self.wizard_action(WizardAction::Open);
                }
            }
            Action::Wizard(action) => self.wizard_action(action),
            Action::Duplicate => self.duplicate(),
            Action::DuplicateOf(name) => {
                if self.editor.editing() {
                    return;
                }
                let loaded = self.selected.as_deref() == Some(name.as_str())
                    && self.editor.fields.name == name;
                if loaded {
                    self.duplicate();
                } else {
                    self.duplicate_next = Some(name.clone());
                    self.select(name);
                }
            }
            Action::Edit => {
                if let Some(name) = self.selected.clone() {
                    self.editor.start_editing(Some(name));
                    self.notice = None;
                }
            }
            Action::Cancel => self.discard_edits(),
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
            Action::CloseReport => self.test_report = None,
            Action::PollAll => {
                let names: Vec<String> = self
                    .profiles
                    .iter()
                    .filter(|p| p.enabled)
                    .map(|p| p.name.clone())
                    .collect();
                self.busy = Some("Asking the worker to poll every enabled profile ...".into());
                self.backend.send(Command::PollAll(names));
            }
            Action::SetEnabled(name, enabled) => {
                self.busy = Some(format!(
                    "{} \"{name}\" ...",
                    if enabled { "Enabling" } else { "Disabling" }
                ));
                self.backend.send(Command::SetEnabled {
                    name: name.clone(),
                    enabled,
                });
                if self.selected.as_deref() == Some(name.as_str()) && !self.editor.editing() {
                    self.backend.send(Command::ReadProfile(name));
                }
            }
            Action::SetNotifications(on) => self.settings.notifications_off = !on,
            Action::Quit => {
                if self.editor.unsaved() && !self.close_allowed {
                    self.pending = Some(Pending::Close);
                    self.ask_unsaved = true;
                } else {
                    ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                }
            }
            Action::CloseRequested => {
                if self.editor.unsaved() && !self.close_allowed {
                    ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
                    self.pending = Some(Pending::Close);
                    self.ask_unsaved = true;
                }
            }
            Action::SavePending => {
                self.ask_unsaved = false;
                self.save();
            }
            Action::DiscardPending => {
                self.ask_unsaved = false;
                self.discard_edits();
                if let Some(pending) = self.pending.take() {
                    self.go_on(pending, ctx);
                }
            }
            Action::CancelPending => {
                self.ask_unsaved = false;
                self.pending = None;
            }
            Action::PollNow => {
                if let Some(name) = self.selected.clone() {
                    self.busy = Some(format!("Asking the worker to poll \"{name}\" ..."));
                    self.backend.send(Command::PollNow(name));
                }
            }
            // A service or unit serves this configuration: never a second worker beside it.
            Action::StartWorker if self.host.is_service() => {
                let why = self.host.describe();
                self.notify(format!("Not starting a worker: {why}."), true);
            }
            Action::ServiceControl(verb) => {
                self.busy = Some(format!(
                    "{} (Windows asks for an administrator's consent) ...",
                    verb.label()
                ));
                let out = self.backend.outbox();
                crate::service::control(&self.worker_binary, verb, move |outcome| {
                    out.send(Update::ServiceControlled { verb, outcome });
                });
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
            Action::ShowPage(page) => {
                self.page = page;
                if page == Page::History {
                    self.ask_history();
                }
            }
            Action::RefreshHistory => self.ask_history(),
            Action::PreviewRoute => self.preview_route(),
            Action::OpenRouteFile => {
                let path = self.route.path.trim().to_string();
                if path.is_empty() {
                    self.route.outcome =
                        Some(Err("type the path of a message file (.eml) first".into()));
                } else {
                    self.load_route_file(path.into());
                }
            }
            Action::DroppedFile(path) => self.load_route_file(path),
            Action::Held(id, action) => self.held_action(id, action),
            Action::AskHeldDelete(id) => self.confirm_held_delete = Some(id),
            Action::CancelHeldDelete => self.confirm_held_delete = None,
            Action::OpenImport(format) => self.import = Some(super::ImportDialog::new(format)),
            Action::RunImport => self.run_import(),
            Action::CloseImport => self.import = None,
            Action::ConfirmHeldDelete => {
                if let Some(id) = self.confirm_held_delete.take() {
                    self.held_action(id, HeldActionKind::Delete);
                }
            }
        }
    }

    /// Asks the worker to act on a held message; its answer and the new list come back.
    fn held_action(&mut self, id: HeldId, action: HeldActionKind) {
        self.held_result = Some(Notice {
            text: "Asking the worker …".into(),
            error: false,
        });
        self.backend.send(Command::HeldAction { id, action });
    }

    /// Drops the edits: back to the selected profile as saved, or to nothing.
    fn discard_edits(&mut self) {
        self.editor.mode = Mode::Viewing;
        self.editor.problems.clear();
        self.notice = None;
        match self.selected.clone() {
            Some(name) => {
                self.editor.fields = self.editor.initial.clone();
                self.select(name);
            }
            None => self.editor = Editor::default(),
        }
    }

    /// Does what waited for the unsaved edits to be saved or dropped.
    pub(super) fn go_on(&mut self, pending: Pending, ctx: &egui::Context) {
        match pending {
            Pending::Select(name) => self.select(name),
            Pending::Close => {
                self.close_allowed = true;
                ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            }
        }
    }

    /// A new profile with the selected one's settings: the same base (so every field is
    /// copied), a new name, and no password (the keyring keeps one per profile).
    pub(super) fn duplicate(&mut self) {
        let Some(name) = self.selected.clone() else {
            return;
        };
        let taken = |candidate: &str| self.profiles.iter().any(|p| p.name == candidate);
        let mut copy = format!("{name}-copy");
        let mut n = 2;
        while taken(&copy) {
            copy = format!("{name}-copy{n}");
            n += 1;
        }
        self.editor.fields.name = copy.clone();
        self.editor.fields.password.clear();
        self.editor.fields.client_secret.clear();
        self.editor.base.name = Some(copy);
        self.editor.start_editing(None);
        self.selected = None;
        self.test_report = None;
        self.notify(
            format!(
                "A copy of \"{name}\": give it a name and, for a keyring password, type the \
                 password again; two enabled profiles may not pull the same mailbox."
            ),
            false,
        );
    }

    fn save(&mut self) {
        let Mode::Editing { original } = self.editor.mode.clone() else {
            self.pending = None;
            return;
        };
        match self.editor.fields.to_profile(&self.editor.base) {
            Err(problems) => {
                let list: Vec<String> = problems.iter().map(describe_problem).collect();
                self.notify(format!("Not saved: {}", list.join("; ")), true);
                self.editor.problems = problems;
                self.pending = None;
                self.show_first_problem();
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
                    self.show_first_problem();
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
