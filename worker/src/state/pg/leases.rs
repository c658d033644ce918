//! Profile leases in the shared state: several workers share one set of profiles, each
//! profile polled by one worker at a time. **Row leases** (`leases`: profile, holder,
//! generation, expiry by the database's clock) claimed with `FOR UPDATE SKIP LOCKED`, not
//! advisory locks: a lease outlives no connection problem by more than its time (an advisory
//! lock lasts as long as the server believes the session is alive, which after a network
//! partition can be many minutes), it carries a generation that fences a worker that lost it
//! (checked in the transaction of every record and at the start of every poll), and it can be
//! shown (`holder`) and counted without holding a connection per profile.
//!
//! Each worker calls [`PgStore::lease_tick`] every third of the lease: it says it is alive
//! (`workers`), renews what it holds, and claims lapsed or free profiles up to its fair share
//! (⌈P / N⌉ of the P profiles among the N live workers), releasing what it holds beyond it so a
//! worker that joins gets its share. [`PgStore::release_all`] hands everything back at a clean
//! stop.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use super::{PgStore, pg_err};
use crate::state::error::StateError;

/// What one tick changed for this worker.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LeaseChange {
    /// Profiles claimed in this tick (to poll at once).
    pub claimed: Vec<String>,
    /// Profiles no longer held (lapsed, taken, or released beyond the fair share).
    pub lost: Vec<String>,
    /// Profiles held after the tick.
    pub held: usize,
    /// Live workers, this one included.
    pub workers: usize,
}

/// The fair share of `profiles` among `workers`: ⌈P / N⌉.
pub fn fair_share(profiles: usize, workers: usize) -> usize {
    profiles.div_ceil(workers.max(1))
}

impl PgStore {
    /// Whether this worker holds `profile` (always true before leasing started).
    pub(crate) fn holds(&self, profile: &str) -> bool {
        let held = self
            .leases
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        held.as_ref().is_none_or(|held| held.contains_key(profile))
    }

    /// From now on every poll and record needs a lease of this worker.
    pub(crate) fn start_leasing(&self) {
        let mut held = self
            .leases
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        held.get_or_insert_with(Default::default);
    }

    /// This worker's id in `leases.holder` and `workers`.
    pub(crate) fn worker_id(&self) -> &str {
        &self.worker_id
    }

    /// The generation of this worker's lease on `profile`: `Ok(None)` before leasing
    /// started (no fence), an error when leasing and the profile is not held.
    pub(super) fn fence(&self, profile: &str) -> Result<Option<i64>, StateError> {
        let held = self
            .leases
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match held.as_ref() {
            None => Ok(None),
            Some(held) => {
                held.get(profile)
                    .copied()
                    .map(Some)
                    .ok_or_else(|| StateError::LeaseLost {
                        profile: profile.to_string(),
                    })
            }
        }
    }

    /// In transaction `tx`: the lease on `profile` is still this worker's, of generation
    /// `generation`, and not expired; locked against a takeover until the commit.
    pub(super) async fn check_lease(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
        profile: &str,
        generation: i64,
    ) -> Result<(), StateError> {
        let row = tx
            .query_opt(
                "SELECT 1 FROM leases WHERE profile = $1 AND holder = $2 AND generation = $3
                 AND expires_at > now() FOR SHARE",
                &[&profile, &self.worker_id, &generation],
            )
            .await
            .map_err(pg_err)?;
        if row.is_none() {
            self.forget_lease(profile);
            return Err(StateError::LeaseLost {
                profile: profile.to_string(),
            });
        }
        Ok(())
    }

    fn forget_lease(&self, profile: &str) {
        let mut held = self
            .leases
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(held) = held.as_mut() {
            held.remove(profile);
        }
    }

    /// Drops every lease from memory (the database could not be reached for a whole lease:
    /// another worker may have them now). Returns the profiles dropped.
    pub(crate) fn drop_all_leases(&self) -> Vec<String> {
        let mut held = self
            .leases
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match held.as_mut() {
            Some(held) => std::mem::take(held).into_keys().collect(),
            None => Vec::new(),
        }
    }

