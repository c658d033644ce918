//! Sans-IO parser for POP3 server replies: fed arbitrary chunks of bytes, it answers "need more
//! data" or one complete reply (single-line or multi-line), enforcing size limits as it goes.
//!
//! Two reply shapes exist and the caller picks one before reading (POP3 replies do not say
//! which shape they are):
//! - [`ReplyKind::SingleLine`]: one status line, `+OK text`, `-ERR text`, or the SASL
//!   continuation `+ base64` (RFC 5034).
//! - [`ReplyKind::MultiLine`]: a status line; after `+OK`, data lines up to a line holding a
//!   lone `.`. A data line starting with `.` loses that first dot (dot-unstuffing). After
//!   `-ERR` no data follows.
//!
//! Data bytes are kept exactly (8-bit, NUL allowed); every data line ends with CRLF in the
//! output even when the server used a bare LF. The parser never buffers more than one line
//! (bounded by the line limits) plus the body (bounded by the body limit).

use std::fmt;

/// Which shape of reply the caller expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyKind {
    /// A single status line (`+OK`, `-ERR`, or a SASL continuation `+ ...`).
    SingleLine,
    /// A status line and, after `+OK`, data lines terminated by a lone `.`.
    MultiLine,
}

/// The status indicator of a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// `+OK`
    Ok,
    /// `-ERR`
    Err,
    /// `+ ` followed by a base64 SASL challenge (only in single-line replies).
    Continuation,
}

/// One complete server reply.
#[derive(Clone, PartialEq, Eq)]
pub struct Reply {
    /// The status indicator.
    pub status: Status,
    /// The status line text after the indicator, without the separating space and the line
    /// end; invalid UTF-8 is replaced (lossy decoding). For a continuation, the base64
    /// challenge.
    pub text: String,
    /// The dot-unstuffed data of a multi-line `+OK` reply, every line ending in CRLF; `None`
    /// for single-line replies and for `-ERR` to a multi-line command.
    pub body: Option<Vec<u8>>,
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reply")
            .field("status", &self.status)
            .field("text", &self.text)
            .field("body_len", &self.body.as_ref().map(Vec::len))
            .finish()
    }
}

/// Size limits enforced while parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyLimits {
    /// Maximum length of the status line in bytes, line end excluded.
    pub max_status_line: usize,
    /// Maximum length of one data line in bytes as sent (before dot-unstuffing), line end
    /// excluded.
    pub max_data_line: usize,
    /// Maximum size of the body in bytes, counted after dot-unstuffing with CRLF line ends.
    pub max_body: u64,
}

impl Default for ReplyLimits {
    fn default() -> Self {
        ReplyLimits {
            max_status_line: 4 * 1024,
            max_data_line: 1024 * 1024,
            max_body: 128 * 1024 * 1024,
        }
    }
}

/// Why a reply could not be parsed. After an error the connection is out of step with the
/// server and must not be used for further commands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// The status line is longer than [`ReplyLimits::max_status_line`].
    #[error("status line longer than the limit of {limit} bytes")]
    StatusLineTooLong {
        /// The limit in bytes.
        limit: usize,
    },
    /// A data line is longer than [`ReplyLimits::max_data_line`].
    #[error("data line longer than the limit of {limit} bytes")]
    DataLineTooLong {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body is larger than [`ReplyLimits::max_body`].
    #[error("reply body larger than the limit of {limit} bytes")]
    BodyTooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The status line starts with neither `+OK`, `-ERR` nor `+ `.
    #[error("malformed status line (expected +OK or -ERR), received {received}")]
    BadStatusLine {
        /// What was received, escaped and truncated for display.
        received: String,
    },
    /// A SASL continuation (`+ ...`) came where a multi-line reply was expected.
    #[error("unexpected SASL continuation where a multi-line reply was expected: {received}")]
    UnexpectedContinuation {
        /// What was received, escaped and truncated for display.
        received: String,
    },
}

/// The outcome of feeding bytes to a [`ReplyParser`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// All input was consumed and the reply is not complete yet.
    NeedMore,
    /// The reply is complete. `consumed` bytes of the last input belonged to it; the rest
    /// (if any) was not looked at and belongs to whatever the server sends next.
    Complete {
        /// The reply.
        reply: Reply,
        /// How many bytes of the last input were used.
        consumed: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Status,
    Body,
    Done,
}

