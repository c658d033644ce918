//! IMAP IDLE push benchmark: N accounts (default 200) on the private test Dovecot, each a
//! `push = true` profile over IMAPS with a one-hour interval, all idling in one worker. A
//! message is dropped into a random account's Maildir every 100 ms for `--seconds` (default
//! 60); the latency of each is the time from the drop (the rename into `Maildir/new`) to the
//! local SMTP server's 250 after its data (a [`FakeSmtp`] watched every millisecond). Prints
//! p50/p90/p99/max and the worker's peak RSS (VmHWM from /proc).
//!
//! Memory per IDLE connection: unless `--no-baseline`, a first worker runs the same profiles
//! with `max_idle_connections = 1` (one IDLE, the rest polled) until its start-up polls are
//! done; (VmRSS with every account idling − that VmRSS) / (accounts − 1) is the cost of one
//! IDLE connection.
//!
//! The private Dovecot runs one `imap` process per session and the test bed caps them at 500
//! (`service imap { process_limit }`; Dovecot then logs "process_limit (500) reached, client
//! connections are being dropped"): the bench raises `process_limit` to accounts + 100 and
//! sets `client_limit = --imap-client-limit` (default 20; seen here: Dovecot still started
//! one process per IDLE session at 500).
//!
//! ```text
//! cargo build --release -p mailpull-worker -p mailpull-tests --bin mailpull-worker --bin mailpull-idle-bench
//! target/release/mailpull-idle-bench [--seconds 60] [--accounts 200] [--every-ms 100]
//!     [--max-idle N] [--imap-client-limit 20] [--no-baseline]
//! ```
//! Needs root and the packages of scripts/setup-deps.sh, like the end-to-end tests.

use std::collections::HashMap;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use mailpull_tests::fake_smtp::FakeSmtp;
use mailpull_tests::{
    ProfileSpec, RemoteDovecot, RemoteOptions, TestCa, WorkerSetup, message_ids, sample_message,
};

const PASSWORD: &str = "idle-bench-pw";

struct Args {
    seconds: u64,
    accounts: usize,
    every_ms: u64,
    max_idle: Option<u64>,
    imap_client_limit: u64,
    baseline: bool,
}

