//! [`SmtpSink`]: Postfix's `smtp-sink` on a free port, a fast SMTP receiver for benchmarks that
//! counts the messages it accepted and can keep a copy of each.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tempfile::TempDir;

use crate::dovecot::START_ATTEMPTS;
use crate::ports::{free_port, port_is_open};
use crate::system::{mail_user, make_dir, read_log, scratch_dir, terminate_child};

/// A running `smtp-sink`. Dropping it kills the process and deletes its temp dir.
#[derive(Debug)]
pub struct SmtpSink {
    child: Child,
    port: u16,
    received: Arc<AtomicUsize>,
    reader: Option<JoinHandle<()>>,
    dump_dir: Option<PathBuf>,
    dir: TempDir,
}

/// One message as `smtp-sink -d` stored it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkMessage {
    /// Argument of MAIL FROM, as sent (for example `<a@example.test>`).
    pub mail_from: String,
    /// Arguments of each RCPT TO, as sent.
    pub rcpt_to: Vec<String>,
    /// The message with smtp-sink's own header lines and its Received header removed
    /// (smtp-sink already undid the dot-stuffing); line endings are LF.
    pub data: Vec<u8>,
}

impl SmtpSink {
    /// Starts a sink that only counts messages (the fastest mode).
    pub fn start() -> anyhow::Result<Self> {
        Self::launch(false)
    }

    /// Starts a sink that also writes every message to a file ([`SmtpSink::messages`]).
    pub fn start_dumping() -> anyhow::Result<Self> {
        Self::launch(true)
    }

    fn launch(dump: bool) -> anyhow::Result<Self> {
        let owner = mail_user()?;
        let dir = scratch_dir("mailpull-sink-")?;
        make_dir(dir.path(), Some(&owner), 0o755)?;
        let dump_dir = dump.then(|| dir.path().join("messages"));
        let mut last_err = None;
        for _ in 0..START_ATTEMPTS {
            let port = free_port()?;
            let stderr_path = dir.path().join("smtp-sink.stderr");
            let stderr = std::fs::File::create(&stderr_path)
                .with_context(|| format!("creating {}", stderr_path.display()))?;
            let mut cmd = Command::new("smtp-sink");
            // -c: print counters to stdout; -u: drop root; backlog 1000.
            cmd.args(["-c", "-u", &owner.name]);
            if let Some(d) = &dump_dir {
                cmd.arg("-d").arg(format!("{}/%H%M%S.", d.display()));
            }
            cmd.arg(format!("127.0.0.1:{port}"))
                .arg("1000")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(stderr);
            let mut child = cmd
                .spawn()
                .context("starting smtp-sink (part of postfix; run scripts/setup-deps.sh)")?;
            let received = Arc::new(AtomicUsize::new(0));
            let reader = child.stdout.take().map(|out| {
                let counter = Arc::clone(&received);
                std::thread::spawn(move || read_counters(out, &counter))
            });
            let deadline = Instant::now() + crate::dovecot::START_TIMEOUT;
            let outcome = loop {
                if let Ok(Some(status)) = child.try_wait() {
                    break Err(anyhow::anyhow!(
                        "smtp-sink exited during start-up ({status}): {}",
                        read_log(&stderr_path)
                    ));
                }
                if port_is_open(port) {
                    break Ok(());
                }
                if Instant::now() >= deadline {
                    terminate_child(&mut child, Duration::from_secs(2));
                    break Err(anyhow::anyhow!(
                        "smtp-sink does not listen on 127.0.0.1:{port}: {}",
                        read_log(&stderr_path)
                    ));
                }
                std::thread::sleep(Duration::from_millis(10));
            };
            match outcome {
                Ok(()) => {
                    return Ok(Self {
                        child,
                        port,
                        received,
                        reader,
                        dump_dir,
                        dir,
                    });
                }
                Err(e) => {
                    let _ = reader.map(JoinHandle::join);
                    if format!("{e:#}").contains("in use") {
                        last_err = Some(e);
                        continue;
                    }
                    return Err(e);
                }
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow::anyhow!("smtp-sink did not start")))
    }

