//! What every poll, IDLE watcher and connection test shares: the state database, the SMTP
//! transports, the TLS configurations (one per `ca_file`), the OAuth access tokens, the
//! shutdown token, the clock of the `keep_days` decision and the metrics. Built once by
//! [`crate::engine`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use rustls::ClientConfig;
use tokio_util::sync::CancellationToken;

use crate::deliver::Deliverer;
use crate::metrics::Metrics;
use crate::oauth::TokenCache;
use crate::state::Store;
use crate::tls::{self, TlsSetupError};

/// What every poll shares: the state database, the SMTP transports, TLS configurations.
pub struct PollContext {
    pub store: Store,
    pub deliverer: Deliverer,
    pub hostname: String,
    /// Cancelled at shutdown: the poll finishes the message in hand, then logs out.
    pub cancel: CancellationToken,
    tls_configs: Mutex<HashMap<Option<PathBuf>, Arc<ClientConfig>>>,
    /// OAuth 2.0 access tokens of `xoauth2`/`oauthbearer` profiles (in memory only).
    pub tokens: Arc<TokenCache>,
    /// "Now" in Unix seconds, for the `keep_days` age decision; replaceable in tests.
    clock: Clock,
    /// `[worker] hold_after_attempts`: failed attempts after which a message is held.
    pub hold_after_attempts: u32,
    /// `[worker] hold_after`: time since the first failed attempt after which it is held.
    pub hold_after: std::time::Duration,
    /// What the metrics endpoint serves (counted whether or not it is on).
    pub metrics: Arc<Metrics>,
    /// `[worker] memory_budget_mb`: what the messages all polls hold at once may cost.
    pub budget: crate::budget::MemoryBudget,
    /// `[worker] alerts`: mail to an administrator about trouble; `None`: none.
    pub alerts: Option<crate::alerts::Alerter>,
}

/// A source of the current time in Unix seconds.
pub type Clock = fn() -> i64;

impl PollContext {
    pub fn new(store: Store, deliverer: Deliverer, cancel: CancellationToken) -> Self {
        let hostname = hostname::get()
            .ok()
            .and_then(|name| name.into_string().ok())
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| "localhost".to_string());
        PollContext {
            store,
            deliverer,
            hostname,
            cancel,
            tls_configs: Mutex::new(HashMap::new()),
            tokens: Arc::new(TokenCache::new()),
            clock: now_secs,
            hold_after_attempts: mailpull_shared::config::DEFAULT_HOLD_AFTER_ATTEMPTS,
            hold_after: mailpull_shared::config::DEFAULT_HOLD_AFTER,
            metrics: Arc::new(Metrics::new()),
            budget: crate::budget::MemoryBudget::new(
                mailpull_shared::config::DEFAULT_MEMORY_BUDGET_MB * 1024 * 1024,
            ),
            alerts: None,
        }
    }

    /// Takes when to hold a failing message from the `[worker]` settings.
    pub fn with_hold(mut self, settings: &mailpull_shared::config::WorkerSettings) -> Self {
        self.hold_after_attempts = settings.hold_after_attempts;
        self.hold_after = settings.hold_after;
        self
    }

    /// Takes the memory budget from the `[worker]` settings.
    pub fn with_budget(mut self, settings: &mailpull_shared::config::WorkerSettings) -> Self {
        self.budget = crate::budget::MemoryBudget::new(settings.memory_budget_bytes);
        self
    }

    /// Takes the alert settings from `[worker]`, and the file they came from (the commands
    /// an alert names carry its `--config`).
    pub fn with_alerts(mut self, config: &mailpull_shared::config::Config) -> Self {
        self.alerts = config.worker.alerts.clone().map(|alerts| {
            crate::alerts::Alerter::new(alerts, &self.hostname, config.source.as_deref())
        });
        self
    }

    /// Replaces the clock that decides the age of recorded messages (`keep_days`).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// "Now" by the clock of the `keep_days` decision, in Unix seconds.
    pub fn now(&self) -> i64 {
        (self.clock)()
    }

    /// The TLS configuration for a `ca_file` (built once: loading the system roots is costly).
    pub fn tls_config(&self, ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, TlsSetupError> {
        let key = ca_file.map(Path::to_path_buf);
        let mut configs = self
            .tls_configs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(config) = configs.get(&key) {
            return Ok(config.clone());
        }
        let config = tls::client_config(ca_file)?;
        configs.insert(key, config.clone());
        Ok(config)
    }
}

/// The system clock in Unix seconds (0 before 1970).
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}
