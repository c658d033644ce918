//! OAuth 2.0 for `auth = "xoauth2"` / `"oauthbearer"` profiles.
//!
//! Layout:
//! - [`http`]: the token-endpoint client (ureq over rustls + ring, system roots; https, or
//!   http to loopback only as the configuration allows), JSON answers and OAuth error codes.
//! - [`tokens`]: the worker's access-token cache. The refresh token lives in the OS keyring
//!   (entry `mailpull` / `oauth2-refresh:<profile>`), or, for a worker running as a Linux
//!   service, in the service's token file (`STATE_DIR/oauth-tokens`, kept across reboots); access tokens live only in memory and are
//!   refreshed before they expire (and after a server refused one); a rotated refresh token
//!   is stored back. A revoked one (`invalid_grant`) is [`OAuthError::SignInRevoked`].
//! - [`device`]: the device authorization grant (RFC 8628).
//! - [`browser`]: the authorization-code grant with PKCE (S256) and a loopback redirect.
//! - [`signin`]: sign-ins started over IPC, run in the background and polled for their result.
//! - [`cli`]: `mailpull-worker oauth sign-in|sign-out`: through the running worker when one
//!   serves the configuration, else in this process (refused for a service's configuration
//!   without `--local`).
//! - [`pipe`]: the command line's sign-in and sign-out through the worker's pipe.
//! - [`prompt`]: the command line's prompt lines, and opening the browser.
//! - [`urlenc`]: percent-encoding for query strings (no URL crate needed).
//!
//! **Invariant:** no token, code verifier, device code or client secret is ever logged or put
//! into an error message; `Secret` holds them.

pub mod browser;
pub mod cli;
pub mod device;
pub mod http;
pub mod pipe;
pub mod prompt;
pub mod signin;
pub mod tokens;
pub mod urlenc;

use mailpull_shared::config::{OAuth2, Profile};
use mailpull_shared::secrets::{self, Secret, SecretError};

pub use tokens::TokenCache;

/// Everything that can go wrong getting a token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OAuthError {
    #[error(
        "profile \"{profile}\" is not signed in: no OAuth refresh token stored (service's token file or OS keyring); sign in with `mailpull-worker oauth sign-in --profile {profile}` or in the Pull Manager"
    )]
    NotSignedIn { profile: String },
    #[error(
        "the OAuth sign-in of profile \"{profile}\" was revoked or has expired ({detail}); sign in again with `mailpull-worker oauth sign-in --profile {profile}` or in the Pull Manager"
    )]
    SignInRevoked { profile: String, detail: String },
    #[error("OAuth endpoint {url}: {message}")]
    Endpoint { url: String, message: String },
    #[error("OAuth endpoint {url} refused the request: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Refused {
        url: String,
        error: String,
        description: Option<String>,
    },
    #[error("profile \"{profile}\": {message}")]
    SignIn { profile: String, message: String },
    #[error(
        "profile \"{profile}\" has no OAuth configuration (auth is not xoauth2 or oauthbearer)"
    )]
    NotOAuth { profile: String },
    #[error("the system's random number generator failed")]
    Random,
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    TokenFile(#[from] secrets::TokenFileError),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsSetupError),
}

impl OAuthError {
    /// True when only a new sign-in helps (no refresh token, or it was revoked).
    pub fn needs_sign_in(&self) -> bool {
        matches!(
            self,
            OAuthError::NotSignedIn { .. } | OAuthError::SignInRevoked { .. }
        )
    }
}

/// What a token endpoint issued.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access_token: Secret,
    /// Lifetime from the moment of issue; `expires_in`, 3600 s when the endpoint gave none.
    pub expires_in: std::time::Duration,
    pub refresh_token: Option<Secret>,
}

/// The profile's OAuth settings, or [`OAuthError::NotOAuth`].
pub fn settings(profile: &Profile) -> Result<&OAuth2, OAuthError> {
    profile
        .remote
        .credentials
        .oauth2()
        .ok_or_else(|| OAuthError::NotOAuth {
            profile: profile.name.clone(),
        })
}

/// The client's parameters for a token request: `client_id` and, for confidential clients,
/// `client_secret` (read from its source now).
pub fn client_params(
    profile: &Profile,
    oauth: &OAuth2,
) -> Result<Vec<(String, Secret)>, OAuthError> {
    let mut params = vec![("client_id".to_string(), Secret::new(&oauth.client_id))];
    if let Some(source) = &oauth.client_secret {
        params.push((
            "client_secret".to_string(),
            source.read_client_secret(&profile.name)?,
        ));
    }
    Ok(params)
}

/// Stores a refresh token (sign-in or rotation): in the service's token file when this
/// worker runs as a Linux service ([`secrets::use_token_file`]), else in the keyring of the
/// account this process runs as.
pub fn store_refresh_token(profile: &str, token: &Secret) -> Result<(), OAuthError> {
    match secrets::token_file() {
        Some(file) => file.set(profile, token)?,
        None => {
            secrets::write_keyring(profile, &secrets::refresh_token_account(profile), token)?;
        }
    }
    Ok(())
}

/// The stored refresh token of `profile`, if any: the service's token file first (if in
/// use), then the OS keyring.
pub fn read_refresh_token(profile: &str) -> Result<Option<Secret>, OAuthError> {
    if let Some(file) = secrets::token_file()
        && let Some(token) = file.get(profile)?
    {
        return Ok(Some(token));
    }
    Ok(secrets::read_keyring(
        profile,
        &secrets::refresh_token_account(profile),
    )?)
}

/// Forgets the refresh token of `profile` (profile deleted, or sign-out): in the service's
/// token file (if in use) and in the OS keyring.
pub fn delete_refresh_token(profile: &str) -> Result<(), OAuthError> {
    if let Some(file) = secrets::token_file() {
        file.remove(profile)?;
    }
    secrets::delete_keyring(profile, &secrets::refresh_token_account(profile))?;
    Ok(())
}

/// Where this worker keeps refresh tokens, for messages: "the service's token file PATH,
/// kept across reboots" or "the worker's OS keyring".
pub fn refresh_token_home() -> String {
    match secrets::token_file() {
        Some(file) => file.describe(),
        None => "the worker's OS keyring".into(),
    }
}

/// Cryptographically random bytes (ring's system RNG, through rustls).
pub fn random_bytes<const N: usize>() -> Result<[u8; N], OAuthError> {
    let mut bytes = [0u8; N];
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut bytes)
        .map_err(|_| OAuthError::Random)?;
    Ok(bytes)
}

/// The result of a successful sign-in: the refresh token is stored; the access token can
/// seed the worker's cache.
pub fn finish_sign_in(profile: &Profile, tokens: &Tokens) -> Result<(), OAuthError> {
    let Some(refresh) = &tokens.refresh_token else {
        return Err(OAuthError::SignIn {
            profile: profile.name.clone(),
            message: "the provider issued no refresh token (Microsoft: the scopes need offline_access; Google: sign in with the browser flow, which asks for offline access)".into(),
        });
    };
    store_refresh_token(&profile.name, refresh)
}
