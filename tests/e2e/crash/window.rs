//! Where the crash loop's kills landed: every worker run logs the steps of each delivery
//! (target `mailpull::delivery`, debug): the SMTP transaction begins, the local server's 250 is
//! read, the record's write begins, the record is written (the commit returned: the WAL frame
//! is in the kernel and survives a kill), the record is durable (fsync'd). The log lines reach
//! the file with one write each, so a SIGKILL keeps every line logged before it.
//!
//! From the runs that were killed this finds the deliveries cut in each window, and for each
//! copy sent again (a duplicate, unless the receiving side drops it) the window its kill
//! landed in:
//! - (a) after the transaction began, before the 250 was read: the local server took the
//!   message (it has the final dot) but the worker never heard it;
//! - (b) after the 250, before the record was written;
//! - (c) anything else (a record written and still delivered again would be a bug).
//!
//! It also measures the throughput (250s per second of worker run time) and the mean length
//! of each window, for Little's law: deliveries inside a window at a random instant =
//! throughput × the window's mean length.

use std::collections::HashMap;

/// The env of a worker run whose log this module reads.
pub const RUST_LOG: &str = "info,mailpull::delivery=debug";

/// A step of one delivery, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Step {
    Begins,
    Accepted,
    WriteBegins,
    Written,
    Durable,
}

impl Step {
    fn of(line: &str) -> Option<Step> {
        [
            ("smtp transaction begins", Step::Begins),
            ("smtp accepted", Step::Accepted),
            ("record write begins", Step::WriteBegins),
            ("record written", Step::Written),
            ("record durable", Step::Durable),
        ]
        .into_iter()
        .find(|(text, _)| line.contains(text))
        .map(|(_, step)| step)
    }
}

/// Seconds since midnight (UTC) of a log line's leading RFC 3339 timestamp.
fn seconds(line: &str) -> Option<f64> {
    let time = line.split_whitespace().next()?.split('T').nth(1)?;
    let time = time.trim_end_matches('Z');
    let mut parts = time.split(':');
    let h: f64 = parts.next()?.parse().ok()?;
    let m: f64 = parts.next()?.parse().ok()?;
    let s: f64 = parts.next()?.parse().ok()?;
    Some(h * 3600.0 + m * 60.0 + s)
}

fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|token| token.strip_prefix(name)?.strip_prefix('='))
}

/// A running sum for a mean.
#[derive(Default, Clone, Copy)]
struct Mean {
    sum: f64,
    n: usize,
}

impl Mean {
    fn add(&mut self, value: f64) {
        self.sum += value;
        self.n += 1;
    }
    fn ms(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.sum * 1000.0 / self.n as f64
        }
    }
}

/// What the runs' logs showed.
#[derive(Default)]
pub struct Windows {
    /// Worker run time in seconds (spawn to exit or kill), and 250s read in it.
    run_seconds: f64,
    accepted: usize,
    kills: usize,
    /// Per delivery id: the last step of each killed run that cut it before the record was
    /// written.
    cut: HashMap<String, Vec<Step>>,
    /// Deliveries cut at each step (all kills).
    cut_at: HashMap<Step, usize>,
    /// 250 → record write begins, 250 → written, begins → 250, written → durable.
    to_write_begins: Mean,
    to_written: Mean,
    transaction: Mean,
    to_durable: Mean,
}

