//! Login policy, pure: which mechanism to use ([`AuthMethod`], [`choose_method`] from the
//! capabilities and the greeting), how to read a refusal ([`auth_error`]: the credentials'
//! fault or the server's), and keeping the secret out of server texts ([`redact_error`]).
//! The exchanges themselves are in [`super::login`].

use super::capa::Capabilities;
use super::command::Command;
use super::error::{Pop3Error, response_code};
use super::greeting::Greeting;
use super::reply::Reply;

/// How to log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMethod {
    /// SASL PLAIN if offered, else USER/PASS if offered or CAPA is unknown, else APOP if the
    /// greeting has a timestamp, else SASL LOGIN if offered.
    #[default]
    Auto,
    /// `USER` + `PASS`.
    User,
    /// `APOP` (needs a greeting timestamp).
    Apop,
    /// `AUTH PLAIN` with an initial response (RFC 5034).
    SaslPlain,
    /// `AUTH LOGIN` (user name and password answered to two challenges).
    SaslLogin,
}

impl AuthMethod {
    /// The method's name in logs and errors.
    pub fn label(self) -> &'static str {
        match self {
            AuthMethod::Auto => "auto",
            AuthMethod::User => "USER/PASS",
            AuthMethod::Apop => "APOP",
            AuthMethod::SaslPlain => "SASL PLAIN",
            AuthMethod::SaslLogin => "SASL LOGIN",
        }
    }
}

/// The OAuth 2.0 SASL mechanism of [`super::Pop3Client::login_oauth`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthMechanism<'a> {
    /// `AUTH XOAUTH2` (Google, Microsoft).
    XOAuth2,
    /// `AUTH OAUTHBEARER` (RFC 7628) for the server `host:port`.
    OAuthBearer { host: &'a str, port: u16 },
}

impl OAuthMechanism<'_> {
    /// The SASL mechanism name.
    pub fn name(self) -> &'static str {
        match self {
            OAuthMechanism::XOAuth2 => "XOAUTH2",
            OAuthMechanism::OAuthBearer { .. } => "OAUTHBEARER",
        }
    }
}

/// The mechanism a login with `method` uses: `method` itself, or for [`AuthMethod::Auto`] the
/// choice it documents from `caps` and the greeting (`None` after a resumed session without
/// one). Never returns `Auto`.
pub fn choose_method(
    method: AuthMethod,
    caps: &Capabilities,
    greeting: Option<&Greeting>,
) -> Result<AuthMethod, Pop3Error> {
    if method != AuthMethod::Auto {
        return Ok(method);
    }
    let has_timestamp = greeting.is_some_and(|g| g.apop_timestamp.is_some());
    if caps.offers_sasl("PLAIN") {
        Ok(AuthMethod::SaslPlain)
    } else if caps.user() || !caps.is_known() {
        Ok(AuthMethod::User)
    } else if has_timestamp {
        Ok(AuthMethod::Apop)
    } else if caps.offers_sasl("LOGIN") {
        Ok(AuthMethod::SaslLogin)
    } else {
        Err(Pop3Error::Unsupported(
            "server offers no usable authentication mechanism".to_owned(),
        ))
    }
}

/// A `-ERR` to an authentication step: the credentials' fault unless the response code says
/// the mailbox is locked, logins come too often, or the server has a system problem.
pub fn auth_error(cmd: &Command, method: &str, reply: Reply) -> Pop3Error {
    let not_credentials = response_code(&reply.text).is_some_and(|code| {
        let code = code.to_ascii_uppercase();
        code == "IN-USE" || code == "LOGIN-DELAY" || code.starts_with("SYS/")
    });
    if not_credentials {
        Pop3Error::ServerErr {
            command: cmd.describe(),
            text: reply.text,
        }
    } else {
        Pop3Error::AuthFailed {
            method: method.to_owned(),
            text: reply.text,
        }
    }
}

/// Secrets shorter than this are not searched for in server texts (that would mangle every
/// text).
pub const MIN_REDACTED_LEN: usize = 3;

/// The secret to remove from server texts during a login, if it is long enough to search for.
pub fn redaction(secret: &str) -> Option<String> {
    (secret.chars().count() >= MIN_REDACTED_LEN).then(|| secret.to_owned())
}