    /// One round of leasing over `profiles` (the enabled profiles of the configuration, the
    /// same in every worker) with leases of `lease`; see the module doc.
    pub(crate) async fn lease_tick(
        &self,
        profiles: &[String],
        lease: Duration,
    ) -> Result<LeaseChange, StateError> {
        let secs = lease.as_secs_f64();
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_err)?;
        tx.execute(
            "INSERT INTO workers (id, seen_until) VALUES ($1, now() + make_interval(secs => $2))
             ON CONFLICT (id) DO UPDATE SET seen_until = excluded.seen_until",
            &[&self.worker_id, &secs],
        )
        .await
        .map_err(pg_err)?;
        tx.execute(
            "INSERT INTO leases (profile, holder, generation, expires_at)
             SELECT unnest($1::TEXT[]), '', 0, '-infinity' ON CONFLICT (profile) DO NOTHING",
            &[&profiles],
        )
        .await
        .map_err(pg_err)?;
        let renewed = tx
            .query(
                "UPDATE leases SET expires_at = now() + make_interval(secs => $3)
                 WHERE holder = $1 AND expires_at > now() AND profile = ANY($2)
                 RETURNING profile, generation",
                &[&self.worker_id, &profiles, &secs],
            )
            .await
            .map_err(pg_err)?;
        let mut now_held: BTreeMap<String, i64> =
            renewed.iter().map(|row| (row.get(0), row.get(1))).collect();
        let workers: i64 = tx
            .query_one("SELECT count(*) FROM workers WHERE seen_until > now()", &[])
            .await
            .map_err(pg_err)?
            .get(0);
        let workers = usize::try_from(workers).unwrap_or(1).max(1);
        let share = fair_share(profiles.len(), workers);
        let mut claimed = Vec::new();
        if now_held.len() < share {
            let want = (share - now_held.len()) as i64;
            let rows = tx
                .query(
                    "UPDATE leases SET holder = $1, generation = generation + 1,
                       expires_at = now() + make_interval(secs => $4)
                     WHERE profile IN (SELECT profile FROM leases
                       WHERE profile = ANY($2) AND expires_at <= now()
                       ORDER BY profile LIMIT $3 FOR UPDATE SKIP LOCKED)
                     RETURNING profile, generation",
                    &[&self.worker_id, &profiles, &want, &secs],
                )
                .await
                .map_err(pg_err)?;
            for row in rows {
                let profile: String = row.get(0);
                claimed.push(profile.clone());
                now_held.insert(profile, row.get(1));
            }
        } else if now_held.len() > share {
            // Beyond the fair share (a worker joined): hand the surplus back.
            let surplus: Vec<String> = now_held
                .keys()
                .rev()
                .take(now_held.len() - share)
                .cloned()
                .collect();
            tx.execute(
                "UPDATE leases SET expires_at = '-infinity' WHERE holder = $1 AND profile = ANY($2)",
                &[&self.worker_id, &surplus],
            )
            .await
            .map_err(pg_err)?;
            for profile in &surplus {
                now_held.remove(profile);
            }
        }
        tx.commit().await.map_err(pg_err)?;
        let mut held = self
            .leases
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let before: HashSet<String> = held
            .as_ref()
            .map(|held| held.keys().cloned().collect())
            .unwrap_or_default();
        let lost = before
            .iter()
            .filter(|profile| !now_held.contains_key(*profile))
            .cloned()
            .collect();
        let count = now_held.len();
        *held = Some(now_held.into_iter().collect());
        Ok(LeaseChange {
            claimed,
            lost,
            held: count,
            workers,
        })
    }

    /// Hands every lease back and leaves the live workers (a clean stop): the others claim
    /// the profiles at their next tick.
    pub(crate) async fn release_all(&self) -> Result<(), StateError> {
        let released = self.drop_all_leases();
        let client = self.client().await?;
        client
            .execute(
                "UPDATE leases SET expires_at = '-infinity' WHERE holder = $1",
                &[&self.worker_id],
            )
            .await
            .map_err(pg_err)?;
        client
            .execute("DELETE FROM workers WHERE id = $1", &[&self.worker_id])
            .await
            .map_err(pg_err)?;
        tracing::info!(profiles = released.len(), "shared state: leases released");
        Ok(())
    }

    /// Every profile's holder and whether its lease is live (for `status`).
    pub(crate) async fn lease_holders(&self) -> Result<Vec<(String, String, bool)>, StateError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT profile, holder, expires_at > now() FROM leases ORDER BY profile",
                &[],
            )
            .await
            .map_err(pg_err)?;
        Ok(rows
            .iter()
            .map(|row| (row.get(0), row.get(1), row.get(2)))
            .collect())
    }
}
