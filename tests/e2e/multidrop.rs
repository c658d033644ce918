//! Multi-drop end to end: a catch-all mailbox on the real Dovecot with 200 mixed messages
//! (envelope headers of several kinds, visible headers only, aliases, mailing lists, Bcc,
//! one copy per recipient, a recipient the local server refuses) delivered through Postfix
//! into several local mailboxes. Every mailbox must hold exactly the messages addressed to it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use mailpull_tests::{
    LocalMailServer, ProfileSpec, RemoteDovecot, TestCa, WorkerSetup, message_ids, output_text,
};

const USERS: [&str; 4] = ["alice", "bob", "carol", "postmaster"];

fn message(id: &str, headers: &str, extra: &str) -> Vec<u8> {
    format!(
        "Return-Path: <sender@example.org>\r\n{headers}From: Sender <sender@example.org>\r\n\
         Subject: catch-all {id}\r\nDate: Sat, 22 Nov 2025 10:00:00 +0000\r\n\
         Message-ID: <{id}@example.org>\r\n{extra}\r\nBody of {id}.\r\n.leading dot\r\n"
    )
    .into_bytes()
}

/// The messages for the catch-all and, per local user, the Message-IDs it must receive.
fn workload() -> (Vec<Vec<u8>>, BTreeMap<&'static str, BTreeSet<String>>) {
    let mut messages = Vec::new();
    let mut expect: BTreeMap<&'static str, BTreeSet<String>> = BTreeMap::new();
    let mut to = |user: &'static str, id: &str| {
        expect
            .entry(user)
            .or_default()
            .insert(format!("<{id}@example.org>"));
    };
    for i in 0..200 {
        let id = format!("m{i:03}");
        let (headers, extra) = match i % 11 {
            0 => ("X-Envelope-To: alice@local.test\r\nTo: undisclosed-recipients:;\r\n".to_string(), ""),
            1 => ("Delivered-To: bob@local.test\r\nTo: Bob <bob@local.test>\r\n".into(), ""),
            2 => ("X-Original-To: carol+news@local.test\r\nTo: news@shop.example\r\n".into(), ""),
            3 => ("To: \"Alice A.\" <alice@local.test>\r\nCc: =?UTF-8?Q?B=C3=B6b?= <BOB@Local.Test>\r\n".into(), ""),
            4 => ("X-Envelope-To: <sales@local.test>\r\nTo: sales@local.test\r\n".into(), ""),
            5 => ("Envelope-To: info@other.test\r\nTo: info@other.test\r\n".into(), ""),
            6 => ("To: list@lists.example\r\nList-Id: <list.lists.example>\r\n".into(), ""),
            7 => ("X-Envelope-To: carol@local.test\r\nTo: friend@elsewhere.example\r\n".into(), ""),
            8 => ("To: alice@local.test, bob@local.test\r\n".into(), "Received: by mx1.isp.example id copy1\r\n"),
            9 => ("X-Envelope-To: dave@local.test\r\nTo: dave@local.test\r\n".into(), ""),
            _ => ("To: alice@local.test, dave@local.test\r\n".into(), ""),
        };
        messages.push(message(&id, &headers, extra));
        match i % 11 {
            0 | 4 => to("alice", &id),
            1 | 5 => to("bob", &id),
            2 | 7 => to("carol", &id),
            3 | 8 => {
                to("alice", &id);
                to("bob", &id);
            }
            6 | 9 => to("postmaster", &id),
            _ => {
                to("alice", &id);
                to("postmaster", &id);
            }
        }
        if i % 11 == 8 {
            // The ISP stored a second copy for the second recipient: same Message-ID and
            // content, its own trace header.
            messages.push(message(
                &id,
                &headers,
                "Received: by mx1.isp.example id copy2\r\n",
            ));
        }
    }
    (messages, expect)
}

