//! `mailpull-worker`: parses the command line, sets up logging, and hands over to the library.

/// `println!` for a command-line tool: when the reader of standard output has gone (`check |
/// head -1`), the command ends quietly with exit code 0 instead of panicking on the broken
/// pipe (std's `println!` panics). Shadows std's macro in this crate.
macro_rules! println {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(err) = writeln!(std::io::stdout(), $($arg)*) {
            if err.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    }};
}

/// `print!` likewise (see `println!`).
macro_rules! print {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(err) = write!(std::io::stdout(), $($arg)*) {
            if err.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    }};
}

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use mailpull_shared::config::{self, Config};
use mailpull_shared::ipc::SignInMethod;
use mailpull_shared::secrets::service_store::DEFAULT_PATH;
use mailpull_shared::secrets::{self, SecretKind, ServiceStore};
use mailpull_worker::import::{self, run::Format};
use mailpull_worker::routing::Route;
use mailpull_worker::{cli, engine, held, logging, oauth};

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
    /// List the messages held on the remote servers (failed too often on their own; not
    /// retried automatically). Works beside a running worker.
    Held {
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Only this profile's.
        #[arg(long, short)]
        profile: Option<String>,
        /// Print JSON (the rows the pipe's `list_held` answers).
        #[arg(long)]
        json: bool,
    },
    /// Store a profile's password for `password = { keyring = true }`: read from standard
    /// input, or asked for without echo on a terminal. For the Linux service's configuration
    /// (/etc/mailpull/mailpull.toml, `[worker] secrets`, or --service) it goes into the service
    /// secret store, a root-owned file that survives a reboot (run as root); otherwise into the
    /// OS keyring of the running worker's account, over the pipe.
    SetPassword {
        /// The profile.
        name: String,
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Store the OAuth client secret (`client_secret = { keyring = true }`) instead.
        #[arg(long)]
        client_secret: bool,
        /// Write to the service secret store even for another configuration file.
        #[arg(long)]
        service: bool,
    },
    /// Remove every profile's password, OAuth client secret and refresh token from the OS
    /// keyring of the running worker's account, over the pipe (what the Windows uninstaller's
    /// "Remove my data" runs while the service still runs).
    ForgetSecrets {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// OAuth 2.0 sign-in of an `xoauth2`/`oauthbearer` profile: through the running worker
    /// of the configuration, which stores the refresh token in its own OS keyring (a
    /// service's: the service account's); with no worker answering, in this process, into
    /// this account's OS keyring (refused for a service's configuration without --local).
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
    /// Turn a fetchmail or getmail configuration into Mailpull profiles: passwords go into
    /// the OS keyring, what has no equivalent is listed with its line.
    Import {
        #[command(subcommand)]
        from: ImportCommand,
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
        /// Do not open the authorization address in the default browser (it is printed
        /// either way; it is opened only on a terminal of a graphical session).
        #[arg(long)]
        no_browser: bool,
        /// Sign in in this process and store the refresh token in this account's OS
        /// keyring, even when a worker answers or the configuration is a service's.
        #[arg(long)]
        local: bool,
    },
    /// Remove the stored refresh token (through the running worker, as sign-in).
    SignOut {
        #[arg(long, short)]
        config: Option<PathBuf>,
        #[arg(long, short)]
        profile: String,
        /// Remove it from this account's OS keyring, even when a worker answers or the
        /// configuration is a service's.
        #[arg(long)]
        local: bool,
    },
}

#[derive(Subcommand)]
enum ImportCommand {
    /// A .fetchmailrc: one profile per user of every poll (skip: disabled) entry.
    Fetchmailrc {
        file: PathBuf,
        #[command(flatten)]
        target: ImportTarget,
    },
    /// getmail rc files: one profile per file.
    Getmailrc {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        target: ImportTarget,
    },
}

#[derive(clap::Args)]
struct ImportTarget {
    /// Write the configuration to this new file (default: standard output).
    #[arg(long)]
    out: Option<PathBuf>,
    /// The local domain where the file names none (default: localhost, as fetchmail).
    #[arg(long)]
    domain: Option<String>,
    /// The local SMTP server, HOST:PORT, where the file names none (default: 127.0.0.1:25).
    #[arg(long)]
    smtp: Option<String>,
}

