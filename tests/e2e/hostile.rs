//! Hostile servers: whatever a misbehaving POP3 server sends, every message ends up in the
//! local mailbox exactly once or stays on the remote server.
//!
//! Each fault test runs the worker (`run --once`) into the fault, asserts the specific error it
//! reports, then runs a clean follow-up poll and checks the final state: every message either
//! delivered exactly once (counted by Message-ID) or still on the remote. Where the fault is on
//! the remote side a second, healthy profile runs in the same worker and must deliver all its
//! mail. Profiles use `timeout = "2s"` (SMTP: twice that) so that stalls end quickly.

use std::collections::HashMap;
use std::process::Output;
use std::time::{Duration, Instant};

use mailpull_tests::fake_pop3::{FakePop3, Pop3Fault};
use mailpull_tests::fake_smtp::FakeSmtp;
use mailpull_tests::{ProfileSpec, WorkerSetup, message_ids, output_text, sample_message};

const PASSWORD: &str = "remote-secret-1";
const REMOTE_USER: &str = "isp-user";

/// The Message-ID of each message the fake SMTP server accepted for `rcpt`, with its count.
fn accepted_ids(smtp: &FakeSmtp, rcpt: &str) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for message in smtp.accepted() {
        if message.rcpt_to.iter().any(|r| r == rcpt) {
            let id = message_ids(&[message.data]).remove(0);
            *counts.entry(id).or_insert(0) += 1;
        }
    }
    counts
}

/// Every message of `sent` was accepted exactly once for `rcpt`, except those in `remote`
/// (still on the server), which were not accepted at all.
fn assert_exactly_once_or_remote(
    smtp: &FakeSmtp,
    rcpt: &str,
    sent: &[Vec<u8>],
    remote: &[Vec<u8>],
) {
    let counts = accepted_ids(smtp, rcpt);
    let remote_ids = message_ids(remote);
    for id in message_ids(sent) {
        let n = counts.get(&id).copied().unwrap_or(0);
        if remote_ids.contains(&id) {
            assert_eq!(n, 0, "{id} is still on the remote but was delivered");
        } else {
            assert_eq!(n, 1, "{id} delivered {n} times and not on the remote");
        }
    }
}

/// In the middle of things: no message delivered twice, and every message not on the remote
/// delivered (a delivered message may still be on the remote until a QUIT commits its DELE).
fn assert_no_loss_no_duplicate(smtp: &FakeSmtp, rcpt: &str, sent: &[Vec<u8>], remote: &[Vec<u8>]) {
    let counts = accepted_ids(smtp, rcpt);
    let remote_ids = message_ids(remote);
    for id in message_ids(sent) {
        let n = counts.get(&id).copied().unwrap_or(0);
        assert!(n <= 1, "{id} delivered {n} times");
        assert!(
            n == 1 || remote_ids.contains(&id),
            "{id} lost: neither delivered nor on the remote"
        );
    }
}

fn text(out: &Output) -> String {
    output_text(out)
}

/// The summary line of `profile` in `run --once` output.
fn summary_line(out: &Output, profile: &str) -> String {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|line| line.split_whitespace().next() == Some(profile))
        .unwrap_or_default()
        .to_string()
}

fn fake_profile(
    name: &str,
    port: u16,
    password_file: &std::path::Path,
    smtp: u16,
    user: &str,
) -> ProfileSpec {
    let mut spec = ProfileSpec::new(name, port, REMOTE_USER, password_file, smtp, user);
    spec.security = "plain";
    spec.remote_extra = "timeout = \"2s\"".into();
    spec
}

