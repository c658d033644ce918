//! Faults of the worker's own state directory: a full disk (a small tmpfs filled up) and a
//! read-only file system (the tmpfs remounted `ro`). The worker must stop pulling, say why,
//! lose nothing (every message delivered once or still on the remote), and carry on without
//! a duplicate once space is freed or the file system is writable again.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use mailpull_tests::mount::Tmpfs;
use mailpull_tests::{
    LocalMailServer, ProfileSpec, RemoteDovecot, RemoteOptions, TestCa, WorkerSetup, message_ids,
    output_text, sample_message,
};

const PASSWORD: &str = "remote-secret-1";
const USER: &str = "isp-user";

struct Rig {
    _tmp: tempfile::TempDir,
    ca: TestCa,
    remote: RemoteDovecot,
    local: LocalMailServer,
    password_file: PathBuf,
    sent: Vec<Vec<u8>>,
}

impl Rig {
    fn start() -> Rig {
        let tmp = tempfile::tempdir().expect("tempdir");
        let ca = TestCa::new(tmp.path()).expect("test CA");
        let remote = RemoteDovecot::start_with(RemoteOptions::new(&ca)).expect("remote dovecot");
        remote.add_user(USER, PASSWORD).expect("add user");
        let local = LocalMailServer::start(&["alice"]).expect("local postfix");
        let password_file = WorkerSetup::password_file(tmp.path(), USER, PASSWORD).expect("pw");
        Rig {
            _tmp: tmp,
            ca,
            remote,
            local,
            password_file,
            sent: Vec::new(),
        }
    }

    fn add(&mut self, count: usize) {
        for _ in 0..count {
            let raw = sample_message(self.sent.len(), 3_000, "isp-user@isp.example");
            self.remote.add_message(USER, &raw).expect("add message");
            self.sent.push(raw);
        }
    }

    fn setup(&self, protocol: &'static str) -> WorkerSetup {
        let port = match protocol {
            "pop3" => self.remote.pop3s_port(),
            _ => self.remote.imaps_port(),
        };
        let mut spec = ProfileSpec::new(
            "isp",
            port,
            USER,
            &self.password_file,
            self.local.smtp_port(),
            "alice",
        );
        spec.protocol = protocol;
        spec.ca_file = Some(self.ca.ca_file().to_path_buf());
        WorkerSetup::new(&[spec]).expect("setup")
    }

    /// Every sent message is either on the remote (and then not delivered) or delivered once;
    /// with `all_delivered` none may be left on the remote. Waits for Postfix to settle.
    fn check(&self, all_delivered: bool) {
        let remote_ids = message_ids(&self.remote.messages(USER).expect("remote messages"));
        let expected = self.sent.len() - remote_ids.len();
        let _ = self
            .local
            .wait_for_messages("alice", expected, Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(500));
        let mut counts: HashMap<String, usize> = HashMap::new();
        for id in message_ids(&self.local.messages("alice").expect("local messages")) {
            *counts.entry(id).or_insert(0) += 1;
        }
        for id in message_ids(&self.sent) {
            let n = counts.get(&id).copied().unwrap_or(0);
            if remote_ids.contains(&id) {
                assert!(
                    !all_delivered,
                    "{id} still on the remote after a clean poll"
                );
                assert!(n <= 1, "{id} delivered {n} times");
            } else {
                assert_eq!(n, 1, "{id} delivered {n} times and not on the remote");
            }
        }
    }
}

/// Runs the worker once into the fault: it must fail and name the state database.
fn expect_state_failure(setup: &WorkerSetup, cause: &str) -> String {
    let out = setup.run_once().expect("run");
    let text = output_text(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("state database") && text.contains(cause),
        "the error names the state database and {cause:?}:\n{text}"
    );
    text
}

#[test]
fn a_full_state_disk_stops_pulling_and_resumes_without_duplicates() {
    for protocol in ["pop3", "imap"] {
        let mut rig = Rig::start();
        let setup = rig.setup(protocol);
        let disk = Tmpfs::mount(&setup.state_dir(), 1024).expect("mount tmpfs");
        rig.add(5);
        let out = setup.run_once().expect("run");
        assert!(out.status.success(), "{}", output_text(&out));
        rig.check(true);

        disk.fill("filler").expect("fill");
        rig.add(10);
        let text = expect_state_failure(&setup, "disk full");
        eprintln!(
            "{protocol} full disk: {}",
            text.lines().last().unwrap_or_default()
        );
        rig.check(false);
        assert!(
            rig.remote.message_count(USER).expect("count") >= 1,
            "nothing can have been recorded, so nothing may have been deleted"
        );

        std::fs::remove_file(disk.path().join("filler")).expect("free space");
        let out = setup.run_once().expect("run");
        assert!(out.status.success(), "{}", output_text(&out));
        rig.check(true);
        assert_eq!(rig.remote.message_count(USER).expect("count"), 0);
    }
}

