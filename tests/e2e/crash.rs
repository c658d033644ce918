//! The crash loop: the real worker process pulls from the real Dovecot into the real Postfix,
//! several profiles at once (20 by default, each its own remote mailbox), and is killed with
//! SIGKILL at random moments, restarted each time, until every remote mailbox is empty. Then
//! every Message-ID is counted on the local side, in the mailbox and in Postfix's log (the
//! copies that crossed SMTP): none may be missing, and every copy must carry the
//! `X-Mailpull-Delivery-Id` of its delivery intent, the same id in a copy sent again as in its
//! first copy (so the receiving side can drop the copy). The test prints the copies sent again
//! and the copies landed twice, per 100 kills (`tally`).
//!
//! Two tests: the local Dovecot as it comes (every copy sent again lands: the worker's own
//! figure), and the local Dovecot with the README's Sieve recipe as its `sieve_before` (the
//! copies still cross SMTP, the recipe drops them: the figure an installation with the recipe
//! sees). Short by default (CI: one POP3S and one IMAPS round each, 20 profiles of 15
//! messages). The long variant, the README's figure: `MAILPULL_CRASH_LOOP_RUNS=8
//! cargo test -p mailpull-tests --test e2e -- crash::sigkill --nocapture` (`crash::sieve` for
//! the recipe; rounds alternate POP3S and IMAPS; `MAILPULL_CRASH_LOOP_PROFILES` sets the
//! profiles pulling at once, `MAILPULL_CRASH_LOOP_MESSAGES` the messages per profile and round,
//! `MAILPULL_CRASH_LOOP_SEED` replays a run's kill moments on an equally loaded machine,
//! `MAILPULL_CRASH_LOOP_LOGS=FILE` keeps every run's log in FILE). Every run logs the steps of
//! each delivery, and the test prints which window each copy sent again had its kill land in
//! (`window`).

mod tally;
mod window;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use mailpull_tests::{
    LocalMailServer, LocalOptions, ProfileSpec, RemoteDovecot, RemoteOptions, TestCa, WorkerSetup,
    message_ids, output_text, sample_message,
};
use tally::{DELIVERY_ID, Tally};

const PASSWORD: &str = "remote-secret-1";
/// Restarts per round at most: a round that needs more is stuck, not unlucky.
const MAX_RUNS_PER_ROUND: usize = 1_000;
/// A kill comes 10 ms to this long after the start (more while no progress is made).
const KILL_AFTER_MAX_MS: u64 = 300;
/// The goal of issue #12: at most this many copies landed twice per 100 kills, checked when
/// `MAILPULL_CRASH_LOOP_GOAL=1` and the run has [`GOAL_MIN_KILLS`] kills (out of reach on the
/// worker's side alone: the local server's own end-of-data time gives more copies sent again,
/// see the README's "Duplicates per kill"; met with the README's Sieve recipe, which drops
/// them; CI only prints the figures and the split by window).
const GOAL_PER_100_KILLS: usize = 5;
const GOAL_MIN_KILLS: usize = 100;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// One remote mailbox and the profile pulling it.
struct Pulled {
    user: String,
    spec: ProfileSpec,
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

    let round_ids: HashSet<String> = message_ids(&sent).into_iter().collect();
    let ours =
        |t: &mailpull_tests::Taken| t.message_id.as_ref().is_some_and(|m| round_ids.contains(m));
    // Every message crossed SMTP at least once and Postfix's queue is empty: each copy it
    // took is in the mailbox or was dropped by the receiving side.
    local
        .wait_for_taken(sent.len(), ours, Duration::from_secs(60))
        .unwrap_or_else(|err| panic!("{err:#}\n--- dovecot ---\n{}", local.dovecot_log()));
    // Postfix logs by datagram: let the last lines reach the file before counting.
    std::thread::sleep(Duration::from_millis(700));
    let taken = local.taken();
    let delivered = local.messages("alice").expect("local messages");
    assert!(delivered.len() >= before, "the mailbox shrank");
    tally.count(&round_ids, &delivered, &taken);
    tally
}

