//! Multi-drop copy suppression on the real Dovecot -> Postfix bed (issue #12, 2, first
//! bullet). An ISP that stores one copy of a message per recipient in a catch-all mailbox gives
//! the copies the same Message-ID and the same content, with their own trace and envelope
//! headers (Received, Delivered-To, X-Original-To ...): each local recipient gets one copy. But
//! a Message-ID alone proves nothing (automated senders reuse them; anyone can): a different
//! message under a known Message-ID must be delivered, never taken for a copy and deleted; and
//! what one profile delivered says nothing about another profile's mailbox.

use std::time::Duration;

use mailpull_tests::{
    LocalMailServer, ProfileSpec, RemoteDovecot, TestCa, WorkerSetup, output_text,
};

const WAIT: Duration = Duration::from_secs(30);
/// Time for Postfix to hand over anything more that was (wrongly) accepted.
const SETTLE: Duration = Duration::from_secs(2);

/// A message to `to` as an ISP stores it: `trace` (Received, Delivered-To ...) on top, then
/// the sender's headers with the one Message-ID every message of these tests shares.
fn message(trace: &str, to: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "Return-Path: <noreply@shop.example>\r\n{trace}From: Shop <noreply@shop.example>\r\n\
         To: {to}\r\nSubject: {subject}\r\nDate: Mon, 30 Nov 2026 08:00:00 +0000\r\n\
         Message-ID: <order-status@shop.example>\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

fn received(id: &str) -> String {
    format!(
        "Received: from mx.shop.example (mx.shop.example [192.0.2.7])\r\n\tby mx1.isp.example with ESMTPS id {id};\r\n\tMon, 30 Nov 2026 08:00:0{} +0000\r\n",
        id.len() % 10
    )
}

/// A multi-drop IMAP profile `name` pulling the catch-all `user` into local.test.
fn profile(
    name: &str,
    user: &str,
    tmp: &std::path::Path,
    remote: &RemoteDovecot,
    ca: &TestCa,
    local: &LocalMailServer,
) -> ProfileSpec {
    let password = WorkerSetup::password_file(tmp, user, "pw").expect("pw");
    let mut spec = ProfileSpec::new(
        name,
        remote.imaps_port(),
        user,
        &password,
        local.smtp_port(),
        "postmaster",
    );
    spec.protocol = "imap";
    spec.ca_file = Some(ca.ca_file().to_path_buf());
    spec.extra =
        "[profile.distribute]\nlocal_domains = [\"local.test\"]\nfallback = \"postmaster\"\n"
            .into();
    spec
}

fn run_ok(setup: &WorkerSetup, what: &str) {
    let out = setup.run_once().expect("run");
    assert!(out.status.success(), "{what}: {}", output_text(&out));
}

/// The subjects `user` holds once `count` messages arrived and nothing more came after.
fn subjects(local: &LocalMailServer, user: &str, count: usize) -> Vec<String> {
    local
        .wait_for_messages(user, count, WAIT)
        .unwrap_or_else(|err| panic!("{user}: {err:#}\n{}", local.maillog()));
    std::thread::sleep(SETTLE);
    let mut subjects: Vec<String> = local
        .messages(user)
        .expect("messages")
        .iter()
        .filter_map(|raw| {
            String::from_utf8_lossy(raw)
                .lines()
                .find_map(|line| line.strip_prefix("Subject: ").map(str::to_string))
        })
        .collect();
    subjects.sort();
    subjects
}

#[test]
fn a_different_message_under_a_known_message_id_is_delivered() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(tmp.path()).expect("ca");
    let remote = RemoteDovecot::start(&ca).expect("remote");
    remote.add_user("catchall", "pw").expect("user");
    let local = LocalMailServer::start(&["alice", "postmaster"]).expect("local");
    let setup = WorkerSetup::new(&[profile(
        "catch-all",
        "catchall",
        tmp.path(),
        &remote,
        &ca,
        &local,
    )])
    .expect("setup");

    // Two different messages in one poll, then a third in a later poll: one Message-ID.
    let to = "alice@local.test";
    for (id, subject) in [("A1", "Order 1 shipped"), ("A2", "Order 2 shipped")] {
        let raw = message(&received(id), to, subject, &format!("{subject}."));
        remote.add_message("catchall", &raw).expect("add");
    }
    run_ok(&setup, "first poll");
    assert_eq!(remote.message_count("catchall").expect("count"), 0);
    assert_eq!(
        subjects(&local, "alice", 2),
        ["Order 1 shipped", "Order 2 shipped"],
        "both messages under one Message-ID reach alice"
    );

    let raw = message(&received("A3"), to, "Order 3 shipped", "Order 3 shipped.");
    remote.add_message("catchall", &raw).expect("add");
    run_ok(&setup, "second poll");
    assert_eq!(
        subjects(&local, "alice", 3),
        ["Order 1 shipped", "Order 2 shipped", "Order 3 shipped"],
        "a later message under a known Message-ID reaches alice"
    );
    assert_eq!(remote.message_count("catchall").expect("count"), 0);
}