fn args() -> anyhow::Result<Args> {
    let mut args = Args {
        seconds: 60,
        accounts: 200,
        every_ms: 100,
        max_idle: None,
        imap_client_limit: 20,
        baseline: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| -> anyhow::Result<u64> {
            let text = it.next().with_context(|| format!("{name} needs a value"))?;
            text.parse()
                .with_context(|| format!("{name}: {text:?} is not a number"))
        };
        match flag.as_str() {
            "--seconds" => args.seconds = value("--seconds")?,
            "--accounts" => args.accounts = value("--accounts")? as usize,
            "--every-ms" => args.every_ms = value("--every-ms")?,
            "--max-idle" => args.max_idle = Some(value("--max-idle")?),
            "--imap-client-limit" => args.imap_client_limit = value("--imap-client-limit")?,
            "--no-baseline" => args.baseline = false,
            "-h" | "--help" => {
                println!(
                    "mailpull-idle-bench [--seconds 60] [--accounts 200] [--every-ms 100] [--max-idle N] [--imap-client-limit 20] [--no-baseline]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    if args.accounts == 0 || args.every_ms == 0 || args.imap_client_limit == 0 {
        bail!("--accounts, --every-ms and --imap-client-limit must be at least 1");
    }
    Ok(args)
}

/// A `/proc/PID/status` value in kB (`VmHWM`, `VmRSS`).
fn proc_kb(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn log_count(setup: &WorkerSetup, needle: &str) -> usize {
    std::fs::read_to_string(setup.dir.path().join("worker.stderr"))
        .unwrap_or_default()
        .matches(needle)
        .count()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn stop(mut worker: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &worker.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = worker.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = worker.kill();
    let _ = worker.wait();
}

/// A worker for `profiles`, with `max_idle_connections = max_idle` if given.
fn spawn_worker(
    profiles: &[ProfileSpec],
    max_idle: Option<u64>,
) -> anyhow::Result<(WorkerSetup, Child)> {
    let setup = WorkerSetup::new(profiles)?;
    if let Some(max_idle) = max_idle {
        let text = std::fs::read_to_string(&setup.config)?;
        let text = text.replacen(
            "[worker]\n",
            &format!("[worker]\nmax_idle_connections = {max_idle}\n"),
            1,
        );
        std::fs::write(&setup.config, text)?;
    }
    let worker = setup.spawn(false)?;
    Ok((setup, worker))
}

/// Waits until the start-up polls are done: at least `at_least` logged and none for 2 s.
fn wait_for_quiet_polls(setup: &WorkerSetup, at_least: usize) -> usize {
    let mut polls = log_count(setup, "poll done");
    loop {
        std::thread::sleep(Duration::from_secs(2));
        let now = log_count(setup, "poll done");
        if now == polls && now >= at_least {
            return now;
        }
        polls = now;
    }
}

fn main() -> anyhow::Result<()> {
    let args = args()?;
    let tmp = tempfile::tempdir().context("tempdir")?;
    let ca = TestCa::new(tmp.path())?;
    // Dovecot notices new Maildir files through inotify; past the per-user inotify instance
    // limit (128 by default) it checks every mailbox_idle_check_interval instead.
    let remote = RemoteDovecot::start_with(RemoteOptions::new(&ca).with_extra_config(&format!(
        "mailbox_idle_check_interval = 1 secs\nservice imap {{\n  client_limit = {}\n  process_limit = {}\n}}",
        args.imap_client_limit,
        args.accounts + 100
    )))?;
    let smtp = FakeSmtp::start()?;
    let password_file = WorkerSetup::password_file(tmp.path(), "accounts", PASSWORD)?;
    let names: Vec<String> = (0..args.accounts).map(|i| format!("acct{i:04}")).collect();
    let mut profiles = Vec::new();
    for name in &names {
        remote.add_user(name, PASSWORD)?;
        let mut spec = ProfileSpec::new(
            name,
            remote.imaps_port(),
            name,
            &password_file,
            smtp.port(),
            "alice",
        );
        spec.protocol = "imap";
        spec.ca_file = Some(ca.ca_file().to_path_buf());
        spec.interval = "1h";
        spec.push = true;
        profiles.push(spec);
    }
    let baseline_kb = if args.baseline && args.accounts > 1 {
        let (setup, worker) = spawn_worker(&profiles, Some(1))?;
        let started = Instant::now();
        while log_count(&setup, "IDLE started") < 1 && started.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(100));
        }
        wait_for_quiet_polls(&setup, args.accounts);
        let rss = proc_kb(worker.id(), "VmRSS").unwrap_or_default();
        println!(
            "baseline: {} push profiles, max_idle_connections = 1: worker VmRSS {:.1} MB after {:.1} s",
            args.accounts,
            rss as f64 / 1024.0,
            started.elapsed().as_secs_f64()
        );
        stop(worker);
        Some(rss)
    } else {
        None
    };
    let (setup, worker) = spawn_worker(&profiles, args.max_idle)?;
    let pid = worker.id();
    println!(
        "mailpull-idle-bench: {} accounts over IMAPS, push = true, interval 1h; worker pid {pid}",
        args.accounts
    );

    // Warm-up: every account idling and the start-up polls done.
    let started = Instant::now();
    while log_count(&setup, "IDLE started") < args.accounts {
        if started.elapsed() > Duration::from_secs(600) {
            stop(worker);
            bail!(
                "only {} of {} IDLE connections after 600 s",
                log_count(&setup, "IDLE started"),
                args.accounts
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let polls = wait_for_quiet_polls(&setup, args.accounts);
    let rss_idle = proc_kb(pid, "VmRSS").unwrap_or_default();
    if let Some(base) = baseline_kb {
        let per = (rss_idle as f64 - base as f64) / (args.accounts - 1) as f64;
        println!(
            "memory per IDLE connection: ({:.1} MB - {:.1} MB) / {} = {:.1} KB",
            rss_idle as f64 / 1024.0,
            base as f64 / 1024.0,
            args.accounts - 1,
            per
        );
    }
    println!(
        "warm-up: {} IDLE connections in {:.1} s, {polls} start-up polls; worker VmRSS {:.1} MB",
        args.accounts,
        started.elapsed().as_secs_f64(),
        rss_idle as f64 / 1024.0
    );

    // Arrivals: the SMTP server's accepted list, watched every millisecond.
    let arrivals: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let done = Arc::new(AtomicBool::new(false));
    let smtp = Arc::new(smtp);
    let watcher = {
        let (arrivals, done, smtp) = (arrivals.clone(), done.clone(), smtp.clone());
        std::thread::spawn(move || {
            let mut seen = 0;
            while !done.load(Ordering::Relaxed) {
                // Cheap check first; the accepted list is copied only when it grew.
                if smtp.transactions() > seen {
                    let accepted = smtp.accepted();
                    let now = Instant::now();
                    let mut map = arrivals.lock().unwrap_or_else(|p| p.into_inner());
                    for message in &accepted[seen.min(accepted.len())..] {
                        for id in message_ids(std::slice::from_ref(&message.data)) {
                            map.entry(id).or_insert(now);
                        }
                    }
                    seen = accepted.len();
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };

    let total = (args.seconds * 1000 / args.every_ms) as usize;
    let mut dropped: HashMap<String, Instant> = HashMap::new();
    let begin = Instant::now();
    for n in 0..total {
        let due = begin + Duration::from_millis(args.every_ms * n as u64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let account = &names[fastrand::usize(..names.len())];
        let raw = sample_message(100_000 + n, 2_000, &format!("{account}@isp.example"));
        remote.add_message(account, &raw)?;
        let at = Instant::now();
        if let Some(id) = message_ids(&[raw]).into_iter().next() {
            dropped.insert(id, at);
        }
    }
    // Let the last ones arrive.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let have = {
            let map = arrivals.lock().unwrap_or_else(|p| p.into_inner());
            dropped.keys().filter(|id| map.contains_key(*id)).count()
        };
        if have == dropped.len() || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    done.store(true, Ordering::Relaxed);
    let _ = watcher.join();
    let hwm = proc_kb(pid, "VmHWM").unwrap_or_default();
    let rss_end = proc_kb(pid, "VmRSS").unwrap_or_default();
    let lost = log_count(&setup, "IDLE connection lost");

    let map = arrivals.lock().unwrap_or_else(|p| p.into_inner());
    let mut latencies: Vec<Duration> = dropped
        .iter()
        .filter_map(|(id, at)| Some(map.get(id)?.saturating_duration_since(*at)))
        .collect();
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{} messages over {} s (one every {} ms into a random account); {} arrived",
        dropped.len(),
        args.seconds,
        args.every_ms,
        latencies.len()
    );
    println!(
        "latency drop -> SMTP 250: p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 90.0)),
        ms(percentile(&latencies, 99.0)),
        ms(percentile(&latencies, 100.0)),
    );
    println!(
        "worker memory: VmHWM {:.1} MB (VmRSS idle {:.1} MB, at the end {:.1} MB); IDLE connections lost: {lost}",
        hwm as f64 / 1024.0,
        rss_idle as f64 / 1024.0,
        rss_end as f64 / 1024.0
    );
    let duplicates = smtp.accepted().len().saturating_sub(map.len());
    drop(map);
    stop(worker);
    if latencies.len() != dropped.len() || duplicates > 0 {
        bail!(
            "{} of {} messages never arrived, {duplicates} duplicate(s)",
            dropped.len() - latencies.len(),
            dropped.len()
        );
    }
    Ok(())
}
