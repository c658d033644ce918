//! What the worker does for each IPC request: read the running configuration and the status
//! board, change the configuration file (validated, written atomically, applied to the
//! scheduler without a restart), store secrets, test connections, poll now.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use mailpull_shared::config::{Config, ConfigError, Credentials, Profile};
use mailpull_shared::ipc::{
    ErrorKind, FieldProblem, IpcError, ProfileState, ProfileStatus, ProfileSummary, PushState,
    Request, Response, TestTarget, WirePassword,
};
use mailpull_shared::secrets::{self, PasswordSource, Secret};
use tracing::{info, warn};

use super::edit::{self, Edit};
use super::{find_server, probe};
use crate::context::PollContext;
use crate::logging::LiveLog;
use crate::scheduler::{self, Scheduler};

/// Everything the IPC server needs from the running worker.
pub struct WorkerState {
    /// The configuration file the worker runs (and writes on save).
    pub config_path: PathBuf,
    config: Mutex<Config>,
    pub scheduler: Arc<Scheduler>,
    pub ctx: Arc<PollContext>,
    pub live: LiveLog,
    /// One configuration change at a time.
    edits: tokio::sync::Mutex<()>,
    /// OAuth sign-ins started over IPC.
    sign_ins: crate::oauth::signin::SignIns,
    /// How this worker runs, told in the hello.
    pub run_mode: mailpull_shared::ipc::RunMode,
}

fn invalid_config(err: ConfigError) -> IpcError {
    invalid_fields(err.errors)
}

fn invalid_fields(fields: Vec<FieldProblem>) -> IpcError {
    let first = fields.first().map(ToString::to_string).unwrap_or_default();
    IpcError {
        kind: ErrorKind::Invalid,
        message: format!("invalid profile, nothing saved: {first}"),
        fields,
    }
}

fn unix_secs(time: Option<SystemTime>) -> Option<u64> {
    time.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
}

fn wire_state(state: scheduler::ProfileState) -> ProfileState {
    match state {
        scheduler::ProfileState::Idle => ProfileState::Idle,
        scheduler::ProfileState::Polling => ProfileState::Polling,
        scheduler::ProfileState::Ok => ProfileState::Ok,
        scheduler::ProfileState::Error => ProfileState::Error,
        scheduler::ProfileState::Disabled => ProfileState::Disabled,
    }
}

fn summary(profile: &Profile) -> ProfileSummary {
    ProfileSummary {
        name: profile.name.clone(),
        enabled: profile.enabled,
        protocol: profile.remote.protocol.as_str().into(),
        host: profile.remote.host.clone(),
        port: profile.remote.port,
        username: profile.remote.username.clone(),
        local_address: profile
            .distribute
            .as_ref()
            .map_or_else(|| profile.local.address(), |d| d.fallback.clone()),
        multi_drop: profile.distribute.is_some(),
        password_source: match &profile.remote.credentials {
            Credentials::Password(source) => source.kind(),
            Credentials::OAuth2(_) => "oauth2",
        }
        .into(),
    }
}

impl WorkerState {
    pub fn new(
        config_path: PathBuf,
        config: Config,
        scheduler: Arc<Scheduler>,
        ctx: Arc<PollContext>,
        live: LiveLog,
        run_mode: mailpull_shared::ipc::RunMode,
    ) -> Self {
        WorkerState {
            config_path,
            config: Mutex::new(config),
            scheduler,
            ctx,
            live,
            edits: tokio::sync::Mutex::new(()),
            sign_ins: crate::oauth::signin::SignIns::default(),
            run_mode,
        }
    }