/// Incremental parser for one reply. Create one per expected reply.
#[derive(Debug)]
pub struct ReplyParser {
    kind: ReplyKind,
    limits: ReplyLimits,
    state: State,
    /// Bytes of an incomplete line carried over between feeds (bounded by the line limit).
    line: Vec<u8>,
    status: Status,
    text: String,
    body: Vec<u8>,
    failed: Option<ReplyError>,
}

/// The most [`ReplyParser::reserve_body`] reserves up front, whatever the server announced.
pub const MAX_BODY_RESERVE: u64 = 64 * 1024 * 1024;

/// At most this many bytes of a bad line are shown in errors.
pub const SHOW_MAX: usize = 100;

/// Escapes `bytes` for error messages: lossy UTF-8, control characters escaped, truncated to
/// [`SHOW_MAX`] bytes with a note of the full length.
pub fn show_bytes(bytes: &[u8]) -> String {
    let cut = bytes.len().min(SHOW_MAX);
    let mut out = format!(
        "\"{}\"",
        String::from_utf8_lossy(&bytes[..cut]).escape_debug()
    );
    if bytes.len() > cut {
        out.push_str(&format!(" (truncated, {} bytes in all)", bytes.len()));
    }
    out
}

impl ReplyParser {
    /// A parser for one reply of the given shape.
    pub fn new(kind: ReplyKind, limits: ReplyLimits) -> Self {
        ReplyParser {
            kind,
            limits,
            state: State::Status,
            line: Vec::new(),
            status: Status::Ok,
            text: String::new(),
            body: Vec::new(),
            failed: None,
        }
    }

    /// Reserves room for a body of about `bytes` (for example the size LIST announced), so a
    /// large message is not copied over and over while it grows. The hint comes from the
    /// server: it is capped at [`ReplyLimits::max_body`] and at [`MAX_BODY_RESERVE`].
    pub fn reserve_body(&mut self, bytes: u64) {
        let cap = self.limits.max_body.min(MAX_BODY_RESERVE);
        let want = usize::try_from(bytes.min(cap)).unwrap_or(0);
        self.body.reserve(want.saturating_sub(self.body.len()));
    }

