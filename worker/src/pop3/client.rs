//! The POP3 I/O engine: owns the stream and the read buffer, sends [`Command`]s and drives the
//! sans-IO [`ReplyParser`] on what comes back, with a timeout on every read and write and a
//! minimum rate for long replies. What the replies mean is read by the pure modules
//! ([`super::greeting`], [`super::capa`], [`super::listing`]); the login exchanges are in
//! [`super::login`].
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

use super::capa::Capabilities;
use super::command::Command;
use super::error::Pop3Error;
use super::greeting::Greeting;
use super::listing::{parse_list_body, parse_stat, parse_uidl_body};
use super::reply::{Parsed, Reply, ReplyKind, ReplyLimits, ReplyParser, Status, show_bytes};

/// How many bytes one read asks for.
const READ_CHUNK: usize = 64 * 1024;

/// A reply still incomplete after one `read_timeout` must have brought at least this many
/// bytes in that time: a server that drips a byte every second never trips the per-read
/// timeout, and would otherwise hold the connection (and a connection slot) for days.
pub const MIN_PROGRESS_BYTES: u64 = 1024;

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
            _ => Ok(Capabilities::from_body(&reply.body.unwrap_or_default())),
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

    /// `STAT`: (message count, mailbox size in bytes).
    pub async fn stat(&mut self) -> Result<(u32, u64), Pop3Error> {
        let reply = self.expect_ok(&Command::Stat).await?;
        parse_stat(&reply.text)
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
    pub(super) async fn command(&mut self, cmd: &Command) -> Result<Reply, Pop3Error> {
        self.send(cmd).await?;
        let during = cmd.describe();
        let waiting_for = format!("reply to {during}");
        self.read_reply(cmd.reply_kind(), &during, &waiting_for)
            .await
    }

    /// Like [`Self::command`] for a command whose reply must not be a SASL challenge.
    pub(super) async fn command_single(&mut self, cmd: &Command) -> Result<Reply, Pop3Error> {
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
    pub(super) fn mark_broken(&mut self, err: &Pop3Error) {
        let mut why = err.to_string();
        if let Some(secret) = &self.redact {
            why = why.replace(secret.as_str(), "****");
        }
        self.broken = Some(why);
    }

    /// During a login: the secret to remove from logged server texts (`None` after it).
    pub(super) fn set_redact(&mut self, secret: Option<String>) {
        self.redact = secret;
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

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
