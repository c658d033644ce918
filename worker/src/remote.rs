//! Connecting to a profile's remote mailbox and logging in, the one way poll, push and the
//! connection test all do it: the password or OAuth access token from
//! [`credentials::login_secret`], the protocol's own connect ([`Pop3Mailbox::connect`],
//! [`imap::connect()`]), and — when the server refuses an OAuth access token — one more login
//! with a fresh token ([`credentials::retry_with_new_token`]).
//!
//! This sits beside [`crate::source`] rather than in it: [`crate::credentials`] depends on
//! `source` for its error type, and `source` does not depend back.

use std::sync::Arc;

use mailpull_shared::config::{Profile, Protocol};
use mailpull_shared::secrets::Secret;
use rustls::ClientConfig;

use crate::context::PollContext;
use crate::credentials;
use crate::source::SourceError;
use crate::source::imap::{self, ImapConnection};
use crate::source::pop3::Pop3Mailbox;

/// A logged-in session with a remote server, by protocol.
pub enum Connection {
    /// The POP3 mailbox itself (POP3 has one).
    Pop3(Pop3Mailbox),
    /// An IMAP connection, which opens each configured folder in turn.
    Imap(ImapConnection),
}

impl Connection {
    /// Ends the session without committing anything left uncommitted by a folder (POP3 QUIT,
    /// IMAP LOGOUT); errors are ignored, nothing is left to do on this connection.
    pub async fn logout(self) {
        match self {
            Connection::Pop3(mailbox) => {
                let _ = mailbox.quit().await;
            }
            Connection::Imap(conn) => conn.logout().await,
        }
    }
}

/// Connects to `profile`'s remote server and logs in with its password or OAuth access token.
pub async fn connect(ctx: &PollContext, profile: &Profile) -> Result<Connection, SourceError> {
    let secret = credentials::login_secret(&ctx.tokens, profile).await?;
    let tls = ctx.tls_config(profile.remote.ca_file.as_deref())?;
    connect_with(ctx, profile, secret, tls).await
}

/// Connects and logs in with `secret` (from [`credentials::login_secret`]) over `tls`; an
/// OAuth access token the server refuses is forgotten and the login made once more with a
/// fresh one. For callers that report the secret and the TLS setup as steps of their own.
pub async fn connect_with(
    ctx: &PollContext,
    profile: &Profile,
    secret: Secret,
    tls: Arc<ClientConfig>,
) -> Result<Connection, SourceError> {
    match open(profile, &secret, tls.clone()).await {
        Err(err)
            if credentials::retry_with_new_token(&ctx.tokens, profile, &secret, &err).await =>
        {
            let secret = credentials::login_secret(&ctx.tokens, profile).await?;
            open(profile, &secret, tls).await
        }
        connected => connected,
    }
}

/// One connect and login by the profile's protocol.
async fn open(
    profile: &Profile,
    secret: &Secret,
    tls: Arc<ClientConfig>,
) -> Result<Connection, SourceError> {
    match profile.remote.protocol {
        Protocol::Pop3 => Pop3Mailbox::connect(&profile.remote, secret, tls)
            .await
            .map(Connection::Pop3),
        Protocol::Imap => imap::connect(&profile.remote, secret, tls)
            .await
            .map(Connection::Imap),
    }
}
