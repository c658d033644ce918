//! The shared state (PostgreSQL) on a private cluster started here (`initdb` + `pg_ctl`, see
//! `mailpull_tests::postgres`): the same state suite the SQLite store passes
//! (`mailpull_worker::state::suite`), the password from its source and never in an error,
//! and the profile leases: a fair split, a lapsed lease taken over with the old holder fenced
//! (its intent and its record refused in the same transaction), a clean release handed over at once.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use mailpull_shared::secrets::Secret;
use mailpull_tests::PostgresCluster;
use mailpull_worker::state::{
    AlertKind, AlertRow, Attempt, Intent, LeaseChange, MailboxKey, Record, StateError, Store,
    Summary, suite,
};

fn cluster(db: &str) -> PostgresCluster {
    let pg = PostgresCluster::start().expect("the private PostgreSQL cluster must start");
    pg.create_database(db).expect("create database");
    pg
}

#[tokio::test]
async fn the_state_suite_passes_on_postgres() {
    let pg = cluster("suite");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_shared(
        dir.path(),
        &pg.url("suite"),
        Some(Secret::new(pg.password())),
    )
    .await
    .unwrap_or_else(|err| panic!("open_shared: {err}\n{}", pg.log()));
    assert!(store.is_shared());
    suite::run_all(&store).await;
    // A second worker of the same state shares the installation id (delivery ids, loops).
    let other = tempfile::tempdir().expect("tempdir");
    let second = Store::open_shared(
        other.path(),
        &pg.url("suite"),
        Some(Secret::new(pg.password())),
    )
    .await
    .expect("second worker");
    assert_eq!(second.installation_id(), store.installation_id());
    // ... and sees the first one's records.
    assert_eq!(
        second.delivered_count("p").await.expect("count"),
        store.delivered_count("p").await.expect("count")
    );
    assert!(second.has_records("u@new").await.expect("records"));
}

#[tokio::test]
async fn a_wrong_password_is_refused_without_showing_it() {
    let pg = cluster("pw");
    let dir = tempfile::tempdir().expect("tempdir");
    let err = Store::open_shared(
        dir.path(),
        &pg.url("pw"),
        Some(Secret::new("wrong-secret-xyz")),
    )
    .await
    .expect_err("a wrong password must be refused");
    let text = err.to_string();
    assert!(text.contains("password authentication failed"), "{text}");
    assert!(
        text.contains(&format!("mailpull@127.0.0.1:{}/pw", pg.port())),
        "{text}"
    );
    assert!(
        !text.contains("wrong-secret-xyz") && !text.contains(pg.password()),
        "{text}"
    );
}

const LEASE: Duration = Duration::from_secs(3);

async fn worker(pg: &PostgresCluster, db: &str) -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_shared(dir.path(), &pg.url(db), Some(Secret::new(pg.password())))
        .await
        .expect("open_shared");
    store.start_leasing();
    (store, dir)
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("p{i:02}")).collect()
}

fn held(store: &Store, profiles: &[String]) -> BTreeSet<String> {
    profiles
        .iter()
        .filter(|p| store.holds(p))
        .cloned()
        .collect()
}

async fn tick(store: &Store, profiles: &[String]) -> LeaseChange {
    store
        .lease_tick(profiles, LEASE)
        .await
        .expect("tick")
        .expect("a shared store leases")
}

fn delivery(profile: &str, uid: &str) -> Record {
    Record {
        key: MailboxKey {
            account: format!("{profile}@isp"),
            folder: String::new(),
            uidvalidity: 0,
        },
        uid: uid.to_string(),
        profile: profile.to_string(),
        size: 10,
        remote_size: None,
        digest: format!("d-{profile}-{uid}"),
        message_id: None,
        recipients: vec!["a@local".to_string()],
        dedupe_key: None,
        shown: Default::default(),
    }
}

