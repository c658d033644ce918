//! One worker per state database, one profile per remote mailbox (issue #12, section 3): a
//! second worker on a state directory in use (`run --once` beside a running `run`, a second
//! service with another configuration file on the same `state_dir`) refuses, names the running
//! worker's pid and fetches nothing; `check` refuses two profiles that pull one mailbox.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use mailpull_tests::{
    LocalMailServer, ProfileSpec, RemoteDovecot, TestCa, WorkerSetup, duplicate_ids, output_text,
    sample_message, stop_worker, worker_binary,
};

const PASSWORD: &str = "single-worker-secret";
const WAIT: Duration = Duration::from_secs(30);

/// Adds messages `from..to` to the remote mailbox.
fn add_messages(remote: &RemoteDovecot, from: usize, to: usize) {
    for i in from..to {
        let raw = sample_message(i, 2_000, "isp-user@isp.example");
        remote.add_message("isp-user", &raw).expect("add");
    }
}

/// Waits until the remote mailbox holds `n` messages.
fn wait_remote_count(remote: &RemoteDovecot, n: usize) {
    let deadline = Instant::now() + WAIT;
    loop {
        let count = remote.message_count("isp-user").expect("count");
        if count == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the remote still holds {count} messages, not {n}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `mailpull-worker run --config FILE` (no `--once`), which must exit by itself within 20 s;
/// a worker still running then is stopped and the test fails.
fn run_must_exit(config: &PathBuf) -> Output {
    let mut child = Command::new(worker_binary().expect("worker binary"))
        .arg("run")
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > deadline {
            stop_worker(&mut child);
            let out = child.wait_with_output().expect("output");
            panic!(
                "a second `run` on a state directory in use kept running:\n{}",
                output_text(&out)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.wait_with_output().expect("output")
}

#[test]
fn a_second_worker_on_one_state_directory_refuses_and_names_the_first() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(tmp.path()).expect("ca");
    let remote = RemoteDovecot::start(&ca).expect("remote");
    remote.add_user("isp-user", PASSWORD).expect("user");
    let local = LocalMailServer::start(&["alice"]).expect("local");
    let password_file = WorkerSetup::password_file(tmp.path(), "isp-user", PASSWORD).expect("pw");
    let mut spec = ProfileSpec::new(
        "isp",
        remote.pop3s_port(),
        "isp-user",
        &password_file,
        local.smtp_port(),
        "alice",
    );
    spec.ca_file = Some(ca.ca_file().to_path_buf());
    // The running worker polls at start, then not again for an hour: whatever is fetched
    // afterwards was fetched by the second worker.
    spec.interval = "1h";
    let setup = WorkerSetup::new(&[spec]).expect("setup");
    add_messages(&remote, 0, 3);
    let mut first = setup.spawn_listening().expect("first worker");
    local
        .wait_for_messages("alice", 3, WAIT)
        .unwrap_or_else(|e| panic!("{e:#}\n{}", local.maillog()));
    wait_remote_count(&remote, 0);
    add_messages(&remote, 3, 6);
    let pid = format!("pid {}", first.id());
    let state_dir = setup.state_dir().display().to_string();

    // `run --once` beside the running `run`: refused before it touches the mailbox.
    let out = setup.run_once().expect("run --once");
    let text = output_text(&out);
    assert!(!out.status.success(), "the second worker ran:\n{text}");
    assert!(
        text.contains(&pid),
        "names the running worker ({pid}):\n{text}"
    );
    assert!(text.contains(&state_dir), "names the directory:\n{text}");
    assert_eq!(
        remote.message_count("isp-user").expect("count"),
        3,
        "{text}"
    );
    assert_eq!(local.messages("alice").expect("local").len(), 3, "{text}");

    // A second service: another configuration file, the same state directory.
    let second = setup.dir.path().join("second.toml");
    std::fs::copy(&setup.config, &second).expect("copy config");
    let out = run_must_exit(&second);
    let text = output_text(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains(&pid),
        "names the running worker ({pid}):\n{text}"
    );
    assert_eq!(
        remote.message_count("isp-user").expect("count"),
        3,
        "{text}"
    );

    // The running worker is untouched: its pipe answers and it polls on request.
    let poll = Command::new(worker_binary().expect("worker binary"))
        .args(["poll-now", "isp", "--config"])
        .arg(&setup.config)
        .output()
        .expect("poll-now");
    assert!(poll.status.success(), "{}", output_text(&poll));
    local
        .wait_for_messages("alice", 6, WAIT)
        .unwrap_or_else(|e| panic!("{e:#}\n{}", local.maillog()));
    wait_remote_count(&remote, 0);

    // Once the first worker has stopped, `run --once` works on the same directory.
    stop_worker(&mut first);
    add_messages(&remote, 6, 8);
    let out = setup.run_once().expect("run --once");
    assert!(out.status.success(), "{}", output_text(&out));
    let delivered = local
        .wait_for_messages("alice", 8, WAIT)
        .unwrap_or_else(|e| panic!("{e:#}\n{}", local.maillog()));
    std::thread::sleep(Duration::from_millis(500));
    let delivered_now = local.messages("alice").expect("local");
    assert_eq!(delivered_now.len(), delivered.len(), "nothing more arrived");
    assert_eq!(delivered.len(), 8);
    assert!(duplicate_ids(&delivered).is_empty(), "no message twice");
    assert_eq!(remote.message_count("isp-user").expect("count"), 0);
}

#[test]
fn check_refuses_two_profiles_on_one_remote_mailbox() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(worker_binary().expect("worker binary"))
        .args(["check", "--config"])
        .arg(root.join("shared/tests/config/broken/34-two-profiles-one-mailbox.toml"))
        .output()
        .expect("check");
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "profile \"imap-inbox\": remote.username: pulls the same mailbox as profile \"pop3-inbox\""
        ),
        "{text}"
    );
    // A running worker refuses the same file too: it never starts on it.
    let out = Command::new(worker_binary().expect("worker binary"))
        .args(["run", "--once", "--config"])
        .arg(root.join("shared/tests/config/broken/34-two-profiles-one-mailbox.toml"))
        .output()
        .expect("run --once");
    assert!(!out.status.success(), "{}", output_text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("pulls the same mailbox"),
        "{}",
        output_text(&out)
    );
}
