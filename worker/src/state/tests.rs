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
        shown: Shown::default(),
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
async fn sent_recipients_are_remembered_per_profile_message_id_and_content() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let copy = |id: &str, content: &str| CopyKey {
        message_id: id.into(),
        content: content.into(),
    };
    let mut first = record("1");
    first.recipients = vec!["alice@x.y".into(), "bob@x.y".into()];
    first.dedupe_key = Some(copy("<m1@x>", "c1"));
    store.record(first).await.expect("record");
    store
        .record_sent(&copy("<m2@x>", "c2"), "p", &["carol@x.y".to_string()])
        .await
        .expect("sent");
    let asked = vec!["alice@x.y".to_string(), "carol@x.y".to_string()];
    let sent = |profile: &'static str, key: CopyKey| {
        let (store, asked) = (store.clone(), asked.clone());
        async move { store.already_sent(profile, &key, &asked).await.expect("q") }
    };
    assert_eq!(sent("p", copy("<m1@x>", "c1")).await, ["alice@x.y"]);
    assert_eq!(sent("p", copy("<m2@x>", "c2")).await, ["carol@x.y"]);
    assert!(sent("p", copy("<m3@x>", "c1")).await.is_empty());
    // The same Message-ID with other content is another message.
    assert!(sent("p", copy("<m1@x>", "c2")).await.is_empty());
    // Another profile's deliveries suppress nothing.
    assert!(sent("q", copy("<m1@x>", "c1")).await.is_empty());
    // Past the retention period a delivery is forgotten, and pruned when a poll begins.
    store
        .run(|conn| {
            conn.execute(
                "UPDATE sent SET sent_at = sent_at - ?1 * 86400 - 1 WHERE message_id = '<m1@x>'",
                rusqlite::params![SENT_RETENTION_DAYS],
            )
            .map_err(StateError::Write)
        })
        .await
        .expect("age");
    assert!(sent("p", copy("<m1@x>", "c1")).await.is_empty());
    store.begin_poll("p").await.expect("begin");
    let rows: i64 = store
        .run(|conn| {
            conn.query_row("SELECT COUNT(*) FROM sent", [], |row| row.get(0))
                .map_err(StateError::Read)
        })
        .await
        .expect("count");
    assert_eq!(rows, 1, "only the fresh row stays");
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
    assert_eq!(version, 10);
}

/// The writer takes records before the jobs queued ahead of them: a record sent behind
/// queries (while the writer is busy with another job) is committed before those queries run.
#[test]
fn a_record_queued_behind_queries_is_committed_first() {
    use super::writer::{Job, writer};
    use std::sync::{Arc, Mutex, mpsc};

    let dir = tempfile::tempdir().expect("tempdir");
    let (conn, path, _) = super::open::open_database(dir.path()).expect("open");
    let sync = super::syncer::wal_sync(&path).expect("wal");
    let (written, durable) = mpsc::channel();
    std::thread::spawn(move || super::syncer::syncer(sync, None, path, durable));
    let (jobs, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || writer(conn, rx, written));
    // The writer is busy with a job until the gate opens.
    let (open_gate, gate) = mpsc::channel::<()>();
    jobs.send(Job::Run(Box::new(move |_| {
        let _ = gate.recv();
    })))
    .expect("send");
    // Behind it: queries that note how many records they see, then the record.
    let seen = Arc::new(Mutex::new(Vec::new()));
    for _ in 0..3 {
        let seen = Arc::clone(&seen);
        jobs.send(Job::Run(Box::new(move |conn| {
            let n: i64 = conn
                .query_row("SELECT COUNT(*) FROM delivered", [], |row| row.get(0))
                .expect("count");
            seen.lock().expect("lock").push(n);
        })))
        .expect("send");
    }
    let (reply, committed) = tokio::sync::oneshot::channel();
    jobs.send(Job::Record(Box::new(record("1")), reply))
        .expect("send");
    open_gate.send(()).expect("open the gate");
    committed
        .blocking_recv()
        .expect("reply")
        .expect("committed");
    drop(jobs);
    thread.join().expect("writer thread");
    assert_eq!(
        *seen.lock().expect("lock"),
        vec![1, 1, 1],
        "the queries queued before the record ran before it was committed"
    );
}