fn intent(profile: &str, uid: &str) -> Intent {
    let record = delivery(profile, uid);
    Intent {
        key: record.key,
        profile: record.profile,
        uid: record.uid,
        digest: record.digest,
        recipients: record.recipients,
    }
}

/// Two workers (two handles) split ten profiles five and five; one stops renewing (as after
/// kill -9): after the lease the other claims its five, and the stale one is fenced: its
/// record and its poll start are refused, so it deletes nothing remotely.
#[tokio::test]
async fn a_lapsed_lease_is_taken_over_and_the_old_holder_is_fenced() {
    let pg = cluster("lapse");
    let profiles = names(10);
    let (a, _da) = worker(&pg, "lapse").await;
    let (b, _db) = worker(&pg, "lapse").await;
    assert!(
        held(&a, &profiles).is_empty(),
        "nothing is polled before a claim"
    );
    tick(&a, &[]).await;
    tick(&b, &[]).await;
    let ca = tick(&a, &profiles).await;
    let cb = tick(&b, &profiles).await;
    assert_eq!((ca.workers, ca.claimed.len()), (2, 5), "{ca:?}");
    assert_eq!((cb.workers, cb.claimed.len()), (2, 5), "{cb:?}");
    let (ha, hb) = (held(&a, &profiles), held(&b, &profiles));
    assert!(
        ha.is_disjoint(&hb) && ha.len() + hb.len() == 10,
        "{ha:?} {hb:?}"
    );
    let mine = ha.iter().next().expect("a holds one").clone();
    let theirs = hb.iter().next().expect("b holds one").clone();
    a.record(delivery(&mine, "1"))
        .await
        .expect("a records under its lease");
    a.intend(intent(&mine, "2"))
        .await
        .expect("a writes an intent under its lease");
    a.begin_poll(&mine).await.expect("a polls under its lease");
    let refused = a
        .record(delivery(&theirs, "1"))
        .await
        .expect_err("not a's profile");
    assert!(matches!(refused, StateError::LeaseLost { .. }), "{refused}");
    assert!(a.begin_poll(&theirs).await.is_err());
    // a stops renewing (its last round was above); b goes on, and claims a's profiles once
    // they lapse: within two lease times.
    let start = Instant::now();
    let mut taken = BTreeSet::new();
    let mut workers = 2;
    while held(&b, &profiles).len() < 10 {
        assert!(
            start.elapsed() < 2 * LEASE,
            "not taken over within two leases"
        );
        tokio::time::sleep(LEASE / 3).await;
        let change = tick(&b, &profiles).await;
        taken.extend(change.claimed);
        workers = change.workers;
    }
    assert!(
        start.elapsed() >= LEASE - LEASE / 3,
        "taken before the lease lapsed"
    );
    assert_eq!(workers, 1, "a is no longer counted");
    assert_eq!(taken, ha, "b took over exactly a's profiles");
    assert_eq!(held(&b, &profiles).len(), 10);
    // a still believes it holds `mine`: the record's transaction refuses it all the same.
    assert!(a.holds(&mine), "a has not noticed yet");
    let fenced = a.record(delivery(&mine, "2")).await.expect_err("fenced");
    assert!(matches!(fenced, StateError::LeaseLost { .. }), "{fenced}");
    assert!(
        fenced.to_string().contains("no longer holds its lease"),
        "{fenced}"
    );
    assert!(!a.holds(&mine), "a stops polling it");
    // Nor does a stale holder send anything more: its intent (written before any data goes
    // out) is refused in its transaction the same way. Else it could send, under a new
    // delivery id, what the new holder delivered and recorded since.
    let other = ha.iter().nth(1).expect("a held five").clone();
    assert!(a.holds(&other), "a has not noticed yet");
    let stale = a.intend(intent(&other, "3")).await.expect_err("fenced");
    assert!(matches!(stale, StateError::LeaseLost { .. }), "{stale}");
    assert!(!a.holds(&other), "a stops polling it");
    let fresh = b
        .intend(intent(&other, "3"))
        .await
        .expect("b writes its intent under its lease");
    assert_eq!(fresh.attempts, 1, "a wrote no intent for uid 3");
    assert!(
        !a.known(&delivery(&mine, "2").key)
            .await
            .expect("known")
            .contains_key("2")
    );
    // a comes back: it finds nothing free, and b hands back a fair share once it sees a.
    let back = tick(&a, &profiles).await;
    assert!(back.claimed.is_empty() && back.workers == 2, "{back:?}");
    let shed = tick(&b, &profiles).await;
    assert_eq!((shed.lost.len(), shed.held), (5, 5), "{shed:?}");
    assert_eq!(tick(&a, &profiles).await.claimed.len(), 5);
}

