//! The IMAP IDLE cap end to end against the real Dovecot: with `max_idle_connections = 2` and
//! four push profiles (interval one hour) two hold IDLE and get mail in seconds; the other two
//! are reported "no slot" in `status` (pipe and CLI) and still get theirs within the short
//! no-slot interval. And the worker raises its soft open-file limit to the hard one at start
//! (run under `prlimit --nofile=256:HARD`).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mailpull_shared::ipc::{Endpoint, IpcClient, ProfileStatus, PushState};
use mailpull_tests::{
    LocalMailServer, ProfileSpec, RemoteDovecot, RemoteOptions, TestCa, WorkerSetup, duplicate_ids,
    sample_message, stop_worker, worker_binary,
};
use mailpull_worker::fd_limit;
use mailpull_worker::push::NO_SLOT_POLL_INTERVAL;

const PASSWORD: &str = "idle-cap-pw";
const PUSH_LATENCY: Duration = Duration::from_secs(5);

fn worker_log(setup: &WorkerSetup) -> String {
    std::fs::read_to_string(setup.dir.path().join("worker.stderr")).unwrap_or_default()
}

fn wait_for_log(setup: &WorkerSetup, needle: &str, count: usize, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while worker_log(setup).matches(needle).count() < count {
        assert!(
            Instant::now() < deadline,
            "{needle:?} not logged {count} time(s) within {timeout:?}:\n{}",
            worker_log(setup)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn status(setup: &WorkerSetup) -> Vec<ProfileStatus> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let endpoint = Endpoint::for_config(&setup.config);
        let mut client = IpcClient::connect(&endpoint).await.expect("connect");
        client.status().await.expect("status")
    })
}

#[test]
fn push_profiles_beyond_the_cap_are_reported_and_polled_at_the_short_interval() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(tmp.path()).expect("ca");
    let remote = RemoteDovecot::start_with(
        RemoteOptions::new(&ca).with_extra_config("mailbox_idle_check_interval = 1 secs"),
    )
    .expect("remote");
    let users = ["cap1", "cap2", "cap3", "cap4"];
    let local = LocalMailServer::start(&users).expect("local");
    let mut specs = Vec::new();
    for user in users {
        let isp = format!("isp-{user}");
        remote.add_user(&isp, PASSWORD).expect("user");
        let password_file = WorkerSetup::password_file(tmp.path(), &isp, PASSWORD).expect("pw");
        let mut spec = ProfileSpec::new(
            user,
            remote.imap_port(),
            &isp,
            &password_file,
            local.smtp_port(),
            user,
        );
        spec.protocol = "imap";
        spec.security = "plain";
        spec.interval = "1h";
        spec.push = true;
        specs.push(spec);
    }
    let setup = WorkerSetup::new(&specs).expect("setup");
    let text = std::fs::read_to_string(&setup.config).expect("config");
    let text = text.replacen("[worker]\n", "[worker]\nmax_idle_connections = 2\n", 1);
    std::fs::write(&setup.config, text).expect("write config");

    // `check` sees the four IDLE connections against the cap of two.
    let check = Command::new(worker_binary().expect("binary"))
        .args(["check", "--config"])
        .arg(&setup.config)
        .output()
        .expect("check");
    let check_out = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{check:?}");
    assert!(
        check_out.contains("IMAP IDLE: 4 connection(s) for 4 push profile(s); cap 2"),
        "{check_out}"
    );
    assert!(
        check_out.contains(
            "warning: worker.max_idle_connections: 2 IDLE connection(s) beyond the cap of 2"
        ),
        "{check_out}"
    );

    let mut worker = setup.spawn_listening().expect("spawn");
    wait_for_log(&setup, "IDLE started", 2, Duration::from_secs(20));
    wait_for_log(&setup, "poll done", 4, Duration::from_secs(20));
    wait_for_log(
        &setup,
        "IDLE connection limit reached",
        2,
        Duration::from_secs(5),
    );
    assert!(
        worker_log(&setup).contains("max_idle_connections=2"),
        "the cap is logged at start:\n{}",
        worker_log(&setup)
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        worker_log(&setup).matches("IDLE started").count(),
        2,
        "only two IDLE connections:\n{}",
        worker_log(&setup)
    );

    // Over the pipe: two idle, two without a slot whose next poll is the short interval away.
    let rows = status(&setup);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let idling: Vec<&str> = rows
        .iter()
        .filter(|r| r.push == PushState::Idling)
        .map(|r| r.name.as_str())
        .collect();
    let no_slot: Vec<&str> = rows
        .iter()
        .filter(|r| r.push == PushState::NoSlot)
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!((idling.len(), no_slot.len()), (2, 2), "{rows:?}");
    let short = NO_SLOT_POLL_INTERVAL.as_secs() * 11 / 10 + 1;
    for row in rows.iter().filter(|r| r.push == PushState::NoSlot) {
        let next = row.next_poll.expect("next poll");
        assert!(
            next <= now + short,
            "{} polls in {}s, not within the no-slot interval",
            row.name,
            next.saturating_sub(now)
        );
    }
    for row in rows.iter().filter(|r| r.push == PushState::Idling) {
        let next = row.next_poll.expect("next poll");
        assert!(
            next > now + 600,
            "{} keeps its 1h interval: {row:?}",
            row.name
        );
    }

    // The CLI's table says the same.
    let cli = Command::new(worker_binary().expect("binary"))
        .args(["status", "--config"])
        .arg(&setup.config)
        .stdin(Stdio::null())
        .output()
        .expect("status");
    let table = String::from_utf8_lossy(&cli.stdout);
    assert!(cli.status.success(), "{cli:?}");
    for name in &no_slot {
        let row = table
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no row {name}:\n{table}"));
        assert!(row.contains("no slot"), "{row}");
    }
    for name in &idling {
        let row = table
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no row {name}:\n{table}"));
        assert!(row.contains(" idle "), "{row}");
    }
    assert!(
        table.contains("2 push profile(s) without an IDLE slot"),
        "{table}"
    );

    // One message into each mailbox.
    for (i, user) in users.iter().enumerate() {
        let raw = sample_message(i, 2_000, &format!("isp-{user}@isp.example"));
        remote
            .add_message(&format!("isp-{user}"), &raw)
            .expect("add");
    }
    let dropped = Instant::now();
    for name in &idling {
        local
            .wait_for_messages(name, 1, PUSH_LATENCY)
            .unwrap_or_else(|e| panic!("{name} (IDLE): {e:#}\n{}", worker_log(&setup)));
    }
    eprintln!("IDLE profiles delivered after {:?}", dropped.elapsed());
    for name in &no_slot {
        local
            .wait_for_messages(name, 1, Duration::from_secs(short + 10))
            .unwrap_or_else(|e| panic!("{name} (no slot): {e:#}\n{}", worker_log(&setup)));
    }
    eprintln!("no-slot profiles delivered after {:?}", dropped.elapsed());

    stop_worker(&mut worker);
    for user in users {
        let delivered = local.messages(user).expect("local");
        assert_eq!(delivered.len(), 1, "{user}:\n{}", worker_log(&setup));
        assert!(duplicate_ids(&delivered).is_empty());
        assert_eq!(
            remote.message_count(&format!("isp-{user}")).expect("count"),
            0
        );
    }
}

