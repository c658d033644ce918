//! One message never blocks the mailbox: the real Postfix defers one message only (a 4xx for
//! its recipient) and the other messages of the same mailbox are delivered in the same poll.

use std::time::Duration;

use mailpull_tests::{
    LocalMailServer, ProfileSpec, RemoteDovecot, TestCa, WorkerSetup, message_ids, output_text,
};

const WAIT: Duration = Duration::from_secs(30);

fn message(id: &str, to: &str) -> Vec<u8> {
    format!(
        "Return-Path: <sender@example.org>\r\nFrom: Sender <sender@example.org>\r\nTo: {to}\r\n\
         Subject: poison {id}\r\nDate: Sat, 22 Nov 2025 10:00:00 +0000\r\n\
         Message-ID: <{id}@example.org>\r\n\r\nBody of {id}.\r\n"
    )
    .into_bytes()
}

#[test]
fn a_message_the_local_server_defers_does_not_hold_back_the_others() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(tmp.path()).expect("ca");
    let remote = RemoteDovecot::start(&ca).expect("remote");
    remote.add_user("catchall", "pw").expect("user");
    let local = LocalMailServer::start(&["alice", "bob", "postmaster"]).expect("local");
    // The second message goes to bob only, and Postfix defers bob.
    let messages = [
        message("m1", "alice@local.test"),
        message("m2", "bob@local.test"),
        message("m3", "alice@local.test"),
        message("m4", "alice@local.test"),
    ];
    for raw in &messages {
        remote.add_message("catchall", raw).expect("add");
    }
    local
        .set_reject("bob@local.test", Some("451 4.3.0 bob is busy"))
        .expect("reject");
    let password = WorkerSetup::password_file(tmp.path(), "catchall", "pw").expect("pw");
    let mut spec = ProfileSpec::new(
        "catch-all",
        remote.imaps_port(),
        "catchall",
        &password,
        local.smtp_port(),
        "postmaster",
    );
    spec.protocol = "imap";
    spec.ca_file = Some(ca.ca_file().to_path_buf());
    spec.extra =
        "[profile.distribute]\nlocal_domains = [\"local.test\"]\nfallback = \"postmaster\"\n"
            .into();
    let setup = WorkerSetup::new(&[spec]).expect("setup");

    let out = setup.run_once().expect("run");
    let text = output_text(&out);
    let got = local
        .wait_for_messages("alice", 3, WAIT)
        .unwrap_or_else(|err| panic!("{err:#}\n{text}\n{}", local.maillog()));
    // Postfix's queue delivers in no fixed order: compare as a set.
    let mut ids = message_ids(&got);
    ids.sort();
    assert_eq!(
        ids,
        ["<m1@example.org>", "<m3@example.org>", "<m4@example.org>"],
        "{text}"
    );
    // The deferred message alone stays on the server; nothing reached bob.
    let left = remote.messages_in("catchall", "INBOX").expect("remote");
    assert_eq!(message_ids(&left), ["<m2@example.org>"], "{text}");
    assert!(local.messages("bob").expect("bob").is_empty());
}

/// A message lettre refuses to send before sending it (8-bit content to a Postfix that does
/// not offer 8BITMIME) is that message's failure: it stays on the server and the rest of the
/// mailbox is delivered in the same poll.
#[test]
fn a_message_the_client_cannot_send_does_not_hold_back_the_others() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(tmp.path()).expect("ca");
    let remote = RemoteDovecot::start(&ca).expect("remote");
    remote.add_user("alice", "pw").expect("user");
    let local = mailpull_tests::LocalMailServer::start_with(mailpull_tests::LocalOptions {
        users: vec!["alice".into()],
        extra_main_cf: "smtpd_discard_ehlo_keywords = 8bitmime\n".into(),
        ..mailpull_tests::LocalOptions::default()
    })
    .expect("local");
    let mut eight_bit = message("m2", "alice@local.test");
    eight_bit.truncate(eight_bit.len() - 2);
    eight_bit.extend_from_slice("Caf\u{e9} cr\u{e8}me.\r\n".as_bytes());
    let messages = [
        message("m1", "alice@local.test"),
        eight_bit,
        message("m3", "alice@local.test"),
    ];
    for raw in &messages {
        remote.add_message("alice", raw).expect("add");
    }
    let password = WorkerSetup::password_file(tmp.path(), "alice", "pw").expect("pw");
    let mut spec = ProfileSpec::new(
        "eight-bit",
        remote.pop3s_port(),
        "alice",
        &password,
        local.smtp_port(),
        "alice",
    );
    spec.ca_file = Some(ca.ca_file().to_path_buf());
    let setup = WorkerSetup::new(&[spec]).expect("setup");

    let out = setup.run_once().expect("run");
    let text = output_text(&out);
    let got = local
        .wait_for_messages("alice", 2, WAIT)
        .unwrap_or_else(|err| panic!("{err:#}\n{text}\n{}", local.maillog()));
    // Postfix's queue delivers in no fixed order: compare as a set.
    let mut ids = message_ids(&got);
    ids.sort();
    assert_eq!(ids, ["<m1@example.org>", "<m3@example.org>"], "{text}");
    assert!(text.contains("8BITMIME"), "{text}");
    let left = remote.messages("alice").expect("remote");
    assert_eq!(message_ids(&left), ["<m2@example.org>"], "{text}");
}
