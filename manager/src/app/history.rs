//! The History page's and the routing preview's state and actions: the history of the
//! selected profile (asked for when the page opens, then every [`HISTORY_REFRESH`] while it
//! is shown), and the message to preview (pasted, opened from a file or dropped on the
//! window), its profile and the worker's answer.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use mailpull_shared::ipc::{History, RoutePreview};

use super::state::Page;
use super::window::ManagerApp;
use crate::backend::{Command, HistoryCommand, HistoryUpdate};
use crate::history;

/// How often the shown History page is asked for again.
pub const HISTORY_REFRESH: Duration = Duration::from_secs(10);

/// The History page of the selected profile.
#[derive(Debug, Clone, Default)]
pub struct HistoryPage {
    /// The last answer: the history, or why there is none.
    pub shown: Option<Result<History, String>>,
    /// The profile the answer (or the request on its way) is for.
    pub profile: Option<String>,
    pub asked: Option<Instant>,
}

impl HistoryPage {
    /// Time to ask again for `profile`: never asked, another profile, or old.
    pub fn due(&self, profile: &str) -> bool {
        self.profile.as_deref() != Some(profile)
            || self.asked.is_none_or(|at| at.elapsed() >= HISTORY_REFRESH)
    }
}

/// The routing preview.
#[derive(Debug, Clone, Default)]
pub struct RouteDraft {
    /// The message as pasted or read (its header section when read from a file).
    pub text: String,
    /// The file to open, as typed.
    pub path: String,
    /// The profile whose routing is previewed (the selected one unless chosen).
    pub profile: Option<String>,
    /// A request is on its way.
    pub running: bool,
    /// The worker's answer, or why there is none.
    pub outcome: Option<Result<RoutePreview, String>>,
}

impl ManagerApp {
    /// Asks for the history of the selected profile.
    pub(super) fn ask_history(&mut self) {
        let Some(profile) = self.selected.clone() else {
            return;
        };
        if self.history.profile.as_deref() != Some(profile.as_str()) {
            self.history.shown = None;
        }
        self.history.profile = Some(profile.clone());
        self.history.asked = Some(Instant::now());
        self.backend.send(Command::History(HistoryCommand::History {
            profile,
            utc_offset: history::utc_offset(),
        }));
    }

    /// Sends the draft to the worker for a preview.
    pub(super) fn preview_route(&mut self) {
        let Some(profile) = self.route.profile.clone().or_else(|| self.selected.clone()) else {
            self.route.outcome = Some(Err("choose a profile first".into()));
            return;
        };
        let message = match history::header_section(self.route.text.as_bytes()) {
            Ok(head) if head.trim().is_empty() => {
                self.route.outcome = Some(Err(
                    "paste a message, open an .eml file or drop one on the window first".into(),
                ));
                return;
            }
            Ok(head) => head,
            Err(why) => {
                self.route.outcome = Some(Err(why));
                return;
            }
        };
        self.route.running = true;
        self.backend
            .send(Command::History(HistoryCommand::Route { profile, message }));
    }

    /// Reads a message file (opened or dropped) into the draft and previews it.
    pub(super) fn load_route_file(&mut self, path: PathBuf) {
        self.page = Page::Route;
        self.route.path = path.display().to_string();
        match history::read_message(&path) {
            Ok(text) => {
                self.route.text = text;
                self.preview_route();
            }
            Err(why) => self.route.outcome = Some(Err(why)),
        }
    }

    /// Takes in the worker's answer.
    pub(super) fn history_update(&mut self, update: HistoryUpdate) {
        match update {
            HistoryUpdate::History { profile, result } => {
                if self.history.profile.as_deref() == Some(profile.as_str()) {
                    self.history.shown = Some(result);
                }
            }
            HistoryUpdate::Route(outcome) => {
                self.route.running = false;
                self.route.outcome = Some(outcome);
            }
        }
    }
}
