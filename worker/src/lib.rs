//! Mailpull worker: pulls remote POP3/IMAP mailboxes and delivers every message over SMTP to
//! the local mail server, deleting remotely only what the local server accepted and the state
//! database recorded.
//!
//! # Layout
//! - [`pop3`]: our POP3 client. Pure, sans-IO parsing: `pop3::reply` (server replies from
//!   bytes), `pop3::greeting`, `pop3::capa`, `pop3::listing` (STAT/UIDL/LIST), `pop3::auth`
//!   (the choice of login mechanism), `pop3::command` (encoding); `pop3::login` runs the
//!   login exchanges and `pop3::client` is the I/O engine over any async stream.
//! - [`sasl`]: the XOAUTH2 and OAUTHBEARER payloads and the server's JSON error challenge.
//! - [`oauth`]: OAuth 2.0 token refresh, device and browser sign-in, the token cache.
//! - [`credentials`]: what a profile logs in with (password or OAuth access token).
//! - [`net`]: TCP connect with timeouts and the plain-or-TLS stream type.
//! - [`tls`]: rustls client configuration (TLS 1.2/1.3, system roots plus `ca_file`).
//! - [`source`]: what a poll needs from a remote mailbox, whatever the protocol (list, fetch,
//!   delete, commit), and its two implementations: `source::pop3` over our client,
//!   `source::imap` (connect, folder, idle) over async-imap.
//! - [`remote`]: connect and log in to a profile's remote mailbox, retrying once with a fresh
//!   OAuth token; used by the poll, push and the connection test.
//! - [`context`]: [`PollContext`](context::PollContext), what every poll shares (state
//!   database, SMTP transports, TLS configurations, OAuth tokens, shutdown token, clock).
//! - [`budget`]: the worker-wide memory budget a poll reserves a message's cost from before
//!   fetching it.
//! - [`deliver`]: SMTP delivery through lettre, the trace header, reply classification.
//! - [`content_digest`]: the digest of a message without its trace and envelope headers,
//!   which the copies an ISP stored per recipient share.
//! - [`dispatch`]: one message to its recipients: single-drop or routing, copy suppression
//!   (Message-ID and content digest, per profile), a refused recipient redelivered to the fallback.
//! - [`mailbox`]: which recorded mailbox a profile polls; its records follow it to another
//!   name of the same server.
//! - [`state`]: the state database (SQLite, or PostgreSQL shared by several workers) of delivered messages (schema, the one writer
//!   thread with group commit, queries, the async `Store`).
//! - [`poll`]: one poll of one profile: list, fetch, deliver, record, delete, commit.
//! - [`held`]: held messages for people: the wire rows, and `mailpull-worker held` (read
//!   without the state lock, beside a running worker).
//! - [`scheduler`]: timers, jitter and backoff for all profiles, under the connection caps.
//! - [`limits`]: the connection caps (overall and per server); on the shared state each
//!   worker's share of the per-server cap, so the cluster keeps it.
//! - [`cluster`]: several workers on one shared state: the lease loop (renew, claim the fair
//!   share, poll a claimed profile at once, drop every lease when the database is out of reach).
//! - [`push`]: IMAP IDLE watchers that wake a profile's poll when new mail arrives.
//! - [`metrics`]: Prometheus metrics (deliveries, failures, polls, SMTP replies, IDLE
//!   connections, held messages, database size) and the opt-in `/metrics` + `/healthz`
//!   endpoint.
//! - [`push`]: IMAP IDLE watchers that wake a profile's poll when new mail arrives, and the
//!   slots of their cap.
//! - [`alerts`]: one mail to an administrator when a profile has failed for a while, has
//!   held messages or needs a sign-in, and one when that is over (`[worker] alerts`).
//! - [`filter`]: a profile's `filter` command, which sees each message before delivery
//!   (deliver, possibly rewritten; to the fallback mailbox; or a failure of the message).
//! - [`fd_limit`]: the open-file limit raised at start, and the IDLE cap that follows from it.
//! - [`logging`]: tracing to stderr and a daily-rotated file.
//! - [`private`]: owner-only modes (Unix) on the state directory, the database and the logs,
//!   whatever the umask.
//! - [`routing`]: pure functions that decide the local recipients of a message, and a
//!   profile's route (`routing::profile`).
//! - [`validate`]: the configuration check shared by `check`, `run` and IPC saves.
//! - [`cli`]: the `status`, `poll-now` and `set-password` commands over IPC.
//! - [`service_config`]: whether a configuration is a service's, and whose account this is
//!   (where a command's secrets and sign-ins go).
//! - [`import`]: `import fetchmailrc|getmailrc`: fetchmail's and getmail's configurations as
//!   profiles (pure parsers and mappings; passwords into the OS keyring).
//! - [`ipc`]: the server end of the Pull Manager's pipe inside `mailpull-worker run`.
//! - [`run_mode`]: how this worker was started (service, systemd unit, a Pull Manager, a
//!   terminal), for the pipe's hello.
//! - [`engine`]: the worker assembled ([`run`], [`run_once`]): state database, deliverer,
//!   scheduler, push and IPC server; what `mailpull-worker run` and the Windows service call.

/// `println!` for a command-line tool: when the reader of standard output has gone (`check |
/// head -1`), the command ends quietly with exit code 0 instead of panicking on the broken
/// pipe (std's `println!` panics). Shadows std's macro in this crate.
macro_rules! println {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(err) = writeln!(std::io::stdout(), $($arg)*) {
            if err.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    }};
}

/// `print!` likewise (see `println!`).
macro_rules! print {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(err) = write!(std::io::stdout(), $($arg)*) {
            if err.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    }};
}

pub mod alerts;
pub mod budget;
pub mod cli;
pub mod cluster;
pub mod content_digest;
pub mod context;
pub mod credentials;
pub mod deliver;
pub mod dispatch;
pub mod engine;
pub mod fd_limit;
pub mod filter;
pub mod held;
pub mod import;
pub mod ipc;
pub mod limits;
pub mod logging;
pub mod mailbox;
pub mod metrics;
pub mod net;
pub mod oauth;
pub mod poll;
pub mod pop3;
pub mod private;
pub mod push;
pub mod remote;
pub mod routing;
pub mod run_mode;
pub mod sasl;
pub mod scheduler;
pub mod service_config;
pub mod source;
pub mod state;
pub mod tls;
pub mod validate;

pub use engine::{run, run_once};
