//! A private PostgreSQL cluster for the shared-state tests: Debian's `initdb` and `pg_ctl`
//! (package `postgresql`) in a temp dir, run as the unprivileged test user (PostgreSQL refuses
//! root), listening on 127.0.0.1 only on a free port, with a password login (SCRAM) for the
//! role `mailpull` over TCP; with [`PostgresCluster::start_tls`] also `ssl = on` with a
//! certificate of the test CA (`crate::tls`). Stopped (immediately) and removed on drop. A test
//! that needs it and cannot start it fails with the server's log.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tempfile::TempDir;

use crate::ports::{free_port, port_is_open};
use crate::system::{SystemUser, mail_user, make_dir, read_log, run, write_file};
use crate::tls::CertPair;

/// Where Debian installs the server programs (not on `PATH`).
const BIN_DIRS: &[&str] = &[
    "/usr/lib/postgresql/17/bin",
    "/usr/lib/postgresql/16/bin",
    "/usr/lib/postgresql/15/bin",
];

/// The role the tests log in as; a superuser of the private cluster.
pub const PG_USER: &str = "mailpull";

/// One running private cluster, stopped on drop.
#[derive(Debug)]
pub struct PostgresCluster {
    dir: TempDir,
    bin: PathBuf,
    user: SystemUser,
    port: u16,
    password: String,
}

fn bin_dir() -> anyhow::Result<PathBuf> {
    BIN_DIRS
        .iter()
        .map(PathBuf::from)
        .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
        .context(
            "PostgreSQL's initdb/pg_ctl not found under /usr/lib/postgresql/*/bin (install the \
             package postgresql: run scripts/setup-deps.sh)",
        )
}

impl PostgresCluster {
    /// Creates and starts a cluster; fails (with its log) when it cannot.
    pub fn start() -> anyhow::Result<Self> {
        Self::start_with(None, "")
    }

    /// Like [`PostgresCluster::start`], speaking TLS (`ssl = on`) with `server`'s certificate
    /// and key (e.g. [`crate::TestCa::server_pair`]); clients may still choose plain text.
    pub fn start_tls(server: &CertPair) -> anyhow::Result<Self> {
        Self::start_with(Some(server), "")
    }

    /// [`Self::start`] with more server options (`-c name=value ...`), e.g.
    /// `-c shared_preload_libraries=pg_stat_statements` for the benchmarks.
    pub fn start_with_options(extra_options: &str) -> anyhow::Result<Self> {
        Self::start_with(None, extra_options)
    }

    fn start_with(server: Option<&CertPair>, extra_options: &str) -> anyhow::Result<Self> {
        let bin = bin_dir()?;
        let user = mail_user()?;
        let dir = crate::system::scratch_dir("mailpull-pg-")?;
        let data = dir.path().join("data");
        let sock = dir.path().join("sock");
        make_dir(&sock, Some(&user), 0o700)?;
        make_dir(&data, Some(&user), 0o700)?;
        let password = format!("pw-{:016x}", fastrand::u64(..));
        let pwfile = dir.path().join("pwfile");
        write_file(&pwfile, password.as_bytes(), 0o600)?;
        std::os::unix::fs::chown(&pwfile, Some(user.uid), Some(user.gid))
            .context("chown of the password file")?;
        run(as_user(Command::new(bin.join("initdb")), &user)
            .arg("-D")
            .arg(&data)
            .args(["-U", PG_USER, "-E", "UTF8", "--no-sync"])
            .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
            .arg(format!("--pwfile={}", pwfile.display())))
        .context("initdb of the private PostgreSQL cluster")?;
        let mut tls = String::new();
        if let Some(pair) = server {
            // The server refuses a key others may read: copies owned by its user, 0600.
            let cert = dir.path().join("server.crt");
            let key = dir.path().join("server.key");
            for (from, to, mode) in [
                (&pair.cert_file, &cert, 0o644),
                (&pair.key_file, &key, 0o600),
            ] {
                let bytes =
                    std::fs::read(from).with_context(|| format!("reading {}", from.display()))?;
                write_file(to, &bytes, mode)?;
                std::os::unix::fs::chown(to, Some(user.uid), Some(user.gid))
                    .with_context(|| format!("chown of {}", to.display()))?;
            }
            tls = format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                cert.display(),
                key.display()
            );
        }
        let mut last = None;
        for _ in 0..3 {
            let port = free_port()?;
            let log = dir.path().join("pg.log");
            match start_server(
                &bin,
                &user,
                &data,
                &sock,
                port,
                &log,
                &format!("{tls} {extra_options}"),
            ) {
                Ok(()) => {
                    return Ok(PostgresCluster {
                        dir,
                        bin,
                        user,
                        port,
                        password,
                    });
                }
                Err(err) => last = Some(err),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("PostgreSQL did not start")))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The password of [`PG_USER`].
    pub fn password(&self) -> &str {
        &self.password
    }

