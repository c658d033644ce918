//! `mailpull-cluster-bench`: several workers on one shared state (PostgreSQL), measured on the
//! end-to-end tests' test bed (a private Dovecot with TLS, Postfix's `smtp-sink`, a private
//! PostgreSQL cluster with `pg_stat_statements`), with separate release `mailpull-worker`
//! processes that share one configuration (each its own file, pipe and state dir).
//!
//! - **Throughput**: P profiles (default 30) × M messages (default 60, 2–7 KB) pulled over
//!   POP3S by 1, 2 and 3 workers sharing the profiles through PostgreSQL, and by one worker on
//!   the embedded SQLite state as the baseline. Messages/s from the workers' start to the
//!   sink's last message (lease start-up included) and from the first message to the last;
//!   the lease overhead: lease rounds per second (one transaction each), their share of the
//!   database's committed transactions (`pg_stat_database.xact_commit`) and of its statements
//!   and execution time (`pg_stat_statements`). Checks that the sink got every message exactly
//!   (by count) and that the mailboxes are empty.
//! - **Idle**: N empty POP3S mailboxes (default 10,000) as profiles over 3 workers: the split of
//!   the profiles (each worker within ±20 % of N / 3, else the bench fails), the start-up (every
//!   profile polled once), then a window at rest: each worker's RSS and CPU, the database's
//!   transactions per second and its server processes' CPU, the lease rounds and their cost.
//!
//! A benchmark, not a test: run it through `scripts/bench.sh --cluster [options]` (release
//! build); `--help` lists the options. Needs root and the packages of `scripts/setup-deps.sh`.

mod idle;
mod probe;

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use mailpull_tests::{
    PostgresCluster, ProfileSpec, RemoteDovecot, RemoteOptions, SmtpSink, TestCa, WorkerSetup,
    sample_message, stop_worker,
};
use probe::Statements;

const USAGE: &str = "\
usage: mailpull-cluster-bench [options]
  --profiles P         profiles of the throughput runs (default 30)
  --messages M         messages per profile in each throughput run (default 60)
  --workers LIST       worker counts on PostgreSQL, comma-separated (default 1,2,3)
  --no-sqlite          no baseline run of one worker on SQLite
  --idle-profiles N    empty profiles of the idle run (default 10000)
  --idle-workers K     workers of the idle run (default 3)
  --idle-interval D    poll interval of the idle profiles (default 10m)
  --rest-seconds S     length of the window at rest (default 60)
  --lease SECS         [worker] lease (default 30)
  --per-host N         max_connections_per_host of each worker (default 16)
  --skip-throughput    only the idle run
  --skip-idle          only the throughput runs
";

const PASSWORD: &str = "cluster-bench-pw";
/// A throughput run or the idle start-up may not take longer.
const RUN_TIMEOUT: Duration = Duration::from_secs(1200);

struct Args {
    profiles: usize,
    messages: usize,
    workers: Vec<usize>,
    sqlite: bool,
    idle_profiles: usize,
    idle_workers: usize,
    idle_interval: &'static str,
    rest_seconds: u64,
    lease: u64,
    per_host: usize,
    throughput: bool,
    idle: bool,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        profiles: 30,
        messages: 60,
        workers: vec![1, 2, 3],
        sqlite: true,
        idle_profiles: 10_000,
        idle_workers: 3,
        idle_interval: "10m",
        rest_seconds: 60,
        lease: 30,
        per_host: 16,
        throughput: true,
        idle: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().with_context(|| format!("{name} needs a value"));
        let number = |name: &str, text: String| -> anyhow::Result<usize> {
            match text.parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => bail!("{name} wants a positive number, got {text:?}"),
            }
        };
        match flag.as_str() {
            "--profiles" => args.profiles = number("--profiles", value("--profiles")?)?,
            "--messages" => args.messages = number("--messages", value("--messages")?)?,
            "--workers" => {
                args.workers = value("--workers")?
                    .split(',')
                    .map(|n| number("--workers", n.trim().to_string()))
                    .collect::<anyhow::Result<_>>()?;
            }
            "--no-sqlite" => args.sqlite = false,
            "--idle-profiles" => {
                args.idle_profiles = number("--idle-profiles", value("--idle-profiles")?)?;
            }
            "--idle-workers" => {
                args.idle_workers = number("--idle-workers", value("--idle-workers")?)?;
            }
            "--idle-interval" => {
                args.idle_interval = Box::leak(value("--idle-interval")?.into_boxed_str());
            }
            "--rest-seconds" => {
                args.rest_seconds = number("--rest-seconds", value("--rest-seconds")?)? as u64;
            }
            "--lease" => args.lease = number("--lease", value("--lease")?)? as u64,
            "--per-host" => args.per_host = number("--per-host", value("--per-host")?)?,
            "--skip-throughput" => args.throughput = false,
            "--skip-idle" => args.idle = false,
            "-h" | "--help" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    if args.lease < 3 {
        bail!("--lease must be at least 3 (seconds), as the worker's check demands");
    }
    Ok(args)
}

