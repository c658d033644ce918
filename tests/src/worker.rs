//! Running the real `mailpull-worker` binary in tests, the demo and the benchmark: writing a
//! configuration for test servers and starting the worker on it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use anyhow::{Context, bail};

/// The `mailpull-worker` binary next to the running test binary (`target/<profile>/`), or
/// `MAILPULL_WORKER_BIN`. `cargo build -p mailpull-worker` makes it.
pub fn worker_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("MAILPULL_WORKER_BIN") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe().context("current_exe")?;
    let mut dir = exe.parent().map(Path::to_path_buf);
    while let Some(current) = dir {
        let candidate = current.join(format!("mailpull-worker{}", std::env::consts::EXE_SUFFIX));
        if candidate.is_file() {
            return Ok(candidate);
        }
        dir = current.parent().map(Path::to_path_buf);
    }
    bail!(
        "mailpull-worker binary not found near {}; run `cargo build -p mailpull-worker` first",
        exe.display()
    )
}

/// One `[[profile]]` of a test configuration.
#[derive(Debug, Clone)]
pub struct ProfileSpec {
    pub name: String,
    pub protocol: &'static str,
    /// The remote host as written in the profile ("localhost" unless a test says otherwise).
    pub host: String,
    pub port: u16,
    /// "tls", "starttls" or "plain".
    pub security: &'static str,
    pub username: String,
    pub password_file: PathBuf,
    pub ca_file: Option<PathBuf>,
    /// "delete", "keep" or an inline table such as `{ keep_days = 14 }` (written as is).
    pub after_delivery: &'static str,
    /// `push = true`: IMAP IDLE.
    pub push: bool,
    pub folders: Vec<String>,
    pub interval: &'static str,
    pub smtp_port: u16,
    pub local_user: String,
    pub local_domain: String,
    /// Extra TOML lines appended to the profile (e.g. a `[profile.distribute]` table).
    pub extra: String,
    /// Extra TOML lines for the `[profile.remote]` table (e.g. `timeout = "2s"`).
    pub remote_extra: String,
    /// Extra TOML lines at the top level of the `[[profile]]` table (e.g.
    /// `hold_after_attempts = 2`).
    pub profile_extra: String,
    /// OAuth instead of the password file: `(auth, body of [profile.remote.oauth2])`, e.g.
    /// `("xoauth2", "provider = \"custom\"\nclient_id = ...")`.
    pub oauth2: Option<(&'static str, String)>,
}

impl ProfileSpec {
    /// A POP3S profile pulling `username` into `local_user@local.test`.
    pub fn new(
        name: &str,
        port: u16,
        username: &str,
        password_file: &Path,
        smtp_port: u16,
        local_user: &str,
    ) -> Self {
        ProfileSpec {
            name: name.to_string(),
            protocol: "pop3",
            host: "localhost".to_string(),
            port,
            security: "tls",
            username: username.to_string(),
            password_file: password_file.to_path_buf(),
            ca_file: None,
            after_delivery: "delete",
            push: false,
            folders: Vec::new(),
            interval: "10m",
            smtp_port,
            local_user: local_user.to_string(),
            local_domain: crate::LOCAL_DOMAIN.to_string(),
            extra: String::new(),
            remote_extra: String::new(),
            profile_extra: String::new(),
            oauth2: None,
        }
    }
}

/// A configuration file for `profiles`, with state in `state_dir`.
pub fn config_text(
    state_dir: &Path,
    max_connections: usize,
    per_host: usize,
    profiles: &[ProfileSpec],
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "[worker]\nstate_dir = {:?}\nmax_connections = {max_connections}\nmax_connections_per_host = {per_host}\n",
        state_dir.display().to_string()
    );
    for p in profiles {
        let _ = writeln!(
            out,
            "[[profile]]\nname = {:?}\ninterval = {:?}\nafter_delivery = {}\npush = {}\n{}\n[profile.remote]\nprotocol = {:?}\nhost = {:?}\nport = {}\nsecurity = {:?}\nusername = {:?}\n{}",
            p.name,
            p.interval,
            if p.after_delivery.starts_with('{') {
                p.after_delivery.to_string()
            } else {
                format!("{:?}", p.after_delivery)
            },
            p.push,
            p.profile_extra,
            p.protocol,
            p.host,
            p.port,
            p.security,
            p.username,
            match &p.oauth2 {
                Some((auth, _)) => format!("auth = {auth:?}"),
                None => format!(
                    "password = {{ file = {:?} }}",
                    p.password_file.display().to_string()
                ),
            }
        );
        if let Some(ca) = &p.ca_file {
            let _ = writeln!(out, "ca_file = {:?}", ca.display().to_string());
        }
        if !p.folders.is_empty() {
            let _ = writeln!(out, "folders = {:?}", p.folders);
        }
        if !p.remote_extra.is_empty() {
            let _ = writeln!(out, "{}", p.remote_extra);
        }
        if let Some((_, table)) = &p.oauth2 {
            let _ = writeln!(out, "[profile.remote.oauth2]\n{table}");
        }
        let _ = writeln!(
            out,
            "\n[profile.local]\nsmtp = \"127.0.0.1:{}\"\nuser = {:?}\ndomain = {:?}\n{}\n",
            p.smtp_port, p.local_user, p.local_domain, p.extra
        );
    }
    out
}

/// A temp dir with a config file and the worker's state dir.
pub struct WorkerSetup {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

impl WorkerSetup {
    pub fn new(profiles: &[ProfileSpec]) -> anyhow::Result<Self> {
        Self::with_limits(64, 4, profiles)
    }