    /// The SMTP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Messages accepted so far (smtp-sink's counter, updated as each "." is received).
    pub fn received(&self) -> usize {
        self.received.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` messages were accepted; fails after `timeout` with the count.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> anyhow::Result<usize> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.received();
            if got >= n {
                return Ok(got);
            }
            if Instant::now() >= deadline {
                bail!("smtp-sink received {got} message(s) after {timeout:?}, expected {n}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The dumped messages (only for [`SmtpSink::start_dumping`]), in file-name order.
    pub fn messages(&self) -> anyhow::Result<Vec<SinkMessage>> {
        let Some(dir) = &self.dump_dir else {
            bail!("this smtp-sink was started without dumping (use SmtpSink::start_dumping)");
        };
        let mut files = Vec::new();
        match std::fs::read_dir(dir) {
            Ok(entries) => {
                for e in entries {
                    files.push(
                        e.with_context(|| format!("listing {}", dir.display()))?
                            .path(),
                    );
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("listing {}", dir.display())),
        }
        files.sort();
        files
            .iter()
            .map(|p| {
                let raw = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
                Ok(parse_dump(&raw))
            })
            .collect()
    }

    /// The temp dir (dumps live in `messages/`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        terminate_child(&mut self.child, Duration::from_secs(2));
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// Follows smtp-sink's `-c` output ("sess=N quit=N mesg=N" records ended by '\r') and stores
/// the latest message count.
fn read_counters(mut out: ChildStdout, counter: &AtomicUsize) {
    let mut buf = [0u8; 4096];
    let mut pending = Vec::new();
    while let Ok(n) = out.read(&mut buf) {
        if n == 0 {
            break;
        }
        pending.extend_from_slice(&buf[..n]);
        while let Some(end) = pending.iter().position(|&b| b == b'\r' || b == b'\n') {
            let record: Vec<u8> = pending.drain(..=end).collect();
            if let Some(count) = parse_counter(&String::from_utf8_lossy(&record)) {
                counter.store(count, Ordering::SeqCst);
            }
        }
    }
}

/// The `mesg=` value of one counter record.
fn parse_counter(record: &str) -> Option<usize> {
    record
        .split_whitespace()
        .find_map(|field| field.strip_prefix("mesg=")?.parse().ok())
}

/// Splits an smtp-sink dump into envelope and message.
fn parse_dump(raw: &[u8]) -> SinkMessage {
    let mut mail_from = String::new();
    let mut rcpt_to = Vec::new();
    let mut data = Vec::with_capacity(raw.len());
    let mut in_preamble = true;
    let mut in_sink_received = false;
    for line in raw.split_inclusive(|&b| b == b'\n') {
        let text = String::from_utf8_lossy(line);
        let trimmed = text.trim_end_matches(['\r', '\n']);
        if in_preamble {
            if let Some(v) = trimmed.strip_prefix("X-Mail-Args: ") {
                mail_from = v.to_owned();
                continue;
            }
            if let Some(v) = trimmed.strip_prefix("X-Rcpt-Args: ") {
                rcpt_to.push(v.to_owned());
                continue;
            }
            if trimmed.starts_with("X-Client-")
                || trimmed.starts_with("X-Helo-Args:")
                || trimmed.starts_with("X-Ehlo-Args:")
            {
                continue;
            }
            in_preamble = false;
            if trimmed.starts_with("Received: ") {
                // smtp-sink's own trace header, folded over several lines.
                in_sink_received = true;
                continue;
            }
        }
        if in_sink_received {
            if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
                continue;
            }
            in_sink_received = false;
        }
        data.extend_from_slice(line);
    }
    // smtp-sink ends each dump with an empty line of its own.
    if data.ends_with(b"\n") {
        data.pop();
    }
    SinkMessage {
        mail_from,
        rcpt_to,
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_records_are_parsed() {
        assert_eq!(parse_counter("sess=1 quit=1 mesg=3"), Some(3));
        assert_eq!(parse_counter("garbage"), None);
    }

    #[test]
    fn dump_is_split_into_envelope_and_message() {
        let dump = b"X-Client-Addr: 127.0.0.1\nX-Client-Proto: ESMTP\nX-Helo-Args: [127.0.0.1]\n\
X-Mail-Args: <x@example.test>\nX-Rcpt-Args: <a@local.test>\nX-Rcpt-Args: <b@x>\n\
Received: from [127.0.0.1] ([127.0.0.1])\n\tby smtp-sink (smtp-sink) with ESMTP id 0a89d193;\n\
\tSun, 22 Nov 2026 18:29:30 +0000 (UTC)\nSubject: hi\n\n.dot\nbody\n\n";
        let m = parse_dump(dump);
        assert_eq!(m.mail_from, "<x@example.test>");
        assert_eq!(m.rcpt_to, vec!["<a@local.test>", "<b@x>"]);
        assert_eq!(m.data, b"Subject: hi\n\n.dot\nbody\n".to_vec());
    }
}
