//! The state database: which remote messages have been delivered, in SQLite (WAL). One thread
//! owns the writing connection; records from all concurrent polls go first in its queue and
//! are batched into one transaction, written at once (`synchronous=NORMAL`: in the kernel when
//! the commit returns, so a SIGKILL cannot take them); a second thread fsyncs the WAL behind
//! it, one fsync for every batch waiting ("group commit"), and only then answers. So the time
//! from the local server's 250 to the record's write stays short (no fsync in it), and a
//! record is durable (power-loss safe) when [`Store::record`] returns `Ok`: only then is the
//! message deleted remotely. Reads run on separate read-only connections. Before a message's
//! data is sent, a delivery intent gives it a stable delivery id ([`Store::intend`]).
//!
//! Keys: a message is `(account, folder, uidvalidity, uid)` — account is the remote mailbox
//! `username@host` in lower case (not the route to it: protocol, port and security are not
//! part of it; version 1 databases wrote `proto://user@host:port` and are rewritten on open),
//! folder is empty for POP3, uidvalidity 0 for POP3. Every row also
//! keeps a SHA-256 digest of the message so a message that reappears under another UID (POP3
//! without UIDL, an IMAP UIDVALIDITY change) is still recognised.
//!
//! Layout (each module one job; this file only re-exports):
//! - `types`: the data the database keeps ([`MailboxKey`], [`Record`], [`Known`],
//!   [`Attempt`], [`Summary`]).
//! - `error`: [`StateError`] and [`file_system_problem`] (why a file system refuses writes).
//! - `schema`: the schema version, the tables of version 1 and the later steps.
//! - `lock`: one worker per state directory: the exclusive lock on `worker.lock`, and
//!   `worker.owner` naming its holder (pid) for the worker that is refused.
//! - `open`: opening the file (pragmas), migrating it, the installation id;
//!   [`read_installation_id`] for a read-only look.
//! - `writer`: the writer thread that owns the writing connection: records first (batched,
//!   written without waiting for an fsync), then intents, then other writes (bookkeeping
//!   without fsync).
//! - `syncer`: the thread that fsyncs the WAL behind the writer (group commit) and only then
//!   tells the polls their records are durable; it also runs the checkpoints.
//! - `reader`: the read-only connections and their threads.
//! - `choose`: which state a worker opens ([`open_configured`]): local, or shared (`pg`).
//! - `store`: [`Store`], the cloneable handle: lock and open, hand a write to the writer or a
//!   read to a reader, record.
//! - `suite`: the test suite every back-end passes (SQLite here, PostgreSQL in `tests/`).
//! - `intents`: delivery intents and their ids ([`Intent`], [`Intended`]).
//! - `queries`: the other reads and writes of [`Store`] (known UIDs, digests, the `sent`
//!   table, deletions, poll start, counts).
//! - `mailboxes`: which mailbox each profile polls (`profile_mailboxes`), moving a profile's
//!   records to another name of the same mailbox.
//! - `migrate_accounts`: version 3's rewrite of route-keyed accounts to mailbox identities.
//! - `history`: a profile's delivery history for the pipe (totals, per day, the last
//!   deliveries) and [`shown`], what a record keeps for it (From, Subject, reply; sanitised);
//!   [`summary`], what an attempts row keeps of a failed message (From, Subject, Date, size).
//! - `lease`: [`Store`]'s side of the profile leases (a no-op with SQLite).
//! - `pg`: the same store in PostgreSQL, shared by several workers (`[worker] state`);
//!   [`Store`] hands every call there when it was opened with [`Store::open_shared`].
//! - `attempts`: messages that failed on their own (attempts, next attempt, held, the action
//!   asked for a held message, what the message is once downloaded); [`read_held`] without
//!   the lock, beside a running worker.
//! - `alerts`: the alert state of each profile ([`AlertRow`], in `types`): since when, sent
//!   or not.

mod alerts;
mod attempts;
mod choose;
mod error;
mod history;
mod intents;
mod lease;
mod lock;
mod mailboxes;
mod migrate_accounts;
mod open;
mod pg;
mod queries;
mod reader;
mod schema;
mod store;
#[doc(hidden)]
pub mod suite;
mod syncer;
mod types;
mod writer;

#[cfg(test)]
mod tests;

pub use attempts::read_held;
pub use choose::{
    STATE_PASSWORD_ACCOUNT, check_configured, open_configured, read_held_shared, read_password,
};
pub use error::{StateError, file_system_problem};
pub use history::{clean_header, shown, summary};
pub use intents::{Intended, Intent};
pub use lock::{LOCK_FILE, OWNER_FILE};
pub use open::read_installation_id;
pub use pg::{LeaseChange, POLL_NOW_CHANNEL, PollNowListener, fair_share};
pub use schema::SENT_RETENTION_DAYS;
pub use store::{PendingRecord, Store};
pub use types::{
    AlertKind, AlertRow, Attempt, CopyKey, HeldAction, Known, MailboxKey, Record, Shown, Summary,
};
