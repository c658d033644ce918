//! Which state a worker opens: the local SQLite database in `state_dir`, or, with
//! `[worker] state = "postgres://..."`, the state shared with other workers (its password read
//! from `state_password`'s source now, never from the configuration file or a log).

use mailpull_shared::config::model::{SharedState, WorkerSettings};
use mailpull_shared::secrets::{PasswordSource, Secret, SecretError, read_keyring};

use super::error::StateError;
use super::store::Store;

/// The keyring account of the shared state's password (`state_password = { keyring = true }`),
/// in the OS keyring under service `mailpull`.
pub const STATE_PASSWORD_ACCOUNT: &str = "state:postgres";

/// What names the shared state's password in errors.
const WHOSE: &str = "worker.state";

/// Opens the state `worker` names.
pub async fn open_configured(worker: &WorkerSettings) -> Result<Store, StateError> {
    let Some(shared) = &worker.shared_state else {
        return Store::open(&worker.state_dir);
    };
    let password = shared_password(shared)?;
    Store::open_shared(&worker.state_dir, &shared.url, password).await
}

/// The shared state's password, when it has a source, named as `worker.state_password` in
/// an error.
fn shared_password(shared: &SharedState) -> Result<Option<Secret>, StateError> {
    shared
        .password
        .as_ref()
        .map(|source| {
            read_password(source).map_err(|err| StateError::Shared {
                message: format!("worker.state_password: {err}"),
            })
        })
        .transpose()
}

/// For the commands that run without the worker's runtime (`held`, `check`): a runtime of
/// their own and a connection to the shared state made on it.
fn connect_blocking(
    shared: &SharedState,
) -> Result<(tokio::runtime::Runtime, super::pg::PgStore), StateError> {
    let password = shared_password(shared)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| StateError::Shared {
            message: format!("cannot start a runtime to connect: {err}"),
        })?;
    let pg = runtime.block_on(super::pg::PgStore::connect(&shared.url, password))?;
    Ok((runtime, pg))
}

/// Reads the shared state's password from its source.
pub fn read_password(source: &PasswordSource) -> Result<Secret, SecretError> {
    match source {
        PasswordSource::Keyring => {
            read_keyring(WHOSE, STATE_PASSWORD_ACCOUNT)?.ok_or_else(|| SecretError::Keyring {
                profile: WHOSE.to_string(),
                reason: format!("no password stored (entry mailpull / {STATE_PASSWORD_ACCOUNT})"),
            })
        }
        other => other.read(WHOSE),
    }
}

/// For `mailpull-worker held`: the held messages in the shared state (of `profile` only,
/// when named), without the state directory's lock; `Ok(None)` when the state is local.
pub fn read_held_shared(
    worker: &WorkerSettings,
    profile: Option<&str>,
) -> Result<Option<Vec<super::Attempt>>, StateError> {
    let Some(shared) = &worker.shared_state else {
        return Ok(None);
    };
    let (runtime, pg) = connect_blocking(shared)?;
    runtime
        .block_on(pg.held(profile.map(str::to_string)))
        .map(Some)
}

/// For `mailpull-worker check`: when the state is shared, reads its password and connects
/// (creating the tables when missing), without touching the state directory, so it also
/// works beside a running worker. `Ok(None)`: the state is local.
pub fn check_configured(worker: &WorkerSettings) -> Result<Option<String>, StateError> {
    let Some(shared) = &worker.shared_state else {
        return Ok(None);
    };
    let (_runtime, pg) = connect_blocking(shared)?;
    let source = shared
        .password
        .as_ref()
        .map_or("no password".to_string(), |source| {
            format!("password from {}", source.kind())
        });
    Ok(Some(format!(
        "state: shared in PostgreSQL {} ({source}), reachable; lease {}s; TLS: {}",
        pg.shown(),
        shared.lease.as_secs(),
        pg.security()
    )))
}
