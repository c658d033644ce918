//! IMAP without UIDPLUS (the real Dovecot with `imap_capability` set to a list without it):
//! the worker can only remove its deleted messages with a plain EXPUNGE, which also removes
//! every message another client flagged \Deleted. A poll that fails part way (the local SMTP
//! server defers a message) has not delivered those, so it must not expunge; the next clean
//! poll delivers them and then expunges. Nothing lost, nothing doubled.

use std::collections::HashMap;

use mailpull_tests::client::LineClient;
use mailpull_tests::fake_smtp::{FakeSmtp, Fault, Step};
use mailpull_tests::{
    ProfileSpec, RemoteDovecot, RemoteOptions, TestCa, WorkerSetup, message_ids, output_text,
    sample_message,
};

const PASSWORD: &str = "remote-secret-expunge";
const USER: &str = "isp-user";
const RCPT: &str = "alice@local.test";
/// Dovecot's own list less UIDPLUS (and the extensions the worker does not use).
const NO_UIDPLUS: &str =
    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ NAMESPACE UNSELECT CHILDREN";

fn accepted_ids(smtp: &FakeSmtp) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for message in smtp.accepted() {
        if message.rcpt_to.iter().any(|r| r == RCPT) {
            let id = message_ids(&[message.data]).remove(0);
            *counts.entry(id).or_insert(0) += 1;
        }
    }
    counts
}

/// Sends one tagged IMAP command and returns the lines up to and including its tagged reply,
/// which must be OK.
fn imap(client: &mut LineClient, tag: &str, command: &str) -> Vec<String> {
    client.send_line(&format!("{tag} {command}")).expect("send");
    let mut lines = Vec::new();
    loop {
        let line = client.read_line().expect("IMAP reply");
        let done = line.starts_with(&format!("{tag} "));
        lines.push(line);
        if done {
            break;
        }
    }
    let last = lines.last().map(String::as_str).unwrap_or_default();
    assert!(
        last.starts_with(&format!("{tag} OK")),
        "{command}: {lines:?}"
    );
    lines
}

/// Another mail client: logs in, checks that UIDPLUS is not advertised, flags the message
/// with `uid` \Deleted and logs out without expunging.
fn other_client_flags_deleted(port: u16, uid: u32) {
    let mut client = LineClient::connect(port).expect("connect");
    let greeting = client.read_line().expect("greeting");
    assert!(greeting.starts_with("* OK"), "{greeting}");
    imap(&mut client, "a1", &format!("LOGIN {USER} {PASSWORD}"));
    let caps = imap(&mut client, "a2", "CAPABILITY").join(" ");
    assert!(
        !caps.contains("UIDPLUS"),
        "UIDPLUS still advertised: {caps}"
    );
    imap(&mut client, "a3", "SELECT INBOX");
    imap(
        &mut client,
        "a4",
        &format!("UID STORE {uid} +FLAGS.SILENT (\\Deleted)"),
    );
    client.send_line("a5 LOGOUT").expect("logout");
}

#[test]
fn without_uidplus_a_failed_poll_expunges_nothing_another_client_flagged() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(tmp.path()).expect("test CA");
    let remote =
        RemoteDovecot::start_with(RemoteOptions::new(&ca).with_imap_capability(NO_UIDPLUS))
            .expect("remote dovecot");
    remote.add_user(USER, PASSWORD).expect("add user");
    let smtp = FakeSmtp::start().expect("fake smtp");
    let pw = WorkerSetup::password_file(tmp.path(), USER, PASSWORD).expect("pw");
    let mut spec = ProfileSpec::new("isp", remote.imaps_port(), USER, &pw, smtp.port(), "alice");
    spec.protocol = "imap";
    spec.ca_file = Some(ca.ca_file().to_path_buf());
    spec.remote_extra = "timeout = \"5s\"".into();
    let setup = WorkerSetup::new(&[spec]).expect("setup");

    let sent: Vec<Vec<u8>> = (0..4)
        .map(|i| sample_message(i, 3_000, "isp-user@isp.example"))
        .collect();
    for raw in &sent {
        remote.add_message(USER, raw).expect("add");
    }
    // UIDs 1..=4 in the order added; another client flags the last one \Deleted.
    other_client_flags_deleted(remote.imap_port(), 4);
    assert_eq!(remote.deleted_flag_count(USER).expect("flags"), 1);

    // The first message goes through, the next three are deferred (one deferral alone only
    // skips its message): the poll stops there.
    smtp.fail_next(Step::Mail, Fault::Reply("250 2.1.0 ok".into()), 1);
    smtp.fail_next(
        Step::Mail,
        Fault::Reply("451 4.3.0 try again later".into()),
        3,
    );
    let out = setup.run_once().expect("run");
    let log = output_text(&out);
    assert!(
        !out.status.success(),
        "the poll fails on the deferral:\n{log}"
    );
    assert_eq!(accepted_ids(&smtp).len(), 1, "{log}");
    assert_eq!(
        remote.message_count(USER).expect("count"),
        4,
        "a failed poll without UIDPLUS expunged messages (the other client's \\Deleted one \
         was never delivered):\n{log}"
    );
    assert_eq!(
        remote.deleted_flag_count(USER).expect("flags"),
        2,
        "the other client's flag and ours stay"
    );

    // A clean poll: the rest is delivered, then everything expunged.
    let out = setup.run_once().expect("run");
    let log = output_text(&out);
    assert!(out.status.success(), "{log}");
    assert_eq!(remote.message_count(USER).expect("count"), 0, "{log}");
    let counts = accepted_ids(&smtp);
    for id in message_ids(&sent) {
        assert_eq!(
            counts.get(&id),
            Some(&1),
            "{id} delivered once: {counts:?}\n{log}"
        );
    }
    assert_eq!(counts.len(), sent.len());
}
