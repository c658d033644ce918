//! The device authorization grant (RFC 8628): ask the device endpoint for a user code, show
//! the person the verification URI and the code, then poll the token endpoint every
//! `interval` seconds (`authorization_pending`: keep going; `slow_down`: 5 s more;
//! `access_denied` / `expired_token`: stop) until the person has approved.

use std::time::{Duration, Instant};

use mailpull_shared::config::Profile;
use mailpull_shared::secrets::Secret;
use tokio_util::sync::CancellationToken;

use super::http::{Answer, OAuthHttp, number, text};
use super::{OAuthError, Tokens};

/// What to show the person, and what to poll with.
#[derive(Debug, Clone)]
pub struct DeviceStart {
    pub verification_uri: String,
    pub verification_uri_complete: Option<String>,
    pub user_code: String,
    pub expires_in: Duration,
    pub interval: Duration,
    device_code: Secret,
}

fn sign_in_error(profile: &Profile, message: impl Into<String>) -> OAuthError {
    OAuthError::SignIn {
        profile: profile.name.clone(),
        message: message.into(),
    }
}

/// Step one: the device authorization request.
pub async fn start(http: &OAuthHttp, profile: &Profile) -> Result<DeviceStart, OAuthError> {
    let oauth = super::settings(profile)?;
    let Some(url) = oauth.device_authorization_url.as_deref() else {
        return Err(sign_in_error(
            profile,
            "the provider has no device authorization endpoint; sign in with the browser instead",
        ));
    };
    let mut form = super::client_params(profile, oauth)?;
    form.push(("scope".into(), Secret::new(oauth.scopes.join(" "))));
    match http.post_form(url, form).await? {
        Answer::Ok(object) => {
            let device_code = text(&object, "device_code");
            let user_code = text(&object, "user_code");
            // Google says verification_url; RFC 8628 verification_uri.
            let verification_uri =
                text(&object, "verification_uri").or_else(|| text(&object, "verification_url"));
            let (Some(device_code), Some(user_code), Some(verification_uri)) =
                (device_code, user_code, verification_uri)
            else {
                return Err(OAuthError::Endpoint {
                    url: url.to_string(),
                    message: "the answer lacks device_code, user_code or verification_uri".into(),
                });
            };
            Ok(DeviceStart {
                verification_uri,
                verification_uri_complete: text(&object, "verification_uri_complete"),
                user_code,
                expires_in: Duration::from_secs(number(&object, "expires_in").unwrap_or(900)),
                interval: Duration::from_secs(number(&object, "interval").unwrap_or(5).max(1)),
                device_code: Secret::new(device_code),
            })
        }
        Answer::Error { error, description } => Err(OAuthError::Refused {
            url: url.to_string(),
            error,
            description,
        }),
    }
}

/// Step two: polls the token endpoint until the person approved (tokens), refused, the code
/// expired, or `cancel` fired.
pub async fn wait(
    http: &OAuthHttp,
    profile: &Profile,
    start: &DeviceStart,
    cancel: &CancellationToken,
) -> Result<Tokens, OAuthError> {
    let oauth = super::settings(profile)?;
    let deadline = Instant::now() + start.expires_in;
    let mut interval = start.interval;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return Err(sign_in_error(profile, "sign-in cancelled")),
            _ = tokio::time::sleep(interval) => {}
        }
        if Instant::now() >= deadline {
            return Err(sign_in_error(
                profile,
                "the code expired before it was approved; start the sign-in again",
            ));
        }
        let mut form = super::client_params(profile, oauth)?;
        form.push((
            "grant_type".into(),
            Secret::new("urn:ietf:params:oauth:grant-type:device_code"),
        ));
        form.push(("device_code".into(), start.device_code.clone()));
        match http.post_form(&oauth.token_url, form).await? {
            Answer::Ok(object) => return super::http::tokens(&oauth.token_url, &object),
            Answer::Error { error, description } => match error.as_str() {
                "authorization_pending" => {}
                "slow_down" => interval += Duration::from_secs(5),
                "access_denied" | "authorization_declined" => {
                    return Err(sign_in_error(profile, "the sign-in was declined"));
                }
                "expired_token" | "code_expired" => {
                    return Err(sign_in_error(
                        profile,
                        "the code expired before it was approved; start the sign-in again",
                    ));
                }
                _ => {
                    return Err(OAuthError::Refused {
                        url: oauth.token_url.clone(),
                        error,
                        description,
                    });
                }
            },
        }
    }
}