#[test]
fn true_copies_with_their_own_trace_headers_are_suppressed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(tmp.path()).expect("ca");
    let remote = RemoteDovecot::start(&ca).expect("remote");
    remote.add_user("catchall", "pw").expect("user");
    let local = LocalMailServer::start(&["alice", "bob", "postmaster"]).expect("local");
    let setup = WorkerSetup::new(&[profile(
        "catch-all",
        "catchall",
        tmp.path(),
        &remote,
        &ca,
        &local,
    )])
    .expect("setup");

    // The ISP stored one copy per recipient; each copy has its own trace and envelope headers,
    // none naming a local address, so each copy routes to both by its To header.
    let to = "alice@local.test, bob@local.test";
    let copy = |n: &str| {
        let trace = format!(
            "Delivered-To: catchall{n}@isp.example\r\nX-Original-To: family{n}@isp.example\r\n\
             Envelope-To: catchall{n}@isp.example\r\n{}\
             Authentication-Results: mx1.isp.example; spf=pass smtp.mailfrom=shop.example ({n})\r\n\
             X-Spam-Score: 0.{n}\r\n",
            received(&format!("C{n}"))
        );
        message(&trace, to, "Your order", "Your order has shipped.")
    };
    remote.add_message("catchall", &copy("1")).expect("add");
    remote.add_message("catchall", &copy("2")).expect("add");
    run_ok(&setup, "first poll");
    assert_eq!(remote.message_count("catchall").expect("count"), 0);
    for user in ["alice", "bob"] {
        assert_eq!(
            subjects(&local, user, 1),
            ["Your order"],
            "{user} gets one copy"
        );
    }

    // A copy that turns up on a later poll is a copy too.
    remote.add_message("catchall", &copy("3")).expect("add");
    run_ok(&setup, "second poll");
    assert_eq!(remote.message_count("catchall").expect("count"), 0);
    for user in ["alice", "bob"] {
        assert_eq!(
            subjects(&local, user, 1),
            ["Your order"],
            "{user} after a later copy"
        );
    }
}

#[test]
fn the_same_message_in_two_profiles_is_delivered_by_both() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(tmp.path()).expect("ca");
    let remote = RemoteDovecot::start(&ca).expect("remote");
    remote.add_user("first", "pw").expect("user");
    remote.add_user("second", "pw").expect("user");
    let local = LocalMailServer::start(&["alice", "postmaster"]).expect("local");
    let raw = message(
        &received("P"),
        "alice@local.test",
        "Newsletter",
        "The same bytes in both mailboxes.",
    );
    remote.add_message("first", &raw).expect("add");
    let setup = WorkerSetup::new(&[
        profile("first", "first", tmp.path(), &remote, &ca, &local),
        profile("second", "second", tmp.path(), &remote, &ca, &local),
    ])
    .expect("setup");

    // One profile after the other (polls of one run go at once, so both would look before
    // either remembers anything).
    run_ok(&setup, "first poll");
    assert_eq!(remote.message_count("first").expect("count"), 0);
    assert_eq!(subjects(&local, "alice", 1), ["Newsletter"]);
    remote.add_message("second", &raw).expect("add");
    run_ok(&setup, "second poll");
    assert_eq!(remote.message_count("second").expect("count"), 0);
    assert_eq!(
        subjects(&local, "alice", 2),
        ["Newsletter", "Newsletter"],
        "each profile delivers its own mailbox's message"
    );
}
