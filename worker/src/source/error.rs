//! Why talking to a remote mailbox failed, whatever the protocol.

use crate::net::NetError;
use crate::tls::TlsSetupError;
use mailpull_shared::secrets::SecretError;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    #[error(transparent)]
    Net(#[from] NetError),
    #[error(transparent)]
    TlsSetup(#[from] TlsSetupError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    OAuth(#[from] crate::oauth::OAuthError),
    #[error(
        "{server} does not offer {command}; refusing to continue without TLS (set security = \"plain\" only if you accept that)"
    )]
    StartTlsUnavailable {
        server: String,
        command: &'static str,
    },
    #[error("POP3 {server}: {source}")]
    Pop3 {
        server: String,
        #[source]
        source: crate::pop3::Pop3Error,
    },
    #[error("IMAP {server}: {context}: {message}")]
    Imap {
        server: String,
        context: String,
        message: String,
    },
    #[error("IMAP {server}: no reply to {context} within {secs} s")]
    ImapTimeout {
        server: String,
        context: String,
        secs: u64,
    },
    #[error("IMAP {server} does not offer IDLE; push is off, the profile is polled every interval")]
    IdleUnsupported { server: String },
    /// One message could not be fetched and the connection is still in step (IMAP FETCH
    /// answered NO or sent no body, POP3 RETR answered -ERR, the body is over the size
    /// limit): the poll skips this message and goes on.
    #[error("{server}: message {number}: {reason}")]
    Message {
        server: String,
        number: u32,
        reason: String,
    },
    /// An IMAP body over the size limit, found while reading (the server announced a smaller
    /// size, or none): the rest of it is unread, so the connection is out of step and the
    /// poll stops, but the attempt is the message's ([`SourceError::is_the_message`]).
    #[error(
        "IMAP {server}: message {number} is larger than max_message_mb ({limit_mb} MB), found while reading it; the rest of it was not read"
    )]
    ImapMessageTooLarge {
        server: String,
        number: u32,
        limit_mb: u64,
    },
    #[error("login to {server} as {user} failed: {message}")]
    Auth {
        server: String,
        user: String,
        message: String,
    },
}

impl SourceError {
    /// True when only a new OAuth sign-in helps (no refresh token, or it was revoked).
    pub fn needs_sign_in(&self) -> bool {
        matches!(self, SourceError::OAuth(err) if err.needs_sign_in())
    }

    /// True when the failure belongs to the one message being fetched and the connection is
    /// still usable: skip the message, go on with the rest.
    pub fn is_one_message(&self) -> bool {
        matches!(self, SourceError::Message { .. })
    }

    /// True when the message being fetched caused the failure, whether or not the connection
    /// survived it: [`SourceError::is_one_message`], or a POP3 message over the size limit
    /// or IMAP message over it that announced no size or a smaller one (the rest of it is unread, so the connection is out of step and
    /// the poll stops, but the message's attempt counts).
    pub fn is_the_message(&self) -> bool {
        self.is_one_message()
            || matches!(self, SourceError::ImapMessageTooLarge { .. })
            || matches!(
                self,
                SourceError::Pop3 {
                    source: crate::pop3::Pop3Error::LimitExceeded {
                        kind: crate::pop3::LimitKind::MessageSize,
                        ..
                    },
                    ..
                }
            )
    }

    /// True when the error concerns the credentials rather than the connection.
    pub fn is_auth_failure(&self) -> bool {
        match self {
            SourceError::Auth { .. } | SourceError::Secret(_) => true,
            SourceError::OAuth(err) => err.needs_sign_in(),
            SourceError::Pop3 { source, .. } => source.is_auth_failure(),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SourceError;

    /// An IMAP body over the limit found while reading is the message's failure (its attempt
    /// counts, so later polls pass over it) but not one the connection survives (the poll
    /// stops); the error names the limit.
    #[test]
    fn an_imap_body_over_the_limit_is_the_messages_but_stops_the_poll() {
        let err = SourceError::ImapMessageTooLarge {
            server: "imap.example:993".into(),
            number: 7,
            limit_mb: 1,
        };
        assert!(err.is_the_message());
        assert!(!err.is_one_message());
        assert!(!err.is_auth_failure());
        let text = err.to_string();
        assert!(
            text.contains("message 7") && text.contains("max_message_mb (1 MB)"),
            "{text}"
        );
    }
}
