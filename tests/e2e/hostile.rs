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
use mailpull_tests::fake_smtp::{FakeSmtp, Fault, Step};
use std::path::PathBuf;

use mailpull_tests::proxy::{Action, FaultProxy, Trigger};
use mailpull_tests::{
    ProfileSpec, RemoteDovecot, TestCa, WorkerSetup, message_ids, output_text, sample_message,
};

const PASSWORD: &str = "remote-secret-1";
const REMOTE_USER: &str = "isp-user";
/// The healthy scripted server's user: another mailbox than the one under test.
const HEALTHY_USER: &str = "healthy-user";

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

/// How much more memory a faulty poll may take than a clean one: the 1 MiB line or message
/// limit, buffered once and copied once, with room for the allocator. A worker that read a
/// 10 MB line or an oversized message whole would exceed it.
const FAULT_MEMORY_ALLOWANCE_KIB: u64 = 4 * 1024;

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
    let mut good = fake_profile("healthy", healthy.port(), &pw, smtp.port(), "bob");
    // Another mailbox: `check` refuses two profiles on one (same host and user).
    good.username = HEALTHY_USER.into();
    let setup = WorkerSetup::new(&[bad, good]).expect("setup");

    let started = Instant::now();
    let (out, faulty_peak_kib) = setup.run_once_measured().expect("run");
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
    let (again, clean_peak_kib) = setup.run_once_measured().expect("run");
    // Memory stays bounded: the faulty poll (a 10 MB line, a message larger than LIST said,
    // a stall ...) needs at most a few MiB more than a clean poll of the same mailbox; the
    // line and message limits (1 MiB here) are what it may buffer.
    eprintln!("peak memory: faulty poll {faulty_peak_kib} KiB, clean poll {clean_peak_kib} KiB");
    assert!(
        faulty_peak_kib <= clean_peak_kib + FAULT_MEMORY_ALLOWANCE_KIB,
        "the faulty poll peaked at {faulty_peak_kib} KiB, the clean one at {clean_peak_kib} KiB"
    );
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

// ---------------------------------------------------------------------------------------------
// Connection drops after each protocol step, FaultProxy in front of the real Dovecot.

struct DropRig {
    _tmp: tempfile::TempDir,
    remote: RemoteDovecot,
    smtp: FakeSmtp,
    healthy: FakePop3,
    password_file: PathBuf,
    ca_file: PathBuf,
    _ca: TestCa,
    /// Cases whose error text was not the expected one (reported together at the end).
    mismatches: std::cell::RefCell<Vec<String>>,
}

fn drop_rig() -> DropRig {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(tmp.path()).expect("ca");
    let remote = RemoteDovecot::start(&ca).expect("dovecot");
    remote.add_user(REMOTE_USER, PASSWORD).expect("user");
    let password_file = WorkerSetup::password_file(tmp.path(), "pw", PASSWORD).expect("pw");
    DropRig {
        smtp: FakeSmtp::start().expect("fake smtp"),
        healthy: FakePop3::start(Vec::new()).expect("fake pop3"),
        ca_file: ca.ca_file().to_path_buf(),
        _ca: ca,
        _tmp: tmp,
        remote,
        password_file,
        mismatches: Default::default(),
    }
}

impl DropRig {
    /// The proxied profile ("isp") and the healthy one, in one config.
    fn setup(&self, protocol: &'static str, security: &'static str, port: u16) -> WorkerSetup {
        let mut isp = fake_profile("isp", port, &self.password_file, self.smtp.port(), "alice");
        isp.protocol = protocol;
        isp.security = security;
        isp.ca_file = Some(self.ca_file.clone());
        let mut good = fake_profile(
            "healthy",
            self.healthy.port(),
            &self.password_file,
            self.smtp.port(),
            "bob",
        );
        good.username = HEALTHY_USER.into();
        WorkerSetup::new(&[isp, good]).expect("setup")
    }

    fn assert_no_mismatch(&self) {
        let mismatches = self.mismatches.borrow();
        assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    }

    /// Puts three new messages on the remote and one on the healthy server.
    fn fill(&self, case: usize) -> (Vec<Vec<u8>>, Vec<u8>) {
        let sent = messages(1000 + case * 10..1000 + case * 10 + 3, 2_500);
        for raw in &sent {
            self.remote.add_message(REMOTE_USER, raw).expect("add");
        }
        let healthy = sample_message(5000 + case, 1_500, "bob@isp.example");
        self.healthy.add(healthy.clone());
        (sent, healthy)
    }