#[test]
fn a_read_only_state_database_stops_pulling_and_resumes_without_duplicates() {
    for protocol in ["pop3", "imap"] {
        let mut rig = Rig::start();
        let setup = rig.setup(protocol);
        let disk = Tmpfs::mount(&setup.state_dir(), 4096).expect("mount tmpfs");
        // Logs stay writable: this test is about the database alone.
        let _logs = Tmpfs::mount(&setup.state_dir().join("logs"), 4096).expect("mount logs");
        rig.add(5);
        let out = setup.run_once().expect("run");
        assert!(out.status.success(), "{}", output_text(&out));
        rig.check(true);

        // Modes left open by an earlier start: the worker cannot fix them on a read-only
        // file system, and must still stop with the database's own words.
        {
            use std::os::unix::fs::PermissionsExt as _;
            let open = |path: std::path::PathBuf, mode: u32| {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                    .expect("chmod");
            };
            open(setup.state_dir(), 0o755);
            open(setup.state_dir().join("state.sqlite3"), 0o644);
        }
        disk.set_read_only(true).expect("remount ro");
        rig.add(10);
        let text = expect_state_failure(&setup, "read-only");
        eprintln!(
            "{protocol} read-only: {}",
            text.lines().last().unwrap_or_default()
        );
        rig.check(false);
        assert_eq!(
            rig.remote.message_count(USER).expect("count"),
            10,
            "nothing delivered or deleted while the state is read-only"
        );

        disk.set_read_only(false).expect("remount rw");
        let out = setup.run_once().expect("run");
        assert!(out.status.success(), "{}", output_text(&out));
        rig.check(true);
        assert_eq!(rig.remote.message_count(USER).expect("count"), 0);
    }
}

/// A running worker (`run`, scheduled) whose state disk fills up between two polls.
struct Daemon {
    child: std::process::Child,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn worker_cli(setup: &WorkerSetup, args: &[&str]) -> std::process::Output {
    std::process::Command::new(mailpull_tests::worker_binary().expect("worker binary"))
        .args(args)
        .arg("--config")
        .arg(&setup.config)
        .output()
        .expect("run CLI")
}

/// Waits until the worker's stderr holds `needle` `times` times; returns the stderr.
fn wait_stderr(setup: &WorkerSetup, needle: &str, times: usize) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let text =
            std::fs::read_to_string(setup.dir.path().join("worker.stderr")).unwrap_or_default();
        if text.matches(needle).count() >= times {
            return text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no {needle:?} ({times}x) in the worker's stderr:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_state_disk_filling_up_under_a_running_worker_stops_its_polls_until_freed() {
    let mut rig = Rig::start();
    let setup = rig.setup("pop3");
    let disk = Tmpfs::mount(&setup.state_dir(), 1024).expect("mount tmpfs");
    rig.add(5);
    let _worker = Daemon {
        child: setup.spawn(false).expect("spawn worker"),
    };
    wait_stderr(&setup, "poll done", 1);
    rig.check(true);

    disk.fill("filler").expect("fill");
    rig.add(10);
    let out = worker_cli(&setup, &["poll-now", "isp"]);
    assert!(out.status.success(), "{}", output_text(&out));
    let log = wait_stderr(&setup, "poll failed", 1);
    let line = log
        .lines()
        .find(|l| l.contains("poll failed"))
        .unwrap_or_default();
    eprintln!("running worker, full disk: {line}");
    assert!(
        line.contains("state database") && line.contains("disk full"),
        "{line}"
    );
    rig.check(false);
    // The worker still answers.
    let out = worker_cli(&setup, &["status"]);
    assert!(out.status.success(), "{}", output_text(&out));

    std::fs::remove_file(disk.path().join("filler")).expect("free space");
    let out = worker_cli(&setup, &["poll-now", "isp"]);
    assert!(out.status.success(), "{}", output_text(&out));
    wait_stderr(&setup, "poll done", 2);
    rig.check(true);
    assert_eq!(rig.remote.message_count(USER).expect("count"), 0);
}
