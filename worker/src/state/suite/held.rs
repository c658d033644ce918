//! The suite's part on the attempts of messages that failed on their own: counts, held
//! messages and their actions, the clean-up, and what each message is (schema 10, shared 4).

use std::collections::HashSet;

use super::{attempt, key};
use crate::state::{HeldAction, Store, Summary};

pub(super) async fn attempts_and_held_messages(store: &Store) {
    store
        .put_attempt(attempt("a@h", "1", false))
        .await
        .expect("put");
    store
        .put_attempt(attempt("a@h", "2", true))
        .await
        .expect("put");
    let mut later = attempt("a@h", "2", true);
    later.attempts = 4;
    store.put_attempt(later).await.expect("replace");
    let rows = store.attempts(&key("a@h")).await.expect("attempts");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows["2"].attempts, 4);
    assert_eq!(rows["1"].reason, "451 try later");
    assert_eq!(rows["1"].key.uidvalidity, 4_000_000_000);
    assert_eq!(
        store.held_counts().await.expect("counts"),
        vec![("p".to_string(), 1)]
    );
    assert_eq!(store.held(None).await.expect("held").len(), 1);
    assert!(store.held(Some("q".into())).await.expect("held").is_empty());
    let message = ("p", "INBOX", 4_000_000_000, "2");
    assert!(
        store
            .ask_held(message, Some(HeldAction::Fallback))
            .await
            .expect("ask")
    );
    assert!(
        !store
            .ask_held(("p", "INBOX", 4_000_000_000, "1"), Some(HeldAction::Delete))
            .await
            .expect("not held")
    );
    assert_eq!(
        store.held(Some("p".into())).await.expect("held")[0].action,
        Some(HeldAction::Fallback)
    );
    assert!(store.ask_held(message, None).await.expect("retry"));
    assert!(store.held(None).await.expect("held").is_empty());
    store.clear_attempt(&key("a@h"), "1").await.expect("clear");
    assert!(
        store
            .attempts(&key("a@h"))
            .await
            .expect("attempts")
            .is_empty()
    );
    store
        .put_attempt(attempt("a@h", "5", false))
        .await
        .expect("put");
    store
        .put_attempt(attempt("a@h", "6", false))
        .await
        .expect("put");
    store
        .forget_attempts_missing(&key("a@h"), ["6".to_string()].into())
        .await
        .expect("forget");
    let rows = store.attempts(&key("a@h")).await.expect("attempts");
    assert_eq!(
        rows.keys().cloned().collect::<Vec<_>>(),
        vec!["6".to_string()]
    );
}

/// What a failed message is, kept with its attempts row: written, replaced by a later attempt
/// that downloaded it, read back by `attempts` and `held`; a row of an attempt that never got
/// the bytes reads as not known.
pub(super) async fn held_messages_say_what_they_are(store: &Store) {
    let about = Summary {
        from: "Ann Example <ann@x.example>".into(),
        subject: "Grüße: invoice 7".into(),
        date: Some(1_764_800_000),
        size: 4242,
    };
    let mut known = attempt("s@h", "1", true);
    known.summary = Some(about.clone());
    store.put_attempt(known).await.expect("put");
    store
        .put_attempt(attempt("s@h", "2", true))
        .await
        .expect("put");
    // Downloaded, but without From, Subject or Date: known, and empty.
    let bare = Summary {
        size: 10,
        ..Summary::default()
    };
    let mut plain = attempt("s@h", "3", false);
    plain.summary = Some(bare.clone());
    store.put_attempt(plain).await.expect("put");
    let rows = store.attempts(&key("s@h")).await.expect("attempts");
    assert_eq!(rows["1"].summary.as_ref(), Some(&about));
    assert_eq!(rows["2"].summary, None, "never downloaded: not known");
    assert_eq!(rows["3"].summary.as_ref(), Some(&bare));
    let held = store.held(Some("p".into())).await.expect("held");
    let held: Vec<(&str, Option<&Summary>)> = held
        .iter()
        .filter(|row| row.key.account == "s@h")
        .map(|row| (row.uid.as_str(), row.summary.as_ref()))
        .collect();
    assert_eq!(held, [("1", Some(&about)), ("2", None)]);
    // A later attempt that downloaded the message fills it in.
    let mut filled = attempt("s@h", "2", true);
    filled.attempts = 4;
    filled.summary = Some(about.clone());
    store.put_attempt(filled).await.expect("replace");
    let rows = store.attempts(&key("s@h")).await.expect("attempts");
    assert_eq!(rows["2"].summary.as_ref(), Some(&about));
    assert_eq!(rows["2"].attempts, 4);
    store
        .forget_attempts_missing(&key("s@h"), HashSet::new())
        .await
        .expect("forget");
    assert!(
        store
            .attempts(&key("s@h"))
            .await
            .expect("attempts")
            .is_empty()
    );
}
