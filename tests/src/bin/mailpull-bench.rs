//! `mailpull-bench`: the throughput benchmark of Mailpull against fetchmail. Both pull the same
//! workload (N accounts × M messages of mixed sizes on a private Dovecot, over POP3S and/or
//! IMAPS with a test CA) into the same Postfix `smtp-sink`; the benchmark measures wall time,
//! messages/s, MB/s and peak RSS of each, checks that every message arrived exactly once and
//! that the remote mailboxes are empty afterwards, and prints a Markdown table.
//!
//! Run it through `scripts/bench.sh` (release build). Needs root and `scripts/setup-deps.sh`.

use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use mailpull_tests::{ProfileSpec, RemoteDovecot, SmtpSink, TestCa, config_text, sample_message};

const USAGE: &str = "\
usage: mailpull-bench [options]
  --accounts N            remote accounts (default 60)
  --messages M            messages per account (default 30)
  --protocol P            pop3, imap or both (default pop3)
  --runs K                runs per tool and protocol; the median run is reported (default 1)
  --skip-fetchmail        measure Mailpull only
  --fetchmail-accounts K  let fetchmail pull only the first K accounts (default: all)
  --json FILE             also write the results as JSON
  --keep-logs DIR         copy the worker's stdout/stderr of each run into DIR
  --large-mb N            instead of the mixed workload, one message of N MiB per account
                          (the memory measurement: peak RSS against memory_budget_mb)
  --memory-budget-mb N    the worker's [worker] memory_budget_mb (default: not written, 256)
";

const PASSWORD_PREFIX: &str = "bench-secret-";
const SMALL_MIN: usize = 2_000;
const MEDIUM: usize = 60_000;
const LARGE: usize = 2 * 1024 * 1024;
/// How long the sink may lag behind a finished client (its counter is read from a pipe).
const SINK_SETTLE: Duration = Duration::from_secs(10);
/// A single run may not take longer than this.
const RUN_TIMEOUT: Duration = Duration::from_secs(900);

#[derive(Debug, Clone)]
struct Options {
    accounts: usize,
    messages: usize,
    protocols: Vec<Proto>,
    runs: usize,
    skip_fetchmail: bool,
    fetchmail_accounts: Option<usize>,
    json: Option<PathBuf>,
    keep_logs: Option<PathBuf>,
    /// One message of this many MiB per account instead of the mixed workload.
    large_mb: Option<usize>,
    /// `[worker] memory_budget_mb` for the worker.
    memory_budget_mb: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    Pop3,
    Imap,
}

impl Proto {
    fn name(self) -> &'static str {
        match self {
            Proto::Pop3 => "pop3",
            Proto::Imap => "imap",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Proto::Pop3 => "POP3S",
            Proto::Imap => "IMAPS",
        }
    }

    fn port(self, remote: &RemoteDovecot) -> u16 {
        match self {
            Proto::Pop3 => remote.pop3s_port(),
            Proto::Imap => remote.imaps_port(),
        }
    }
}

fn parse_options() -> anyhow::Result<Options> {
    let mut opts = Options {
        accounts: 60,
        messages: 30,
        protocols: vec![Proto::Pop3],
        runs: 1,
        skip_fetchmail: false,
        fetchmail_accounts: None,
        json: None,
        keep_logs: None,
        large_mb: None,
        memory_budget_mb: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .with_context(|| format!("{name} needs a value\n{USAGE}"))
        };
        let number = |name: &str, text: String| -> anyhow::Result<usize> {
            match text.parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => bail!("{name} wants a positive number, got {text:?}"),
            }
        };
        match arg.as_str() {
            "--accounts" => opts.accounts = number("--accounts", value("--accounts")?)?,
            "--messages" => opts.messages = number("--messages", value("--messages")?)?,
            "--runs" => opts.runs = number("--runs", value("--runs")?)?,
            "--fetchmail-accounts" => {
                opts.fetchmail_accounts = Some(number(
                    "--fetchmail-accounts",
                    value("--fetchmail-accounts")?,
                )?);
            }
            "--protocol" => {
                opts.protocols = match value("--protocol")?.as_str() {
                    "pop3" => vec![Proto::Pop3],
                    "imap" => vec![Proto::Imap],
                    "both" => vec![Proto::Pop3, Proto::Imap],
                    other => bail!("--protocol wants pop3, imap or both, got {other:?}"),
                };
            }
            "--large-mb" => {
                opts.large_mb = Some(number("--large-mb", value("--large-mb")?)?);
            }
            "--memory-budget-mb" => {
                opts.memory_budget_mb =
                    Some(number("--memory-budget-mb", value("--memory-budget-mb")?)?);
            }
            "--skip-fetchmail" => opts.skip_fetchmail = true,
            "--json" => opts.json = Some(PathBuf::from(value("--json")?)),
            "--keep-logs" => opts.keep_logs = Some(PathBuf::from(value("--keep-logs")?)),
            "-h" | "--help" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    if opts.large_mb.is_some() {
        opts.messages = 1;
    }
    Ok(opts)
}

