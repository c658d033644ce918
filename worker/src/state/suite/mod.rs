//! The state test suite, run against both back-ends: the SQLite store (this crate's unit
//! tests) and the shared PostgreSQL store (`tests/e2e/shared_state.rs`, on a private cluster).
//! Every operation the polls use, with the exactly-once rules they rely on: a delivery keeps
//! its id until it is recorded, a record removes its intents, a copy is suppressed only for
//! the same profile, Message-ID and content, held messages, their actions and what each
//! message is (`held`), deletions and the clean-up, moving a mailbox's rows, the alert rows,
//! and a profile's History. Public (hidden) so the other crate can run it; it panics on the
//! first difference.

use std::collections::HashSet;

mod held;

use mailpull_shared::ipc::history::{DAYS, Tally};

/// The shared state's tables of its schema version 1, for the migration test on PostgreSQL.
pub use super::pg::schema::CREATE_V1 as PG_SCHEMA_V1;
/// The shared state's migration to its schema version 2, for the migration test on PostgreSQL.
pub use super::pg::schema::MIGRATE_V2 as PG_MIGRATE_V2;
/// The shared state's migration to its schema version 3, for the migration test on PostgreSQL.
pub use super::pg::schema::MIGRATE_V3 as PG_MIGRATE_V3;
use super::{AlertKind, AlertRow, Attempt, CopyKey, Intent, MailboxKey, Record, Shown, Store};

fn key(account: &str) -> MailboxKey {
    MailboxKey {
        account: account.to_string(),
        folder: "INBOX".to_string(),
        uidvalidity: 4_000_000_000,
    }
}

fn record(account: &str, uid: &str, digest: &str, copy: Option<CopyKey>) -> Record {
    Record {
        key: key(account),
        uid: uid.to_string(),
        profile: "p".to_string(),
        size: 120,
        remote_size: Some(100),
        digest: digest.to_string(),
        message_id: Some("<m@x>".to_string()),
        recipients: vec!["a@local".to_string(), "b@local".to_string()],
        shown: Default::default(),
        dedupe_key: copy,
    }
}

fn intent(account: &str, uid: &str, digest: &str, to: &[&str]) -> Intent {
    Intent {
        key: key(account),
        profile: "p".to_string(),
        uid: uid.to_string(),
        digest: digest.to_string(),
        recipients: to.iter().map(|r| r.to_string()).collect(),
    }
}

fn attempt(account: &str, uid: &str, held: bool) -> Attempt {
    Attempt {
        key: key(account),
        uid: uid.to_string(),
        profile: "p".to_string(),
        attempts: 3,
        first_at: 10,
        last_at: 20,
        next_at: 30,
        reason: "451 try later".to_string(),
        held,
        action: None,
        summary: None,
    }
}

/// Runs every part of the suite on a fresh, empty `store`.
pub async fn run_all(store: &Store) {
    assert!(!store.installation_id().is_empty());
    intents_keep_their_id_until_recorded(store).await;
    records_and_what_is_known(store).await;
    copies_are_suppressed_per_profile(store).await;
    deletions_and_clean_up(store).await;
    held::attempts_and_held_messages(store).await;
    held::held_messages_say_what_they_are(store).await;
    mailboxes_move_with_their_rows(store).await;
    alert_rows_are_kept_per_profile_and_kind(store).await;
    history_counts_the_profiles_deliveries(store).await;
}

async fn intents_keep_their_id_until_recorded(store: &Store) {
    let first = store
        .intend(intent("i@h", "1", "d1", &["a@local"]))
        .await
        .expect("intend");
    assert_eq!(first.attempts, 1);
    assert!(
        first
            .delivery_id
            .starts_with(&format!("{}.", store.installation_id())),
        "{first:?}"
    );
    let again = store
        .intend(intent("i@h", "1", "d1", &["a@local"]))
        .await
        .expect("intend");
    assert_eq!(
        again.delivery_id, first.delivery_id,
        "the same delivery keeps its id"
    );
    assert_eq!(again.attempts, 2);
    let other_rcpt = store
        .intend(intent("i@h", "1", "d1", &["b@local"]))
        .await
        .expect("intend");
    assert_ne!(other_rcpt.delivery_id, first.delivery_id);
    let other_msg = store
        .intend(intent("i@h", "1", "d2", &["a@local"]))
        .await
        .expect("intend");
    assert_ne!(
        other_msg.delivery_id, first.delivery_id,
        "another message, another id"
    );
    assert_eq!(other_msg.attempts, 1);
    store
        .record(record("i@h", "1", "d2", None))
        .await
        .expect("record");
    let after = store
        .intend(intent("i@h", "1", "d2", &["a@local"]))
        .await
        .expect("intend");
    assert_eq!(
        after.attempts, 1,
        "the record removed the delivery's intents"
    );
    assert_ne!(after.delivery_id, other_msg.delivery_id);
}