    /// `postgres://mailpull@127.0.0.1:PORT/DB` (no password: it is given apart).
    pub fn url(&self, db: &str) -> String {
        format!("postgres://{PG_USER}@127.0.0.1:{}/{db}", self.port)
    }

    /// `postgres://mailpull@HOST:PORT/DB?QUERY` (no password), for the TLS tests that dial
    /// `localhost` and set `sslmode`/`sslrootcert`.
    pub fn url_with(&self, host: &str, db: &str, query: &str) -> String {
        format!("postgres://{PG_USER}@{host}:{}/{db}?{query}", self.port)
    }

    /// Creates database `name` (owned by [`PG_USER`]).
    pub fn create_database(&self, name: &str) -> anyhow::Result<()> {
        run(as_user(Command::new(self.bin.join("psql")), &self.user)
            .arg("-h")
            .arg(self.dir.path().join("sock"))
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                PG_USER,
                "-d",
                "postgres",
            ])
            .args(["-v", "ON_ERROR_STOP=1", "-c"])
            .arg(format!("CREATE DATABASE \"{name}\"")))
        .map(drop)
        .with_context(|| format!("creating database {name}"))
    }

    /// Runs `sql` in database `db` (psql over the private socket) and returns its rows, one
    /// per line, fields separated by `|`.
    pub fn query(&self, db: &str, sql: &str) -> anyhow::Result<String> {
        let out = run(as_user(Command::new(self.bin.join("psql")), &self.user)
            .arg("-h")
            .arg(self.dir.path().join("sock"))
            .args(["-p", &self.port.to_string(), "-U", PG_USER, "-d", db])
            .args(["-v", "ON_ERROR_STOP=1", "-At", "-c", sql]))
        .with_context(|| format!("psql {sql:?}"))?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        read_log(&self.dir.path().join("pg.log"))
    }
}

impl Drop for PostgresCluster {
    fn drop(&mut self) {
        let _ = as_user(Command::new(self.bin.join("pg_ctl")), &self.user)
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "-t", "20", "stop"])
            .output();
    }
}

/// `cmd` run as `user` (PostgreSQL refuses root) with a neutral working directory.
fn as_user(mut cmd: Command, user: &SystemUser) -> Command {
    cmd.uid(user.uid)
        .gid(user.gid)
        .current_dir("/")
        .env("HOME", "/");
    cmd
}

/// Starts the server on `port` (127.0.0.1 only, socket in `sock`) and waits until it takes
/// connections; the log in the error otherwise.
fn start_server(
    bin: &Path,
    user: &SystemUser,
    data: &Path,
    sock: &Path,
    port: u16,
    log: &Path,
    more_options: &str,
) -> anyhow::Result<()> {
    let options = format!(
        "-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=off -c max_connections=200{more_options}",
        sock.display()
    );
    // pg_ctl writes the log as the server's user.
    let _ = std::fs::remove_file(log);
    std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    std::os::unix::fs::chown(log, Some(user.uid), Some(user.gid))?;
    let out = as_user(Command::new(bin.join("pg_ctl")), user)
        .arg("-D")
        .arg(data)
        .arg("-l")
        .arg(log)
        .args(["-o", &options, "-w", "-t", "30", "start"])
        .output()
        .context("running pg_ctl start")?;
    if !out.status.success() {
        bail!(
            "pg_ctl start failed ({}): {}{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            read_log(log)
        );
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while !port_is_open(port) {
        if Instant::now() > deadline {
            bail!(
                "PostgreSQL started but 127.0.0.1:{port} takes no connections\n{}",
                read_log(log)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}
