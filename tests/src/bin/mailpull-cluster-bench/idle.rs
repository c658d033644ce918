//! The idle run: many empty profiles over several workers on the shared state: the split, the
//! start-up (every profile polled once) and a window at rest.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::bail;
use mailpull_tests::stop_worker;

use super::{Args, Bed, PASSWORD, RUN_TIMEOUT, check_alive, log, log_count, pct, probe};

const DB: &str = "idle";

/// Profiles that started a poll (the `polls` table of the shared state).
fn started_polls(bed: &Bed) -> anyhow::Result<usize> {
    let text = bed.pg.query(DB, "SELECT count(*) FROM polls")?;
    Ok(text.trim().parse().unwrap_or(0))
}

pub fn run(bed: &Bed, args: &Args) -> anyhow::Result<String> {
    let n = args.idle_profiles;
    let workers = args.idle_workers;
    let t = Instant::now();
    let users: Vec<String> = (0..n).map(|i| format!("idle{i:05}")).collect();
    let pairs: Vec<(&str, &str)> = users.iter().map(|u| (u.as_str(), PASSWORD)).collect();
    bed.remote.add_users(&pairs)?;
    let specs = bed.specs(&users, args.idle_interval);
    bed.database(DB)?;
    let setups = bed.setups(args, &specs, workers, Some(DB))?;
    eprintln!(
        "cluster-bench: idle: {n} users and {workers} configurations written in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let x_start = probe::xact_commit(&bed.pg, DB)?;
    let start = Instant::now();
    let mut children = setups
        .iter()
        .map(|s| s.spawn(false))
        .collect::<anyhow::Result<Vec<_>>>()?;
    // Start-up: every profile claimed and polled once.
    let mut last_report = Instant::now();
    let (polled, startup) = loop {
        check_alive(&mut children, &setups)?;
        let done: usize = setups.iter().map(|s| log_count(s, "poll done")).sum();
        let failed: usize = setups.iter().map(|s| log_count(s, "poll failed")).sum();
        if done + failed >= n && started_polls(bed)? >= n {
            break ((done, failed), start.elapsed());
        }
        if last_report.elapsed() > Duration::from_secs(30) {
            eprintln!(
                "cluster-bench: idle: {done} polls done, {failed} failed after {:.0} s",
                start.elapsed().as_secs_f64()
            );
            last_report = Instant::now();
        }
        if start.elapsed() > RUN_TIMEOUT {
            bail!(
                "idle: {done} of {n} profiles polled after {RUN_TIMEOUT:?}:\n{}",
                log(&setups[0])
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    std::thread::sleep(Duration::from_millis(1500));
    let x_startup = probe::xact_commit(&bed.pg, DB)? - x_start;
    let split = bed.split(DB)?;
    eprintln!(
        "cluster-bench: idle: start-up {:.1} s, {} polls done, {} failed; split {split:?}",
        startup.as_secs_f64(),
        polled.0,
        polled.1
    );
    // Settle, then the window at rest.
    std::thread::sleep(Duration::from_secs(10));
    check_alive(&mut children, &setups)?;
    let pids: Vec<u32> = children.iter().map(|c| c.id()).collect();
    let cpu0: Vec<f64> = pids.iter().map(|p| probe::cpu_seconds(*p)).collect();
    let pg_cpu0 = probe::server_cpu(&bed.pg)?;
    let x0 = probe::xact_commit(&bed.pg, DB)?;
    let s0 = probe::statements(&bed.pg, DB)?;
    let polls0: usize = setups.iter().map(|s| log_count(s, "poll done")).sum();
    let rest_start = Instant::now();
    std::thread::sleep(Duration::from_secs(args.rest_seconds));
    let rest = rest_start.elapsed().as_secs_f64();
    let cpu1: Vec<f64> = pids.iter().map(|p| probe::cpu_seconds(*p)).collect();
    let pg_cpu1 = probe::server_cpu(&bed.pg)?;
    let polls1: usize = setups.iter().map(|s| log_count(s, "poll done")).sum();
    let s1 = probe::statements(&bed.pg, DB)?;
    // Counters reach pg_stat_database within about a second.
    std::thread::sleep(Duration::from_millis(1500));
    let x1 = probe::xact_commit(&bed.pg, DB)?;
    let rss: Vec<f64> = pids
        .iter()
        .map(|p| probe::proc_kib(*p, "VmRSS").unwrap_or_default() as f64 / 1024.0)
        .collect();
    let hwm: Vec<f64> = pids
        .iter()
        .map(|p| probe::proc_kib(*p, "VmHWM").unwrap_or_default() as f64 / 1024.0)
        .collect();
    let split_end = bed.split(DB)?;
    check_alive(&mut children, &setups)?;
    for child in &mut children {
        stop_worker(child);
    }
    let s = s1.since(&s0);
    let xacts = x1 - x0;

    let share = n as f64 / workers as f64;
    let balanced = split_end.len() == workers
        && split_end.iter().sum::<usize>() == n
        && split_end
            .iter()
            .all(|held| (*held as f64 - share).abs() <= share * 0.2);
    let join = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.1}"))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    let cpu: Vec<f64> = cpu0
        .iter()
        .zip(&cpu1)
        .map(|(a, b)| 100.0 * (b - a) / rest)
        .collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Idle: {n} empty POP3S profiles (interval {}) over {workers} workers, lease {} s, max_connections_per_host {}\n",
        args.idle_interval, args.lease, args.per_host
    );
    let _ = writeln!(
        out,
        "| profiles per worker | start-up: every profile polled | committed tx in the start-up | worker RSS at rest MiB | worker peak RSS MiB | worker CPU at rest | database tx/s at rest | lease rounds/s | ms per lease round | PostgreSQL CPU at rest | polls in the window |\n\
         |---|---:|---:|---|---|---|---:|---:|---:|---:|---:|"
    );
    let _ = writeln!(
        out,
        "| {} (±20 % of {share:.0}: {}) | {:.1} s ({} done, {} failed) | {x_startup} ({:.0}/s) | {} | {} | {} % | **{:.2}** | {:.2} | {:.1} | {:.1} % | {} |",
        split_end
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(" / "),
        if balanced { "yes" } else { "NO" },
        startup.as_secs_f64(),
        polled.0,
        polled.1,
        x_startup as f64 / startup.as_secs_f64(),
        join(&rss),
        join(&hwm),
        join(&cpu),
        xacts as f64 / rest,
        s.lease_rounds as f64 / rest,
        if s.lease_rounds > 0 {
            s.lease_round_ms / s.lease_rounds as f64
        } else {
            0.0
        },
        pct(pg_cpu1 - pg_cpu0, rest),
        polls1 - polls0,
    );
    let _ = writeln!(
        out,
        "\nWindow at rest: {rest:.0} s, starting 10 s after the start-up polls; split right after the start-up: {split:?}."
    );
    if !balanced {
        bail!("the profiles are not split within ±20 % of {share:.0}: {split_end:?}\n{out}");
    }
    Ok(out)
}
