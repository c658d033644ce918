//! [`ManagerApp`]: the whole window's state, built for the worker of a configuration file;
//! each frame takes in what the pipe thread reported.

use std::collections::HashMap;
use std::path::PathBuf;

use mailpull_shared::ipc::{
    Endpoint, HeldId, HeldMessage, ProfileStatus, ProfileSummary, ServerCandidate, TestStep,
    standard_candidates,
};

use super::state::{Connection, Editor, Notice, Opener, Page, Pending, Settings, SignIn};
use crate::backend::{Backend, Command};
use crate::form::Section;
use crate::launch;
use crate::log::LogBuffer;
use crate::service::{Host, Probe};
use crate::tray::Tray;
use crate::wizard::Wizard;

/// The whole window's state.
pub struct ManagerApp {
    pub settings: Settings,
    pub config_path: PathBuf,
    pub(super) backend: Backend,
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
    /// While no worker answers: the service or unit installed for this configuration (then
    /// "Start worker" is not offered).
    pub host: Host,
    /// The sign-in dialog, when open.
    pub sign_in: Option<SignIn>,
    /// Opens sign-in pages and the log file.
    pub opener: Opener,
    /// What waits for the answer to "unsaved changes" (the dialog is open while set).
    pub pending: Option<Pending>,
    /// Duplicate this profile as soon as its form is read.
    pub duplicate_next: Option<String>,
    /// The "unsaved changes" dialog is open.
    pub ask_unsaved: bool,
    /// The window may close: the person answered for the unsaved edits.
    pub close_allowed: bool,
    /// Close the window on the next frame (the edits were saved before closing).
    pub close_now: bool,
    /// The profile form or its held messages.
    pub page: Page,
    /// Every held message of every profile, as the worker listed them last.
    pub held: Vec<HeldMessage>,
    /// What came of the last action on a held message, shown over the list.
    pub held_result: Option<Notice>,
    /// The held message waiting for the delete confirmation.
    pub confirm_held_delete: Option<HeldId>,
    /// File → Import's dialog, when open.
    pub import: Option<super::ImportDialog>,
    /// The History page of the selected profile.
    pub history: super::HistoryPage,
    /// The routing preview's message, profile and answer.
    pub route: super::RouteDraft,
    /// The first-run wizard, when open (it replaces the profile form).
    pub wizard: Option<Wizard>,
    /// The ports the wizard's "find my server" tries ([`standard_candidates`] unless changed,
    /// e.g. by tests whose server listens elsewhere).
    pub probe_candidates: Vec<ServerCandidate>,
    /// The first list of profiles was looked at (the wizard opens at most once by itself).
    pub first_run_checked: bool,
    /// The wizard's OAuth profile whose first poll waits for its sign-in.
    pub poll_after_sign_in: Option<String>,
    /// The wizard asked for the first poll; its answer joins the "Saved" message.
    pub first_poll_asked: bool,
    /// The tray icon and desktop notifications ([`ManagerApp::start_tray`]).
    pub tray: Tray,
}

impl ManagerApp {
    /// The window for the worker that runs `config_path`; starts the pipe thread.
    pub fn new(config_path: PathBuf, settings: Settings) -> std::io::Result<ManagerApp> {
        let endpoint = Endpoint::for_config(&config_path);
        Self::with_endpoint(endpoint, settings)
    }

    /// The window for the worker at `endpoint` (tests use their own).
    pub fn with_endpoint(endpoint: Endpoint, settings: Settings) -> std::io::Result<ManagerApp> {
        Self::with_probe(endpoint, settings, crate::service::probe)
    }

    /// [`Self::with_endpoint`], with `probe` telling which service or unit is installed for
    /// the configuration while no worker answers (tests stand in for the service manager).
    pub fn with_probe(
        endpoint: Endpoint,
        settings: Settings,
        probe: Probe,
    ) -> std::io::Result<ManagerApp> {
        let backend = Backend::start(endpoint.clone(), probe)?;
        Ok(ManagerApp {
            selected: settings.selected.clone(),
            settings,
            // Shown to people: `C:\ProgramData\…`, not the canonical `\\?\C:\…`.
            config_path: mailpull_shared::paths::plain(&endpoint.config),
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
            host: Host::Nobody,
            sign_in: None,
            opener: Box::new(launch::open_url),
            pending: None,
            duplicate_next: None,
            ask_unsaved: false,
            close_allowed: false,
            close_now: false,
            page: Page::default(),
            held: Vec::new(),
            held_result: None,
            confirm_held_delete: None,
            import: None,
            history: super::HistoryPage::default(),
            route: super::RouteDraft::default(),
            wizard: None,
            probe_candidates: standard_candidates(),
            first_run_checked: false,
            poll_after_sign_in: None,
            first_poll_asked: false,
            tray: Tray::default(),
        })
    }

    pub fn endpoint(&self) -> &Endpoint {
        self.backend.endpoint()
    }

    /// Lets the pipe thread wake the window.
    pub fn attach(&self, ctx: &egui::Context) {
        self.backend.attach(ctx);
    }

    pub(super) fn notify(&mut self, text: impl Into<String>, error: bool) {
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
        self.tray.watch.set_link(self.connection.link());
        self.tray.refresh(!self.settings.notifications_off);
    }

    /// Puts the icon in the desktop's tray and readies notifications (the window's `main`
    /// does; tests with a private session bus too).
    pub fn start_tray(&mut self, ctx: &egui::Context) {
        self.tray.start(ctx);
    }

    /// Opens the section of the first problem found on Save.
    pub(super) fn show_first_problem(&mut self) {
        if let Some(section) = self
            .editor
            .problems
            .iter()
            .find_map(|p| Section::of_field(&p.field))
        {
            self.editor.section = section;
        }
    }

    pub(super) fn select(&mut self, name: String) {
        self.selected = Some(name.clone());
        self.settings.selected = Some(name.clone());
        self.test_report = None;
        self.held_result = None;
        // The routing preview follows the selection until another profile is chosen in it.
        self.route.profile = None;
        self.backend.send(Command::ReadProfile(name));
    }
}
