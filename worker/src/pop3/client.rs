//! The async POP3 client: sends [`Command`]s over any tokio stream and drives the sans-IO
//! [`ReplyParser`] on what comes back, with a timeout on every read and write.
//!
//! Typical session (the TCP connect and TLS handshake are the caller's job):
//! ```ignore
//! let mut client = Pop3Client::connect(tcp, limits).await?;
//! let caps = client.capa().await?;
//! // optional STLS: take the raw stream back, handshake, resume (and re-read CAPA)
//! client.login(user, password, AuthMethod::Auto, &caps).await?;
//! let uidls = client.uidl_all().await?;
//! let message = client.retr(1).await?;
//! client.dele(1).await?;
//! client.quit().await?; // deletions are committed only now
//! ```

use std::fmt;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::timeout;
use tracing::debug;

use super::command::{
    Command, apop_digest, check_argument, initial_response_fits, sasl_login_payload,
    sasl_plain_payload,
};
use super::error::{Pop3Error, response_code};
use super::reply::{
    Parsed, Reply, ReplyKind, ReplyLimits, ReplyParser, Status, body_lines, show_bytes,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

/// How many bytes one read asks for.
const READ_CHUNK: usize = 64 * 1024;

/// A reply still incomplete after one `read_timeout` must have brought at least this many
/// bytes in that time: a server that drips a byte every second never trips the per-read
/// timeout, and would otherwise hold the connection (and a connection slot) for days.
pub const MIN_PROGRESS_BYTES: u64 = 1024;

/// Longest UIDL value RFC 1939 allows.
const MAX_UIDL_LEN: usize = 70;

/// Timeouts and size limits of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Timeout of every single read and write (not of a whole reply).
    pub read_timeout: Duration,
    /// Maximum status line length in bytes.
    pub max_status_line: usize,
    /// Maximum data line length in bytes (message lines, UIDL/LIST/CAPA lines).
    pub max_data_line: usize,
    /// Maximum size of a message (any multi-line reply body) in bytes.
    pub max_message_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            read_timeout: Duration::from_secs(60),
            max_status_line: 4 * 1024,
            max_data_line: 1024 * 1024,
            max_message_bytes: 128 * 1024 * 1024,
        }
    }
}

impl Limits {
    fn reply_limits(&self) -> ReplyLimits {
        ReplyLimits {
            max_status_line: self.max_status_line,
            max_data_line: self.max_data_line,
            max_body: self.max_message_bytes,
        }
    }
}

/// The server's greeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greeting {
    /// The text after `+OK`.
    pub text: String,
    /// The APOP timestamp (`<...@...>`, brackets included) if the greeting has one.
    pub apop_timestamp: Option<String>,
}

impl Greeting {
    /// Parses the greeting text (after `+OK`), finding the APOP timestamp: the first
    /// `<...>` holding an `@` and only printable ASCII.
    pub fn parse(text: &str) -> Greeting {
        let apop_timestamp = text.find('<').and_then(|start| {
            let end = start + text[start..].find('>')?;
            let stamp = &text[start..=end];
            let inner = &stamp[1..stamp.len() - 1];
            let valid = inner.contains('@')
                && inner
                    .bytes()
                    .all(|b| (0x21..=0x7e).contains(&b) && b != b'<');
            valid.then(|| stamp.to_owned())
        });
        Greeting {
            text: text.to_owned(),
            apop_timestamp,
        }
    }
}

/// The server's CAPA answer (RFC 2449). [`Capabilities::default()`] stands for "unknown"
/// (the server refused CAPA).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    lines: Vec<String>,
    known: bool,
}

impl Capabilities {
    /// Capabilities from CAPA's lines.
    pub fn from_lines(lines: Vec<String>) -> Self {
        Capabilities { lines, known: true }
    }

    /// Whether the server answered CAPA (false for [`Capabilities::default()`]).
    pub fn is_known(&self) -> bool {
        self.known
    }

    /// The raw capability lines.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// The arguments of capability `name` (case-insensitive), if the server lists it.
    pub fn get(&self, name: &str) -> Option<Vec<&str>> {
        self.lines.iter().find_map(|line| {
            let mut words = line.split_whitespace();
            let first = words.next()?;
            first.eq_ignore_ascii_case(name).then(|| words.collect())
        })
    }

    /// Whether the server lists capability `name` (case-insensitive).
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// STLS (RFC 2595).
    pub fn stls(&self) -> bool {
        self.has("STLS")
    }

