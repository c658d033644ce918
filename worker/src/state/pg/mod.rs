//! The shared state in PostgreSQL (`[worker] state = "postgres://..."`), for several workers
//! that share one set of profiles. The same rows and rules as the SQLite store (delivery
//! records, intents and their ids, `sent`, attempts and held messages, deletions, alert
//! state, the History page's reads), so
//! [`super::Store`] hands every call here when it was opened on PostgreSQL; one test suite
//! (`super::suite`) runs against both.
//!
//! - `schema`: the tables, created (and migrated from an older version) at connect.
//! - `records`: delivery records, intents, the `sent` rows, and the reads of what is known.
//! - `leases`: which worker polls which profile (row leases with fencing), see there.
//! - `bookkeeping`: deletions, the poll's clean-up, counts, profile mailboxes, attempts.
//! - `alerts`: the alert state of each profile (`[worker] alerts`).
//! - `history`: a profile's delivery history for the pipe (the window's History page).
//! - `tls`: `sslmode`/`sslrootcert` of the state URL and the rustls connection (verify-full
//!   by default for any host but the loopback).
//! - `notify`: `poll-now` across workers (LISTEN/NOTIFY, no table).
//!
//! Every write is one transaction committed by the server (`synchronous_commit` as the
//! database has it: on by default, i.e. flushed to the server's WAL before the commit returns).

mod alerts;
mod bookkeeping;
mod history;
mod leases;
mod notify;
mod records;
pub(super) mod schema;
mod tls;

pub use leases::{LeaseChange, fair_share};
pub use notify::{POLL_NOW_CHANNEL, PollNowListener};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use mailpull_shared::secrets::Secret;
use tokio_postgres::NoTls;

use super::error::StateError;

/// Connections a worker keeps to the database at most.
const POOL_SIZE: usize = 16;

/// A worker's handle on the shared state; cheap to clone (the pool is shared).
#[derive(Clone)]
pub(crate) struct PgStore {
    pool: Pool,
    /// The connection settings (with the password), for the poll-now listener's own session.
    config: tokio_postgres::Config,
    /// The TLS of the connections (`None`: plain text), for that session too.
    tls: Option<tls::RustlsConnect>,
    installation_id: String,
    /// Where it is, without a password: `user@host:port/db`.
    shown: String,
    /// How the connections are protected (see `tls`).
    security: tls::Security,
    /// This worker in `leases.holder`: host name, pid and a random part.
    worker_id: String,
    /// The profiles this worker holds and their lease generations; `None` until leasing
    /// starts (no fence: the state suite, `check`).
    leases: Arc<Mutex<Option<HashMap<String, i64>>>>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("database", &self.shown)
            .finish()
    }
}

/// A PostgreSQL error in words, with the server's message when it sent one (never a
/// password: the client does not put it in errors).
pub(crate) fn pg_err(err: tokio_postgres::Error) -> StateError {
    let message = match err.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => {
            let mut text = err.to_string();
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                text.push_str(": ");
                text.push_str(&cause.to_string());
                source = cause.source();
            }
            text
        }
    };
    StateError::Shared { message }
}

fn pool_err(err: deadpool_postgres::PoolError) -> StateError {
    match err {
        deadpool_postgres::PoolError::Backend(err) => pg_err(err),
        other => StateError::Shared {
            message: other.to_string(),
        },
    }
}

/// Now, in Unix seconds.
pub(super) fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// `user@host:port/db` of a connection string, for messages (no password).
pub(crate) fn describe(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|host| match host {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_default();
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{}@{host}:{port}/{}",
        config.get_user().unwrap_or_default(),
        config.get_dbname().unwrap_or_default()
    )
}

