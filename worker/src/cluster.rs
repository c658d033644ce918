//! Several workers on one shared state (`[worker] state = "postgres://..."`): the lease loop.
//! Every third of the lease it renews this worker's profile leases and claims its fair share
//! of the free or lapsed ones (see `state::pg::leases`); a profile it claims is polled at once,
//! one it lost is not polled again (the scheduler asks [`crate::state::Store::holds`] before
//! every poll, and the store refuses a record or a poll start without the lease). When the
//! database stays out of reach for a whole lease, the worker drops every lease: another worker
//! may have claimed them by then. The engine releases the leases at a clean stop. Each round
//! also gives the scheduler the live worker count, so that the workers together keep each
//! server's `max_connections_per_host` ([`crate::limits`]).
//!
//! After every round the scheduler's IDLE watchers follow the leases
//! ([`Scheduler::sync_push`]): a push profile holds IDLE connections only in its holder.
//! [`poll_now_loop`] listens for the `poll-now` requests other workers pass on (PostgreSQL
//! NOTIFY, see `state::pg::notify`) and wakes the profiles this worker holds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::scheduler::Scheduler;
use crate::state::Store;

/// Renews and claims leases until `cancel`; returns then (the caller releases them).
pub async fn lease_loop(
    store: Store,
    scheduler: Arc<Scheduler>,
    lease: Duration,
    cancel: CancellationToken,
) {
    let tick = lease / 3;
    let mut last_ok = Instant::now();
    // The first round only says this worker is alive, so that workers started together see
    // each other before they claim (none takes everything to hand most of it back).
    let mut first = true;
    loop {
        let profiles = if first {
            Vec::new()
        } else {
            scheduler.enabled_profiles()
        };
        match store.lease_tick(&profiles, lease).await {
            Ok(Some(change)) => {
                last_ok = Instant::now();
                if !change.claimed.is_empty() || !change.lost.is_empty() {
                    tracing::info!(
                        claimed = ?change.claimed,
                        lost = ?change.lost,
                        held = change.held,
                        workers = change.workers,
                        "shared state: profile leases changed"
                    );
                }
                if let Some(share) = scheduler.share_host_caps(change.workers) {
                    tracing::info!(
                        workers = change.workers,
                        per_host = share,
                        "shared state: this worker's share of max_connections_per_host"
                    );
                }
                scheduler.sync_push();
                for profile in &change.claimed {
                    scheduler.poll_now(profile);
                }
            }
            Ok(None) => return,
            Err(err) => {
                tracing::warn!(error = %err, "shared state: cannot renew the profile leases");
                if last_ok.elapsed() >= lease {
                    let dropped = store.drop_leases();
                    scheduler.sync_push();
                    if !dropped.is_empty() {
                        tracing::error!(
                            profiles = dropped.len(),
                            "shared state out of reach for a whole lease: this worker stops polling its profiles until it can claim them again"
                        );
                    }
                }
            }
        }
        let wait = if first {
            tick.min(Duration::from_secs(2))
        } else {
            tick
        };
        first = false;
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// The longest wait before listening again after the listener's connection failed.
const MAX_LISTEN_BACKOFF: Duration = Duration::from_secs(30);

/// Listens for `poll-now` requests passed on by other workers until `cancel`, and polls each
/// profile asked for that this worker holds now (the others ignore it). Reconnects with a
/// backoff (1 s doubling to 30 s) when the connection fails; a request sent meanwhile is lost
/// (the timed poll still runs).
pub async fn poll_now_loop(store: Store, scheduler: Arc<Scheduler>, cancel: CancellationToken) {
    let mut backoff = Duration::from_secs(1);
    loop {
        match store.listen_poll_now().await {
            Ok(Some(mut listener)) => {
                tracing::debug!("shared state: listening for poll-now requests");
                backoff = Duration::from_secs(1);
                loop {
                    let profile = tokio::select! {
                        _ = cancel.cancelled() => return,
                        profile = listener.next() => profile,
                    };
                    let Some(profile) = profile else { break };
                    if store.holds(&profile) && scheduler.poll_now(&profile) {
                        tracing::info!(profile = %profile, "poll requested through another worker");
                    }
                }
                tracing::warn!("shared state: the poll-now listener stopped; listening again");
            }
            Ok(None) => return,
            Err(err) => {
                tracing::warn!(error = %err, retry_in_secs = backoff.as_secs(), "shared state: cannot listen for poll-now requests");
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_LISTEN_BACKOFF);
    }
}