    /// UIDL.
    pub fn uidl(&self) -> bool {
        self.has("UIDL")
    }

    /// USER/PASS login.
    pub fn user(&self) -> bool {
        self.has("USER")
    }

    /// PIPELINING.
    pub fn pipelining(&self) -> bool {
        self.has("PIPELINING")
    }

    /// The SASL mechanisms offered, upper-cased.
    pub fn sasl_mechanisms(&self) -> Vec<String> {
        self.get("SASL")
            .unwrap_or_default()
            .into_iter()
            .map(str::to_ascii_uppercase)
            .collect()
    }

    /// Whether SASL mechanism `mechanism` is offered (case-insensitive).
    pub fn offers_sasl(&self, mechanism: &str) -> bool {
        self.get("SASL")
            .unwrap_or_default()
            .iter()
            .any(|m| m.eq_ignore_ascii_case(mechanism))
    }
}

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

/// The OAuth 2.0 SASL mechanism of [`Pop3Client::login_oauth`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthMechanism<'a> {
    /// `AUTH XOAUTH2` (Google, Microsoft).
    XOAuth2,
    /// `AUTH OAUTHBEARER` (RFC 7628) for the server `host:port`.
    OAuthBearer { host: &'a str, port: u16 },
}

impl OAuthMechanism<'_> {
    fn name(self) -> &'static str {
        match self {
            OAuthMechanism::XOAuth2 => "XOAUTH2",
            OAuthMechanism::OAuthBearer { .. } => "OAUTHBEARER",
        }
    }
}

impl AuthMethod {
    fn label(self) -> &'static str {
        match self {
            AuthMethod::Auto => "auto",
            AuthMethod::User => "USER/PASS",
            AuthMethod::Apop => "APOP",
            AuthMethod::SaslPlain => "SASL PLAIN",
            AuthMethod::SaslLogin => "SASL LOGIN",
        }
    }
}

/// A POP3 session over stream `S`.
pub struct Pop3Client<S> {
    stream: S,
    limits: Limits,
    buf: Vec<u8>,
    /// Unparsed bytes received are `buf[start..end]`.
    start: usize,
    end: usize,
    greeting: Option<Greeting>,
    /// Set after an error that leaves the connection out of step.
    broken: Option<String>,
    /// During login: the password, removed from logged server texts in case the server
    /// echoes it. Never printed.
    redact: Option<String>,
}