/// A clean stop hands every profile back at once: the other worker claims them at its next
/// round, without waiting for a lease to lapse.
#[tokio::test]
async fn a_clean_release_hands_the_profiles_over_without_a_gap() {
    let pg = cluster("release");
    let profiles = names(8);
    let (a, _da) = worker(&pg, "release").await;
    let (b, _db) = worker(&pg, "release").await;
    tick(&a, &[]).await;
    tick(&b, &[]).await;
    tick(&a, &profiles).await;
    tick(&b, &profiles).await;
    let from_a = held(&a, &profiles);
    assert_eq!(from_a.len(), 4);
    a.release_leases().await.expect("release");
    assert!(held(&a, &profiles).is_empty());
    let change = tick(&b, &profiles).await;
    assert_eq!(change.workers, 1);
    assert_eq!(
        change.claimed.iter().cloned().collect::<BTreeSet<_>>(),
        from_a
    );
    let holders = b.lease_holders().await.expect("holders");
    assert_eq!(holders.len(), 8);
    assert!(
        holders
            .iter()
            .all(|(_, holder, live)| *live && Some(holder.as_str()) == b.worker_id())
    );
}

/// Three workers and 31 profiles: each holds its fair share (⌈31/3⌉ = 11 at most, within
/// ±20 % of 31/3), all profiles held, none twice.
#[tokio::test]
async fn three_workers_hold_fair_shares() {
    let pg = cluster("fair");
    let profiles = names(31);
    let mut workers = Vec::new();
    for _ in 0..3 {
        workers.push(worker(&pg, "fair").await);
    }
    for (store, _) in &workers {
        tick(store, &[]).await;
    }
    for _ in 0..2 {
        for (store, _) in &workers {
            tick(store, &profiles).await;
        }
    }
    let sets: Vec<BTreeSet<String>> = workers.iter().map(|(s, _)| held(s, &profiles)).collect();
    let all: BTreeSet<String> = sets.iter().flatten().cloned().collect();
    assert_eq!(all.len(), 31, "every profile held: {sets:?}");
    assert_eq!(
        sets.iter().map(BTreeSet::len).sum::<usize>(),
        31,
        "none twice"
    );
    let fair = 31.0 / 3.0;
    for set in &sets {
        let n = set.len() as f64;
        assert!(
            n >= fair * 0.8 && n <= fair * 1.2,
            "{} of 31: {sets:?}",
            set.len()
        );
    }
}

