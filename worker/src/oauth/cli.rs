//! `mailpull-worker oauth sign-in|sign-out`. When a worker serves the configuration's pipe,
//! the sign-in runs in that worker ([`super::pipe`]) and the refresh token lands in the
//! worker's store — the service's, for a service — whoever runs the command. With no worker
//! answering it runs in this process and stores the token in the OS keyring of the account
//! it runs as; for a service's configuration that is refused (the service would never see
//! the token) unless `--local` asks for it, and the output says where the token went. The
//! prompt goes to standard output, one `key: value` line per item so that scripts (and the
//! tests) can read it.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use mailpull_shared::config::{OAuthProvider, Profile};
use mailpull_shared::ipc::{ClientError, Endpoint, IpcClient, SignInMethod};
use mailpull_shared::paths;
use mailpull_shared::secrets::{self, SecretError, ServiceStore};
use tokio_util::sync::CancellationToken;

use super::{OAuthError, TokenCache, browser, device};
use crate::cli::EXIT_NO_WORKER;

pub(super) fn say(line: impl AsRef<str>) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", line.as_ref());
    let _ = out.flush();
}

/// The method to use when the command line names none: the device code when the provider
/// has a device endpoint, else the browser. Google's device flow does not grant the Gmail
/// scope, so Google profiles use the browser.
pub fn default_method(profile: &Profile) -> SignInMethod {
    match profile.remote.credentials.oauth2() {
        Some(oauth) if oauth.provider == OAuthProvider::Google => SignInMethod::Browser,
        Some(oauth) if oauth.device_authorization_url.is_some() => SignInMethod::Device,
        _ => SignInMethod::Browser,
    }
}

/// A configuration that a service runs: what to call it and how to start the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceConfig {
    pub what: &'static str,
    pub start: &'static str,
}

/// Whether `path` is a service's configuration: on Windows the installation's
/// (`%ProgramData%\Mailpull\mailpull.toml`, which the Mailpull Worker service runs); on Linux
/// the system configuration (`/etc/mailpull/mailpull.toml`) or one that names a service
/// secret store (`secrets_store`: `[worker] secrets`).
pub fn service_config(path: &Path, secrets_store: bool) -> Option<ServiceConfig> {
    if cfg!(windows) {
        let installed = Endpoint::for_config(&paths::default_config_file()).config;
        let this = Endpoint::for_config(path).config;
        let same = this
            .to_string_lossy()
            .eq_ignore_ascii_case(&installed.to_string_lossy());
        same.then_some(ServiceConfig {
            what: "the configuration of the Mailpull Worker service",
            start: "`mailpull-worker service start` from an administrator's prompt",
        })
    } else if paths::is_system_config(path) || secrets_store {
        Some(ServiceConfig {
            what: "the configuration of the Linux service",
            start: "`systemctl start mailpull`",
        })
    } else {
        None
    }
}

/// The account this process runs as, for "the OS keyring of this account (...)".
pub fn this_account() -> String {
    let name = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .ok()
        .filter(|n| !n.is_empty());
    #[cfg(unix)]
    {
        let uid = rustix::process::geteuid().as_raw();
        match name {
            Some(name) => format!("{name}, uid {uid}"),
            None => format!("uid {uid}"),
        }
    }
    #[cfg(not(unix))]
    {
        name.unwrap_or_else(|| "the account running this command".into())
    }
}

/// Opens `url` in the desktop's default browser (`explorer`, `open` or `xdg-open`).
pub fn open_in_browser(url: &str) -> Result<(), String> {
    let opener = if cfg!(windows) {
        "explorer"
    } else if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let mut child = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|err| format!("cannot run {opener}: {err}"))?;
    // Reaped on a thread of its own: no zombie, and no wait for the browser.
    let _ = std::thread::Builder::new()
        .name("mailpull-browser".into())
        .spawn(move || child.wait());
    Ok(())
}

/// Whether to open the authorization URL here: on request, with a terminal to read the
/// prompt on, and (outside Windows and macOS) a graphical session — over SSH `xdg-open`
/// would start a text browser in the terminal.
pub fn may_open_browser(no_browser: bool) -> bool {
    let graphical = cfg!(any(windows, target_os = "macos"))
        || std::env::var_os("DISPLAY").is_some()
        || std::env::var_os("WAYLAND_DISPLAY").is_some();
    !no_browser && graphical && std::io::stdout().is_terminal()
}

/// What the command line asked for.
#[derive(Debug, Clone)]
pub struct Invocation<'a> {
    /// The configuration file (its worker's pipe is asked first).
    pub config: &'a Path,
    /// `[worker] secrets`: a service secret store, so a service's configuration.
    pub secrets: Option<&'a Path>,
    pub profile: &'a Profile,
    /// `--local`: run here even when a worker answers, and for a service's configuration.
    pub local: bool,
}

/// Where the command runs: through the worker (connected), or here.
enum Route {
    Worker(IpcClient, Endpoint),
    Here,
    Stop(ExitCode),
}

