//! Several workers on one shared state (`[worker] state = "postgres://..."`): the lease loop.
//! Every third of the lease it renews this worker's profile leases and claims its fair share
//! of the free or lapsed ones (see `state::pg::leases`); a profile it claims is polled at once,
//! one it lost is not polled again (the scheduler asks [`crate::state::Store::holds`] before
//! every poll, and the store refuses a record or a poll start without the lease). When the
//! database stays out of reach for a whole lease, the worker drops every lease: another worker
//! may have claimed them by then. The engine releases the leases at a clean stop. Each round
//! also gives the scheduler the live worker count, so that the workers together keep each
//! server's `max_connections_per_host` ([`crate::limits`]).

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
                for profile in &change.claimed {
                    scheduler.poll_now(profile);
                }
            }
            Ok(None) => return,
            Err(err) => {
                tracing::warn!(error = %err, "shared state: cannot renew the profile leases");
                if last_ok.elapsed() >= lease {
                    let dropped = store.drop_leases();
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