/// `check` with `[worker] state`: reads the password from its source, connects and says so
/// (without the password); a stopped database fails `check` naming it.
#[test]
fn check_connects_to_the_shared_state_and_names_a_failure() {
    let pg = cluster("checked");
    let tmp = tempfile::tempdir().expect("tempdir");
    let pw = mailpull_tests::WorkerSetup::password_file(tmp.path(), "pg", pg.password())
        .expect("password file");
    let config = tmp.path().join("mailpull.toml");
    let text = |url: &str| {
        format!(
            "[worker]\nstate_dir = {:?}\nstate = {url:?}\nstate_password = {{ file = {:?} }}\n\n[[profile]]\nname = \"p\"\n[profile.remote]\nhost = \"mail.example.com\"\nusername = \"u\"\npassword = {{ env = \"PW\" }}\n[profile.local]\nuser = \"alice\"\ndomain = \"example.com\"\n",
            tmp.path().join("state").display().to_string(),
            pw.display().to_string()
        )
    };
    let check = || {
        std::process::Command::new(mailpull_tests::worker_binary().expect("binary"))
            .args(["check", "--config"])
            .arg(&config)
            .output()
            .expect("check")
    };
    std::fs::write(&config, text(&pg.url("checked"))).expect("config");
    let out = check();
    let shown = mailpull_tests::output_text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(
        shown.contains(&format!(
            "state: shared in PostgreSQL mailpull@127.0.0.1:{}/checked (password from file), reachable",
            pg.port()
        )),
        "{shown}"
    );
    assert!(!shown.contains(pg.password()), "{shown}");
    // `held` reads the shared state, not the (empty) local directory.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = pg.url("checked");
        let store = Store::open_shared(dir.path(), &url, Some(Secret::new(pg.password())))
            .await
            .expect("open");
        store
            .put_attempt(Attempt {
                key: MailboxKey {
                    account: "u@mail.example.com".into(),
                    folder: String::new(),
                    uidvalidity: 0,
                },
                uid: "uid-77".into(),
                profile: "p".into(),
                attempts: 10,
                first_at: 1,
                last_at: 2,
                next_at: 3,
                reason: "552 too big".into(),
                held: true,
                action: None,
                summary: None,
            })
            .await
            .expect("put");
    });
    let out = std::process::Command::new(mailpull_tests::worker_binary().expect("binary"))
        .args(["held", "--config"])
        .arg(&config)
        .output()
        .expect("held");
    let shown = mailpull_tests::output_text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(
        shown.contains("UID uid-77: 10 attempts") && shown.contains("552 too big"),
        "{shown}"
    );
    // Nothing listens there: check fails and names the database.
    let port = mailpull_tests::free_port().expect("port");
    std::fs::write(
        &config,
        text(&format!("postgres://mailpull@127.0.0.1:{port}/checked")),
    )
    .expect("config");
    let out = check();
    let shown = mailpull_tests::output_text(&out);
    assert!(!out.status.success(), "{shown}");
    assert!(
        shown.contains(&format!("mailpull@127.0.0.1:{port}/checked"))
            && shown.contains("shared state"),
        "{shown}"
    );
}

