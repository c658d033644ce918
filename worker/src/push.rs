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
//!   slot of its own cap instead ([`IdleSlots`], `[worker] max_idle_connections`, by default
//!   derived from the open-file limit in [`crate::fd_limit`]). A folder that finds the cap full
//!   is counted as waiting in its profile's [`IdleCounts`] (`status` shows "no slot") and waits
//!   for a free slot; meanwhile the scheduler polls the profile every
//!   [`NO_SLOT_POLL_INTERVAL`] instead of its own interval. Slots are handed out first come,
//!   first served (tokio's semaphore is fair): a watcher whose connection dropped gives its slot
//!   to the longest waiter and queues behind it.
//! - The timed poll still runs at the profile's interval as the safety net.
//! - Cost: one task and one socket per folder, no thread; memory is the TLS and IMAP buffers
//!   of each connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use mailpull_shared::config::Profile;
use mailpull_shared::ipc::PushState;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
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
/// A push profile with a folder waiting for an IDLE slot is polled this often (or at its own
/// interval if shorter) until every folder has one: new mail then waits a minute at most,
/// not the profile's interval, at the cost of one short connection a minute.
pub const NO_SLOT_POLL_INTERVAL: Duration = Duration::from_secs(60);

/// How the IDLE watchers behave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushOptions {
    /// End and re-issue IDLE this often.
    pub renew: Duration,
    /// The first delay before reconnecting after a failure.
    pub min_backoff: Duration,
    /// The longest delay between reconnection attempts.
    pub max_backoff: Duration,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            renew: DEFAULT_RENEW,
            min_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(15 * 60),
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

/// The IDLE cap: one slot per IDLE connection, all profiles together.
pub struct IdleSlots {
    semaphore: Arc<Semaphore>,
    cap: usize,
}

impl IdleSlots {
    pub fn new(cap: usize) -> Arc<Self> {
        let cap = cap.max(1);
        Arc::new(IdleSlots {
            semaphore: Arc::new(Semaphore::new(cap)),
            cap,
        })
    }

    /// The number of slots.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Slots held now.
    pub fn in_use(&self) -> usize {
        self.cap - self.semaphore.available_permits()
    }

    /// A slot now if one is free (and nobody waits before us); otherwise the folder is counted
    /// as waiting in `counts` until [`Slot::wait`] gets one or the slot is dropped.
    pub fn try_take(&self, counts: &Arc<IdleCounts>) -> Slot {
        match self.semaphore.clone().try_acquire_owned() {
            Ok(permit) => Slot::Held(permit),
            Err(_) => Slot::Waiting {
                semaphore: self.semaphore.clone(),
                _waiting: Counted::new(counts, Which::Waiting),
            },
        }
    }
}

/// A folder's place in the IDLE cap: a slot, or a place in the queue for one.
pub enum Slot {
    Held(OwnedSemaphorePermit),
    Waiting {
        semaphore: Arc<Semaphore>,
        _waiting: Counted,
    },
}

impl Slot {
    pub fn is_held(&self) -> bool {
        matches!(self, Slot::Held(_))
    }

    /// The slot, once one is free (at once if held). The folder stops counting as waiting when
    /// this returns or is dropped (cancelled). `None` only if the cap was closed (never).
    pub async fn wait(self) -> Option<OwnedSemaphorePermit> {
        match self {
            Slot::Held(permit) => Some(permit),
            Slot::Waiting {
                semaphore,
                _waiting,
            } => semaphore.acquire_owned().await.ok(),
        }
    }
}

/// A profile's IDLE folders: how many wait for a slot and how many hold a running IDLE. Kept
/// by the scheduler per profile name across reloads; read by `status` and by the profile's
/// timer (a waiting folder shortens the interval to [`NO_SLOT_POLL_INTERVAL`]).
#[derive(Debug, Default)]
pub struct IdleCounts {
    waiting: AtomicU32,
    idling: AtomicU32,
}