async fn records_and_what_is_known(store: &Store) {
    assert!(store.known(&key("r@h")).await.expect("known").is_empty());
    assert!(!store.has_records("r@h").await.expect("has"));
    store
        .record(record("r@h", "7", "dd", None))
        .await
        .expect("record");
    store
        .record(record("r@h", "7", "dd", None))
        .await
        .expect("record again");
    let known = store.known(&key("r@h")).await.expect("known");
    assert_eq!(known.len(), 1);
    let row = &known["7"];
    assert!(!row.deleted);
    assert_eq!(row.digest, "dd");
    assert_eq!(row.remote_size, Some(100));
    assert!(row.delivered_at > 1_600_000_000);
    assert!(store.digest_known("r@h", "dd").await.expect("digest"));
    assert!(!store.digest_known("r@h", "other").await.expect("digest"));
    assert!(!store.digest_known("x@h", "dd").await.expect("digest"));
    assert!(store.has_records("r@h").await.expect("has"));
    // The intents test recorded one for profile p as well.
    assert_eq!(store.delivered_count("p").await.expect("count"), 2);
    assert_eq!(store.delivered_count("q").await.expect("count"), 0);
    store.begin_poll("p").await.expect("begin poll");
}

async fn copies_are_suppressed_per_profile(store: &Store) {
    let copy = CopyKey {
        message_id: "<m@x>".to_string(),
        content: "c1".to_string(),
    };
    let asked = vec![
        "c@local".to_string(),
        "a@local".to_string(),
        "b@local".to_string(),
    ];
    assert!(
        store
            .already_sent("p", &copy, &asked)
            .await
            .expect("sent")
            .is_empty()
    );
    store
        .record(record("s@h", "1", "ds", Some(copy.clone())))
        .await
        .expect("record");
    assert_eq!(
        store.already_sent("p", &copy, &asked).await.expect("sent"),
        vec!["a@local".to_string(), "b@local".to_string()],
        "in the order asked"
    );
    assert!(
        store
            .already_sent("q", &copy, &asked)
            .await
            .expect("sent")
            .is_empty()
    );
    let other = CopyKey {
        content: "c2".to_string(),
        ..copy.clone()
    };
    assert!(
        store
            .already_sent("p", &other, &asked)
            .await
            .expect("sent")
            .is_empty()
    );
    store
        .record_sent(&copy, "p", &["c@local".to_string()])
        .await
        .expect("record sent");
    store
        .record_sent(&copy, "p", &["c@local".to_string()])
        .await
        .expect("record sent twice");
    assert_eq!(
        store
            .already_sent("p", &copy, &asked)
            .await
            .expect("sent")
            .len(),
        3
    );
}

async fn deletions_and_clean_up(store: &Store) {
    for uid in ["1", "2", "3"] {
        store
            .record(record("d@h", uid, uid, None))
            .await
            .expect("record");
    }
    store
        .intend(intent("d@h", "9", "d9", &["a@local"]))
        .await
        .expect("intend");
    store
        .mark_deleted(&key("d@h"), Vec::new())
        .await
        .expect("nothing");
    store
        .mark_deleted(&key("d@h"), vec!["1".into(), "2".into()])
        .await
        .expect("mark");
    let known = store.known(&key("d@h")).await.expect("known");
    assert!(known["1"].deleted && known["2"].deleted && !known["3"].deleted);
    let present: HashSet<String> = ["2".to_string()].into();
    let gone = store
        .forget_deleted_missing(&key("d@h"), present)
        .await
        .expect("forget");
    assert_eq!(gone, 1, "only the deleted row the server no longer lists");
    let known = store.known(&key("d@h")).await.expect("known");
    assert_eq!(
        known.keys().collect::<HashSet<_>>(),
        ["2", "3"]
            .iter()
            .map(|u| u.to_string())
            .collect::<HashSet<_>>()
            .iter()
            .collect()
    );
    let again = store
        .intend(intent("d@h", "9", "d9", &["a@local"]))
        .await
        .expect("intend");
    assert_eq!(
        again.attempts, 1,
        "the intent of a UID no longer listed went with the clean-up"
    );
}