    /// Feeds the next chunk of bytes from the server.
    ///
    /// Returns [`Parsed::NeedMore`] when every byte was consumed without completing the
    /// reply, or [`Parsed::Complete`] with the reply and how many bytes of `input` it used.
    /// Once an error was returned, every later call returns the same error; once a reply was
    /// returned, later calls return a protocol error too (create a new parser per reply).
    pub fn feed(&mut self, input: &[u8]) -> Result<Parsed, ReplyError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        if self.state == State::Done {
            // A caller bug, not server input; answer without panicking.
            return Err(ReplyError::BadStatusLine {
                received: "(parser reused after a complete reply)".to_owned(),
            });
        }
        match self.feed_inner(input) {
            Ok(parsed) => Ok(parsed),
            Err(err) => {
                self.failed = Some(err.clone());
                self.line = Vec::new();
                self.body = Vec::new();
                Err(err)
            }
        }
    }

    fn line_limit(&self) -> usize {
        match self.state {
            State::Body => self.limits.max_data_line,
            _ => self.limits.max_status_line,
        }
    }

    fn too_long(&self) -> ReplyError {
        match self.state {
            State::Body => ReplyError::DataLineTooLong {
                limit: self.limits.max_data_line,
            },
            _ => ReplyError::StatusLineTooLong {
                limit: self.limits.max_status_line,
            },
        }
    }

    fn feed_inner(&mut self, input: &[u8]) -> Result<Parsed, ReplyError> {
        let mut pos = 0;
        while pos < input.len() {
            let rest = &input[pos..];
            let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
                // Incomplete line: keep it, but never more than the limit plus a CR that may
                // turn out to be part of the line end.
                let total = self.line.len().saturating_add(rest.len());
                let limit = self.line_limit();
                let cr_may_end_it = total == limit.saturating_add(1) && rest.ends_with(b"\r");
                if total > limit && !cr_may_end_it {
                    return Err(self.too_long());
                }
                self.line.extend_from_slice(rest);
                return Ok(Parsed::NeedMore);
            };
            pos += nl + 1;
            let done = if self.line.is_empty() {
                self.complete_line(&rest[..nl])?
            } else {
                if self.line.len().saturating_add(nl) > self.line_limit().saturating_add(1) {
                    return Err(self.too_long());
                }
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(&rest[..nl]);
                let done = self.complete_line(&line);
                line.clear();
                self.line = line;
                done?
            };
            if done {
                self.state = State::Done;
                let reply = Reply {
                    status: self.status,
                    text: std::mem::take(&mut self.text),
                    body: match (self.kind, self.status) {
                        (ReplyKind::MultiLine, Status::Ok) => Some(std::mem::take(&mut self.body)),
                        _ => None,
                    },
                };
                return Ok(Parsed::Complete {
                    reply,
                    consumed: pos,
                });
            }
        }
        Ok(Parsed::NeedMore)
    }

    /// Handles one complete line (without its LF). Returns whether the reply is complete.
    fn complete_line(&mut self, raw: &[u8]) -> Result<bool, ReplyError> {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.len() > self.line_limit() {
            return Err(self.too_long());
        }
        match self.state {
            State::Status => {
                let (status, text) = parse_status(line)?;
                self.status = status;
                self.text = text;
                match (self.kind, status) {
                    (ReplyKind::MultiLine, Status::Continuation) => {
                        Err(ReplyError::UnexpectedContinuation {
                            received: show_bytes(line),
                        })
                    }
                    (ReplyKind::MultiLine, Status::Ok) => {
                        self.state = State::Body;
                        Ok(false)
                    }
                    _ => Ok(true),
                }
            }
            State::Body => {
                if line == b"." {
                    return Ok(true);
                }
                let data = line.strip_prefix(b".").unwrap_or(line);
                let new_len = (self.body.len() as u64)
                    .saturating_add(data.len() as u64)
                    .saturating_add(2);
                if new_len > self.limits.max_body {
                    return Err(ReplyError::BodyTooLarge {
                        limit: self.limits.max_body,
                    });
                }
                self.body.extend_from_slice(data);
                self.body.extend_from_slice(b"\r\n");
                Ok(false)
            }
            State::Done => Ok(true),
        }
    }
}

/// Parses a status line (without its line end): `+OK [text]`, `-ERR [text]` (any case), or
/// `+[ challenge]`.
pub fn parse_status(line: &[u8]) -> Result<(Status, String), ReplyError> {
    let (status, rest) = if let Some(rest) = strip_prefix_ci(line, b"+OK") {
        (Status::Ok, rest)
    } else if let Some(rest) = strip_prefix_ci(line, b"-ERR") {
        (Status::Err, rest)
    } else if line == b"+" || line.starts_with(b"+ ") {
        (Status::Continuation, &line[1..])
    } else {
        return Err(ReplyError::BadStatusLine {
            received: if line.is_empty() {
                "an empty line".to_owned()
            } else {
                show_bytes(line)
            },
        });
    };
    // The indicator must stand alone: `+OKAY` is not `+OK`.
    match rest.first() {
        None | Some(b' ') | Some(b'\t') => {}
        Some(_) => {
            return Err(ReplyError::BadStatusLine {
                received: show_bytes(line),
            });
        }
    }
    let text = String::from_utf8_lossy(rest);
    Ok((status, text.trim().to_owned()))
}

fn strip_prefix_ci<'a>(line: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    if line.len() >= prefix.len() && line[..prefix.len()].eq_ignore_ascii_case(prefix) {
        Some(&line[prefix.len()..])
    } else {
        None
    }
}

/// Splits a reply body (as produced by the parser: CRLF after every line) into lines without
/// their line end.
pub fn body_lines(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    body.split_inclusive(|&b| b == b'\n').map(|line| {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        line.strip_suffix(b"\r").unwrap_or(line)
    })
}

#[cfg(test)]
#[path = "reply_tests.rs"]
mod tests;
