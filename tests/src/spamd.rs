//! A private SpamAssassin `spamd` on 127.0.0.1 (Debian's `spamd` package), for the filter
//! tests: `spamc -p PORT` talks to it. Local tests only (`-L`: no DNS or network checks), no
//! per-user configuration, its home in a temp dir; stopped on drop. A spamd that cannot start
//! is an error: the test fails, it is never skipped.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::ports::free_port;

const SPAMD: &str = "/usr/sbin/spamd";
/// The account spamd's children run as (made by the `spamd` package).
const SPAMD_USER: &str = "debian-spamd";
/// spamd compiles its rules at start: this can take a while on a busy machine.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// A running private spamd.
pub struct Spamd {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Spamd {
    pub fn start() -> anyhow::Result<Self> {
        if !std::path::Path::new(SPAMD).is_file() {
            bail!(
                "{SPAMD} is missing: run scripts/setup-deps.sh (packages spamassassin spamd spamc)"
            );
        }
        let dir = tempfile::tempdir().context("tempdir for spamd")?;
        let status = Command::new("chown")
            .arg(SPAMD_USER)
            .arg(dir.path())
            .status()
            .context("chown spamd's home")?;
        if !status.success() {
            bail!("chown {SPAMD_USER} {} failed", dir.path().display());
        }
        let port = free_port()?;
        let log = std::fs::File::create(dir.path().join("spamd.log")).context("spamd log")?;
        let child = Command::new(SPAMD)
            .arg(format!("--listen=127.0.0.1:{port}"))
            .args([
                "--allowed-ips=127.0.0.1",
                "--local",
                "--nouser-config",
                "--max-children=2",
                "--min-children=1",
                "--syslog=stderr",
                "-u",
                SPAMD_USER,
            ])
            .arg("-H")
            .arg(dir.path())
            .arg(format!(
                "--pidfile={}",
                dir.path().join("spamd.pid").display()
            ))
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("spamd log")?)
            .stderr(log)
            .spawn()
            .context("starting spamd")?;
        let spamd = Spamd { child, port, dir };
        spamd.wait_ready()?;
        Ok(spamd)
    }

    /// Waits until spamc gets an answer (spamd listens only once its rules are compiled).
    fn wait_ready(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let mut spamc = Command::new("spamc")
                .args(["-x", "-c", "-p", &self.port.to_string()])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("running spamc (package spamc)")?;
            if let Some(mut stdin) = spamc.stdin.take() {
                let _ = stdin.write_all(b"Subject: ready?\r\n\r\nready?\r\n");
            }
            let out = spamc.wait_with_output().context("waiting for spamc")?;
            // -c: exit 0 (ham) or 1 (spam) once spamd answered; 69 and others before.
            if matches!(out.status.code(), Some(0 | 1)) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "spamd did not answer on 127.0.0.1:{} within {START_TIMEOUT:?}:\n{}",
                    self.port,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("spamd.log")
    }
}

impl Drop for Spamd {
    fn drop(&mut self) {
        // TERM: spamd stops its children and exits.
        crate::system::terminate_child(&mut self.child, Duration::from_secs(10));
    }
}
