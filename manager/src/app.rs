//! The window's state and logic, apart from drawing: what is known about the worker, the
//! profiles and their status, the form being edited, the live log, and the [`Action`]s the
//! views return, applied after each frame is drawn. Only [`Settings`] is persisted.
//! An OAuth sign-in is a [`SignIn`]: started through the pipe thread, its page opened with
//! [`ManagerApp::opener`], its state asked for every [`SIGN_IN_POLL`] until it ends.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mailpull_shared::ipc::{
    Endpoint, FieldProblem, ProfileForm, ProfileStatus, ProfileSummary, SignInMethod, SignInPrompt,
    SignInState, TestStep, TestTarget,
};
use serde::{Deserialize, Serialize};

use crate::backend::{Backend, Command, Update};
use crate::form::{FormFields, describe_problem};
use crate::launch;
use crate::log::{LogBuffer, LogFilter, newest_log_file};

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
    asking: bool,
    last_asked: Instant,
}

impl SignIn {
    pub fn pending(&self) -> bool {
        self.outcome.is_none()
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

/// The whole window's state.
pub struct ManagerApp {
    pub settings: Settings,
    pub config_path: PathBuf,
    backend: Backend,
    pub connection: Connection,
    pub log_dir: Option<PathBuf>,
    pub profiles: Vec<ProfileSummary>,
    pub status: HashMap<String, ProfileStatus>,
    pub selected: Option<String>,
    pub editor: Editor,
    pub log: LogBuffer,
    pub notice: Option<Notice>,
    /// The last connection test: which profile, and each step.
    pub test_report: Option<(String, Vec<TestStep>)>,
    /// The profile waiting for the delete confirmation.
    pub confirm_delete: Option<String>,
    /// A request in flight, e.g. "Saving ...".
    pub busy: Option<String>,
    /// What Start worker runs ([`launch::worker_binary`] unless changed).
    pub worker_binary: PathBuf,
    /// The process Start worker started last.
    pub started_worker: Option<u32>,
    /// The sign-in dialog, when open.
    pub sign_in: Option<SignIn>,
    /// Opens sign-in pages and the log file.
    pub opener: Opener,
}

impl ManagerApp {
    /// The window for the worker that runs `config_path`; starts the pipe thread.
    pub fn new(config_path: PathBuf, settings: Settings) -> std::io::Result<ManagerApp> {
        let endpoint = Endpoint::for_config(&config_path);
        Self::with_endpoint(endpoint, settings)
    }

    /// The window for the worker at `endpoint` (tests use their own).
    pub fn with_endpoint(endpoint: Endpoint, settings: Settings) -> std::io::Result<ManagerApp> {
        let backend = Backend::start(endpoint.clone())?;
        Ok(ManagerApp {
            selected: settings.selected.clone(),
            settings,
            config_path: endpoint.config.clone(),
            backend,
            connection: Connection::Connecting,
            log_dir: None,
            profiles: Vec::new(),
            status: HashMap::new(),
            editor: Editor::default(),
            log: LogBuffer::default(),
            notice: None,
            test_report: None,
            confirm_delete: None,
            busy: None,
            worker_binary: launch::worker_binary(),
            started_worker: None,
            sign_in: None,
            opener: Box::new(launch::open_url),
        })
    }

    pub fn endpoint(&self) -> &Endpoint {
        self.backend.endpoint()
    }

    /// Lets the pipe thread wake the window.
    pub fn attach(&self, ctx: &egui::Context) {
        self.backend.attach(ctx);
    }

    fn notify(&mut self, text: impl Into<String>, error: bool) {
        self.notice = Some(Notice {
            text: text.into(),
            error,
        });
    }

    /// Takes in what the pipe reported since the last frame.
    pub fn poll_updates(&mut self) {
        for update in self.backend.drain() {
            self.apply_update(update);
        }
        self.ask_sign_in();
    }

    /// Asks how a running sign-in goes, every [`SIGN_IN_POLL`]; ends it once expired.
    fn ask_sign_in(&mut self) {
        let Some(sign_in) = self.sign_in.as_mut() else {
            return;
        };
        if !sign_in.pending() || sign_in.asking {
            return;
        }
        let Some(session) = sign_in.session.clone() else {
            return;
        };
        if sign_in.expires.is_some_and(|at| Instant::now() >= at) {
            sign_in.outcome = Some(Err(
                "The code expired before the sign-in was finished. Press Sign in again.".into(),
            ));
            return;
        }
        if sign_in.last_asked.elapsed() >= SIGN_IN_POLL {
            sign_in.asking = true;
            sign_in.last_asked = Instant::now();
            self.backend.send(Command::SignInResult(session));
        }
    }

    fn start_sign_in(&mut self, method: SignInMethod) {
        let Some(name) = self.selected.clone() else {
            return;
        };
        self.sign_in = Some(SignIn {
            name: name.clone(),
            method,
            session: None,
            prompt: None,
            expires: None,
            outcome: None,
            asking: false,
            last_asked: Instant::now(),
        });
        self.backend.send(Command::StartSignIn { name, method });
    }

    fn apply_update(&mut self, update: Update) {
        match update {
            Update::Connected { worker, log_dir } => {
                self.connection = Connection::Connected { worker };
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
            Update::Profiles(profiles) => {
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
                    self.editor = Editor {
                        mode: Mode::Viewing,
                        fields: FormFields::from_profile(&form),
                        base: *form,
                        problems: Vec::new(),
                    };
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
                self.editor.mode = Mode::Viewing;
                self.editor.fields.password.clear();
                self.editor.fields.client_secret.clear();
                self.editor.problems.clear();
                self.select(name);
            }
            Update::SaveRefused(error) => {
                self.busy = None;
                self.editor.problems = error.fields.clone();
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
                let name = self.editor.fields.name.clone();
                self.test_report = Some((name, steps));
            }
            Update::Done(message) => {
                self.busy = None;
                self.notify(message, false);
            }
            Update::Failed { what, error } => {
                self.busy = None;
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
                        sign_in.outcome = Some(Ok(message));
                        self.backend.send(Command::Refresh);
                    }
                    SignInState::Failed { message } => sign_in.outcome = Some(Err(message)),
                }
            }
            Update::Log(line) => self.log.push(line),
            Update::Lagged(skipped) => {
                self.log.push(format!(
                    "[{skipped} log lines were skipped: the window could not keep up]"
                ));
            }
        }
    }

    fn select(&mut self, name: String) {
        self.selected = Some(name.clone());
        self.settings.selected = Some(name.clone());
        self.test_report = None;
        self.backend.send(Command::ReadProfile(name));
    }

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

    fn test(&mut self) {
        let target = if self.editor.editing() {
            match self.editor.fields.to_profile(&self.editor.base) {
                Ok(profile) => TestTarget::Form(Box::new(profile)),
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
        self.backend.send(Command::Test(target));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::Level;

    /// A window whose worker is not running (nothing listens at its endpoint).
    fn lonely_app(dir: &tempfile::TempDir) -> ManagerApp {
        let config = dir.path().join("mailpull.toml");
        let endpoint = Endpoint::for_config(&config);
        let mut app = ManagerApp::with_endpoint(endpoint, Settings::default()).expect("app");
        app.selected = Some("m365".into());
        app
    }

    fn started(app: &mut ManagerApp, method: SignInMethod, prompt: SignInPrompt) {
        app.start_sign_in(method);
        app.apply_update(Update::SignInStarted {
            name: "m365".into(),
            session: "s1".into(),
            prompt,
        });
    }

    #[test]
    fn a_browser_sign_in_opens_the_authorization_url_and_reports_a_failed_opener() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut app = lonely_app(&dir);
        let opened = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = opened.clone();
        app.opener = Box::new(move |url: &str| {
            seen.lock().expect("lock").push(url.to_string());
            Err("no browser here".into())
        });
        let url = "https://login.example.com/authorize?client_id=x";
        started(
            &mut app,
            SignInMethod::Browser,
            SignInPrompt::Browser {
                authorization_url: url.into(),
            },
        );
        assert_eq!(*opened.lock().expect("lock"), [url.to_string()]);
        let outcome = app.sign_in.as_ref().and_then(|s| s.outcome.clone());
        assert!(
            matches!(&outcome, Some(Err(why)) if why.contains("no browser here")),
            "{outcome:?}"
        );
    }

    #[test]
    fn a_device_sign_in_ends_when_done_failed_or_expired() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut app = lonely_app(&dir);
        let device = |expires_in_secs| SignInPrompt::Device {
            verification_uri: "https://microsoft.com/devicelogin".into(),
            verification_uri_complete: None,
            user_code: "ABCD-EFGH".into(),
            expires_in_secs,
        };
        started(&mut app, SignInMethod::Device, device(900));
        app.apply_update(Update::SignIn {
            session: "s1".into(),
            state: SignInState::Pending,
        });
        assert!(app.sign_in.as_ref().is_some_and(SignIn::pending));
        // An answer for another session changes nothing.
        app.apply_update(Update::SignIn {
            session: "other".into(),
            state: SignInState::Failed {
                message: "no".into(),
            },
        });
        assert!(app.sign_in.as_ref().is_some_and(SignIn::pending));
        app.apply_update(Update::SignIn {
            session: "s1".into(),
            state: SignInState::Done {
                message: "signed in as joe".into(),
            },
        });
        assert_eq!(
            app.sign_in.as_ref().and_then(|s| s.outcome.clone()),
            Some(Ok("signed in as joe".into()))
        );

        // A code that expired before anyone approved it ends the dialog by itself.
        started(&mut app, SignInMethod::Device, device(0));
        app.poll_updates();
        let outcome = app.sign_in.as_ref().and_then(|s| s.outcome.clone());
        assert!(
            matches!(&outcome, Some(Err(why)) if why.contains("expired")),
            "{outcome:?}"
        );

        // The worker refusing to start it is shown in the dialog.
        app.start_sign_in(SignInMethod::Device);
        app.apply_update(Update::SignInRefused {
            name: "m365".into(),
            error: "profile \"m365\" does not use OAuth".into(),
        });
        let outcome = app.sign_in.as_ref().and_then(|s| s.outcome.clone());
        assert!(
            matches!(&outcome, Some(Err(why)) if why.contains("does not use OAuth")),
            "{outcome:?}"
        );
    }

    #[test]
    fn settings_from_an_older_or_empty_store_take_defaults() {
        let settings: Settings = serde_json::from_str("{}").expect("empty");
        assert_eq!(settings, Settings::default());
        let settings: Settings =
            serde_json::from_str(r#"{"log_filter":{"level":"Debug"}}"#).expect("partial");
        assert_eq!(settings.log_filter.level, Level::Debug);
        assert_eq!(settings.log_filter.profile, None);
    }
}