/// The test bed every run shares.
struct Bed {
    _tmp: tempfile::TempDir,
    ca: TestCa,
    remote: RemoteDovecot,
    sink: SmtpSink,
    pg: PostgresCluster,
    password_file: PathBuf,
    pg_password: PathBuf,
}

impl Bed {
    fn start() -> anyhow::Result<Bed> {
        let tmp = tempfile::Builder::new()
            .prefix("mailpull-cluster-bench-")
            .tempdir()
            .context("tempdir")?;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755))?;
        let ca = TestCa::new(tmp.path())?;
        let remote = RemoteDovecot::start_with(RemoteOptions::new(&ca))?;
        let sink = SmtpSink::start()?;
        let pg =
            PostgresCluster::start_with_options("-c shared_preload_libraries=pg_stat_statements")?;
        let password_file = WorkerSetup::password_file(tmp.path(), "isp", PASSWORD)?;
        let pg_password = WorkerSetup::password_file(tmp.path(), "pg", pg.password())?;
        Ok(Bed {
            _tmp: tmp,
            ca,
            remote,
            sink,
            pg,
            password_file,
            pg_password,
        })
    }

    /// POP3S profiles for `users`, polled every `interval`.
    fn specs(&self, users: &[String], interval: &'static str) -> Vec<ProfileSpec> {
        users
            .iter()
            .map(|user| {
                let mut spec = ProfileSpec::new(
                    user,
                    self.remote.pop3s_port(),
                    user,
                    &self.password_file,
                    self.sink.port(),
                    "alice",
                );
                spec.ca_file = Some(self.ca.ca_file().to_path_buf());
                spec.interval = interval;
                spec
            })
            .collect()
    }

    /// `n` worker setups for `specs`; on the shared state in database `db` when given.
    fn setups(
        &self,
        args: &Args,
        specs: &[ProfileSpec],
        n: usize,
        db: Option<&str>,
    ) -> anyhow::Result<Vec<WorkerSetup>> {
        (0..n)
            .map(|_| {
                let setup = WorkerSetup::with_limits(64, args.per_host, specs)?;
                if let Some(db) = db {
                    let text = std::fs::read_to_string(&setup.config)?;
                    let shared = format!(
                        "[worker]\nstate = {:?}\nstate_password = {{ file = {:?} }}\nlease = \"{}s\"\n",
                        self.pg.url(db),
                        self.pg_password.display().to_string(),
                        args.lease
                    );
                    std::fs::write(&setup.config, text.replacen("[worker]\n", &shared, 1))?;
                }
                Ok(setup)
            })
            .collect()
    }

    /// A fresh database with `pg_stat_statements`.
    fn database(&self, db: &str) -> anyhow::Result<()> {
        self.pg.create_database(db)?;
        if !probe::enable_statements(&self.pg, db) {
            bail!("pg_stat_statements is not available in the private cluster");
        }
        Ok(())
    }

    /// Live leases per holder, largest first.
    fn split(&self, db: &str) -> anyhow::Result<Vec<usize>> {
        let text = self.pg.query(
            db,
            "SELECT count(*) FROM leases WHERE expires_at > now() GROUP BY holder ORDER BY 1 DESC",
        )?;
        Ok(text.lines().filter_map(|l| l.trim().parse().ok()).collect())
    }
}

