//! Test servers for Mailpull's end-to-end tests, demo and benchmarks: real Dovecot and Postfix
//! instances started privately on 127.0.0.1 (own ports, own temp dirs, stopped on drop), test
//! certificates, sample messages and a tiny line-protocol client.
//!
//! Needs root and the packages from `scripts/setup-deps.sh` (which also creates the
//! `mailpulltest` system user that owns the test mailboxes).

mod access_map;
pub mod client;
pub mod dovecot;
pub mod maildir;
pub mod messages;
pub mod ports;
pub mod postfix;
pub mod sink;
pub mod system;
pub mod tls;

pub use client::{LineClient, SmtpReply, smtp_data, smtp_rcpt_reply, smtp_send};
pub use dovecot::{RemoteDovecot, RemoteOptions};
pub use messages::{
    added_headers, as_delivered, crlf_to_lf, duplicate_ids, headers, message_ids, sample_message,
};
pub use ports::{free_port, port_is_open, wait_for_port};
pub use postfix::{LOCAL_DOMAIN, LOCAL_PASSWORD, LocalMailServer, LocalOptions};
pub use sink::{SinkMessage, SmtpSink};
pub use system::{SystemUser, TEST_SYSTEM_USER, mail_user};
pub use tls::{CertPair, TestCa, self_signed};