#[test]
fn a_catch_all_of_200_messages_reaches_exactly_the_right_mailboxes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(tmp.path()).expect("ca");
    let remote = RemoteDovecot::start(&ca).expect("remote");
    remote.add_user("catchall", "pw").expect("user");
    let local = LocalMailServer::start(&USERS).expect("local");
    let (messages, expect) = workload();
    for raw in &messages {
        remote.add_message("catchall", raw).expect("add");
    }
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
    spec.extra = "[profile.distribute]\nlocal_domains = [\"local.test\", \"other.test\"]\nfallback = \"postmaster\"\naliases = { \"sales\" = \"alice\", \"info@other.test\" = \"bob\" }\n".into();
    let setup = WorkerSetup::new(&[spec]).expect("setup");

    let out = setup.run_once().expect("run");
    assert!(out.status.success(), "{}", output_text(&out));
    assert_eq!(
        remote.message_count("catchall").expect("count"),
        0,
        "catch-all emptied"
    );

    for user in USERS {
        let want = &expect[user];
        let got = local
            .wait_for_messages(user, want.len(), Duration::from_secs(60))
            .unwrap_or_else(|err| panic!("{user}: {err:#}\n{}", local.maillog()));
        let ids = message_ids(&got);
        let unique: BTreeSet<String> = ids.iter().cloned().collect();
        assert_eq!(ids.len(), unique.len(), "{user} got duplicates");
        assert_eq!(&unique, want, "{user} holds the wrong messages");
    }
    // Every copy the fallback got for a refused recipient says why.
    let postmaster = local.messages("postmaster").expect("messages");
    let refused = postmaster
        .iter()
        .filter(|raw| {
            String::from_utf8_lossy(raw)
                .contains("X-Mailpull-Fallback: local server refused <dave@local.test>")
        })
        .count();
    assert_eq!(
        refused,
        2 * 18,
        "refused-recipient copies with the reason header"
    );
    let listed = postmaster
        .iter()
        .filter(|raw| {
            String::from_utf8_lossy(raw)
                .contains("X-Mailpull-Fallback: no address in a local domain")
        })
        .count();
    assert!(
        listed >= 18,
        "mailing-list copies name the reason ({listed})"
    );

    // A second poll changes nothing.
    let out = setup.run_once().expect("run");
    assert!(out.status.success(), "{}", output_text(&out));
    std::thread::sleep(Duration::from_secs(1));
    for user in USERS {
        assert_eq!(
            local.messages(user).expect("messages").len(),
            expect[user].len(),
            "{user} after a second poll"
        );
    }
}

#[test]
fn the_route_command_prints_the_decision_as_json() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let password = WorkerSetup::password_file(tmp.path(), "x", "pw").expect("pw");
    let mut spec = ProfileSpec::new("catch-all", 993, "catchall", &password, 25, "postmaster");
    spec.extra = "[profile.distribute]\nlocal_domains = [\"local.test\"]\naliases = { \"sales\" = \"alice\" }\n".into();
    let setup = WorkerSetup::new(&[spec]).expect("setup");
    let run = |profile: &str, input: &[u8]| {
        let mut child = std::process::Command::new(mailpull_tests::worker_binary().expect("bin"))
            .args(["route", "--profile", profile, "--config"])
            .arg(&setup.config)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        // A command that fails early (unknown profile) may exit before reading: a broken
        // pipe here is not the test's concern, the exit status and output are.
        let _ = std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), input);
        child.wait_with_output().expect("wait")
    };
    let out = run(
        "catch-all",
        b"X-Envelope-To: Sales+x@LOCAL.test\r\nTo: a@b.example\r\n\r\nhi\r\n",
    );
    assert!(out.status.success(), "{}", output_text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["recipients"][0]["address"], "alice@local.test");
    assert_eq!(json["recipients"][0]["source"], "X-Envelope-To");
    assert_eq!(json["fallback"], false);
    assert!(json["reason"].as_str().is_some_and(|r| !r.is_empty()));

    let out = run("catch-all", b"To: list@lists.example\r\n\r\nhi\r\n");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["recipients"][0]["address"], "postmaster@local.test");
    assert_eq!(json["fallback"], true);

    let out = run("no-such-profile", b"To: a@b\r\n\r\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no profile \"no-such-profile\""),
        "{}",
        output_text(&out)
    );
}
