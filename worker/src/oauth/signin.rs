//! Sign-ins started over IPC: the first step (device code, or the loopback listener and the
//! authorization URL) runs in the request, the rest in a background task whose result the
//! manager polls by session id. A finished sign-in stores the refresh token in the keyring,
//! seeds the token cache and wakes the profile's poll. Finished sessions are kept for ten
//! minutes, at most [`MAX_SESSIONS`] run at once, and a new sign-in of a profile cancels its
//! older one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mailpull_shared::config::Profile;
use mailpull_shared::ipc::{SignInMethod, SignInPrompt, SignInState};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::{OAuthError, TokenCache, browser, device};

/// Sign-ins running at once.
pub const MAX_SESSIONS: usize = 16;
/// How long the browser flow waits for the redirect.
pub const BROWSER_TIMEOUT: Duration = Duration::from_secs(600);
/// How long a finished session's result stays readable.
const KEEP_FINISHED: Duration = Duration::from_secs(600);

struct Session {
    profile: String,
    state: SignInState,
    finished_at: Option<Instant>,
    cancel: CancellationToken,
}

/// The running and recently finished sign-ins.
#[derive(Clone, Default)]
pub struct SignIns {
    sessions: Arc<Mutex<HashMap<String, Session>>>,
}

impl std::fmt::Debug for SignIns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignIns")
    }
}

impl SignIns {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a sign-in of `profile`; `on_done` runs after the refresh token is stored.
    pub async fn start(
        &self,
        tokens: Arc<TokenCache>,
        profile: Profile,
        method: SignInMethod,
        on_done: impl FnOnce() + Send + 'static,
    ) -> Result<(String, SignInPrompt), OAuthError> {
        super::settings(&profile)?;
        {
            let mut sessions = self.lock();
            sessions.retain(|_, s| s.finished_at.is_none_or(|t| t.elapsed() < KEEP_FINISHED));
            for session in sessions.values_mut() {
                if session.profile == profile.name && session.finished_at.is_none() {
                    session.cancel.cancel();
                }
            }
            let running = sessions
                .values()
                .filter(|s| s.finished_at.is_none())
                .count();
            if running >= MAX_SESSIONS {
                return Err(OAuthError::SignIn {
                    profile: profile.name.clone(),
                    message: format!("{MAX_SESSIONS} sign-ins are already running"),
                });
            }
        }
        let http = tokens.http()?;
        let cancel = CancellationToken::new();
        let id = {
            let bytes = super::random_bytes::<12>()?;
            bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
        };
        let (prompt, task): (SignInPrompt, _) = match method {
            SignInMethod::Device => {
                let start = device::start(&http, &profile).await?;
                let prompt = SignInPrompt::Device {
                    verification_uri: start.verification_uri.clone(),
                    verification_uri_complete: start.verification_uri_complete.clone(),
                    user_code: start.user_code.clone(),
                    expires_in_secs: start.expires_in.as_secs(),
                };
                let (profile, http, cancel) = (profile.clone(), http.clone(), cancel.clone());
                let task: std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send>> =
                    Box::pin(async move { device::wait(&http, &profile, &start, &cancel).await });
                (prompt, task)
            }
            SignInMethod::Browser => {
                let start = browser::start(&profile).await?;
                let prompt = SignInPrompt::Browser {
                    authorization_url: start.authorization_url.clone(),
                };
                let (profile, http, cancel) = (profile.clone(), http.clone(), cancel.clone());
                let task: std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send>> =
                    Box::pin(async move {
                        browser::wait(&http, &profile, start, BROWSER_TIMEOUT, &cancel).await
                    });
                (prompt, task)
            }
        };
        self.lock().insert(
            id.clone(),
            Session {
                profile: profile.name.clone(),
                state: SignInState::Pending,
                finished_at: None,
                cancel,
            },
        );
        let sessions = self.clone();
        let session_id = id.clone();
        tokio::spawn(async move {
            let result = task.await;
            // The token's lifetime counts from its issue, not from the start of the sign-in.
            let issued = Instant::now();
            let result = match result {
                Ok(issued_tokens) => {
                    super::finish_sign_in(&profile, &issued_tokens).map(|()| issued_tokens)
                }
                Err(err) => Err(err),
            };
            let state = match result {
                Ok(issued_tokens) => {
                    tokens.seed(&profile, &issued_tokens, issued).await;
                    let home = super::refresh_token_home();
                    info!(profile = %profile.name, "OAuth sign-in complete; refresh token stored in {home}");
                    on_done();
                    SignInState::Done {
                        message: format!(
                            "profile \"{}\" is signed in; the refresh token is stored in {home} (the worker's account: {})",
                            profile.name,
                            crate::service_config::this_account()
                        ),
                    }
                }
                Err(err) => {
                    warn!(profile = %profile.name, "OAuth sign-in failed: {err}");
                    SignInState::Failed {
                        message: err.to_string(),
                    }
                }
            };
            if let Some(session) = sessions.lock().get_mut(&session_id) {
                session.state = state;
                session.finished_at = Some(Instant::now());
            }
        });
        Ok((id, prompt))
    }

    /// The state of session `id`; `None` for an unknown (or long finished) one.
    pub fn state(&self, id: &str) -> Option<SignInState> {
        self.lock().get(id).map(|s| s.state.clone())
    }

    /// Cancels the running sign-ins of `profile` (it signs out).
    pub fn cancel_profile(&self, profile: &str) {
        for session in self.lock().values() {
            if session.profile == profile && session.finished_at.is_none() {
                session.cancel.cancel();
            }
        }
    }

    /// Cancels every running sign-in (shutdown).
    pub fn cancel_all(&self) {
        for session in self.lock().values() {
            session.cancel.cancel();
        }
    }
}
