//! The worker assembled: [`run`] opens the state database, builds the [`PollContext`] (SMTP
//! transports, TLS, OAuth tokens), starts the [`Scheduler`] (with its IMAP IDLE watchers), the
//! IPC server and, when `[worker] metrics` is set, the metrics endpoint, and on `shutdown` lets every poll finish the message in hand; [`run_once`]
//! polls every enabled profile one time instead. `mailpull-worker run` and the Windows service
//! both call these, so the console and the service run one code path.

use std::fmt;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use mailpull_shared::config::{Config, ConfigError};
use mailpull_shared::ipc::{Endpoint, RunMode};
use tokio_util::sync::CancellationToken;

use crate::context::PollContext;
use crate::deliver::Deliverer;
use crate::fd_limit;
use crate::ipc::{self, IpcSetupError};
use crate::logging::LiveLog;
use crate::metrics::MetricsServer;
use crate::metrics::server::MetricsSetupError;
use crate::poll::{PollError, PollReport};
use crate::scheduler::{self, Scheduler};
use crate::state::StateError;
use crate::validate;

/// Why the worker could not start (or stopped with an error).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The configuration file has errors; each is named.
    #[error("invalid configuration\n{0}")]
    Config(ConfigError),
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Ipc(#[from] IpcSetupError),
    #[error(transparent)]
    Metrics(#[from] MetricsSetupError),
}

/// Reads and checks a configuration file, routing rules included ([`validate::load`]).
pub fn load(path: &Path) -> Result<Config, RunError> {
    validate::load(path).map_err(RunError::Config)
}

fn runtime() -> Result<tokio::runtime::Runtime, RunError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(RunError::Runtime)
}

/// The state database and the [`PollContext`] every poll shares.
async fn context(config: &Config, cancel: CancellationToken) -> Result<Arc<PollContext>, RunError> {
    let store = crate::state::open_configured(&config.worker).await?;
    let pool_size = config.worker.max_connections.clamp(1, 32) as u32;
    Ok(Arc::new(
        PollContext::new(store, Deliverer::new(pool_size), cancel)
            .with_hold(&config.worker)
            .with_budget(&config.worker)
            .with_alerts(config),
    ))
}

/// Runs the worker of `config` (read from `config_file`, which names the IPC endpoint) until
/// `shutdown` completes: a signal, or the Windows service's stop. Polls then finish the message
/// in hand, and this returns once every one has. `live` is the log the IPC clients subscribe
/// to; `mode` is how the worker was started, told to every client in the hello. Blocks the
/// calling thread (it runs its own async runtime).
pub fn run(
    config_file: &Path,
    config: &Config,
    live: LiveLog,
    mode: RunMode,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    runtime()?.block_on(async move {
        let cancel = CancellationToken::new();
        let ctx = context(config, cancel.clone()).await?;
        let endpoint = Endpoint::for_config(config_file);
        let listener = ipc::bind(&endpoint)?;
        tracing::info!(config = %config_file.display(), profiles = config.profiles.len(), ipc = %endpoint, run_mode = ?mode, "worker started");
        let fd_limit = fd_limit::raise();
        let (idle_cap, cap_source) = fd_limit::idle_cap(&config.worker, fd_limit.and_then(|l| l.soft));
        tracing::info!(
            open_files = fd_limit.and_then(|l| l.soft),
            open_files_before = fd_limit.and_then(|l| l.before),
            open_files_hard = fd_limit.and_then(|l| l.hard),
            max_idle_connections = idle_cap,
            cap_from = cap_source.as_str(),
            "IDLE connection cap"
        );
        let scheduler = Arc::new(Scheduler::new(ctx.clone(), config, idle_cap));
        let metrics = match config.worker.metrics {
            Some(addr) => {
                let board = scheduler.board.clone();
                let names = Arc::new(move || board.all().into_keys().collect());
                let server = MetricsServer::bind(
                    addr,
                    ctx.metrics.clone(),
                    ctx.store.clone(),
                    names,
                    cancel.clone(),
                )
                .await?;
                Some(tokio::spawn(server.serve()))
            }
            None => None,
        };
        let leases = config.worker.shared_state.as_ref().map(|shared| {
            ctx.store.start_leasing();
            tokio::spawn(crate::cluster::lease_loop(
                ctx.store.clone(),
                scheduler.clone(),
                shared.lease,
                cancel.clone(),
            ))
        });
        let poll_requests = config.worker.shared_state.as_ref().map(|_| {
            tokio::spawn(crate::cluster::poll_now_loop(
                ctx.store.clone(),
                scheduler.clone(),
                cancel.clone(),
            ))
        });
        scheduler.start(config);
        let store = ctx.store.clone();
        let state = Arc::new(ipc::WorkerState::new(
            endpoint.config.clone(),
            config.clone(),
            scheduler.clone(),
            ctx,
            live,
            mode,
        ));
        let server = tokio::spawn(ipc::serve(listener, state, cancel.clone()));
        shutdown.await;
        tracing::info!("shutting down: finishing the messages in hand");
        cancel.cancel();
        scheduler.wait().await;
        if let Some(leases) = leases {
            let _ = leases.await;
            // Every poll has finished: the other workers take the profiles over at once.
            if let Err(err) = store.release_leases().await {
                tracing::warn!(error = %err, "shared state: cannot release the profile leases (they lapse on their own)");
            }
        }
        let _ = server.await;
        if let Some(poll_requests) = poll_requests {
            let _ = poll_requests.await;
        }
        if let Some(metrics) = metrics {
            let _ = metrics.await;
        }
        tracing::info!("worker stopped");
        Ok(())
    })
}