/// The benchmark's messages: `accounts` mailboxes of `messages` messages each. Most are a few
/// KB, every fourth about 60 KB, one in a hundred (and at least one) 2 MB.
struct Workload {
    users: Vec<String>,
    /// Per account, its messages.
    messages: Vec<Vec<Vec<u8>>>,
}

impl Workload {
    /// `large_mb`: one message of that many MiB per account instead.
    fn new(accounts: usize, messages: usize, large_mb: Option<usize>) -> Self {
        let users: Vec<String> = (0..accounts).map(|a| format!("bench{a:03}")).collect();
        let mut all = Vec::with_capacity(accounts);
        for (a, user) in users.iter().enumerate() {
            let to = format!("{user}@isp.example");
            let mailbox = (0..messages)
                .map(|j| {
                    let idx = a * messages + j;
                    let size = large_mb.map_or_else(|| message_size(idx, j), |mb| mb * 1024 * 1024);
                    sample_message(idx, size, &to)
                })
                .collect();
            all.push(mailbox);
        }
        Workload {
            users,
            messages: all,
        }
    }

    fn password(user: &str) -> String {
        format!("{PASSWORD_PREFIX}{user}")
    }

    /// Messages and bytes in the first `accounts` accounts.
    fn totals(&self, accounts: usize) -> (usize, u64) {
        self.messages[..accounts]
            .iter()
            .flatten()
            .fold((0, 0), |(n, b), m| (n + 1, b + m.len() as u64))
    }

    /// Drops the messages of the first `accounts` accounts into their Maildirs.
    fn fill(&self, remote: &RemoteDovecot, accounts: usize) -> anyhow::Result<()> {
        let threads = 4.min(accounts).max(1);
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    scope.spawn(move || -> anyhow::Result<()> {
                        for a in (t..accounts).step_by(threads) {
                            for raw in &self.messages[a] {
                                remote.add_message(&self.users[a], raw)?;
                            }
                        }
                        Ok(())
                    })
                })
                .collect();
            for handle in handles {
                handle
                    .join()
                    .map_err(|_| anyhow::anyhow!("a fill thread panicked"))??;
            }
            Ok(())
        })
    }

    /// Fails unless every remote mailbox is empty.
    fn check_empty(&self, remote: &RemoteDovecot) -> anyhow::Result<()> {
        let mut left = Vec::new();
        for user in &self.users {
            let n = remote.message_count(user)?;
            if n > 0 {
                left.push(format!("{user}: {n}"));
            }
        }
        if !left.is_empty() {
            bail!(
                "messages left on the remote server after the run: {}",
                left.join(", ")
            );
        }
        Ok(())
    }
}

/// Size of the `j`-th message of an account, `idx`-th overall.
fn message_size(idx: usize, j: usize) -> usize {
    if idx.is_multiple_of(100) {
        LARGE
    } else if j % 4 == 3 {
        MEDIUM
    } else {
        SMALL_MIN + (idx * 1_237) % 5_000
    }
}

