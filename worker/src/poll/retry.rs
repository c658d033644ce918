//! The retry policy of a poll, as pure functions: whether a failure belongs to one message
//! (skip it, go on with the rest) or to the server as a whole (stop the poll); when a skipped
//! message is tried again (growing delays) and when it is held.

use mailpull_shared::config::{DEFAULT_HOLD_AFTER, DEFAULT_HOLD_AFTER_ATTEMPTS};

use crate::context::PollContext;
use crate::deliver::DeliveryError;
use crate::state::{Attempt, HeldAction, MailboxKey, Summary};

/// Messages deferred (4xx) one after the other by the local server that make the deferral
/// the server's, not a message's: the poll stops there.
pub const DEFERRED_IN_A_ROW_STOP: usize = 3;

/// Whether a deferral belongs to the message in hand (skip it, go on with the rest) rather than
/// to the local server as a whole (stop the poll): only a 4xx reply to this transaction, and
/// fewer than [`DEFERRED_IN_A_ROW_STOP`] of them in a row. An unreachable server, TLS trouble
/// or a run of 4xx replies stop the poll.
pub fn skips_one_message(err: &DeliveryError, deferred_in_a_row: usize) -> bool {
    // 421: the server is closing the channel, not judging the message.
    let one_message =
        matches!(err, DeliveryError::Transient { reply, .. } if !reply.contains("(421)"));
    one_message && deferred_in_a_row < DEFERRED_IN_A_ROW_STOP
}

/// The longest delay between two attempts of a message that fails on its own.
pub const MAX_RETRY_DELAY_SECS: i64 = 3600;

/// When a message that keeps failing on its own is held (left on the server, not retried
/// automatically): `[worker] hold_after_attempts` and `hold_after`, whichever comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldPolicy {
    pub after_attempts: u32,
    pub after_secs: i64,
}

impl HoldPolicy {
    /// The policy of the `[worker]` settings in `ctx`.
    pub fn of(ctx: &PollContext) -> Self {
        HoldPolicy {
            after_attempts: ctx.hold_after_attempts,
            after_secs: i64::try_from(ctx.hold_after.as_secs()).unwrap_or(i64::MAX),
        }
    }
}

impl Default for HoldPolicy {
    fn default() -> Self {
        HoldPolicy {
            after_attempts: DEFAULT_HOLD_AFTER_ATTEMPTS,
            after_secs: DEFAULT_HOLD_AFTER.as_secs() as i64,
        }
    }
}

/// The delay after the `attempts`-th failed attempt: 1, 2, 4 … minutes, at most
/// [`MAX_RETRY_DELAY_SECS`].
pub fn retry_delay_secs(attempts: u32) -> i64 {
    let doublings = attempts.saturating_sub(1).min(16);
    (60_i64 << doublings).min(MAX_RETRY_DELAY_SECS)
}

/// The row of a message after one more failed attempt at `now` for `reason`: counted,
/// next attempt after [`retry_delay_secs`], held once the policy's count or age is reached.
/// A pending action is done with (it was tried). What the message is: `summary` when this
/// attempt downloaded it, else what an earlier attempt found.
pub fn after_failure(
    previous: Option<&Attempt>,
    message: (&MailboxKey, &str, &str),
    (reason, summary): (String, Option<Summary>),
    now: i64,
    policy: HoldPolicy,
) -> Attempt {
    let (key, uid, profile) = message;
    let attempts = previous.map_or(0, |p| p.attempts).saturating_add(1);
    let first_at = previous.map_or(now, |p| p.first_at.min(now));
    let held =
        attempts >= policy.after_attempts || now.saturating_sub(first_at) >= policy.after_secs;
    Attempt {
        key: key.clone(),
        uid: uid.to_string(),
        profile: profile.to_string(),
        attempts,
        first_at,
        last_at: now,
        next_at: now.saturating_add(retry_delay_secs(attempts)),
        reason,
        held,
        action: None,
        summary: summary.or_else(|| previous.and_then(|p| p.summary.clone())),
    }
}

/// Whether a message with the attempts `row` is tried in a poll at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Fetch and deliver it (no failure yet, or its delay is over).
    Now,
    /// Its next attempt is later: not fetched in this poll.
    Later,
    /// Held: not fetched until an action over the pipe.
    Held,
    /// Held, with an action to carry out now.
    Action(HeldAction),
}

