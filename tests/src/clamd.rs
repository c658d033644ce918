//! A private ClamAV `clamd` (Debian's `clamav-daemon`), for the filter tests: its own
//! `clamd.conf` in a temp dir (a `LocalSocket` there, `Foreground`, the log and the database
//! directory there too), and a database this module writes holding one signature only, for
//! the EICAR test file — no freshclam, no network, no system database. `clamdscan
//! --config-file=FILE` (package `clamdscan`) talks to it. It can be stopped and started again
//! (a test takes the scanner away under a profile); stopped on drop. A clamd that cannot
//! start is an error: the test fails, it is never skipped.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

const CLAMD: &str = "/usr/sbin/clamd";
const CLAMDSCAN: &str = "/usr/bin/clamdscan";
/// clamd loads its database before it listens; one signature loads fast, a busy machine is slow.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The EICAR anti-virus test file (68 bytes): every scanner reports it, it does nothing.
pub const EICAR: &str = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
/// The name clamd reports for [`EICAR`] with this module's database (a database that is not
/// ClamAV's own gets `.UNOFFICIAL` appended).
pub const EICAR_FOUND: &str = "Mailpull-Test.EICAR.UNOFFICIAL FOUND";

/// A private clamd, running or stopped.
pub struct Clamd {
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl Clamd {
    /// Writes the configuration and the EICAR-only database, starts clamd and returns once it
    /// answers: a clean message scans clean and the EICAR file is found.
    pub fn start() -> anyhow::Result<Self> {
        for (program, package) in [(CLAMD, "clamav-daemon"), (CLAMDSCAN, "clamdscan")] {
            if !Path::new(program).is_file() {
                bail!("{program} is missing: run scripts/setup-deps.sh (package {package})");
            }
        }
        let dir = tempfile::tempdir().context("tempdir for clamd")?;
        let db = dir.path().join("db");
        std::fs::create_dir(&db).context("clamd's database directory")?;
        // An extended (.ndb) body signature: any file type, anywhere, the EICAR bytes.
        let hex: String = EICAR.bytes().map(|b| format!("{b:02x}")).collect();
        std::fs::write(
            db.join("eicar.ndb"),
            format!("Mailpull-Test.EICAR:0:*:{hex}\n"),
        )
        .context("write the EICAR signature")?;
        let at = |name: &str| dir.path().join(name).display().to_string();
        let conf = format!(
            "LocalSocket {}\nForeground yes\nDatabaseDirectory {}\nLogFile {}\nLogTime yes\n\
             TemporaryDirectory {}\nPidFile {}\nSelfCheck 0\n",
            at("clamd.sock"),
            db.display(),
            at("clamd.log"),
            dir.path().display(),
            at("clamd.pid"),
        );
        std::fs::write(dir.path().join("clamd.conf"), conf).context("write clamd.conf")?;
        let mut clamd = Clamd { child: None, dir };
        clamd.launch()?;
        Ok(clamd)
    }

    /// The `clamd.conf` for `clamdscan --config-file=`.
    pub fn config_file(&self) -> PathBuf {
        self.dir.path().join("clamd.conf")
    }

    /// Its log (clamd's own file and what it printed).
    pub fn log(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.dir.path().join(name));
        format!(
            "{}{}",
            read("clamd.log").unwrap_or_default(),
            read("clamd.out").unwrap_or_default()
        )
    }

    /// Stops clamd (TERM; it removes its socket) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            crate::system::terminate_child(&mut child, Duration::from_secs(10));
        }
    }

    /// Starts the stopped clamd again, with the same configuration and database.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.stop();
        self.launch()
    }

    fn launch(&mut self) -> anyhow::Result<()> {
        let out = std::fs::File::create(self.dir.path().join("clamd.out")).context("clamd out")?;
        let child = Command::new(CLAMD)
            .arg(format!("--config-file={}", self.config_file().display()))
            .stdin(Stdio::null())
            .stdout(out.try_clone().context("clamd out")?)
            .stderr(out)
            .spawn()
            .context("starting clamd")?;
        self.child = Some(child);
        self.wait_ready()
    }

    /// `clamdscan` over `message`: its exit code and stdout.
    pub fn scan(&self, message: &[u8]) -> anyhow::Result<(Option<i32>, String)> {
        let mut scan = Command::new(CLAMDSCAN)
            .args(["--no-summary", "--stream"])
            .arg(format!("--config-file={}", self.config_file().display()))
            .arg("-")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("running clamdscan (package clamdscan)")?;
        if let Some(mut stdin) = scan.stdin.take() {
            let _ = stdin.write_all(message);
        }
        let out = scan.wait_with_output().context("waiting for clamdscan")?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        Ok((out.status.code(), text))
    }

    /// Waits until a clean message scans clean (exit 0) and EICAR is found (exit 1).
    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                bail!("clamd exited ({status}) while starting:\n{}", self.log());
            }
            let (clean, said) = self.scan(b"Subject: ready?\r\n\r\nready?\r\n")?;
            if clean == Some(0) {
                let (found, said) = self.scan(EICAR.as_bytes())?;
                if found == Some(1) && said.contains(EICAR_FOUND) {
                    return Ok(());
                }
                bail!(
                    "clamd answers but does not find EICAR with its one-signature database \
                     (clamdscan exited with {found:?}: {said}):\n{}",
                    self.log()
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "clamd did not answer on {} within {START_TIMEOUT:?} (clamdscan: {said}):\n{}",
                    self.dir.path().join("clamd.sock").display(),
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Clamd {
    fn drop(&mut self) {
        self.stop();
    }
}