/// What one run of a tool measured.
#[derive(Debug, Clone)]
struct Measured {
    seconds: f64,
    peak_rss_kib: u64,
    /// User + system CPU seconds of the process (last sample before it exited).
    cpu_seconds: f64,
    /// Share of the machine's CPU time that was busy during the run (all processes).
    machine_busy: f64,
}

#[derive(Debug, Clone)]
struct Row {
    tool: &'static str,
    protocol: Proto,
    accounts: usize,
    per_account: usize,
    messages: usize,
    bytes: u64,
    note: String,
    runs: Vec<Measured>,
}

impl Row {
    /// The median run by wall time.
    fn median(&self) -> &Measured {
        let mut order: Vec<&Measured> = self.runs.iter().collect();
        order.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
        order[order.len() / 2]
    }

    fn mb(&self) -> f64 {
        self.bytes as f64 / 1e6
    }
}

/// `VmHWM` (peak resident set) of a process in KiB.
fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// utime + stime of a process in seconds (USER_HZ is 100 on Linux).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// (busy, total) jiffies of the whole machine from /proc/stat.
fn machine_jiffies() -> Option<(u64, u64)> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let values: Vec<u64> = line
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = values.iter().sum();
    // idle + iowait
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// Runs `cmd` to completion, sampling its peak RSS every 20 ms.
fn measure(cmd: &mut Command, what: &str) -> anyhow::Result<(Measured, std::process::ExitStatus)> {
    let before = machine_jiffies();
    let start = Instant::now();
    let mut child = cmd.spawn().with_context(|| format!("starting {what}"))?;
    let pid = child.id();
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let (mut peak, mut cpu) = (0u64, 0f64);
            while !stop.load(Ordering::Relaxed) {
                if let Some(v) = vm_hwm_kib(pid) {
                    peak = peak.max(v);
                }
                if let Some(c) = cpu_seconds(pid) {
                    cpu = cpu.max(c);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            (peak, cpu)
        })
    };
    let deadline = start + RUN_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().context("waiting for the child")? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            stop.store(true, Ordering::Relaxed);
            let _ = sampler.join();
            bail!("{what} did not finish within {RUN_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let seconds = start.elapsed().as_secs_f64();
    let after = machine_jiffies();
    stop.store(true, Ordering::Relaxed);
    let (peak_rss_kib, cpu_seconds) = sampler
        .join()
        .map_err(|_| anyhow::anyhow!("the RSS sampler panicked"))?;
    let machine_busy = match (before, after) {
        (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => (b1 - b0) as f64 / (t1 - t0) as f64,
        _ => 0.0,
    };
    Ok((
        Measured {
            seconds,
            peak_rss_kib,
            cpu_seconds,
            machine_busy,
        },
        status,
    ))
}

/// Everything the runs share.
struct Bench {
    opts: Options,
    tmp: tempfile::TempDir,
    ca: TestCa,
    remote: RemoteDovecot,
    sink: SmtpSink,
    workload: Workload,
    worker_bin: PathBuf,
}

impl Bench {
    fn setup(opts: Options) -> anyhow::Result<Self> {
        let tmp = tempfile::Builder::new()
            .prefix("mailpull-bench-")
            .tempdir()
            .context("tempdir")?;
        let ca_dir = tmp.path().join("ca");
        fs::create_dir_all(&ca_dir).context("ca dir")?;
        fs::set_permissions(&ca_dir, fs::Permissions::from_mode(0o755)).context("chmod")?;
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).context("chmod")?;
        let ca = TestCa::new(&ca_dir)?;
        let remote = RemoteDovecot::start(&ca)?;
        let sink = SmtpSink::start()?;
        let worker_bin = worker_binary()?;
        let t = Instant::now();
        let workload = Workload::new(opts.accounts, opts.messages, opts.large_mb);
        for user in &workload.users {
            remote.add_user(user, &Workload::password(user))?;
        }
        eprintln!(
            "bench: {} accounts x {} messages generated in {:.1} s; worker {}",
            opts.accounts,
            opts.messages,
            t.elapsed().as_secs_f64(),
            worker_bin.display()
        );
        Ok(Bench {
            opts,
            tmp,
            ca,
            remote,
            sink,
            workload,
            worker_bin,
        })
    }

    fn refill(&self, accounts: usize) -> anyhow::Result<()> {
        self.workload.check_empty(&self.remote)?;
        let t = Instant::now();
        self.workload.fill(&self.remote, accounts)?;
        eprintln!(
            "bench: filled {accounts} mailbox(es) in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        Ok(())
    }

    /// Waits until the sink got `expected` more messages than `before`, and no more.
    fn check_sink(&self, before: usize, expected: usize) -> anyhow::Result<()> {
        self.sink
            .wait_for(before + expected, SINK_SETTLE)
            .with_context(|| format!("expected {expected} new message(s) at the sink"))?;
        std::thread::sleep(Duration::from_millis(200));
        let got = self.sink.received() - before;
        if got != expected {
            bail!("the sink received {got} message(s), expected exactly {expected}");
        }
        Ok(())
    }

    fn run_mailpull(&self, proto: Proto, run: usize) -> anyhow::Result<Measured> {
        let accounts = self.opts.accounts;
        self.refill(accounts)?;
        let dir = self
            .tmp
            .path()
            .join(format!("mailpull-{}-{run}", proto.name()));
        fs::create_dir_all(&dir).context("run dir")?;
        let mut profiles = Vec::with_capacity(accounts);
        for user in &self.workload.users {
            let password_file = dir.join(format!("{user}.password"));
            fs::write(&password_file, format!("{}\n", Workload::password(user)))
                .context("password file")?;
            let mut spec = ProfileSpec::new(
                user,
                proto.port(&self.remote),
                user,
                &password_file,
                self.sink.port(),
                user,
            );
            spec.protocol = proto.name();
            spec.ca_file = Some(self.ca.ca_file().to_path_buf());
            profiles.push(spec);
        }
        let config = dir.join("mailpull.toml");
        let mut text = config_text(&dir.join("state"), 64, 64, &profiles);
        if let Some(mb) = self.opts.memory_budget_mb {
            text = text.replacen(
                "[worker]\n",
                &format!("[worker]\nmemory_budget_mb = {mb}\n"),
                1,
            );
        }
        fs::write(&config, text).context("write config")?;
        let stdout = fs::File::create(dir.join("worker.stdout")).context("stdout file")?;
        let stderr = fs::File::create(dir.join("worker.stderr")).context("stderr file")?;
        let before = self.sink.received();
        let mut cmd = Command::new(&self.worker_bin);
        cmd.args(["run", "--once", "--config"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        let (measured, status) = measure(&mut cmd, "mailpull-worker")?;
        if let Some(keep) = &self.opts.keep_logs {
            fs::create_dir_all(keep).context("--keep-logs dir")?;
            for name in ["worker.stdout", "worker.stderr"] {
                let _ = fs::copy(
                    dir.join(name),
                    keep.join(format!("mailpull-{}-{run}.{name}", proto.name())),
                );
            }
        }
        if !status.success() {
            bail!(
                "mailpull-worker failed ({status}):\n{}\n{}",
                tail(&dir.join("worker.stdout")),
                tail(&dir.join("worker.stderr"))
            );
        }
        let (expected, _) = self.workload.totals(accounts);
        self.check_sink(before, expected)?;
        self.workload.check_empty(&self.remote)?;
        Ok(measured)
    }

    fn run_fetchmail(&self, proto: Proto, accounts: usize, run: usize) -> anyhow::Result<Measured> {
        self.refill(accounts)?;
        let dir = self
            .tmp
            .path()
            .join(format!("fetchmail-{}-{run}", proto.name()));
        let home = dir.join("home");
        fs::create_dir_all(&home).context("fetchmail home")?;
        let rc = dir.join("fetchmailrc");
        let mut text = String::from("set no syslog\nset no bouncemail\n\n");
        for user in &self.workload.users[..accounts] {
            let _ = writeln!(
                text,
                "poll localhost service {port} protocol {protocol}\n  \
                 user \"{user}\" there with password \"{password}\" is \"{user}\" here\n  \
                 ssl sslcertck sslcertfile \"{ca}\"\n  \
                 smtphost \"127.0.0.1/{smtp}\" smtpname \"{user}@{domain}\"\n  \
                 no keep fetchall\n",
                port = proto.port(&self.remote),
                protocol = proto.name(),
                password = Workload::password(user),
                ca = self.ca.ca_file().display(),
                smtp = self.sink.port(),
                domain = mailpull_tests::LOCAL_DOMAIN,
            );
        }
        fs::write(&rc, text).context("write fetchmailrc")?;
        fs::set_permissions(&rc, fs::Permissions::from_mode(0o600)).context("chmod rcfile")?;
        let stderr_path = dir.join("fetchmail.stderr");
        let stdout = fs::File::create(dir.join("fetchmail.stdout")).context("stdout file")?;
        let stderr = fs::File::create(&stderr_path).context("stderr file")?;
        let before = self.sink.received();
        let mut cmd = Command::new("fetchmail");
        cmd.args(["--nodetach", "--silent", "--fetchmailrc"])
            .arg(&rc)
            .arg("--pidfile")
            .arg(dir.join("fetchmail.pid"))
            .env("HOME", &home)
            .env("FETCHMAILHOME", &home)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        let (measured, status) = measure(&mut cmd, "fetchmail")?;
        // 0: mail was fetched; 1: there was none. Anything else is a failure.
        if !matches!(status.code(), Some(0)) {
            bail!("fetchmail failed ({status}):\n{}", tail(&stderr_path));
        }
        let (expected, _) = self.workload.totals(accounts);
        self.check_sink(before, expected)?;
        self.workload.check_empty(&self.remote)?;
        Ok(measured)
    }
}

/// The last lines of a log file, for error messages.
fn tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(30);
    format!("--- {}\n{}", path.display(), lines[start..].join("\n"))
}

/// Whether the worker at `path` is cargo's release build (it sits in `target/release`).
fn is_release_build(path: &Path) -> bool {
    path.to_string_lossy().contains("/release/")
}

/// The release worker: `MAILPULL_WORKER_BIN`, else next to this binary (target/release).
fn worker_binary() -> anyhow::Result<PathBuf> {
    let path = mailpull_tests::worker_binary()?;
    if !is_release_build(&path) {
        eprintln!(
            "bench: warning: {} does not look like a release build",
            path.display()
        );
    }
    Ok(path)
}

fn cpu_model() -> String {
    fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

fn first_line(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            text.lines()
                .find(|l| !l.contains("WARNING"))
                .unwrap_or("")
                .trim()
                .to_owned()
        })
        .unwrap_or_default()
}

fn machine_line() -> String {
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    // Says what was measured: a debug worker is much slower (and warned about above).
    let build = match mailpull_tests::worker_binary() {
        Ok(path) if is_release_build(&path) => "release",
        Ok(_) => "debug",
        Err(_) => "unknown",
    };
    format!(
        "Machine: {cores} CPU core(s) ({}), shared by the client, Dovecot {} and smtp-sink; \
         {}; `mailpull-worker` {build} build, max_connections 64.",
        cpu_model(),
        first_line("dovecot", &["--version"]),
        first_line("fetchmail", &["--version"])
            .trim_start_matches("This is ")
            .trim_end_matches('.'),
    )
}

fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| tool | protocol | accounts × messages | messages | MB | seconds | messages/s | MB/s | peak RSS MiB |\n\
         |---|---|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for row in rows {
        let m = row.median();
        let _ = writeln!(
            out,
            "| {}{} | {} | {} × {} | {} | {:.1} | {:.2} | {:.0} | {:.1} | {:.1} |",
            row.tool,
            row.note,
            row.protocol.label(),
            row.accounts,
            row.per_account,
            row.messages,
            row.mb(),
            m.seconds,
            row.messages as f64 / m.seconds,
            row.mb() / m.seconds,
            m.peak_rss_kib as f64 / 1024.0,
        );
    }
    out
}