    /// Runs one drop case: faulty poll (error `expect`, or success), then a clean poll, then
    /// the remote must be empty and every message delivered exactly once.
    fn run_case(
        &self,
        setup: &WorkerSetup,
        proxy: &FaultProxy,
        case: usize,
        (trigger, action, expect): (Trigger, Action, Option<&str>),
    ) {
        let label = format!("case {case}: {trigger:?} {action:?}");
        let (sent, healthy) = self.fill(case);
        let fired = proxy.fired();
        proxy.arm(trigger, action);
        let out = setup.run_once().expect("run");
        proxy.disarm();
        assert_eq!(
            proxy.fired(),
            fired + 1,
            "{label}: the fault never fired\n{}",
            text(&out)
        );
        let line = summary_line(&out, "isp");
        match expect {
            None => assert!(out.status.success(), "{label}\n{}", text(&out)),
            Some(expect) => {
                if !(line.contains("FAILED") && line.contains(expect)) {
                    self.mismatches
                        .borrow_mut()
                        .push(format!("{label}: {expect:?} not in {line:?}"));
                }
            }
        }
        assert!(
            summary_line(&out, "healthy").ends_with(" ok"),
            "{label}\n{}",
            text(&out)
        );
        assert_exactly_once_or_remote(&self.smtp, "bob@local.test", &[healthy], &[]);
        let remote = self
            .remote
            .messages_in(REMOTE_USER, "INBOX")
            .expect("remote");
        assert_no_loss_no_duplicate(&self.smtp, "alice@local.test", &sent, &remote);
        let out = setup.run_once().expect("run");
        assert!(out.status.success(), "{label}: clean poll\n{}", text(&out));
        assert_eq!(
            self.remote.message_count(REMOTE_USER).expect("count"),
            0,
            "{label}"
        );
        assert_exactly_once_or_remote(&self.smtp, "alice@local.test", &sent, &[]);
    }
}

fn cut() -> Action {
    Action::CutBeforeForwarding
}

fn after() -> Action {
    Action::CutAfterReply
}

#[test]
fn pop3_connection_dropped_after_each_step_loses_and_doubles_nothing() {
    let rig = drop_rig();
    let proxy = FaultProxy::start(([127, 0, 0, 1], rig.remote.pop3_port()).into()).expect("proxy");
    let setup = rig.setup("pop3", "plain", proxy.port());
    let closed = "connection closed by the server during";
    let cases: Vec<(Trigger, Action, Option<&str>)> = vec![
        (Trigger::ServerBytes(0), cut(), Some("during greeting")),
        (Trigger::line("CAPA", 1), cut(), Some("during CAPA")),
        (Trigger::line("CAPA", 1), after(), Some("during AUTH PLAIN")),
        (Trigger::line("AUTH", 1), cut(), Some("during AUTH PLAIN")),
        (Trigger::line("AUTH", 1), after(), Some("during UIDL")),
        (Trigger::line("UIDL", 1), cut(), Some("during UIDL")),
        (Trigger::line("UIDL", 1), after(), Some("during LIST")),
        (Trigger::line("LIST", 1), after(), Some("during RETR 1")),
        (Trigger::line("RETR", 1), cut(), Some("during RETR 1")),
        (
            Trigger::line("RETR", 2),
            Action::CutMidReply { after_bytes: 300 },
            Some("during RETR 2"),
        ),
        (Trigger::line("RETR", 3), after(), Some("during DELE 3")),
        (Trigger::line("DELE", 1), cut(), Some("during DELE 1")),
        (Trigger::line("DELE", 1), after(), Some("during RETR 2")),
        (Trigger::line("DELE", 3), cut(), Some("during DELE 3")),
        (Trigger::line("DELE", 3), after(), Some("during QUIT")),
        (Trigger::line("QUIT", 1), cut(), Some("during QUIT")),
        // The server answered +OK to QUIT: the deletions are committed, the poll succeeded.
        (Trigger::line("QUIT", 1), after(), None),
    ];
    for (i, (trigger, action, expect)) in cases.into_iter().enumerate() {
        let expect = expect.map(|e| format!("{closed} {}", e.trim_start_matches("during ")));
        rig.run_case(&setup, &proxy, i, (trigger, action, expect.as_deref()));
    }
    rig.assert_no_mismatch();
}

