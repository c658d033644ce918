//! The OAuth sign-in dialog: started through the pipe thread, its page opened with
//! [`ManagerApp::opener`], its state asked for every [`SIGN_IN_POLL`] until it ends.

use std::time::{Duration, Instant};

use mailpull_shared::ipc::{SignInMethod, SignInPrompt};

use super::window::ManagerApp;
use crate::backend::Command;

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
    pub(super) asking: bool,
    pub(super) last_asked: Instant,
}

impl SignIn {
    pub fn pending(&self) -> bool {
        self.outcome.is_none()
    }
}

impl ManagerApp {
    /// Asks how a running sign-in goes, every [`SIGN_IN_POLL`]; ends it once expired.
    pub(super) fn ask_sign_in(&mut self) {
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

    pub(super) fn start_sign_in(&mut self, method: SignInMethod) {
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
}