fn json(rows: &[Row], machine: &str, opts: &Options) -> serde_json::Value {
    let rows: Vec<_> = rows
        .iter()
        .map(|row| {
            let m = row.median();
            serde_json::json!({
                "tool": row.tool,
                "protocol": row.protocol.label(),
                "accounts": row.accounts,
                "messages_per_account": row.per_account,
                "messages": row.messages,
                "bytes": row.bytes,
                "mb": row.mb(),
                "seconds": m.seconds,
                "messages_per_second": row.messages as f64 / m.seconds,
                "mb_per_second": row.mb() / m.seconds,
                "peak_rss_mib": m.peak_rss_kib as f64 / 1024.0,
                "cpu_seconds": m.cpu_seconds,
                "machine_busy": m.machine_busy,
                "runs": row.runs.iter().map(|r| serde_json::json!({
                    "seconds": r.seconds,
                    "peak_rss_kib": r.peak_rss_kib,
                    "cpu_seconds": r.cpu_seconds,
                    "machine_busy": r.machine_busy,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::json!({
        "machine": machine,
        "nproc": std::thread::available_parallelism().map_or(0, usize::from),
        "cpu_model": cpu_model(),
        "accounts": opts.accounts,
        "messages_per_account": opts.messages,
        "rows": rows,
    })
}

fn report_run(tool: &str, proto: Proto, run: usize, messages: usize, bytes: u64, m: &Measured) {
    eprintln!(
        "bench: {tool} {} run {run}: {messages} messages in {:.2} s = {:.0} msg/s, {:.1} MB/s; \
         peak RSS {:.1} MiB; CPU {:.2} s; machine busy {:.0} %",
        proto.label(),
        m.seconds,
        messages as f64 / m.seconds,
        bytes as f64 / 1e6 / m.seconds,
        m.peak_rss_kib as f64 / 1024.0,
        m.cpu_seconds,
        m.machine_busy * 100.0
    );
}

fn main_inner() -> anyhow::Result<()> {
    let opts = parse_options()?;
    let started = Instant::now();
    let bench = Bench::setup(opts.clone())?;
    let mut rows = Vec::new();
    for &proto in &opts.protocols {
        let (messages, bytes) = bench.workload.totals(opts.accounts);
        let mut row = Row {
            tool: "Mailpull",
            protocol: proto,
            accounts: opts.accounts,
            per_account: opts.messages,
            messages,
            bytes,
            note: opts
                .memory_budget_mb
                .map(|mb| format!(" (memory_budget_mb {mb})"))
                .unwrap_or_default(),
            runs: Vec::new(),
        };
        for run in 1..=opts.runs {
            let m = bench.run_mailpull(proto, run)?;
            report_run("Mailpull", proto, run, messages, bytes, &m);
            row.runs.push(m);
        }
        rows.push(row);
        if !opts.skip_fetchmail {
            let accounts = opts
                .fetchmail_accounts
                .unwrap_or(opts.accounts)
                .min(opts.accounts);
            let (messages, bytes) = bench.workload.totals(accounts);
            let mut row = Row {
                tool: "fetchmail",
                protocol: proto,
                accounts,
                per_account: opts.messages,
                messages,
                bytes,
                note: if accounts < opts.accounts {
                    format!(" (first {accounts} of {} accounts)", opts.accounts)
                } else {
                    String::new()
                },
                runs: Vec::new(),
            };
            for run in 1..=opts.runs {
                let m = bench.run_fetchmail(proto, accounts, run)?;
                report_run("fetchmail", proto, run, messages, bytes, &m);
                row.runs.push(m);
            }
            rows.push(row);
        }
    }
    let machine = machine_line();
    println!("{}\n{machine}", table(&rows));
    if let Some(path) = &opts.json {
        let text = serde_json::to_string_pretty(&json(&rows, &machine, &opts))?;
        fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    eprintln!("bench: done in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

fn main() -> std::process::ExitCode {
    match main_inner() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("mailpull-bench: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
