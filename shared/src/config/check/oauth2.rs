//! Checks `[profile.remote.oauth2]`: the provider preset (Microsoft 365, Google) or custom
//! endpoints, the client id, the client secret's source (never inline) and the scopes. Every
//! endpoint must be an https URL, or http on a loopback address (tests, local proxies).

use super::fields::{Errors, check_secret_source, is_loopback};
use crate::config::model::{
    DEFAULT_MICROSOFT_TENANT, GOOGLE_AUTHORIZATION_URL, GOOGLE_DEVICE_AUTHORIZATION_URL,
    GOOGLE_MAIL_SCOPE, GOOGLE_TOKEN_URL, OAuth2, OAuthProvider, Protocol, microsoft_endpoint,
};
use crate::config::raw::RawOAuth2;

/// Longest accepted URL, client id or scope.
const MAX_TEXT: usize = 2048;

pub(super) fn check_oauth2(
    raw: &RawOAuth2,
    protocol: Protocol,
    p: Option<&str>,
    errors: &mut Errors,
) -> Option<OAuth2> {
    let provider = match raw.provider.as_deref().map(str::parse::<OAuthProvider>) {
        Some(Ok(provider)) => provider,
        Some(Err(message)) => {
            errors.push(p, "remote.oauth2.provider", message);
            return None;
        }
        None => {
            errors.push(
                p,
                "remote.oauth2.provider",
                "missing; write provider = \"microsoft\", \"google\" or \"custom\"",
            );
            return None;
        }
    };
    let mut ok = true;
    let client_id = match raw.client_id.as_deref().map(str::trim) {
        Some(id)
            if !id.is_empty()
                && id.len() <= MAX_TEXT
                && id.chars().all(|c| c.is_ascii_graphic()) =>
        {
            id.to_string()
        }
        Some(_) => {
            errors.push(
                p,
                "remote.oauth2.client_id",
                "must be the application (client) id: printable ASCII without spaces",
            );
            ok = false;
            String::new()
        }
        None => {
            errors.push(
                p,
                "remote.oauth2.client_id",
                "missing; the application (client) id from the provider's app registration",
            );
            ok = false;
            String::new()
        }
    };
    let client_secret = match raw.client_secret.as_ref() {
        None => None,
        some => {
            let source = check_secret_source(
                some,
                p,
                "remote.oauth2.client_secret",
                "client secret",
                errors,
            );
            ok &= source.is_some();
            source
        }
    };
    if let Some(tenant) = raw.tenant.as_deref() {
        if provider != OAuthProvider::Microsoft {
            errors.push(
                p,
                "remote.oauth2.tenant",
                "only the microsoft provider has a tenant",
            );
            ok = false;
        } else if tenant.is_empty()
            || tenant.len() > 128
            || !tenant
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        {
            errors.push(
                p,
                "remote.oauth2.tenant",
                format!(
                    "\"{tenant}\" is not a tenant (a directory id, a domain, or common, organizations, consumers)"
                ),
            );
            ok = false;
        }
    }
    let default_scopes: Vec<String> = match provider {
        OAuthProvider::Microsoft => {
            let scope = match protocol {
                Protocol::Pop3 => "https://outlook.office.com/POP.AccessAsUser.All",
                Protocol::Imap => "https://outlook.office.com/IMAP.AccessAsUser.All",
            };
            vec![scope.to_string(), "offline_access".to_string()]
        }
        OAuthProvider::Google => vec![GOOGLE_MAIL_SCOPE.to_string()],
        OAuthProvider::Custom => Vec::new(),
    };
    let scopes = match &raw.scopes {
        None if provider == OAuthProvider::Custom => {
            errors.push(
                p,
                "remote.oauth2.scopes",
                "missing; the custom provider needs the scopes to ask for",
            );
            ok = false;
            Vec::new()
        }
        None => default_scopes,
        Some(scopes) => {
            if scopes.is_empty() {
                errors.push(p, "remote.oauth2.scopes", "must name at least one scope");
                ok = false;
            }
            for scope in scopes {
                if scope.is_empty()
                    || scope.len() > MAX_TEXT
                    || !scope
                        .chars()
                        .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\')
                {
                    errors.push(
                        p,
                        "remote.oauth2.scopes",
                        format!("{scope:?} is not a scope (printable ASCII, no spaces)"),
                    );
                    ok = false;
                }
            }
            scopes.clone()
        }
    };
    let tenant = raw.tenant.as_deref().unwrap_or(DEFAULT_MICROSOFT_TENANT);
    let (device, authorization, token) = match provider {
        OAuthProvider::Microsoft => (
            Some(microsoft_endpoint(tenant, "devicecode")),
            Some(microsoft_endpoint(tenant, "authorize")),
            Some(microsoft_endpoint(tenant, "token")),
        ),
        OAuthProvider::Google => (
            Some(GOOGLE_DEVICE_AUTHORIZATION_URL.to_string()),
            Some(GOOGLE_AUTHORIZATION_URL.to_string()),
            Some(GOOGLE_TOKEN_URL.to_string()),
        ),
        OAuthProvider::Custom => (None, None, None),
    };
    let mut url = |given: &Option<String>, preset: Option<String>, field: &str| {
        let value = given.clone().or(preset)?;
        match check_url(&value) {
            Ok(()) => Some(value),
            Err(message) => {
                errors.push(p, field, message);
                ok = false;
                None
            }
        }
    };
    let device_authorization_url = url(
        &raw.device_authorization_url,
        device,
        "remote.oauth2.device_authorization_url",
    );
    let authorization_url = url(
        &raw.authorization_url,
        authorization,
        "remote.oauth2.authorization_url",
    );
    let token_url = url(&raw.token_url, token, "remote.oauth2.token_url");
    if raw.token_url.is_none() && provider == OAuthProvider::Custom {
        errors.push(
            p,
            "remote.oauth2.token_url",
            "missing; the custom provider needs token_url (and device_authorization_url and/or authorization_url)",
        );
        return None;
    }
    if provider == OAuthProvider::Custom
        && raw.device_authorization_url.is_none()
        && raw.authorization_url.is_none()
    {
        errors.push(
            p,
            "remote.oauth2",
            "the custom provider needs device_authorization_url or authorization_url to sign in",
        );
        return None;
    }
    if !ok {
        return None;
    }
    Some(OAuth2 {
        provider,
        client_id,
        client_secret,
        scopes,
        device_authorization_url,
        authorization_url,
        token_url: token_url?,
    })
}