#[test]
fn the_soft_open_file_limit_is_raised_to_the_hard_one_at_start() {
    let hard: u64 = 8192;
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(tmp.path()).expect("ca");
    let remote = RemoteDovecot::start_with(RemoteOptions::new(&ca)).expect("remote");
    remote.add_user("isp-fd", PASSWORD).expect("user");
    let local = LocalMailServer::start(&["fd"]).expect("local");
    let password_file = WorkerSetup::password_file(tmp.path(), "isp-fd", PASSWORD).expect("pw");
    let mut spec = ProfileSpec::new(
        "fd",
        remote.imap_port(),
        "isp-fd",
        &password_file,
        local.smtp_port(),
        "fd",
    );
    spec.protocol = "imap";
    spec.security = "plain";
    spec.interval = "1h";
    spec.push = true;
    let setup = WorkerSetup::new(&[spec]).expect("setup");
    let stderr = std::fs::File::create(setup.dir.path().join("worker.stderr")).expect("stderr");
    let mut worker = Command::new("prlimit")
        .arg(format!("--nofile=256:{hard}"))
        .arg("--")
        .arg(worker_binary().expect("binary"))
        .args(["run", "--config"])
        .arg(&setup.config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("prlimit");
    wait_for_log(&setup, "IDLE connection cap", 1, Duration::from_secs(20));
    // The worker's own limit, as the kernel reports it.
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", worker.id())).expect("limits");
    stop_worker(&mut worker);
    let log = worker_log(&setup);
    let expected = fd_limit::default_max_idle(Some(hard), 64);
    assert!(
        log.contains(&format!(
            "open_files={hard} open_files_before=256 open_files_hard={hard}"
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "max_idle_connections={expected} cap_from=\"open-file limit\""
        )),
        "{log}"
    );
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap_or_else(|| panic!("{limits}"));
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields[3..5], [hard.to_string(), hard.to_string()], "{line}");
}