/// Removes the secret from server texts in case the server echoed it.
pub fn redact_error(err: Pop3Error, secret: &str) -> Pop3Error {
    if secret.chars().count() < MIN_REDACTED_LEN {
        return err;
    }
    let clean = |text: String| text.replace(secret, "****");
    match err {
        Pop3Error::AuthFailed { method, text } => Pop3Error::AuthFailed {
            method,
            text: clean(text),
        },
        Pop3Error::ServerErr { command, text } => Pop3Error::ServerErr {
            command,
            text: clean(text),
        },
        Pop3Error::Protocol { during, detail } => Pop3Error::Protocol {
            during,
            detail: clean(detail),
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::super::reply::Status;
    use super::*;

    fn caps(lines: &[&str]) -> Capabilities {
        Capabilities::from_lines(lines.iter().map(|l| l.to_string()).collect())
    }

    fn auto(caps: &Capabilities, greeting: &str) -> Result<AuthMethod, Pop3Error> {
        choose_method(AuthMethod::Auto, caps, Some(&Greeting::parse(greeting)))
    }

    #[test]
    fn auto_choice_follows_the_documented_order() {
        let stamp = "ready <1.2@host>";
        let plain = "ready";
        let cases: &[(&[&str], &str, AuthMethod)] = &[
            (&["USER", "SASL LOGIN PLAIN"], stamp, AuthMethod::SaslPlain),
            (&["SASL plain"], plain, AuthMethod::SaslPlain),
            (&["USER", "SASL LOGIN"], stamp, AuthMethod::User),
            (&["SASL LOGIN", "UIDL"], stamp, AuthMethod::Apop),
            (&["SASL LOGIN", "UIDL"], plain, AuthMethod::SaslLogin),
            (&["SASL CRAM-MD5"], stamp, AuthMethod::Apop),
        ];
        for (lines, greeting, want) in cases {
            assert_eq!(
                auto(&caps(lines), greeting).expect("a method"),
                *want,
                "{lines:?} {greeting}"
            );
        }
        // CAPA refused: USER/PASS, whatever the greeting.
        assert_eq!(
            auto(&Capabilities::default(), stamp).expect("a method"),
            AuthMethod::User
        );
    }

    #[test]
    fn auto_choice_without_a_mechanism_is_unsupported() {
        for (lines, greeting) in [
            (
                &["UIDL", "SASL CRAM-MD5"][..],
                Some(Greeting::parse("ready")),
            ),
            (&[][..], None),
            (&["SASL"][..], Some(Greeting::parse("<no-at>"))),
        ] {
            let err = choose_method(AuthMethod::Auto, &caps(lines), greeting.as_ref())
                .expect_err("must fail");
            assert_eq!(
                err.to_string(),
                "unsupported: server offers no usable authentication mechanism"
            );
        }
        // A resumed session without a greeting cannot pick APOP.
        assert_eq!(
            choose_method(AuthMethod::Auto, &caps(&["SASL LOGIN"]), None).expect("a method"),
            AuthMethod::SaslLogin
        );
    }

    #[test]
    fn an_explicit_method_is_kept_whatever_the_server_offers() {
        for method in [
            AuthMethod::User,
            AuthMethod::Apop,
            AuthMethod::SaslPlain,
            AuthMethod::SaslLogin,
        ] {
            assert_eq!(
                choose_method(method, &caps(&[]), None).expect("kept"),
                method
            );
        }
    }

    fn err_reply(text: &str) -> Reply {
        Reply {
            status: Status::Err,
            text: text.to_owned(),
            body: None,
        }
    }

    #[test]
    fn refusals_blame_the_credentials_unless_the_code_says_otherwise() {
        let cmd = Command::Pass("secret".into());
        for text in ["[AUTH] wrong", "bad password", "[in-use-not] x", ""] {
            let err = auth_error(&cmd, "USER/PASS", err_reply(text));
            assert!(
                matches!(err, Pop3Error::AuthFailed { .. }),
                "{text}: {err:?}"
            );
        }
        for text in ["[IN-USE] locked", "[login-delay] wait", "[SYS/TEMP] later"] {
            let err = auth_error(&cmd, "USER/PASS", err_reply(text));
            assert!(
                matches!(err, Pop3Error::ServerErr { .. }),
                "{text}: {err:?}"
            );
            assert!(!err.to_string().contains("secret"), "{err}");
        }
    }

    #[test]
    fn redaction_removes_the_secret_only_when_long_enough() {
        let err = Pop3Error::AuthFailed {
            method: "USER/PASS".into(),
            text: "bad password hunter2 for hunter2".into(),
        };
        assert_eq!(
            redact_error(err, "hunter2").to_string(),
            "authentication failed (USER/PASS): bad password **** for ****"
        );
        let err = Pop3Error::Protocol {
            during: "PASS".into(),
            detail: "ab cd".into(),
        };
        assert!(redact_error(err, "ab").to_string().contains("ab cd"));
        assert_eq!(redaction("ab"), None);
        assert_eq!(redaction("abc").as_deref(), Some("abc"));
    }
}
