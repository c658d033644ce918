//! `mailpull-worker oauth sign-in|sign-out` through the running worker: the worker of the
//! configuration runs the flow, exactly as for the Pull Manager (`start_sign_in`, then
//! `sign_in_result` until it ends), and stores the refresh token in *its* store — on Windows
//! the service account's Credential Manager, not the caller's. This side only prints what
//! to open and the code, opens the browser for the browser flow, and waits for the result.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use mailpull_shared::ipc::{
    ClientError, Endpoint, IpcClient, SignInMethod, SignInPrompt, SignInState,
};

use super::prompt::say;

/// How often the result is asked for (the window asks every 1.5 s).
const POLL: Duration = Duration::from_secs(1);
/// Waited beyond the code's (or the browser flow's) lifetime before giving up on a worker
/// that never says how it ended.
const GRACE: Duration = Duration::from_secs(60);

/// Signs profile `name` in through the worker behind `client`. A refusal of the worker
/// (unknown profile, no OAuth, no endpoint for `method`) is the error.
pub async fn sign_in(
    client: &mut IpcClient,
    endpoint: &Endpoint,
    name: &str,
    method: SignInMethod,
    open_browser: bool,
) -> Result<ExitCode, ClientError> {
    say(format!(
        "Signing in profile \"{name}\" through the running worker ({}, {endpoint}): it runs the sign-in and stores the refresh token in its own store (the Linux service: the service's token file, kept across reboots; otherwise its account's OS keyring).",
        client.worker_version()
    ));
    let (session, prompt) = client.start_sign_in(name, method).await?;
    let lifetime = match &prompt {
        SignInPrompt::Device {
            verification_uri,
            verification_uri_complete,
            user_code,
            expires_in_secs,
        } => {
            say(format!(
                "To sign in profile \"{name}\", open {verification_uri} in any browser and enter the code {user_code} (valid for {} min).",
                expires_in_secs.div_ceil(60)
            ));
            say(format!("verification_uri: {verification_uri}"));
            if let Some(complete) = verification_uri_complete {
                say(format!("verification_uri_complete: {complete}"));
            }
            say(format!("user_code: {user_code}"));
            Duration::from_secs(*expires_in_secs)
        }
        SignInPrompt::Browser { authorization_url } => {
            say(format!(
                "To sign in profile \"{name}\", open this address in a browser on this machine (the worker takes the answer on 127.0.0.1):"
            ));
            say(format!("authorization_url: {authorization_url}"));
            if open_browser {
                match super::prompt::open_in_browser(authorization_url) {
                    Ok(()) => say("Opened in the default browser."),
                    Err(why) => say(format!(
                        "Could not open a browser ({why}); open the address by hand."
                    )),
                }
            }
            super::signin::BROWSER_TIMEOUT
        }
    };
    say("Waiting for the worker to finish the sign-in (Ctrl-C stops waiting here)...");
    let deadline = Instant::now() + lifetime + GRACE;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {
                eprintln!(
                    "mailpull-worker: stopped waiting; the worker's attempt runs out on its own (approved anyway, it still counts)"
                );
                return Ok(ExitCode::FAILURE);
            }
            _ = tokio::time::sleep(POLL) => {}
        }
        match client.sign_in_result(&session).await? {
            SignInState::Pending if Instant::now() < deadline => {}
            SignInState::Pending => {
                eprintln!(
                    "mailpull-worker: the worker did not finish the sign-in of profile \"{name}\" in time; start it again"
                );
                return Ok(ExitCode::FAILURE);
            }
            SignInState::Done { message } => {
                say(format!("Signed in through the worker: {message}."));
                return Ok(ExitCode::SUCCESS);
            }
            SignInState::Failed { message } => {
                eprintln!("mailpull-worker: the sign-in failed: {message}");
                return Ok(ExitCode::FAILURE);
            }
        }
    }
}

/// Signs profile `name` out through the worker behind `client` (it removes the refresh
/// token from its own store).
pub async fn sign_out(client: &mut IpcClient, name: &str) -> Result<ExitCode, ClientError> {
    let message = client.sign_out(name).await?;
    say(format!("Signed out through the worker: {message}."));
    Ok(ExitCode::SUCCESS)
}
