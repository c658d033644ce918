//! The worker-wide memory budget (`[worker] memory_budget_mb`): before a poll fetches a
//! message it reserves what the message will cost in memory, and gives it back when the
//! message is done with (delivered, left on the server, or the poll failed), whatever the
//! path: the [`Reservation`] is a semaphore permit released on drop.
//!
//! What a message costs ([`reservation_kib`]): its announced size times the copies held at
//! once ([`crate::source::Mailbox::COPIES`]: POP3 two — the message and lettre's
//! dot-stuffed copy while it is sent; IMAP three — async-imap's read buffer, which grows by
//! doubling, and our copy of the body), or the profile's size limit when the server announced
//! no size (the readers stop at the limit). A message costing more than the whole budget
//! reserves the whole budget: it waits until nothing else is held and is fetched alone.
//!
//! A poll holds at most one reservation at a time and the semaphore is fair (first come,
//! first served), so a large message is not starved by smaller ones and no poll waits for
//! itself.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// KiB reserved for a message of `size` bytes (`None`: the server announced none, so the
/// size limit `max_message_bytes` stands for it) held `copies` times at once, within a
/// budget of `budget_kib`: at least 1 KiB, at most the whole budget.
pub fn reservation_kib(
    size: Option<u64>,
    max_message_bytes: u64,
    copies: u64,
    budget_kib: u32,
) -> u32 {
    let bytes = size.unwrap_or(max_message_bytes).min(max_message_bytes);
    let kib = bytes.saturating_mul(copies.max(1)).div_ceil(1024).max(1);
    u32::try_from(kib)
        .unwrap_or(u32::MAX)
        .min(budget_kib.max(1))
}

/// The budget all polls share; cheap to clone.
#[derive(Debug, Clone)]
pub struct MemoryBudget {
    permits: Arc<Semaphore>,
    total_kib: u32,
}

/// What one message holds of the budget; given back on drop.
#[derive(Debug)]
#[must_use = "the reservation is given back as soon as it is dropped"]
pub struct Reservation {
    _permit: Option<OwnedSemaphorePermit>,
    kib: u32,
    alone: bool,
}

impl Reservation {
    /// KiB held.
    pub fn kib(&self) -> u32 {
        self.kib
    }

    /// The message costs more than the whole budget: it holds all of it, so nothing else is
    /// held beside it.
    pub fn alone(&self) -> bool {
        self.alone
    }
}

impl MemoryBudget {
    /// A budget of `bytes` (rounded down to KiB, at least 1 KiB, at most `u32::MAX` KiB).
    pub fn new(bytes: u64) -> Self {
        let total_kib = u32::try_from(bytes / 1024).unwrap_or(u32::MAX).max(1);
        MemoryBudget {
            permits: Arc::new(Semaphore::new(total_kib as usize)),
            total_kib,
        }
    }

    /// The whole budget in KiB.
    pub fn total_kib(&self) -> u32 {
        self.total_kib
    }

    /// KiB not reserved now.
    pub fn available_kib(&self) -> usize {
        self.permits.available_permits()
    }

    /// Waits until the budget has room for a message of `size` bytes held `copies` times
    /// ([`reservation_kib`]) and reserves it.
    pub async fn reserve(
        &self,
        size: Option<u64>,
        max_message_bytes: u64,
        copies: u64,
    ) -> Reservation {
        let kib = reservation_kib(size, max_message_bytes, copies, self.total_kib);
        let alone = reservation_kib(size, max_message_bytes, copies, u32::MAX) > self.total_kib;
        // The semaphore is never closed; were it, the message would go unreserved rather
        // than not at all.
        let permit = self.permits.clone().acquire_many_owned(kib).await.ok();
        Reservation {
            _permit: permit,
            kib,
            alone,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1024 * 1024;

    #[test]
    fn a_message_reserves_its_size_times_its_copies_in_kib_rounded_up() {
        let budget = 256 * 1024;
        assert_eq!(
            reservation_kib(Some(50 * MB), 100 * MB, 2, budget),
            100 * 1024
        );
        assert_eq!(
            reservation_kib(Some(50 * MB), 100 * MB, 3, budget),
            150 * 1024
        );
        assert_eq!(reservation_kib(Some(1), 100 * MB, 2, budget), 1);
        assert_eq!(reservation_kib(Some(1025), 100 * MB, 2, budget), 3);
        // Even an empty message reserves something.
        assert_eq!(reservation_kib(Some(0), 100 * MB, 2, budget), 1);
        assert_eq!(reservation_kib(Some(10), 100 * MB, 0, budget), 1);
    }

    #[test]
    fn a_message_without_a_size_reserves_the_size_limit() {
        let budget = 1024 * 1024;
        assert_eq!(reservation_kib(None, 100 * MB, 2, budget), 200 * 1024);
        assert_eq!(reservation_kib(None, 10 * MB, 3, budget), 30 * 1024);
    }

    #[test]
    fn a_message_larger_than_the_budget_reserves_the_whole_budget() {
        assert_eq!(
            reservation_kib(Some(200 * MB), 500 * MB, 2, 256 * 1024),
            256 * 1024
        );
        assert_eq!(reservation_kib(Some(u64::MAX), u64::MAX, 3, 1024), 1024);
        assert_eq!(reservation_kib(Some(10), 100 * MB, 2, 0), 1);
    }

    #[test]
    fn a_size_over_the_limit_counts_as_the_limit() {
        assert_eq!(
            reservation_kib(Some(u64::MAX), 100 * MB, 2, u32::MAX),
            200 * 1024
        );
    }

    #[test]
    fn the_budget_is_counted_in_kib() {
        assert_eq!(MemoryBudget::new(256 * MB).total_kib(), 256 * 1024);
        assert_eq!(MemoryBudget::new(0).total_kib(), 1);
        assert_eq!(MemoryBudget::new(u64::MAX).total_kib(), u32::MAX);
    }

    #[tokio::test]
    async fn reservations_are_given_back_on_drop() {
        let budget = MemoryBudget::new(MB);
        let a = budget.reserve(Some(300 * 1024), 100 * MB, 2).await;
        assert_eq!(a.kib(), 600);
        assert!(!a.alone());
        assert_eq!(budget.available_kib(), 424);
        drop(a);
        assert_eq!(budget.available_kib(), 1024);
    }

    #[tokio::test]
    async fn a_message_larger_than_the_budget_waits_until_it_is_alone() {
        let budget = MemoryBudget::new(MB);
        let small = budget.reserve(Some(10 * 1024), 100 * MB, 2).await;
        let large = {
            let budget = budget.clone();
            tokio::spawn(async move { budget.reserve(Some(10 * MB), 100 * MB, 2).await })
        };
        tokio::task::yield_now().await;
        assert!(!large.is_finished(), "fetched beside another message");
        // Fair: a later small message queues behind the large one.
        let later = {
            let budget = budget.clone();
            tokio::spawn(async move { budget.reserve(Some(1024), 100 * MB, 2).await })
        };
        tokio::task::yield_now().await;
        assert!(
            !later.is_finished(),
            "the small message overtook the large one"
        );
        drop(small);
        let large = large.await.expect("join");
        assert_eq!(large.kib(), 1024);
        assert!(large.alone());
        assert_eq!(budget.available_kib(), 0);
        drop(large);
        assert_eq!(later.await.expect("join").kib(), 2);
    }
}
