//! Unit tests of the state database.

use std::collections::HashSet;

use super::writer::now_secs;
use super::*;

#[test]
fn a_roomy_writable_directory_has_no_file_system_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert_eq!(file_system_problem(dir.path()), None);
    // A directory that does not exist has nothing to report either (open says why).
    assert_eq!(file_system_problem(&dir.path().join("missing")), None);
}

fn key() -> MailboxKey {
    MailboxKey {
        account: "u@h".into(),
        folder: String::new(),
        uidvalidity: 0,
    }
}

fn record(uid: &str) -> Record {
    Record {
        key: key(),
        uid: uid.into(),
        profile: "p".into(),
        size: 10,
        remote_size: Some(8),
        digest: format!("digest-{uid}"),
        message_id: Some(format!("<{uid}@x>")),
        recipients: vec!["a@b.c".into()],
        dedupe_key: None,
    }
}

#[tokio::test]
async fn records_survive_reopen_and_keep_the_installation_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let id = {
        let store = Store::open(dir.path()).expect("open");
        store.record(record("1")).await.expect("record");
        store.installation_id().to_string()
    };
    let store = Store::open(dir.path()).expect("reopen");
    assert_eq!(store.installation_id(), id);
    let known = store.known(&key()).await.expect("known");
    let first = known.get("1").expect("recorded");
    assert!(!first.deleted);
    assert!((now_secs() - first.delivered_at).abs() < 60);
    assert!(store.digest_known("u@h", "digest-1").await.expect("digest"));
    assert!(!store.digest_known("u@h", "digest-2").await.expect("digest"));
    assert_eq!(store.delivered_count("p").await.expect("count"), 1);
}

#[tokio::test]
async fn concurrent_records_are_all_committed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.record(record(&i.to_string())).await })
        })
        .collect();
    for task in tasks {
        task.await.expect("join").expect("record");
    }
    assert_eq!(store.known(&key()).await.expect("known").len(), 200);
}

#[tokio::test]
async fn sent_recipients_are_remembered_by_dedupe_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let mut first = record("1");
    first.recipients = vec!["alice@x.y".into(), "bob@x.y".into()];
    first.dedupe_key = Some("<m1@x>".into());
    store.record(first).await.expect("record");
    store
        .record_sent("<m2@x>", "p", &["carol@x.y".to_string()])
        .await
        .expect("sent");
    let asked = vec!["alice@x.y".to_string(), "carol@x.y".to_string()];
    assert_eq!(
        store.already_sent("<m1@x>", &asked).await.expect("q"),
        vec!["alice@x.y".to_string()]
    );
    assert_eq!(
        store.already_sent("<m2@x>", &asked).await.expect("q"),
        vec!["carol@x.y".to_string()]
    );
    assert!(
        store
            .already_sent("<m3@x>", &asked)
            .await
            .expect("q")
            .is_empty()
    );
    drop(store);
    assert!(read_installation_id(dir.path()).is_some_and(|id| id.len() == 16));
    assert_eq!(read_installation_id(&dir.path().join("nothing")), None);
}

#[tokio::test]
async fn deleted_rows_are_forgotten_once_the_server_no_longer_lists_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    for uid in ["1", "2", "3"] {
        store.record(record(uid)).await.expect("record");
    }
    store
        .mark_deleted(&key(), vec!["1".into(), "2".into()])
        .await
        .expect("mark");
    // "2" is still listed (its deletion was rolled back): it must stay known.
    let present: HashSet<String> = ["2".to_string(), "3".to_string()].into();
    assert_eq!(
        store
            .forget_deleted_missing(&key(), present)
            .await
            .expect("forget"),
        1
    );
    let known = store.known(&key()).await.expect("known");
    assert_eq!(known.len(), 2);
    assert!(known.get("2").is_some_and(|k| k.deleted));
    assert!(known.get("3").is_some_and(|k| !k.deleted));
}

#[tokio::test]
async fn a_read_only_database_refuses_to_begin_a_poll() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    // A read-only database, through SQLite's own switch on the writer connection.
    store
        .run(|conn| {
            conn.execute_batch("PRAGMA query_only = 1;")
                .map_err(StateError::Write)
        })
        .await
        .expect("pragma");
    let err = store.begin_poll("p").await.unwrap_err();
    assert!(
        err.to_string().contains("state database write failed"),
        "{err}"
    );
}

#[tokio::test]
async fn a_version_1_database_is_migrated_and_keeps_its_records_under_the_mailbox_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let conn = rusqlite::Connection::open(dir.path().join("state.sqlite3")).expect("create");
        conn.execute_batch(super::schema::CREATE_V1)
            .expect("version 1");
        conn.execute(
            "INSERT INTO delivered (account, folder, uidvalidity, uid, profile, size, digest, \
             message_id, recipients, delivered_at) \
             VALUES ('pop3://u@h:995', '', 0, 'old', 'p', 99, 'digest-old', NULL, 'a@b.c', 1000)",
            [],
        )
        .expect("a version-1 row");
    }
    let store = Store::open(dir.path()).expect("open and migrate");
    let known = store.known(&key()).await.expect("known");
    let old = known.get("old").expect("the version-1 row survives");
    assert_eq!(old.remote_size, None);
    assert_eq!(old.digest, "digest-old");
    assert_eq!(old.delivered_at, 1000);
    store.record(record("new")).await.expect("record");
    let known = store.known(&key()).await.expect("known");
    assert_eq!(known.get("new").and_then(|k| k.remote_size), Some(8));
    drop(store);
    let conn = rusqlite::Connection::open(dir.path().join("state.sqlite3")).expect("reopen");
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .expect("user_version");
    assert_eq!(version, super::schema::SCHEMA_VERSION);
    assert_eq!(version, 3);
}