impl<S> fmt::Debug for Pop3Client<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pop3Client")
            .field("limits", &self.limits)
            .field("greeting", &self.greeting)
            .field("buffered", &(self.end - self.start))
            .field("broken", &self.broken)
            .finish_non_exhaustive()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Pop3Client<S> {
    /// Starts a session: reads the greeting. A `-ERR` greeting is an error.
    pub async fn connect(stream: S, limits: Limits) -> Result<Self, Pop3Error> {
        let mut client = Self::resume(stream, limits);
        let reply = client
            .read_reply(ReplyKind::SingleLine, "greeting", "the server greeting")
            .await?;
        match reply.status {
            Status::Ok => {
                client.greeting = Some(Greeting::parse(&reply.text));
                Ok(client)
            }
            Status::Err => Err(Pop3Error::ServerErr {
                command: "greeting".to_owned(),
                text: reply.text,
            }),
            Status::Continuation => Err(Pop3Error::Protocol {
                during: "greeting".to_owned(),
                detail: format!("greeting is a SASL continuation: \"+ {}\"", reply.text),
            }),
        }
    }

    /// Continues a session on a new stream without reading a greeting, e.g. after the TLS
    /// handshake that follows [`Pop3Client::stls`]. Re-read [`Pop3Client::capa`] afterwards
    /// (RFC 2595: capabilities may change).
    pub fn resume(stream: S, limits: Limits) -> Self {
        Pop3Client {
            stream,
            limits,
            buf: vec![0; READ_CHUNK],
            start: 0,
            end: 0,
            greeting: None,
            broken: None,
            redact: None,
        }
    }

    /// Carries the greeting of the plain-text connection over to a resumed session, so that
    /// APOP can use its timestamp.
    pub fn with_greeting(mut self, greeting: Option<Greeting>) -> Self {
        self.greeting = greeting;
        self
    }

    /// The server greeting (`None` after [`Pop3Client::resume`]).
    pub fn greeting(&self) -> Option<&Greeting> {
        self.greeting.as_ref()
    }

    /// The session's limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// `CAPA`. A server that answers `-ERR` gets [`Capabilities::default()`] (unknown).
    pub async fn capa(&mut self) -> Result<Capabilities, Pop3Error> {
        let reply = self.command(&Command::Capa).await?;
        match reply.status {
            Status::Err => Ok(Capabilities::default()),
            _ => {
                let body = reply.body.unwrap_or_default();
                let lines = body_lines(&body)
                    .map(|l| String::from_utf8_lossy(l).trim().to_owned())
                    .filter(|l| !l.is_empty())
                    .collect();
                Ok(Capabilities::from_lines(lines))
            }
        }
    }

    /// `STLS`. On `+OK` returns the raw stream for the TLS handshake. Refuses (as a protocol
    /// error) a server that sent bytes after the `+OK`: they would be taken as coming from
    /// inside TLS (STARTTLS response injection, CVE-2011-0411 style).
    pub async fn stls(mut self) -> Result<S, Pop3Error> {
        self.expect_ok(&Command::Stls).await?;
        if self.start < self.end {
            return Err(Pop3Error::Protocol {
                during: "STLS".to_owned(),
                detail: format!(
                    "server sent {} bytes after +OK before the TLS handshake (possible \
                     response injection): {}",
                    self.end - self.start,
                    show_bytes(&self.buf[self.start..self.end])
                ),
            });
        }
        Ok(self.stream)
    }

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
        let method = match method {
            AuthMethod::Auto => self.choose_method(caps)?,
            other => other,
        };
        debug!(method = method.label(), "POP3 login");
        self.redact = (password.chars().count() >= MIN_REDACTED_LEN).then(|| password.to_owned());
        let result = match method {
            AuthMethod::User => self.login_user(user, password).await,
            AuthMethod::Apop => self.login_apop(user, password).await,
            AuthMethod::SaslPlain => self.login_plain(user, password).await,
            AuthMethod::SaslLogin | AuthMethod::Auto => self.login_sasl_login(user, password).await,
        };
        self.redact = None;
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
        self.redact = (token.chars().count() >= MIN_REDACTED_LEN).then(|| token.to_owned());
        let result = self
            .login_oauth_exchange(name, payload, mechanism != OAuthMechanism::XOAuth2)
            .await;
        self.redact = None;
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

    fn choose_method(&self, caps: &Capabilities) -> Result<AuthMethod, Pop3Error> {
        let has_timestamp = self
            .greeting
            .as_ref()
            .is_some_and(|g| g.apop_timestamp.is_some());
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
        let Some(timestamp) = self
            .greeting
            .as_ref()
            .and_then(|g| g.apop_timestamp.clone())
        else {
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

    /// `STAT`: (message count, mailbox size in bytes).
    pub async fn stat(&mut self) -> Result<(u32, u64), Pop3Error> {
        let reply = self.expect_ok(&Command::Stat).await?;
        let mut words = reply.text.split_whitespace();
        let parsed = (|| {
            let count = parse_u32(words.next()?.as_bytes())?;
            let size = parse_u64(words.next()?.as_bytes())?;
            Some((count, size))
        })();
        parsed.ok_or_else(|| Pop3Error::Protocol {
            during: "STAT".to_owned(),
            detail: format!(
                "expected \"+OK count size\", got +OK {}",
                show_bytes(reply.text.as_bytes())
            ),
        })
    }

    /// `UIDL` for all messages: (message number, unique id) pairs. `None` when the server
    /// answers `-ERR` (no UIDL support). Malformed lines and duplicate ids are protocol
    /// errors.
    pub async fn uidl_all(&mut self) -> Result<Option<Vec<(u32, String)>>, Pop3Error> {
        let reply = self.command(&Command::Uidl(None)).await?;
        match reply.status {
            Status::Err => Ok(None),
            _ => parse_uidl_body(&reply.body.unwrap_or_default()).map(Some),
        }
    }

    /// `LIST` for all messages: (message number, size in bytes) pairs.
    pub async fn list_all(&mut self) -> Result<Vec<(u32, u64)>, Pop3Error> {
        let reply = self.expect_ok(&Command::List(None)).await?;
        parse_list_body(&reply.body.unwrap_or_default())
    }

    /// `RETR n`: the message, dot-unstuffed, with CRLF line ends.
    ///
    /// Bytes that arrived after the reply's final `.`, unasked and not the start of a status
    /// line, mean the server did not dot-stuff a line that is a lone `.`: what we parsed is a
    /// truncated message and the rest is still coming. That is a protocol error (and the
    /// connection is not used again), never a short message delivered.
    pub async fn retr(&mut self, msg: u32) -> Result<Vec<u8>, Pop3Error> {
        self.retr_sized(msg, None, 0).await
    }

    /// `RETR n` for a message whose size LIST announced: the buffer is sized up front (plus
    /// `spare` bytes the caller will add, such as a trace header) instead of growing by
    /// doubling, which for large messages halves the memory and saves the copies. The size
    /// is only a hint: a message of another size is read all the same.
    pub async fn retr_sized(
        &mut self,
        msg: u32,
        size: Option<u64>,
        spare: usize,
    ) -> Result<Vec<u8>, Pop3Error> {
        let cmd = Command::Retr(msg);
        self.send(&cmd).await?;
        let during = cmd.describe();
        let waiting_for = format!("reply to {during}");
        let hint = size.map(|s| s.saturating_add(spare as u64));
        let reply = self
            .read_reply_hinted(cmd.reply_kind(), &during, &waiting_for, hint)
            .await?;
        match reply.status {
            Status::Ok => {
                if self.start < self.end && !looks_like_status(&self.buf[self.start..self.end]) {
                    let err = Pop3Error::Protocol {
                        during: during.clone(),
                        detail: format!(
                            "server sent {} more bytes after the end of the message (a \".\" line \
                             not dot-stuffed?), the message would be truncated: {}",
                            self.end - self.start,
                            show_bytes(&self.buf[self.start..self.end])
                        ),
                    };
                    self.mark_broken(&err);
                    return Err(err);
                }
                Ok(reply.body.unwrap_or_default())
            }
            Status::Err => Err(Pop3Error::ServerErr {
                command: during,
                text: reply.text,
            }),
            Status::Continuation => {
                let err = Pop3Error::Protocol {
                    during: during.clone(),
                    detail: format!(
                        "unexpected SASL continuation \"+ {}\"",
                        reply.text.escape_debug()
                    ),
                };
                self.mark_broken(&err);
                Err(err)
            }
        }
    }

    /// `DELE n`: marks a message deleted (committed by a successful [`Pop3Client::quit`]).
    pub async fn dele(&mut self, msg: u32) -> Result<(), Pop3Error> {
        self.expect_ok(&Command::Dele(msg)).await.map(drop)
    }

    /// `RSET`: unmarks all deletions of this session.
    pub async fn rset(&mut self) -> Result<(), Pop3Error> {
        self.expect_ok(&Command::Rset).await.map(drop)
    }

    /// `NOOP`.
    pub async fn noop(&mut self) -> Result<(), Pop3Error> {
        self.expect_ok(&Command::Noop).await.map(drop)
    }

    /// `QUIT`. The server commits deletions only when it answers `+OK`; any error here means
    /// the deletions of this session may not have happened.
    pub async fn quit(mut self) -> Result<(), Pop3Error> {
        self.expect_ok(&Command::Quit).await?;
        // Best effort: lets TLS send close_notify; the deletions are already committed.
        let _ = timeout(self.limits.read_timeout, self.stream.shutdown()).await;
        Ok(())
    }

    /// Sends `cmd` and reads its reply, whatever its status.
    async fn command(&mut self, cmd: &Command) -> Result<Reply, Pop3Error> {
        self.send(cmd).await?;
        let during = cmd.describe();
        let waiting_for = format!("reply to {during}");
        self.read_reply(cmd.reply_kind(), &during, &waiting_for)
            .await
    }

    /// Like [`Self::command`] for a command whose reply must not be a SASL challenge.
    async fn command_single(&mut self, cmd: &Command) -> Result<Reply, Pop3Error> {
        let reply = self.command(cmd).await?;
        if reply.status == Status::Continuation {
            let err = Pop3Error::Protocol {
                during: cmd.describe(),
                detail: format!(
                    "unexpected SASL continuation \"+ {}\"",
                    reply.text.escape_debug()
                ),
            };
            self.mark_broken(&err);
            return Err(err);
        }
        Ok(reply)
    }

    /// Sends `cmd` and requires `+OK`.
    async fn expect_ok(&mut self, cmd: &Command) -> Result<Reply, Pop3Error> {
        let reply = self.command_single(cmd).await?;
        match reply.status {
            Status::Ok => Ok(reply),
            _ => Err(Pop3Error::ServerErr {
                command: cmd.describe(),
                text: reply.text,
            }),
        }
    }

    /// Remembers that the connection is out of step (the text is redacted like errors).
    fn mark_broken(&mut self, err: &Pop3Error) {
        let mut why = err.to_string();
        if let Some(secret) = &self.redact {
            why = why.replace(secret.as_str(), "****");
        }
        self.broken = Some(why);
    }

    fn check_usable(&self) -> Result<(), Pop3Error> {
        match &self.broken {
            Some(why) => Err(Pop3Error::Unusable(why.clone())),
            None => Ok(()),
        }
    }

    async fn send(&mut self, cmd: &Command) -> Result<(), Pop3Error> {
        self.check_usable()?;
        let bytes = cmd.encode()?;
        debug!(command = %cmd, "POP3 >");
        let during = cmd.describe();
        let written = timeout(self.limits.read_timeout, async {
            self.stream.write_all(&bytes).await?;
            self.stream.flush().await
        })
        .await;
        let result = match written {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) if is_closed(&source) => Err(Pop3Error::ConnectionClosed { during }),
            Ok(Err(source)) => Err(Pop3Error::Io { during, source }),
            Err(_) => Err(Pop3Error::Timeout {
                waiting_for: format!("the server to accept {during}"),
                after: self.limits.read_timeout,
            }),
        };
        if let Err(err) = &result {
            self.mark_broken(err);
        }
        result
    }

    async fn read_reply(
        &mut self,
        kind: ReplyKind,
        during: &str,
        waiting_for: &str,
    ) -> Result<Reply, Pop3Error> {
        self.read_reply_hinted(kind, during, waiting_for, None)
            .await
    }

    /// [`Self::read_reply`] with the expected body size, if known.
    async fn read_reply_hinted(
        &mut self,
        kind: ReplyKind,
        during: &str,
        waiting_for: &str,
        body_hint: Option<u64>,
    ) -> Result<Reply, Pop3Error> {
        self.check_usable()?;
        let result = self
            .read_reply_inner(kind, during, waiting_for, body_hint)
            .await;
        match &result {
            Ok(reply) => debug!(
                status = ?reply.status,
                text = %match &self.redact {
                    Some(secret) => reply.text.replace(secret.as_str(), "****"),
                    None => reply.text.clone(),
                },
                body_len = reply.body.as_ref().map(Vec::len),
                "POP3 <"
            ),
            Err(err) => self.mark_broken(err),
        }
        result
    }

    async fn read_reply_inner(
        &mut self,
        kind: ReplyKind,
        during: &str,
        waiting_for: &str,
        body_hint: Option<u64>,
    ) -> Result<Reply, Pop3Error> {
        let mut parser = ReplyParser::new(kind, self.limits.reply_limits());
        if let Some(bytes) = body_hint {
            parser.reserve_body(bytes);
        }
        if self.start < self.end {
            let parsed = parser
                .feed(&self.buf[self.start..self.end])
                .map_err(|e| Pop3Error::from_reply(e, during))?;
            if let Parsed::Complete { reply, consumed } = parsed {
                self.start += consumed;
                return Ok(reply);
            }
        }
        self.start = 0;
        self.end = 0;
        let mut window_start = tokio::time::Instant::now();
        let mut window_bytes: u64 = 0;
        loop {
            if window_start.elapsed() >= self.limits.read_timeout {
                if window_bytes < MIN_PROGRESS_BYTES {
                    return Err(Pop3Error::TooSlow {
                        waiting_for: waiting_for.to_owned(),
                        bytes: window_bytes,
                        after: self.limits.read_timeout,
                    });
                }
                window_start = tokio::time::Instant::now();
                window_bytes = 0;
            }
            let read = timeout(self.limits.read_timeout, self.stream.read(&mut self.buf)).await;
            let n = match read {
                Err(_) => {
                    return Err(Pop3Error::Timeout {
                        waiting_for: waiting_for.to_owned(),
                        after: self.limits.read_timeout,
                    });
                }
                Ok(Err(source)) if is_closed(&source) => {
                    return Err(Pop3Error::ConnectionClosed {
                        during: during.to_owned(),
                    });
                }
                Ok(Err(source)) => {
                    return Err(Pop3Error::Io {
                        during: during.to_owned(),
                        source,
                    });
                }
                Ok(Ok(0)) => {
                    return Err(Pop3Error::ConnectionClosed {
                        during: during.to_owned(),
                    });
                }
                Ok(Ok(n)) => n,
            };
            window_bytes += n as u64;
            let parsed = parser
                .feed(&self.buf[..n])
                .map_err(|e| Pop3Error::from_reply(e, during))?;
            if let Parsed::Complete { reply, consumed } = parsed {
                self.start = consumed;
                self.end = n;
                return Ok(reply);
            }
        }
    }
}

/// Whether `bytes` could be the start of a status line (`+OK`, `-ERR`, `+ `), so that bytes a
/// server sent early are not taken for the rest of a message.
fn looks_like_status(bytes: &[u8]) -> bool {
    let prefix_of = |word: &[u8]| {
        let n = bytes.len().min(word.len());
        bytes[..n].eq_ignore_ascii_case(&word[..n])
    };
    prefix_of(b"+OK") || prefix_of(b"-ERR") || prefix_of(b"+ ")
}

fn is_closed(err: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        err.kind(),
        UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe
    )
}

