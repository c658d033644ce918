//! Owner-only state (issue #13 §2): a worker started with umask 000 still keeps its state
//! directory 0700 and its database, lock, owner and log files 0600, and a start fixes the
//! modes an earlier, looser start left behind. Real Dovecot and Postfix; the worker binary
//! is started by `sh -c 'umask 000; exec …'`.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;

use mailpull_tests::{
    LocalMailServer, ProfileSpec, RemoteDovecot, TestCa, WorkerSetup, output_text, sample_message,
    worker_binary,
};

const PASSWORD: &str = "permissions-secret";

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("meta").permissions().mode() & 0o777
}

/// Every directory and file the worker made, with its mode, where one is not owner-only.
fn loose_modes(state: &Path) -> Vec<String> {
    let mut loose = Vec::new();
    let mut check = |path: &Path, want: u32| {
        let got = mode(path);
        if got != want {
            loose.push(format!("{}: {got:o}, want {want:o}", path.display()));
        }
    };
    check(state, 0o700);
    check(&state.join("logs"), 0o700);
    for dir in [state.to_path_buf(), state.join("logs")] {
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_file() {
                check(&path, 0o600);
            }
        }
    }
    loose
}

fn run_under_umask_000(setup: &WorkerSetup) -> std::process::Output {
    Command::new("sh")
        .args(["-c", "umask 000; exec \"$0\" run --once --config \"$1\""])
        .arg(worker_binary().expect("worker binary"))
        .arg(&setup.config)
        .env("RUST_LOG", "info")
        .output()
        .expect("run")
}

#[test]
fn a_worker_started_with_umask_000_keeps_its_state_and_logs_owner_only() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(tmp.path()).expect("ca");
    let remote = RemoteDovecot::start(&ca).expect("remote");
    remote.add_user("isp-user", PASSWORD).expect("user");
    let local = LocalMailServer::start(&["alice"]).expect("local");
    remote
        .add_message(
            "isp-user",
            &sample_message(1, 1_000, "isp-user@isp.example"),
        )
        .expect("add");
    let password_file =
        WorkerSetup::password_file(tmp.path(), "isp-user", PASSWORD).expect("password file");
    let mut spec = ProfileSpec::new(
        "private",
        remote.pop3s_port(),
        "isp-user",
        &password_file,
        local.smtp_port(),
        "alice",
    );
    spec.ca_file = Some(ca.ca_file().to_path_buf());
    let setup = WorkerSetup::new(&[spec]).expect("setup");
    let state = setup.state_dir();

    let out = run_under_umask_000(&setup);
    assert!(out.status.success(), "{}", output_text(&out));
    let loose = loose_modes(&state);
    assert!(loose.is_empty(), "a fresh start:\n{}", loose.join("\n"));
    for name in ["state.sqlite3", "worker.lock", "worker.owner"] {
        assert!(state.join(name).is_file(), "{name} made");
    }
    let logs: Vec<_> = std::fs::read_dir(state.join("logs"))
        .expect("logs")
        .collect();
    assert!(!logs.is_empty(), "a log file written");

    // An earlier start (an older version, a copy) left everything open: the next start fixes it.
    let open = |path: &Path, m: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(m)).expect("chmod");
    };
    open(&state, 0o777);
    open(&state.join("logs"), 0o777);
    for dir in [state.clone(), state.join("logs")] {
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_file() {
                open(&path, 0o666);
            }
        }
    }
    let out = run_under_umask_000(&setup);
    assert!(out.status.success(), "{}", output_text(&out));
    let loose = loose_modes(&state);
    assert!(
        loose.is_empty(),
        "after a loose start:\n{}",
        loose.join("\n")
    );
    local
        .wait_for_messages("alice", 1, std::time::Duration::from_secs(30))
        .expect("delivered");
}