fn messages(range: std::ops::Range<usize>, size: usize) -> Vec<Vec<u8>> {
    range
        .map(|i| sample_message(i, size, "isp-user@isp.example"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// A scripted POP3 server misbehaving, next to a healthy one.

struct FakeCase {
    faults: Vec<Pop3Fault>,
    /// Messages on the hostile server.
    messages: Vec<Vec<u8>>,
    /// Extra `[profile.remote]` lines for the hostile profile.
    remote_extra: &'static str,
    /// `None`: the faulty poll succeeds; `Some(text)`: it fails saying this.
    error: Option<&'static str>,
}

/// Runs the hostile profile into `case.faults` beside a healthy profile, then a clean
/// follow-up poll; returns the worker's output of the faulty poll.
fn run_fake_case(case: FakeCase) -> Output {
    let tmp = tempfile::tempdir().expect("tempdir");
    let pw = WorkerSetup::password_file(tmp.path(), "pw", PASSWORD).expect("pw");
    let smtp = FakeSmtp::start().expect("fake smtp");
    let hostile = FakePop3::start(case.messages.clone()).expect("fake pop3");
    hostile.set_faults(case.faults);
    let healthy_sent = messages(900..903, 3_000);
    let healthy = FakePop3::start(healthy_sent.clone()).expect("fake pop3");
    let mut bad = fake_profile("hostile", hostile.port(), &pw, smtp.port(), "alice");
    bad.remote_extra.push('\n');
    bad.remote_extra.push_str(case.remote_extra);
    let good = fake_profile("healthy", healthy.port(), &pw, smtp.port(), "bob");
    let setup = WorkerSetup::new(&[bad, good]).expect("setup");

    let started = Instant::now();
    let out = setup.run_once().expect("run");
    let took = started.elapsed();
    let all = text(&out);
    match case.error {
        None => assert!(out.status.success(), "{all}"),
        Some(error) => {
            assert!(!out.status.success(), "{all}");
            let line = summary_line(&out, "hostile");
            assert!(
                line.contains("FAILED") && line.contains(error),
                "{error:?} not in the summary line {line:?}\n{all}"
            );
        }
    }
    assert!(took < Duration::from_secs(15), "the poll took {took:?}");
    // The healthy profile delivered everything regardless.
    assert!(summary_line(&out, "healthy").ends_with(" ok"), "{all}");
    assert_exactly_once_or_remote(&smtp, "bob@local.test", &healthy_sent, &[]);
    assert_eq!(healthy.message_count(), 0);
    // Whatever the fault did, nothing was lost or doubled so far ...
    assert_no_loss_no_duplicate(
        &smtp,
        "alice@local.test",
        &case.messages,
        &hostile.messages(),
    );
    // ... and a clean follow-up poll finishes the job.
    hostile.clear_faults();
    let again = setup.run_once().expect("run");
    let remote = hostile.messages();
    assert_exactly_once_or_remote(&smtp, "alice@local.test", &case.messages, &remote);
    if remote.is_empty() {
        assert!(again.status.success(), "{}", text(&again));
    }
    // Byte for byte: what arrived is a trace header followed by the message, never a
    // truncated or altered copy.
    for accepted in smtp.accepted() {
        let original = case
            .messages
            .iter()
            .chain(&healthy_sent)
            .find(|m| {
                message_ids(std::slice::from_ref(&accepted.data))
                    == message_ids(std::slice::from_ref(*m))
            })
            .expect("a message we sent");
        assert!(
            accepted.data.starts_with(b"Received: from localhost by ")
                && accepted.data.ends_with(original),
            "{:?} arrived altered",
            message_ids(std::slice::from_ref(original))
        );
    }
    out
}

#[test]
fn pop3_server_dripping_one_byte_at_a_time_is_given_up() {
    run_fake_case(FakeCase {
        faults: vec![Pop3Fault::Trickle {
            message: 2,
            every: Duration::from_millis(400),
        }],
        messages: messages(0..3, 3_000),
        remote_extra: "",
        error: Some("server too slow: only"),
    });
}

#[test]
fn pop3_server_stalling_trips_the_read_timeout() {
    run_fake_case(FakeCase {
        faults: vec![Pop3Fault::Trickle {
            message: 1,
            every: Duration::from_secs(60),
        }],
        messages: messages(10..13, 3_000),
        remote_extra: "",
        error: Some("timed out after 2s waiting for reply to RETR 1"),
    });
}

#[test]
fn pop3_ten_megabyte_line_hits_the_line_limit() {
    run_fake_case(FakeCase {
        faults: vec![Pop3Fault::HugeLine {
            message: 2,
            bytes: 10 * 1024 * 1024,
        }],
        messages: messages(20..23, 3_000),
        remote_extra: "",
        error: Some("data line length limit of 1048576 bytes exceeded during RETR 2"),
    });
}

#[test]
fn pop3_invalid_utf8_and_nul_bytes_are_carried_not_fatal() {
    let mut binary = sample_message(30, 2_000, "isp-user@isp.example");
    binary.extend_from_slice(b"nul \0 and invalid utf-8 \xff\xfe\xc3\x28 in the body\r\n");
    let mut all = messages(31..33, 3_000);
    all.push(binary.clone());
    let smtp_check = run_fake_case(FakeCase {
        faults: vec![Pop3Fault::GarbageText],
        messages: all,
        remote_extra: "",
        error: None,
    });
    assert!(summary_line(&smtp_check, "hostile").ends_with(" ok"));
}

#[test]
fn pop3_broken_dot_stuffing_is_refused_not_truncated() {
    run_fake_case(FakeCase {
        faults: vec![Pop3Fault::NoDotStuffing { message: 2 }],
        messages: messages(40..43, 3_000),
        remote_extra: "",
        error: Some("more bytes after the end of the message"),
    });
}

#[test]
fn pop3_message_larger_than_list_said_is_bounded_by_max_message_mb() {
    // Message 1 is larger than LIST says but within limits: delivered. Message 2 claims 100
    // bytes and is 2 MB against max_message_mb = 1: refused while reading, stays remote.
    let mut all = messages(50..51, 3_000);
    all.push(sample_message(51, 2 * 1024 * 1024, "isp-user@isp.example"));
    all.extend(messages(52..53, 3_000));
    run_fake_case(FakeCase {
        faults: vec![
            Pop3Fault::ListSize {
                message: 1,
                size: 100,
            },
            Pop3Fault::ListSize {
                message: 2,
                size: 100,
            },
        ],
        messages: all,
        remote_extra: "max_message_mb = 1",
        error: Some("message size limit of 1048576 bytes exceeded during RETR 2"),
    });
}

#[test]
fn pop3_repeated_uidl_is_refused_before_anything_is_fetched() {
    run_fake_case(FakeCase {
        faults: vec![Pop3Fault::RepeatedUidl { message: 3 }],
        messages: messages(60..63, 3_000),
        remote_extra: "",
        error: Some("duplicate unique id \"fake-uid-1\" for messages 1 and 3"),
    });
}
