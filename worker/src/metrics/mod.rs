//! Prometheus metrics: what the worker counts as it polls and delivers, and the opt-in HTTP
//! endpoint (`[worker] metrics`) that serves them on `/metrics` with a health check on
//! `/healthz`.
//!
//! The counters are kept where the work happens, not derived from the status board: a
//! delivery is counted when its record is committed (also in a poll that ends with an
//! error), an SMTP reply when the local server gives it, a failed message when it is left on
//! the server. The held messages and the database size are read from the state database when
//! Prometheus scrapes. Every name has the `mailpull_` prefix; counters end in `_total`, units
//! are bytes and seconds; label sets are small and closed (`profile`, and a `kind` or `class`
//! from a fixed list).
//!
//! Layout: this file is the registry and the recording API ([`Metrics`]); `http` reads a
//! request line from bytes (pure, sans-IO); `server` is the listener (bounded requests,
//! timeouts, a connection cap) and the two pages.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

pub mod http;
pub mod server;
#[cfg(test)]
mod tests;

pub use server::{MetricsServer, ProfileNames};

/// The upper bounds of the poll duration histogram's buckets, in seconds: a quick empty
/// poll takes well under a second, a large mailbox minutes.
pub const POLL_DURATION_BUCKETS: [f64; 12] = [
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

/// Why something failed: the `kind` label of `mailpull_failures_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// A poll failed at the remote server: connection, TLS, login, protocol.
    Remote,
    /// A poll failed because the OAuth sign-in is missing or revoked.
    SignIn,
    /// A poll stopped because the local SMTP server could not take mail (4xx, unreachable).
    LocalServer,
    /// A poll failed on the state database.
    State,
    /// One message was left on the server (refused, deferred, not fetchable, too large).
    Message,
}

impl FailureKind {
    pub const ALL: [FailureKind; 5] = [
        FailureKind::Remote,
        FailureKind::SignIn,
        FailureKind::LocalServer,
        FailureKind::State,
        FailureKind::Message,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Remote => "remote",
            FailureKind::SignIn => "sign_in",
            FailureKind::LocalServer => "local_server",
            FailureKind::State => "state",
            FailureKind::Message => "message",
        }
    }
}

/// The class of an SMTP reply of the local server: the `class` label of
/// `mailpull_smtp_replies_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SmtpClass {
    Success,
    Transient,
    Permanent,
}

impl SmtpClass {
    pub fn as_str(self) -> &'static str {
        match self {
            SmtpClass::Success => "2xx",
            SmtpClass::Transient => "4xx",
            SmtpClass::Permanent => "5xx",
        }
    }
}

