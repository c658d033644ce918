//! The crash loop: the real worker process pulls from the real Dovecot into the real Postfix,
//! several profiles at once (20 by default, each its own remote mailbox), and is killed with
//! SIGKILL at random moments, restarted each time, until every remote mailbox is empty. Then
//! every Message-ID is counted on the local side: none may be missing, and every copy must
//! carry the `X-Mailpull-Delivery-Id` of its delivery intent, the same id in a duplicate as in
//! its first copy (so the receiving side can drop the copy). The test prints the duplicates
//! per 100 kills.
//!
//! Short by default (CI: one POP3S and one IMAPS round, 20 profiles of 15 messages). The long
//! variant, the README's figure: `MAILPULL_CRASH_LOOP_RUNS=8
//! cargo test -p mailpull-tests --test e2e -- crash:: --nocapture` (rounds
//! alternate POP3S and IMAPS; `MAILPULL_CRASH_LOOP_PROFILES` sets the profiles pulling at
//! once, `MAILPULL_CRASH_LOOP_MESSAGES` the messages per profile and round,
//! `MAILPULL_CRASH_LOOP_SEED` replays a run's kill moments on an equally loaded machine,
//! `MAILPULL_CRASH_LOOP_LOGS=FILE` keeps every run's log in FILE). Every run logs the steps of
//! each delivery, and the test prints which window each duplicate's kill landed in (`window`).

mod window;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use mailpull_tests::{
    LocalMailServer, ProfileSpec, RemoteDovecot, RemoteOptions, TestCa, WorkerSetup, headers,
    message_ids, output_text, sample_message,
};

const PASSWORD: &str = "remote-secret-1";
/// The header every delivered copy carries, the same in a copy delivered again.
const DELIVERY_ID: &str = "X-Mailpull-Delivery-Id";
/// Restarts per round at most: a round that needs more is stuck, not unlucky.
const MAX_RUNS_PER_ROUND: usize = 1_000;
/// A kill comes 10 ms to this long after the start (more while no progress is made).
const KILL_AFTER_MAX_MS: u64 = 300;
/// The goal of issue #12: at most this many duplicates per 100 kills, checked when
/// `MAILPULL_CRASH_LOOP_GOAL=1` and the run has [`GOAL_MIN_KILLS`] kills (out of reach on the
/// test bed: the local server's own end-of-data time alone gives more, see the README's
/// "Duplicates per kill"; CI only prints the figure and the split by window).
const GOAL_PER_100_KILLS: usize = 5;
const GOAL_MIN_KILLS: usize = 100;

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
    /// Delivered copies without exactly one delivery id, or duplicates whose id differs from
    /// the first copy's: each a line saying which.
    id_faults: Vec<String>,
    /// Extra copies per delivery id.
    extra_copies: HashMap<String, usize>,
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        self.runs += other.runs;
        self.kills += other.kills;
        self.messages += other.messages;
        self.delivered += other.delivered;
        self.lost += other.lost;
        self.duplicated += other.duplicated;
        self.id_faults.extend(other.id_faults.iter().cloned());
        for (id, n) in &other.extra_copies {
            *self.extra_copies.entry(id.clone()).or_default() += n;
        }
    }

    /// Duplicates per 100 kills.
    fn per_100_kills(&self) -> f64 {
        self.duplicated as f64 * 100.0 / self.kills.max(1) as f64
    }
}

/// One remote mailbox and the profile pulling it.
struct Pulled {
    user: String,
    spec: ProfileSpec,
}

