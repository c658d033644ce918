//! Driving the OAuth sign-in dialog ([`SignIn`]): started through the pipe thread, its state
//! asked for every [`SIGN_IN_POLL`] until it ends.

use std::time::Instant;

use mailpull_shared::ipc::SignInMethod;

use super::state::{SIGN_IN_POLL, SignIn};
use super::window::ManagerApp;
use crate::backend::Command;

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