#[test]
fn pop3_connection_dropped_at_stls_fails_closed() {
    let rig = drop_rig();
    let proxy = FaultProxy::start(([127, 0, 0, 1], rig.remote.pop3_port()).into()).expect("proxy");
    let setup = rig.setup("pop3", "starttls", proxy.port());
    // Before STLS is forwarded, and right after the server's +OK (the TLS handshake then
    // meets a closed connection). Both end the poll; nothing is sent in plain text.
    let cases: Vec<(Trigger, Action, Option<&str>)> = vec![
        (
            Trigger::line("STLS", 1),
            cut(),
            Some("connection closed by the server during STLS"),
        ),
        (
            Trigger::line("STLS", 1),
            after(),
            Some("TLS handshake with localhost"),
        ),
    ];
    for (i, case) in cases.into_iter().enumerate() {
        let (sent, healthy) = rig.fill(100 + i);
        let fired = proxy.fired();
        proxy.arm(case.0, case.1);
        let out = setup.run_once().expect("run");
        proxy.disarm();
        assert_eq!(proxy.fired(), fired + 1);
        let line = summary_line(&out, "isp");
        let expect = case.2.unwrap_or_default();
        assert!(
            line.contains(expect),
            "{expect:?} not in {line:?}\n{}",
            text(&out)
        );
        assert!(
            summary_line(&out, "healthy").ends_with(" ok"),
            "{}",
            text(&out)
        );
        assert_exactly_once_or_remote(&rig.smtp, "bob@local.test", &[healthy], &[]);
        // Nothing fetched, nothing deleted.
        assert_eq!(
            rig.remote.message_count(REMOTE_USER).expect("count"),
            3 * (i + 1)
        );
        assert_exactly_once_or_remote(&rig.smtp, "alice@local.test", &sent, &sent);
    }
}

#[test]
fn imap_connection_dropped_after_each_step_loses_and_doubles_nothing() {
    let rig = drop_rig();
    let proxy = FaultProxy::start(([127, 0, 0, 1], rig.remote.imap_port()).into()).expect("proxy");
    let setup = rig.setup("imap", "plain", proxy.port());
    let cmd = Trigger::command;
    let cases: Vec<(Trigger, Action, Option<&str>)> = vec![
        (Trigger::ServerBytes(0), cut(), Some("greeting")),
        (cmd("LOGIN", 1), cut(), Some("login")),
        (cmd("LOGIN", 1), after(), Some("CAPABILITY")),
        (cmd("CAPABILITY", 1), cut(), Some("CAPABILITY")),
        (cmd("SELECT", 1), cut(), Some("SELECT INBOX")),
        (cmd("SELECT", 1), after(), Some("UID SEARCH ALL")),
        (cmd("UID SEARCH", 1), cut(), Some("UID SEARCH ALL")),
        (cmd("UID SEARCH", 1), after(), Some("UID FETCH RFC822.SIZE")),
        (cmd("UID FETCH", 1), cut(), Some("UID FETCH RFC822.SIZE")),
        (cmd("UID FETCH", 2), cut(), Some("BODY.PEEK[]")),
        (
            cmd("UID FETCH", 3),
            Action::CutMidReply { after_bytes: 300 },
            Some("BODY.PEEK[]"),
        ),
        (cmd("UID FETCH", 4), after(), Some("UID STORE")),
        (cmd("UID STORE", 1), cut(), Some("UID STORE")),
        (cmd("UID STORE", 1), after(), Some("UID FETCH")),
        (cmd("UID STORE", 3), after(), Some("UID EXPUNGE")),
        (cmd("UID EXPUNGE", 1), cut(), Some("UID EXPUNGE")),
        // The tagged OK arrived before the cut: the expunge is confirmed, the poll succeeded.
        (cmd("UID EXPUNGE", 1), after(), None),
        // LOGOUT is best effort: the work is done by then.
        (cmd("LOGOUT", 1), cut(), None),
    ];
    for (i, case) in cases.into_iter().enumerate() {
        rig.run_case(&setup, &proxy, 200 + i, case);
    }
    rig.assert_no_mismatch();
}

