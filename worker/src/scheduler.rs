//! When profiles poll: each on its own timer with jitter, all concurrently within the
//! connection caps (`max_connections` overall, `max_connections_per_host` per remote server),
//! failures backing off exponentially. Also `--once`: every enabled profile one time.
//! Profiles with `push = true` also get IDLE watchers ([`crate::push`]) that wake their timer
//! task, the way `poll_now` does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use mailpull_shared::config::{Config, Profile};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

use crate::poll::{self, PollContext, PollError, PollReport};
use crate::push::{Push, PushOptions};

/// The longest wait after repeated failures (unless the interval itself is longer).
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// What a profile is doing, for `status` and the manager.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProfileStatus {
    pub state: ProfileState,
    pub last_poll: Option<SystemTime>,
    pub next_poll: Option<SystemTime>,
    pub messages: u64,
    pub bytes: u64,
    pub last_error: Option<String>,
    pub consecutive_failures: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProfileState {
    #[default]
    Idle,
    Polling,
    Ok,
    Error,
    Disabled,
}

/// Connection caps shared by all polls.
pub struct Limits {
    global: Arc<Semaphore>,
    per_host: usize,
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl Limits {
    pub fn new(max_connections: usize, max_connections_per_host: usize) -> Self {
        Limits {
            global: Arc::new(Semaphore::new(max_connections)),
            per_host: max_connections_per_host,
            hosts: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for a slot on the remote server of `profile` and one overall.
    pub async fn acquire(&self, profile: &Profile) -> (OwnedSemaphorePermit, OwnedSemaphorePermit) {
        let host_key = format!(
            "{}:{}",
            profile.remote.host.to_ascii_lowercase(),
            profile.remote.port
        );
        let host = {
            let mut hosts = self
                .hosts
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            hosts
                .entry(host_key)
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_host)))
                .clone()
        };
        // Host first: a profile waiting for a busy host must not hold a global slot.
        let host_permit = host.acquire_owned().await;
        let global_permit = self.global.clone().acquire_owned().await;
        match (host_permit, global_permit) {
            (Ok(h), Ok(g)) => (h, g),
            // The semaphores are never closed.
            _ => unreachable!("connection semaphores are never closed"),
        }
    }
}

/// Statuses of all profiles.
#[derive(Default)]
pub struct StatusBoard {
    inner: Mutex<HashMap<String, ProfileStatus>>,
}

impl StatusBoard {
    pub fn get(&self, name: &str) -> Option<ProfileStatus> {
        self.lock().get(name).cloned()
    }

    pub fn all(&self) -> HashMap<String, ProfileStatus> {
        self.lock().clone()
    }

