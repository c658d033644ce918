//! Held messages on the real Dovecot → Postfix bed: a message the local server keeps
//! deferring is skipped and retried after a delay (not at the very next poll), held after
//! `hold_after_attempts`, listed by `mailpull-worker held` beside a running worker (which
//! holds the state lock) and over the pipe, and the pipe's three actions on a held message
//! — deliver to the fallback with `X-Mailpull-Held-Reason`, delete on the server, retry —
//! are carried out by a poll started at once. Each held message says what it is (From,
//! Subject, its Date, size: it was downloaded before Postfix deferred it), over the pipe and
//! in the command. A single-drop profile has no fallback: that
//! action is refused with the reason. (A POP3 RETR answered -ERR for one message is the
//! scripted server's, in `hostile`.)

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use mailpull_shared::ipc::{
    Endpoint, ErrorKind, HeldActionKind, HeldId, HeldMessage, IpcClient, ProfileState,
};
use mailpull_tests::{
    LocalMailServer, ProfileSpec, RemoteDovecot, TestCa, WorkerSetup, message_ids, output_text,
    stop_worker, worker_binary,
};

const WAIT: Duration = Duration::from_secs(30);

fn message(id: &str, to: &str) -> Vec<u8> {
    format!(
        "Return-Path: <sender@example.org>\r\nFrom: Sender <sender@example.org>\r\nTo: {to}\r\n\
         Subject: held {id}\r\nDate: Sat, 22 Nov 2025 10:00:00 +0000\r\n\
         Message-ID: <{id}@example.org>\r\n\r\nBody of {id}.\r\n"
    )
    .into_bytes()
}

struct Bed {
    _tmp: tempfile::TempDir,
    remote: RemoteDovecot,
    local: LocalMailServer,
    setup: WorkerSetup,
}

/// A multi-drop IMAP profile `catch-all` (fallback `postmaster`) over `messages`, and a
/// single-drop profile `single` of another, empty mailbox; Postfix defers bob; `[worker]`
/// gets `worker_extra`.
fn bed(messages: &[Vec<u8>], worker_extra: &str, interval: &'static str) -> Bed {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(tmp.path()).expect("ca");
    let remote = RemoteDovecot::start(&ca).expect("remote");
    remote.add_user("catchall", "pw").expect("user");
    remote.add_user("single", "pw").expect("user");
    let local = LocalMailServer::start(&["alice", "bob", "carol", "postmaster"]).expect("local");
    for raw in messages {
        remote.add_message("catchall", raw).expect("add");
    }
    local
        .set_reject("bob@local.test", Some("451 4.3.0 bob is busy"))
        .expect("reject");
    let password = WorkerSetup::password_file(tmp.path(), "catchall", "pw").expect("pw");
    let mut multi = ProfileSpec::new(
        "catch-all",
        remote.imaps_port(),
        "catchall",
        &password,
        local.smtp_port(),
        "postmaster",
    );
    multi.protocol = "imap";
    multi.interval = interval;
    multi.ca_file = Some(ca.ca_file().to_path_buf());
    multi.extra =
        "[profile.distribute]\nlocal_domains = [\"local.test\"]\nfallback = \"postmaster\"\n"
            .into();
    let mut single = ProfileSpec::new(
        "single",
        remote.imaps_port(),
        "single",
        &password,
        local.smtp_port(),
        "carol",
    );
    single.protocol = "imap";
    single.interval = interval;
    single.ca_file = Some(ca.ca_file().to_path_buf());
    let setup = WorkerSetup::new(&[multi, single]).expect("setup");
    let text = std::fs::read_to_string(&setup.config).expect("config");
    std::fs::write(
        &setup.config,
        text.replacen("[worker]\n", &format!("[worker]\n{worker_extra}\n"), 1),
    )
    .expect("write config");
    Bed {
        _tmp: tmp,
        remote,
        local,
        setup,
    }
}

