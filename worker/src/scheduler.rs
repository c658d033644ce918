//! When profiles poll: each on its own timer with jitter, all concurrently within the
//! connection caps (`max_connections` overall, `max_connections_per_host` per remote server),
//! failures backing off exponentially; a new configuration applied without a restart
//! ([`Scheduler::reload`]). Also `--once`: every enabled profile one time. Profiles with
//! `push = true` also get IDLE watchers ([`crate::push`]) that wake their timer task the way
//! `poll_now` does, and stop with it; while one of their folders waits for an IDLE slot the
//! timer runs at [`NO_SLOT_POLL_INTERVAL`] (or the profile's interval if shorter). With the
//! shared state the watchers run only while this worker holds the profile's lease
//! ([`Scheduler::sync_push`], called by the lease loop after every round).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use mailpull_shared::config::{Config, Profile};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

use crate::context::PollContext;
pub use crate::limits::{Limits, Turn};
use crate::metrics::PollOutcome;
use crate::poll::{self, PollError, PollReport};
use crate::push::{IdleCounts, NO_SLOT_POLL_INTERVAL, Push, PushOptions};

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
    /// OAuth: the refresh token is missing or revoked; only a new sign-in helps.
    pub needs_sign_in: bool,
}

impl ProfileStatus {
    /// A poll ended with `result` after delivering `delivered` messages of `bytes` bytes: they
    /// count whether or not the poll succeeded (a message left on the server, the local
    /// server gone half-way), as the metrics count each delivery.
    pub fn poll_finished(
        &mut self,
        delivered: u64,
        bytes: u64,
        result: &Result<PollReport, PollError>,
    ) {
        self.last_poll = Some(SystemTime::now());
        self.messages += delivered;
        self.bytes += bytes;
        match result {
            Ok(_) => {
                self.state = ProfileState::Ok;
                self.last_error = None;
                self.consecutive_failures = 0;
                self.needs_sign_in = false;
            }
            Err(err) => {
                self.state = ProfileState::Error;
                self.last_error = Some(err.to_string());
                self.consecutive_failures += 1;
                self.needs_sign_in =
                    matches!(err, poll::PollError::Source(source) if source.needs_sign_in());
            }
        }
    }
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

