//! What a profile logs in with: its password (read from its source now), or for
//! `xoauth2`/`oauthbearer` an OAuth 2.0 access token from the [`TokenCache`]. A token the
//! server refused is dropped from the cache so that the one retry logs in with a fresh one.

use mailpull_shared::config::Profile;
use mailpull_shared::secrets::Secret;
use tracing::info;

use crate::oauth::{OAuthError, TokenCache};
use crate::source::SourceError;

/// The password or access token of `profile`.
pub async fn login_secret(tokens: &TokenCache, profile: &Profile) -> Result<Secret, SourceError> {
    match &profile.remote.password {
        Some(source) => Ok(source.read(&profile.name)?),
        None if profile.remote.auth.is_oauth() => Ok(tokens.access_token(profile).await?),
        None => Err(SourceError::OAuth(OAuthError::NotOAuth {
            profile: profile.name.clone(),
        })),
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
    if profile.remote.auth.is_oauth() && matches!(err, SourceError::Auth { .. }) {
        info!(profile = %profile.name, "the server refused the OAuth access token; refreshing it and logging in again");
        tokens.invalidate(&profile.name, used).await;
        true
    } else {
        false
    }
}