fn intent(uid: &str, digest: &str) -> Intent {
    Intent {
        key: key(),
        profile: "p".into(),
        uid: uid.into(),
        digest: digest.into(),
        recipients: vec!["a@b.c".into()],
    }
}

#[tokio::test]
async fn an_intent_keeps_its_delivery_id_until_the_record_and_across_a_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = {
        let store = Store::open(dir.path()).expect("open");
        let first = store.intend(intent("1", "digest-1")).await.expect("intend");
        assert_eq!(first.attempts, 1);
        assert!(
            first.delivery_id.starts_with(store.installation_id()),
            "{first:?}"
        );
        first
    };
    // A new process (the old one killed before the record): the same id, a second attempt.
    let store = Store::open(dir.path()).expect("reopen");
    let again = store.intend(intent("1", "digest-1")).await.expect("intend");
    assert_eq!(again.delivery_id, first.delivery_id);
    assert_eq!(again.attempts, 2);
    // Other recipients, another UID, or another message under the same UID: other ids.
    let mut other_rcpt = intent("1", "digest-1");
    other_rcpt.recipients = vec!["x@b.c".into()];
    let others = [
        store.intend(other_rcpt).await.expect("intend"),
        store.intend(intent("2", "digest-2")).await.expect("intend"),
    ];
    assert!(others.iter().all(|o| o.delivery_id != first.delivery_id));
    assert_ne!(others[0].delivery_id, others[1].delivery_id);
    // The record ends the intent: a later delivery of that UID (reused) gets a new id.
    store.record(record("1")).await.expect("record");
    let after = store.intend(intent("1", "digest-1")).await.expect("intend");
    assert_ne!(after.delivery_id, first.delivery_id);
    assert_eq!(after.attempts, 1);
    // A reused UID with another message: another id at once.
    let reused = store.intend(intent("1", "digest-9")).await.expect("intend");
    assert_ne!(reused.delivery_id, after.delivery_id);
    // Intents of UIDs the server no longer lists are forgotten with the poll's clean-up.
    store
        .forget_deleted_missing(&key(), HashSet::from(["2".to_string()]))
        .await
        .expect("forget");
    let two = store.intend(intent("2", "digest-2")).await.expect("intend");
    assert_eq!(two.delivery_id, others[1].delivery_id);
    let one = store.intend(intent("1", "digest-9")).await.expect("intend");
    assert_ne!(one.delivery_id, reused.delivery_id);
}

/// A writer and a syncer on the database in `dir` whose fsync is `sync`: the writer's queue
/// and the database's path.
fn writer_and_syncer(
    dir: &std::path::Path,
    sync: super::syncer::SyncFn,
) -> (
    std::sync::mpsc::Sender<super::writer::Job>,
    std::path::PathBuf,
) {
    let (conn, path, _) = super::open::open_database(dir).expect("open");
    let (written, durable) = std::sync::mpsc::channel();
    let db = path.clone();
    std::thread::spawn(move || super::syncer::syncer(sync, None, db, durable));
    let (jobs, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || super::writer::writer(conn, rx, written));
    (jobs, path)
}

/// An fsync that says when it starts (`started`) and waits for `gate` before it returns.
fn gated_sync() -> (
    super::syncer::SyncFn,
    std::sync::mpsc::Receiver<()>,
    std::sync::mpsc::Sender<()>,
) {
    let (started_tx, started) = std::sync::mpsc::channel();
    let (gate, gate_rx) = std::sync::mpsc::channel::<()>();
    let sync: super::syncer::SyncFn = Box::new(move || {
        let _ = started_tx.send(());
        let _ = gate_rx.recv();
        Ok(())
    });
    (sync, started, gate)
}

