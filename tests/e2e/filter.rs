//! A filter before delivery (`filter = { command = [...] }`) on the real Dovecot → Postfix
//! bed. With a real scanner, SpamAssassin (a private spamd, `spamc -x -E -p PORT`): a clean
//! message is delivered with spamc's X-Spam headers (`rewrites = true`), the GTUBE test
//! message goes to the fallback mailbox with `X-Mailpull-Filter`. With ClamAV (a private clamd
//! whose database holds only the EICAR signature, `clamdscan --stream -`): a clean message is
//! delivered as it came, one with the EICAR file attached goes to the quarantine mailbox with
//! the header naming what clamd found; with clamd stopped (clamdscan exits 2) the messages are
//! held on the server, nothing delivered unscanned, and delivered once clamd is back and they
//! are retried. With small shell-script
//! filters: one that outlives its timeout and one killed by a signal leave their messages on
//! the server, counted as attempts, while the rest of the mailbox is delivered; fixed, they
//! are delivered at their next attempt. A spamd or clamd that cannot start fails the test.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use mailpull_tests::{
    Clamd, EICAR, EICAR_FOUND, LocalMailServer, ProfileSpec, RemoteDovecot, Spamd, TestCa,
    WorkerSetup, message_ids, output_text, worker_binary,
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
    let local = LocalMailServer::start(&["alice", "spam", "quarantine"]).expect("local");
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

/// A message with the EICAR test file attached (base64, as a mail program attaches it).
fn with_eicar(id: &str) -> Vec<u8> {
    use base64::Engine as _;
    let attached = base64::engine::general_purpose::STANDARD.encode(EICAR);
    format!(
        "Return-Path: <sender@example.org>\r\nFrom: Sender <sender@example.org>\r\n\
         To: alice@local.test\r\nSubject: filter {id}\r\nDate: Sat, 22 Nov 2025 10:00:00 +0000\r\n\
         Message-ID: <{id}@example.org>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b-{id}\"\r\n\r\n--b-{id}\r\n\
         Content-Type: text/plain\r\n\r\nThe invoice is attached.\r\n--b-{id}\r\n\
         Content-Type: application/octet-stream; name=\"invoice.com\"\r\n\
         Content-Disposition: attachment; filename=\"invoice.com\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{attached}\r\n--b-{id}--\r\n"
    )
    .into_bytes()
}

#[test]
fn clamav_quarantines_eicar_delivers_clean_mail_and_holds_everything_while_clamd_is_down() {
    let mut clamd = Clamd::start().expect("a private clamd (packages clamav-daemon clamdscan)");
    let filter = format!(
        "{{ command = [\"clamdscan\", \"--no-summary\", \"--stream\", \"--config-file={}\", \"-\"], timeout = \"60s\", fallback_exit = [1], fallback = \"quarantine\" }}",
        clamd.config_file().display()
    );
    let clean = message("clean", "Hello Alice, the minutes are below.");
    let bed = bed(&[clean, with_eicar("eicar")], &filter);
    // Held at the first failure, so the test sees the hold without waiting for retries.
    let text = std::fs::read_to_string(&bed.setup.config).expect("config");
    std::fs::write(
        &bed.setup.config,
        text.replacen("[worker]\n", "[worker]\nhold_after_attempts = 1\n", 1),
    )
    .expect("write config");

    let run = bed.setup.run_once().expect("run");
    let context = format!("{}\n--- clamd ---\n{}", output_text(&run), clamd.log());
    assert!(run.status.success(), "{context}");
    let alice = bed
        .local
        .wait_for_messages("alice", 1, WAIT)
        .unwrap_or_else(|err| panic!("{err:#}\n{context}"));
    let quarantine = bed
        .local
        .wait_for_messages("quarantine", 1, WAIT)
        .unwrap_or_else(|err| panic!("{err:#}\n{context}"));
    assert_eq!(message_ids(&alice), ["<clean@example.org>"], "{context}");
    assert_eq!(
        message_ids(&quarantine),
        ["<eicar@example.org>"],
        "{context}"
    );
    let delivered = String::from_utf8_lossy(&alice[0]);
    assert!(!delivered.contains("X-Mailpull-Filter"), "{delivered}");
    assert!(
        delivered.contains("Hello Alice, the minutes are below."),
        "{delivered}"
    );
    let infected = String::from_utf8_lossy(&quarantine[0]);
    assert!(
        infected.contains(&format!(
            "X-Mailpull-Filter: clamdscan exited with 1 (fallback_exit); delivered to the fallback mailbox;\r\n it said: stream: {EICAR_FOUND}\r\n"
        )) || infected.contains(&format!(
            "X-Mailpull-Filter: clamdscan exited with 1 (fallback_exit); delivered to the fallback mailbox;\n it said: stream: {EICAR_FOUND}\n"
        )),
        "{infected}"
    );
    // Not rewriting: the attachment arrives as it was sent, for whoever looks at quarantine.
    assert!(
        infected.contains(&base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            EICAR
        )),
        "{infected}"
    );
    assert_eq!(bed.remote.message_count("isp").expect("count"), 0);

    // clamd stopped: clamdscan exits 2. Both new messages stay on the server, held, and
    // neither reaches a mailbox unscanned.
    clamd.stop();
    bed.remote
        .add_message("isp", &message("later", "Still there?"))
        .expect("add");
    bed.remote
        .add_message("isp", &with_eicar("eicar2"))
        .expect("add");
    let down = bed.setup.run_once().expect("run");
    let context = output_text(&down);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        bed.local.messages("alice").expect("alice").len(),
        1,
        "{context}"
    );
    assert_eq!(
        bed.local.messages("quarantine").expect("quarantine").len(),
        1,
        "{context}"
    );
    assert_eq!(bed.remote.message_count("isp").expect("count"), 2);
    let held = std::process::Command::new(worker_binary().expect("worker"))
        .args(["held", "--profile", "isp", "--config"])
        .arg(&bed.setup.config)
        .output()
        .expect("held");
    let listed = output_text(&held);
    assert!(held.status.success(), "{listed}");
    assert_eq!(
        listed
            .matches("the filter clamdscan exited with 2: ERROR: Could not connect to clamd")
            .count(),
        2,
        "{listed}\n{context}"
    );

    // clamd back, the held messages retried (the rows cleared, as the pipe's retry does):
    // scanned and delivered where they belong.
    clamd.restart().expect("clamd again");
    let db = rusqlite::Connection::open(bed.setup.state_dir().join("state.sqlite3")).expect("db");
    assert_eq!(db.execute("DELETE FROM attempts", []).expect("retry"), 2);
    drop(db);
    let back = bed.setup.run_once().expect("run");
    let context = format!("{}\n--- clamd ---\n{}", output_text(&back), clamd.log());
    assert!(back.status.success(), "{context}");
    let alice = bed
        .local
        .wait_for_messages("alice", 2, WAIT)
        .unwrap_or_else(|err| panic!("{err:#}\n{context}"));
    let quarantine = bed
        .local
        .wait_for_messages("quarantine", 2, WAIT)
        .unwrap_or_else(|err| panic!("{err:#}\n{context}"));
    let mut ids = message_ids(&alice);
    ids.sort();
    assert_eq!(ids, ["<clean@example.org>", "<later@example.org>"]);
    let mut ids = message_ids(&quarantine);
    ids.sort();
    assert_eq!(ids, ["<eicar2@example.org>", "<eicar@example.org>"]);
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
