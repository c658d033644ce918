//! The wizard inside the window: opened on the first run (no enabled profile in the
//! configuration) and by New; its [`WizardAction`]s (find the server, test, save) go through
//! the pipe thread like the form's. After Save the wizard closes, the new profile is selected
//! and its first poll is started — or, for an OAuth profile, its sign-in, and the poll once
//! signed in — so its lines show in the log panel.

use mailpull_shared::ipc::{ProfileForm, ProfileSummary, ServerFinding, SignInMethod, TestTarget};

use super::state::{Editor, Mode};
use super::window::ManagerApp;
use crate::backend::Command;
use crate::form::{OAuthProvider, describe_problem};
use crate::wizard::{Search, Wizard, WizardAction};

impl ManagerApp {
    pub(super) fn wizard_action(&mut self, action: WizardAction) {
        match action {
            WizardAction::Open => {
                self.wizard = Some(Wizard {
                    candidates: self.probe_candidates.clone(),
                    ..Wizard::default()
                });
                self.test_report = None;
                self.notice = None;
            }
            WizardAction::Cancel => {
                self.wizard = None;
                self.test_report = None;
                self.notice = None;
            }
            WizardAction::FullForm => {
                self.wizard = None;
                self.selected = None;
                self.test_report = None;
                self.notice = None;
                self.editor = Editor::default();
                self.editor.start_editing(None);
            }
            WizardAction::Next => {
                if let Some(wizard) = self.wizard.as_mut() {
                    wizard.next();
                }
            }
            WizardAction::Back => {
                if let Some(wizard) = self.wizard.as_mut() {
                    wizard.back();
                }
            }
            WizardAction::FindServer => self.find_server(),
            WizardAction::Test => self.wizard_test(),
            WizardAction::Save => self.wizard_save(),
        }
    }

    fn find_server(&mut self) {
        let Some(wizard) = self.wizard.as_mut() else {
            return;
        };
        let host = wizard.fields.server.trim().to_string();
        if host.is_empty() {
            wizard.problems = vec!["Type the name of your provider's mail server.".into()];
            return;
        }
        wizard.problems.clear();
        wizard.search = Search::Looking { host: host.clone() };
        let ca_file = Some(wizard.fields.ca_file.trim().to_string()).filter(|ca| !ca.is_empty());
        let candidates = wizard.candidates.clone();
        self.backend.send(Command::FindServer {
            host,
            ca_file,
            candidates,
        });
    }

    /// The worker's findings for the wizard's search.
    pub(super) fn server_found(&mut self, host: String, findings: Vec<ServerFinding>) {
        if let Some(wizard) = self.wizard.as_mut() {
            wizard.search.found(host, findings, &mut wizard.fields);
        }
    }

    /// A search the pipe could not finish (the worker went away): look again from scratch.
    pub(super) fn search_stopped(&mut self) {
        if let Some(wizard) = self.wizard.as_mut()
            && matches!(wizard.search, Search::Looking { .. })
        {
            wizard.search = Search::NotYet;
        }
    }

    /// The profile the wizard saves, or its problems shown on the last step.
    fn wizard_profile(&mut self) -> Option<ProfileForm> {
        let wizard = self.wizard.as_mut()?;
        match wizard.fields.to_profile(&ProfileForm::default()) {
            Ok(profile) => Some(profile),
            Err(problems) => {
                wizard.problems = problems.iter().map(describe_problem).collect();
                None
            }
        }
    }

    /// The connection test of the profile as filled in, with the typed password (for this
    /// test only; it reaches the keyring only with Save).
    fn wizard_test(&mut self) {
        let Some(profile) = self.wizard_profile() else {
            return;
        };
        let password = self
            .wizard
            .as_ref()
            .and_then(|w| w.fields.password_to_send());
        self.test_report = None;
        self.busy = Some("Testing the connection ...".into());
        self.backend.send(Command::Test {
            target: TestTarget::Form(Box::new(profile)),
            password,
        });
    }

    fn wizard_save(&mut self) {
        let Some(profile) = self.wizard_profile() else {
            return;
        };
        let Some(wizard) = self.wizard.as_mut() else {
            return;
        };
        wizard.problems.clear();
        wizard.saving = true;
        self.busy = Some("Saving ...".into());
        self.backend.send(Command::Save {
            original: None,
            profile: Box::new(profile),
            password: wizard.fields.password_to_send(),
            client_secret: wizard.fields.client_secret_to_send(),
        });
    }

    /// Saved: close the wizard, and start the first poll (an OAuth profile: its sign-in
    /// first, then the poll). The profile itself is selected by the caller.
    pub(super) fn wizard_saved(&mut self, name: &str) {
        let Some(wizard) = self
            .wizard
            .take_if(|w| w.saving && w.fields.name.trim() == name)
        else {
            return;
        };
        self.test_report = None;
        self.editor.mode = Mode::Viewing;
        if wizard.fields.auth.is_oauth() {
            self.selected = Some(name.to_string());
            self.poll_after_sign_in = Some(name.to_string());
            let method = if wizard.fields.provider == OAuthProvider::Google {
                SignInMethod::Browser
            } else {
                SignInMethod::Device
            };
            self.start_sign_in(method);
        } else {
            self.busy = Some(format!("Asking the worker to poll \"{name}\" ..."));
            self.backend.send(Command::PollNow(name.to_string()));
            self.first_poll_asked = true;
            if let Some(notice) = self.notice.as_mut() {
                notice
                    .text
                    .push_str(" The first poll is running: its lines appear in the log below.");
            }
        }
    }

    /// The answer to the wizard's first Poll now: kept under the "Saved" message (which
    /// says where the password went) instead of replacing it. True when it was that answer.
    pub(super) fn first_poll_started(&mut self, message: &str) -> bool {
        if !std::mem::take(&mut self.first_poll_asked) {
            return false;
        }
        if let Some(notice) = self.notice.as_mut() {
            notice.text.push_str(&format!(" ({message}.)"));
        }
        true
    }

    /// A wizard's OAuth profile signed in: its first poll.
    pub(super) fn wizard_signed_in(&mut self, name: &str) {
        if self.poll_after_sign_in.as_deref() == Some(name) {
            self.poll_after_sign_in = None;
            self.backend.send(Command::PollNow(name.to_string()));
        }
    }

    /// The first list of profiles after the window opened: none enabled (an empty
    /// configuration, or the installed sample's placeholders) opens the wizard, once.
    pub(super) fn first_run(&mut self, profiles: &[ProfileSummary]) {
        if self.first_run_checked {
            return;
        }
        self.first_run_checked = true;
        if !profiles.iter().any(|p| p.enabled) && !self.editor.editing() && self.wizard.is_none() {
            self.wizard_action(WizardAction::Open);
        }
    }
}