/// Counts the round's messages in `delivered` (copies per Message-ID) and checks their
/// delivery ids: every copy carries exactly one, and every copy of one message the same.
fn count(round_ids: &HashSet<String>, delivered: &[Vec<u8>], tally: &mut Tally) {
    let mut copies: HashMap<String, Vec<Vec<String>>> = HashMap::new();
    for (raw, id) in delivered.iter().zip(message_ids(delivered)) {
        if round_ids.contains(&id) {
            let ids = headers(raw)
                .into_iter()
                .filter(|(name, _)| name.eq_ignore_ascii_case(DELIVERY_ID))
                .map(|(_, value)| value)
                .collect();
            copies.entry(id).or_default().push(ids);
        }
    }
    tally.delivered = copies.values().map(Vec::len).sum();
    tally.lost = round_ids.len() - copies.len();
    tally.duplicated = copies.values().map(|c| c.len() - 1).sum();
    for (message_id, copies) in &copies {
        if let Some(bad) = copies.iter().find(|ids| ids.len() != 1) {
            tally
                .id_faults
                .push(format!("{message_id}: a copy with {DELIVERY_ID} {bad:?}"));
        } else if copies.iter().any(|ids| ids[0] != copies[0][0]) {
            tally.id_faults.push(format!(
                "{message_id}: copies with different ids {copies:?}"
            ));
        } else if copies.len() > 1 {
            *tally.extra_copies.entry(copies[0][0].clone()).or_default() += copies.len() - 1;
        }
    }
}

/// One round: `count` fresh messages per profile (ids from `first`), the worker started and
/// killed at a random moment until every remote mailbox is empty, then one clean run.
fn round(
    rng: &mut fastrand::Rng,
    windows: &mut window::Windows,
    remote: &RemoteDovecot,
    local: &LocalMailServer,
    pulled: &[Pulled],
    first: usize,
    per_profile: usize,
) -> Tally {
    let mut sent: Vec<Vec<u8>> = Vec::new();
    for (p, Pulled { user, .. }) in pulled.iter().enumerate() {
        let base = first + p * per_profile;
        for i in base..base + per_profile {
            // Mostly small, every tenth ~50 KB so some kills land inside a long transfer.
            let size = if i % 10 == 9 { 50_000 } else { 2_500 };
            let raw = sample_message(i, size, &format!("{user}@isp.example"));
            remote.add_message(user, &raw).expect("add message");
            sent.push(raw);
        }
    }
    let remote_left = || -> usize {
        pulled
            .iter()
            .map(|p| remote.message_count(&p.user).expect("remote count"))
            .sum()
    };
    let before = local.messages("alice").expect("local messages").len();
    let specs: Vec<ProfileSpec> = pulled.iter().map(|p| p.spec.clone()).collect();
    // Every profile pulls at once: no per-host cap below the number of profiles.
    let setup = WorkerSetup::with_limits(64, specs.len().max(4), &specs).expect("setup");
    let mut tally = Tally {
        messages: sent.len(),
        ..Tally::default()
    };
    // Kills that left the remote as it was, in a row: on a loaded machine the login alone can
    // take longer than the usual delay, so the delay's range widens until progress resumes.
    let mut stuck = 0u32;
    let mut left = remote_left();
    let mut delivered_so_far = before;
    while left > 0 {
        assert!(
            tally.runs < MAX_RUNS_PER_ROUND,
            "{} runs and the remote still holds {left} messages",
            tally.runs,
        );
        tally.runs += 1;
        let mut child = setup
            .spawn_with_env(true, &[("RUST_LOG", window::RUST_LOG)])
            .expect("spawn worker");
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
        let killed = child.try_wait().expect("try_wait").is_none();
        let kill_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        if killed {
            child.kill().expect("SIGKILL");
            tally.kills += 1;
        }
        child.wait().expect("wait");
        let log =
            std::fs::read_to_string(setup.dir.path().join("worker.stderr")).unwrap_or_default();
        windows.add_run(&log, started.elapsed().as_secs_f64(), killed);
        if let Ok(keep) = std::env::var("MAILPULL_CRASH_LOOP_LOGS") {
            use std::io::Write;
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&keep)
                .expect("MAILPULL_CRASH_LOOP_LOGS file");
            let end = if killed { "SIGKILL at" } else { "exited by" };
            let at = kill_at.as_secs_f64();
            let _ = writeln!(file, "{log}--- run {} {end} {at:.6}", tally.runs);
        }
        // Progress: fewer on the remote, or more delivered (a killed POP3 session rolls its
        // DELEs back, so the remote shrinks only when a run gets to QUIT).
        let now = remote_left();
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

    let expected = before + sent.len();
    let mut delivered = local
        .wait_for_messages("alice", expected, Duration::from_secs(60))
        .unwrap_or_else(|err| panic!("{err:#}\n--- maillog\n{}", local.maillog()));
    // Let any late duplicate arrive before counting.
    std::thread::sleep(Duration::from_millis(700));
    let again = local.messages("alice").expect("messages");
    if again.len() > delivered.len() {
        delivered = again;
    }
    let round_ids: HashSet<String> = message_ids(&sent).into_iter().collect();
    count(&round_ids, &delivered, &mut tally);
    tally
}

