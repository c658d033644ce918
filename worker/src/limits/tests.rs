use std::sync::Arc;
use std::time::Duration;

use super::{Limits, Turn, host_share};

const HOST: &str = "pop.example.test:995";

/// Takes `n` slots on [`HOST`] (each must be free at once).
async fn take(limits: &Limits, n: usize) -> Vec<super::Permits> {
    let mut held = Vec::new();
    for i in 0..n {
        let permit = tokio::time::timeout(
            Duration::from_secs(1),
            limits.acquire_for(HOST.into(), Turn::InTurn),
        )
        .await
        .unwrap_or_else(|_| panic!("slot {} of {n} not free", i + 1));
        held.push(permit);
    }
    held
}

/// Whether one more slot on [`HOST`] is free within 100 ms.
async fn one_more_is_free(limits: &Limits) -> bool {
    tokio::time::timeout(
        Duration::from_millis(100),
        limits.acquire_for(HOST.into(), Turn::InTurn),
    )
    .await
    .is_ok()
}

#[test]
fn the_share_of_the_cap_is_a_floor_and_at_least_one() {
    assert_eq!(host_share(16, 1), 16);
    assert_eq!(host_share(16, 3), 5);
    assert_eq!(host_share(4, 4), 1);
    assert_eq!(host_share(2, 3), 1, "every worker may still poll");
    assert_eq!(host_share(16, 0), 16, "no count yet: the whole cap");
    // N workers with their shares never exceed the cap (when it is at least N).
    for cap in 1..=64 {
        for workers in 1..=cap {
            assert!(
                host_share(cap, workers) * workers <= cap,
                "{cap} over {workers}"
            );
        }
    }
}

#[tokio::test]
async fn one_worker_opens_the_whole_per_host_cap() {
    let limits = Limits::new(64, 4);
    let held = take(&limits, 4).await;
    assert!(
        !one_more_is_free(&limits).await,
        "a fifth connection to one host"
    );
    // Another server has its own cap.
    assert!(
        tokio::time::timeout(
            Duration::from_millis(100),
            limits.acquire_for("imap.example.test:993".into(), Turn::InTurn)
        )
        .await
        .is_ok()
    );
    drop(held);
    assert_eq!(limits.open(HOST), 0);
}

#[tokio::test]
async fn three_workers_share_the_per_host_cap() {
    let limits = Limits::new(64, 16);
    assert_eq!(limits.set_workers(3), Some(5));
    assert_eq!(limits.set_workers(3), None, "no change");
    let _held = take(&limits, 5).await;
    assert!(!one_more_is_free(&limits).await, "a sixth of 16 / 3");
    assert_eq!(limits.open(HOST), 5);
}

#[tokio::test]
async fn a_worker_that_leaves_frees_the_others_waiters() {
    let limits = Arc::new(Limits::new(64, 6));
    limits.set_workers(3);
    let _held = take(&limits, 2).await;
    let waiter = {
        let limits = limits.clone();
        tokio::spawn(async move { limits.acquire_for(HOST.into(), Turn::InTurn).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!waiter.is_finished(), "a third of 6 / 3");
    // One worker left: 6 / 2 = 3 each; the waiter gets its slot without any release.
    assert_eq!(limits.set_workers(2), Some(3));
    let permit = tokio::time::timeout(Duration::from_secs(1), waiter)
        .await
        .expect("woken when the share grew")
        .expect("task");
    assert_eq!(limits.open(HOST), 3);
    drop(permit);
}

#[tokio::test]
async fn a_smaller_share_holds_new_connections_until_enough_closed() {
    let limits = Limits::new(64, 6);
    let mut held = take(&limits, 6).await;
    // Two more workers joined: 2 each. The six open ones finish; no new one until below 2.
    assert_eq!(limits.set_workers(3), Some(2));
    held.truncate(2);
    assert!(!one_more_is_free(&limits).await, "2 open, share 2");
    held.truncate(1);
    assert!(one_more_is_free(&limits).await, "1 open, share 2");
}

/// Starts a poll waiting for a slot on [`HOST`]; gives it time to take its place in line.
async fn waiter(limits: &Arc<Limits>, turn: Turn) -> tokio::task::JoinHandle<super::Permits> {
    let limits = limits.clone();
    let task = tokio::spawn(async move { limits.acquire_for(HOST.into(), turn).await });
    tokio::time::sleep(Duration::from_millis(30)).await;
    task
}

/// The permit of `task` within a second (it must have been served).
async fn served(task: tokio::task::JoinHandle<super::Permits>, what: &str) -> super::Permits {
    tokio::time::timeout(Duration::from_secs(1), task)
        .await
        .unwrap_or_else(|_| panic!("{what} was not served"))
        .expect("task")
}

#[tokio::test]
async fn waiters_are_served_in_the_order_they_came_and_nobody_takes_a_freed_slot_first() {
    let limits = Arc::new(Limits::new(64, 1));
    let held = take(&limits, 1).await;
    let a = waiter(&limits, Turn::InTurn).await;
    let b = waiter(&limits, Turn::InTurn).await;
    drop(held);
    // A poll arriving just as the slot frees waits behind the ones in line.
    assert!(!one_more_is_free(&limits).await, "a newcomer took the slot");
    let first = served(a, "the first in line").await;
    assert!(!b.is_finished(), "the second was served beside the first");
    drop(first);
    let second = served(b, "the second in line").await;
    assert_eq!(limits.open(HOST), 1);
    drop(second);
}

#[tokio::test]
async fn a_poll_asked_for_goes_before_the_timed_ones_waiting() {
    let limits = Arc::new(Limits::new(64, 1));
    let held = take(&limits, 1).await;
    let timed = waiter(&limits, Turn::InTurn).await;
    let asked = waiter(&limits, Turn::First).await;
    drop(held);
    let permit = served(asked, "the claimed profile's poll").await;
    assert!(!timed.is_finished(), "the timed poll went first");
    drop(permit);
    drop(served(timed, "the timed poll").await);
}

#[tokio::test]
async fn a_waiter_that_gives_up_leaves_the_line() {
    let limits = Arc::new(Limits::new(64, 1));
    let held = take(&limits, 1).await;
    // Waits 100 ms at the head of the line, then gives up (a stopped profile).
    assert!(!one_more_is_free(&limits).await);
    let next = waiter(&limits, Turn::InTurn).await;
    drop(held);
    drop(served(next, "the poll behind the one that gave up").await);
    assert_eq!(limits.open(HOST), 0);
}
