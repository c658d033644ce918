//! `mailpull-worker oauth sign-in|sign-out`. When a worker serves the configuration's pipe,
//! the sign-in runs in that worker ([`super::pipe`]) and the refresh token lands in the
//! worker's store — the service's, for a service — whoever runs the command. With no worker
//! answering it runs in this process and stores the token in the OS keyring of the account
//! it runs as; for a service's configuration that is refused (the service would never see
//! the token) unless `--local` asks for it, and the output says where the token went. The
//! prompt goes to standard output, one `key: value` line per item so that scripts (and the
//! tests) can read it.

use std::path::Path;
use std::process::ExitCode;

use mailpull_shared::config::{OAuthProvider, Profile};
use mailpull_shared::ipc::{ClientError, Endpoint, IpcClient, SignInMethod};
use mailpull_shared::paths;
use mailpull_shared::secrets::{self, SecretError, ServiceStore};
use tokio_util::sync::CancellationToken;

use super::prompt::{may_open_browser, open_in_browser, say};
use super::{OAuthError, TokenCache, browser, device};
use crate::service_config::{EXIT_NO_WORKER, service_config, this_account};

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

/// Where the command runs: through the worker (connected; boxed, it is far larger than the
/// other answers), or here.
enum Route {
    Worker(Box<(IpcClient, Endpoint)>),
    Here,
    Stop(ExitCode),
}

/// Connects to the configuration's worker unless `--local`; with none there, decides
/// whether this process may do the `what` ("sign-in", "sign-out") instead; `effect` says
/// what that does to the keyring ("the refresh token goes into").
async fn route(request: &Invocation<'_>, what: &str, effect: &str) -> Route {
    let service = service_config(request.config, request.secrets.is_some());
    let account = this_account();
    if request.local {
        if let Some(service) = service {
            say(format!(
                "--local: the {what} runs here; {effect} the OS keyring of this account ({account}), NOT the service's store: {} is {}, and the service does not read this account's keyring.",
                request.config.display(),
                service.what
            ));
        }
        return Route::Here;
    }
    let endpoint = Endpoint::for_config(request.config);
    match IpcClient::connect(&endpoint).await {
        Ok(client) => Route::Worker(Box::new((client, endpoint))),
        Err(ClientError::NotRunning { .. }) => match service {
            Some(service) => {
                eprintln!(
                    "mailpull-worker: no worker answers for {} (nothing listens on {endpoint}), and it is {}: a {what} here would use the OS keyring of this account ({account}), which the service never reads. Start the service ({}) and run this again; or add --local to do it here anyway.",
                    request.config.display(),
                    service.what,
                    service.start
                );
                Route::Stop(ExitCode::from(EXIT_NO_WORKER))
            }
            None => {
                say(format!(
                    "No worker answers for {} (nothing listens on {endpoint}): the {what} runs here; {effect} the OS keyring of this account ({account}).",
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
    match route(request, "sign-in", "the refresh token goes into").await {
        Route::Stop(code) => Ok(code),
        Route::Worker(connected) => {
            let (mut client, endpoint) = *connected;
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
    match route(request, "sign-out", "the refresh token is removed from").await {
        Route::Stop(code) => Ok(code),
        Route::Worker(connected) => {
            let (mut client, _) = *connected;
            Ok(worker_outcome(
                super::pipe::sign_out(&mut client, &profile.name).await,
            ))
        }
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