#[test]
fn sigkill_at_random_moments_until_the_remote_is_empty_loses_nothing() {
    let rounds = env_usize("MAILPULL_CRASH_LOOP_RUNS", 2).max(1);
    let profiles = env_usize("MAILPULL_CRASH_LOOP_PROFILES", 20).max(1);
    let per_profile = env_usize("MAILPULL_CRASH_LOOP_MESSAGES", 15).max(1);
    let seed = std::env::var("MAILPULL_CRASH_LOOP_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    eprintln!("crash loop: seed {seed} (MAILPULL_CRASH_LOOP_SEED={seed} replays the kill moments)");
    let mut rng = fastrand::Rng::with_seed(seed);

    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(tmp.path()).expect("test CA");
    let remote = RemoteDovecot::start_with(RemoteOptions::new(&ca)).expect("remote dovecot");
    let users: Vec<String> = (0..profiles).map(|p| format!("isp-user-{p}")).collect();
    for user in &users {
        remote.add_user(user, PASSWORD).expect("add user");
    }
    let local = LocalMailServer::start(&["alice"]).expect("local postfix");
    let password_file = WorkerSetup::password_file(tmp.path(), "isp", PASSWORD).expect("pw");

    let mut total = Tally::default();
    let mut windows = window::Windows::default();
    for r in 0..rounds {
        let (protocol, port) = if r % 2 == 0 {
            ("pop3", remote.pop3s_port())
        } else {
            ("imap", remote.imaps_port())
        };
        let pulled: Vec<Pulled> = users
            .iter()
            .enumerate()
            .map(|(p, user)| {
                let mut spec = ProfileSpec::new(
                    &format!("isp-{p}"),
                    port,
                    user,
                    &password_file,
                    local.smtp_port(),
                    "alice",
                );
                spec.protocol = protocol;
                spec.ca_file = Some(ca.ca_file().to_path_buf());
                Pulled {
                    user: user.clone(),
                    spec,
                }
            })
            .collect();
        let first = r * profiles * per_profile;
        let t = round(
            &mut rng,
            &mut windows,
            &remote,
            &local,
            &pulled,
            first,
            per_profile,
        );
        eprintln!(
            "crash loop round {r} ({protocol}s, {profiles} profiles at once): runs={} kills={} messages={} delivered={} lost={} duplicated={} ({:.1} per 100 kills)",
            t.runs,
            t.kills,
            t.messages,
            t.delivered,
            t.lost,
            t.duplicated,
            t.per_100_kills()
        );
        assert_eq!(t.lost, 0, "round {r}: messages lost (seed {seed})");
        // A kill can cut at most one delivery per profile between 250 and record.
        assert!(
            t.duplicated <= t.kills * profiles,
            "round {r}: {} duplicates from {} kills, more than one per profile and kill (seed {seed})",
            t.duplicated,
            t.kills
        );
        total.add(&t);
    }
    eprintln!(
        "crash loop tally: rounds={rounds} profiles={profiles} runs={} kills={} messages={} delivered={} lost={} duplicated={} per_100_kills={:.1}",
        total.runs,
        total.kills,
        total.messages,
        total.delivered,
        total.lost,
        total.duplicated,
        total.per_100_kills()
    );
    eprintln!("{}", windows.report(&total.extra_copies));
    assert!(
        total.id_faults.is_empty(),
        "{} message(s) without one stable {DELIVERY_ID} (seed {seed}):\n{}",
        total.id_faults.len(),
        total.id_faults.join("\n")
    );
    if env_usize("MAILPULL_CRASH_LOOP_GOAL", 0) == 1 && total.kills >= GOAL_MIN_KILLS {
        assert!(
            total.duplicated * 100 <= GOAL_PER_100_KILLS * total.kills,
            "{} duplicates from {} kills with {profiles} profiles at once: more than {GOAL_PER_100_KILLS} per 100 kills (seed {seed})",
            total.duplicated,
            total.kills
        );
    }
}