/// Connects to the configuration's worker unless `--local`; with none there, decides
/// whether this process may do it instead.
async fn route(request: &Invocation<'_>, what: &str) -> Route {
    let service = service_config(request.config, request.secrets.is_some());
    let account = this_account();
    if request.local {
        if let Some(service) = service {
            say(format!(
                "--local: {what} here, in the OS keyring of this account ({account}), NOT in the service's store: {} is {}, and the service does not read this account's keyring.",
                request.config.display(),
                service.what
            ));
        }
        return Route::Here;
    }
    let endpoint = Endpoint::for_config(request.config);
    match IpcClient::connect(&endpoint).await {
        Ok(client) => Route::Worker(client, endpoint),
        Err(ClientError::NotRunning { .. }) => match service {
            Some(service) => {
                eprintln!(
                    "mailpull-worker: no worker answers for {} (nothing listens on {endpoint}), and it is {}: {what} here would use the OS keyring of this account ({account}), which the service never reads. Start the service ({}) and run this again; or add --local to do it here anyway.",
                    request.config.display(),
                    service.what,
                    service.start
                );
                Route::Stop(ExitCode::from(EXIT_NO_WORKER))
            }
            None => {
                say(format!(
                    "No worker answers for {} (nothing listens on {endpoint}): {what} here, in the OS keyring of this account ({account}).",
                    request.config.display()
                ));
                Route::Here
            }
        },
        Err(err) => {
            eprintln!(
                "mailpull-worker: {err}; nothing was done. To do it in this process anyway (the OS keyring of this account, {account}), add --local."
            );
            Route::Stop(ExitCode::from(EXIT_NO_WORKER))
        }
    }
}

/// `oauth sign-in`: through the worker when one answers, else here (see the module).
pub async fn sign_in(
    request: &Invocation<'_>,
    method: SignInMethod,
    no_browser: bool,
) -> Result<ExitCode, OAuthError> {
    let profile = request.profile;
    super::settings(profile)?;
    let open_browser = may_open_browser(no_browser);
    match route(request, "the refresh token is stored").await {
        Route::Stop(code) => Ok(code),
        Route::Worker(mut client, endpoint) => {
            let done =
                super::pipe::sign_in(&mut client, &endpoint, &profile.name, method, open_browser)
                    .await;
            Ok(worker_outcome(done))
        }
        Route::Here => {
            // A `{ keyring = true }` client secret is looked up in the service's store too.
            let store =
                ServiceStore::locate(request.secrets, paths::is_system_config(request.config));
            if let Some(store) = &store {
                store.verify().map_err(SecretError::from)?;
            }
            secrets::use_service_store(store);
            sign_in_here(profile, method, open_browser).await
        }
    }
}

/// `oauth sign-out`: through the worker when one answers, else here.
pub async fn sign_out(request: &Invocation<'_>) -> Result<ExitCode, OAuthError> {
    let profile = request.profile;
    super::settings(profile)?;
    match route(request, "the refresh token is removed").await {
        Route::Stop(code) => Ok(code),
        Route::Worker(mut client, _) => Ok(worker_outcome(
            super::pipe::sign_out(&mut client, &profile.name).await,
        )),
        Route::Here => {
            super::delete_refresh_token(&profile.name)?;
            say(format!(
                "Signed out: the refresh token of profile \"{}\" is removed from the OS keyring of this account ({}).",
                profile.name,
                this_account()
            ));
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The exit code of a request the worker answered; its refusal is printed.
fn worker_outcome(done: Result<ExitCode, ClientError>) -> ExitCode {
    match done {
        Ok(code) => code,
        Err(err) => {
            eprintln!("mailpull-worker: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Signs `profile` in in this process and stores its refresh token in this account's
/// OS keyring.
async fn sign_in_here(
    profile: &Profile,
    method: SignInMethod,
    open_browser: bool,
) -> Result<ExitCode, OAuthError> {
    let tokens = TokenCache::new();
    let http = tokens.http()?;
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    let signal = tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        stop.cancel();
    });
    let issued = match method {
        SignInMethod::Device => {
            let start = device::start(&http, profile).await?;
            say(format!(
                "To sign in profile \"{}\", open {} in any browser and enter the code {} (valid for {} min).",
                profile.name,
                start.verification_uri,
                start.user_code,
                start.expires_in.as_secs().div_ceil(60)
            ));
            say(format!("verification_uri: {}", start.verification_uri));
            if let Some(complete) = &start.verification_uri_complete {
                say(format!("verification_uri_complete: {complete}"));
            }
            say(format!("user_code: {}", start.user_code));
            say("Waiting for the approval (Ctrl-C cancels)...");
            device::wait(&http, profile, &start, &cancel).await
        }
        SignInMethod::Browser => {
            let start = browser::start(profile).await?;
            say(format!(
                "To sign in profile \"{}\", open this address in a browser on this machine:",
                profile.name
            ));
            say(format!("authorization_url: {}", start.authorization_url));
            if open_browser && let Err(why) = open_in_browser(&start.authorization_url) {
                say(format!(
                    "Could not open a browser ({why}); open the address by hand."
                ));
            }
            say(format!(
                "Waiting for the browser to come back to {} (Ctrl-C cancels)...",
                start.redirect_uri
            ));
            browser::wait(
                &http,
                profile,
                start,
                super::signin::BROWSER_TIMEOUT,
                &cancel,
            )
            .await
        }
    };
    signal.abort();
    super::finish_sign_in(profile, &issued?)?;
    say(format!(
        "Signed in: the refresh token of profile \"{}\" is stored in the OS keyring of this account ({}).",
        profile.name,
        this_account()
    ));
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(unix)]
    fn a_service_configuration_is_the_system_one_or_one_with_a_secret_store() {
        let system = service_config(Path::new(paths::SYSTEM_CONFIG_FILE), false)
            .expect("the system configuration is the service's");
        assert!(system.start.contains("systemctl start mailpull"));
        let with_store = service_config(Path::new("/tmp/elsewhere/mailpull.toml"), true);
        assert_eq!(with_store, Some(system));
        assert_eq!(
            service_config(Path::new("/tmp/elsewhere/mailpull.toml"), false),
            None
        );
    }

    #[test]
    #[cfg(unix)]
    fn the_account_names_the_uid() {
        let uid = rustix::process::geteuid().as_raw();
        assert!(
            this_account().contains(&format!("uid {uid}")),
            "{}",
            this_account()
        );
    }
}
