//! The worker says in its hello how it runs (the Pull Manager's "Served by ..."): a real
//! `mailpull-worker run` started from a terminal, as a systemd unit would start it, and as
//! the window starts it.

use mailpull_shared::ipc::hello::{STARTED_BY_ENV, STARTED_BY_MANAGER};
use mailpull_shared::ipc::{Endpoint, IpcClient, RunMode};
use mailpull_tests::{ProfileSpec, WorkerSetup, stop_worker};

/// The run mode a worker started with `env` tells a client, and the worker's process id.
fn run_mode_with(env: &[(&str, &str)]) -> (RunMode, u32) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let pw = WorkerSetup::password_file(tmp.path(), "u", "pw").expect("password file");
    let port = mailpull_tests::free_port().expect("port");
    let mut spec = ProfileSpec::new("idle", port, "u", &pw, port, "alice");
    spec.interval = "1h";
    let setup = WorkerSetup::new(&[spec]).expect("setup");
    let mut child = setup
        .spawn_listening_with_env(env)
        .expect("worker listening");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let client = rt
        .block_on(IpcClient::connect(&Endpoint::for_config(&setup.config)))
        .expect("connect");
    let mode = client.run_mode().clone();
    drop(client);
    let pid = child.id();
    stop_worker(&mut child);
    (mode, pid)
}

#[test]
fn a_worker_from_a_terminal_says_so_with_its_process_id() {
    let (mode, pid) = run_mode_with(&[]);
    assert_eq!(mode, RunMode::Foreground { pid });
}

#[test]
fn a_worker_under_systemd_says_it_is_a_unit() {
    let (mode, _) = run_mode_with(&[("INVOCATION_ID", "4f1d3c0e9b8a4d7e8a6b5c4d3e2f1a0b")]);
    // The test's own control group names no .service unit (so none is claimed) unless the
    // suite itself runs in one.
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let expected = mailpull_worker::run_mode::unit_of_cgroup(&cgroup);
    assert_eq!(mode, RunMode::Systemd { unit: expected });
}

#[test]
fn a_worker_the_window_started_says_so_with_its_process_id() {
    let (mode, pid) = run_mode_with(&[
        (STARTED_BY_ENV, STARTED_BY_MANAGER),
        ("NOTIFY_SOCKET", "/run/systemd/notify"),
    ]);
    assert_eq!(mode, RunMode::Manager { pid });
}
