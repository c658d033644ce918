//! What a poll needs from a remote mailbox, whatever the protocol: list what is there, fetch
//! one message, delete one message, commit the deletions (POP3 QUIT, IMAP EXPUNGE).
//! Connecting and logging in are protocol-specific and live beside each implementation;
//! [`crate::remote`] picks the protocol and retries a refused OAuth token once.
//!
//! - [`pop3`]: [`pop3::Pop3Mailbox`] over our POP3 client.
//! - [`imap`]: the IMAP connection, its folders as mailboxes, and IDLE, over async-imap.
//! - [`error`]: [`SourceError`], what went wrong with the remote server.

use std::time::Duration;

use crate::state::MailboxKey;

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

/// The slowest transfer of a message body a fetch waits for, in bytes per second: the time
/// allowed for a fetch grows with the message ([`fetch_timeout`]).
pub const MIN_FETCH_BYTES_PER_SEC: u64 = 16 * 1024;

/// How long one fetch of a message of `size` bytes (`None`: the server announced none, so
/// the size limit `max_bytes` stands for it) may take: the profile's `timeout` plus the time
/// the body takes at [`MIN_FETCH_BYTES_PER_SEC`]. A large message is no longer cut off by a
/// timeout meant for one reply.
pub fn fetch_timeout(base: Duration, size: Option<u64>, max_bytes: u64) -> Duration {
    let bytes = size.unwrap_or(max_bytes).min(max_bytes);
    base.saturating_add(Duration::from_secs(bytes / MIN_FETCH_BYTES_PER_SEC))
}

/// What [`Mailbox::commit`] did with the deletions of the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Committed {
    /// The server removed every message [`Mailbox::delete`] marked.
    All,
    /// Nothing was removed: IMAP without UIDPLUS after a poll that was not clean, where the
    /// only way to remove is a plain EXPUNGE, which also removes what another client flagged
    /// \Deleted and this poll has not delivered. The messages stay flagged and recorded; a
    /// later clean poll removes them.
    Deferred,
}

/// A remote mailbox during one poll.
#[allow(async_fn_in_trait)]
pub trait Mailbox {
    /// How many copies of a message's size are in memory at once while it is fetched and
    /// delivered: what [`crate::budget`] reserves per announced byte.
    const COPIES: u64;
    /// The state-database key of this mailbox (account, folder, UIDVALIDITY).
    fn key(&self) -> &MailboxKey;
    /// What the mailbox holds now, in server order.
    async fn list(&mut self) -> Result<Vec<Listed>, SourceError>;
    /// The message's bytes, as stored on the server.
    async fn fetch(&mut self, message: &Listed) -> Result<Vec<u8>, SourceError>;
    /// Marks the message for deletion; the server commits it at the end of the session.
    async fn delete(&mut self, message: &Listed) -> Result<(), SourceError>;
    /// Commits every deletion of this session (POP3 QUIT, IMAP EXPUNGE). `clean` says that the
    /// poll delivered (or had delivered earlier) every message the mailbox listed, so that a
    /// command removing more than this session's deletions loses nothing; without it only
    /// this session's own deletions may be committed, or none ([`Committed::Deferred`]).
    async fn commit(self, clean: bool) -> Result<Committed, SourceError>
    where
        Self: Sized;
}

pub mod error;
pub mod imap;
pub mod pop3;

pub use error::SourceError;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fetch_timeout_grows_with_the_announced_size() {
        let base = Duration::from_secs(60);
        let max = 100 * 1024 * 1024;
        assert_eq!(fetch_timeout(base, Some(0), max), base);
        assert_eq!(fetch_timeout(base, Some(1000), max), base);
        // 50 MiB at 16 KiB/s: 3200 s more than the base.
        assert_eq!(
            fetch_timeout(base, Some(50 * 1024 * 1024), max),
            Duration::from_secs(60 + 3200)
        );
        // No size announced: as long as the largest message allowed may take.
        assert_eq!(
            fetch_timeout(base, None, max),
            Duration::from_secs(60 + 6400)
        );
        // A size over the limit is not waited for beyond the limit.
        assert_eq!(
            fetch_timeout(base, Some(u64::MAX), max),
            fetch_timeout(base, None, max)
        );
    }
}
