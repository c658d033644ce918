//! The pipe, off the UI thread: a thread running a small tokio runtime keeps one request
//! connection and one live-log connection to the worker, reconnects by itself once a second
//! while the worker is away (and asks then, each time, which service or systemd unit is
//! installed for the configuration: [`crate::service::probe`]), refreshes the status every
//! second, and runs the window's
//! [`Command`]s one at a time; the held messages are asked for every [`HELD_TICK`] and after
//! each action on one of them. Results come back as [`Update`]s on a channel; each one asks
//! egui for a repaint. The UI thread never waits on the pipe. `import`: File → Import's
//! request and the saves that follow it; `history`: the History page and routing preview;
//! `describe`: what a command asked, for the message when it fails; `update`: the
//! [`Update`]s themselves.

use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailpull_shared::ipc::{
    ClientError, Endpoint, Event, HeldActionKind, HeldId, ImportFormat, IpcClient, ProfileForm,
    ServerCandidate, SignInMethod, SignInState, TestTarget, WirePassword,
};
use tokio::sync::mpsc as tmpsc;

use crate::service::Probe;

mod describe;
mod history;
mod import;
mod update;

use describe::describe;
pub use history::{HistoryCommand, HistoryUpdate};

pub use import::ImportOutcome;
pub use update::Update;

/// How often the status is refreshed and a lost worker is looked for again.
pub const TICK: Duration = Duration::from_secs(1);

/// How often the held messages are asked for (they change only when a poll holds one or an
/// action is carried out).
pub const HELD_TICK: Duration = Duration::from_secs(5);

/// What the window asks the worker to do.
#[derive(Debug, Clone)]
pub enum Command {
    /// Profiles and status again.
    Refresh,
    /// The profile as written in the file, for the form.
    ReadProfile(String),
    /// Save (validated by the worker), then send the password and the OAuth client secret
    /// if they were typed.
    Save {
        original: Option<String>,
        profile: Box<ProfileForm>,
        password: Option<WirePassword>,
        client_secret: Option<WirePassword>,
    },
    Delete(String),
    /// A connection test; `password`: typed into the form, not saved (for this test only).
    Test {
        target: TestTarget,
        password: Option<WirePassword>,
    },
    PollNow(String),
    /// Poll each of these profiles now.
    PollAll(Vec<String>),
    /// Enable or disable a profile (written to the file and applied by the worker).
    SetEnabled {
        name: String,
        enabled: bool,
    },
    /// Start an OAuth sign-in of a profile.
    StartSignIn {
        name: String,
        method: SignInMethod,
    },
    /// The state of a started sign-in.
    SignInResult(String),
    /// Retry, deliver to the fallback or delete one held message; the list is asked for
    /// again afterwards.
    HeldAction {
        id: HeldId,
        action: HeldActionKind,
    },
    /// Import a fetchmailrc or getmailrc (its text, read by the window; it may hold
    /// passwords, which the worker stores in its keyring), then save each profile it made.
    Import {
        format: ImportFormat,
        file: String,
        text: WirePassword,
    },
    /// A profile's history or a routing preview (see `history`).
    History(HistoryCommand),
    /// The wizard's "find my server": try each candidate on `host` (no login).
    FindServer {
        host: String,
        ca_file: Option<String>,
        candidates: Vec<ServerCandidate>,
    },
}

/// Sends updates to the UI thread and wakes it.
#[derive(Clone)]
pub struct Outbox {
    tx: mpsc::Sender<Update>,
    ctx: Arc<Mutex<Option<egui::Context>>>,
}

impl Outbox {
    /// Queues `update` for the window and asks for a repaint.
    pub fn send(&self, update: Update) {
        let _ = self.tx.send(update);
        let ctx = self
            .ctx
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(ctx) = ctx.as_ref() {
            ctx.request_repaint();
        }
    }
}

/// The UI thread's handle on the pipe thread. Dropping it ends the thread.
pub struct Backend {
    commands: tmpsc::UnboundedSender<Command>,
    updates: mpsc::Receiver<Update>,
    ctx: Arc<Mutex<Option<egui::Context>>>,
    endpoint: Endpoint,
    outbox: Outbox,
}