    pub fn with_limits(
        max_connections: usize,
        per_host: usize,
        profiles: &[ProfileSpec],
    ) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir().context("tempdir")?;
        let config = dir.path().join("mailpull.toml");
        let text = config_text(
            &dir.path().join("state"),
            max_connections,
            per_host,
            profiles,
        );
        std::fs::write(&config, text).context("write config")?;
        Ok(WorkerSetup { dir, config })
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// A file holding `password`, for `password = { file = ... }`.
    pub fn password_file(dir: &Path, name: &str, password: &str) -> anyhow::Result<PathBuf> {
        let path = dir.join(format!("{name}.password"));
        std::fs::write(&path, format!("{password}\n")).context("write password file")?;
        Ok(path)
    }

    /// `mailpull-worker run --once`, waiting for it.
    pub fn run_once(&self) -> anyhow::Result<Output> {
        self.once_args(&mut Command::new(worker_binary()?))
            .output()
            .context("run mailpull-worker")
    }

    /// `run --once --config FILE` with info logging, appended to `command`.
    fn once_args<'c>(&self, command: &'c mut Command) -> &'c mut Command {
        command
            .args(["run", "--once", "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "info")
    }

    /// `mailpull-worker run --once` under GNU time (`/usr/bin/time`, Debian package `time`),
    /// waiting for it: its output and its peak resident memory in KiB (the kernel's maxrss).
    pub fn run_once_measured(&self) -> anyhow::Result<(Output, u64)> {
        let report = self.dir.path().join("time.out");
        let mut time = Command::new("/usr/bin/time");
        time.args(["--format", "maxrss_kib=%M", "--output"])
            .arg(&report)
            .arg(worker_binary()?);
        let out = self
            .once_args(&mut time)
            .output()
            .context("run mailpull-worker under /usr/bin/time (Debian package `time`)")?;
        let text = std::fs::read_to_string(&report).context("read GNU time's report")?;
        // GNU time writes "Command exited with non-zero status N" first when it is so.
        let peak = text
            .lines()
            .find_map(|line| line.strip_prefix("maxrss_kib="))
            .and_then(|kib| kib.trim().parse().ok())
            .with_context(|| format!("no maxrss_kib in GNU time's report {text:?}"))?;
        Ok((out, peak))
    }

    /// Starts `mailpull-worker run [--once]` without waiting; output goes to files in the dir.
    pub fn spawn(&self, once: bool) -> anyhow::Result<Child> {
        self.spawn_with_env(once, &[])
    }

    /// [`Self::spawn`] with `env` set for the worker (e.g. `RUST_LOG`). The markers of how a
    /// worker was started (a systemd unit's `INVOCATION_ID`/`NOTIFY_SOCKET`, the Pull
    /// Manager's `MAILPULL_STARTED_BY`) are not inherited from the test's environment: a test
    /// worker runs as from a terminal unless `env` says otherwise.
    pub fn spawn_with_env(&self, once: bool, env: &[(&str, &str)]) -> anyhow::Result<Child> {
        let stdout =
            std::fs::File::create(self.dir.path().join("worker.stdout")).context("stdout file")?;
        let stderr =
            std::fs::File::create(self.dir.path().join("worker.stderr")).context("stderr file")?;
        let mut cmd = Command::new(worker_binary()?);
        cmd.arg("run");
        if once {
            cmd.arg("--once");
        }
        cmd.arg("--config")
            .arg(&self.config)
            .env_remove("INVOCATION_ID")
            .env_remove("NOTIFY_SOCKET")
            .env_remove(mailpull_shared::ipc::hello::STARTED_BY_ENV)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .context("spawn mailpull-worker")
    }
}

impl WorkerSetup {
    /// Starts `mailpull-worker run` (output in files in the dir, see [`Self::spawn`]) and
    /// returns once it answers on its pipe; fails with its stderr if it exits or never listens
    /// within 20 s.
    pub fn spawn_listening(&self) -> anyhow::Result<Child> {
        self.spawn_listening_with_env(&[])
    }

    /// [`Self::spawn_listening`] with `env` set for the worker (see [`Self::spawn_with_env`]).
    pub fn spawn_listening_with_env(&self, env: &[(&str, &str)]) -> anyhow::Result<Child> {
        let mut child = self.spawn_with_env(false, env)?;
        let endpoint = mailpull_shared::ipc::Endpoint::for_config(&self.config);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("tokio runtime")?;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while rt
            .block_on(mailpull_shared::ipc::IpcClient::connect(&endpoint))
            .is_err()
        {
            let stderr = || {
                std::fs::read_to_string(self.dir.path().join("worker.stderr")).unwrap_or_default()
            };
            if let Ok(Some(status)) = child.try_wait() {
                bail!(
                    "the worker exited ({status}) before listening:\n{}",
                    stderr()
                );
            }
            if std::time::Instant::now() > deadline {
                stop_worker(&mut child);
                bail!("the worker never listened on {endpoint}:\n{}", stderr());
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Ok(child)
    }
}

/// Stops a worker as a service manager would: SIGTERM (it finishes the message in hand and
/// logs out), SIGKILL if it is still there after 10 s.
pub fn stop_worker(worker: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &worker.id().to_string()])
        .status();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if let Ok(Some(_)) = worker.try_wait() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = worker.kill();
    let _ = worker.wait();
}

/// stdout and stderr of a finished worker, for assertion messages.
pub fn output_text(output: &Output) -> String {
    format!(
        "status: {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