/// How many `delivered` rows a connection of its own sees in the database at `path`.
fn rows_seen(path: &std::path::Path) -> i64 {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open");
    conn.query_row("SELECT COUNT(*) FROM delivered", [], |row| row.get(0))
        .expect("count")
}

/// What a worker killed now would find on restart: the database and its WAL copied as they
/// are (the kernel's view, nothing fsync'd), the WAL index left behind, opened afresh.
fn rows_after_a_kill(path: &std::path::Path) -> i64 {
    let copy = tempfile::tempdir().expect("tempdir");
    let to = copy.path().join("state.sqlite3");
    std::fs::copy(path, &to).expect("copy db");
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let mut wal_to = to.as_os_str().to_owned();
    wal_to.push("-wal");
    std::fs::copy(&wal, &wal_to).expect("copy wal");
    rows_seen(&to)
}

/// The crash window's contract: a record is written (visible to a fresh connection, and found
/// again by a worker restarted after a kill) before its fsync completes, and the poll hears
/// that it is recorded (and may delete remotely) only once the fsync has completed. A second
/// record is written while the first one's fsync is still running: no fsync between a 250 and
/// the record's write.
#[test]
fn a_record_is_written_before_its_fsync_and_answered_only_after_it() {
    use super::writer::Job;
    use tokio::sync::oneshot::error::TryRecvError;

    let dir = tempfile::tempdir().expect("tempdir");
    let (sync, started, gate) = gated_sync();
    let (jobs, path) = writer_and_syncer(dir.path(), sync);

    let (reply, mut first) = tokio::sync::oneshot::channel();
    jobs.send(Job::Record(Box::new(record("1")), reply))
        .expect("send");
    started
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("the fsync of the first record began");
    assert_eq!(rows_seen(&path), 1, "written before its fsync completes");
    assert_eq!(rows_after_a_kill(&path), 1, "a kill now keeps the record");
    assert!(
        matches!(first.try_recv(), Err(TryRecvError::Empty)),
        "answered before the fsync"
    );

    // The first fsync still running: the next record is written all the same.
    let (reply, mut second) = tokio::sync::oneshot::channel();
    jobs.send(Job::Record(Box::new(record("2")), reply))
        .expect("send");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while rows_seen(&path) < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the second record waited for the first one's fsync"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(rows_after_a_kill(&path), 2);
    assert!(matches!(first.try_recv(), Err(TryRecvError::Empty)));
    assert!(matches!(second.try_recv(), Err(TryRecvError::Empty)));

    // The first fsync completes: the first record is answered; the second waits for its own.
    gate.send(()).expect("gate");
    first.blocking_recv().expect("reply").expect("durable");
    started
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("the second fsync began");
    assert!(matches!(second.try_recv(), Err(TryRecvError::Empty)));
    gate.send(()).expect("gate");
    second.blocking_recv().expect("reply").expect("durable");
}

/// A record whose fsync fails is answered with the error, so the poll does not delete the
/// message remotely (a later poll finds the record, written, and deletes it then).
#[test]
fn a_failed_fsync_is_the_records_error() {
    use super::writer::Job;

    let dir = tempfile::tempdir().expect("tempdir");
    let sync: super::syncer::SyncFn = Box::new(|| Err(std::io::Error::other("disk gone")));
    let (jobs, path) = writer_and_syncer(dir.path(), sync);
    let (reply, answer) = tokio::sync::oneshot::channel();
    jobs.send(Job::Record(Box::new(record("1")), reply))
        .expect("send");
    let err = answer
        .blocking_recv()
        .expect("reply")
        .expect_err("not durable");
    assert!(matches!(err, StateError::Sync { .. }), "{err:?}");
    assert!(err.to_string().contains("disk gone"), "{err}");
    assert_eq!(rows_seen(&path), 1, "written all the same");
}