/// How a poll ended, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollOutcome {
    /// It went through the mailbox (single messages may have been left on the server; they
    /// are counted on their own).
    Completed,
    /// It failed for this reason.
    Failed(FailureKind),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ProfileLabel {
    profile: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct FailureLabels {
    profile: String,
    kind: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct SmtpLabels {
    profile: String,
    class: &'static str,
}

type DurationFamily = Family<ProfileLabel, Histogram, fn() -> Histogram>;

fn poll_duration_histogram() -> Histogram {
    Histogram::new(POLL_DURATION_BUCKETS)
}

/// Every metric of the worker and the registry that encodes them; cheap to share (`Arc`).
pub struct Metrics {
    registry: Registry,
    delivered_messages: Family<ProfileLabel, Counter>,
    delivered_bytes: Family<ProfileLabel, Counter>,
    failures: Family<FailureLabels, Counter>,
    held: Family<ProfileLabel, Gauge>,
    last_success: Family<ProfileLabel, Gauge<f64, std::sync::atomic::AtomicU64>>,
    poll_duration: DurationFamily,
    idle_connections: Family<ProfileLabel, Gauge>,
    smtp_replies: Family<SmtpLabels, Counter>,
    database_bytes: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("mailpull");
        let metrics = Metrics {
            registry: Registry::default(),
            delivered_messages: Family::default(),
            delivered_bytes: Family::default(),
            failures: Family::default(),
            held: Family::default(),
            last_success: Family::default(),
            poll_duration: Family::new_with_constructor(poll_duration_histogram),
            idle_connections: Family::default(),
            smtp_replies: Family::default(),
            database_bytes: Gauge::default(),
        };
        registry.register(
            "delivered_messages",
            "Messages delivered to the local server and recorded, per profile",
            metrics.delivered_messages.clone(),
        );
        registry.register_with_unit(
            "delivered",
            "Bytes of the messages delivered (as fetched), per profile",
            Unit::Bytes,
            metrics.delivered_bytes.clone(),
        );
        registry.register(
            "failures",
            "Failed polls by kind (remote, sign_in, local_server, state) and messages left on the server (message)",
            metrics.failures.clone(),
        );
        registry.register(
            "held_messages",
            "Messages held on the remote server after too many failed attempts, per profile",
            metrics.held.clone(),
        );
        registry.register_with_unit(
            "last_successful_poll_timestamp",
            "Unix time of the last poll that went through the remote mailbox, per profile",
            Unit::Seconds,
            metrics.last_success.clone(),
        );
        registry.register_with_unit(
            "poll_duration",
            "Duration of polls, failed ones included, per profile",
            Unit::Seconds,
            metrics.poll_duration.clone(),
        );
        registry.register(
            "idle_connections",
            "IMAP IDLE connections open, per profile",
            metrics.idle_connections.clone(),
        );
        registry.register(
            "smtp_replies",
            "Final replies of the local SMTP server to a message by class (2xx, 4xx, 5xx), per profile",
            metrics.smtp_replies.clone(),
        );
        registry.register_with_unit(
            "state_database",
            "Size of the state database on disk, its write-ahead log included",
            Unit::Bytes,
            metrics.database_bytes.clone(),
        );
        Metrics {
            registry,
            ..metrics
        }
    }

    /// A message of `profile` of `bytes` was delivered and its record committed.
    pub fn delivered(&self, profile: &str, bytes: u64) {
        let label = profile_label(profile);
        self.delivered_messages.get_or_create(&label).inc();
        self.delivered_bytes.get_or_create(&label).inc_by(bytes);
    }

    /// Something of `profile` failed (see [`FailureKind`]).
    pub fn failed(&self, profile: &str, kind: FailureKind) {
        self.failures
            .get_or_create(&FailureLabels {
                profile: profile.to_string(),
                kind: kind.as_str(),
            })
            .inc();
    }

    /// The local server answered a message of `profile` with a reply of `class`.
    pub fn smtp_reply(&self, profile: &str, class: SmtpClass) {
        self.smtp_replies
            .get_or_create(&SmtpLabels {
                profile: profile.to_string(),
                class: class.as_str(),
            })
            .inc();
    }

    /// A poll of `profile` ended after `took`: its duration, and its time when it completed
    /// or its failure.
    pub fn poll_finished(&self, profile: &str, took: Duration, outcome: PollOutcome) {
        let label = profile_label(profile);
        self.poll_duration
            .get_or_create(&label)
            .observe(took.as_secs_f64());
        match outcome {
            PollOutcome::Completed => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64());
                self.last_success.get_or_create(&label).set(now);
            }
            PollOutcome::Failed(kind) => self.failed(profile, kind),
        }
    }

    /// An IDLE connection of `profile` is open until the guard is dropped.
    pub fn idle_connection(self: &Arc<Self>, profile: &str) -> IdleGuard {
        let label = profile_label(profile);
        self.idle_connections.get_or_create(&label).inc();
        IdleGuard {
            metrics: self.clone(),
            label,
        }
    }

    /// Sets what is read at scrape time: the held messages per profile (every profile in
    /// `profiles` shows, 0 when none is held; `None`: the state database did not answer, and
    /// the gauge is left out) and the database's size. The counters of `profiles` are made
    /// (deliveries, failures of
    /// every kind) to show as 0 before their first event.
    pub fn refresh(&self, profiles: &[String], held: Option<&[(String, u64)]>, db_bytes: u64) {
        for profile in profiles {
            let label = profile_label(profile);
            self.delivered_messages.get_or_create(&label).inc_by(0);
            self.delivered_bytes.get_or_create(&label).inc_by(0);
            for kind in FailureKind::ALL {
                let labels = FailureLabels {
                    profile: profile.clone(),
                    kind: kind.as_str(),
                };
                self.failures.get_or_create(&labels).inc_by(0);
            }
        }
        self.held.clear();
        if let Some(held) = held {
            for profile in profiles {
                self.held.get_or_create(&profile_label(profile)).set(0);
            }
            for (profile, count) in held {
                self.held
                    .get_or_create(&profile_label(profile))
                    .set(i64::try_from(*count).unwrap_or(i64::MAX));
            }
        }
        self.database_bytes
            .set(i64::try_from(db_bytes).unwrap_or(i64::MAX));
    }

    /// The metrics in the Prometheus text format (version 0.0.4).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }
}

/// The `Content-Type` of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

fn profile_label(profile: &str) -> ProfileLabel {
    ProfileLabel {
        profile: profile.to_string(),
    }
}

/// Counts one open IDLE connection while it lives.
pub struct IdleGuard {
    metrics: Arc<Metrics>,
    label: ProfileLabel,
}

impl Drop for IdleGuard {
    fn drop(&mut self) {
        self.metrics
            .idle_connections
            .get_or_create(&self.label)
            .dec();
    }
}