#[test]
fn smtp_failures_at_every_step_keep_the_message_until_accepted() {
    let rig = drop_rig();
    let mut spec = fake_profile(
        "isp",
        rig.remote.pop3_port(),
        &rig.password_file,
        rig.smtp.port(),
        "alice",
    );
    spec.security = "plain";
    let setup = WorkerSetup::new(&[spec]).expect("setup");
    let mut cases: Vec<(Step, Fault, &str)> = Vec::new();
    for step in [Step::Mail, Step::Rcpt, Step::Data, Step::EndOfData] {
        for code in [
            "421 4.3.0",
            "451 4.3.0",
            "452 4.3.1",
            "550 5.1.1",
            "552 5.3.4",
            "554 5.7.1",
        ] {
            let reply = format!("{code} scripted failure");
            // A 4xx to this one message skips it (the poll goes on); 421 is the server's.
            let expect = if code.starts_with("421") {
                "delivery deferred"
            } else {
                "left on the server"
            };
            cases.push((step, Fault::Reply(reply), expect));
        }
        cases.push((step, Fault::Drop, "delivery deferred"));
    }
    // The reply after the data never comes: the SMTP timeout (twice the profile's 2 s) ends
    // the wait. The local server may have taken the message: Mailpull keeps it on the remote
    // and delivers it again on the next poll (a possible duplicate, never a loss).
    cases.push((Step::EndOfData, Fault::Hang, "delivery deferred"));
    for (i, (step, fault, expect)) in cases.into_iter().enumerate() {
        let label = format!("{step:?} {fault:?}");
        let sent = messages(3000 + i * 10..3000 + i * 10 + 2, 2_000);
        for raw in &sent {
            rig.remote.add_message(REMOTE_USER, raw).expect("add");
        }
        rig.smtp.fail_next(step, fault.clone(), 1);
        let started = Instant::now();
        let out = setup.run_once().expect("run");
        assert!(
            started.elapsed() < Duration::from_secs(12),
            "{label}: {:?}",
            started.elapsed()
        );
        let line = summary_line(&out, "isp");
        assert!(
            !out.status.success() && line.contains(expect),
            "{label}: {expect:?} not in {line:?}\n{}",
            text(&out)
        );
        if let Fault::Reply(reply) = &fault {
            let code = &reply[..3];
            assert!(
                text(&out).contains(code),
                "{label}: the reply code is named\n{}",
                text(&out)
            );
        }
        let remote = rig
            .remote
            .messages_in(REMOTE_USER, "INBOX")
            .expect("remote");
        assert!(
            !remote.is_empty(),
            "{label}: the refused message stays on the remote"
        );
        assert_no_loss_no_duplicate(&rig.smtp, "alice@local.test", &sent, &remote);
        rig.smtp.clear_faults();
        // A message skipped for a reason of its own waits for its retry delay (a minute at
        // first): let the delay pass.
        rusqlite::Connection::open(setup.state_dir().join("state.sqlite3"))
            .and_then(|db| db.execute("UPDATE attempts SET next_at = 0", []))
            .expect("the retry delay over");
        let out = setup.run_once().expect("run");
        assert!(out.status.success(), "{label}: clean poll\n{}", text(&out));
        assert_eq!(
            rig.remote.message_count(REMOTE_USER).expect("count"),
            0,
            "{label}"
        );
        assert_exactly_once_or_remote(&rig.smtp, "alice@local.test", &sent, &[]);
    }
    // Only a fault after the data leaves data received but unanswered (the drop and the hang
    // at the end of the data); a real server might have delivered those, so Mailpull keeps the
    // message and the next poll delivers it: at worst a duplicate, never a loss.
    assert_eq!(
        rig.smtp.unanswered().len(),
        2,
        "the drop and the hang after the data"
    );
}

/// A RETR the server answers `-ERR` for one message (the session goes on) skips that message
/// only: the rest of the mailbox is delivered in the same poll, and the message stays on the
/// server, counted for a later attempt.
#[test]
fn a_retr_refused_for_one_message_skips_only_that_message() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let pw = WorkerSetup::password_file(tmp.path(), "pw", PASSWORD).expect("pw");
    let smtp = FakeSmtp::start().expect("fake smtp");
    let sent = messages(0..4, 2_000);
    let pop3 = FakePop3::start(sent.clone()).expect("fake pop3");
    pop3.set_faults(vec![Pop3Fault::RetrErr { message: 2 }]);
    let spec = fake_profile("retr", pop3.port(), &pw, smtp.port(), "alice");
    let setup = WorkerSetup::new(&[spec]).expect("setup");
    let out = setup.run_once().expect("run");
    let all = text(&out);
    let left = pop3.messages();
    assert_eq!(message_ids(&left), message_ids(&sent[1..2]), "{all}");
    assert_exactly_once_or_remote(&smtp, "alice@local.test", &sent, &left);
    assert!(all.contains("message unavailable"), "{all}");
    let db = rusqlite::Connection::open(setup.state_dir().join("state.sqlite3")).expect("db");
    let attempts: u32 = db
        .query_row("SELECT attempts FROM attempts", [], |row| row.get(0))
        .expect("the attempt is counted");
    assert_eq!(attempts, 1);
}