/// The local side of a crash loop.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Receiving {
    /// The local Dovecot as it comes: every copy sent again lands.
    AsItComes,
    /// The local Dovecot runs the README's Sieve recipe before every delivery.
    SieveRecipe,
}

#[test]
fn sigkill_at_random_moments_until_the_remote_is_empty_loses_nothing() {
    crash_loop(Receiving::AsItComes);
}

#[test]
fn sieve_recipe_drops_the_copies_sigkills_make_the_worker_send_again() {
    crash_loop(Receiving::SieveRecipe);
}

fn crash_loop(receiving: Receiving) {
    let rounds = env_usize("MAILPULL_CRASH_LOOP_RUNS", 2).max(1);
    let profiles = env_usize("MAILPULL_CRASH_LOOP_PROFILES", 20).max(1);
    let per_profile = env_usize("MAILPULL_CRASH_LOOP_MESSAGES", 15).max(1);
    let seed = std::env::var("MAILPULL_CRASH_LOOP_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    eprintln!(
        "crash loop ({receiving:?}): seed {seed} (MAILPULL_CRASH_LOOP_SEED={seed} replays the kill moments)"
    );
    let mut rng = fastrand::Rng::with_seed(seed);

    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(tmp.path()).expect("test CA");
    let remote = RemoteDovecot::start_with(RemoteOptions::new(&ca)).expect("remote dovecot");
    let users: Vec<String> = (0..profiles).map(|p| format!("isp-user-{p}")).collect();
    for user in &users {
        remote.add_user(user, PASSWORD).expect("add user");
    }
    let local = match receiving {
        Receiving::AsItComes => LocalMailServer::start_with(LocalOptions {
            users: vec!["alice".into()],
            log_headers: vec![DELIVERY_ID.into()],
            ..LocalOptions::default()
        })
        .expect("local postfix"),
        Receiving::SieveRecipe => crate::sieve::local_with_recipe(),
    };
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
            "crash loop round {r} ({receiving:?}, {protocol}s, {profiles} profiles at once): {}",
            t.line()
        );
        assert_eq!(t.lost, 0, "round {r}: messages lost (seed {seed})");
        // A kill can cut at most one delivery per profile between the data and the record.
        assert!(
            t.sent_again <= t.kills * profiles,
            "round {r}: {} copies sent again from {} kills, more than one per profile and kill (seed {seed})",
            t.sent_again,
            t.kills
        );
        total.add(&t);
    }
    eprintln!(
        "crash loop tally ({receiving:?}): rounds={rounds} profiles={profiles} {}",
        total.line()
    );
    eprintln!("{}", windows.report(&total.extra_copies));
    if receiving == Receiving::SieveRecipe && !total.twice.is_empty() {
        // What Dovecot's Sieve did with each copy that landed although the recipe ran.
        let log = local.dovecot_log();
        for message_id in &total.twice {
            let lines: Vec<&str> = log
                .lines()
                .filter(|l| l.contains(message_id.as_str()))
                .collect();
            eprintln!("landed twice: {message_id}\n  {}", lines.join("\n  "));
        }
    }
    assert!(
        total.faults.is_empty(),
        "{} message(s) without one stable {DELIVERY_ID} on both sides of Postfix (seed {seed}):\n{}",
        total.faults.len(),
        total.faults.join("\n")
    );
    if env_usize("MAILPULL_CRASH_LOOP_GOAL", 0) == 1 && total.kills >= GOAL_MIN_KILLS {
        assert!(
            total.landed_twice * 100 <= GOAL_PER_100_KILLS * total.kills,
            "{} copies landed twice from {} kills with {profiles} profiles at once ({receiving:?}): more than {GOAL_PER_100_KILLS} per 100 kills (seed {seed})",
            total.landed_twice,
            total.kills
        );
    }
}