/// A shared state made by a worker of schema version 1 (no alerts, no History columns) is
/// migrated in place at the next connect: its rows and installation id kept, the `alerts`
/// table, the History columns and table and the held messages' summary columns added, the
/// version now 4; a newer version is refused.
#[tokio::test]
async fn a_version_1_shared_state_gains_alerts_and_history_and_keeps_its_rows() {
    let pg = cluster("v1");
    pg.query("v1", suite::PG_SCHEMA_V1)
        .expect("version 1 tables");
    let then = now() - 60;
    pg.query(
        "v1",
        &format!(
            "INSERT INTO meta (key, value) VALUES ('schema_version', '1'), ('installation_id', '00000000000000aa');
             INSERT INTO delivered (account, folder, uidvalidity, uid, profile, size, digest, recipients, delivered_at)
             VALUES ('u@h', '', 0, 'old', 'p', 50, 'dold', 'bob@local.test', {then});
             INSERT INTO leases (profile, holder, generation, expires_at) VALUES ('p', 'gone:1:x', 7, now());"
        ),
    )
    .expect("version 1 rows");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_shared(dir.path(), &pg.url("v1"), Some(Secret::new(pg.password())))
        .await
        .unwrap_or_else(|err| panic!("open and migrate: {err}\n{}", pg.log()));
    assert_eq!(store.installation_id(), "00000000000000aa");
    assert_eq!(
        pg.query("v1", "SELECT value FROM meta WHERE key = 'schema_version'")
            .expect("version")
            .trim(),
        "4"
    );
    assert_eq!(
        pg.query("v1", "SELECT generation FROM leases WHERE profile = 'p'")
            .expect("lease")
            .trim(),
        "7",
        "the leases are kept"
    );
    let key = MailboxKey {
        account: "u@h".into(),
        folder: String::new(),
        uidvalidity: 0,
    };
    assert_eq!(
        store.known(&key).await.expect("known")["old"].digest,
        "dold"
    );
    let mut new = delivery("p", "new");
    new.key = key;
    new.shown.subject = "after the migration".into();
    store.record(new).await.expect("record");
    let history = store.history("p".into(), 0, now()).await.expect("history");
    assert_eq!(history.all.messages, 2, "{history:?}");
    let old = history
        .recent
        .iter()
        .find(|d| d.at == then)
        .expect("the version 1 row");
    assert_eq!((old.subject.as_str(), old.from.as_str()), ("", ""));
    assert!(
        history
            .recent
            .iter()
            .any(|d| d.subject == "after the migration")
    );
    let row = AlertRow {
        profile: "p".into(),
        kind: AlertKind::Failing,
        since: then,
        detail: "login refused".into(),
        sent_at: Some(then + 1),
    };
    store.put_alert(row.clone()).await.expect("alert");
    drop(store);
    // Connecting again changes nothing; the alert row is there for the next worker.
    let again = Store::open_shared(dir.path(), &pg.url("v1"), Some(Secret::new(pg.password())))
        .await
        .expect("reopen");
    assert_eq!(again.alerts("p").await.expect("alerts"), [row]);
    drop(again);
    pg.query(
        "v1",
        "UPDATE meta SET value = '5' WHERE key = 'schema_version'",
    )
    .expect("newer");
    let err = Store::open_shared(dir.path(), &pg.url("v1"), Some(Secret::new(pg.password())))
        .await
        .expect_err("a newer schema is refused");
    assert!(
        err.to_string()
            .contains("schema version 5, newer than this worker (4)"),
        "{err}"
    );
}

/// A shared state of schema version 2 (History read from `delivered`) is migrated to 4: its
/// deliveries copied into `history` (not the records of messages recognised as already
/// delivered), its records kept; a record forgotten afterwards stays in History.
#[tokio::test]
async fn a_version_2_shared_state_gains_the_history_table_and_keeps_its_rows() {
    let pg = cluster("v2");
    pg.query("v2", suite::PG_SCHEMA_V1)
        .expect("version 1 tables");
    pg.query("v2", suite::PG_MIGRATE_V2)
        .expect("version 2 tables");
    let then = now() - 60;
    pg.query(
        "v2",
        &format!(
            "INSERT INTO meta (key, value) VALUES ('schema_version', '2'), ('installation_id', '00000000000000bb');
             INSERT INTO delivered (account, folder, uidvalidity, uid, profile, size, digest, recipients, delivered_at, sender, subject, reply)
             VALUES ('u@h', '', 0, 'old', 'p', 50, 'dold', 'bob@local.test', {then}, 'ann@x.example', 'version 2', '250 ok'),
                    ('u@h', '', 0, 'dup', 'p', 70, 'ddup', '', {then}, NULL, NULL, NULL);"
        ),
    )
    .expect("version 2 rows");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_shared(dir.path(), &pg.url("v2"), Some(Secret::new(pg.password())))
        .await
        .unwrap_or_else(|err| panic!("open and migrate: {err}\n{}", pg.log()));
    assert_eq!(store.installation_id(), "00000000000000bb");
    assert_eq!(
        pg.query("v2", "SELECT value FROM meta WHERE key = 'schema_version'")
            .expect("version")
            .trim(),
        "4"
    );
    let key = MailboxKey {
        account: "u@h".into(),
        folder: String::new(),
        uidvalidity: 0,
    };
    let known = store.known(&key).await.expect("known");
    assert_eq!((known.len(), known["old"].digest.as_str()), (2, "dold"));
    let history = store.history("p".into(), 0, now()).await.expect("history");
    assert_eq!(
        (history.all.messages, history.all.bytes),
        (1, 50),
        "{history:?}"
    );
    let old = &history.recent[0];
    assert_eq!(
        (
            old.at,
            old.from.as_str(),
            old.subject.as_str(),
            old.reply.as_str()
        ),
        (then, "ann@x.example", "version 2", "250 ok")
    );
    // Deleted on the server and no longer listed: forgotten as a record, kept in History.
    store
        .mark_deleted(&key, vec!["old".into(), "dup".into()])
        .await
        .expect("mark");
    let gone = store
        .forget_deleted_missing(&key, Default::default())
        .await
        .expect("forget");
    assert_eq!(gone, 2);
    assert!(store.known(&key).await.expect("known").is_empty());
    let history = store.history("p".into(), 0, now()).await.expect("history");
    assert_eq!(history.all.messages, 1, "{history:?}");
}