    /// Keeps only the profiles for which `keep` is true.
    fn retain(&self, keep: impl Fn(&str) -> bool) {
        self.lock().retain(|name, _| keep(name));
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
    turn: Turn,
) -> Result<PollReport, PollError> {
    let _permits = limits.acquire(profile, turn).await;
    board.update(&profile.name, |status| status.state = ProfileState::Polling);
    let started = std::time::Instant::now();
    let mut report = PollReport::default();
    let result = poll::poll_into(ctx, profile, &mut report).await;
    let (delivered, bytes) = (report.delivered as u64, report.bytes);
    let result = result.and_then(|()| poll::finish(report));
    let outcome = result
        .as_ref()
        .map_or_else(PollError::metrics_outcome, |_| PollOutcome::Completed);
    ctx.metrics
        .poll_finished(&profile.name, started.elapsed(), outcome);
    board.update(&profile.name, |status| {
        status.poll_finished(delivered, bytes, &result);
    });
    match &result {
        Ok(report) => info!(
            profile = %profile.name,
            listed = report.listed,
            delivered = report.delivered,
            bytes = report.bytes,
            deleted = report.deleted,
            already_delivered = report.already_delivered,
            waiting = report.waiting,
            held = report.held,
            "poll done"
        ),
        Err(err) => warn!(profile = %profile.name, error = %err, "poll failed"),
    }
    // On the shared state only the lease holder judges a profile's alerts (the rows are
    // shared): a poll that lost its lease says nothing about the profile.
    if let Some(alerts) = &ctx.alerts
        && ctx.store.holds(&profile.name)
    {
        let env = crate::alerts::Env {
            store: &ctx.store,
            deliverer: &ctx.deliverer,
            hostname: &ctx.hostname,
            now: ctx.now(),
        };
        alerts
            .after_poll(&env, profile, poll::alert_seen(&result))
            .await;
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
    let polled = |p: &&Profile| p.enabled && ctx.store.holds(&p.name);
    for profile in config.profiles.iter().filter(polled).cloned() {
        let (ctx, limits, board) = (ctx.clone(), limits.clone(), board.clone());
        tasks.push(tokio::spawn(async move {
            let result = poll_with_limits(&ctx, &limits, &board, &profile, Turn::InTurn).await;
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

/// A running profile task.
struct ProfileTask {
    profile: Profile,
    cancel: CancellationToken,
    wake: Arc<Notify>,
    /// The push watchers' token (a child of `cancel`) while they run.
    watchers: Option<CancellationToken>,
}

/// The long-running scheduler: one task per enabled profile. [`Scheduler::reload`] applies
/// a new configuration without a restart.
pub struct Scheduler {
    ctx: Arc<PollContext>,
    limits: Arc<Limits>,
    pub board: Arc<StatusBoard>,
    tracker: TaskTracker,
    tasks: Mutex<HashMap<String, ProfileTask>>,
    /// One lock per profile name, kept across reloads: a replaced task still finishing its
    /// poll and its successor never poll the same mailbox at once.
    poll_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// IDLE watchers of `push = true` profiles; they wake the profile's task like `poll_now`.
    push: Push,
    /// Each push profile's folders waiting for an IDLE slot or idling, kept across reloads
    /// (a replaced task's watchers and its successor's count in the same place).
    idle: Mutex<HashMap<String, Arc<IdleCounts>>>,
}

impl Scheduler {
    /// A scheduler for `config` with at most `max_idle` IMAP IDLE connections
    /// ([`crate::fd_limit::idle_cap`]).
    pub fn new(ctx: Arc<PollContext>, config: &Config, max_idle: usize) -> Self {
        Scheduler {
            ctx,
            limits: Arc::new(Limits::new(
                config.worker.max_connections,
                config.worker.max_connections_per_host,
            )),
            board: Arc::new(StatusBoard::default()),
            tracker: TaskTracker::new(),
            tasks: Mutex::new(HashMap::new()),
            poll_locks: Mutex::new(HashMap::new()),
            push: Push::new(PushOptions::default(), max_idle),
            idle: Mutex::new(HashMap::new()),
        }
    }

    /// On the shared state: `workers` live workers share each server's connection cap
    /// ([`Limits::set_workers`]); this worker's new share when it changed.
    pub fn share_host_caps(&self, workers: usize) -> Option<usize> {
        self.limits.set_workers(workers)
    }

    /// Starts a timer task for every profile (disabled ones only show as disabled).
    pub fn start(&self, config: &Config) {
        self.reload(config);
    }

    /// Applies `config`: stops the tasks of removed, disabled or changed profiles (a poll in
    /// progress finishes first) and starts tasks for new and changed ones. Unchanged profiles
    /// keep their timers. The connection caps stay as they were started.
    pub fn reload(&self, config: &Config) {
        let mut tasks = lock(&self.tasks);
        let wanted: HashMap<&str, &Profile> = config
            .profiles
            .iter()
            .map(|p| (p.name.as_str(), p))
            .collect();
        tasks.retain(|name, task| {
            let keep = wanted
                .get(name.as_str())
                .is_some_and(|p| p.enabled && **p == task.profile);
            if !keep {
                task.cancel.cancel();
                info!(profile = %name, "profile task stopped (configuration changed)");
            }
            keep
        });
        self.board.retain(|name| wanted.contains_key(name));
        for profile in &config.profiles {
            if !profile.enabled {
                self.board.update(&profile.name, |status| {
                    status.state = ProfileState::Disabled;
                    status.next_poll = None;
                });
                continue;
            }
            if tasks.contains_key(&profile.name) {
                continue;
            }
            self.board.update(&profile.name, |status| {
                if status.state == ProfileState::Disabled {
                    status.state = ProfileState::Idle;
                }
            });
            let mut task = ProfileTask {
                profile: profile.clone(),
                cancel: self.ctx.cancel.child_token(),
                wake: Arc::new(Notify::new()),
                watchers: None,
            };
            let idle = lock(&self.idle)
                .entry(profile.name.clone())
                .or_default()
                .clone();
            // Shared state: only the holder watches; `sync_push` starts them once claimed.
            if profile.push && self.ctx.store.holds(&profile.name) {
                self.start_watchers(&mut task, &idle);
            }
            let poll_lock = lock(&self.poll_locks)
                .entry(profile.name.clone())
                .or_default()
                .clone();
            self.tracker.spawn(profile_loop(
                self.ctx.clone(),
                self.limits.clone(),
                self.board.clone(),
                profile.clone(),
                task.wake.clone(),
                task.cancel.clone(),
                (poll_lock, idle),
            ));
            tasks.insert(profile.name.clone(), task);
        }
    }

    /// Starts the IDLE watchers of `task`'s push profile, counted in `idle`.
    fn start_watchers(&self, task: &mut ProfileTask, idle: &Arc<IdleCounts>) {
        let token = task.cancel.child_token();
        self.push.start(
            &self.tracker,
            &self.ctx,
            &task.profile,
            (&task.wake, idle),
            &token,
        );
        task.watchers = Some(token);
    }

    /// Shared state: runs the IDLE watchers of exactly the push profiles this worker holds
    /// now — started for a profile just claimed, stopped (their IMAP sessions logged out) for
    /// one lost or handed back. With the local state every profile is held: nothing changes.
    /// Returns the profiles whose watchers (started, stopped).
    pub fn sync_push(&self) -> (Vec<String>, Vec<String>) {
        let (mut started, mut stopped) = (Vec::new(), Vec::new());
        let mut tasks = lock(&self.tasks);
        for (name, task) in tasks.iter_mut() {
            if !task.profile.push {
                continue;
            }
            let held = self.ctx.store.holds(name);
            match (held, task.watchers.is_some()) {
                (true, false) => {
                    let idle = lock(&self.idle).entry(name.clone()).or_default().clone();
                    self.start_watchers(task, &idle);
                    started.push(name.clone());
                }
                (false, true) => {
                    if let Some(token) = task.watchers.take() {
                        token.cancel();
                    }
                    stopped.push(name.clone());
                }
                _ => {}
            }
        }
        if !started.is_empty() || !stopped.is_empty() {
            info!(
                ?started,
                ?stopped,
                "shared state: IDLE watchers follow the profile leases"
            );
        }
        (started, stopped)
    }

    /// Polls a profile now instead of at its next time; false if no enabled profile has
    /// that name.
    pub fn poll_now(&self, name: &str) -> bool {
        match lock(&self.tasks).get(name) {
            Some(task) => {
                task.wake.notify_one();
                true
            }
            None => false,
        }
    }

    /// The names of the enabled profiles (the ones with a task), sorted.
    pub fn enabled_profiles(&self) -> Vec<String> {
        let mut names: Vec<String> = lock(&self.tasks).keys().cloned().collect();
        names.sort();
        names
    }

    /// The IDLE folders of profile `name` (waiting for a slot, idling); `None` before its task
    /// first started.
    pub fn idle_counts(&self, name: &str) -> Option<Arc<IdleCounts>> {
        lock(&self.idle).get(name).cloned()
    }

    /// The IDLE cap in force.
    pub fn idle_cap(&self) -> usize {
        self.push.slots().cap()
    }

    /// Waits until every profile task has finished after cancellation.
    pub async fn wait(&self) {
        self.tracker.close();
        self.tracker.wait().await;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn profile_loop(
    ctx: Arc<PollContext>,
    limits: Arc<Limits>,
    board: Arc<StatusBoard>,
    profile: Profile,
    wake: Arc<Notify>,
    cancel: CancellationToken,
    (poll_lock, idle): (Arc<tokio::sync::Mutex<()>>, Arc<IdleCounts>),
) {
    // Spread the first polls over a few seconds so a restart does not hit every server at once.
    let mut delay = Duration::from_millis(fastrand::u64(0..=3000)).min(profile.interval);
    loop {
        board.update(&profile.name, |status| {
            status.next_poll = Some(SystemTime::now() + delay);
        });
        // Woken (claimed from another worker, Poll now, a push): first in line for its server.
        let turn = tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(delay) => Turn::InTurn,
            _ = wake.notified() => Turn::First,
        };
        let _running = tokio::select! {
            _ = cancel.cancelled() => return,
            guard = poll_lock.lock() => guard,
        };
        if cancel.is_cancelled() {
            return;
        }
        // Shared state: another worker holds this profile; `cluster` wakes it when claimed.
        if !ctx.store.holds(&profile.name) {
            delay = profile.interval;
            continue;
        }
        let _ = poll_with_limits(&ctx, &limits, &board, &profile, turn).await;
        let failures = board
            .get(&profile.name)
            .map_or(0, |s| s.consecutive_failures);
        delay = next_delay(
            timer_interval(&profile, &idle),
            failures,
            fastrand::f64() * 2.0 - 1.0,
        );
        if failures > 0 {
            info!(profile = %profile.name, retry_in_secs = delay.as_secs(), "backing off after {failures} failed poll(s)");
        }
    }
}

/// The profile's interval, or [`NO_SLOT_POLL_INTERVAL`] if shorter while one of its folders
/// waits for an IDLE slot.
fn timer_interval(profile: &Profile, idle: &IdleCounts) -> Duration {
    if idle.waiting() > 0 {
        profile.interval.min(NO_SLOT_POLL_INTERVAL)
    } else {
        profile.interval
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poll_that_left_a_message_on_the_server_still_counts_its_deliveries() {
        let mut status = ProfileStatus::default();
        let left = Err(PollError::Undelivered {
            count: 1,
            first: "7: refused".into(),
        });
        status.poll_finished(3, 3_000, &left);
        assert_eq!((status.messages, status.bytes), (3, 3_000));
        assert_eq!(status.state, ProfileState::Error);
        assert_eq!(status.consecutive_failures, 1);
        let ok = Ok(PollReport {
            delivered: 2,
            bytes: 200,
            ..PollReport::default()
        });
        status.poll_finished(2, 200, &ok);
        assert_eq!((status.messages, status.bytes), (5, 3_200));
        assert_eq!(status.state, ProfileState::Ok);
        assert_eq!(status.consecutive_failures, 0);
    }

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
