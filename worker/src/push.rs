//! IMAP IDLE push: for every folder of a `push = true` profile one small task holds an IDLE
//! connection and, when the server announces new mail (`EXISTS`), wakes the profile's poll
//! through the scheduler's per-profile [`Notify`] — the same path as `poll_now`, so fetching,
//! delivering, recording and deleting stay in [`crate::poll`] alone.
//!
//! - The IDLE is ended and re-issued every [`PushOptions::renew`] (RFC 2177 asks for less
//!   than 29 minutes; servers log idle clients out at 30).
//! - A dropped connection is re-opened with exponential backoff and jitter
//!   ([`PushOptions::min_backoff`] doubling up to [`PushOptions::max_backoff`]); after every
//!   (re)connection the poll is woken once, for what arrived while no IDLE was running.
//! - An IDLE connection holds no permit of the poll caps (`max_connections`,
//!   `max_connections_per_host`): it would hold one forever and starve the polls. It takes a
//!   permit of its own cap instead ([`PushOptions::max_connections`]); a watcher that finds
//!   the cap full waits for a free slot while its profile keeps polling on its timer.
//! - The timed poll still runs at the profile's interval as the safety net.
//! - Cost: one task and one socket per folder, no thread; memory is the TLS and IMAP buffers
//!   of each connection.

use std::sync::Arc;
use std::time::Duration;

use mailpull_shared::config::Profile;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::context::PollContext;
use crate::remote::{self, Connection};
use crate::source::SourceError;
use crate::source::imap::{IdleEvent, ImapIdle};

/// IDLE is re-issued this often by default: well inside the 29 minutes of RFC 2177, short
/// enough for NAT gateways that drop quiet connections.
pub const DEFAULT_RENEW: Duration = Duration::from_secs(20 * 60);
/// At most this many IDLE connections at once, all profiles together (each is a socket and
/// a file descriptor; the polls have their own caps).
pub const DEFAULT_MAX_IDLE_CONNECTIONS: usize = 500;

/// How the IDLE watchers behave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushOptions {
    /// End and re-issue IDLE this often.
    pub renew: Duration,
    /// The first delay before reconnecting after a failure.
    pub min_backoff: Duration,
    /// The longest delay between reconnection attempts.
    pub max_backoff: Duration,
    /// IDLE connections open at once, at most.
    pub max_connections: usize,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            renew: DEFAULT_RENEW,
            min_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(15 * 60),
            max_connections: DEFAULT_MAX_IDLE_CONNECTIONS,
        }
    }
}

impl PushOptions {
    /// The delay before reconnection attempt number `failures` (1, 2, ...), with ±20 %
    /// `jitter` (-1.0 to 1.0) so that accounts cut off together do not return together.
    pub fn backoff(&self, failures: u32, jitter: f64) -> Duration {
        let factor = 1u32 << failures.saturating_sub(1).min(20);
        let base = self
            .min_backoff
            .saturating_mul(factor)
            .min(self.max_backoff);
        base.mul_f64(1.0 + jitter.clamp(-1.0, 1.0) * 0.2)
    }
}

/// The IDLE watchers of all profiles: their options and their connection cap.
pub struct Push {
    options: PushOptions,
    slots: Arc<Semaphore>,
}

impl Push {
    pub fn new(options: PushOptions) -> Self {
        let slots = Arc::new(Semaphore::new(options.max_connections.max(1)));
        Push { options, slots }
    }

    /// Starts one watcher per folder of `profile` (which must be an IMAP profile), each
    /// waking `wake` on new mail. They end when `cancel` (the profile task's token, a child of
    /// the worker's) is cancelled: at shutdown, or when a reload changes or removes the profile.
    pub fn start(
        &self,
        tracker: &TaskTracker,
        ctx: &Arc<PollContext>,
        profile: &Profile,
        wake: &Arc<Notify>,
        cancel: &CancellationToken,
    ) {
        let profile = Arc::new(profile.clone());
        for folder in &profile.remote.folders {
            let span = info_span!("push", profile = %profile.name, folder = %folder);
            tracker.spawn(
                watch_folder(
                    ctx.clone(),
                    self.options.clone(),
                    self.slots.clone(),
                    profile.clone(),
                    folder.clone(),
                    wake.clone(),
                    cancel.clone(),
                )
                .instrument(span),
            );
        }
    }
}

