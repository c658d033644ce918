//! Push and `poll-now` with several workers on one shared state, end to end: two
//! `mailpull-worker` processes on one private PostgreSQL, IMAP profiles with `push = true`
//! (interval one hour, so only IDLE or a requested poll brings mail) on the real Dovecot.
//!
//! - The IDLE connections Dovecot sees (`doveadm who`) are one per push folder, not one per
//!   folder and worker; over each worker's pipe a push profile it holds is `idle` and one the
//!   other holds is `elsewhere`.
//! - Mail dropped into each push mailbox arrives within seconds.
//! - `poll-now` through the worker that does not hold a (non-push) profile makes the holder
//!   poll it: the answer names the holder, and the message arrives at once.
//! - After one worker stops cleanly, the other claims its profiles, opens their IDLE
//!   connections (still one per folder) and pushed mail arrives within seconds again.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use mailpull_shared::ipc::{Endpoint, IpcClient, ProfileStatus, PushState};
use mailpull_tests::{
    LocalMailServer, PostgresCluster, ProfileSpec, RemoteDovecot, RemoteOptions, TestCa,
    WorkerSetup, sample_message, stop_worker,
};

const PASSWORD: &str = "several-push-pw";
const LEASE_SECS: u64 = 6;
const DB: &str = "several_push";
const PUSH_PROFILES: usize = 4;
/// New mail must be local within this time of landing in the remote Maildir.
const PUSH_LATENCY: Duration = Duration::from_secs(5);

fn status(setup: &WorkerSetup) -> Vec<ProfileStatus> {
    let endpoint = Endpoint::for_config(&setup.config);
    runtime()
        .block_on(async { IpcClient::connect(&endpoint).await?.status().await })
        .expect("status")
}

