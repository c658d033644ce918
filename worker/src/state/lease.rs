//! [`Store`]'s side of the profile leases (see `pg::leases`): with the local SQLite state a
//! worker holds every profile and there is nothing to renew; with the shared state these go
//! to PostgreSQL.

use std::time::Duration;

use super::error::StateError;
use super::pg::{LeaseChange, PollNowListener};
use super::store::Store;

impl Store {
    /// Whether this worker may poll `profile` now: always with the local state; with the
    /// shared state once it holds the profile's lease (before leasing starts: every profile).
    pub fn holds(&self, profile: &str) -> bool {
        self.shared.as_ref().is_none_or(|pg| pg.holds(profile))
    }

    /// Starts leasing: from now on this worker polls only the profiles it holds (with the
    /// shared state; nothing with the local one).
    pub fn start_leasing(&self) {
        if let Some(pg) = &self.shared {
            pg.start_leasing();
        }
    }

    /// One round of leasing over `profiles` (see `pg::leases`); `None` with the local state.
    pub async fn lease_tick(
        &self,
        profiles: &[String],
        lease: Duration,
    ) -> Result<Option<LeaseChange>, StateError> {
        match &self.shared {
            Some(pg) => pg.lease_tick(profiles, lease).await.map(Some),
            None => Ok(None),
        }
    }

    /// Forgets every lease held (the database was out of reach for a whole lease); the
    /// profiles dropped.
    pub fn drop_leases(&self) -> Vec<String> {
        self.shared
            .as_ref()
            .map(|pg| pg.drop_all_leases())
            .unwrap_or_default()
    }

    /// Hands every lease back (a clean stop).
    pub async fn release_leases(&self) -> Result<(), StateError> {
        match &self.shared {
            Some(pg) => pg.release_all().await,
            None => Ok(()),
        }
    }

    /// This worker's id among the workers of the shared state.
    pub fn worker_id(&self) -> Option<&str> {
        self.shared.as_ref().map(|pg| pg.worker_id())
    }

    /// Every profile's lease holder and whether the lease is live; empty with the local state.
    pub async fn lease_holders(&self) -> Result<Vec<(String, String, bool)>, StateError> {
        match &self.shared {
            Some(pg) => pg.lease_holders().await,
            None => Ok(Vec::new()),
        }
    }

    /// Asks the worker holding `profile` to poll it now (shared state: a NOTIFY every worker
    /// listens to); with the local state there is no other worker and nothing is sent.
    pub async fn ask_poll_now(&self, profile: &str) -> Result<(), StateError> {
        match &self.shared {
            Some(pg) => pg.ask_poll_now(profile).await,
            None => Ok(()),
        }
    }

    /// The poll requests of other workers (shared state); `None` with the local state.
    pub async fn listen_poll_now(&self) -> Result<Option<PollNowListener>, StateError> {
        match &self.shared {
            Some(pg) => pg.listen_poll_now().await.map(Some),
            None => Ok(None),
        }
    }
}
