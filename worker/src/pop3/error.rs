//! The POP3 client's error type: what went wrong, during which command, never with secrets.

use std::fmt;
use std::time::Duration;

use super::command::CommandError;
use super::reply::ReplyError;

/// Which size limit a reply exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// The status line length limit.
    StatusLine,
    /// The data line length limit.
    DataLine,
    /// The message (reply body) size limit.
    MessageSize,
}

impl fmt::Display for LimitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LimitKind::StatusLine => "status line length",
            LimitKind::DataLine => "data line length",
            LimitKind::MessageSize => "message size",
        })
    }
}

/// Everything that can go wrong talking POP3. Texts name the command (passwords and SASL
/// payloads redacted) and quote the server where useful.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Pop3Error {
    /// Reading or writing the stream failed.
    #[error("I/O error during {during}: {source}")]
    Io {
        /// The command or phase, e.g. "RETR 3".
        during: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The server did not answer (or accept our bytes) in time.
    #[error("timed out after {after:?} waiting for {waiting_for}")]
    Timeout {
        /// What was awaited, e.g. "reply to RETR 3".
        waiting_for: String,
        /// The configured timeout.
        after: Duration,
    },
    /// The server answers, but so slowly that the reply would take forever (fewer than
    /// [`super::client::MIN_PROGRESS_BYTES`] bytes in a whole timeout period).
    #[error(
        "server too slow: only {bytes} bytes in {after:?} while waiting for {waiting_for}; giving up"
    )]
    TooSlow {
        /// What was awaited, e.g. "reply to RETR 3".
        waiting_for: String,
        /// Bytes received in the last period.
        bytes: u64,
        /// The configured timeout (the period).
        after: Duration,
    },
    /// The server closed the connection.
    #[error("connection closed by the server during {during}")]
    ConnectionClosed {
        /// The command or phase, e.g. "RETR 3".
        during: String,
    },
    /// The server answered `-ERR`.
    #[error("server answered -ERR to {command}: {text}")]
    ServerErr {
        /// The command, secrets redacted, e.g. "DELE 2" or "greeting".
        command: String,
        /// The server's text.
        text: String,
    },
    /// The server refused the credentials.
    #[error("authentication failed ({method}): {text}")]
    AuthFailed {
        /// The method used, e.g. "USER/PASS" or "SASL PLAIN".
        method: String,
        /// The server's text (with the password removed if the server echoed it).
        text: String,
    },
    /// The server sent something that is not valid POP3.
    #[error("protocol error during {during}: {detail}")]
    Protocol {
        /// The command or phase.
        during: String,
        /// What was wrong, quoting the offending bytes (escaped, truncated).
        detail: String,
    },
    /// A reply exceeded a configured limit.
    #[error("{kind} limit of {limit} bytes exceeded during {during}")]
    LimitExceeded {
        /// Which limit.
        kind: LimitKind,
        /// The limit's value in bytes.
        limit: u64,
        /// The command, e.g. "RETR 3".
        during: String,
    },
    /// The server lacks something we need.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A command argument cannot be sent (CR/LF/NUL injection, message number 0).
    #[error("invalid command argument: {0}")]
    InvalidArgument(#[from] CommandError),
    /// An earlier I/O, timeout or protocol error left the connection out of step.
    #[error("connection unusable after an earlier error: {0}")]
    Unusable(String),
}

impl Pop3Error {
    /// Whether the server refused the credentials (as opposed to a network, protocol or
    /// temporary server problem such as a locked mailbox).
    pub fn is_auth_failure(&self) -> bool {
        matches!(self, Pop3Error::AuthFailed { .. })
    }

    /// The RFC 2449 response code of a `-ERR` reply, e.g. `IN-USE` for
    /// `-ERR [IN-USE] mailbox locked`.
    pub fn response_code(&self) -> Option<&str> {
        match self {
            Pop3Error::ServerErr { text, .. } | Pop3Error::AuthFailed { text, .. } => {
                response_code(text)
            }
            _ => None,
        }
    }

    pub(crate) fn from_reply(err: ReplyError, during: &str) -> Self {
        let during = during.to_owned();
        match err {
            ReplyError::StatusLineTooLong { limit } => Pop3Error::LimitExceeded {
                kind: LimitKind::StatusLine,
                limit: limit as u64,
                during,
            },
            ReplyError::DataLineTooLong { limit } => Pop3Error::LimitExceeded {
                kind: LimitKind::DataLine,
                limit: limit as u64,
                during,
            },
            ReplyError::BodyTooLarge { limit } => Pop3Error::LimitExceeded {
                kind: LimitKind::MessageSize,
                limit,
                during,
            },
            other @ (ReplyError::BadStatusLine { .. }
            | ReplyError::UnexpectedContinuation { .. }) => Pop3Error::Protocol {
                during,
                detail: other.to_string(),
            },
        }
    }
}

/// The RFC 2449 response code at the start of a status text: `[IN-USE] locked` gives
/// `IN-USE`.
pub fn response_code(text: &str) -> Option<&str> {
    let rest = text.strip_prefix('[')?;
    let end = rest.find(']')?;
    let code = &rest[..end];
    (!code.is_empty() && !code.contains(' ')).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_codes() {
        assert_eq!(response_code("[IN-USE] mailbox locked"), Some("IN-USE"));
        assert_eq!(response_code("[SYS/TEMP] try later"), Some("SYS/TEMP"));
        assert_eq!(response_code("no code"), None);
        assert_eq!(response_code("[not a code] x"), None);
        assert_eq!(response_code("[]"), None);
        let err = Pop3Error::ServerErr {
            command: "PASS ****".into(),
            text: "[IN-USE] locked".into(),
        };
        assert_eq!(err.response_code(), Some("IN-USE"));
        assert!(!err.is_auth_failure());
    }

    #[test]
    fn maps_reply_errors() {
        let e = Pop3Error::from_reply(ReplyError::BodyTooLarge { limit: 10 }, "RETR 1");
        assert_eq!(
            e.to_string(),
            "message size limit of 10 bytes exceeded during RETR 1"
        );
        let e = Pop3Error::from_reply(ReplyError::DataLineTooLong { limit: 5 }, "UIDL");
        assert!(matches!(
            e,
            Pop3Error::LimitExceeded {
                kind: LimitKind::DataLine,
                limit: 5,
                ..
            }
        ));
        let e = Pop3Error::from_reply(
            ReplyError::BadStatusLine {
                received: "\"garbage\"".into(),
            },
            "STAT",
        );
        assert_eq!(
            e.to_string(),
            "protocol error during STAT: malformed status line (expected +OK or -ERR), received \"garbage\""
        );
    }
}