/// A shared state of schema version 3 (attempts without what the message is) is migrated to
/// 4: its attempts and held messages kept, read as not known; the next attempt that
/// downloaded the message keeps its From, Subject, Date and size for every worker.
#[tokio::test]
async fn a_version_3_shared_state_gains_what_a_failed_message_is_and_keeps_its_rows() {
    let pg = cluster("v3");
    for (what, step) in [
        ("version 1 tables", suite::PG_SCHEMA_V1),
        ("version 2 tables", suite::PG_MIGRATE_V2),
        ("version 3 tables", suite::PG_MIGRATE_V3),
    ] {
        pg.query("v3", step).expect(what);
    }
    pg.query(
        "v3",
        "INSERT INTO meta (key, value) VALUES ('schema_version', '3'), ('installation_id', '00000000000000cc');
         INSERT INTO attempts (account, folder, uidvalidity, uid, profile, attempts, first_at, last_at, next_at, reason, held, action)
         VALUES ('u@h', 'INBOX', 7, '2', 'p', 10, 100, 200, 300, '550 no', TRUE, 'fallback'),
                ('u@h', 'INBOX', 7, '3', 'p', 1, 100, 100, 160, '451 later', FALSE, NULL);",
    )
    .expect("version 3 rows");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_shared(dir.path(), &pg.url("v3"), Some(Secret::new(pg.password())))
        .await
        .unwrap_or_else(|err| panic!("open and migrate: {err}\n{}", pg.log()));
    assert_eq!(store.installation_id(), "00000000000000cc");
    assert_eq!(
        pg.query("v3", "SELECT value FROM meta WHERE key = 'schema_version'")
            .expect("version")
            .trim(),
        "4"
    );
    let key = MailboxKey {
        account: "u@h".into(),
        folder: "INBOX".into(),
        uidvalidity: 7,
    };
    let rows = store.attempts(&key).await.expect("attempts");
    assert_eq!(rows.len(), 2);
    let held = rows["2"].clone();
    assert_eq!(
        (held.attempts, held.reason.as_str(), held.held),
        (10, "550 no", true)
    );
    assert_eq!(
        (held.summary.clone(), rows["3"].summary.clone()),
        (None, None)
    );
    let about = Summary {
        from: "Eve <eve@x.example>".into(),
        subject: "After the upgrade".into(),
        date: Some(1_764_800_000),
        size: 321,
    };
    store
        .put_attempt(Attempt {
            attempts: 11,
            summary: Some(about.clone()),
            ..held
        })
        .await
        .expect("put");
    drop(store);
    // Another worker (here the `held` command's connection) reads it.
    let other = tempfile::tempdir().expect("tempdir");
    let again = Store::open_shared(
        other.path(),
        &pg.url("v3"),
        Some(Secret::new(pg.password())),
    )
    .await
    .expect("reopen");
    let listed = again.held(Some("p".into())).await.expect("held");
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].attempts, listed[0].summary.as_ref()),
        (11, Some(&about))
    );
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}
