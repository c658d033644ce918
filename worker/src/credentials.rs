//! What a profile logs in with: its password (read from its source now), or for
//! `xoauth2`/`oauthbearer` an OAuth 2.0 access token from the [`TokenCache`]. A token the
//! server refused is dropped from the cache so that the one retry logs in with a fresh one.

use mailpull_shared::config::{Credentials, Profile};
use mailpull_shared::secrets::{Secret, SecretError};
use tracing::info;

use crate::oauth::TokenCache;
use crate::source::SourceError;

/// The password or access token of `profile`.
pub async fn login_secret(tokens: &TokenCache, profile: &Profile) -> Result<Secret, SourceError> {
    match &profile.remote.credentials {
        // The OS keyring may be a D-Bus round trip (the Secret Service): off the async threads.
        Credentials::Password(source) => {
            let (source, name) = (source.clone(), profile.name.clone());
            let read = tokio::task::spawn_blocking(move || source.read(&name)).await;
            let secret = read.unwrap_or_else(|err| {
                Err(SecretError::Keyring {
                    profile: profile.name.clone(),
                    reason: format!("the read did not finish: {err}"),
                })
            })?;
            Ok(secret)
        }
        Credentials::OAuth2(_) => Ok(tokens.access_token(profile).await?),
    }
}

/// After a failed login: true (and the token forgotten) when `profile` logs in with OAuth and
/// the server refused `used`; the caller then logs in once more with [`login_secret`].
pub async fn retry_with_new_token(
    tokens: &TokenCache,
    profile: &Profile,
    used: &Secret,
    err: &SourceError,
) -> bool {
    if matches!(profile.remote.credentials, Credentials::OAuth2(_))
        && matches!(err, SourceError::Auth { .. })
    {
        info!(profile = %profile.name, "the server refused the OAuth access token; refreshing it and logging in again");
        tokens.invalidate(&profile.name, used).await;
        true
    } else {
        false
    }
}
