//! What the cluster benchmark reads while it runs: a process's memory and CPU from `/proc`,
//! the machine's load, and the private PostgreSQL's counters (`pg_stat_database`,
//! `pg_stat_statements`) through `psql`.

use anyhow::Context;
use mailpull_tests::PostgresCluster;

/// A `/proc/PID/status` value in KiB (`VmHWM`, `VmRSS`).
pub fn proc_kib(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Fields of `/proc/PID/stat` after the command name (which may hold spaces).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// utime + stime of a process in seconds (USER_HZ is 100 on Linux); 0 once it is gone.
pub fn cpu_seconds(pid: u32) -> f64 {
    stat_fields(pid)
        .and_then(|f| Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?))
        .map_or(0.0, |ticks| ticks as f64 / 100.0)
}

/// The parent of a process.
fn parent(pid: u32) -> Option<u32> {
    stat_fields(pid)?.get(1)?.parse().ok()
}

/// The 1-minute load average and the number of cores, for the report (other builds share
/// the machine).
pub fn load() -> (f64, usize) {
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    (load, cores)
}

/// Committed transactions of database `db` so far (`pg_stat_database.xact_commit`; the
/// backends report them within about a second).
pub fn xact_commit(pg: &PostgresCluster, db: &str) -> anyhow::Result<u64> {
    let text = pg.query(
        "postgres",
        &format!("SELECT xact_commit FROM pg_stat_database WHERE datname = '{db}'"),
    )?;
    text.trim()
        .parse()
        .with_context(|| format!("xact_commit of {db}: {text:?}"))
}

/// The server processes of the cluster: the backends and background processes
/// (`pg_stat_activity`) and their parent, the postmaster.
pub fn server_pids(pg: &PostgresCluster) -> anyhow::Result<Vec<u32>> {
    let text = pg.query("postgres", "SELECT pid FROM pg_stat_activity")?;
    let mut pids: Vec<u32> = text.lines().filter_map(|l| l.trim().parse().ok()).collect();
    if let Some(postmaster) = pids.first().and_then(|pid| parent(*pid)) {
        pids.push(postmaster);
    }
    pids.sort_unstable();
    pids.dedup();
    Ok(pids)
}

/// CPU seconds of the cluster's server processes so far (those alive now).
pub fn server_cpu(pg: &PostgresCluster) -> anyhow::Result<f64> {
    Ok(server_pids(pg)?.into_iter().map(cpu_seconds).sum())
}

/// Statement counters from `pg_stat_statements`, cumulative over the cluster.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Statements {
    /// Lease rounds: calls of the round's first statement (`INSERT INTO workers`), one
    /// transaction each.
    pub lease_rounds: u64,
    /// Execution time of every statement of the lease rounds (ms).
    pub lease_round_ms: f64,
    /// Calls of every statement that reads or writes `leases` or `workers` (the rounds, the
    /// fencing check in each record's transaction, `status`, the release).
    pub lease_calls: u64,
    pub lease_ms: f64,
    /// Every statement but BEGIN/COMMIT/ROLLBACK.
    pub all_calls: u64,
    pub all_ms: f64,
}

impl Statements {
    pub fn since(&self, before: &Statements) -> Statements {
        Statements {
            lease_rounds: self.lease_rounds - before.lease_rounds,
            lease_round_ms: self.lease_round_ms - before.lease_round_ms,
            lease_calls: self.lease_calls - before.lease_calls,
            lease_ms: self.lease_ms - before.lease_ms,
            all_calls: self.all_calls - before.all_calls,
            all_ms: self.all_ms - before.all_ms,
        }
    }
}

/// The first statement of a lease round (`PgStore::lease_tick`).
const ROUND_FIRST: &str = "INSERT INTO workers";

/// Whether `query` (as `pg_stat_statements` normalizes it: constants become `$n`) is one of
/// a lease round's statements.
fn in_round(query: &str) -> bool {
    query.starts_with(ROUND_FIRST)
        || query.starts_with("INSERT INTO leases")
        || query.starts_with("UPDATE leases SET expires_at = now()")
        || query.starts_with("SELECT count(*) FROM workers")
        || query.starts_with("UPDATE leases SET holder")
        // The surplus handed back (the release at a stop has no profile list).
        || (query.starts_with("UPDATE leases SET expires_at = $") && query.contains("AND profile"))
}

/// The counters of `pg_stat_statements` now (the extension must be preloaded and created in
/// `db`).
pub fn statements(pg: &PostgresCluster, db: &str) -> anyhow::Result<Statements> {
    let text = pg.query(
        db,
        "SELECT calls, total_exec_time, regexp_replace(query, '\\s+', ' ', 'g') \
         FROM pg_stat_statements WHERE query NOT IN ('BEGIN', 'COMMIT', 'ROLLBACK')",
    )?;
    let mut s = Statements::default();
    for line in text.lines() {
        let mut parts = line.splitn(3, '|');
        let (Some(calls), Some(ms), Some(query)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let calls: u64 = calls.parse().unwrap_or(0);
        let ms: f64 = ms.parse().unwrap_or(0.0);
        s.all_calls += calls;
        s.all_ms += ms;
        if query.contains("pg_stat_") {
            // The benchmark's own reads.
            s.all_calls -= calls;
            s.all_ms -= ms;
            continue;
        }
        if query.contains("leases") || query.contains("workers") {
            s.lease_calls += calls;
            s.lease_ms += ms;
        }
        if in_round(query) {
            s.lease_round_ms += ms;
            if query.starts_with(ROUND_FIRST) {
                s.lease_rounds += calls;
            }
        }
    }
    Ok(s)
}

/// Creates `pg_stat_statements` in `db`; false (with a note) when the server does not have it
/// preloaded.
pub fn enable_statements(pg: &PostgresCluster, db: &str) -> bool {
    match pg.query(db, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements") {
        Ok(_) => pg
            .query(db, "SELECT 1 FROM pg_stat_statements LIMIT 1")
            .is_ok(),
        Err(err) => {
            eprintln!(
                "cluster-bench: no pg_stat_statements ({err:#}); lease figures from xact_commit only"
            );
            false
        }
    }
}
