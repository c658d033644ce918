//! `mailpull-worker oauth sign-in|sign-out`: the headless sign-in. It runs in this process
//! (no worker needs to be running) and stores the refresh token in the OS keyring of the
//! account it runs as — run it as the worker's account. The prompt goes to standard output,
//! one `key: value` line per item so that scripts (and the tests) can read it.

use std::io::Write;
use std::process::ExitCode;

use mailpull_shared::config::{OAuthProvider, Profile};
use mailpull_shared::ipc::SignInMethod;
use tokio_util::sync::CancellationToken;

use super::{OAuthError, TokenCache, browser, device};

fn say(line: impl AsRef<str>) {
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

/// Signs `profile` in and stores its refresh token.
pub async fn sign_in(profile: &Profile, method: SignInMethod) -> Result<ExitCode, OAuthError> {
    super::settings(profile)?;
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
        "Signed in: the refresh token of profile \"{}\" is stored in the OS keyring of this account.",
        profile.name
    ));
    Ok(ExitCode::SUCCESS)
}

/// Removes the stored refresh token of `profile`.
pub fn sign_out(profile: &Profile) -> Result<ExitCode, OAuthError> {
    super::delete_refresh_token(&profile.name)?;
    say(format!(
        "Signed out: the refresh token of profile \"{}\" is removed from the OS keyring.",
        profile.name
    ));
    Ok(ExitCode::SUCCESS)
}