/// A message over max_message_mb that the server announced with a wrong (or no usable) size
/// is found out while reading; the rest of it is unread, so that poll stops there, but the
/// attempt is the message's: the next poll passes over it (its retry delay) and delivers the
/// rest of the mailbox instead of stopping at it again.
#[test]
fn a_message_over_the_limit_announced_too_small_does_not_block_the_mailbox() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let pw = WorkerSetup::password_file(tmp.path(), "pw", PASSWORD).expect("pw");
    let smtp = FakeSmtp::start().expect("fake smtp");
    let mut sent = messages(70..71, 3_000);
    sent.push(sample_message(71, 2 * 1024 * 1024, "isp-user@isp.example"));
    sent.extend(messages(72..74, 3_000));
    let pop3 = FakePop3::start(sent.clone()).expect("fake pop3");
    pop3.set_faults(vec![Pop3Fault::ListSize {
        message: 2,
        size: 100,
    }]);
    let mut spec = fake_profile("big", pop3.port(), &pw, smtp.port(), "alice");
    spec.remote_extra.push_str("\nmax_message_mb = 1");
    let setup = WorkerSetup::new(&[spec]).expect("setup");
    let first = setup.run_once().expect("run");
    assert!(!first.status.success(), "{}", text(&first));
    let second = setup.run_once().expect("run");
    let all = format!("{}\n{}", text(&first), text(&second));
    let left = pop3.messages();
    assert_eq!(message_ids(&left), message_ids(&sent[1..2]), "{all}");
    assert_exactly_once_or_remote(&smtp, "alice@local.test", &sent, &left);
}

impl DropRig {
    /// A plain-IMAP profile "isp" reaching the real Dovecot through a fault proxy, with
    /// `remote_extra` in its remote table: the proxy and the worker set-up.
    fn imap_through_proxy(&self, remote_extra: &str) -> (FaultProxy, WorkerSetup) {
        let proxy =
            FaultProxy::start(([127, 0, 0, 1], self.remote.imap_port()).into()).expect("proxy");
        let mut isp = fake_profile(
            "isp",
            proxy.port(),
            &self.password_file,
            self.smtp.port(),
            "alice",
        );
        isp.protocol = "imap";
        isp.security = "plain";
        isp.remote_extra = remote_extra.into();
        let setup = WorkerSetup::new(&[isp]).expect("setup");
        (proxy, setup)
    }
}

/// Each of `messages` by its Message-ID, once: what `accepted_ids` should find.
fn once_each(messages: &[&Vec<u8>]) -> HashMap<String, usize> {
    messages
        .iter()
        .map(|raw| (message_ids(std::slice::from_ref(*raw)).remove(0), 1))
        .collect()
}