/// Through the real fsync of the WAL file and the syncer's checkpoints: many records from
/// concurrent polls, all durable and found again after a reopen, the WAL checkpointed.
#[tokio::test]
async fn records_made_durable_by_the_syncer_survive_a_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = Store::open(dir.path()).expect("open");
        let tasks: Vec<_> = (0..300)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move { store.record(record(&i.to_string())).await })
            })
            .collect();
        for task in tasks {
            task.await.expect("join").expect("record");
        }
    }
    let store = Store::open(dir.path()).expect("reopen");
    assert_eq!(store.known(&key()).await.expect("known").len(), 300);
}

fn attempt(uid: &str, held: bool) -> super::Attempt {
    super::Attempt {
        key: key(),
        uid: uid.into(),
        profile: "p".into(),
        attempts: 3,
        first_at: 1000,
        last_at: 1300,
        next_at: 1540,
        reason: "550 5.7.1 no".into(),
        held,
        action: None,
        summary: None,
    }
}

#[tokio::test]
async fn a_version_5_database_gains_the_attempts_table_and_held_rows_read_without_the_lock() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let conn = rusqlite::Connection::open(dir.path().join("state.sqlite3")).expect("create");
        conn.execute_batch(super::schema::CREATE_V1).expect("v1");
        conn.execute_batch(super::schema::MIGRATE_V2).expect("v2");
        conn.execute_batch(super::schema::CREATE_V3).expect("v3");
        conn.execute_batch(super::schema::CREATE_V4).expect("v4");
        conn.execute_batch(super::schema::MIGRATE_V5_SENT)
            .expect("v5");
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .expect("user_version");
        assert_eq!(version, 5);
        // Before the migration there is nothing held, and the read-only look says so.
        drop(conn);
        assert!(super::read_held(dir.path(), None).expect("v5").is_empty());
    }
    let store = Store::open(dir.path()).expect("open and migrate");
    store.put_attempt(attempt("1", false)).await.expect("put");
    store.put_attempt(attempt("2", true)).await.expect("put");
    let mut other = attempt("3", true);
    other.profile = "q".into();
    store.put_attempt(other).await.expect("put");
    let rows = store.attempts(&key()).await.expect("attempts");
    assert_eq!(rows.len(), 3);
    assert_eq!(rows.get("1"), Some(&attempt("1", false)));
    // Listed while the worker holds the lock: a read-only connection that takes none.
    let held = super::read_held(dir.path(), Some("p")).expect("read held");
    assert_eq!(held, vec![attempt("2", true)]);
    assert_eq!(super::read_held(dir.path(), None).expect("all").len(), 2);
    assert_eq!(store.held(Some("q".into())).await.expect("held").len(), 1);
    // A delivered message's row goes; so do the rows of UIDs the server no longer lists.
    store.clear_attempt(&key(), "1").await.expect("clear");
    store
        .forget_attempts_missing(&key(), ["2".to_string()].into_iter().collect())
        .await
        .expect("forget");
    let rows = store.attempts(&key()).await.expect("attempts");
    assert_eq!(rows.keys().collect::<Vec<_>>(), ["2"]);
}

#[tokio::test]
async fn an_action_is_asked_only_for_a_held_message_and_retry_forgets_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    store.put_attempt(attempt("1", false)).await.expect("put");
    store.put_attempt(attempt("2", true)).await.expect("put");
    let k = key();
    let id = |uid| ("p", k.folder.as_str(), k.uidvalidity, uid);
    let fallback = Some(super::HeldAction::Fallback);
    assert!(!store.ask_held(id("1"), fallback).await.expect("not held"));
    assert!(!store.ask_held(id("9"), None).await.expect("unknown"));
    assert!(store.ask_held(id("2"), fallback).await.expect("held"));
    let rows = store.attempts(&key()).await.expect("attempts");
    assert_eq!(rows.get("2").and_then(|row| row.action), fallback);
    // Retry now: the row goes, the message is tried like a new one.
    assert!(store.ask_held(id("2"), None).await.expect("retry"));
    let rows = store.attempts(&key()).await.expect("attempts");
    assert!(!rows.contains_key("2"));
    assert!(!store.ask_held(id("2"), None).await.expect("done"));
}