impl Backend {
    /// Starts the pipe thread for the worker at `endpoint`; `probe` tells, while no worker
    /// answers, which service or unit is installed for its configuration.
    pub fn start(endpoint: Endpoint, probe: Probe) -> std::io::Result<Backend> {
        let (commands, command_rx) = tmpsc::unbounded_channel();
        let (tx, updates) = mpsc::channel();
        let ctx = Arc::new(Mutex::new(None));
        let outbox = Outbox {
            tx,
            ctx: ctx.clone(),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let target = endpoint.clone();
        let pipe_outbox = outbox.clone();
        std::thread::Builder::new()
            .name("mailpull-pipe".into())
            .spawn(move || runtime.block_on(run(target, command_rx, pipe_outbox, probe)))?;
        Ok(Backend {
            commands,
            updates,
            ctx,
            endpoint,
            outbox,
        })
    }

    /// Where work done off the pipe thread (the elevated service control) reports to.
    pub fn outbox(&self) -> Outbox {
        self.outbox.clone()
    }

    /// Where the worker is looked for.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Lets the pipe thread wake this egui context (set on the first frame).
    pub fn attach(&self, ctx: &egui::Context) {
        let mut slot = self
            .ctx
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(ctx.clone());
        }
    }

    pub fn send(&self, command: Command) {
        let _ = self.commands.send(command);
    }

    /// Every update that arrived since the last call.
    pub fn drain(&self) -> Vec<Update> {
        self.updates.try_iter().collect()
    }
}

/// Connects, serves a session until the worker goes away, and starts again, until the
/// window drops its [`Backend`].
async fn run(
    endpoint: Endpoint,
    mut commands: tmpsc::UnboundedReceiver<Command>,
    out: Outbox,
    probe: Probe,
) {
    let mut last_reason = String::new();
    let mut last_host = None;
    loop {
        match IpcClient::connect(&endpoint).await {
            Ok(client) => {
                last_reason.clear();
                last_host = None;
                out.send(Update::Connected {
                    worker: client.worker_version().to_string(),
                    log_dir: client.log_dir().map(PathBuf::from),
                    run_mode: client.run_mode().clone(),
                });
                match session(&endpoint, client, &mut commands, &out).await {
                    SessionEnd::Quit => return,
                    SessionEnd::Lost(reason) => {
                        out.send(Update::Disconnected {
                            not_running: false,
                            reason: format!("lost the worker: {reason}"),
                        });
                    }
                }
            }
            Err(err) => {
                let reason = err.to_string();
                let not_running = matches!(err, ClientError::NotRunning { .. });
                if reason != last_reason {
                    out.send(Update::Disconnected {
                        not_running,
                        reason: reason.clone(),
                    });
                    last_reason = reason;
                }
                // Nothing listens: is a service or unit installed for this configuration?
                if not_running {
                    let host = probe(&endpoint.config);
                    if last_host.as_ref() != Some(&host) {
                        out.send(Update::Host(host.clone()));
                        last_host = Some(host);
                    }
                }
            }
        }
        // Wait a tick; commands sent meanwhile cannot be served.
        let sleep = tokio::time::sleep(TICK);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => break,
                command = commands.recv() => match command {
                    None => return,
                    Some(Command::Refresh) => {}
                    // A sign-in dialog waits for these; answer it, not the notice line.
                    Some(Command::StartSignIn { name, .. }) => out.send(Update::SignInRefused {
                        name,
                        error: "not connected to the worker".into(),
                    }),
                    Some(Command::SignInResult(session)) => out.send(Update::SignIn {
                        session,
                        state: SignInState::Failed {
                            message: "not connected to the worker".into(),
                        },
                    }),
                    Some(Command::HeldAction { id, action }) => out.send(Update::HeldResult {
                        id,
                        action,
                        outcome: Err("not connected to the worker".into()),
                    }),
                    Some(Command::History(command)) => {
                        out.send(Update::History(HistoryUpdate::not_connected(command)));
                    }
                    Some(Command::Import { .. }) => {
                        out.send(Update::Imported(Err("not connected to the worker".into())));
                    }
                    Some(command) => out.send(Update::Failed {
                        what: describe(&command),
                        error: "not connected to the worker".into(),
                    }),
                },
            }
        }
    }
}

