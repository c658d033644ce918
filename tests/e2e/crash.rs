//! The crash loop: the real worker process pulls a few hundred messages from the real Dovecot
//! into the real Postfix and is killed with SIGKILL at random moments, restarted each time,
//! until the remote mailbox is empty. Then every Message-ID is counted on the local side:
//! none may be missing, and a duplicate is only allowed where a kill fell between the local
//! SMTP 250 and the state database's commit (at most one per kill); the test prints how many.
//!
//! Short by default (CI: one POP3S and one IMAPS round of 300 messages). The long variant:
//! `MAILPULL_CRASH_LOOP_RUNS=20 MAILPULL_CRASH_LOOP_MESSAGES=500 cargo test -p mailpull-tests
//! --test e2e -- crash:: --nocapture` (rounds alternate POP3S and IMAPS;
//! `MAILPULL_CRASH_LOOP_SEED` replays a run's kill moments on an equally loaded machine).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use mailpull_tests::{
    LocalMailServer, ProfileSpec, RemoteDovecot, RemoteOptions, TestCa, WorkerSetup, message_ids,
    output_text, sample_message,
};

const PASSWORD: &str = "remote-secret-1";
const USER: &str = "isp-user";
/// Restarts per round at most: a round that needs more is stuck, not unlucky.
const MAX_RUNS_PER_ROUND: usize = 1_000;
/// A kill comes 10 ms to this long after the start (more while no progress is made).
const KILL_AFTER_MAX_MS: u64 = 300;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// What one round saw.
#[derive(Default)]
struct Tally {
    runs: usize,
    kills: usize,
    messages: usize,
    delivered: usize,
    lost: usize,
    duplicated: usize,
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        self.runs += other.runs;
        self.kills += other.kills;
        self.messages += other.messages;
        self.delivered += other.delivered;
        self.lost += other.lost;
        self.duplicated += other.duplicated;
    }
}

/// One round: `count` fresh messages (ids from `first`), the worker started and killed at a
/// random moment until the remote is empty, then one clean run.
fn round(
    rng: &mut fastrand::Rng,
    remote: &RemoteDovecot,
    local: &LocalMailServer,
    spec: ProfileSpec,
    first: usize,
    count: usize,
) -> Tally {
    let sent: Vec<Vec<u8>> = (first..first + count)
        .map(|i| {
            // Mostly small, every tenth ~50 KB so some kills land inside a long transfer.
            let size = if i % 10 == 9 { 50_000 } else { 2_500 };
            let raw = sample_message(i, size, "isp-user@isp.example");
            remote.add_message(USER, &raw).expect("add message");
            raw
        })
        .collect();
    let before = local.messages("alice").expect("local messages").len();
    let setup = WorkerSetup::new(&[spec]).expect("setup");
    let mut tally = Tally {
        messages: count,
        ..Tally::default()
    };
    // Kills that left the remote as it was, in a row: on a loaded machine the login alone can
    // take longer than the usual delay, so the delay's range widens until progress resumes.
    let mut stuck = 0u32;
    let mut left = remote.message_count(USER).expect("remote count");
    let mut delivered_so_far = before;
    while left > 0 {
        assert!(
            tally.runs < MAX_RUNS_PER_ROUND,
            "{} runs and the remote still holds {left} messages",
            tally.runs,
        );
        tally.runs += 1;
        let mut child = setup.spawn(true).expect("spawn worker");
        // From "before the login" to "well into the batch".
        let max_ms = KILL_AFTER_MAX_MS << stuck.min(5);
        let delay = Duration::from_millis(rng.u64(10..max_ms));
        let started = Instant::now();
        while started.elapsed() < delay {
            if child.try_wait().expect("try_wait").is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if child.try_wait().expect("try_wait").is_none() {
            child.kill().expect("SIGKILL");
            tally.kills += 1;
        }
        child.wait().expect("wait");
        // Progress: fewer on the remote, or more delivered (a killed POP3 session rolls its
        // DELEs back, so the remote shrinks only when a run gets to QUIT).
        let now = remote.message_count(USER).expect("remote count");
        let local_now = local.messages("alice").expect("local messages").len();
        stuck = if now < left || local_now > delivered_so_far {
            0
        } else {
            stuck + 1
        };
        left = now;
        delivered_so_far = local_now;
    }
    // A clean run: nothing left to do, and it must say so without an error.
    let out = setup.run_once().expect("run");
    assert!(out.status.success(), "{}", output_text(&out));

    let expected = before + count;
    let mut delivered = local
        .wait_for_messages("alice", expected, Duration::from_secs(60))
        .unwrap_or_else(|err| panic!("{err:#}\n--- maillog\n{}", local.maillog()));
    // Let any late duplicate arrive before counting.
    std::thread::sleep(Duration::from_millis(700));
    let again = local.messages("alice").expect("messages");
    if again.len() > delivered.len() {
        delivered = again;
    }
    let round_ids: std::collections::HashSet<String> = message_ids(&sent).into_iter().collect();
    let mut counts: HashMap<String, usize> = HashMap::new();
    for id in message_ids(&delivered) {
        if round_ids.contains(&id) {
            *counts.entry(id).or_insert(0) += 1;
        }
    }
    tally.delivered = counts.values().sum();
    tally.lost = round_ids.len() - counts.len();
    tally.duplicated = counts.values().map(|n| n - 1).sum();
    tally
}

#[test]
fn sigkill_at_random_moments_until_the_remote_is_empty_loses_nothing() {
    let rounds = env_usize("MAILPULL_CRASH_LOOP_RUNS", 2).max(1);
    let messages = env_usize("MAILPULL_CRASH_LOOP_MESSAGES", 300).max(1);
    let seed = std::env::var("MAILPULL_CRASH_LOOP_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    eprintln!("crash loop: seed {seed} (MAILPULL_CRASH_LOOP_SEED={seed} replays the kill moments)");
    let mut rng = fastrand::Rng::with_seed(seed);

    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(tmp.path()).expect("test CA");
    let remote = RemoteDovecot::start_with(RemoteOptions::new(&ca)).expect("remote dovecot");
    remote.add_user(USER, PASSWORD).expect("add user");
    let local = LocalMailServer::start(&["alice"]).expect("local postfix");
    let password_file = WorkerSetup::password_file(tmp.path(), USER, PASSWORD).expect("pw");

    let mut total = Tally::default();
    for r in 0..rounds {
        let (protocol, port) = if r % 2 == 0 {
            ("pop3", remote.pop3s_port())
        } else {
            ("imap", remote.imaps_port())
        };
        let mut spec = ProfileSpec::new(
            "isp",
            port,
            USER,
            &password_file,
            local.smtp_port(),
            "alice",
        );
        spec.protocol = protocol;
        spec.ca_file = Some(ca.ca_file().to_path_buf());
        let t = round(&mut rng, &remote, &local, spec, r * messages, messages);
        eprintln!(
            "crash loop round {r} ({protocol}s): runs={} kills={} messages={} delivered={} lost={} duplicated={}",
            t.runs, t.kills, t.messages, t.delivered, t.lost, t.duplicated
        );
        assert_eq!(t.lost, 0, "round {r}: messages lost (seed {seed})");
        assert!(
            t.duplicated <= t.kills,
            "round {r}: {} duplicates from {} kills (seed {seed})",
            t.duplicated,
            t.kills
        );
        total.add(&t);
    }
    eprintln!(
        "crash loop tally: rounds={rounds} runs={} kills={} messages={} delivered={} lost={} duplicated={}",
        total.runs, total.kills, total.messages, total.delivered, total.lost, total.duplicated
    );
}
