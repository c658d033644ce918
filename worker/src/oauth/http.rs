//! The token endpoint client: form POSTs over ureq (blocking, run on tokio's blocking pool)
//! with rustls + ring and the system's roots, no redirects, a 30 s budget per request.
//! Answers are JSON; an OAuth error answer (`{"error": "...", "error_description": ...}`) is
//! returned as [`Answer::Error`] so that callers can act on the code (`authorization_pending`,
//! `slow_down`, `invalid_grant`, ...).

use std::sync::Arc;
use std::time::Duration;

use mailpull_shared::secrets::Secret;
use serde_json::{Map, Value};

use super::{OAuthError, Tokens};

/// Budget of one request (connect, send, answer).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest answer read.
const MAX_ANSWER_BYTES: u64 = 256 * 1024;

/// What an endpoint answered.
#[derive(Debug)]
pub enum Answer {
    /// 2xx with a JSON object.
    Ok(Map<String, Value>),
    /// An OAuth error (RFC 6749 §5.2, RFC 8628 §3.5).
    Error {
        error: String,
        description: Option<String>,
    },
}

/// A shareable HTTP client for OAuth endpoints.
#[derive(Clone)]
pub struct OAuthHttp {
    agent: ureq::Agent,
}

impl std::fmt::Debug for OAuthHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OAuthHttp")
    }
}

impl OAuthHttp {
    /// A client trusting the system's roots. Without any (a bare container) https endpoints
    /// fail their handshake with an unknown-issuer error; loopback http still works.
    pub fn new() -> Result<Self, OAuthError> {
        let system = match crate::tls::root_certificates(None) {
            Ok(certs) => certs,
            Err(crate::tls::TlsSetupError::NoRoots) => Vec::new(),
            Err(err) => return Err(err.into()),
        };
        let roots: Vec<ureq::tls::Certificate<'static>> = system
            .iter()
            .map(|der| ureq::tls::Certificate::from_der(der.as_ref()).to_owned())
            .collect();
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .root_certs(ureq::tls::RootCerts::Specific(Arc::new(roots)))
            .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .build();
        let agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(REQUEST_TIMEOUT))
            .user_agent(concat!("mailpull/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Ok(OAuthHttp { agent })
    }

    /// POSTs `form` (`application/x-www-form-urlencoded`) to `url`.
    pub async fn post_form(
        &self,
        url: &str,
        form: Vec<(String, Secret)>,
    ) -> Result<Answer, OAuthError> {
        let agent = self.agent.clone();
        let target = url.to_string();
        let result = tokio::task::spawn_blocking(move || {
            let pairs = form.iter().map(|(k, v)| (k.as_str(), v.expose()));
            let response = agent
                .post(&target)
                .header("Accept", "application/json")
                .send_form(pairs)
                .map_err(|err| err.to_string())?;
            let status = response.status().as_u16();
            let body = response
                .into_body()
                .with_config()
                .limit(MAX_ANSWER_BYTES)
                .read_to_string()
                .map_err(|err| err.to_string())?;
            Ok::<_, String>((status, body))
        })
        .await;
        let (status, body) = match result {
            Ok(Ok(answer)) => answer,
            Ok(Err(message)) => {
                return Err(OAuthError::Endpoint {
                    url: url.to_string(),
                    message,
                });
            }
            Err(join) => {
                return Err(OAuthError::Endpoint {
                    url: url.to_string(),
                    message: format!("request task failed: {join}"),
                });
            }
        };
        parse_answer(url, status, &body)
    }
}

/// Reads an endpoint's answer.
pub fn parse_answer(url: &str, status: u16, body: &str) -> Result<Answer, OAuthError> {
    let json: Option<Map<String, Value>> = serde_json::from_str(body).ok();
    match json {
        Some(object) if object.get("error").and_then(Value::as_str).is_some() => {
            let text = |key: &str| {
                object
                    .get(key)
                    .and_then(Value::as_str)
                    .map(|s| s.chars().filter(|c| !c.is_control()).take(300).collect())
            };
            Ok(Answer::Error {
                error: text("error").unwrap_or_default(),
                description: text("error_description"),
            })
        }
        Some(object) if (200..300).contains(&status) => Ok(Answer::Ok(object)),
        _ => Err(OAuthError::Endpoint {
            url: url.to_string(),
            message: format!(
                "HTTP {status} without an OAuth JSON answer{}",
                if body.is_empty() {
                    ""
                } else {
                    " (body not shown)"
                }
            ),
        }),
    }
}

/// A string field of an answer.
pub fn text(object: &Map<String, Value>, key: &str) -> Option<String> {
    object.get(key).and_then(Value::as_str).map(str::to_string)
}

/// A number field (some endpoints send numbers as strings).
pub fn number(object: &Map<String, Value>, key: &str) -> Option<u64> {
    match object.get(key)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Tokens from a token endpoint's success answer.
pub fn tokens(url: &str, object: &Map<String, Value>) -> Result<Tokens, OAuthError> {
    let access = text(object, "access_token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| OAuthError::Endpoint {
            url: url.to_string(),
            message: "the answer holds no access_token".into(),
        })?;
    if let Some(kind) = text(object, "token_type")
        && !kind.eq_ignore_ascii_case("bearer")
    {
        return Err(OAuthError::Endpoint {
            url: url.to_string(),
            message: format!("token_type {kind:?} is not Bearer"),
        });
    }
    Ok(Tokens {
        access_token: Secret::new(access),
        expires_in: Duration::from_secs(number(object, "expires_in").unwrap_or(3600)),
        refresh_token: text(object, "refresh_token")
            .filter(|t| !t.is_empty())
            .map(Secret::new),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read() {
        let ok = parse_answer(
            "u",
            200,
            r#"{"access_token":"a","token_type":"Bearer","expires_in":"60","refresh_token":"r"}"#,
        )
        .expect("ok");
        let Answer::Ok(object) = ok else {
            panic!("not ok")
        };
        let issued = tokens("u", &object).expect("tokens");
        assert_eq!(issued.access_token.expose(), "a");
        assert_eq!(issued.expires_in, Duration::from_secs(60));
        assert_eq!(
            issued
                .refresh_token
                .map(|t| t.expose().to_string())
                .as_deref(),
            Some("r")
        );

        let err = parse_answer(
            "u",
            400,
            r#"{"error":"invalid_grant","error_description":"AADSTS70008: expired"}"#,
        )
        .expect("answer");
        assert!(
            matches!(err, Answer::Error { error, description: Some(d) } if error == "invalid_grant" && d.contains("AADSTS70008"))
        );

        let broken = parse_answer("https://idp/token", 502, "<html>secret</html>").unwrap_err();
        assert!(broken.to_string().contains("HTTP 502"));
        assert!(!broken.to_string().contains("secret"));

        let Answer::Ok(mac) =
            parse_answer("u", 200, r#"{"access_token":"a","token_type":"mac"}"#).expect("ok")
        else {
            panic!("not ok")
        };
        assert!(tokens("u", &mac).is_err());
    }
}