/// A worker's stderr (for failures).
fn log(setup: &WorkerSetup) -> String {
    let text = std::fs::read_to_string(setup.dir.path().join("worker.stderr")).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

fn log_count(setup: &WorkerSetup, needle: &str) -> usize {
    std::fs::read_to_string(setup.dir.path().join("worker.stderr"))
        .unwrap_or_default()
        .matches(needle)
        .count()
}

/// Fails when a worker exited.
fn check_alive(children: &mut [Child], setups: &[WorkerSetup]) -> anyhow::Result<()> {
    for (child, setup) in children.iter_mut().zip(setups) {
        if let Some(status) = child.try_wait()? {
            bail!("a worker exited ({status}):\n{}", log(setup));
        }
    }
    Ok(())
}

/// One throughput run.
struct Throughput {
    label: String,
    messages: usize,
    bytes: u64,
    /// Workers' start to the first and to the last message at the sink.
    first: Duration,
    last: Duration,
    /// Workers' start to their stop (the window of the database counters).
    window: Duration,
    /// Worker CPU seconds (all workers) and the largest peak RSS (MiB).
    cpu: f64,
    peak_rss_mib: f64,
    split: Vec<usize>,
    xacts: Option<u64>,
    statements: Option<Statements>,
}

/// Drops `per_user` messages into each mailbox; their count and bytes.
fn fill(bed: &Bed, users: &[String], per_user: usize, base: usize) -> anyhow::Result<(usize, u64)> {
    let mut bytes = 0;
    for (u, user) in users.iter().enumerate() {
        for m in 0..per_user {
            let idx = base + u * per_user + m;
            let raw = sample_message(
                idx,
                2_000 + (idx * 1_237) % 5_000,
                &format!("{user}@isp.example"),
            );
            bytes += raw.len() as u64;
            bed.remote.add_message(user, &raw)?;
        }
    }
    Ok((users.len() * per_user, bytes))
}

fn throughput(
    bed: &Bed,
    args: &Args,
    users: &[String],
    workers: usize,
    shared: bool,
    run: usize,
) -> anyhow::Result<Throughput> {
    let (messages, bytes) = fill(bed, users, args.messages, run * users.len() * args.messages)?;
    let db = format!("throughput{run}");
    let specs = bed.specs(users, "10m");
    let setups = if shared {
        bed.database(&db)?;
        bed.setups(args, &specs, workers, Some(&db))?
    } else {
        bed.setups(args, &specs, workers, None)?
    };
    let (x0, s0) = if shared {
        (
            Some(probe::xact_commit(&bed.pg, &db)?),
            Some(probe::statements(&bed.pg, &db)?),
        )
    } else {
        (None, None)
    };
    let before = bed.sink.received();
    let start = Instant::now();
    let mut children = setups
        .iter()
        .map(|s| s.spawn(false))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut first = None;
    let last = loop {
        let got = bed.sink.received() - before;
        if got > 0 && first.is_none() {
            first = Some(start.elapsed());
        }
        if got >= messages {
            break start.elapsed();
        }
        check_alive(&mut children, &setups)?;
        if start.elapsed() > RUN_TIMEOUT {
            bail!(
                "{got} of {messages} messages after {RUN_TIMEOUT:?}:\n{}",
                log(&setups[0])
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let split = if shared {
        bed.split(&db)?
    } else {
        vec![users.len()]
    };
    let cpu = children.iter().map(|c| probe::cpu_seconds(c.id())).sum();
    let peak = children
        .iter()
        .filter_map(|c| probe::proc_kib(c.id(), "VmHWM"))
        .max()
        .unwrap_or_default();
    for child in &mut children {
        stop_worker(child);
    }
    let window = start.elapsed();
    // The backends report their counters within about a second of a transaction.
    std::thread::sleep(Duration::from_millis(1500));
    let (xacts, statements) = match (x0, s0) {
        (Some(x0), Some(s0)) => (
            Some(probe::xact_commit(&bed.pg, &db)? - x0),
            Some(probe::statements(&bed.pg, &db)?.since(&s0)),
        ),
        _ => (None, None),
    };
    let got = bed.sink.received() - before;
    if got != messages {
        bail!("the sink got {got} messages, expected exactly {messages}");
    }
    for user in users {
        let left = bed.remote.message_count(user)?;
        if left > 0 {
            bail!("{left} message(s) left in {user}'s mailbox");
        }
    }
    Ok(Throughput {
        label: if shared {
            format!("{workers} on PostgreSQL")
        } else {
            format!("{workers} on SQLite")
        },
        messages,
        bytes,
        first: first.unwrap_or(last),
        last,
        window,
        cpu,
        peak_rss_mib: peak as f64 / 1024.0,
        split,
        xacts,
        statements,
    })
}

fn throughput_table(rows: &[Throughput], lease: u64) -> String {
    let mut out = format!(
        "| workers | messages | start → last | msg/s | first → last | msg/s | worker CPU s | peak RSS MiB | profiles per worker | lease rounds/s (lease {lease} s) | rounds / committed tx | lease statements / all | lease time / all |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|\n"
    );
    for r in rows {
        let steady = r.last.saturating_sub(r.first).as_secs_f64();
        let lease = match (&r.statements, r.xacts) {
            (Some(s), Some(x)) => format!(
                "{:.2} | {} / {} = {:.1} % | {} / {} = {:.1} % | {:.0} / {:.0} ms = {:.1} %",
                s.lease_rounds as f64 / r.window.as_secs_f64(),
                s.lease_rounds,
                x,
                pct(s.lease_rounds as f64, x as f64),
                s.lease_calls,
                s.all_calls,
                pct(s.lease_calls as f64, s.all_calls as f64),
                s.lease_ms,
                s.all_ms,
                pct(s.lease_ms, s.all_ms)
            ),
            _ => "– | – | – | –".to_string(),
        };
        let _ = writeln!(
            out,
            "| {} | {} ({:.1} MB) | {:.2} s | **{:.0}** | {:.2} s | {:.0} | {:.1} | {:.1} | {} | {lease} |",
            r.label,
            r.messages,
            r.bytes as f64 / 1e6,
            r.last.as_secs_f64(),
            r.messages as f64 / r.last.as_secs_f64(),
            steady,
            if steady > 0.0 {
                r.messages as f64 / steady
            } else {
                0.0
            },
            r.cpu,
            r.peak_rss_mib,
            r.split
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(" / "),
        );
    }
    out
}

fn pct(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        100.0 * part / whole
    } else {
        0.0
    }
}

fn main_inner() -> anyhow::Result<()> {
    let args = parse_args()?;
    let started = Instant::now();
    let (load, cores) = probe::load();
    eprintln!("cluster-bench: {cores} cores, load average {load:.1} at the start");
    let bed = Bed::start()?;
    let mut report = String::new();
    if args.throughput {
        let users: Vec<String> = (0..args.profiles).map(|p| format!("cb{p:04}")).collect();
        for user in &users {
            bed.remote.add_user(user, PASSWORD)?;
        }
        let mut runs: Vec<(usize, bool)> = Vec::new();
        if args.sqlite {
            runs.push((1, false));
        }
        runs.extend(args.workers.iter().map(|n| (*n, true)));
        let mut rows = Vec::new();
        for (run, (workers, shared)) in runs.into_iter().enumerate() {
            let row = throughput(&bed, &args, &users, workers, shared, run)?;
            eprintln!(
                "cluster-bench: {}: {} messages in {:.2} s ({:.0}/s)",
                row.label,
                row.messages,
                row.last.as_secs_f64(),
                row.messages as f64 / row.last.as_secs_f64()
            );
            rows.push(row);
        }
        let _ = writeln!(
            report,
            "Throughput: {} POP3S profiles × {} messages, max_connections 64, max_connections_per_host {}\n\n{}",
            args.profiles,
            args.messages,
            args.per_host,
            throughput_table(&rows, args.lease)
        );
    }
    if args.idle {
        let _ = writeln!(report, "{}", idle::run(&bed, &args)?);
    }
    let (load_end, _) = probe::load();
    println!(
        "{report}Machine: {cores} cores, load average {load:.1} at the start and {load_end:.1} at the end (other builds share it); {:.0} s in all.",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn main() -> std::process::ExitCode {
    match main_inner() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("mailpull-cluster-bench: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
