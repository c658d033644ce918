//! The IMAP side, a thin layer over async-imap:
//!
//! - [`cap`]: the limit on what a body fetch may read, and the scan for the literals a
//!   response announces (async-imap makes room for a whole literal before reading it).
//! - [`connect`](mod@connect): the stream wrapper that notices a closed connection, the SASL
//!   authenticators, connect (implicit TLS or STARTTLS, failing closed) and log in, and the
//!   timeout every exchange runs under.
//! - [`folder`]: for each configured folder a [`Mailbox`](super::Mailbox) that lists by
//!   `UID SEARCH`, fetches with `UID FETCH BODY.PEEK[]` (never setting \Seen), deletes by
//!   flagging \Deleted and commits with `UID EXPUNGE` where UIDPLUS is offered, else
//!   `EXPUNGE`.
//! - [`idle`]: for push, [`ImapConnection::idle`] turns a connection into an [`ImapIdle`]: the
//!   folder EXAMINEd (read-only) and an IMAP IDLE (RFC 2177) running, which reports new mail
//!   and is ended and re-issued ([`ImapIdle::renew`]) before the server's inactivity timeout.

pub mod cap;
pub mod connect;
pub mod folder;
pub mod idle;

pub use connect::{ImapConnection, Watched, connect};
pub use folder::{ImapFolder, uid_set};
pub use idle::{IdleEvent, ImapIdle};