pub fn due(row: Option<&Attempt>, now: i64) -> Due {
    match row {
        None => Due::Now,
        Some(Attempt {
            action: Some(action),
            ..
        }) => Due::Action(*action),
        Some(row) if row.held => Due::Held,
        Some(row) if row.next_at > now => Due::Later,
        Some(_) => Due::Now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> MailboxKey {
        MailboxKey {
            account: "u@h".into(),
            folder: String::new(),
            uidvalidity: 0,
        }
    }

    fn fail(previous: Option<&Attempt>, now: i64, policy: HoldPolicy) -> Attempt {
        after_failure(
            previous,
            (&key(), "7", "p"),
            ("550 no".into(), None),
            now,
            policy,
        )
    }

    #[test]
    fn the_delay_doubles_from_a_minute_up_to_an_hour() {
        let delays: Vec<i64> = (1..=9).map(retry_delay_secs).collect();
        assert_eq!(delays, [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
        assert_eq!(retry_delay_secs(0), 60);
        assert_eq!(retry_delay_secs(u32::MAX), 3600);
    }

    #[test]
    fn a_message_is_held_after_the_count_or_the_age_whichever_first() {
        let policy = HoldPolicy::default();
        assert_eq!(policy.after_attempts, 10);
        assert_eq!(policy.after_secs, 86_400);
        let t0 = 1_700_000_000;
        let mut row = fail(None, t0, policy);
        assert_eq!((row.attempts, row.first_at, row.next_at), (1, t0, t0 + 60));
        assert!(!row.held);
        // Ten failures, each as soon as due: held at the tenth.
        for n in 2..=10 {
            let now = row.next_at;
            row = fail(Some(&row), now, policy);
            assert_eq!(row.attempts, n);
            assert_eq!(row.first_at, t0);
            assert_eq!(row.held, n == 10, "attempt {n}");
        }
        // The age alone: the third failure a day after the first.
        let first = fail(None, t0, policy);
        let second = fail(Some(&first), t0 + 600, policy);
        assert!(!second.held);
        let third = fail(Some(&second), t0 + 86_400, policy);
        assert!(third.held && third.attempts == 3);
        // A policy of one attempt holds at the first failure.
        let one = HoldPolicy {
            after_attempts: 1,
            ..policy
        };
        assert!(fail(None, t0, one).held);
    }

    #[test]
    fn what_the_message_is_comes_from_the_attempt_that_downloaded_it_and_stays() {
        let (t0, policy) = (1_700_000_000, HoldPolicy::default());
        // The fetch failed: nothing known.
        let unknown = fail(None, t0, policy);
        assert_eq!(unknown.summary, None);
        // A later attempt downloaded it, then was refused: filled in.
        let about = Summary {
            from: "Ann <ann@x.example>".into(),
            subject: "Invoice".into(),
            date: Some(1_699_999_000),
            size: 4242,
        };
        let refused = after_failure(
            Some(&unknown),
            (&key(), "7", "p"),
            ("550 no".into(), Some(about.clone())),
            t0 + 60,
            policy,
        );
        assert_eq!(refused.summary.as_ref(), Some(&about));
        // One more whose fetch failed forgets nothing.
        let again = fail(Some(&refused), t0 + 180, policy);
        assert_eq!(again.summary, Some(about));
    }

    #[test]
    fn only_a_due_message_is_fetched() {
        let t0 = 1_700_000_000;
        let row = fail(None, t0, HoldPolicy::default());
        assert_eq!(due(None, t0), Due::Now);
        assert_eq!(due(Some(&row), t0 + 59), Due::Later);
        assert_eq!(due(Some(&row), t0 + 60), Due::Now);
        let held = Attempt {
            held: true,
            ..row.clone()
        };
        assert_eq!(due(Some(&held), t0 + 10 * 86_400), Due::Held);
        let fallback = Attempt {
            action: Some(HeldAction::Fallback),
            ..held
        };
        assert_eq!(due(Some(&fallback), t0), Due::Action(HeldAction::Fallback));
    }

    #[test]
    fn only_a_4xx_to_one_message_skips_it_and_a_run_of_them_stops_the_poll() {
        let transient = DeliveryError::Transient {
            server: "s".into(),
            reply: "451 busy".into(),
        };
        assert!(skips_one_message(&transient, 1));
        assert!(skips_one_message(&transient, DEFERRED_IN_A_ROW_STOP - 1));
        assert!(!skips_one_message(&transient, DEFERRED_IN_A_ROW_STOP));
        let closing = DeliveryError::Transient {
            server: "s".into(),
            reply: "transient error (421): 4.3.0 closing".into(),
        };
        assert!(!skips_one_message(&closing, 1));
        let unreachable = DeliveryError::Unreachable {
            server: "s".into(),
            reason: "refused".into(),
        };
        assert!(!skips_one_message(&unreachable, 1));
        let tls = DeliveryError::Tls {
            server: "s".into(),
            reason: "bad".into(),
        };
        assert!(!skips_one_message(&tls, 1));
    }
}
