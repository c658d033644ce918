//! `after_delivery = { keep_days = N }` end to end: delivered messages stay on the real
//! Dovecot, are never fetched twice, and go once their record is older than N days. The test
//! ages records by rewriting `delivered_at` in the worker's SQLite file (no test hooks in the
//! worker).

use std::path::{Path, PathBuf};
use std::time::Duration;

use mailpull_tests::{
    LocalMailServer, ProfileSpec, RemoteDovecot, TestCa, WorkerSetup, duplicate_ids, message_ids,
    output_text, sample_message,
};

const PASSWORD: &str = "keep-days-secret";
const WAIT: Duration = Duration::from_secs(30);
const DAY: i64 = 86_400;

/// Moves the `delivered_at` of the records with these Message-IDs `days` into the past.
fn age_records(state_dir: &Path, message_ids: &[String], days: i64) -> usize {
    let conn = rusqlite::Connection::open(state_dir.join("state.sqlite3")).expect("open state");
    conn.busy_timeout(Duration::from_secs(10)).expect("busy");
    let mut changed = 0;
    for id in message_ids {
        changed += conn
            .execute(
                "UPDATE delivered SET delivered_at = delivered_at - ?1 WHERE message_id = ?2",
                rusqlite::params![days * DAY, id],
            )
            .expect("update");
    }
    changed
}

fn run_ok(setup: &WorkerSetup) {
    let out = setup.run_once().expect("run");
    assert!(out.status.success(), "{}", output_text(&out));
}

fn keep_days_round_trip(protocol: &'static str) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(tmp.path()).expect("ca");
    let remote = RemoteDovecot::start(&ca).expect("remote");
    remote.add_user("isp-user", PASSWORD).expect("user");
    let local = LocalMailServer::start(&["alice"]).expect("local");
    let password_file: PathBuf =
        WorkerSetup::password_file(tmp.path(), "isp-user", PASSWORD).expect("pw");
    let sent: Vec<Vec<u8>> = (0..6)
        .map(|i| {
            let raw = sample_message(i, 2_000, "isp-user@isp.example");
            remote.add_message("isp-user", &raw).expect("add");
            raw
        })
        .collect();
    let port = match protocol {
        "pop3" => remote.pop3s_port(),
        _ => remote.imaps_port(),
    };
    let mut spec = ProfileSpec::new(
        "kept",
        port,
        "isp-user",
        &password_file,
        local.smtp_port(),
        "alice",
    );
    spec.protocol = protocol;
    spec.ca_file = Some(ca.ca_file().to_path_buf());
    spec.after_delivery = "{ keep_days = 14 }";
    let setup = WorkerSetup::new(&[spec]).expect("setup");

    // Delivered, left on the server; a second poll fetches nothing again.
    run_ok(&setup);
    run_ok(&setup);
    let delivered = local
        .wait_for_messages("alice", 6, WAIT)
        .unwrap_or_else(|e| panic!("{e:#}\n{}", local.maillog()));
    assert_eq!(remote.message_count("isp-user").expect("count"), 6);

    // Records 13 days old: still kept.
    let ids = message_ids(&sent);
    assert_eq!(age_records(&setup.state_dir(), &ids[..3], 13), 3);
    run_ok(&setup);
    assert_eq!(remote.message_count("isp-user").expect("count"), 6);

    // Two more days: the first three are older than 14 days and go; the others stay.
    assert_eq!(age_records(&setup.state_dir(), &ids[..3], 2), 3);
    run_ok(&setup);
    let left = remote.messages_in("isp-user", "INBOX").expect("remote");
    assert_eq!(message_ids(&left), ids[3..].to_vec(), "{protocol}");
    // Nothing was delivered again, then or on a later poll.
    run_ok(&setup);
    std::thread::sleep(Duration::from_millis(500));
    let now = local.messages("alice").expect("local");
    assert_eq!(now.len(), delivered.len());
    assert!(duplicate_ids(&now).is_empty());
    assert_eq!(remote.message_count("isp-user").expect("count"), 3);
}

#[test]
fn keep_days_pop3s_deletes_only_old_records() {
    keep_days_round_trip("pop3");
}

#[test]
fn keep_days_imaps_expunges_only_old_records() {
    keep_days_round_trip("imap");
}