fn poll_now(setup: &WorkerSetup, name: &str) -> String {
    let endpoint = Endpoint::for_config(&setup.config);
    runtime()
        .block_on(async { IpcClient::connect(&endpoint).await?.poll_now(name).await })
        .expect("poll-now")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn log(setup: &WorkerSetup) -> String {
    std::fs::read_to_string(setup.dir.path().join("worker.stderr")).unwrap_or_default()
}

/// Profile → holder (`host:pid:id`), live leases only.
fn holders(pg: &PostgresCluster) -> BTreeMap<String, String> {
    pg.query(
        DB,
        "SELECT profile, holder FROM leases WHERE expires_at > now()",
    )
    .expect("leases")
    .lines()
    .filter_map(|line| {
        let (profile, holder) = line.split_once('|')?;
        Some((profile.to_string(), holder.to_string()))
    })
    .collect()
}

fn pid_of(holder: &str) -> Option<u32> {
    holder.split(':').nth(1)?.parse().ok()
}

/// Waits until `check` holds, or fails with `what` and the workers' logs.
fn wait_until(
    what: &str,
    timeout: Duration,
    logs: &dyn Fn() -> String,
    check: &mut dyn FnMut() -> bool,
) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "{what} not within {timeout:?}\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The push profiles each worker (by index) shows as idling, and as held elsewhere.
fn push_view(setup: &WorkerSetup) -> (BTreeSet<String>, BTreeSet<String>) {
    let rows = status(setup);
    let pick = |state: PushState| {
        rows.iter()
            .filter(|r| r.push == state)
            .map(|r| r.name.clone())
            .collect::<BTreeSet<String>>()
    };
    (pick(PushState::Idling), pick(PushState::Elsewhere))
}

#[test]
fn push_watchers_live_in_the_holder_and_poll_now_reaches_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(tmp.path()).expect("test CA");
    let remote = RemoteDovecot::start_with(
        RemoteOptions::new(&ca).with_extra_config("mailbox_idle_check_interval = 1 secs"),
    )
    .expect("remote dovecot");
    let local = LocalMailServer::start(&["alice"]).expect("local postfix");
    let pg = PostgresCluster::start().expect("the private PostgreSQL cluster must start");
    pg.create_database(DB).expect("database");
    let password_file = WorkerSetup::password_file(tmp.path(), "isp", PASSWORD).expect("pw");
    let pg_password = WorkerSetup::password_file(tmp.path(), "pg", pg.password()).expect("pw");
    // Four push profiles and one without push (for poll-now); all poll once an hour.
    let mut specs = Vec::new();
    for p in 0..=PUSH_PROFILES {
        let user = format!("sp-user-{p}");
        remote.add_user(&user, PASSWORD).expect("add user");
        let mut spec = ProfileSpec::new(
            &format!("sp-{p}"),
            remote.imaps_port(),
            &user,
            &password_file,
            local.smtp_port(),
            "alice",
        );
        spec.protocol = "imap";
        spec.ca_file = Some(ca.ca_file().to_path_buf());
        spec.interval = "1h";
        spec.push = p < PUSH_PROFILES;
        specs.push(spec);
    }
    let push_names: BTreeSet<String> = specs
        .iter()
        .filter(|s| s.push)
        .map(|s| s.name.clone())
        .collect();
    let polled = format!("sp-{PUSH_PROFILES}");
    let user_of = |name: &str| name.replace("sp-", "sp-user-");

    let setups: Vec<WorkerSetup> = (0..2)
        .map(|_| {
            let setup = WorkerSetup::with_limits(16, 8, &specs).expect("setup");
            let text = std::fs::read_to_string(&setup.config).expect("config");
            let shared = format!(
                "[worker]\nstate = {:?}\nstate_password = {{ file = {:?} }}\nlease = \"{LEASE_SECS}s\"\n",
                pg.url(DB),
                pg_password.display().to_string()
            );
            std::fs::write(&setup.config, text.replacen("[worker]\n", &shared, 1))
                .expect("config");
            setup
        })
        .collect();
    let mut children: Vec<_> = setups
        .iter()
        .map(|s| Some(s.spawn_listening().expect("worker listens")))
        .collect();
    let logs = || {
        format!(
            "worker 0:\n{}\nworker 1:\n{}",
            log(&setups[0]),
            log(&setups[1])
        )
    };

    // Both workers hold profiles, and every push folder has exactly one IDLE connection, in
    // the worker holding its profile.
    let pids: Vec<u32> = children
        .iter()
        .map(|c| c.as_ref().expect("w").id())
        .collect();
    wait_until(
        "every profile leased by both workers",
        Duration::from_secs(4 * LEASE_SECS),
        &logs,
        &mut || {
            let held = holders(&pg);
            held.len() == specs.len()
                && pids
                    .iter()
                    .all(|pid| held.values().any(|h| pid_of(h) == Some(*pid)))
        },
    );
    let mut views = Vec::new();
    wait_until(
        "the holders' IDLE connections",
        Duration::from_secs(3 * LEASE_SECS),
        &logs,
        &mut || {
            views = setups.iter().map(push_view).collect();
            let idling: usize = views.iter().map(|(idle, _)| idle.len()).sum();
            idling == PUSH_PROFILES
        },
    );
    let held = holders(&pg);
    for (i, (idle, elsewhere)) in views.iter().enumerate() {
        for name in idle {
            assert_eq!(
                pid_of(&held[name]),
                Some(pids[i]),
                "{name} idles in worker {i}, which does not hold it"
            );
        }
        let theirs: BTreeSet<String> = push_names.difference(idle).cloned().collect();
        assert_eq!(
            elsewhere, &theirs,
            "worker {i}: the push profiles it does not hold"
        );
    }
    // What Dovecot sees: one IMAP connection per push mailbox, none for the other.
    std::thread::sleep(Duration::from_secs(1));
    let sessions = remote.imap_sessions().expect("doveadm who");
    let expected: BTreeMap<String, usize> = push_names.iter().map(|n| (user_of(n), 1)).collect();
    assert_eq!(
        sessions,
        expected,
        "IMAP sessions on the server (doveadm who)\n{}",
        logs()
    );
    eprintln!(
        "several push: {PUSH_PROFILES} push profiles over 2 workers, {} IDLE connections (doveadm who)",
        sessions.values().sum::<usize>()
    );

    // Pushed mail arrives within seconds, whichever worker holds the profile.
    let mut next = 0;
    let mut arrived = 0;
    let mut push_into = |user: &str, arrived: &mut usize| -> Duration {
        let raw = sample_message(next, 2_000, &format!("{user}@isp.example"));
        next += 1;
        remote.add_message(user, &raw).expect("add message");
        let dropped = Instant::now();
        *arrived += 1;
        local
            .wait_for_messages("alice", *arrived, PUSH_LATENCY * 4)
            .unwrap_or_else(|e| panic!("{user}: {e:#}\n{}", logs()));
        dropped.elapsed()
    };
    for name in &push_names {
        let took = push_into(&user_of(name), &mut arrived);
        assert!(took < PUSH_LATENCY, "{name}: pushed mail took {took:?}");
    }

    // poll-now through the worker that does not hold the non-push profile.
    let holder = held[&polled].clone();
    let other = pids
        .iter()
        .position(|pid| pid_of(&holder) != Some(*pid))
        .expect("the other worker");
    let raw = sample_message(1_000, 2_000, &format!("{}@isp.example", user_of(&polled)));
    remote
        .add_message(&user_of(&polled), &raw)
        .expect("add message");
    let asked = Instant::now();
    let answer = poll_now(&setups[other], &polled);
    assert_eq!(
        answer,
        format!("poll of profile \"{polled}\" asked of the worker holding it ({holder})")
    );
    arrived += 1;
    local
        .wait_for_messages("alice", arrived, PUSH_LATENCY * 2)
        .unwrap_or_else(|e| panic!("poll-now through the other worker: {e:#}\n{}", logs()));
    let took = asked.elapsed();
    assert!(
        took < PUSH_LATENCY,
        "poll-now through the other worker took {took:?}"
    );
    eprintln!(
        "several push: poll-now through the worker not holding {polled}: arrived after {took:?}"
    );

    // Stop worker 0 cleanly: worker 1 claims everything and idles on every push folder.
    let mut stopping = children[0].take().expect("worker 0");
    stop_worker(&mut stopping);
    let stopped = Instant::now();
    wait_until(
        "worker 1 idles on every push folder",
        Duration::from_secs(2 * LEASE_SECS),
        &logs,
        &mut || push_view(&setups[1]).0 == push_names,
    );
    eprintln!(
        "several push: after a clean stop, worker 1 idles on all push folders after {:?}",
        stopped.elapsed()
    );
    let mut sessions = BTreeMap::new();
    wait_until(
        "one IMAP session per push mailbox",
        Duration::from_secs(10),
        &logs,
        &mut || {
            sessions = remote.imap_sessions().expect("doveadm who");
            sessions == expected
        },
    );
    std::thread::sleep(Duration::from_secs(1));
    for name in &push_names {
        let took = push_into(&user_of(name), &mut arrived);
        assert!(
            took < PUSH_LATENCY,
            "{name} after the takeover: pushed mail took {took:?}"
        );
    }
    for child in children.iter_mut().flatten() {
        stop_worker(child);
    }
    let delivered = local.messages("alice").expect("local");
    assert_eq!(delivered.len(), arrived, "no copy twice\n{}", logs());
}