enum SessionEnd {
    /// The window closed.
    Quit,
    /// The connection broke.
    Lost(String),
}

/// The outcome of storing a secret for the window; a lost connection is passed on.
fn stored(outcome: Result<String, ClientError>) -> Result<Result<String, String>, ClientError> {
    match outcome {
        Ok(message) => Ok(Ok(message)),
        Err(err) if fatal(&err) => Err(err),
        Err(err) => Ok(Err(err.to_string())),
    }
}

/// A worker's typed error keeps the connection; anything else means it is gone.
fn fatal(err: &ClientError) -> bool {
    err.worker_error().is_none()
}

async fn session(
    endpoint: &Endpoint,
    mut client: IpcClient,
    commands: &mut tmpsc::UnboundedReceiver<Command>,
    out: &Outbox,
) -> SessionEnd {
    let log_task = tokio::spawn(forward_log(endpoint.clone(), out.clone()));
    let _stop_log = AbortOnDrop(log_task.abort_handle());
    let mut log_task = log_task;
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut held_tick = tokio::time::interval(HELD_TICK);
    held_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    if let Err(err) = refresh(&mut client, out, true).await {
        return SessionEnd::Lost(err.to_string());
    }
    loop {
        let result = tokio::select! {
            _ = tick.tick() => refresh(&mut client, out, false).await,
            _ = held_tick.tick() => refresh_held(&mut client, out).await,
            ended = &mut log_task => {
                let reason = match ended {
                    Ok(reason) => reason,
                    Err(err) => err.to_string(),
                };
                return SessionEnd::Lost(reason);
            }
            command = commands.recv() => match command {
                None => return SessionEnd::Quit,
                Some(command) => execute(&mut client, command, out).await,
            },
        };
        if let Err(err) = result {
            return SessionEnd::Lost(err.to_string());
        }
    }
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Status every tick; the profile list too when asked (it changes only by edits).
async fn refresh(client: &mut IpcClient, out: &Outbox, profiles: bool) -> Result<(), ClientError> {
    if profiles {
        out.send(Update::Profiles(client.list_profiles().await?));
    }
    out.send(Update::Status(client.status().await?));
    Ok(())
}

/// The held messages of every profile. A worker that refuses (e.g. one older than the
/// request) keeps the connection: the window then shows none.
async fn refresh_held(client: &mut IpcClient, out: &Outbox) -> Result<(), ClientError> {
    match client.list_held(None).await {
        Ok(messages) => {
            out.send(Update::Held(messages));
            Ok(())
        }
        Err(err) if !fatal(&err) => Ok(()),
        Err(err) => Err(err),
    }
}

/// Runs one command; `Err` only when the connection broke.
async fn execute(
    client: &mut IpcClient,
    command: Command,
    out: &Outbox,
) -> Result<(), ClientError> {
    let what = describe(&command);
    let outcome = match command {
        Command::Refresh => refresh(client, out, true).await,
        Command::ReadProfile(name) => client.read_profile(&name).await.map(|form| {
            out.send(Update::Profile {
                name,
                form: Box::new(form),
            })
        }),
        Command::Save {
            original,
            profile,
            password,
            client_secret,
        } => match client.save_profile(original.as_deref(), *profile).await {
            Ok(name) => {
                let secret = match password {
                    None => None,
                    Some(password) => {
                        Some(stored(client.set_secret(&name, password.expose()).await)?)
                    }
                };
                let client_secret = match client_secret {
                    None => None,
                    Some(secret) => Some(stored(
                        client.set_client_secret(&name, secret.expose()).await,
                    )?),
                };
                out.send(Update::Saved {
                    name,
                    secret,
                    client_secret,
                });
                refresh(client, out, true).await
            }
            Err(ClientError::Worker(error)) => {
                out.send(Update::SaveRefused(error));
                Ok(())
            }
            Err(err) => Err(err),
        },
        Command::Delete(name) => match client.delete_profile(&name).await {
            Ok(_) => {
                out.send(Update::Deleted(name));
                refresh(client, out, true).await
            }
            Err(err) => Err(err),
        },
        Command::FindServer {
            host,
            ca_file,
            candidates,
        } => client
            .find_server(&host, ca_file, candidates)
            .await
            .map(|findings| out.send(Update::ServerFound { host, findings })),
        Command::Test { target, password } => client
            .test_connection_with(target, password)
            .await
            .map(|steps| out.send(Update::TestReport(steps))),
        Command::PollNow(name) => client
            .poll_now(&name)
            .await
            .map(|message| out.send(Update::Done(message))),
        Command::PollAll(names) => {
            for name in &names {
                client.poll_now(name).await?;
            }
            out.send(Update::Done(match names.len() {
                0 => "No profile is enabled: nothing to poll.".into(),
                1 => format!("Asked the worker to poll \"{}\" now.", names[0]),
                n => format!("Asked the worker to poll all {n} enabled profiles now."),
            }));
            Ok(())
        }
        Command::SetEnabled { name, enabled } => match client.set_enabled(&name, enabled).await {
            Ok(message) => {
                out.send(Update::Done(message));
                refresh(client, out, true).await
            }
            Err(err) => Err(err),
        },
        Command::StartSignIn { name, method } => match client.start_sign_in(&name, method).await {
            Ok((session, prompt)) => {
                out.send(Update::SignInStarted {
                    name,
                    session,
                    prompt,
                });
                Ok(())
            }
            Err(err) if !fatal(&err) => {
                out.send(Update::SignInRefused {
                    name,
                    error: err.to_string(),
                });
                Ok(())
            }
            Err(err) => Err(err),
        },
        Command::HeldAction { id, action } => {
            match client.held_action(id.clone(), action).await {
                Ok(message) => out.send(Update::HeldResult {
                    id,
                    action,
                    outcome: Ok(message),
                }),
                Err(err) if !fatal(&err) => out.send(Update::HeldResult {
                    id,
                    action,
                    outcome: Err(err.to_string()),
                }),
                Err(err) => return Err(err),
            }
            refresh_held(client, out).await
        }
        Command::History(command) => history::execute(client, command, out).await,
        Command::Import { format, file, text } => {
            import::import_and_save(client, format, &file, text, out).await?;
            refresh(client, out, true).await
        }
        Command::SignInResult(session) => match client.sign_in_result(&session).await {
            Ok(state) => {
                out.send(Update::SignIn { session, state });
                Ok(())
            }
            Err(err) if !fatal(&err) => {
                let state = SignInState::Failed {
                    message: err.to_string(),
                };
                out.send(Update::SignIn { session, state });
                Ok(())
            }
            Err(err) => Err(err),
        },
    };
    match outcome {
        Err(err) if !fatal(&err) => {
            out.send(Update::Failed {
                what,
                error: err.to_string(),
            });
            Ok(())
        }
        other => other,
    }
}

/// The live log on its own connection; returns why it ended.
async fn forward_log(endpoint: Endpoint, out: Outbox) -> String {
    let client = match IpcClient::connect(&endpoint).await {
        Ok(client) => client,
        Err(err) => return err.to_string(),
    };
    let mut stream = match client.subscribe_log().await {
        Ok(stream) => stream,
        Err(err) => return err.to_string(),
    };
    loop {
        match stream.next().await {
            Ok(Some(Event::Log { line })) => out.send(Update::Log(line)),
            Ok(Some(Event::Lagged { skipped })) => out.send(Update::Lagged(skipped)),
            Ok(None) => return "the worker closed the connection".into(),
            Err(err) => return err.to_string(),
        }
    }
}
