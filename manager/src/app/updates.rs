//! What each update from the pipe thread changes in the window's state.

use std::time::{Duration, Instant};

use mailpull_shared::ipc::{HeldId, HeldMessage, SignInPrompt, SignInState};

use super::state::{Connection, Editor, Mode, Notice, Pending};
use super::window::ManagerApp;
use crate::backend::{Command, Update};
use crate::form::{FormFields, describe_problem};
use crate::held;
use crate::service::Host;

impl ManagerApp {
    pub(super) fn apply_update(&mut self, update: Update) {
        match update {
            Update::Connected {
                worker,
                log_dir,
                run_mode,
            } => {
                self.connection = Connection::Connected { worker, run_mode };
                self.host = Host::Nobody;
                self.log_dir = log_dir;
            }
            Update::Disconnected {
                reason,
                not_running,
            } => {
                self.connection = Connection::Disconnected {
                    reason,
                    not_running,
                };
                self.busy = None;
                // A state request lost with the connection: ask again (and hear why not).
                if let Some(sign_in) = self.sign_in.as_mut() {
                    sign_in.asking = false;
                }
            }
            Update::Host(host) => self.host = host,
            Update::ServiceControlled { verb, outcome } => {
                self.busy = None;
                match outcome {
                    Ok(message) => self.notify(message, false),
                    Err(message) => {
                        self.notify(format!("{}: {message}", verb.label()), true);
                    }
                }
            }
            Update::Profiles(profiles) => {
                self.first_run(&profiles);
                self.profiles = profiles;
                if let Some(name) = self.selected.clone()
                    && !self.editor.editing()
                {
                    if !self.profiles.iter().any(|p| p.name == name) {
                        // Deleted elsewhere, or remembered from a run on another config.
                        self.selected = None;
                        self.editor = Editor::default();
                    } else if self.editor.fields.name != name {
                        // Selected before the worker was there (e.g. remembered): load it.
                        self.backend.send(Command::ReadProfile(name));
                    }
                }
            }
            Update::Status(rows) => {
                let names_changed = rows.len() != self.profiles.len()
                    || rows
                        .iter()
                        .zip(&self.profiles)
                        .any(|(row, profile)| row.name != profile.name);
                self.tray.watch.set_link(self.connection.link());
                self.tray.watch.set_statuses(&rows);
                self.status = rows
                    .into_iter()
                    .map(|row| (row.name.clone(), row))
                    .collect();
                if names_changed {
                    self.backend.send(Command::Refresh);
                }
            }
            Update::Profile { name, form } => {
                if self.selected.as_deref() == Some(name.as_str()) && !self.editor.editing() {
                    let fields = FormFields::from_profile(&form);
                    self.editor = Editor {
                        mode: Mode::Viewing,
                        initial: fields.clone(),
                        fields,
                        base: *form,
                        problems: Vec::new(),
                        section: self.editor.section,
                    };
                    if self.duplicate_next.as_deref() == Some(name.as_str()) {
                        self.duplicate_next = None;
                        self.duplicate();
                    }
                }
            }
            Update::Saved {
                name,
                secret,
                client_secret,
            } => {
                self.busy = None;
                let mut text = format!("Saved profile \"{name}\" and applied it.");
                let mut error = false;
                for (outcome, what) in [
                    (secret, "The password"),
                    (client_secret, "The OAuth client secret"),
                ] {
                    match outcome {
                        Some(Ok(message)) => text.push_str(&format!(" {message}.")),
                        Some(Err(why)) => {
                            text.push_str(&format!(" {what} was NOT stored: {why}"));
                            error = true;
                        }
                        None => {}
                    }
                }
                self.notify(text, error);
                self.wizard_saved(&name);
                self.editor.mode = Mode::Viewing;
                self.editor.fields.password.clear();
                self.editor.fields.client_secret.clear();
                self.editor.problems.clear();
                match self.pending.take() {
                    // Saved before going to another profile: go there.
                    Some(Pending::Select(next)) => self.select(next),
                    Some(Pending::Close) => {
                        self.select(name);
                        self.close_allowed = true;
                        self.close_now = true;
                    }
                    None => self.select(name),
                }
            }
            Update::SaveRefused(error) => {
                self.busy = None;
                self.pending = None;
                self.editor.problems = error.fields.clone();
                self.show_first_problem();
                let text = if error.fields.is_empty() {
                    format!("Not saved: {}", error.message)
                } else {
                    let list: Vec<String> = error.fields.iter().map(describe_problem).collect();
                    format!("Not saved, the worker found: {}", list.join("; "))
                };
                self.notify(text, true);
            }
            Update::Deleted(name) => {
                self.busy = None;
                self.notify(format!("Deleted profile \"{name}\"."), false);
                if self.selected.as_deref() == Some(name.as_str()) {
                    self.selected = None;
                    self.editor = Editor::default();
                }
            }
            Update::TestReport(steps) => {
                self.busy = None;
                // The wizard's profile, while it is open; else the form's.
                let fields = self
                    .wizard
                    .as_ref()
                    .map_or(&self.editor.fields, |w| &w.fields);
                self.test_report = Some((fields.name.clone(), steps));
            }
            Update::Done(message) => {
                self.busy = None;
                if !self.first_poll_started(&message) {
                    self.notify(message, false);
                }
            }
            Update::Failed { what, error } => {
                self.busy = None;
                self.search_stopped();
                self.pending = None;
                self.notify(format!("Could not {what}: {error}"), true);
            }
            Update::SignInStarted {
                name,
                session,
                prompt,
            } => {
                let Some(sign_in) = self.sign_in.as_mut().filter(|s| s.name == name) else {
                    return; // Cancelled meanwhile: the worker's session just runs out.
                };
                sign_in.session = Some(session);
                sign_in.last_asked = Instant::now();
                match &prompt {
                    SignInPrompt::Device {
                        expires_in_secs, ..
                    } => {
                        sign_in.expires =
                            Some(Instant::now() + Duration::from_secs(*expires_in_secs));
                    }
                    SignInPrompt::Browser { authorization_url } => {
                        if let Err(why) = (self.opener)(authorization_url) {
                            sign_in.outcome = Some(Err(format!(
                                "Could not open the browser: {why}. Open the link below yourself."
                            )));
                        }
                    }
                }
                sign_in.prompt = Some(prompt);
            }
            Update::SignInRefused { name, error } => {
                if let Some(sign_in) = self.sign_in.as_mut().filter(|s| s.name == name) {
                    sign_in.outcome = Some(Err(format!("The worker did not start it: {error}")));
                }
            }
            Update::SignIn { session, state } => {
                let Some(sign_in) = self
                    .sign_in
                    .as_mut()
                    .filter(|s| s.session.as_deref() == Some(session.as_str()))
                else {
                    return;
                };
                sign_in.asking = false;
                match state {
                    SignInState::Pending => {}
                    SignInState::Done { message } => {
                        let name = sign_in.name.clone();
                        sign_in.outcome = Some(Ok(message));
                        self.backend.send(Command::Refresh);
                        self.wizard_signed_in(&name);
                    }
                    SignInState::Failed { message } => sign_in.outcome = Some(Err(message)),
                }
            }
            Update::Held(held) => self.held = held,
            Update::Imported(outcome) => match self.import.as_mut() {
                Some(dialog) => {
                    dialog.running = false;
                    dialog.outcome = Some(outcome);
                }
                None => match outcome {
                    Ok(done) => self.notify(
                        format!("Imported and saved: {}.", done.saved.join(", ")),
                        !done.refused.is_empty(),
                    ),
                    Err(why) => self.notify(format!("Nothing imported: {why}"), true),
                },
            },
            Update::HeldResult {
                id,
                action,
                outcome,
            } => {
                self.busy = None;
                let message = self
                    .held
                    .iter()
                    .find(|m| HeldId::of(m) == id)
                    .cloned()
                    .unwrap_or_else(|| HeldMessage {
                        profile: id.profile.clone(),
                        folder: id.folder.clone(),
                        uidvalidity: id.uidvalidity,
                        uid: id.uid.clone(),
                        ..HeldMessage::default()
                    });
                let (text, error) = held::action_result(&message, action, &outcome);
                self.held_result = Some(Notice { text, error });
            }
            Update::History(update) => self.history_update(update),
            Update::ServerFound { host, findings } => self.server_found(host, findings),
            Update::Log(line) => self.log.push(line),
            Update::Lagged(skipped) => {
                self.log.push(format!(
                    "[{skipped} log lines were skipped: the window could not keep up]"
                ));
            }
        }
    }
}