fn import(command: ImportCommand) -> anyhow::Result<ExitCode> {
    let (format, files, target) = match command {
        ImportCommand::Fetchmailrc { file, target } => (Format::Fetchmail, vec![file], target),
        ImportCommand::Getmailrc { files, target } => (Format::Getmail, files, target),
    };
    let options = import::Options {
        domain: target.domain,
        smtp: target.smtp,
    };
    import::run::run(format, &files, target.out.as_deref(), &options)
}

fn config_path(path: Option<PathBuf>) -> PathBuf {
    path.unwrap_or_else(mailpull_shared::paths::default_config_file)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check { config } => check(config_path(config)),
        Command::Run { config, once } => run(config_path(config), once),
        Command::Route { config, profile } => route(config_path(config), &profile),
        Command::Status { config } => cli::status(&config_path(config)),
        Command::PollNow { name, config } => cli::poll_now(&config_path(config), &name),
        Command::Held {
            config,
            profile,
            json,
        } => held::command(&config_path(config), profile.as_deref(), json)
            .map(|()| ExitCode::SUCCESS),
        Command::SetPassword {
            name,
            config,
            client_secret,
            service,
        } => set_password(&config_path(config), &name, client_secret, service),
        Command::ForgetSecrets { config } => cli::forget_secrets(&config_path(config)),
        Command::Oauth { command } => oauth(command),
        Command::Import { from } => import(from),
        #[cfg(windows)]
        Command::Service { action } => service::execute(action),
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
    Ok(engine::load(path)?)
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
    let decision = Route::for_profile(profile, &installation_id).decide(&message);
    println!(
        "{}",
        serde_json::to_string_pretty(&decision).context("JSON")?
    );
    Ok(ExitCode::SUCCESS)
}

