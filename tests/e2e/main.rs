//! End-to-end tests of Mailpull against real Dovecot and Postfix instances (needs root and
//! `scripts/setup-deps.sh`). One binary so the servers' start-up is shared by all modules.

mod alerts;
mod crash;
mod expunge;
mod faults_tools;
mod filter;
mod harness;
mod held;
mod hostile;
mod idle_cap;
mod import;
mod ipc;
mod keep_days;
mod mailbox_key;
mod memory;
mod metrics;
mod multidrop;
mod multidrop_copies;
mod oauth;
mod permissions;
mod poison;
mod push;
mod secret_logs;
mod service_secrets;
mod several_workers;
mod shared_state;
mod single_worker;
mod smtp_stalls;
mod smtputf8;
mod smuggling;
mod starttls_injection;
mod state_faults;
mod tls_faults;
mod uid_reuse;
mod uidvalidity;
mod worker;