async fn mailboxes_move_with_their_rows(store: &Store) {
    assert_eq!(store.mailbox_of("m").await.expect("read"), None);
    store.set_mailbox("m", "u@old").await.expect("set");
    store.set_mailbox("m2", "u@old").await.expect("set");
    assert!(store.polled_by_another("u@old", "m").await.expect("others"));
    store.set_mailbox("m2", "elsewhere@x").await.expect("set");
    assert!(!store.polled_by_another("u@old", "m").await.expect("others"));
    store
        .record(record("u@old", "1", "o1", None))
        .await
        .expect("record");
    store
        .record(record("u@new", "1", "n1", None))
        .await
        .expect("record");
    store
        .record(record("u@old", "2", "o2", None))
        .await
        .expect("record");
    let kept = store
        .intend(intent("u@old", "3", "o3", &["a@local"]))
        .await
        .expect("intend");
    store
        .put_attempt(attempt("u@old", "4", true))
        .await
        .expect("put");
    let moved = store
        .move_mailbox("m", "u@old", "u@new")
        .await
        .expect("move");
    assert_eq!(moved, 1, "UID 1 is already recorded under the new name");
    assert_eq!(
        store.mailbox_of("m").await.expect("read").as_deref(),
        Some("u@new")
    );
    assert!(!store.has_records("u@old").await.expect("old"));
    let known = store.known(&key("u@new")).await.expect("known");
    assert_eq!(known["1"].digest, "n1", "the row the new name had wins");
    assert_eq!(known["2"].digest, "o2");
    let again = store
        .intend(intent("u@new", "3", "o3", &["a@local"]))
        .await
        .expect("intend");
    assert_eq!(
        again.delivery_id, kept.delivery_id,
        "a re-sent message keeps its id"
    );
    assert!(store.attempts(&key("u@new")).await.expect("attempts")["4"].held);
}

fn alert(profile: &str, kind: AlertKind, sent_at: Option<i64>) -> AlertRow {
    AlertRow {
        profile: profile.to_string(),
        kind,
        since: 100,
        detail: "login refused".to_string(),
        sent_at,
    }
}

async fn alert_rows_are_kept_per_profile_and_kind(store: &Store) {
    assert!(store.alerts("al").await.expect("none yet").is_empty());
    store
        .put_alert(alert("al", AlertKind::Failing, None))
        .await
        .expect("put");
    store
        .put_alert(alert("al", AlertKind::SignIn, Some(150)))
        .await
        .expect("put");
    store
        .put_alert(alert("other", AlertKind::Held, None))
        .await
        .expect("put");
    store
        .put_alert(alert("al", AlertKind::Failing, Some(300)))
        .await
        .expect("replace");
    assert_eq!(
        store.alerts("al").await.expect("rows"),
        [
            alert("al", AlertKind::Failing, Some(300)),
            alert("al", AlertKind::SignIn, Some(150))
        ],
        "one row per kind, the last written, ordered by kind"
    );
    store
        .clear_alert("al", AlertKind::Failing)
        .await
        .expect("clear");
    store
        .clear_alert("al", AlertKind::Held)
        .await
        .expect("clearing nothing");
    assert_eq!(
        store.alerts("al").await.expect("rows"),
        [alert("al", AlertKind::SignIn, Some(150))]
    );
    assert_eq!(store.alerts("other").await.expect("rows").len(), 1);
}

fn delivered(uid: &str, recipients: &[&str], subject: &str) -> Record {
    Record {
        key: key("hist@h"),
        uid: uid.to_string(),
        profile: "hist".to_string(),
        size: 1_000,
        remote_size: None,
        digest: format!("h{uid}"),
        message_id: None,
        recipients: recipients.iter().map(|r| r.to_string()).collect(),
        shown: Shown {
            from: format!("Sender {uid} <s{uid}@x.example>"),
            subject: subject.to_string(),
            reply: format!("250 2.0.0 Ok: queued as Q{uid}"),
        },
        dedupe_key: None,
    }
}

