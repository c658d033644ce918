//! The authorization-code grant with PKCE (RFC 7636, S256) and a loopback redirect (RFC 8252
//! §7.3): a listener on `127.0.0.1:<free port>`, the authorization URL for the person's
//! browser, then the one redirect `GET /?code=...&state=...` is answered with a short page,
//! `state` is checked, and the code is exchanged (with the verifier) at the token endpoint.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mailpull_shared::config::{OAuthProvider, Profile, check_oauth_url};
use mailpull_shared::secrets::Secret;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::http::{Answer, OAuthHttp};
use super::{OAuthError, Tokens, urlenc};

/// Longest redirect request read.
const MAX_REQUEST: usize = 16 * 1024;

/// A started browser sign-in: open `authorization_url`; [`wait`] takes the redirect.
#[derive(Debug)]
pub struct BrowserStart {
    pub authorization_url: String,
    pub redirect_uri: String,
    listener: TcpListener,
    verifier: Secret,
    state: String,
}

/// The S256 code challenge of `verifier`.
pub fn code_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn sign_in_error(profile: &Profile, message: impl Into<String>) -> OAuthError {
    OAuthError::SignIn {
        profile: profile.name.clone(),
        message: message.into(),
    }
}

/// Binds the loopback listener and builds the authorization URL.
pub async fn start(profile: &Profile) -> Result<BrowserStart, OAuthError> {
    let oauth = super::settings(profile)?;
    let Some(endpoint) = oauth.authorization_url.as_deref() else {
        return Err(sign_in_error(
            profile,
            "the provider has no authorization endpoint; sign in with the device code instead",
        ));
    };
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.map_err(|err| {
        sign_in_error(
            profile,
            format!("cannot listen on 127.0.0.1 for the redirect: {err}"),
        )
    })?;
    let port = listener
        .local_addr()
        .map_err(|err| sign_in_error(profile, err.to_string()))?
        .port();
    let redirect_uri = format!("http://127.0.0.1:{port}/");
    let verifier = URL_SAFE_NO_PAD.encode(super::random_bytes::<32>()?);
    let state = URL_SAFE_NO_PAD.encode(super::random_bytes::<16>()?);
    let challenge = code_challenge(&verifier);
    let scope = oauth.scopes.join(" ");
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", oauth.client_id.as_str()),
        ("redirect_uri", redirect_uri.as_str()),
        ("scope", scope.as_str()),
        ("state", state.as_str()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    if oauth.provider == OAuthProvider::Google {
        // Google issues a refresh token only for offline access, and again only on consent.
        params.push(("access_type", "offline"));
        params.push(("prompt", "consent"));
    }
    let separator = if endpoint.contains('?') { '&' } else { '?' };
    let authorization_url = format!("{endpoint}{separator}{}", urlenc::query(&params));
    // The checker refuses such endpoints in the file; this is the last gate before a browser
    // (the manager's, or the person's after the CLI prints it) is sent anywhere.
    if let Err(why) = check_oauth_url(&authorization_url) {
        return Err(sign_in_error(
            profile,
            format!("the authorization URL is not opened: {why}"),
        ));
    }
    Ok(BrowserStart {
        authorization_url,
        redirect_uri,
        listener,
        verifier: Secret::new(verifier),
        state,
    })
}

/// What the redirect carried.
enum Redirect {
    Code(Secret),
    Error(String),
}

/// Waits (at most `timeout`) for the redirect, then exchanges the code.
pub async fn wait(
    http: &OAuthHttp,
    profile: &Profile,
    start: BrowserStart,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<Tokens, OAuthError> {
    let oauth = super::settings(profile)?;
    let redirect = tokio::select! {
        _ = cancel.cancelled() => return Err(sign_in_error(profile, "sign-in cancelled")),
        _ = tokio::time::sleep(timeout) => {
            return Err(sign_in_error(profile, "no answer from the browser in time; start the sign-in again"));
        }
        redirect = accept_redirect(&start.listener, &start.state) => redirect,
    };
    let code = match redirect {
        Redirect::Code(code) => code,
        Redirect::Error(message) => return Err(sign_in_error(profile, message)),
    };
    let mut form = super::client_params(profile, oauth)?;
    form.push(("grant_type".into(), Secret::new("authorization_code")));
    form.push(("code".into(), code));
    form.push(("redirect_uri".into(), Secret::new(&start.redirect_uri)));
    form.push(("code_verifier".into(), start.verifier.clone()));
    match http.post_form(&oauth.token_url, form).await? {
        Answer::Ok(object) => super::http::tokens(&oauth.token_url, &object),
        Answer::Error { error, description } => Err(OAuthError::Refused {
            url: oauth.token_url.clone(),
            error,
            description,
        }),
    }
}

/// Accepts connections until one is the redirect with our `state` (others get a 404, a
/// wrong `state` a 400 and the wait goes on: a stray local request cannot end the sign-in).
async fn accept_redirect(listener: &TcpListener, state: &str) -> Redirect {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        match tokio::time::timeout(Duration::from_secs(10), handle(stream, state)).await {
            Ok(Some(redirect)) => return redirect,
            Ok(None) | Err(_) => continue,
        }
    }
}

async fn handle(mut stream: TcpStream, state: &str) -> Option<Redirect> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 2048];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < MAX_REQUEST {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf);
    let line = head.lines().next().unwrap_or_default();
    let mut parts = line.split(' ');
    let (method, target) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if method != "GET" || path != "/" {
        respond(&mut stream, "404 Not Found", "Not found.").await;
        return None;
    }
    let params = urlenc::parse_query(query);
    let get = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    if get("state").as_deref() != Some(state) {
        debug!("loopback redirect with a wrong or missing state ignored");
        respond(
            &mut stream,
            "400 Bad Request",
            "This sign-in answer does not belong to the running sign-in (state mismatch).",
        )
        .await;
        return None;
    }
    if let Some(error) = get("error") {
        let description = get("error_description").unwrap_or_default();
        respond(
            &mut stream,
            "200 OK",
            "Sign-in failed. You can close this window.",
        )
        .await;
        let clean: String = format!("{error} {description}")
            .chars()
            .filter(|c| !c.is_control())
            .take(300)
            .collect();
        return Some(Redirect::Error(format!(
            "the provider refused the sign-in: {}",
            clean.trim()
        )));
    }
    let code = get("code").filter(|c| !c.is_empty())?;
    respond(
        &mut stream,
        "200 OK",
        "Mailpull is signed in. You can close this window.",
    )
    .await;
    Some(Redirect::Code(Secret::new(code)))
}

