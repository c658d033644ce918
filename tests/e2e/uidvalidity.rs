//! IMAP UIDVALIDITY changes between polls (the real Dovecot, changed with `doveadm mailbox
//! update --uid-validity`): every UID the worker recorded is void, so it must recognise the
//! messages it already delivered by their digest — nothing delivered twice, nothing lost, and
//! in delete mode the old messages are removed without being delivered again.

use std::collections::HashMap;
use std::time::Duration;

use mailpull_tests::{
    LocalMailServer, ProfileSpec, RemoteDovecot, RemoteOptions, TestCa, WorkerSetup, message_ids,
    output_text, sample_message,
};

const PASSWORD: &str = "remote-secret-uv-2";
const USER: &str = "isp-user";

fn uidvalidity(remote: &RemoteDovecot) -> u32 {
    remote.uidvalidity(USER, "INBOX").expect("UIDVALIDITY")
}

fn counts(local: &LocalMailServer) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for id in message_ids(&local.messages("alice").expect("local")) {
        *counts.entry(id).or_insert(0) += 1;
    }
    counts
}

#[test]
fn a_uidvalidity_change_between_polls_delivers_nothing_twice() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(tmp.path()).expect("test CA");
    let remote = RemoteDovecot::start_with(RemoteOptions::new(&ca)).expect("remote dovecot");
    remote.add_user(USER, PASSWORD).expect("add user");
    let local = LocalMailServer::start(&["alice"]).expect("local postfix");
    let password_file = WorkerSetup::password_file(tmp.path(), USER, PASSWORD).expect("pw");
    let spec = |after: &'static str| {
        let mut spec = ProfileSpec::new(
            "isp",
            remote.imaps_port(),
            USER,
            &password_file,
            local.smtp_port(),
            "alice",
        );
        spec.protocol = "imap";
        spec.after_delivery = after;
        spec.ca_file = Some(ca.ca_file().to_path_buf());
        spec
    };
    let mut sent: Vec<Vec<u8>> = Vec::new();
    let mut add = |n: usize| {
        for _ in 0..n {
            let raw = sample_message(sent.len(), 3_000, "isp-user@isp.example");
            remote.add_message(USER, &raw).expect("add");
            sent.push(raw);
        }
    };

    add(6);
    let keep = WorkerSetup::new(&[spec("keep")]).expect("setup");
    let out = keep.run_once().expect("run");
    assert!(out.status.success(), "{}", output_text(&out));
    local
        .wait_for_messages("alice", 6, Duration::from_secs(30))
        .expect("first poll");

    let before = uidvalidity(&remote);
    remote
        .set_uidvalidity(USER, "INBOX", 4_000_000_000)
        .expect("change UIDVALIDITY");
    let after = uidvalidity(&remote);
    assert_ne!(before, after, "UIDVALIDITY did not change");
    add(2);
    let out = keep.run_once().expect("run");
    assert!(out.status.success(), "{}", output_text(&out));
    let log = output_text(&out);
    assert!(
        log.contains("already delivered under another UID"),
        "the old messages are recognised by digest:\n{log}"
    );
    local
        .wait_for_messages("alice", 8, Duration::from_secs(30))
        .expect("the two new messages");

    // Another change, then delete mode: the old messages go without a second delivery.
    remote
        .set_uidvalidity(USER, "INBOX", 4_000_000_001)
        .expect("change UIDVALIDITY");
    let delete = WorkerSetup::new(&[spec("delete")]).expect("setup");
    // Same state directory as the keep runs: copy it over.
    let copy = std::process::Command::new("cp")
        .arg("-a")
        .arg(keep.state_dir())
        .arg(delete.state_dir())
        .status()
        .expect("cp");
    assert!(copy.success());
    let out = delete.run_once().expect("run");
    assert!(out.status.success(), "{}", output_text(&out));
    assert_eq!(remote.message_count(USER).expect("count"), 0);
    std::thread::sleep(Duration::from_millis(700));
    let counts = counts(&local);
    for id in message_ids(&sent) {
        assert_eq!(counts.get(&id).copied(), Some(1), "{id}");
    }
    assert_eq!(counts.len(), sent.len());
    eprintln!(
        "uidvalidity {before} -> {after}: {} messages, each delivered once",
        sent.len()
    );
}