async fn history_counts_the_profiles_deliveries(store: &Store) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let empty = store.history("hist".into(), 0, now).await.expect("empty");
    assert_eq!(empty.all, Tally::default());
    assert!(empty.recent.is_empty());
    assert_eq!(empty.per_day.len(), DAYS as usize);
    store
        .record(delivered("1", &["a@local"], "first"))
        .await
        .expect("record");
    store
        .record(delivered("2", &["a@local", "b@local"], "second"))
        .await
        .expect("record");
    // Recognised as already delivered: not a delivery.
    store
        .record(delivered("3", &[], "known"))
        .await
        .expect("record");
    let mut failing = attempt("hist@h", "8", false);
    failing.profile = "hist".to_string();
    let mut held = attempt("hist@h", "9", true);
    held.profile = "hist".to_string();
    store.put_attempt(failing).await.expect("put");
    store.put_attempt(held).await.expect("put");
    // Days at UTC+2 (the records were made a moment ago, so today's).
    let history = store
        .history("hist".into(), 7_200, now + 5)
        .await
        .expect("history");
    assert_eq!(history.profile, "hist");
    let two = Tally {
        messages: 2,
        bytes: 2_000,
    };
    assert_eq!((history.today, history.week, history.all), (two, two, two));
    assert_eq!((history.failing, history.held), (2, 1));
    assert_eq!(history.per_day.len(), DAYS as usize);
    let last = history.per_day.last().expect("today");
    assert_eq!(
        (last.day, last.messages),
        ((now + 5 + 7_200).div_euclid(86_400), 2)
    );
    assert_eq!(history.per_day.iter().map(|d| d.messages).sum::<u64>(), 2);
    let mut subjects: Vec<&str> = history.recent.iter().map(|d| d.subject.as_str()).collect();
    subjects.sort_unstable();
    assert_eq!(subjects, ["first", "second"]);
    let second = history
        .recent
        .iter()
        .find(|d| d.subject == "second")
        .expect("second");
    assert_eq!(second.from, "Sender 2 <s2@x.example>");
    assert_eq!(second.recipients, "a@local,b@local");
    assert_eq!(second.reply, "250 2.0.0 Ok: queued as Q2");
    assert_eq!(second.bytes, 1_000);
    assert!((now - 5..=now + 5).contains(&second.at), "{}", second.at);
    // Another profile's history does not see them.
    let other = store.history("p".into(), 0, now).await.expect("other");
    assert!(other.recent.iter().all(|d| d.subject.is_empty()));
    history_outlives_forgotten_records(store, now).await;
}

/// Deleted on the server, then no longer listed: the records are forgotten (a reused UID is
/// new mail), the History page still lists the deliveries.
async fn history_outlives_forgotten_records(store: &Store, now: i64) {
    let uids = vec!["1".to_string(), "2".to_string(), "3".to_string()];
    store
        .mark_deleted(&key("hist@h"), uids)
        .await
        .expect("mark");
    let gone = store
        .forget_deleted_missing(&key("hist@h"), HashSet::new())
        .await
        .expect("forget");
    assert_eq!(gone, 3);
    assert!(store.known(&key("hist@h")).await.expect("known").is_empty());
    assert!(!store.digest_known("hist@h", "h1").await.expect("digest"));
    store.begin_poll("hist").await.expect("poll");
    let history = store.history("hist".into(), 0, now + 5).await.expect("h");
    assert_eq!(history.all.messages, 2);
    assert_eq!(history.recent.len(), 2);
    // The server reuses UID 1 for another message: delivered, listed beside the first.
    store
        .record(delivered("1", &["c@local"], "reused"))
        .await
        .expect("record");
    let known = store.known(&key("hist@h")).await.expect("known");
    assert_eq!((known.len(), known["1"].deleted), (1, false));
    let history = store.history("hist".into(), 0, now + 5).await.expect("h");
    assert_eq!(history.all.messages, 3);
    let mut subjects: Vec<&str> = history.recent.iter().map(|d| d.subject.as_str()).collect();
    subjects.sort_unstable();
    assert_eq!(subjects, ["first", "reused", "second"]);
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn the_state_suite_passes_on_sqlite() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = super::Store::open(dir.path()).expect("store");
        super::run_all(&store).await;
    }
}
