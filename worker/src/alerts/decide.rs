//! Pure: what one kind of alert comes to after a poll, from what the poll showed and the row
//! the state database keeps. One mail when the trouble has lasted long enough, one when it is
//! over, nothing in between: never a mail per poll.

use crate::state::{AlertKind, AlertRow};

/// What a poll showed about one kind of trouble.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// The trouble is there, with its detail in words.
    Active(String),
    /// It is over.
    Clear,
    /// This poll says nothing about it (a sign-in error says nothing about other failures).
    Unknown,
}

/// What to do about one kind of alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Nothing,
    /// Remember the trouble (not mailed yet).
    Remember(AlertRow),
    /// Send the alert, then keep the row as sent.
    Alert(AlertRow),
    /// Send the recovery mail, then forget the row.
    Recover(AlertRow),
    /// Forget the row: over before any mail went out.
    Forget,
}

/// The step for `kind` of `profile` at `now` (Unix seconds); a failing profile is mailed
/// about once it has failed for `after_secs`, held messages and a sign-in at once.
pub fn decide(
    profile: &str,
    kind: AlertKind,
    seen: Seen,
    row: Option<&AlertRow>,
    now: i64,
    after_secs: i64,
) -> Step {
    let wait = if kind == AlertKind::Failing {
        after_secs
    } else {
        0
    };
    match (seen, row) {
        (Seen::Unknown, _) | (Seen::Clear, None) => Step::Nothing,
        (Seen::Clear, Some(row)) if row.sent_at.is_some() => Step::Recover(row.clone()),
        (Seen::Clear, Some(_)) => Step::Forget,
        (Seen::Active(_), Some(row)) if row.sent_at.is_some() => Step::Nothing,
        (Seen::Active(detail), row) => {
            let since = row.map_or(now, |row| row.since);
            let row = AlertRow {
                profile: profile.to_string(),
                kind,
                since,
                detail,
                sent_at: None,
            };
            if now.saturating_sub(since) >= wait {
                Step::Alert(row)
            } else {
                Step::Remember(row)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kind: AlertKind, since: i64, sent_at: Option<i64>) -> AlertRow {
        AlertRow {
            profile: "p".into(),
            kind,
            since,
            detail: "old".into(),
            sent_at,
        }
    }

    fn active() -> Seen {
        Seen::Active("login refused".into())
    }

    #[test]
    fn a_failing_profile_is_mailed_about_once_after_the_wait() {
        let failing = AlertKind::Failing;
        let first = decide("p", failing, active(), None, 1000, 60);
        let Step::Remember(remembered) = first else {
            panic!("{first:?}")
        };
        assert_eq!((remembered.since, remembered.sent_at), (1000, None));
        assert_eq!(
            decide("p", failing, active(), Some(&remembered), 1059, 60),
            Step::Remember(remembered.clone())
        );
        let Step::Alert(alert) = decide("p", failing, active(), Some(&remembered), 1060, 60) else {
            panic!("no alert after the wait")
        };
        assert_eq!(alert.since, 1000);
        assert_eq!(alert.detail, "login refused");
        // Sent: later polls that still fail send nothing.
        let sent = AlertRow {
            sent_at: Some(1060),
            ..alert
        };
        assert_eq!(
            decide("p", failing, active(), Some(&sent), 5000, 60),
            Step::Nothing
        );
        assert_eq!(
            decide("p", failing, Seen::Unknown, Some(&sent), 5000, 60),
            Step::Nothing
        );
        // Over: one recovery mail; over before the wait: forgotten without a mail.
        assert_eq!(
            decide("p", failing, Seen::Clear, Some(&sent), 6000, 60),
            Step::Recover(sent)
        );
        assert_eq!(
            decide("p", failing, Seen::Clear, Some(&remembered), 1010, 60),
            Step::Forget
        );
        assert_eq!(
            decide("p", failing, Seen::Clear, None, 1010, 60),
            Step::Nothing
        );
    }

    #[test]
    fn held_messages_and_a_sign_in_are_mailed_about_at_once() {
        for kind in [AlertKind::Held, AlertKind::SignIn] {
            let step = decide("p", kind, active(), None, 1000, 3600);
            assert!(
                matches!(step, Step::Alert(ref row) if row.since == 1000),
                "{step:?}"
            );
            let sent = row(kind, 1000, Some(1000));
            assert_eq!(
                decide("p", kind, active(), Some(&sent), 1001, 3600),
                Step::Nothing
            );
            assert_eq!(
                decide("p", kind, Seen::Clear, Some(&sent), 1002, 3600),
                Step::Recover(sent)
            );
        }
    }

    #[test]
    fn an_alert_that_could_not_be_sent_is_tried_again_with_its_first_time() {
        // The row stays unsent when the mail failed: the next poll tries again.
        let unsent = row(AlertKind::Failing, 1000, None);
        let step = decide("p", AlertKind::Failing, active(), Some(&unsent), 9000, 60);
        assert!(
            matches!(step, Step::Alert(ref row) if row.since == 1000),
            "{step:?}"
        );
    }
}
