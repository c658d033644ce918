//! A filter before delivery (`filter = { command = [...] }`) on the real Dovecot → Postfix
//! bed. With a real scanner, SpamAssassin (a private spamd, `spamc -x -E -p PORT`): a clean
//! message is delivered with spamc's X-Spam headers (`rewrites = true`), the GTUBE test
//! message goes to the fallback mailbox with `X-Mailpull-Filter`. With small shell-script
//! filters: one that outlives its timeout and one killed by a signal leave their messages on
//! the server, counted as attempts, while the rest of the mailbox is delivered; fixed, they
//! are delivered at their next attempt. A spamd that cannot start fails the test.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use mailpull_tests::{
    LocalMailServer, ProfileSpec, RemoteDovecot, Spamd, TestCa, WorkerSetup, message_ids,
    output_text,
};

const WAIT: Duration = Duration::from_secs(60);
/// SpamAssassin's test string: any message carrying it scores as spam.
const GTUBE: &str = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

fn message(id: &str, body: &str) -> Vec<u8> {
    format!(
        "Return-Path: <sender@example.org>\r\nFrom: Sender <sender@example.org>\r\n\
         To: alice@local.test\r\nSubject: filter {id}\r\nDate: Sat, 22 Nov 2025 10:00:00 +0000\r\n\
         Message-ID: <{id}@example.org>\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

struct Bed {
    tmp: tempfile::TempDir,
    remote: RemoteDovecot,
    local: LocalMailServer,
    setup: WorkerSetup,
}

/// A POP3S profile `isp` into alice with `filter` (an inline table) and `worker_extra`.
fn bed(messages: &[Vec<u8>], filter: &str) -> Bed {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(tmp.path()).expect("ca");
    let remote = RemoteDovecot::start(&ca).expect("remote");
    remote.add_user("isp", "pw").expect("user");
    for raw in messages {
        remote.add_message("isp", raw).expect("add");
    }
    let local = LocalMailServer::start(&["alice", "spam"]).expect("local");
    let password = WorkerSetup::password_file(tmp.path(), "isp", "pw").expect("pw");
    let mut profile = ProfileSpec::new(
        "isp",
        remote.pop3s_port(),
        "isp",
        &password,
        local.smtp_port(),
        "alice",
    );
    profile.ca_file = Some(ca.ca_file().to_path_buf());
    profile.profile_extra = format!("filter = {filter}");
    let setup = WorkerSetup::new(&[profile]).expect("setup");
    Bed {
        tmp,
        remote,
        local,
        setup,
    }
}

#[test]
fn spamassassin_delivers_clean_mail_with_its_headers_and_gtube_to_the_fallback() {
    let spamd = Spamd::start().expect("a private spamd (packages spamassassin spamd spamc)");
    let messages = [
        message("ham", "Hello Alice, lunch on Tuesday?"),
        message("gtube", GTUBE),
    ];
    let filter = format!(
        "{{ command = [\"spamc\", \"-x\", \"-E\", \"-p\", \"{}\"], timeout = \"60s\", rewrites = true, fallback_exit = [1], fallback = \"spam\" }}",
        spamd.port()
    );
    let bed = bed(&messages, &filter);
    let run = bed.setup.run_once().expect("run");
    let context = format!("{}\n--- spamd ---\n{}", output_text(&run), spamd.log());
    assert!(run.status.success(), "{context}");
    let alice = bed
        .local
        .wait_for_messages("alice", 1, WAIT)
        .unwrap_or_else(|err| panic!("{err:#}\n{context}"));
    let spam = bed
        .local
        .wait_for_messages("spam", 1, WAIT)
        .unwrap_or_else(|err| panic!("{err:#}\n{context}"));
    assert_eq!(message_ids(&alice), ["<ham@example.org>"], "{context}");
    assert_eq!(message_ids(&spam), ["<gtube@example.org>"], "{context}");
    let ham = String::from_utf8_lossy(&alice[0]);
    assert!(ham.contains("X-Spam-Status: No"), "{ham}");
    assert!(
        ham.contains("X-Spam-Checker-Version: SpamAssassin"),
        "{ham}"
    );
    assert!(!ham.contains("X-Mailpull-Filter"), "{ham}");
    let gtube = String::from_utf8_lossy(&spam[0]);
    assert!(
        gtube.contains(
            "X-Mailpull-Filter: spamc exited with 1 (fallback_exit); delivered to the fallback mailbox"
        ),
        "{gtube}"
    );
    assert!(gtube.contains("X-Spam-Flag: YES"), "{gtube}");
    // Both delivered and recorded: gone from the server.
    assert_eq!(bed.remote.message_count("isp").expect("count"), 0);
}

/// An executable shell script in `dir`.
fn script(dir: &std::path::Path, name: &str, body: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

#[test]
fn a_filter_that_times_out_or_crashes_keeps_the_message_and_retries_it() {
    let messages = [
        message("ok", "nothing special"),
        message("slow", "SLOW please"),
        message("crash", "CRASH please"),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    // Reads the message; sleeps past the timeout (with a child of its own) or kills itself.
    let filter = script(
        dir.path(),
        "filter.sh",
        "msg=$(cat)\ncase \"$msg\" in\n*SLOW*) sleep 30 & sleep 30 ;;\n*CRASH*) kill -SEGV $$ ;;\nesac\nexit 0",
    );
    let bed = bed(
        &messages,
        &format!(
            "{{ command = [{:?}], timeout = \"1s\" }}",
            filter.display().to_string()
        ),
    );
    let started = Instant::now();
    let first = bed.setup.run_once().expect("run");
    let context = output_text(&first);
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "the timed-out filter was waited for: {:?}\n{context}",
        started.elapsed()
    );
    let alice = bed
        .local
        .wait_for_messages("alice", 1, WAIT)
        .unwrap_or_else(|err| panic!("{err:#}\n{context}"));
    assert_eq!(message_ids(&alice), ["<ok@example.org>"], "{context}");
    // Nothing lost: both stay on the server, each counted as an attempt with its reason.
    let mut left = message_ids(&bed.remote.messages_in("isp", "INBOX").expect("remote"));
    left.sort();
    assert_eq!(
        left,
        ["<crash@example.org>", "<slow@example.org>"],
        "{context}"
    );
    let db = rusqlite::Connection::open(bed.setup.state_dir().join("state.sqlite3")).expect("db");
    let mut reasons: Vec<String> = db
        .prepare("SELECT reason FROM attempts ORDER BY reason")
        .expect("prepare")
        .query_map([], |row| row.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    reasons.sort();
    assert_eq!(reasons.len(), 2, "{reasons:?}\n{context}");
    assert!(
        reasons[0].contains("did not finish within 1 s (timeout)"),
        "{reasons:?}"
    );
    assert!(reasons[1].contains("killed by signal 11"), "{reasons:?}");

    // Fixed, and their next attempt due: both delivered, nothing bypassed the filter.
    script(dir.path(), "filter.sh", "cat >/dev/null\nexit 0");
    db.execute("UPDATE attempts SET next_at = 0", [])
        .expect("due now");
    drop(db);
    let second = bed.setup.run_once().expect("run");
    let alice = bed
        .local
        .wait_for_messages("alice", 3, WAIT)
        .unwrap_or_else(|err| panic!("{err:#}\n{}", output_text(&second)));
    let mut ids = message_ids(&alice);
    ids.sort();
    assert_eq!(
        ids,
        [
            "<crash@example.org>",
            "<ok@example.org>",
            "<slow@example.org>"
        ]
    );
    assert_eq!(bed.remote.message_count("isp").expect("count"), 0);
    let _ = &bed.tmp;
}