/// `mailpull-worker held --json [--profile P]`.
fn held_cli(config: &Path, profile: Option<&str>) -> Vec<HeldMessage> {
    let mut cmd = Command::new(worker_binary().expect("worker binary"));
    cmd.args(["held", "--json", "--config"]).arg(config);
    if let Some(profile) = profile {
        cmd.args(["--profile", profile]);
    }
    let out = cmd.output().expect("run held");
    assert!(out.status.success(), "{}", output_text(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|err| panic!("{err}: {}", output_text(&out)))
}

fn bob_deferrals(local: &LocalMailServer) -> usize {
    local.maillog().matches("bob is busy").count()
}

#[test]
fn a_deferred_message_waits_for_its_delay_then_is_held_and_listed() {
    let messages = [
        message("m1", "alice@local.test"),
        message("m2", "bob@local.test"),
        message("m3", "alice@local.test"),
    ];
    let bed = bed(&messages, "hold_after_attempts = 2", "10m");
    let first = bed.setup.run_once().expect("run");
    let got = bed
        .local
        .wait_for_messages("alice", 2, WAIT)
        .unwrap_or_else(|err| panic!("{err:#}\n{}", output_text(&first)));
    // Postfix's queue delivers in no fixed order: compare as a set.
    let mut ids = message_ids(&got);
    ids.sort();
    assert_eq!(ids, ["<m1@example.org>", "<m3@example.org>"]);
    assert_eq!(bob_deferrals(&bed.local), 1, "{}", bed.local.maillog());
    assert!(held_cli(&bed.setup.config, None).is_empty());

    // The next poll comes before the retry delay (a minute): m2 is not fetched or sent.
    let second = bed.setup.run_once().expect("run");
    assert!(second.status.success(), "{}", output_text(&second));
    assert_eq!(
        bob_deferrals(&bed.local),
        1,
        "m2 was tried again before its delay:\n{}",
        output_text(&second)
    );

    // Its delay over (the row's next attempt moved into the past), it is tried again and,
    // at the second attempt, held.
    let db = rusqlite::Connection::open(bed.setup.state_dir().join("state.sqlite3")).expect("db");
    let changed = db
        .execute("UPDATE attempts SET next_at = 0", [])
        .expect("update");
    assert_eq!(changed, 1);
    drop(db);
    let third = bed.setup.run_once().expect("run");
    assert_eq!(bob_deferrals(&bed.local), 2, "{}", output_text(&third));
    assert!(
        output_text(&third).contains("HELD"),
        "{}",
        output_text(&third)
    );
    let held = held_cli(&bed.setup.config, None);
    assert_eq!(held.len(), 1, "{held:?}");
    let row = &held[0];
    assert_eq!(
        (row.profile.as_str(), row.folder.as_str(), row.attempts),
        ("catch-all", "INBOX", 2)
    );
    assert!(row.reason.contains("bob is busy"), "{row:?}");
    assert!(row.first_attempt <= row.last_attempt);
    // Downloaded before Postfix deferred it: what the message is, for a person.
    assert_eq!(
        (row.from.as_deref(), row.subject.as_deref(), row.date),
        (
            Some("Sender <sender@example.org>"),
            Some("held m2"),
            Some(1_763_805_600)
        ),
        "{row:?}"
    );
    assert_eq!(row.size, Some(messages[1].len() as u64), "{row:?}");
    assert!(held_cli(&bed.setup.config, Some("single")).is_empty());

    // Held: even with the delay over it is never fetched again automatically, and it stays
    // on the server.
    let db = rusqlite::Connection::open(bed.setup.state_dir().join("state.sqlite3")).expect("db");
    db.execute("UPDATE attempts SET next_at = 0", [])
        .expect("update");
    drop(db);
    let fourth = bed.setup.run_once().expect("run");
    assert!(fourth.status.success(), "{}", output_text(&fourth));
    assert_eq!(bob_deferrals(&bed.local), 2, "{}", output_text(&fourth));
    let left = bed.remote.messages_in("catchall", "INBOX").expect("remote");
    assert_eq!(message_ids(&left), ["<m2@example.org>"]);
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

async fn client(endpoint: &Endpoint) -> IpcClient {
    IpcClient::connect(endpoint).await.expect("connect")
}

/// The messages the status board counts as delivered ("moved") for `profile`, once a poll of
/// it has finished.
async fn moved_after_a_poll(endpoint: &Endpoint, profile: &str) -> u64 {
    let deadline = Instant::now() + WAIT;
    loop {
        let rows = client(endpoint).await.status().await.expect("status");
        if let Some(row) = rows.iter().find(|row| row.name == profile)
            && row.last_poll.is_some()
            && row.state != ProfileState::Polling
        {
            return row.messages;
        }
        assert!(
            Instant::now() < deadline,
            "no poll of {profile} finished: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the pipe lists `count` held messages of `catch-all`.
async fn wait_held(endpoint: &Endpoint, count: usize) -> Vec<HeldMessage> {
    let deadline = Instant::now() + WAIT;
    loop {
        let held = client(endpoint)
            .await
            .list_held(Some("catch-all"))
            .await
            .expect("list_held");
        if held.len() == count {
            return held;
        }
        assert!(Instant::now() < deadline, "never {count} held: {held:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The ids of the held messages in UID order (the order they were added in).
fn in_uid_order(held: &[HeldMessage]) -> Vec<HeldId> {
    let mut rows: Vec<&HeldMessage> = held.iter().collect();
    rows.sort_by_key(|m| m.uid.parse::<u32>().expect("IMAP UID"));
    rows.into_iter().map(HeldId::of).collect()
}

#[test]
fn held_messages_are_listed_beside_a_running_worker_and_each_pipe_action_is_carried_out() {
    let messages = [
        message("a1", "alice@local.test"),
        message("bob-fallback", "bob@local.test"),
        message("a2", "alice@local.test"),
        message("bob-delete", "bob@local.test"),
        message("a3", "alice@local.test"),
        message("bob-retry", "bob@local.test"),
        message("a4", "alice@local.test"),
    ];
    let bed = bed(&messages, "hold_after_attempts = 1", "1h");
    let mut worker = bed.setup.spawn_listening().expect("worker");
    let endpoint = Endpoint::for_config(&bed.setup.config);
    let rt = runtime();
    let stderr =
        || std::fs::read_to_string(bed.setup.dir.path().join("worker.stderr")).unwrap_or_default();
    // The first poll delivers alice's messages and holds bob's three at once.
    let held = rt.block_on(wait_held(&endpoint, 3));
    bed.local
        .wait_for_messages("alice", 4, WAIT)
        .unwrap_or_else(|err| panic!("{err:#}\n{}", stderr()));
    // The status board counts the four delivered although the poll left three on the server
    // (before: a poll that did not deliver everything counted nothing, "0 moved").
    let moved = rt.block_on(moved_after_a_poll(&endpoint, "catch-all"));
    assert_eq!(moved, 4, "{}", stderr());
    // Each says what it is, as Postfix's deferral came after the download: From, Subject,
    // the message's own Date and its size, over the pipe.
    let mut subjects: Vec<&str> = held.iter().filter_map(|m| m.subject.as_deref()).collect();
    subjects.sort();
    assert_eq!(
        subjects,
        ["held bob-delete", "held bob-fallback", "held bob-retry"],
        "{held:?}"
    );
    for m in &held {
        assert_eq!(
            (m.from.as_deref(), m.date),
            (Some("Sender <sender@example.org>"), Some(1_763_805_600)),
            "{m:?}"
        );
        assert!(m.size.is_some_and(|size| size > 100), "{m:?}");
    }
    // The command reads the state beside the running worker, which holds its lock.
    let from_cli = held_cli(&bed.setup.config, Some("catch-all"));
    assert_eq!(from_cli, held);
    let [fallback, delete, retry]: [HeldId; 3] =
        in_uid_order(&held).try_into().expect("three held");

    rt.block_on(async {
        // A single-drop profile has no fallback: refused, naming why.
        let err = client(&endpoint)
            .await
            .held_action(
                HeldId {
                    profile: "single".into(),
                    ..fallback.clone()
                },
                HeldActionKind::DeliverToFallback,
            )
            .await
            .expect_err("no fallback");
        let error = err.worker_error().expect("worker error");
        assert_eq!(error.kind, ErrorKind::Invalid);
        assert!(error.message.contains("no fallback"), "{error:?}");

        // Deliver to the fallback, with the reason in a header.
        let done = client(&endpoint)
            .await
            .held_action(fallback.clone(), HeldActionKind::DeliverToFallback)
            .await
            .expect("fallback");
        assert!(done.contains("fallback"), "{done}");
    });
    let got = bed
        .local
        .wait_for_messages("postmaster", 1, WAIT)
        .unwrap_or_else(|err| panic!("{err:#}\n{}", stderr()));
    assert_eq!(message_ids(&got), ["<bob-fallback@example.org>"]);
    let text = String::from_utf8_lossy(&got[0]);
    assert!(
        text.contains("X-Mailpull-Held-Reason: ") && text.contains("bob is busy"),
        "{text}"
    );
    rt.block_on(wait_held(&endpoint, 2));

    // Delete on the server: gone from the remote mailbox, delivered to nobody, logged.
    rt.block_on(async {
        client(&endpoint)
            .await
            .held_action(delete.clone(), HeldActionKind::Delete)
            .await
            .expect("delete");
    });
    rt.block_on(wait_held(&endpoint, 1));
    let deadline = Instant::now() + WAIT;
    while !message_ids(&bed.remote.messages_in("catchall", "INBOX").expect("remote"))
        .iter()
        .all(|id| id != "<bob-delete@example.org>")
    {
        assert!(Instant::now() < deadline, "never deleted:\n{}", stderr());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        stderr().contains("deleting the held message on the server"),
        "{}",
        stderr()
    );

    // Retry now: bob takes mail again, and the poll started at once delivers it.
    bed.local
        .set_reject("bob@local.test", None)
        .expect("accept bob");
    rt.block_on(async {
        client(&endpoint)
            .await
            .held_action(retry.clone(), HeldActionKind::Retry)
            .await
            .expect("retry");
    });
    let got = bed
        .local
        .wait_for_messages("bob", 1, WAIT)
        .unwrap_or_else(|err| panic!("{err:#}\n{}", stderr()));
    assert_eq!(message_ids(&got), ["<bob-retry@example.org>"]);
    rt.block_on(wait_held(&endpoint, 0));
    // An action on a message no longer held is refused.
    rt.block_on(async {
        let err = client(&endpoint)
            .await
            .held_action(retry, HeldActionKind::Retry)
            .await
            .expect_err("not held");
        assert!(err.to_string().contains("no held message"), "{err}");
    });
    stop_worker(&mut worker);
    // Nothing reached anyone twice; the remote mailbox is empty.
    assert_eq!(bed.local.messages("postmaster").expect("pm").len(), 1);
    let deadline = Instant::now() + WAIT;
    while !bed
        .remote
        .messages_in("catchall", "INBOX")
        .expect("remote")
        .is_empty()
    {
        assert!(Instant::now() < deadline, "messages left:\n{}", stderr());
        std::thread::sleep(Duration::from_millis(200));
    }
}
