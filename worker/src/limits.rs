//! The connection caps every poll of a worker waits for: `max_connections` overall (a
//! semaphore) and `max_connections_per_host` per remote server (`host:port`).
//!
//! On the shared state the per-host cap is the cluster's, not each worker's: the lease loop
//! tells [`Limits::set_workers`] how many workers are alive, and each takes its share,
//! ⌊cap / N⌋ connections to one server (at least one, so that a cap below N still lets
//! every worker poll: then the cluster opens at most N). N workers together therefore open
//! no more than the cap to one server. A smaller share applies to the next connections: the
//! ones open finish their poll, and no new one opens until the server's count is below it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use mailpull_shared::config::Profile;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// The connections open to one server and the waiters for one.
#[derive(Default)]
struct HostGate {
    open: Mutex<usize>,
    freed: Notify,
}

/// One connection to a server counted; uncounted on drop.
pub struct HostPermit {
    gate: Arc<HostGate>,
}

impl Drop for HostPermit {
    fn drop(&mut self) {
        let mut open = self
            .gate
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *open = open.saturating_sub(1);
        drop(open);
        self.gate.freed.notify_one();
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
                gate.freed.notify_waiters();
            }
        }
        Some(share)
    }

    /// This worker's per-host cap now.
    pub fn host_cap(&self) -> usize {
        self.share.load(Ordering::SeqCst)
    }

    /// Waits for a slot on the remote server of `profile` and one overall.
    pub async fn acquire(&self, profile: &Profile) -> Permits {
        let key = format!(
            "{}:{}",
            profile.remote.host.to_ascii_lowercase(),
            profile.remote.port
        );
        self.acquire_for(key).await
    }

    /// Waits for a slot on server `key` (`host:port`) and one overall.
    pub async fn acquire_for(&self, key: String) -> Permits {
        let gate = self
            .hosts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key)
            .or_default()
            .clone();
        // Host first: a profile waiting for a busy host must not hold a global slot.
        let host = self.acquire_host(gate).await;
        // (`acquire_owned` fails only on a closed semaphore, and this one is never closed.)
        let global = self.global.clone().acquire_owned().await.ok();
        Permits {
            _host: host,
            _global: global,
        }
    }

    async fn acquire_host(&self, gate: Arc<HostGate>) -> HostPermit {
        loop {
            // Registered before the check, so a slot freed in between still wakes it.
            let freed = gate.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            let taken = {
                let mut open = gate.open.lock().unwrap_or_else(PoisonError::into_inner);
                let free = *open < self.host_cap();
                if free {
                    *open += 1;
                }
                free
            };
            if taken {
                break;
            }
            freed.await;
        }
        HostPermit { gate }
    }

    /// Connections open to `host:port` now (for tests).
    #[cfg(test)]
    fn open(&self, key: &str) -> usize {
        self.hosts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .map_or(0, |gate| {
                *gate.open.lock().unwrap_or_else(PoisonError::into_inner)
            })
    }
}

#[cfg(test)]
mod tests;
