//! The `[worker]` table: state directory, connection caps (IMAP IDLE included), log level, when
//! a failing message is held, the service secret store, the memory budget of the messages held
//! at once, and who is mailed about trouble (`alerts`).

use std::path::{Path, PathBuf};

use super::fields::{Errors, positive};
use crate::config::duration::parse_duration;
use crate::config::model::{
    DEFAULT_HOLD_AFTER, DEFAULT_HOLD_AFTER_ATTEMPTS, DEFAULT_LOG_LEVEL, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_CONNECTIONS_PER_HOST, DEFAULT_MEMORY_BUDGET_MB, LOG_LEVELS, MAX_CONNECTIONS,
    MAX_HOLD_AFTER_ATTEMPTS, MAX_IDLE_CONNECTIONS, MAX_MEMORY_BUDGET_MB, WorkerSettings,
};
use crate::config::raw::RawWorker;

pub(super) fn check_worker(raw: &RawWorker, errors: &mut Errors) -> Option<WorkerSettings> {
    let state_dir = match raw.state_dir.as_deref() {
        None => crate::paths::default_state_dir(),
        Some("") => {
            errors.push(None, "worker.state_dir", "must not be empty");
            return None;
        }
        Some(dir) => PathBuf::from(dir),
    };
    let max_connections = positive(
        raw.max_connections,
        DEFAULT_MAX_CONNECTIONS,
        MAX_CONNECTIONS,
        None,
        "worker.max_connections",
        errors,
    );
    let max_connections_per_host = positive(
        raw.max_connections_per_host,
        DEFAULT_MAX_CONNECTIONS_PER_HOST,
        MAX_CONNECTIONS,
        None,
        "worker.max_connections_per_host",
        errors,
    );
    let log_level = raw
        .log_level
        .clone()
        .unwrap_or_else(|| DEFAULT_LOG_LEVEL.to_string());
    if !LOG_LEVELS.iter().any(|level| log_level.contains(level)) {
        errors.push(
            None,
            "worker.log_level",
            format!("\"{log_level}\" is not a level (error, warn, info, debug or trace)"),
        );
    }
    let hold_after_attempts = positive(
        raw.hold_after_attempts,
        DEFAULT_HOLD_AFTER_ATTEMPTS as usize,
        MAX_HOLD_AFTER_ATTEMPTS as usize,
        None,
        "worker.hold_after_attempts",
        errors,
    ) as u32;
    let hold_after = match raw.hold_after.as_deref().map(parse_duration) {
        None => DEFAULT_HOLD_AFTER,
        Some(Ok(after)) if after.is_zero() => {
            errors.push(
                None,
                "worker.hold_after",
                "must be longer than 0s (for example \"1d\" or \"12h\")",
            );
            DEFAULT_HOLD_AFTER
        }
        Some(Ok(after)) => after,
        Some(Err(message)) => {
            errors.push(None, "worker.hold_after", message);
            DEFAULT_HOLD_AFTER
        }
    };
    let metrics = super::metrics::check_metrics(raw, errors);
    let secrets = match raw.secrets.as_deref() {
        None => None,
        Some(path) if Path::new(path).is_absolute() => Some(PathBuf::from(path)),
        Some(path) => {
            errors.push(
                None,
                "worker.secrets",
                format!(
                    "\"{path}\" is not an absolute path (the service secret store, for example \"{}\")",
                    crate::secrets::service_store::DEFAULT_PATH
                ),
            );
            None
        }
    };
    let memory_budget_mb = positive(
        raw.memory_budget_mb,
        DEFAULT_MEMORY_BUDGET_MB as usize,
        MAX_MEMORY_BUDGET_MB as usize,
        None,
        "worker.memory_budget_mb",
        errors,
    ) as u64;
    let max_idle_connections = raw.max_idle_connections.map(|written| {
        positive(
            Some(written),
            1,
            MAX_IDLE_CONNECTIONS,
            None,
            "worker.max_idle_connections",
            errors,
        )
    });
    let alerts = raw
        .alerts
        .as_ref()
        .and_then(|alerts| super::alerts::check_alerts(alerts, errors));
    Some(WorkerSettings {
        state_dir,
        max_connections,
        max_connections_per_host,
        log_level,
        hold_after_attempts,
        hold_after,
        metrics,
        secrets,
        memory_budget_bytes: memory_budget_mb * 1024 * 1024,
        max_idle_connections,
        alerts,
        shared_state: super::shared_state::check_shared_state(raw, errors),
    })
}