impl PgStore {
    /// Connects to `url` with `password`, creates the tables when missing and reads (or makes)
    /// the installation id that every worker of this state shares.
    pub(crate) async fn connect(url: &str, password: Option<Secret>) -> Result<Self, StateError> {
        let params = tls::split_params(url)?;
        let mut config: tokio_postgres::Config =
            params
                .url
                .parse()
                .map_err(|err: tokio_postgres::Error| StateError::Shared {
                    message: format!("the state URL is not a PostgreSQL connection string: {err}"),
                })?;
        if let Some(password) = password {
            config.password(password.expose());
        }
        config.application_name("mailpull-worker");
        config.connect_timeout(std::time::Duration::from_secs(10));
        let shown = describe(&config);
        let at = |err: StateError| match err {
            StateError::Shared { message } => StateError::Shared {
                message: format!("{shown}: {message}"),
            },
            other => other,
        };
        let security = params.mode.unwrap_or(if tls::loopback_only(&config) {
            tls::Security::Disable
        } else {
            tls::Security::VerifyFull
        });
        let connector = tls::connector(&mut config, security, params.root.as_ref()).map_err(at)?;
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match connector.clone() {
            Some(tls) => Manager::from_config(config.clone(), tls, manager_config),
            None => Manager::from_config(config.clone(), NoTls, manager_config),
        };
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .build()
            .map_err(|err| StateError::Shared {
                message: err.to_string(),
            })?;
        let installation_id = prepare(&pool).await.map_err(at)?;
        let host = hostname::get()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "unknown".to_string());
        Ok(PgStore {
            pool,
            config,
            tls: connector,
            installation_id,
            shown,
            security,
            worker_id: format!("{host}:{}:{:08x}", std::process::id(), fastrand::u32(..)),
            leases: Arc::new(Mutex::new(None)),
        })
    }

    pub(crate) fn installation_id(&self) -> &str {
        &self.installation_id
    }

    /// `user@host:port/db`.
    pub(crate) fn shown(&self) -> &str {
        &self.shown
    }

    /// The TLS mode of the connections, as `sslmode` spells it.
    pub(crate) fn security(&self) -> &'static str {
        self.security.as_str()
    }

    pub(super) async fn client(&self) -> Result<deadpool_postgres::Object, StateError> {
        self.pool.get().await.map_err(pool_err)
    }
}

/// Creates the tables (under the schema lock), checks the version, and returns the
/// installation id.
async fn prepare(pool: &Pool) -> Result<String, StateError> {
    let mut client = pool.get().await.map_err(pool_err)?;
    let tx = client.transaction().await.map_err(pg_err)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&schema::SCHEMA_LOCK])
        .await
        .map_err(pg_err)?;
    // "already exists, skipping" is no news for the second worker.
    tx.batch_execute("SET LOCAL client_min_messages = warning")
        .await
        .map_err(pg_err)?;
    tx.batch_execute(schema::CREATE_V1).await.map_err(pg_err)?;
    // A fresh database starts at version 1 and is migrated like an old one.
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('schema_version', '1') ON CONFLICT (key) DO NOTHING",
        &[],
    )
    .await
    .map_err(pg_err)?;
    let found: String = tx
        .query_one("SELECT value FROM meta WHERE key = 'schema_version'", &[])
        .await
        .map_err(pg_err)?
        .get(0);
    let Ok(version) = found.trim().parse::<i64>() else {
        return Err(StateError::Shared {
            message: format!("the shared state's schema version {found:?} is not a number"),
        });
    };
    if version > schema::PG_SCHEMA_VERSION {
        return Err(StateError::Shared {
            message: format!(
                "the shared state has schema version {found}, newer than this worker ({}); upgrade Mailpull",
                schema::PG_SCHEMA_VERSION
            ),
        });
    }
    if version < 2 {
        tx.batch_execute(schema::MIGRATE_V2).await.map_err(pg_err)?;
    }
    if version < 3 {
        tx.batch_execute(schema::MIGRATE_V3).await.map_err(pg_err)?;
    }
    if version < 4 {
        tx.batch_execute(schema::MIGRATE_V4).await.map_err(pg_err)?;
    }
    if version < schema::PG_SCHEMA_VERSION {
        tracing::info!(
            from = version,
            to = schema::PG_SCHEMA_VERSION,
            "shared state: schema migrated"
        );
        tx.execute(
            "UPDATE meta SET value = $1 WHERE key = 'schema_version'",
            &[&schema::PG_SCHEMA_VERSION.to_string()],
        )
        .await
        .map_err(pg_err)?;
    }
    let fresh = format!("{:016x}", fastrand::u64(..));
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('installation_id', $1) ON CONFLICT (key) DO NOTHING",
        &[&fresh],
    )
    .await
    .map_err(pg_err)?;
    let id: String = tx
        .query_one("SELECT value FROM meta WHERE key = 'installation_id'", &[])
        .await
        .map_err(pg_err)?
        .get(0);
    tx.commit().await.map_err(pg_err)?;
    Ok(id)
}