/// A `-ERR` to an authentication step: the credentials' fault unless the response code says
/// the mailbox is locked, logins come too often, or the server has a system problem.
fn auth_error(cmd: &Command, method: &str, reply: Reply) -> Pop3Error {
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

/// Passwords shorter than this are not searched for in server texts (that would mangle
/// every text).
const MIN_REDACTED_LEN: usize = 3;

/// Removes the password from server texts in case the server echoed it.
fn redact_error(err: Pop3Error, password: &str) -> Pop3Error {
    if password.chars().count() < MIN_REDACTED_LEN {
        return err;
    }
    let clean = |text: String| text.replace(password, "****");
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

fn parse_u32(bytes: &[u8]) -> Option<u32> {
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

fn parse_u64(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

fn malformed(during: &str, what: &str, line: &[u8]) -> Pop3Error {
    Pop3Error::Protocol {
        during: during.to_owned(),
        detail: format!("malformed {what} line {}", show_bytes(line)),
    }
}

/// Splits `<number> SP <rest>` and checks the number (1.., no duplicates).
fn split_numbered<'a>(
    line: &'a [u8],
    seen: &mut std::collections::HashSet<u32>,
    during: &str,
    what: &str,
) -> Result<(u32, &'a [u8]), Pop3Error> {
    let space = line
        .iter()
        .position(|&b| b == b' ')
        .ok_or_else(|| malformed(during, what, line))?;
    let msg = parse_u32(&line[..space])
        .filter(|&n| n > 0)
        .ok_or_else(|| malformed(during, what, line))?;
    if !seen.insert(msg) {
        return Err(Pop3Error::Protocol {
            during: during.to_owned(),
            detail: format!("message number {msg} listed twice, in {}", show_bytes(line)),
        });
    }
    Ok((msg, &line[space + 1..]))
}

/// Parses a UIDL listing: `<msg> SP <uid>`, uid 1..=70 chars in 0x21..=0x7E, all distinct.
pub fn parse_uidl_body(body: &[u8]) -> Result<Vec<(u32, String)>, Pop3Error> {
    let mut seen_msgs = std::collections::HashSet::new();
    let mut seen_uids = std::collections::HashMap::new();
    let mut out = Vec::new();
    for line in body_lines(body) {
        let (msg, uid) = split_numbered(line, &mut seen_msgs, "UIDL", "UIDL")?;
        let valid = (1..=MAX_UIDL_LEN).contains(&uid.len())
            && uid.iter().all(|b| (0x21..=0x7e).contains(b));
        if !valid {
            return Err(malformed("UIDL", "UIDL", line));
        }
        // Only printable ASCII is left, so this conversion cannot fail.
        let uid = String::from_utf8_lossy(uid).into_owned();
        if let Some(first) = seen_uids.insert(uid.clone(), msg) {
            return Err(Pop3Error::Protocol {
                during: "UIDL".to_owned(),
                detail: format!(
                    "duplicate unique id {} for messages {first} and {msg}",
                    show_bytes(uid.as_bytes())
                ),
            });
        }
        out.push((msg, uid));
    }
    Ok(out)
}

/// Parses a LIST scan listing: `<msg> SP <size>`, optionally followed by a space and
/// anything (RFC 1939 allows extra information after the size).
pub fn parse_list_body(body: &[u8]) -> Result<Vec<(u32, u64)>, Pop3Error> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for line in body_lines(body) {
        let (msg, rest) = split_numbered(line, &mut seen, "LIST", "LIST")?;
        let size_end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
        let size = parse_u64(&rest[..size_end]).ok_or_else(|| malformed("LIST", "LIST", line))?;
        out.push((msg, size));
    }
    Ok(out)
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