/// Another client expunges a message between the listing and its FETCH (real Dovecot; the
/// proxy only holds the FETCH back for a moment): the FETCH brings no body, or a NO, for that
/// message alone. It is skipped and the rest of the folder is delivered in the same poll.
#[test]
fn imap_message_gone_before_its_fetch_skips_only_that_message() {
    let rig = drop_rig();
    let (proxy, setup) = rig.imap_through_proxy("timeout = \"15s\"");
    let sent = messages(400..403, 3_000);
    for raw in &sent {
        rig.remote.add_message(REMOTE_USER, raw).expect("add");
    }
    // UID FETCH 1: the sizes; 2: the body of the first message; 3: that of the second.
    proxy.arm(
        Trigger::command("UID FETCH", 3),
        Action::Stall(Duration::from_secs(3)),
    );
    let mut worker = setup.spawn(true).expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(20);
    while proxy.fired() == 0 {
        assert!(Instant::now() < deadline, "the FETCH never came");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Meanwhile another client expunges the second message: its file goes.
    let gone = &message_ids(&sent[1..2])[0];
    let maildir = rig.remote.maildir(REMOTE_USER);
    let mut removed = 0;
    for sub in ["new", "cur"] {
        for entry in std::fs::read_dir(maildir.join(sub)).expect("maildir") {
            let path = entry.expect("entry").path();
            let bytes = std::fs::read(&path).expect("read");
            if message_ids(&[bytes]).first() == Some(gone) {
                std::fs::remove_file(&path).expect("remove");
                removed += 1;
            }
        }
    }
    assert_eq!(removed, 1);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = worker.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "the worker did not finish");
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = std::fs::read_to_string(setup.dir.path().join("worker.stderr")).unwrap_or_default();
    assert!(!status.success(), "the skipped message is reported\n{log}");
    let counts = accepted_ids(&rig.smtp, "alice@local.test");
    let wanted = once_each(&[&sent[0], &sent[2]]);
    assert_eq!(counts, wanted, "{log}");
    assert!(log.contains("BODY.PEEK[]"), "{log}");
    assert_eq!(
        rig.remote.message_count(REMOTE_USER).expect("count"),
        0,
        "{log}"
    );
}

/// The server answers the FETCH of one message's body with a tagged NO (a server bug, a file it
/// cannot read) and the connection stays good (the proxy answers in Dovecot's place): that
/// message alone is skipped and stays on the server, the rest of the folder is delivered in
/// the same poll (before: the NO ended the poll and held back every message after it). Its
/// attempt keeps no From, Subject or size: the body never came.
#[test]
fn imap_fetch_answered_no_skips_only_that_message() {
    let rig = drop_rig();
    let (proxy, setup) = rig.imap_through_proxy("");
    let sent = messages(410..413, 3_000);
    for raw in &sent {
        rig.remote.add_message(REMOTE_USER, raw).expect("add");
    }
    // UID FETCH 1: the sizes; 2: the body of the first message; 3: that of the second.
    proxy.arm(
        Trigger::command("UID FETCH", 3),
        Action::imap_tagged("NO [SERVERBUG] Internal error occurred. Refer to server log"),
    );
    let out = setup.run_once().expect("run");
    let log = text(&out);
    assert_eq!(proxy.fired(), 1, "{log}");
    assert!(
        !out.status.success(),
        "the skipped message is reported\n{log}"
    );
    let counts = accepted_ids(&rig.smtp, "alice@local.test");
    let wanted = once_each(&[&sent[0], &sent[2]]);
    assert_eq!(counts, wanted, "{log}");
    let left = rig.remote.message_count(REMOTE_USER).expect("count");
    assert_eq!(left, 1, "the refused message stays on the server\n{log}");
    // Its body never came: its attempt knows nothing of what the message is (the Held page
    // names it by folder and UID).
    let db = rusqlite::Connection::open(setup.state_dir().join("state.sqlite3")).expect("db");
    let row: (u32, Option<i64>, Option<String>, Option<String>) = db
        .query_row(
            "SELECT attempts, size, sender, subject FROM attempts",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
        )
        .expect("the attempts row");
    assert_eq!(row, (1, None, None, None), "{log}");
}

/// The wait for a message's body grows with its announced size: a 128 KB message whose FETCH
/// answer is held back 4 s (the proxy) is delivered with `timeout = "2s"`, the profile's
/// timeout plus 8 s for its size at 16 KiB/s (before: the one fixed timeout cut it off).
#[test]
fn imap_fetch_of_a_large_message_waits_longer_than_one_timeout() {
    let rig = drop_rig();
    let (proxy, setup) = rig.imap_through_proxy("");
    let sent = vec![sample_message(600, 128 * 1024, "isp-user@isp.example")];
    rig.remote.add_message(REMOTE_USER, &sent[0]).expect("add");
    // UID FETCH 1: the sizes; 2: the body.
    proxy.arm(
        Trigger::command("UID FETCH", 2),
        Action::Stall(Duration::from_secs(4)),
    );
    let out = setup.run_once().expect("run");
    let log = text(&out);
    assert_eq!(proxy.fired(), 1, "{log}");
    assert!(out.status.success(), "{log}");
    assert_exactly_once_or_remote(&rig.smtp, "alice@local.test", &sent, &[]);
    assert_eq!(rig.remote.message_count(REMOTE_USER).expect("count"), 0);
}
