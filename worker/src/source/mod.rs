//! What a poll needs from a remote mailbox, whatever the protocol: list what is there, fetch
//! one message, delete one message. Connecting, logging in and committing deletions (POP3
//! QUIT, IMAP EXPUNGE) are protocol-specific and live beside each implementation.

use crate::net::NetError;
use crate::state::MailboxKey;
use crate::tls::TlsSetupError;
use mailpull_shared::secrets::SecretError;

/// One message as the server lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// POP3 message number or IMAP UID: what `fetch` and `delete` take.
    pub number: u32,
    /// The stable id across sessions (POP3 UIDL, IMAP UID); `None` for POP3 without UIDL,
    /// where the message's digest serves instead.
    pub uid: Option<String>,
    /// The size the server announced, when it did.
    pub size: Option<u64>,
}

/// Bytes [`Mailbox::fetch`] leaves spare after a message (when the protocol lets it size the
/// buffer up front), so that the trace header can be put in front without another copy.
pub const FETCH_SPARE: usize = 1024;

/// A remote mailbox during one poll.
#[allow(async_fn_in_trait)]
pub trait Mailbox {
    /// The state-database key of this mailbox (account, folder, UIDVALIDITY).
    fn key(&self) -> &MailboxKey;
    /// What the mailbox holds now, in server order.
    async fn list(&mut self) -> Result<Vec<Listed>, SourceError>;
    /// The message's bytes, as stored on the server.
    async fn fetch(&mut self, message: &Listed) -> Result<Vec<u8>, SourceError>;
    /// Marks the message for deletion; the server commits it at the end of the session.
    async fn delete(&mut self, message: &Listed) -> Result<(), SourceError>;
}

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

pub mod imap;
pub mod pop3;