impl Windows {
    /// Reads the log of one run that lasted `run_seconds` (`killed`: ended by SIGKILL).
    pub fn add_run(&mut self, log: &str, run_seconds: f64, killed: bool) {
        self.run_seconds += run_seconds;
        self.kills += usize::from(killed);
        // Per (account, uid): the delivery id and the time of each step seen.
        let mut ids: HashMap<(String, String), String> = HashMap::new();
        let mut steps: HashMap<(String, String), Vec<(Step, f64)>> = HashMap::new();
        for line in log.lines() {
            let (Some(step), Some(at)) = (Step::of(line), seconds(line)) else {
                continue;
            };
            let (Some(account), Some(uid)) = (field(line, "account"), field(line, "uid")) else {
                continue;
            };
            let key = (account.to_string(), uid.to_string());
            if let Some(id) = field(line, "delivery_id") {
                ids.insert(key.clone(), id.to_string());
            }
            if step == Step::Begins {
                // A new attempt (the multi-drop fallback, a retry): only the last one counts.
                steps.remove(&key);
            }
            steps.entry(key).or_default().push((step, at));
        }
        for (key, seen) in &steps {
            let at = |step| seen.iter().find(|(s, _)| *s == step).map(|(_, t)| *t);
            if let (Some(a), Some(b)) = (at(Step::Accepted), at(Step::WriteBegins)) {
                self.to_write_begins.add(b - a);
            }
            if let (Some(a), Some(b)) = (at(Step::Accepted), at(Step::Written)) {
                self.to_written.add(b - a);
            }
            if let (Some(a), Some(b)) = (at(Step::Begins), at(Step::Accepted)) {
                self.transaction.add(b - a);
            }
            if let (Some(a), Some(b)) = (at(Step::Written), at(Step::Durable)) {
                self.to_durable.add(b - a);
            }
            self.accepted += usize::from(at(Step::Accepted).is_some());
            let last = seen.iter().map(|(s, _)| *s).max().unwrap_or(Step::Begins);
            if killed && last < Step::Written {
                *self.cut_at.entry(last).or_default() += 1;
                if let Some(id) = ids.get(key) {
                    self.cut.entry(id.clone()).or_default().push(last);
                }
            }
        }
    }

    /// Which window each copy sent again had its kill land in: `duplicates` maps a delivery id to its
    /// extra copies. A delivery cut after its 250 was certainly taken by the local server; the
    /// copies not explained so by a cut after the 250 are put on cuts before it.
    pub fn split(&self, duplicates: &HashMap<String, usize>) -> Split {
        let mut split = Split::default();
        for (id, &extra) in duplicates {
            let cuts = self.cut.get(id).map(Vec::as_slice).unwrap_or_default();
            let after_250 = cuts.iter().filter(|s| **s >= Step::Accepted).count();
            let before_250 = cuts.iter().filter(|s| **s == Step::Begins).count();
            let b = extra.min(after_250);
            let a = (extra - b).min(before_250);
            split.a += a;
            split.b += b;
            split.c += extra - a - b;
        }
        split
    }

    /// A report: the split, cut deliveries per kill, throughput, window lengths and the
    /// Little's law estimate of deliveries per kill inside window (b).
    pub fn report(&self, duplicates: &HashMap<String, usize>) -> String {
        let split = self.split(duplicates);
        let kills = self.kills.max(1) as f64;
        let per_kill = |step| *self.cut_at.get(&step).unwrap_or(&0) as f64 / kills;
        let throughput = self.accepted as f64 / self.run_seconds.max(1e-9);
        format!(
            "crash windows: copies sent again (a) before the 250 was read={} (b) 250 to record written={} (c) other={}; \
             cut per kill: in transaction={:.2} after 250={:.2} in record write={:.2}; \
             throughput={throughput:.0}/s of run time; mean ms: transaction (begin to 250)={:.2} \
             250 to write begins={:.2} 250 to written={:.2} written to durable={:.2}; \
             Little's law for (b): {throughput:.0}/s x 250 to write begins = {:.2} per kill, x 250 to written = {:.2} per kill",
            split.a,
            split.b,
            split.c,
            per_kill(Step::Begins),
            per_kill(Step::Accepted),
            per_kill(Step::WriteBegins),
            self.transaction.ms(),
            self.to_write_begins.ms(),
            self.to_written.ms(),
            self.to_durable.ms(),
            throughput * self.to_write_begins.ms() / 1000.0,
            throughput * self.to_written.ms() / 1000.0,
        )
    }
}

/// Duplicates by the window their kill landed in.
#[derive(Default, Debug, PartialEq, Eq)]
pub struct Split {
    pub a: usize,
    pub b: usize,
    pub c: usize,
}