    fn update(&self, name: &str, change: impl FnOnce(&mut ProfileStatus)) {
        change(self.lock().entry(name.to_string()).or_default());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ProfileStatus>> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The delay before the next poll: the interval with ±10 % jitter, or after failures an
/// exponential backoff (interval × 2^failures) capped at an hour (or the interval if longer).
pub fn next_delay(interval: Duration, consecutive_failures: u32, jitter: f64) -> Duration {
    let base = if consecutive_failures == 0 {
        interval
    } else {
        let factor = 1u32 << consecutive_failures.min(16);
        interval
            .saturating_mul(factor)
            .min(MAX_BACKOFF.max(interval))
    };
    let jitter = jitter.clamp(-1.0, 1.0) * 0.1;
    base.mul_f64(1.0 + jitter)
}

/// Polls one profile under the caps and records the outcome on the board.
pub async fn poll_with_limits(
    ctx: &PollContext,
    limits: &Limits,
    board: &StatusBoard,
    profile: &Profile,
) -> Result<PollReport, PollError> {
    let _permits = limits.acquire(profile).await;
    board.update(&profile.name, |status| status.state = ProfileState::Polling);
    let result = poll::poll(ctx, profile).await;
    board.update(&profile.name, |status| {
        status.last_poll = Some(SystemTime::now());
        match &result {
            Ok(report) => {
                status.state = ProfileState::Ok;
                status.messages += report.delivered as u64;
                status.bytes += report.bytes;
                status.last_error = None;
                status.consecutive_failures = 0;
            }
            Err(err) => {
                status.state = ProfileState::Error;
                status.last_error = Some(err.to_string());
                status.consecutive_failures += 1;
            }
        }
    });
    match &result {
        Ok(report) => info!(
            profile = %profile.name,
            listed = report.listed,
            delivered = report.delivered,
            bytes = report.bytes,
            deleted = report.deleted,
            already_delivered = report.already_delivered,
            "poll done"
        ),
        Err(err) => warn!(profile = %profile.name, error = %err, "poll failed"),
    }
    result
}

/// Polls every enabled profile once, concurrently within the caps.
pub async fn run_once(
    ctx: Arc<PollContext>,
    config: &Config,
) -> Vec<(String, Result<PollReport, PollError>)> {
    let limits = Arc::new(Limits::new(
        config.worker.max_connections,
        config.worker.max_connections_per_host,
    ));
    let board = Arc::new(StatusBoard::default());
    let mut tasks = Vec::new();
    for profile in config.profiles.iter().filter(|p| p.enabled).cloned() {
        let (ctx, limits, board) = (ctx.clone(), limits.clone(), board.clone());
        tasks.push(tokio::spawn(async move {
            let result = poll_with_limits(&ctx, &limits, &board, &profile).await;
            (profile.name, result)
        }));
    }
    let mut results = Vec::new();
    for task in tasks {
        match task.await {
            Ok(result) => results.push(result),
            Err(err) => error!("a poll task failed: {err}"),
        }
    }
    results
}

/// The long-running scheduler: one task per enabled profile.
pub struct Scheduler {
    ctx: Arc<PollContext>,
    limits: Arc<Limits>,
    pub board: Arc<StatusBoard>,
    tracker: TaskTracker,
    wakers: Mutex<HashMap<String, Arc<Notify>>>,
    push: Push,
}

impl Scheduler {
    pub fn new(ctx: Arc<PollContext>, config: &Config) -> Self {
        Scheduler {
            ctx,
            limits: Arc::new(Limits::new(
                config.worker.max_connections,
                config.worker.max_connections_per_host,
            )),
            board: Arc::new(StatusBoard::default()),
            tracker: TaskTracker::new(),
            wakers: Mutex::new(HashMap::new()),
            push: Push::new(PushOptions::default()),
        }
    }

    /// Starts a timer task for every profile (disabled ones only show as disabled).
    pub fn start(&self, config: &Config) {
        for profile in config.profiles.iter().cloned() {
            if !profile.enabled {
                self.board.update(&profile.name, |status| {
                    status.state = ProfileState::Disabled
                });
                continue;
            }
            let wake = Arc::new(Notify::new());
            self.wakers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(profile.name.clone(), wake.clone());
            if profile.push {
                self.push.start(&self.tracker, &self.ctx, &profile, &wake);
            }
            let (ctx, limits, board) = (self.ctx.clone(), self.limits.clone(), self.board.clone());
            self.tracker
                .spawn(profile_loop(ctx, limits, board, profile, wake));
        }
    }

    /// Polls a profile now instead of at its next time; false if there is no such profile.
    pub fn poll_now(&self, name: &str) -> bool {
        let wakers = self
            .wakers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match wakers.get(name) {
            Some(wake) => {
                wake.notify_one();
                true
            }
            None => false,
        }
    }

    /// Waits until every profile task has finished after cancellation.
    pub async fn wait(&self) {
        self.tracker.close();
        self.tracker.wait().await;
    }
}

async fn profile_loop(
    ctx: Arc<PollContext>,
    limits: Arc<Limits>,
    board: Arc<StatusBoard>,
    profile: Profile,
    wake: Arc<Notify>,
) {
    // Spread the first polls over a few seconds so a restart does not hit every server at once.
    let mut delay = Duration::from_millis(fastrand::u64(0..=3000)).min(profile.interval);
    loop {
        board.update(&profile.name, |status| {
            status.next_poll = Some(SystemTime::now() + delay);
        });
        tokio::select! {
            _ = ctx.cancel.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
            _ = wake.notified() => {}
        }
        if ctx.cancel.is_cancelled() {
            return;
        }
        let _ = poll_with_limits(&ctx, &limits, &board, &profile).await;
        let failures = board
            .get(&profile.name)
            .map_or(0, |s| s.consecutive_failures);
        delay = next_delay(profile.interval, failures, fastrand::f64() * 2.0 - 1.0);
        if failures > 0 {
            info!(profile = %profile.name, retry_in_secs = delay.as_secs(), "backing off after {failures} failed poll(s)");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_is_the_interval_with_bounded_jitter() {
        let interval = Duration::from_secs(600);
        assert_eq!(next_delay(interval, 0, 0.0), interval);
        assert_eq!(next_delay(interval, 0, 1.0), Duration::from_secs(660));
        assert_eq!(next_delay(interval, 0, -1.0), Duration::from_secs(540));
        assert_eq!(next_delay(interval, 0, 5.0), Duration::from_secs(660));
    }

    #[test]
    fn failures_back_off_exponentially_up_to_an_hour() {
        let interval = Duration::from_secs(60);
        assert_eq!(next_delay(interval, 1, 0.0), Duration::from_secs(120));
        assert_eq!(next_delay(interval, 2, 0.0), Duration::from_secs(240));
        assert_eq!(next_delay(interval, 10, 0.0), Duration::from_secs(3600));
        assert_eq!(next_delay(interval, 1000, 0.0), Duration::from_secs(3600));
        // An interval longer than the cap is never shortened by a failure.
        let daily = Duration::from_secs(86_400);
        assert_eq!(next_delay(daily, 3, 0.0), daily);
    }
}