/// Polls every enabled profile of `config` once, concurrently within the caps. A `shutdown`
/// cancels the polls, which finish the message in hand and report. Blocks the calling thread.
pub fn run_once(
    config: &Config,
    shutdown: impl Future<Output = ()>,
) -> Result<OnceSummary, RunError> {
    runtime()?.block_on(async move {
        let cancel = CancellationToken::new();
        let ctx = context(config, cancel.clone()).await?;
        let store = ctx.store.clone();
        if let Some(shared) = &config.worker.shared_state {
            // Once, beside other workers: poll only the fair share this worker can claim now.
            store.start_leasing();
            let names: Vec<String> = config
                .profiles
                .iter()
                .filter(|p| p.enabled)
                .map(|p| p.name.clone())
                .collect();
            store.lease_tick(&names, shared.lease).await?;
        }
        let work = scheduler::run_once(ctx, config);
        tokio::pin!(work);
        let results = tokio::select! {
            results = &mut work => results,
            () = shutdown => {
                cancel.cancel();
                work.await
            }
        };
        if let Err(err) = store.release_leases().await {
            tracing::warn!(error = %err, "shared state: cannot release the profile leases (they lapse on their own)");
        }
        Ok(OnceSummary { results })
    })
}

/// What `run --once` did: each profile's report or error. Its `Display` is the table that
/// `mailpull-worker run --once` prints.
#[derive(Debug)]
pub struct OnceSummary {
    pub results: Vec<(String, Result<PollReport, PollError>)>,
}

impl OnceSummary {
    /// The number of profiles whose poll failed.
    pub fn failed(&self) -> usize {
        self.results.iter().filter(|(_, r)| r.is_err()).count()
    }
}

impl fmt::Display for OnceSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<20} {:>7} {:>9} {:>12} {:>7}  result",
            "profile", "listed", "delivered", "bytes", "deleted"
        )?;
        for (name, result) in &self.results {
            match result {
                Ok(report) => writeln!(
                    f,
                    "{:<20} {:>7} {:>9} {:>12} {:>7}  ok",
                    name, report.listed, report.delivered, report.bytes, report.deleted
                )?,
                Err(err) => writeln!(
                    f,
                    "{name:<20} {:>7} {:>9} {:>12} {:>7}  FAILED: {err}",
                    "-", "-", "-", "-"
                )?,
            }
        }
        let failed = self.failed();
        if failed > 0 {
            writeln!(f, "{failed} of {} profile(s) failed", self.results.len())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_once_summary_is_a_table_with_a_failure_count() {
        let ok = PollReport {
            listed: 3,
            delivered: 2,
            bytes: 1234,
            deleted: 2,
            ..PollReport::default()
        };
        let failed = PollError::Undelivered {
            count: 1,
            first: "7: refused".into(),
        };
        let summary = OnceSummary {
            results: vec![("isp".into(), Ok(ok)), ("other".into(), Err(failed))],
        };
        assert_eq!(summary.failed(), 1);
        assert_eq!(
            summary.to_string(),
            "profile               listed delivered        bytes deleted  result\n\
             isp                        3         2         1234       2  ok\n\
             other                      -         -            -       -  FAILED: 1 message(s) left on the server: 7: refused\n\
             1 of 2 profile(s) failed\n"
        );
    }
}
