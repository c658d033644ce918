//! The connection caps every poll of a worker waits for: `max_connections` overall (a
//! semaphore) and `max_connections_per_host` per remote server (`host:port`).
//!
//! On the shared state the per-host cap is the cluster's, not each worker's: the lease loop
//! tells [`Limits::set_workers`] how many workers are alive, and each takes its share,
//! ⌊cap / N⌋ connections to one server (at least one, so that a cap below N still lets
//! every worker poll: then the cluster opens at most N). N workers together therefore open
//! no more than the cap to one server. A smaller share applies to the next connections: the
//! ones open finish their poll, and no new one opens until the server's count is below it.
//!
//! Waiting for a server is first come, first served, in two lanes: a poll that was asked for
//! (a profile just claimed from a worker that died or stopped, **Poll now**, a push) goes
//! before the timed polls that wait, then the timed polls in the order they came. A slot
//! that frees goes to the head of the line; nobody arriving later takes it first (before,
//! any poll that checked at the right moment did, and the one that was woken went to the
//! back: on a busy server a profile could wait for many rounds).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use mailpull_shared::config::Profile;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// Which lane a poll waits in for its server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// A timed poll: in the order they came.
    InTurn,
    /// A poll asked for (claimed profile, Poll now, push): before every timed one.
    First,
}

/// The connections open to one server and the polls waiting for one, by ticket.
#[derive(Default)]
struct GateState {
    open: usize,
    first: VecDeque<u64>,
    in_turn: VecDeque<u64>,
    next_ticket: u64,
}

impl GateState {
    /// Counts a connection for `ticket` when it is at the head of the line and `cap` has
    /// room; it then leaves the line.
    fn try_serve(&mut self, ticket: u64, cap: usize) -> bool {
        if self.open >= cap {
            return false;
        }
        let lane = match self.first.front() {
            Some(head) if *head == ticket => &mut self.first,
            None if self.in_turn.front() == Some(&ticket) => &mut self.in_turn,
            _ => return false,
        };
        lane.pop_front();
        self.open += 1;
        true
    }

    /// `ticket` gives up its place (its wait was dropped).
    fn leave(&mut self, ticket: u64) {
        self.first.retain(|t| *t != ticket);
        self.in_turn.retain(|t| *t != ticket);
    }
}

#[derive(Default)]
struct HostGate {
    state: Mutex<GateState>,
    /// Every waiter looks again when a slot frees, the share grows or the head changes.
    changed: Notify,
}

impl HostGate {
    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One connection to a server counted; uncounted on drop.
pub struct HostPermit {
    gate: Arc<HostGate>,
}

impl Drop for HostPermit {
    fn drop(&mut self) {
        let mut state = self.gate.lock();
        state.open = state.open.saturating_sub(1);
        drop(state);
        self.gate.changed.notify_waiters();
    }
}

/// A place in the line; leaves it when the wait is given up (a profile stopped).
struct Ticket<'a> {
    gate: &'a HostGate,
    number: u64,
    served: bool,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if !self.served {
            self.gate.lock().leave(self.number);
            self.gate.changed.notify_waiters();
        }
    }
}

/// The slots a poll holds while it runs: one on its server and one overall.
pub struct Permits {
    _host: HostPermit,
    _global: Option<OwnedSemaphorePermit>,
}

/// Connection caps shared by all polls of a worker.
pub struct Limits {
    global: Arc<Semaphore>,
    /// `max_connections_per_host` as configured (the cluster's cap on the shared state).
    per_host: usize,
    /// This worker's share of it: `per_host` alone, ⌊per_host / N⌋ (at least 1) among N.
    share: AtomicUsize,
    hosts: Mutex<HashMap<String, Arc<HostGate>>>,
}

/// A worker's share of a per-host cap of `cap` among `workers` live workers.
pub fn host_share(cap: usize, workers: usize) -> usize {
    (cap / workers.max(1)).max(1)
}

impl Limits {
    pub fn new(max_connections: usize, max_connections_per_host: usize) -> Self {
        Limits {
            global: Arc::new(Semaphore::new(max_connections)),
            per_host: max_connections_per_host,
            share: AtomicUsize::new(max_connections_per_host),
            hosts: Mutex::new(HashMap::new()),
        }
    }

    /// `workers` live workers share the per-host cap (the lease loop's count); returns this
    /// worker's share when it changed.
    pub fn set_workers(&self, workers: usize) -> Option<usize> {
        let share = host_share(self.per_host, workers);
        let before = self.share.swap(share, Ordering::SeqCst);
        if share == before {
            return None;
        }
        if share > before {
            let hosts = self.hosts.lock().unwrap_or_else(PoisonError::into_inner);
            for gate in hosts.values() {
                gate.changed.notify_waiters();
            }
        }
        Some(share)
    }

    /// This worker's per-host cap now.
    pub fn host_cap(&self) -> usize {
        self.share.load(Ordering::SeqCst)
    }

    /// Waits for a slot on the remote server of `profile` and one overall.
    pub async fn acquire(&self, profile: &Profile, turn: Turn) -> Permits {
        let key = format!(
            "{}:{}",
            profile.remote.host.to_ascii_lowercase(),
            profile.remote.port
        );
        self.acquire_for(key, turn).await
    }

    /// Waits for a slot on server `key` (`host:port`) and one overall.
    pub async fn acquire_for(&self, key: String, turn: Turn) -> Permits {
        let gate = self
            .hosts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key)
            .or_default()
            .clone();
        // Host first: a profile waiting for a busy host must not hold a global slot.
        let host = self.acquire_host(gate, turn).await;
        // (`acquire_owned` fails only on a closed semaphore, and this one is never closed.)
        let global = self.global.clone().acquire_owned().await.ok();
        Permits {
            _host: host,
            _global: global,
        }
    }

    async fn acquire_host(&self, gate: Arc<HostGate>, turn: Turn) -> HostPermit {
        let mut ticket = {
            let mut state = gate.lock();
            let number = state.next_ticket;
            state.next_ticket += 1;
            match turn {
                Turn::First => state.first.push_back(number),
                Turn::InTurn => state.in_turn.push_back(number),
            }
            Ticket {
                gate: &gate,
                number,
                served: false,
            }
        };
        loop {
            // Registered before the check, so a change in between still wakes it.
            let changed = gate.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            ticket.served = gate.lock().try_serve(ticket.number, self.host_cap());
            if ticket.served {
                // The next in line may fit too (the share grew, several slots freed).
                gate.changed.notify_waiters();
                break;
            }
            changed.await;
        }
        drop(ticket);
        HostPermit { gate }
    }

    /// Connections open to `host:port` now (for tests).
    #[cfg(test)]
    fn open(&self, key: &str) -> usize {
        self.hosts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .map_or(0, |gate| gate.lock().open)
    }
}

#[cfg(test)]
mod tests;