fn oauth(command: OauthCommand) -> anyhow::Result<ExitCode> {
    let (config, name, local) = match &command {
        OauthCommand::SignIn {
            config,
            profile,
            local,
            ..
        }
        | OauthCommand::SignOut {
            config,
            profile,
            local,
        } => (config_path(config.clone()), profile, *local),
    };
    let loaded = load(&config)?;
    let profile = loaded
        .profile(name)
        .with_context(|| format!("no profile \"{name}\" in {}", config.display()))?
        .clone();
    let invocation = oauth::cli::Invocation {
        config: &config,
        secrets: loaded.worker.secrets.as_deref(),
        profile: &profile,
        local,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    match command {
        OauthCommand::SignIn {
            device,
            browser,
            no_browser,
            ..
        } => {
            let method = if device {
                SignInMethod::Device
            } else if browser {
                SignInMethod::Browser
            } else {
                oauth::cli::default_method(&profile)
            };
            Ok(runtime.block_on(oauth::cli::sign_in(&invocation, method, no_browser))?)
        }
        OauthCommand::SignOut { .. } => Ok(runtime.block_on(oauth::cli::sign_out(&invocation))?),
    }
}

/// The service secret store of the configuration at `path` (see
/// [`ServiceStore::locate`]), checked (root's, mode 0600, readable) and put to use for every
/// `{ keyring = true }` source of this process.
fn use_service_store(path: &Path, config: &Config) -> anyhow::Result<Option<ServiceStore>> {
    let store = ServiceStore::locate(
        config.worker.secrets.as_deref(),
        mailpull_shared::paths::is_system_config(path),
    );
    if let Some(store) = &store {
        store.verify()?;
    }
    secrets::use_service_store(store.clone());
    Ok(store)
}

/// A worker with a service secret store (the Linux service) keeps the OAuth refresh tokens it
/// writes in its state directory's token file (the kernel keyring does not survive a reboot);
/// checked (the worker's account's, mode 0600) and put to use. `None` otherwise.
fn use_token_file(
    store: Option<&ServiceStore>,
    state_dir: &Path,
) -> anyhow::Result<Option<secrets::TokenFile>> {
    let file = (store.is_some() && cfg!(unix)).then(|| secrets::TokenFile::in_state_dir(state_dir));
    if let Some(file) = &file {
        file.verify()?;
    }
    secrets::use_token_file(file.clone());
    Ok(file)
}

/// `set-password`: into the service secret store when the configuration is the service's
/// (or `--service`), else over the pipe into the running worker's OS keyring.
fn set_password(
    path: &Path,
    name: &str,
    client_secret: bool,
    service: bool,
) -> anyhow::Result<ExitCode> {
    let system = mailpull_shared::paths::is_system_config(path);
    let config = match load(path) {
        Ok(config) => Some(config),
        Err(err) if service || system => return Err(err),
        Err(_) => None,
    };
    let configured = config.as_ref().and_then(|c| c.worker.secrets.as_deref());
    let store = (service || system || configured.is_some())
        .then(|| ServiceStore::file(configured.unwrap_or(Path::new(DEFAULT_PATH))));
    match (store, config) {
        (Some(store), Some(config)) => {
            cli::set_in_service_store(&store, &config, name, client_secret)
        }
        _ => cli::set_password(path, name, client_secret),
    }
}

fn check(path: PathBuf) -> anyhow::Result<ExitCode> {
    let config = load(&path)?;
    let store = use_service_store(&path, &config)?;
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
        let sources = [
            (SecretKind::Password, profile.remote.credentials.password()),
            (
                SecretKind::ClientSecret,
                profile
                    .remote
                    .credentials
                    .oauth2()
                    .and_then(|o| o.client_secret.as_ref()),
            ),
        ];
        for (kind, source) in sources {
            if let Some(source) = source {
                println!(
                    "  {:<20} {}: {}",
                    "",
                    kind.label(),
                    source.origin(kind, &profile.name)?
                );
            }
        }
    }
    if let Some(line) = mailpull_worker::state::check_configured(&config.worker)? {
        println!("{line}");
    }
    // Which OS keyring this account has here (on Linux: Secret Service or kernel keyring).
    let keyring = secrets::os_keyring().describe();
    match &store {
        Some(store) => println!(
            "secrets for {{ keyring = true }}: the {}, then the OS keyring: {keyring}",
            store.describe()
        ),
        None => println!("secrets for {{ keyring = true }}: the OS keyring: {keyring}"),
    }
    if store.is_some() && cfg!(unix) {
        let tokens = secrets::TokenFile::in_state_dir(&config.worker.state_dir);
        tokens.verify()?;
        println!(
            "OAuth refresh tokens: {}, then the OS keyring",
            tokens.describe()
        );
    }
    let limit = mailpull_worker::fd_limit::would_raise_to();
    if let Some(report) = mailpull_worker::fd_limit::check_report(&config, limit) {
        println!("{report}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs the worker until SIGTERM or Ctrl-C; with `once`, polls every enabled profile once and
/// prints the summary.
fn run(path: PathBuf, once: bool) -> anyhow::Result<ExitCode> {
    let config = load(&path)?;
    let store = use_service_store(&path, &config)?;
    let state_dir = &config.worker.state_dir;
    mailpull_worker::private::prepare(state_dir).map_err(|err| {
        anyhow::anyhow!(
            "cannot make the state directory {} owner-only: {err}",
            state_dir.display()
        )
    })?;
    let tokens = use_token_file(store.as_ref(), state_dir)?;
    let log = logging::init(&config.worker.log_level, state_dir)?;
    if let Some(store) = store {
        tracing::info!(store = %store.path().display(), "passwords of {{ keyring = true }} profiles: the service secret store first, then the OS keyring");
    }
    if let Some(tokens) = tokens {
        tracing::info!(file = %tokens.path().display(), "OAuth refresh tokens: the service's token file (kept across reboots) first, then the OS keyring");
    }
    tracing::info!(keyring = %secrets::os_keyring().describe(), "OS keyring of this account");
    if once {
        let summary = mailpull_worker::run_once(&config, shutdown_signal())?;
        print!("{summary}");
        return Ok(if summary.failed() > 0 {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        });
    }
    let mode = mailpull_worker::run_mode::current();
    mailpull_worker::run(&path, &config, log.live.clone(), mode, shutdown_signal())?;
    Ok(ExitCode::SUCCESS)
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
