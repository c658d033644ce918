//! The login exchanges of a POP3 session: USER/PASS, APOP, SASL PLAIN and LOGIN, and the
//! OAuth 2.0 mechanisms XOAUTH2 and OAUTHBEARER, as command/reply sequences over the
//! [`Pop3Client`] engine. Which mechanism to use and how to read a refusal is decided by the
//! pure [`super::auth`]; the payloads come from [`super::command`] and [`crate::sasl`].

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use tokio::io::{AsyncRead, AsyncWrite};
use tracing::debug;

use super::auth::{AuthMethod, OAuthMechanism, auth_error, choose_method, redact_error, redaction};
use super::capa::Capabilities;
use super::client::Pop3Client;
use super::command::{
    Command, apop_digest, check_argument, initial_response_fits, sasl_login_payload,
    sasl_plain_payload,
};
use super::error::Pop3Error;
use super::reply::{Reply, Status, show_bytes};

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Pop3Client<S> {
    /// Logs in with `method` (see [`AuthMethod::Auto`] for the automatic choice, which uses
    /// `caps` and the greeting). A refusal of the credentials is
    /// [`Pop3Error::AuthFailed`]; a `-ERR` with response code `IN-USE`, `LOGIN-DELAY` or
    /// `SYS/...` is a [`Pop3Error::ServerErr`] instead (not the credentials' fault).
    pub async fn login(
        &mut self,
        user: &str,
        password: &str,
        method: AuthMethod,
        caps: &Capabilities,
    ) -> Result<(), Pop3Error> {
        let method = choose_method(method, caps, self.greeting())?;
        debug!(method = method.label(), "POP3 login");
        self.set_redact(redaction(password));
        let result = match method {
            AuthMethod::User => self.login_user(user, password).await,
            AuthMethod::Apop => self.login_apop(user, password).await,
            AuthMethod::SaslPlain => self.login_plain(user, password).await,
            AuthMethod::SaslLogin | AuthMethod::Auto => self.login_sasl_login(user, password).await,
        };
        self.set_redact(None);
        result.map_err(|e| redact_error(e, password))
    }

    /// Logs in with an OAuth 2.0 access token (`AUTH XOAUTH2` or `AUTH OAUTHBEARER`). The
    /// payload goes on the command line when it fits in 255 bytes, otherwise after the
    /// server's empty challenge (RFC 5034; Microsoft's tokens never fit). A refused token
    /// comes back as an error challenge (base64 JSON): it is answered as the mechanism wants
    /// and the final `-ERR` is [`Pop3Error::AuthFailed`], with the JSON's `status` in its
    /// text. The token never appears in logs or errors.
    pub async fn login_oauth(
        &mut self,
        user: &str,
        token: &str,
        mechanism: OAuthMechanism<'_>,
    ) -> Result<(), Pop3Error> {
        check_argument(user, "user name")?;
        check_argument(token, "access token")?;
        let name = mechanism.name();
        debug!(method = name, "POP3 login");
        let raw = match mechanism {
            OAuthMechanism::XOAuth2 => crate::sasl::xoauth2_payload(user, token),
            OAuthMechanism::OAuthBearer { host, port } => {
                crate::sasl::oauthbearer_payload(user, host, port, token)
            }
        };
        let payload = BASE64.encode(raw);
        self.set_redact(redaction(token));
        let result = self
            .login_oauth_exchange(name, payload, mechanism != OAuthMechanism::XOAuth2)
            .await;
        self.set_redact(None);
        result.map_err(|e| redact_error(e, token))
    }

    async fn login_oauth_exchange(
        &mut self,
        name: &'static str,
        payload: String,
        oauthbearer: bool,
    ) -> Result<(), Pop3Error> {
        let method = format!("SASL {name}");
        let (cmd, reply) = if initial_response_fits(name, &payload) {
            let cmd = Command::AuthOAuth {
                mechanism: name,
                initial_response: Some(payload),
            };
            let reply = self.command(&cmd).await?;
            (cmd, reply)
        } else {
            let cmd = Command::AuthOAuth {
                mechanism: name,
                initial_response: None,
            };
            let reply = self.command(&cmd).await?;
            self.expect_challenge(&cmd, &method, reply)?;
            let cmd = Command::SaslResponse(payload);
            let reply = self.command(&cmd).await?;
            (cmd, reply)
        };
        match reply.status {
            Status::Ok => Ok(()),
            Status::Err => Err(auth_error(&cmd, &method, reply)),
            Status::Continuation => {
                // The error challenge: base64 JSON saying why the token was refused.
                let why = BASE64
                    .decode(reply.text.trim())
                    .ok()
                    .and_then(|json| crate::sasl::describe_error_challenge(&json));
                let answer = Command::SaslResponse(
                    BASE64.encode(crate::sasl::error_challenge_answer(oauthbearer)),
                );
                let mut last = self.command(&answer).await?;
                match last.status {
                    Status::Ok => Ok(()),
                    Status::Err => {
                        if let Some(why) = why {
                            last.text = format!("{} ({why})", last.text);
                        }
                        Err(auth_error(&answer, &method, last))
                    }
                    Status::Continuation => {
                        let cancel = self.command(&Command::SaslCancel).await?;
                        debug!(status = ?cancel.status, "POP3 SASL exchange cancelled");
                        Err(Pop3Error::Protocol {
                            during: answer.describe(),
                            detail: "a second SASL challenge after the error challenge".into(),
                        })
                    }
                }
            }
        }
    }

    async fn login_user(&mut self, user: &str, password: &str) -> Result<(), Pop3Error> {
        let method = AuthMethod::User.label();
        let cmd = Command::User(user.to_owned());
        // Check the password before sending anything.
        check_argument(password, "password")?;
        let reply = self.command_single(&cmd).await?;
        if reply.status != Status::Ok {
            return Err(auth_error(&cmd, method, reply));
        }
        let cmd = Command::Pass(password.to_owned());
        let reply = self.command_single(&cmd).await?;
        match reply.status {
            Status::Ok => Ok(()),
            _ => Err(auth_error(&cmd, method, reply)),
        }
    }

    async fn login_apop(&mut self, user: &str, password: &str) -> Result<(), Pop3Error> {
        check_argument(user, "user name")?;
        check_argument(password, "password")?;
        let Some(timestamp) = self.greeting().and_then(|g| g.apop_timestamp.clone()) else {
            return Err(Pop3Error::Unsupported(
                "APOP needs a timestamp in the server greeting and there is none".to_owned(),
            ));
        };
        let cmd = Command::Apop {
            user: user.to_owned(),
            digest: apop_digest(&timestamp, password),
        };
        let reply = self.command_single(&cmd).await?;
        match reply.status {
            Status::Ok => Ok(()),
            _ => Err(auth_error(&cmd, AuthMethod::Apop.label(), reply)),
        }
    }

    async fn login_plain(&mut self, user: &str, password: &str) -> Result<(), Pop3Error> {
        let method = AuthMethod::SaslPlain.label();
        let payload = sasl_plain_payload(user, password)?;
        if initial_response_fits("PLAIN", &payload) {
            let cmd = Command::AuthPlain {
                initial_response: Some(payload),
            };
            let reply = self.command(&cmd).await?;
            return self.finish_sasl(&cmd, method, reply).await;
        }
        // RFC 5034: too long for the command line; answer the empty challenge instead.
        let cmd = Command::AuthPlain {
            initial_response: None,
        };
        let reply = self.command(&cmd).await?;
        self.expect_challenge(&cmd, method, reply)?;
        let cmd = Command::SaslResponse(payload);
        let reply = self.command(&cmd).await?;
        self.finish_sasl(&cmd, method, reply).await
    }

    async fn login_sasl_login(&mut self, user: &str, password: &str) -> Result<(), Pop3Error> {
        let method = AuthMethod::SaslLogin.label();
        let user_payload = sasl_login_payload(user, "user name")?;
        let password_payload = sasl_login_payload(password, "password")?;
        let cmd = Command::AuthLogin;
        let reply = self.command(&cmd).await?;
        self.expect_challenge(&cmd, method, reply)?;
        let cmd = Command::SaslResponse(user_payload);
        let reply = self.command(&cmd).await?;
        self.expect_challenge(&cmd, method, reply)?;
        let cmd = Command::SaslResponse(password_payload);
        let reply = self.command(&cmd).await?;
        self.finish_sasl(&cmd, method, reply).await
    }

    /// A SASL step that must be answered with a challenge (`+ ...`).
    fn expect_challenge(
        &mut self,
        cmd: &Command,
        method: &str,
        reply: Reply,
    ) -> Result<(), Pop3Error> {
        match reply.status {
            Status::Continuation => Ok(()),
            Status::Err => Err(auth_error(cmd, method, reply)),
            Status::Ok => {
                // The server thinks the exchange is over while we have more to send.
                let err = Pop3Error::Protocol {
                    during: cmd.describe(),
                    detail: format!(
                        "expected a SASL challenge, got +OK {}",
                        show_bytes(reply.text.as_bytes())
                    ),
                };
                self.mark_broken(&err);
                Err(err)
            }
        }
    }

    /// The last SASL step: `+OK` is success, `-ERR` refusal; a further challenge is
    /// cancelled with `*` and reported as a protocol error.
    async fn finish_sasl(
        &mut self,
        cmd: &Command,
        method: &str,
        reply: Reply,
    ) -> Result<(), Pop3Error> {
        match reply.status {
            Status::Ok => Ok(()),
            Status::Err => Err(auth_error(cmd, method, reply)),
            Status::Continuation => {
                let detail = format!(
                    "unexpected further SASL challenge {}",
                    show_bytes(reply.text.as_bytes())
                );
                let cancel = self.command(&Command::SaslCancel).await?;
                debug!(status = ?cancel.status, "POP3 SASL exchange cancelled");
                Err(Pop3Error::Protocol {
                    during: cmd.describe(),
                    detail,
                })
            }
        }
    }
}
