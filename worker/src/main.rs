//! `mailpull-worker`: parses the command line, sets up logging, and hands over to the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use mailpull_shared::config::{self, Config};
use mailpull_shared::ipc::{Endpoint, SignInMethod};
use mailpull_worker::deliver::Deliverer;
use mailpull_worker::poll::PollContext;
use mailpull_worker::scheduler::{self, Scheduler};
use mailpull_worker::state::Store;
use mailpull_worker::{cli, dispatch, routing};
use mailpull_worker::{ipc, logging, oauth};
use tokio_util::sync::CancellationToken;

#[cfg(windows)]
mod service;

#[derive(Parser)]
#[command(
    name = "mailpull-worker",
    version,
    about = "Pulls POP3/IMAP mailboxes and delivers every message over SMTP to the local mail server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Poll every enabled profile on its schedule until SIGTERM or Ctrl-C.
    Run {
        /// The configuration file (default: the installation's).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Poll every enabled profile once, print a summary and exit (non-zero if any failed).
        #[arg(long)]
        once: bool,
    },
    /// Validate a configuration file and name every error.
    Check {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Show every profile of the running worker: state, last/next poll, messages, bytes, error.
    Status {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Ask the running worker to poll a profile now.
    PollNow {
        /// The profile to poll.
        name: String,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Store a profile's password in the OS keyring of the running worker's account (also a
    /// service's), over the pipe: read from standard input, or asked for without echo on a
    /// terminal. For `password = { keyring = true }` without the Pull Manager.
    SetPassword {
        /// The profile.
        name: String,
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Store the OAuth client secret (`client_secret = { keyring = true }`) instead.
        #[arg(long)]
        client_secret: bool,
    },
    /// OAuth 2.0 sign-in of an `xoauth2`/`oauthbearer` profile (run as the worker's account:
    /// the refresh token goes into this account's OS keyring).
    Oauth {
        #[command(subcommand)]
        command: OauthCommand,
    },
    /// Print as JSON where a message on standard input would be delivered, without delivering.
    Route {
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// The profile whose rules apply.
        #[arg(long, short)]
        profile: String,
    },
    /// Install, control or remove the "Mailpull Worker" Windows service.
    #[cfg(windows)]
    Service {
        #[command(subcommand)]
        action: service::Action,
    },
}

#[derive(Subcommand)]
enum OauthCommand {
    /// Sign in and store the refresh token (device code by default when the provider has a
    /// device endpoint, else the browser).
    SignIn {
        #[arg(long, short)]
        config: Option<PathBuf>,
        #[arg(long, short)]
        profile: String,
        /// Device authorization grant: a code to enter on any device.
        #[arg(long, conflicts_with = "browser")]
        device: bool,
        /// Authorization code with PKCE: a browser on this machine.
        #[arg(long)]
        browser: bool,
    },
    /// Remove the stored refresh token.
    SignOut {
        #[arg(long, short)]
        config: Option<PathBuf>,
        #[arg(long, short)]
        profile: String,
    },
}

fn config_path(path: Option<PathBuf>) -> PathBuf {
    path.unwrap_or_else(mailpull_shared::paths::default_config_file)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check { config } => check(config_path(config)),
        Command::Run { config, once } => run(config_path(config), once, shutdown_signal()),
        Command::Route { config, profile } => route(config_path(config), &profile),
        Command::Status { config } => cli::status(&config_path(config)),
        Command::PollNow { name, config } => cli::poll_now(&config_path(config), &name),
        Command::SetPassword {
            name,
            config,
            client_secret,
        } => cli::set_password(&config_path(config), &name, client_secret),
        Command::Oauth { command } => oauth(command),
        #[cfg(windows)]
        Command::Service { action } => service::dispatch(action),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("mailpull-worker: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// Loads and checks a configuration, including each profile's routing rules.
fn load(path: &std::path::Path) -> anyhow::Result<Config> {
    mailpull_worker::validate::load(path)
        .map_err(|err| anyhow::anyhow!("invalid configuration\n{err}"))
}

fn route(path: PathBuf, name: &str) -> anyhow::Result<ExitCode> {
    let config = load(&path)?;
    let profile = config.profile(name).with_context(|| {
        let names: Vec<&str> = config.profiles.iter().map(|p| p.name.as_str()).collect();
        format!(
            "no profile \"{name}\" in {} (profiles: {})",
            path.display(),
            names.join(", ")
        )
    })?;
    let mut message = Vec::new();
    std::io::Read::read_to_end(&mut std::io::stdin(), &mut message)
        .context("cannot read the message from standard input")?;
    if message.is_empty() {
        anyhow::bail!("no message on standard input");
    }
    let installation_id = mailpull_worker::state::read_installation_id(&config.worker.state_dir)
        .unwrap_or_else(|| "unset".to_string());
    let decision = match &profile.distribute {
        Some(distribute) => routing::decide(
            &message,
            &dispatch::rules_for(profile, distribute, &installation_id),
        ),
        None => routing::Decision {
            recipients: vec![routing::Recipient {
                address: profile.local.address(),
                source: "single-drop".into(),
            }],
            fallback: false,
            reason: format!(
                "single-drop profile: everything goes to {}",
                profile.local.address()
            ),
        },
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&decision).context("JSON")?
    );
    Ok(ExitCode::SUCCESS)
}

fn oauth(command: OauthCommand) -> anyhow::Result<ExitCode> {
    let (config, name) = match &command {
        OauthCommand::SignIn {
            config, profile, ..
        }
        | OauthCommand::SignOut { config, profile } => (config_path(config.clone()), profile),
    };
    let loaded = load(&config)?;
    let profile = loaded
        .profile(name)
        .with_context(|| format!("no profile \"{name}\" in {}", config.display()))?
        .clone();
    match command {
        OauthCommand::SignIn {
            device, browser, ..
        } => {
            let method = if device {
                SignInMethod::Device
            } else if browser {
                SignInMethod::Browser
            } else {
                oauth::cli::default_method(&profile)
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            Ok(runtime.block_on(oauth::cli::sign_in(&profile, method))?)
        }
        OauthCommand::SignOut { .. } => Ok(oauth::cli::sign_out(&profile)?),
    }
}

fn check(path: PathBuf) -> anyhow::Result<ExitCode> {
    let config = load(&path)?;
    let enabled = config.profiles.iter().filter(|p| p.enabled).count();
    println!(
        "{}: OK, {} profile(s), {} enabled",
        path.display(),
        config.profiles.len(),
        enabled
    );
    for profile in &config.profiles {
        println!(
            "  {:<20} {} {}:{} ({}) every {} -> {}{}",
            profile.name,
            profile.remote.protocol.as_str(),
            profile.remote.host,
            profile.remote.port,
            profile.remote.security.as_str(),
            config::duration::format_duration(profile.interval),
            profile.local.address(),
            if profile.enabled { "" } else { " [disabled]" }
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs the worker until `shutdown` completes (a signal, or the Windows service's stop).
fn run(
    path: PathBuf,
    once: bool,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<ExitCode> {
    let config = load(&path)?;
    let log = logging::init(&config.worker.log_level, &config.worker.state_dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let store = Store::open(&config.worker.state_dir)?;
        let pool_size = config.worker.max_connections.clamp(1, 32) as u32;
        let cancel = CancellationToken::new();
        let ctx = Arc::new(PollContext::new(store, Deliverer::new(pool_size), cancel.clone()));
        if once {
            return Ok(run_once(ctx, &config, shutdown).await);
        }
        let endpoint = Endpoint::for_config(&path);
        let listener = ipc::bind(&endpoint)?;
        tracing::info!(config = %path.display(), profiles = config.profiles.len(), ipc = %endpoint, "worker started");
        let scheduler = Arc::new(Scheduler::new(ctx.clone(), &config));
        scheduler.start(&config);
        let state = Arc::new(ipc::WorkerState::new(
            endpoint.config.clone(),
            config.clone(),
            scheduler.clone(),
            ctx,
            log.live.clone(),
        ));
        let server = tokio::spawn(ipc::serve(listener, state, cancel.clone()));
        shutdown.await;
        tracing::info!("shutting down: finishing the messages in hand");
        cancel.cancel();
        scheduler.wait().await;
        let _ = server.await;
        tracing::info!("worker stopped");
        Ok(ExitCode::SUCCESS)
    })
}

async fn run_once(
    ctx: Arc<PollContext>,
    config: &Config,
    shutdown: impl std::future::Future<Output = ()>,
) -> ExitCode {
    let cancel = ctx.cancel.clone();
    let work = scheduler::run_once(ctx, config);
    tokio::pin!(work);
    // A shutdown cancels the polls, which finish the message in hand and report.
    let results = tokio::select! {
        results = &mut work => results,
        () = shutdown => {
            cancel.cancel();
            work.await
        }
    };
    let mut failed = 0;
    println!(
        "{:<20} {:>7} {:>9} {:>12} {:>7}  result",
        "profile", "listed", "delivered", "bytes", "deleted"
    );
    for (name, result) in &results {
        match result {
            Ok(report) => println!(
                "{:<20} {:>7} {:>9} {:>12} {:>7}  ok",
                name, report.listed, report.delivered, report.bytes, report.deleted
            ),
            Err(err) => {
                failed += 1;
                println!(
                    "{name:<20} {:>7} {:>9} {:>12} {:>7}  FAILED: {err}",
                    "-", "-", "-", "-"
                );
            }
        }
    }
    if failed > 0 {
        println!("{failed} of {} profile(s) failed", results.len());
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
