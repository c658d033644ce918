//! What a profile logs in with: `remote.auth`, and either `remote.password` (a source, never
//! the password) or, for the OAuth mechanisms, `[profile.remote.oauth2]`. Never both.

use super::fields::{Errors, check_secret_source};
use super::oauth2::check_oauth2;
use crate::config::model::{AuthMethod, Credentials, Protocol};
use crate::config::raw::{RawPassword, RawRemote};
use crate::secrets::PasswordSource;

pub(super) fn check_auth(
    raw: Option<&str>,
    protocol: Protocol,
    p: Option<&str>,
    errors: &mut Errors,
) -> AuthMethod {
    match raw {
        None => AuthMethod::default(),
        Some(text) => AuthMethod::parse_for(text, protocol).unwrap_or_else(|message| {
            errors.push(p, "remote.auth", message);
            AuthMethod::default()
        }),
    }
}

/// The password source or the OAuth client of a profile that logs in with `auth`; `None`
/// (with the problems in `errors`) when either is missing or invalid.
pub(super) fn check_credentials(
    raw: &RawRemote,
    auth: AuthMethod,
    protocol: Protocol,
    p: Option<&str>,
    errors: &mut Errors,
) -> Option<Credentials> {
    if auth.is_oauth() {
        let mut ok = true;
        if raw.password.is_some() {
            errors.push(
                p,
                "remote.password",
                "an OAuth login (xoauth2, oauthbearer) uses no password; remove it (the sign-in stores a refresh token in the OS keyring)",
            );
            ok = false;
        }
        let oauth2 = match &raw.oauth2 {
            Some(oauth2) => check_oauth2(oauth2, protocol, p, errors),
            None => {
                errors.push(
                    p,
                    "remote.oauth2",
                    "missing; auth = \"xoauth2\"/\"oauthbearer\" needs a [profile.remote.oauth2] table with provider and client_id",
                );
                None
            }
        };
        oauth2.filter(|_| ok).map(Credentials::OAuth2)
    } else {
        if raw.oauth2.is_some() {
            errors.push(
                p,
                "remote.oauth2",
                "only used with auth = \"xoauth2\" or \"oauthbearer\"",
            );
        }
        check_password(raw.password.as_ref(), p, errors).map(Credentials::Password)
    }
}

fn check_password(
    raw: Option<&RawPassword>,
    p: Option<&str>,
    errors: &mut Errors,
) -> Option<PasswordSource> {
    const HOW: &str =
        "write password = { keyring = true }, { file = \"/path\" } or { env = \"VAR\" }";
    if raw.is_none() {
        errors.push(p, "remote.password", format!("missing; {HOW}"));
        return None;
    }
    check_secret_source(raw, p, "remote.password", "password", errors)
}