async fn respond(stream: &mut TcpStream, status: &str, text: &str) {
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Mailpull</title></head><body><p>{text}</p></body></html>"
    );
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailpull_shared::config::Credentials;

    /// A custom-provider profile whose authorization endpoint is `url`, set after the
    /// checker (as a profile reaching the worker some other way would be).
    fn profile_with_endpoint(url: &str) -> Profile {
        let text = "[[profile]]\nname = \"o\"\n[profile.remote]\nprotocol = \"imap\"\n\
             host = \"imap.example.com\"\nusername = \"u\"\nauth = \"xoauth2\"\n\
             [profile.remote.oauth2]\nprovider = \"custom\"\nclient_id = \"c\"\nscopes = [\"mail\"]\n\
             authorization_url = \"https://idp.example.com/authorize\"\n\
             token_url = \"https://idp.example.com/token\"\n\
             [profile.local]\nuser = \"alice\"\ndomain = \"d.example\"\n";
        let config = mailpull_shared::config::parse(text, "test.toml").expect("config");
        let mut profile = config.profiles[0].clone();
        let Credentials::OAuth2(oauth) = &mut profile.remote.credentials else {
            panic!("an OAuth profile");
        };
        oauth.authorization_url = Some(url.to_string());
        profile
    }

    #[tokio::test]
    async fn only_an_https_or_loopback_http_authorization_url_is_handed_out() {
        for url in [
            "https://idp.example.com/authorize",
            "https://idp.example.com/authorize?tenant=x",
            "http://127.0.0.1:8080/authorize",
            "http://localhost/authorize",
            "http://[::1]:9/authorize",
        ] {
            let start = start(&profile_with_endpoint(url)).await;
            let start = start.unwrap_or_else(|err| panic!("{url} refused: {err}"));
            assert!(start.authorization_url.starts_with(url));
        }
        for url in [
            "http://idp.example.com/authorize",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "ms-settings:privacy",
            "\\\\server\\share\\x.exe",
            "https://user:pw@idp.example.com/authorize",
            "https://idp.example.com/authorize\nX: y",
        ] {
            let err = start(&profile_with_endpoint(url))
                .await
                .expect_err(&format!("{url:?} must be refused"));
            assert!(err.to_string().contains("not opened"), "{url:?}: {err}");
        }
    }

    #[test]
    fn s256_matches_rfc_7636_appendix_b() {
        assert_eq!(
            code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