/// An endpoint URL: `https://host[:port]/path`, or `http://` to a loopback host only.
/// An OAuth endpoint must be https, or plain http to a loopback address only; no
/// credentials in it, no control characters or spaces.
pub fn check_url(url: &str) -> Result<(), String> {
    if url.len() > MAX_TEXT || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{url:?} is not a URL"));
    }
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("\"{url}\" is not a URL (write https://host/path)"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') {
        return Err(format!("\"{url}\" has no host (or carries credentials)"));
    }
    let host = if let Some(bracketed) = authority.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or_default()
    } else {
        authority
            .rsplit_once(':')
            .map_or(authority, |(host, _)| host)
    };
    match scheme.to_ascii_lowercase().as_str() {
        "https" => Ok(()),
        "http" if is_loopback(host) => Ok(()),
        "http" => Err(format!(
            "\"{url}\" must use https (plain http only to 127.0.0.1, localhost or [::1])"
        )),
        other => Err(format!("\"{url}\": scheme {other} is not https")),
    }
}

#[cfg(test)]
mod tests {
    use super::check_url;

    #[test]
    fn urls_must_be_https_except_loopback() {
        assert!(check_url("https://login.microsoftonline.com/common/oauth2/v2.0/token").is_ok());
        assert!(check_url("http://127.0.0.1:8080/token").is_ok());
        assert!(check_url("http://localhost/token").is_ok());
        assert!(check_url("http://[::1]:9/token").is_ok());
        assert!(check_url("http://example.com/token").is_err());
        assert!(check_url("ftp://example.com/token").is_err());
        assert!(check_url("https://user:pw@example.com/").is_err());
        assert!(check_url("example.com/token").is_err());
        assert!(check_url("https:///token").is_err());
    }
}