    /// The configuration the worker runs now.
    pub fn config(&self) -> Config {
        self.config
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub(super) fn profile(&self, name: &str) -> Result<Profile, IpcError> {
        self.config()
            .profile(name)
            .cloned()
            .ok_or_else(|| IpcError::no_such_profile(name))
    }

    /// Answers one request (never [`Request::SubscribeLog`]: the server streams that).
    pub async fn handle(&self, request: Request) -> Response {
        match self.dispatch(request).await {
            Ok(response) => response,
            Err(error) => Response::Error { error },
        }
    }

    async fn dispatch(&self, request: Request) -> Result<Response, IpcError> {
        match request {
            Request::ListProfiles => Ok(Response::Profiles {
                profiles: self.config().profiles.iter().map(summary).collect(),
            }),
            Request::ReadProfile { name } => {
                let text = self.read_file().await?;
                Ok(Response::Profile {
                    profile: Box::new(edit::read_profile(&text, &name)?),
                })
            }
            Request::SaveProfile { original, profile } => {
                let name = profile.name.clone().unwrap_or_default();
                self.change(Edit::Save { original, profile }).await?;
                info!(profile = %name, "profile saved over IPC and applied");
                Ok(Response::Saved { name })
            }
            Request::SetEnabled { name, enabled } => {
                self.change(Edit::SetEnabled {
                    name: name.clone(),
                    enabled,
                })
                .await?;
                let what = if enabled { "enabled" } else { "disabled" };
                info!(profile = %name, "profile {what} over IPC");
                Ok(Response::Done {
                    message: format!("profile \"{name}\" {what}"),
                })
            }
            Request::DeleteProfile { name } => {
                let old = self.profile(&name)?;
                self.change(Edit::Delete { name: name.clone() }).await?;
                if old.remote.auth.is_oauth() {
                    self.ctx.tokens.retain(|profile| profile != name);
                    forget_refresh_token(&name).await;
                }
                let oauth2 = old.remote.credentials.oauth2();
                if oauth2.and_then(|o| o.client_secret.as_ref()) == Some(&PasswordSource::Keyring) {
                    forget(
                        &name,
                        secrets::client_secret_account(&name),
                        "OAuth client secret",
                    )
                    .await;
                }
                if old.remote.credentials.password() == Some(&PasswordSource::Keyring) {
                    forget(&name, secrets::password_account(&name), "keyring password").await;
                }
                info!(profile = %name, "profile deleted over IPC");
                Ok(Response::Done {
                    message: format!("profile \"{name}\" deleted"),
                })
            }
            Request::SetSecret { name, password } => {
                let profile = self.profile(&name)?;
                not_under_service_store(&name)?;
                let keyring = store(
                    &name,
                    secrets::password_account(&name),
                    &password,
                    "password",
                )
                .await?;
                info!(profile = %name, keyring = %keyring.name(), "password stored in the OS keyring over IPC");
                let mut message = format!(
                    "password of profile \"{name}\" stored in the OS keyring: {}",
                    keyring.describe()
                );
                if profile.remote.credentials.password() != Some(&PasswordSource::Keyring) {
                    message.push_str(
                        "; note: this profile reads its password from another source (set password = { keyring = true } to use it)",
                    );
                }
                Ok(Response::Done { message })
            }
            Request::SetClientSecret { name, secret } => {
                let profile = self.profile(&name)?;
                not_under_service_store(&name)?;
                let Some(oauth2) = profile.remote.credentials.oauth2() else {
                    return Err(not_oauth(&name));
                };
                let account = secrets::client_secret_account(&name);
                let keyring = store(&name, account, &secret, "client secret").await?;
                info!(profile = %name, keyring = %keyring.name(), "OAuth client secret stored in the OS keyring over IPC");
                let mut message = format!(
                    "OAuth client secret of profile \"{name}\" stored in the OS keyring: {}",
                    keyring.describe()
                );
                if oauth2.client_secret != Some(PasswordSource::Keyring) {
                    message.push_str(
                        "; note: this profile reads its client secret from elsewhere (set client_secret = { keyring = true } to use it)",
                    );
                }
                Ok(Response::Done { message })
            }
            Request::ForgetSecrets => {
                let names: Vec<String> = self
                    .config()
                    .profiles
                    .iter()
                    .map(|p| p.name.clone())
                    .collect();
                for name in &names {
                    forget(name, secrets::password_account(name), "keyring password").await;
                    forget(
                        name,
                        secrets::client_secret_account(name),
                        "OAuth client secret",
                    )
                    .await;
                    forget_refresh_token(name).await;
                }
                info!(
                    profiles = names.len(),
                    "stored secrets removed from the OS keyring over IPC"
                );
                Ok(Response::Done {
                    message: format!(
                        "removed the stored passwords, client secrets and sign-ins of {} profile(s) from the OS keyring",
                        names.len()
                    ),
                })
            }
            Request::TestConnection { target, password } => {
                let profile = match target {
                    TestTarget::Saved(name) => self.profile(&name)?,
                    TestTarget::Form(form) => self.checked_form(&form)?,
                };
                let typed = password.map(|p| Secret::new(p.expose()));
                info!(
                    profile = %profile.name,
                    typed_password = typed.is_some(),
                    "connection test requested over IPC"
                );
                Ok(Response::TestReport {
                    steps: probe::test_profile(&self.ctx, &profile, typed).await,
                })
            }
            Request::PollNow { name } => {
                let profile = self.profile(&name)?;
                if !profile.enabled {
                    return Err(IpcError::new(
                        ErrorKind::Disabled,
                        format!("profile \"{name}\" is disabled; enable it first"),
                    ));
                }
                if !self.ctx.store.holds(&name) {
                    return self.ask_holder(&name).await;
                }
                if !self.scheduler.poll_now(&name) {
                    return Err(IpcError::new(
                        ErrorKind::Internal,
                        format!("profile \"{name}\" has no running task"),
                    ));
                }
                info!(profile = %name, "poll requested over IPC");
                Ok(Response::Done {
                    message: format!("poll of profile \"{name}\" started"),
                })
            }
            Request::Status => {
                let mut profiles = self.status();
                self.add_holders(&mut profiles).await;
                Ok(Response::Status { profiles })
            }
            Request::StartSignIn { name, method } => {
                let profile = self.profile(&name)?;
                if !profile.remote.auth.is_oauth() {
                    return Err(not_oauth(&name));
                }
                let scheduler = self.scheduler.clone();
                let wake = name.clone();
                let (session, prompt) = self
                    .sign_ins
                    .start(self.ctx.tokens.clone(), profile, method, move || {
                        scheduler.poll_now(&wake);
                    })
                    .await
                    .map_err(|err| IpcError::new(ErrorKind::SignIn, err.to_string()))?;
                info!(profile = %name, ?method, "OAuth sign-in started over IPC");
                Ok(Response::SignInStarted { session, prompt })
            }
            Request::SignInResult { session } => match self.sign_ins.state(&session) {
                Some(state) => Ok(Response::SignIn { session, state }),
                None => Err(IpcError::new(
                    ErrorKind::SignIn,
                    format!(
                        "no sign-in session \"{session}\" (unknown or finished more than ten minutes ago)"
                    ),
                )),
            },
            Request::SignOut { name } => {
                let profile = self.profile(&name)?;
                if !profile.remote.auth.is_oauth() {
                    return Err(not_oauth(&name));
                }
                self.sign_ins.cancel_profile(&name);
                let profile_name = name.clone();
                tokio::task::spawn_blocking(move || {
                    crate::oauth::delete_refresh_token(&profile_name)
                })
                .await
                .map_err(|err| IpcError::new(ErrorKind::Internal, err.to_string()))?
                .map_err(|err| IpcError::new(ErrorKind::Keyring, err.to_string()))?;
                self.ctx.tokens.retain(|profile| profile != name);
                let home = crate::oauth::refresh_token_home();
                info!(profile = %name, "OAuth sign-out over IPC: refresh token removed from {home}");
                Ok(Response::Done {
                    message: format!(
                        "profile \"{name}\" is signed out: its refresh token is removed from {home}"
                    ),
                })
            }
            Request::ListHeld { profile } => self.list_held(profile).await,
            Request::HeldAction { id, action } => self.held_action(id, action).await,
            Request::Import { format, file, text } => self.import(format, file, text).await,
            Request::History {
                profile,
                utc_offset,
            } => self.history(profile, utc_offset).await,
            Request::Route { profile, message } => self.route(profile, message),
            Request::FindServer {
                host,
                ca_file,
                candidates,
            } => {
                info!(host = %host, candidates = candidates.len(), "finding the server over IPC");
                let ca_file = ca_file.map(PathBuf::from);
                Ok(Response::ServerFound {
                    findings: find_server::find_server(
                        &self.ctx,
                        host.trim(),
                        ca_file.as_deref(),
                        &candidates,
                    )
                    .await,
                })
            }
            Request::SubscribeLog => Err(IpcError::new(
                ErrorKind::BadRequest,
                "subscribe_log is handled by the connection",
            )),
        }
    }

    /// Every profile of the running configuration, in file order.
    pub fn status(&self) -> Vec<ProfileStatus> {
        let board = self.scheduler.board.all();
        self.config()
            .profiles
            .iter()
            .map(|profile| {
                let status = board.get(&profile.name).cloned().unwrap_or_default();
                ProfileStatus {
                    name: profile.name.clone(),
                    state: if profile.enabled {
                        wire_state(status.state)
                    } else {
                        ProfileState::Disabled
                    },
                    last_poll: unix_secs(status.last_poll),
                    next_poll: if profile.enabled {
                        unix_secs(status.next_poll)
                    } else {
                        None
                    },
                    messages: status.messages,
                    bytes: status.bytes,
                    last_error: status.last_error,
                    consecutive_failures: status.consecutive_failures,
                    needs_sign_in: status.needs_sign_in,
                    push: self.push_state(profile),
                    holder: None,
                }
            })
            .collect()
    }

    /// With a shared state: which worker holds each profile's lease now (left out, with a
    /// warning, when the database does not answer).
    async fn add_holders(&self, profiles: &mut [ProfileStatus]) {
        if !self.ctx.store.is_shared() {
            return;
        }
        match self.ctx.store.lease_holders().await {
            Ok(rows) => {
                for (name, holder, live) in rows {
                    if let Some(status) = profiles.iter_mut().find(|p| p.name == name) {
                        status.holder = live.then_some(holder);
                    }
                }
            }
            Err(err) => tracing::warn!(error = %err, "status: cannot read the profile leases"),
        }
    }

    /// Shared state, a profile another worker holds: passes the poll request on to the holder
    /// (a NOTIFY every worker listens to) and names it as `status` does.
    async fn ask_holder(&self, name: &str) -> Result<Response, IpcError> {
        let holder = match self.ctx.store.lease_holders().await {
            Ok(rows) => rows
                .into_iter()
                .find(|(profile, _, live)| profile == name && *live)
                .map(|(_, holder, _)| holder),
            Err(err) => return Err(IpcError::new(ErrorKind::Internal, err.to_string())),
        };
        self.ctx
            .store
            .ask_poll_now(name)
            .await
            .map_err(|err| IpcError::new(ErrorKind::Internal, err.to_string()))?;
        info!(profile = %name, holder = ?holder, "poll requested over IPC; passed on to the holder");
        let message = match holder {
            Some(holder) => {
                format!("poll of profile \"{name}\" asked of the worker holding it ({holder})")
            }
            None => format!(
                "no worker holds profile \"{name}\" now; the worker that claims it polls it at once"
            ),
        };
        Ok(Response::Done { message })
    }

    /// The IDLE side of `profile` for its status row.
    fn push_state(&self, profile: &Profile) -> PushState {
        if !(profile.enabled && profile.push) {
            return PushState::Off;
        }
        if !self.ctx.store.holds(&profile.name) {
            return PushState::Elsewhere;
        }
        self.scheduler
            .idle_counts(&profile.name)
            .map_or(PushState::Connecting, |counts| {
                counts.state(profile.remote.folders.len())
            })
    }

    async fn read_file(&self) -> Result<String, IpcError> {
        tokio::fs::read_to_string(&self.config_path)
            .await
            .map_err(|err| {
                IpcError::new(
                    ErrorKind::Io,
                    format!("cannot read {}: {err}", self.config_path.display()),
                )
            })
    }

    fn file_label(&self) -> String {
        self.config_path.display().to_string()
    }

    /// An unsaved profile, checked in the context of the running configuration (as a save
    /// would check it, routing rules included); nothing is written.
    fn checked_form(&self, form: &mailpull_shared::ipc::ProfileForm) -> Result<Profile, IpcError> {
        edit::refuse_inline_secrets(form)?;
        crate::validate::check_profile(form, &self.config()).map_err(invalid_fields)
    }

    /// Applies `edit` to the file: validate the whole new file, write it atomically, then
    /// apply it to the scheduler. Nothing is written when validation fails.
    async fn change(&self, edit: Edit) -> Result<(), IpcError> {
        let _one_at_a_time = self.edits.lock().await;
        let text = self.read_file().await?;
        let table = edit::apply_to_table(&text, &edit)?;
        let mut config =
            crate::validate::check_table(&table, &self.file_label()).map_err(invalid_config)?;
        let new_text = edit::to_text(&table)?;
        let old = self.config();
        if config.worker != old.worker {
            warn!("[worker] settings changed in the file; they take effect at the next restart");
            config.worker = old.worker.clone();
        }
        config.source = Some(self.config_path.clone());
        let path = self.config_path.clone();
        tokio::task::spawn_blocking(move || edit::write_atomic(&path, &new_text))
            .await
            .map_err(|err| IpcError::new(ErrorKind::Internal, err.to_string()))?
            .map_err(|err| {
                IpcError::new(
                    ErrorKind::Io,
                    format!("cannot write {}: {err}", self.config_path.display()),
                )
            })?;
        self.scheduler.reload(&config);
        *self
            .config
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = config;
        Ok(())
    }
}

/// Stores `secret` (`what`, for the refusal of an empty one) under keyring `account` of
/// profile `name`, off the async threads; returns the OS keyring that holds it now.
async fn store(
    name: &str,
    account: String,
    secret: &WirePassword,
    what: &str,
) -> Result<secrets::OsKeyring, IpcError> {
    if secret.expose().is_empty() {
        return Err(IpcError::new(
            ErrorKind::Invalid,
            format!("the {what} is empty"),
        ));
    }
    let (profile, secret) = (name.to_string(), Secret::new(secret.expose()));
    tokio::task::spawn_blocking(move || secrets::write_keyring(&profile, &account, &secret))
        .await
        .map_err(|err| IpcError::new(ErrorKind::Internal, err.to_string()))?
        .map_err(|err| IpcError::new(ErrorKind::Keyring, err.to_string()))
}

/// Removes keyring `account` of the deleted profile `name`; a failure is only logged (the
/// profile is gone already).
async fn forget(name: &str, account: String, what: &str) {
    let profile = name.to_string();
    let removed =
        tokio::task::spawn_blocking(move || secrets::delete_keyring(&profile, &account)).await;
    if let Ok(Err(err)) = removed {
        warn!(profile = %name, "{what} not removed: {err}");
    }
}

/// Removes `name`'s OAuth refresh token (the service's token file, the OS keyring); a failure
/// is logged.
async fn forget_refresh_token(name: &str) {
    let profile = name.to_string();
    let removed =
        tokio::task::spawn_blocking(move || crate::oauth::delete_refresh_token(&profile)).await;
    if let Ok(Err(err)) = removed {
        warn!(profile = %name, "OAuth refresh token not removed: {err}");
    }
}

/// The refusal of an OAuth request for a profile that signs in with a password.
fn not_oauth(name: &str) -> IpcError {
    IpcError::new(
        ErrorKind::Invalid,
        format!("profile \"{name}\" does not use OAuth (auth = \"xoauth2\" or \"oauthbearer\")"),
    )
}

/// A worker that reads a service secret store (the Linux service) stores no secret in its OS
/// keyring over the pipe: the kernel keyring loses it at the next reboot, and the store would
/// shadow it. The store is root's; the refusal says how to write it.
fn not_under_service_store(name: &str) -> Result<(), IpcError> {
    match secrets::service_store() {
        Some(store) => Err(IpcError::new(
            ErrorKind::Keyring,
            format!(
                "this worker reads its secrets from the {}, which only root can change: run `sudo mailpull-worker set-password {name}` and restart the service",
                store.describe()
            ),
        )),
        None => Ok(()),
    }
}
