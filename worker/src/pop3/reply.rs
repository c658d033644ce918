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
mod tests {
    use super::*;

    fn limits() -> ReplyLimits {
        ReplyLimits {
            max_status_line: 64,
            max_data_line: 32,
            max_body: 200,
        }
    }

    #[test]
    fn reserved_body_is_capped_by_the_limit_and_changes_nothing_else() {
        let mut parser = ReplyParser::new(ReplyKind::MultiLine, limits());
        parser.reserve_body(u64::MAX);
        assert!(parser.body.capacity() >= 200 && parser.body.capacity() < 1024);
        let input = b"+OK\r\n..a\r\n.\r\n";
        match parser.feed(input) {
            Ok(Parsed::Complete { reply, consumed }) => {
                assert_eq!(consumed, input.len());
                assert_eq!(reply.body.as_deref(), Some(&b".a\r\n"[..]));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    fn ok(text: &str, body: Option<&[u8]>) -> Reply {
        Reply {
            status: Status::Ok,
            text: text.to_owned(),
            body: body.map(<[u8]>::to_vec),
        }
    }

    type Outcome = Result<(Reply, usize), ReplyError>;

    /// Feeds `input` in chunks of `size`; returns the reply and the total bytes consumed.
    /// `None` when the parser still needs more data at the end of input.
    fn run_chunked(kind: ReplyKind, input: &[u8], size: usize) -> Option<Outcome> {
        let mut parser = ReplyParser::new(kind, limits());
        let mut offset = 0;
        for chunk in input.chunks(size) {
            match parser.feed(chunk) {
                Ok(Parsed::NeedMore) => offset += chunk.len(),
                Ok(Parsed::Complete { reply, consumed }) => {
                    assert!(consumed <= chunk.len());
                    return Some(Ok((reply, offset + consumed)));
                }
                Err(e) => return Some(Err(e)),
            }
        }
        None
    }

    /// The Stalwart pattern: every chunk size gives the same outcome.
    fn check(kind: ReplyKind, input: &[u8], expected: Option<Outcome>) {
        let mut size = 1;
        while size <= 512 {
            let got = run_chunked(kind, input, size);
            assert_eq!(
                got,
                expected,
                "chunk size {size}, input {}",
                show_bytes(input)
            );
            size *= 2;
        }
    }

    #[test]
    fn single_line_replies() {
        use ReplyKind::SingleLine as S;
        check(S, b"+OK ready\r\n", Some(Ok((ok("ready", None), 11))));
        check(S, b"+OK\r\n", Some(Ok((ok("", None), 5))));
        check(
            S,
            b"+ok lower case\r\n",
            Some(Ok((ok("lower case", None), 16))),
        );
        check(
            S,
            b"-ERR no such message\r\n",
            Some(Ok((
                Reply {
                    status: Status::Err,
                    text: "no such message".into(),
                    body: None,
                },
                22,
            ))),
        );
        check(
            S,
            b"-err\n",
            Some(Ok((
                Reply {
                    status: Status::Err,
                    text: String::new(),
                    body: None,
                },
                5,
            ))),
        );
        check(
            S,
            b"+ VXNlcm5hbWU6\r\n",
            Some(Ok((
                Reply {
                    status: Status::Continuation,
                    text: "VXNlcm5hbWU6".into(),
                    body: None,
                },
                16,
            ))),
        );
        check(
            S,
            b"+\r\n",
            Some(Ok((
                Reply {
                    status: Status::Continuation,
                    text: String::new(),
                    body: None,
                },
                3,
            ))),
        );
        // Bytes after the reply are not consumed.
        check(S, b"+OK a\r\n+OK b\r\n", Some(Ok((ok("a", None), 7))));
        // Missing line end: need more.
        check(S, b"+OK almost", None);
        check(S, b"+OK almost\r", None);
        // Invalid UTF-8 is decoded lossily.
        check(
            S,
            b"+OK caf\xe9\r\n",
            Some(Ok((ok("caf\u{fffd}", None), 10))),
        );
    }

    #[test]
    fn multi_line_replies() {
        use ReplyKind::MultiLine as M;
        check(
            M,
            b"+OK 2 messages\r\n1 120\r\n2 200\r\n.\r\n",
            Some(Ok((ok("2 messages", Some(b"1 120\r\n2 200\r\n")), 33))),
        );
        // Empty body.
        check(M, b"+OK\r\n.\r\n", Some(Ok((ok("", Some(b"")), 8))));
        // Dot-unstuffing: `..` alone becomes `.`, `..x` becomes `.x`, dots inside a line stay.
        check(
            M,
            b"+OK\r\n..\r\n..x\r\na.b\r\n. \r\n.\r\n",
            Some(Ok((ok("", Some(b".\r\n.x\r\na.b\r\n \r\n")), 26))),
        );
        // Bare LF line ends become CRLF.
        check(
            M,
            b"+OK\nline1\nline2\n.\n",
            Some(Ok((ok("", Some(b"line1\r\nline2\r\n")), 18))),
        );
        // 8-bit data and NUL bytes are kept, a lone CR inside a line is data.
        check(
            M,
            b"+OK\r\na\0b\xff\r\nc\rd\r\n.\r\n",
            Some(Ok((ok("", Some(b"a\0b\xff\r\nc\rd\r\n")), 19))),
        );
        // -ERR has no body.
        check(
            M,
            b"-ERR no such message\r\nrest",
            Some(Ok((
                Reply {
                    status: Status::Err,
                    text: "no such message".into(),
                    body: None,
                },
                22,
            ))),
        );
        // Missing final line end or terminator: need more.
        check(M, b"+OK\r\nabc\r\n.", None);
        check(M, b"+OK\r\nabc\r\n.\r", None);
        check(M, b"+OK\r\nabc\r\n", None);
        // Trailing bytes stay unconsumed.
        check(M, b"+OK\r\n.\r\n+OK", Some(Ok((ok("", Some(b"")), 8))));
        // A continuation is not a multi-line reply.
        check(
            M,
            b"+ abc\r\n",
            Some(Err(ReplyError::UnexpectedContinuation {
                received: "\"+ abc\"".into(),
            })),
        );
    }

    #[test]
    fn garbage_status_lines() {
        use ReplyKind::SingleLine as S;
        check(
            S,
            b"HTTP/1.1 400 Bad Request\r\n",
            Some(Err(ReplyError::BadStatusLine {
                received: "\"HTTP/1.1 400 Bad Request\"".into(),
            })),
        );
        check(
            S,
            b"\r\n",
            Some(Err(ReplyError::BadStatusLine {
                received: "an empty line".into(),
            })),
        );
        check(
            S,
            b"+OKAY\r\n",
            Some(Err(ReplyError::BadStatusLine {
                received: "\"+OKAY\"".into(),
            })),
        );
        check(
            S,
            b"* OK IMAP4rev1\x01\r\n",
            Some(Err(ReplyError::BadStatusLine {
                received: "\"* OK IMAP4rev1\\u{1}\"".into(),
            })),
        );
    }

    #[test]
    fn garbage_is_truncated_in_errors() {
        let mut line = vec![b'x'; 150];
        line.extend_from_slice(b"\r\n");
        let mut parser = ReplyParser::new(
            ReplyKind::SingleLine,
            ReplyLimits {
                max_status_line: 1000,
                ..limits()
            },
        );
        let err = parser.feed(&line).expect_err("must fail");
        let ReplyError::BadStatusLine { received } = &err else {
            panic!("unexpected {err:?}");
        };
        assert!(received.starts_with(&format!("\"{}\"", "x".repeat(100))));
        assert!(received.ends_with("(truncated, 150 bytes in all)"));
        // The parser stays failed.
        assert_eq!(parser.feed(b"+OK\r\n"), Err(err));
    }

    #[test]
    fn status_line_limit() {
        use ReplyKind::SingleLine as S;
        let mut at_limit = b"+OK ".to_vec();
        at_limit.extend(std::iter::repeat_n(b'a', 60));
        let mut input = at_limit.clone();
        input.extend_from_slice(b"\r\n");
        check(S, &input, Some(Ok((ok(&"a".repeat(60), None), 66))));
        let mut over = at_limit.clone();
        over.push(b'a');
        over.extend_from_slice(b"\r\n");
        let err = Some(Err(ReplyError::StatusLineTooLong { limit: 64 }));
        check(S, &over, err.clone());
        // Detected without a line end too: the parser does not buffer without bound.
        check(S, &[b'+'; 600], err.clone());
        // The status line limit applies to multi-line replies.
        check(ReplyKind::MultiLine, &over, err);
    }

    #[test]
    fn data_line_limit() {
        use ReplyKind::MultiLine as M;
        let mut input = b"+OK\r\n".to_vec();
        input.extend(std::iter::repeat_n(b'd', 32));
        input.extend_from_slice(b"\r\n.\r\n");
        let mut body = vec![b'd'; 32];
        body.extend_from_slice(b"\r\n");
        check(M, &input, Some(Ok((ok("", Some(&body)), input.len()))));
        // Over the limit: error, with or without a line end.
        let mut over = b"+OK\r\n".to_vec();
        over.extend(std::iter::repeat_n(b'd', 33));
        let err = Some(Err(ReplyError::DataLineTooLong { limit: 32 }));
        check(M, &over, err.clone());
        over.extend_from_slice(b"\n.\r\n");
        check(M, &over, err.clone());
        let mut endless = b"+OK\r\n".to_vec();
        endless.extend(std::iter::repeat_n(b'd', 1000));
        check(M, &endless, err);
    }

    #[test]
    fn body_limit() {
        use ReplyKind::MultiLine as M;
        // 10 lines of 18 bytes + CRLF = 200 bytes: exactly the limit.
        let mut input = b"+OK\r\n".to_vec();
        for _ in 0..10 {
            input.extend(std::iter::repeat_n(b'b', 18));
            input.extend_from_slice(b"\r\n");
        }
        let body = input[5..].to_vec();
        input.extend_from_slice(b".\r\n");
        check(M, &input, Some(Ok((ok("", Some(&body)), input.len()))));
        // One more byte is too much.
        let mut over = b"+OK\r\nx".to_vec();
        over.extend_from_slice(&input[5..]);
        check(M, &over, Some(Err(ReplyError::BodyTooLarge { limit: 200 })));
        // Unstuffed size counts: 100 lines of ".." are 100 * 3 = 300 output bytes.
        let mut dots = b"+OK\r\n".to_vec();
        for _ in 0..100 {
            dots.extend_from_slice(b"..\n");
        }
        check(M, &dots, Some(Err(ReplyError::BodyTooLarge { limit: 200 })));
    }

    #[test]
    fn body_lines_splits_on_crlf() {
        let lines: Vec<&[u8]> = body_lines(b"1 a\r\n2 b\r\n").collect();
        assert_eq!(lines, vec![&b"1 a"[..], &b"2 b"[..]]);
        assert_eq!(body_lines(b"").count(), 0);
        let lines: Vec<&[u8]> = body_lines(b"\r\n").collect();
        assert_eq!(lines, vec![&b""[..]]);
        let lines: Vec<&[u8]> = body_lines(b"x\r\n\r\ny\r\n").collect();
        assert_eq!(lines, vec![&b"x"[..], &b""[..], &b"y"[..]]);
    }

    proptest::proptest! {
        /// Any bytes, split anywhere: no panic, and the same outcome as one single feed.
        #[test]
        fn any_split_gives_the_same_outcome(
            input in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just(b'.'),
                    proptest::strategy::Just(b'\r'),
                    proptest::strategy::Just(b'\n'),
                    proptest::strategy::Just(b'+'),
                    proptest::num::u8::ANY,
                ],
                0..400,
            ),
            prefix in proptest::prop_oneof![
                proptest::strategy::Just(&b"+OK\r\n"[..]),
                proptest::strategy::Just(&b"-ERR x\r\n"[..]),
                proptest::strategy::Just(&b""[..]),
            ],
            multi in proptest::bool::ANY,
            size in 1usize..64,
        ) {
            let kind = if multi { ReplyKind::MultiLine } else { ReplyKind::SingleLine };
            let mut all = prefix.to_vec();
            all.extend_from_slice(&input);
            let whole = run_chunked(kind, &all, all.len().max(1));
            proptest::prop_assert_eq!(run_chunked(kind, &all, size), whole);
        }
    }
}
