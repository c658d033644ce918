//! A non-ASCII envelope sender (issue #12, section 1): a message whose Return-Path has
//! non-ASCII characters reaches the local mailbox whether or not the local server offers
//! SMTPUTF8, always with an ASCII envelope sender — the domain in punycode (an ASCII local
//! part) or the null sender (a non-ASCII local part) — and the original named in
//! `X-Mailpull-Original-Sender`. It never holds back the messages after it.

use std::time::Duration;

use mailpull_tests::{
    LocalMailServer, LocalOptions, ProfileSpec, RemoteDovecot, TestCa, WorkerSetup, headers,
    message_ids, output_text, sample_message,
};

const PASSWORD: &str = "smtputf8-secret";
const WAIT: Duration = Duration::from_secs(30);
/// Both parts non-ASCII.
const UTF8_SENDER: &str = "jürgen@bücher.example";
/// Only the local part non-ASCII.
const UTF8_LOCAL_SENDER: &str = "jürgen@example.com";
/// Only the domain non-ASCII (an IDN).
const IDN_SENDER: &str = "juergen@bücher.example";
const HEADER: &str = "X-Mailpull-Original-Sender";

/// Message `i` of the sample kind with `sender` as its Return-Path.
fn message_from(i: usize, sender: &str) -> Vec<u8> {
    let raw = sample_message(i, 1_500, "isp-user@isp.example");
    let text = String::from_utf8(raw).expect("sample is UTF-8");
    let (first, rest) = text.split_once("\r\n").expect("a first line");
    assert!(first.starts_with("Return-Path:"), "{first}");
    format!("Return-Path: <{sender}>\r\n{rest}").into_bytes()
}

/// The delivered copy with this Message-ID.
fn delivered<'a>(copies: &'a [Vec<u8>], id: &str) -> &'a [u8] {
    let ids = message_ids(copies);
    let at = ids
        .iter()
        .position(|got| got == id)
        .unwrap_or_else(|| panic!("no copy of {id} among {ids:?}"));
    &copies[at]
}

/// The first value of header `name` (the Return-Path the local Dovecot wrote comes first).
fn first(raw: &[u8], name: &str) -> Option<String> {
    headers(raw)
        .into_iter()
        .find(|(got, _)| got.eq_ignore_ascii_case(name))
        .map(|(_, value)| value)
}

/// Four messages (the three non-ASCII senders, then an ASCII one) pulled into a local Postfix
/// with or without SMTPUTF8, waiting for `arrive` of them in the mailbox; returns the
/// delivered copies, the Message-IDs in the order sent and the server.
fn pull_into(no_smtputf8: bool, arrive: usize) -> (Vec<Vec<u8>>, Vec<String>, LocalMailServer) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(tmp.path()).expect("ca");
    let remote = RemoteDovecot::start(&ca).expect("remote");
    remote.add_user("isp-user", PASSWORD).expect("user");
    let local = LocalMailServer::start_with(LocalOptions {
        users: vec!["alice".into()],
        no_smtputf8,
        ..LocalOptions::default()
    })
    .expect("local");
    let sent = vec![
        message_from(0, UTF8_SENDER),
        message_from(1, UTF8_LOCAL_SENDER),
        message_from(2, IDN_SENDER),
        sample_message(3, 1_500, "isp-user@isp.example"),
    ];
    for raw in &sent {
        remote.add_message("isp-user", raw).expect("add");
    }
    let password_file =
        WorkerSetup::password_file(tmp.path(), "isp-user", PASSWORD).expect("password file");
    let mut spec = ProfileSpec::new(
        "utf8",
        remote.pop3s_port(),
        "isp-user",
        &password_file,
        local.smtp_port(),
        "alice",
    );
    spec.ca_file = Some(ca.ca_file().to_path_buf());
    let setup = WorkerSetup::new(&[spec]).expect("setup");

    let out = setup.run_once().expect("run");
    assert!(
        out.status.success(),
        "the poll failed:\n{}\n--- maillog ---\n{}",
        output_text(&out),
        local.maillog()
    );
    let copies = local
        .wait_for_messages("alice", arrive, WAIT)
        .unwrap_or_else(|e| panic!("{e:#}\n{}", output_text(&out)));
    assert_eq!(copies.len(), arrive, "each message once");
    assert_eq!(
        remote.message_count("isp-user").expect("count"),
        0,
        "every message deleted from the remote once delivered"
    );
    (copies, message_ids(&sent), local)
}

/// Into a Postfix with SMTPUTF8 the senders go out in the same ASCII forms: Postfix would take
/// them as they are (`SMTPUTF8`), then bounce them because the local Dovecot's LMTP (2.3) does
/// not offer SMTPUTF8 — after the remote copy was deleted. Before this test, three of the four
/// never reached the mailbox.
#[test]
fn non_ascii_senders_reach_the_mailbox_through_a_smtputf8_postfix() {
    ascii_forms_arrive(false);
}

/// Into a Postfix without SMTPUTF8: lettre refused the transaction itself, and the first
/// message held back the whole mailbox for ever.
#[test]
fn non_ascii_senders_fall_back_to_ascii_without_smtputf8() {
    ascii_forms_arrive(true);
}

fn ascii_forms_arrive(no_smtputf8: bool) {
    let (copies, ids, local) = pull_into(no_smtputf8, 4);
    assert!(
        !local.maillog().contains("SMTPUTF8 is required"),
        "{}",
        local.maillog()
    );
    let expected = [
        ("<>", "=?UTF-8?Q?<j=C3=BCrgen@b=C3=BCcher.example>?="),
        ("<>", "=?UTF-8?Q?<j=C3=BCrgen@example.com>?="),
        (
            "<juergen@xn--bcher-kva.example>",
            "=?UTF-8?Q?<juergen@b=C3=BCcher.example>?=",
        ),
    ];
    for (id, (mail_from, header)) in ids.iter().zip(expected) {
        let copy = delivered(&copies, id);
        let text = String::from_utf8_lossy(copy);
        assert_eq!(
            first(copy, "Return-Path").as_deref(),
            Some(mail_from),
            "a non-ASCII local part: the null sender; an IDN: punycode\n{text}"
        );
        assert_eq!(first(copy, HEADER).as_deref(), Some(header), "{text}");
    }
    let ascii = delivered(&copies, &ids[3]);
    assert_eq!(
        first(ascii, "Return-Path").as_deref(),
        Some("<sender-3@example.test>")
    );
    assert_eq!(first(ascii, HEADER), None);
}