/// Holds an IDLE on `folder` until cancellation, waking `wake` on new mail and after every
/// (re)connection; reconnects with backoff.
pub async fn watch_folder(
    ctx: Arc<PollContext>,
    options: PushOptions,
    slots: Arc<Semaphore>,
    profile: Arc<Profile>,
    folder: String,
    wake: Arc<Notify>,
    cancel: CancellationToken,
) {
    let mut failures: u32 = 0;
    loop {
        if slots.available_permits() == 0 {
            warn!(
                limit = options.max_connections,
                "IDLE connection limit reached; waiting for a free slot (the timed poll goes on)"
            );
        }
        let permit = tokio::select! {
            _ = cancel.cancelled() => return,
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        let mut idled = false;
        let result = session(
            &ctx, &options, &profile, &folder, &wake, &cancel, &mut idled,
        )
        .await;
        drop(permit);
        let err = match result {
            Ok(()) => return,
            Err(err) => err,
        };
        if cancel.is_cancelled() {
            return;
        }
        if matches!(err, SourceError::IdleUnsupported { .. }) {
            warn!(error = %err, "push disabled for this folder");
            return;
        }
        failures = if idled { 1 } else { failures.saturating_add(1) };
        let delay = options.backoff(failures, fastrand::f64() * 2.0 - 1.0);
        warn!(error = %err, retry_in_ms = delay.as_millis() as u64, "IDLE connection lost; reconnecting");
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// One IDLE connection from login to failure or cancellation. `idled` is set once IDLE ran.
async fn session(
    ctx: &PollContext,
    options: &PushOptions,
    profile: &Profile,
    folder: &str,
    wake: &Notify,
    cancel: &CancellationToken,
    idled: &mut bool,
) -> Result<(), SourceError> {
    let conn = match remote::connect(ctx, profile).await? {
        Connection::Imap(conn) => conn,
        // The configuration check refuses `push` on a POP3 profile.
        pop3 @ Connection::Pop3(_) => {
            pop3.logout().await;
            let remote = &profile.remote;
            return Err(SourceError::IdleUnsupported {
                server: format!("{}:{}", remote.host, remote.port),
            });
        }
    };
    let mut idle: ImapIdle = tokio::select! {
        _ = cancel.cancelled() => return Ok(()),
        idle = conn.idle(folder) => idle?,
    };
    *idled = true;
    let _open = ctx.metrics.idle_connection(&profile.name);
    info!("IDLE started");
    // Whatever arrived while no IDLE was running (start-up, an outage) is pulled now.
    wake.notify_one();
    loop {
        let event = tokio::select! {
            _ = cancel.cancelled() => {
                idle.logout().await;
                return Ok(());
            }
            event = idle.wait(options.renew) => event?,
        };
        match event {
            IdleEvent::NewMail => {
                debug!("new mail announced; waking the poll");
                wake.notify_one();
            }
            IdleEvent::Renew => {
                debug!("re-issuing IDLE");
                if idle.renew().await? {
                    wake.notify_one();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_minimum_up_to_the_maximum() {
        let options = PushOptions {
            min_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            ..PushOptions::default()
        };
        assert_eq!(options.backoff(1, 0.0), Duration::from_secs(1));
        assert_eq!(options.backoff(2, 0.0), Duration::from_secs(2));
        assert_eq!(options.backoff(4, 0.0), Duration::from_secs(8));
        assert_eq!(options.backoff(7, 0.0), Duration::from_secs(60));
        assert_eq!(options.backoff(u32::MAX, 0.0), Duration::from_secs(60));
        assert_eq!(options.backoff(1, 1.0), Duration::from_millis(1200));
        assert_eq!(options.backoff(1, -9.0), Duration::from_millis(800));
    }

    #[test]
    fn defaults_renew_inside_rfc_2177() {
        let options = PushOptions::default();
        assert!(options.renew < Duration::from_secs(29 * 60));
        assert!(options.max_connections >= 100);
    }
}
