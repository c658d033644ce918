//! Test servers for Mailpull's end-to-end tests, demo and benchmarks: real Dovecot and Postfix
//! instances started privately on 127.0.0.1 (own ports, own temp dirs, stopped on drop), test
//! certificates, sample messages and a tiny line-protocol client.
//!
//! Needs root and the packages from `scripts/setup-deps.sh` (which also creates the
//! `mailpulltest` system user that owns the test mailboxes).
//!
//! ```no_run
//! use std::time::Duration;
//! use mailpull_tests::{LocalMailServer, RemoteDovecot, TestCa, sample_message};
//!
//! # fn main() -> anyhow::Result<()> {
//! let ca = TestCa::temporary()?; // trust ca.ca_file(); dial "localhost"
//! let isp = RemoteDovecot::start(&ca)?; // POP3/POP3S/IMAP/IMAPS on isp.pop3_port() etc.
//! isp.add_user("joe", "secret")?;
//! isp.add_message("joe", &sample_message(1, 10_000, "joe@local.test"))?;
//!
//! let local = LocalMailServer::start(&["joe"])?; // SMTP on local.smtp_port(), domain local.test
//! // ... run the worker: pull joe@127.0.0.1:pop3_port, deliver to 127.0.0.1:smtp_port ...
//! let delivered = local.wait_for_messages("joe", 1, Duration::from_secs(10))?;
//! assert_eq!(isp.message_count("joe")?, 0);
//! # let _ = delivered; Ok(()) }
//! ```
//!
//! Every server lives in its own temp dir (under `/dev/shm` when it has room, see
//! [`system::scratch_base`]) on ports from [`free_port`], so tests can run in parallel; each
//! start returns once its ports accept connections and fails with the server's log otherwise;
//! dropping a server stops all of its processes and removes its files.

mod access_map;
pub mod browser;
pub mod clamd;
pub mod client;
pub mod dovecot;
pub mod fake_pop3;
pub mod fake_smtp;
pub mod keyring;
pub mod maildir;
pub mod maillog;
pub mod messages;
pub mod mount;
pub mod oauth_server;
pub mod old_tls;
pub mod ports;
pub mod postfix;
pub mod postgres;
pub mod proxy;
mod scripted;
pub mod secret_service;
pub mod sink;
pub mod spamd;
pub mod strip_proxy;
pub mod system;
pub mod tls;
pub mod worker;

pub use browser::{browse, http_get};
pub use clamd::{Clamd, EICAR, EICAR_FOUND};
pub use client::{LineClient, SmtpReply, smtp_data, smtp_rcpt_reply, smtp_send};
pub use dovecot::{RemoteDovecot, RemoteOptions};
pub use keyring::{keyring_usable, require_keyctl_session, require_keyring};
pub use maillog::Taken;
pub use messages::{
    added_headers, as_delivered, crlf_to_lf, duplicate_ids, headers, message_ids, sample_message,
};
pub use oauth_server::{DeviceOutcome, FakeOAuthServer, OAuthCounters};
pub use ports::{free_port, port_is_open, wait_for_port};
pub use postfix::{
    LOCAL_DOMAIN, LOCAL_PASSWORD, LocalMailServer, LocalOptions, SIEVE_PLUGIN_CONFIG,
    SIEVE_POSTFIX_CONFIG,
};
pub use postgres::PostgresCluster;
pub use secret_service::DesktopKeyring;
pub use sink::{SinkMessage, SmtpSink};
pub use spamd::Spamd;
pub use system::{SystemUser, TEST_SYSTEM_USER, mail_user};
pub use tls::{CertPair, TestCa, self_signed};
pub use worker::{ProfileSpec, WorkerSetup, config_text, output_text, stop_worker, worker_binary};