impl IdleCounts {
    /// Folders waiting for an IDLE slot.
    pub fn waiting(&self) -> u32 {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Folders with a running IDLE.
    pub fn idling(&self) -> u32 {
        self.idling.load(Ordering::Relaxed)
    }

    /// What `status` shows for a push profile with `folders` folders.
    pub fn state(&self, folders: usize) -> PushState {
        if self.waiting() > 0 {
            PushState::NoSlot
        } else if self.idling() as usize >= folders {
            PushState::Idling
        } else {
            PushState::Connecting
        }
    }

    fn counter(&self, which: Which) -> &AtomicU32 {
        match which {
            Which::Waiting => &self.waiting,
            Which::Idling => &self.idling,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Which {
    Waiting,
    Idling,
}

/// One count in an [`IdleCounts`], taken back when dropped (also on cancellation).
pub struct Counted {
    counts: Arc<IdleCounts>,
    which: Which,
}

impl Counted {
    fn new(counts: &Arc<IdleCounts>, which: Which) -> Self {
        counts.counter(which).fetch_add(1, Ordering::Relaxed);
        Counted {
            counts: counts.clone(),
            which,
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.counts
            .counter(self.which)
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// The IDLE watchers of all profiles: their options and their connection cap.
pub struct Push {
    options: PushOptions,
    slots: Arc<IdleSlots>,
}

impl Push {
    /// Watchers with `options`, at most `cap` IDLE connections at once.
    pub fn new(options: PushOptions, cap: usize) -> Self {
        Push {
            options,
            slots: IdleSlots::new(cap),
        }
    }

    /// The cap's slots.
    pub fn slots(&self) -> &Arc<IdleSlots> {
        &self.slots
    }

    /// Starts one watcher per folder of `profile` (which must be an IMAP profile), each
    /// waking `wake` on new mail and counted in `counts`. A folder that finds no free slot is
    /// counted as waiting before this returns, so the profile's first timed poll already
    /// knows. They end when `cancel` (the profile task's token, a child of the worker's) is
    /// cancelled: at shutdown, or when a reload changes or removes the profile.
    pub fn start(
        &self,
        tracker: &TaskTracker,
        ctx: &Arc<PollContext>,
        profile: &Profile,
        watch: (&Arc<Notify>, &Arc<IdleCounts>),
        cancel: &CancellationToken,
    ) {
        let (wake, counts) = watch;
        let profile = Arc::new(profile.clone());
        for folder in &profile.remote.folders {
            let span = info_span!("push", profile = %profile.name, folder = %folder);
            let first = self.slots.try_take(counts);
            let watch = Watch {
                profile: profile.clone(),
                folder: folder.clone(),
                wake: wake.clone(),
                counts: counts.clone(),
            };
            tracker.spawn(
                watch_folder(
                    ctx.clone(),
                    self.options.clone(),
                    self.slots.clone(),
                    first,
                    watch,
                    cancel.clone(),
                )
                .instrument(span),
            );
        }
    }
}

/// The folder a watcher holds an IDLE on, whom it wakes and where it is counted.
pub struct Watch {
    pub profile: Arc<Profile>,
    pub folder: String,
    pub wake: Arc<Notify>,
    pub counts: Arc<IdleCounts>,
}

/// Holds an IDLE on `watch.folder` until cancellation, waking `watch.wake` on new mail and
/// after every (re)connection; reconnects with backoff. `first` is its place in the cap at
/// start ([`IdleSlots::try_take`]).
pub async fn watch_folder(
    ctx: Arc<PollContext>,
    options: PushOptions,
    slots: Arc<IdleSlots>,
    first: Slot,
    watch: Watch,
    cancel: CancellationToken,
) {
    let mut failures: u32 = 0;
    let mut next = Some(first);
    loop {
        let slot = match next.take() {
            Some(slot) => slot,
            None => {
                let slot = slots.try_take(&watch.counts);
                if !slot.is_held() {
                    // The IDLE is gone and the slot went to a waiter: poll now, then at the
                    // short interval until a slot frees.
                    watch.wake.notify_one();
                }
                slot
            }
        };
        if !slot.is_held() {
            warn!(
                limit = slots.cap(),
                poll_every_secs = NO_SLOT_POLL_INTERVAL.as_secs(),
                "IDLE connection limit reached; waiting for a free slot and polling meanwhile"
            );
        }
        let permit = tokio::select! {
            _ = cancel.cancelled() => return,
            permit = slot.wait() => match permit {
                Some(permit) => permit,
                None => return,
            },
        };
        let mut idled = false;
        let result = session(&ctx, &options, &watch, &cancel, &mut idled).await;
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
    watch: &Watch,
    cancel: &CancellationToken,
    idled: &mut bool,
) -> Result<(), SourceError> {
    let (profile, folder, wake) = (&*watch.profile, watch.folder.as_str(), &*watch.wake);
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
    let _idling = Counted::new(&watch.counts, Which::Idling);
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
    }

    #[tokio::test]
    async fn folders_beyond_the_cap_wait_and_get_a_freed_slot() {
        let slots = IdleSlots::new(2);
        let profiles: Vec<Arc<IdleCounts>> = (0..4).map(|_| Arc::default()).collect();
        let mut taken: Vec<Slot> = profiles.iter().map(|c| slots.try_take(c)).collect();
        let held: Vec<bool> = taken.iter().map(Slot::is_held).collect();
        assert_eq!(held, [true, true, false, false]);
        assert_eq!(slots.in_use(), 2);
        let waiting: Vec<u32> = profiles.iter().map(|c| c.waiting()).collect();
        assert_eq!(waiting, [0, 0, 1, 1]);
        assert_eq!(profiles[2].state(1), PushState::NoSlot);
        assert_eq!(profiles[0].state(1), PushState::Connecting);

        // The third waits; the first's slot frees (its connection dropped) and goes to it.
        let third = tokio::spawn(taken.remove(2).wait());
        tokio::task::yield_now().await;
        assert!(!third.is_finished(), "no slot free yet");
        drop(taken.remove(0));
        let permit = tokio::time::timeout(Duration::from_secs(5), third)
            .await
            .expect("the freed slot goes to the waiter")
            .expect("task")
            .expect("permit");
        assert_eq!(profiles[2].waiting(), 0);
        assert_eq!(slots.in_use(), 2);
        // The first, reconnecting, now queues behind the fourth.
        let again = slots.try_take(&profiles[0]);
        assert!(!again.is_held());
        assert_eq!(profiles[0].waiting(), 1);
        // A waiter that is dropped (its profile removed) stops counting.
        drop(again);
        drop(taken);
        assert_eq!(profiles.iter().map(|c| c.waiting()).sum::<u32>(), 0);
        drop(permit);
        assert_eq!(slots.in_use(), 0);
    }

    #[test]
    fn a_profile_idles_once_every_folder_does() {
        let counts = Arc::new(IdleCounts::default());
        let first = Counted::new(&counts, Which::Idling);
        assert_eq!(counts.state(2), PushState::Connecting);
        let second = Counted::new(&counts, Which::Idling);
        assert_eq!(counts.state(2), PushState::Idling);
        drop((first, second));
        assert_eq!(counts.idling(), 0);
    }
}
