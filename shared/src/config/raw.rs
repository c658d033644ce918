//! The configuration file as written: every field optional, unknown fields refused. Stage one
//! of two; [`super::check`] turns it into a [`super::Config`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::model::AfterDelivery;

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawWorker {
    pub state_dir: Option<String>,
    pub max_connections: Option<i64>,
    pub max_connections_per_host: Option<i64>,
    pub log_level: Option<String>,
    pub hold_after_attempts: Option<i64>,
    pub hold_after: Option<String>,
    /// The Prometheus endpoint's address, `"127.0.0.1:9464"`; absent: no endpoint.
    pub metrics: Option<String>,
    /// `true` lets `metrics` be a non-loopback address (the endpoint has no authentication).
    pub metrics_public: Option<bool>,
    /// The service secret store (a root-owned 0600 file); see `secrets::service_store`.
    pub secrets: Option<String>,
    pub memory_budget_mb: Option<i64>,
    /// IMAP IDLE connections open at once; not written: follows the open-file limit.
    pub max_idle_connections: Option<i64>,
    /// `alerts = { to = "postmaster@...", after = "1h" }`: mail an administrator about trouble.
    pub alerts: Option<RawAlerts>,
    /// The shared state, `"postgres://user@host:port/db"`; absent: the local SQLite file.
    pub state: Option<String>,
    /// Where the shared state's password comes from (`{ keyring = true }`, `{ file }`, `{ env }`).
    pub state_password: Option<RawPassword>,
    /// How long a profile's lease on the shared state lasts without renewal (`"30s"`).
    pub lease: Option<String>,
}

/// `[worker] alerts`: who is told about a failing profile, held messages or a needed
/// sign-in, after how long, and over which SMTP server.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawAlerts {
    pub to: Option<String>,
    pub after: Option<String>,
    pub from: Option<String>,
    pub smtp: Option<String>,
    pub smtp_security: Option<String>,
    pub ca_file: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawProfile {
    pub name: Option<String>,
    pub enabled: Option<bool>,
    pub interval: Option<String>,
    pub after_delivery: Option<RawAfterDelivery>,
    /// IMAP IDLE: deliver new mail as soon as the server announces it.
    pub push: Option<bool>,
    pub remote: Option<RawRemote>,
    pub local: Option<RawLocal>,
    pub distribute: Option<RawDistribute>,
    /// `filter = { command = [...], timeout = "30s", ... }`: a command each message passes
    /// through before delivery.
    pub filter: Option<RawFilter>,
}

/// A profile's `filter`: the command (no shell) and what its exit codes mean.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawFilter {
    pub command: Option<Vec<String>>,
    pub timeout: Option<String>,
    pub rewrites: Option<bool>,
    pub fallback_exit: Option<Vec<i64>>,
    pub fallback: Option<String>,
}

/// `after_delivery = "delete"`, `"keep"` or `{ keep_days = N }`. Anything else is kept as
/// written so that the checker can refuse it with a message naming the field.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum RawAfterDelivery {
    Mode(String),
    Table(RawKeepDays),
    Other(toml::Value),
}

impl From<AfterDelivery> for RawAfterDelivery {
    /// The setting as written: `"delete"`, `"keep"` or `{ keep_days = N }`.
    fn from(after_delivery: AfterDelivery) -> Self {
        match after_delivery {
            AfterDelivery::KeepDays(days) => RawAfterDelivery::Table(RawKeepDays {
                keep_days: Some(i64::from(days)),
            }),
            AfterDelivery::Delete | AfterDelivery::Keep => {
                RawAfterDelivery::Mode(after_delivery.to_string())
            }
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawKeepDays {
    pub keep_days: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawRemote {
    pub protocol: Option<String>,
    pub server: Option<String>,
    pub host: Option<String>,
    pub port: Option<i64>,
    pub security: Option<String>,
    pub username: Option<String>,
    pub password: Option<RawPassword>,
    pub auth: Option<String>,
    /// `[profile.remote.oauth2]`: for `auth = "xoauth2"` or `"oauthbearer"`.
    pub oauth2: Option<RawOAuth2>,
    pub ca_file: Option<String>,
    pub folders: Option<Vec<String>>,
    pub timeout: Option<String>,
    pub max_message_mb: Option<i64>,
}

/// `password = { keyring = true }`, `{ file = "..." }` or `{ env = "VAR" }`. A bare string is
/// accepted by the parser only so that the checker can refuse it with a helpful message.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum RawPassword {
    Inline(String),
    Source(RawPasswordSource),
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawPasswordSource {
    pub keyring: Option<bool>,
    pub file: Option<String>,
    pub env: Option<String>,
}

/// `[profile.remote.oauth2]`: the OAuth 2.0 client of an `xoauth2`/`oauthbearer` profile.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawOAuth2 {
    /// `microsoft`, `google` or `custom`.
    pub provider: Option<String>,
    /// Microsoft only: the directory (tenant) id or `common`, `organizations`, `consumers`.
    pub tenant: Option<String>,
    pub client_id: Option<String>,
    /// A source like the password's (`{ keyring = true }`, `{ file }`, `{ env }`), never inline.
    pub client_secret: Option<RawPassword>,
    pub scopes: Option<Vec<String>>,
    pub device_authorization_url: Option<String>,
    pub authorization_url: Option<String>,
    pub token_url: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawLocal {
    pub smtp: Option<String>,
    pub smtp_security: Option<String>,
    pub ca_file: Option<String>,
    pub user: Option<String>,
    pub domain: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawDistribute {
    pub enabled: Option<bool>,
    pub local_domains: Option<Vec<String>>,
    pub fallback: Option<String>,
    pub aliases: Option<BTreeMap<String, String>>,
    pub envelope_headers: Option<Vec<String>>,
    pub visible_headers: Option<Vec<String>>,
    pub received_trusted: Option<i64>,
    pub max_received: Option<i64>,
    pub recipient_delimiter: Option<String>,
}
