//! A desktop's Secret Service for tests, private to one test: a D-Bus session bus of its own
//! (`dbus-daemon` on a socket in a temp dir, with a configuration that starts nothing on
//! demand) and `gnome-keyring-daemon --components=secrets` on it, its login keyring unlocked
//! with a password on standard input, its files under a temp `XDG_DATA_HOME`. [`Self::env`]
//! is what a program of that desktop session sees. [`Self::reboot`] stops both daemons and
//! starts them again on the same keyring files, as a reboot and a new login do. A test that
//! cannot start them fails with the daemon's output and the packages to install.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// The login keyring's password (typed at login on a real desktop).
const LOGIN_PASSWORD: &str = "login-keyring-password";
const START_WITHIN: Duration = Duration::from_secs(15);
const PACKAGES: &str = "packages dbus and gnome-keyring (scripts/setup-deps.sh)";

pub struct DesktopKeyring {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    bus: Option<Child>,
    keyring: Option<Child>,
}

impl DesktopKeyring {
    /// Starts the bus and the keyring daemon; returns once `org.freedesktop.secrets` is on
    /// the bus.
    pub fn start() -> anyhow::Result<Self> {
        let tmp = tempfile::tempdir().context("tempdir")?;
        let root = tmp.path().to_path_buf();
        for dir in ["home", "data", "config", "runtime"] {
            std::fs::create_dir(root.join(dir)).with_context(|| format!("mkdir {dir}"))?;
        }
        std::fs::set_permissions(
            root.join("runtime"),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .context("chmod runtime dir")?;
        let mut desktop = DesktopKeyring {
            _tmp: tmp,
            root,
            bus: None,
            keyring: None,
        };
        desktop.boot(true)?;
        Ok(desktop)
    }

    /// Stops both daemons (the keyring's files stay) and starts them again, the login keyring
    /// unlocked.
    pub fn reboot(&mut self) -> anyhow::Result<()> {
        self.stop();
        let _ = std::fs::remove_file(self.socket());
        self.boot(true)
    }

    /// [`Self::reboot`], but the login keyring stays locked (a session that did not unlock it
    /// at login; with no prompter on this bus, nothing can unlock it).
    pub fn reboot_locked(&mut self) -> anyhow::Result<()> {
        self.stop();
        let _ = std::fs::remove_file(self.socket());
        self.boot(false)
    }

    /// The environment of a program in this desktop session: the bus address, `HOME` and the
    /// XDG folders. (`DISPLAY` is best removed: no X11 session goes with this bus.)
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let dir = |name: &str| self.root.join(name).display().to_string();
        vec![
            ("DBUS_SESSION_BUS_ADDRESS", self.address()),
            ("HOME", dir("home")),
            ("XDG_DATA_HOME", dir("data")),
            ("XDG_CONFIG_HOME", dir("config")),
            ("XDG_RUNTIME_DIR", dir("runtime")),
        ]
    }

    /// `command` with [`Self::env`] and without `DISPLAY`.
    pub fn apply<'c>(&self, command: &'c mut Command) -> &'c mut Command {
        command.env_remove("DISPLAY").envs(self.env())
    }

    /// The folder of the keyring files (`login.keyring`).
    pub fn keyrings_dir(&self) -> PathBuf {
        self.root.join("data").join("keyrings")
    }

    fn socket(&self) -> PathBuf {
        self.root.join("bus")
    }

    fn address(&self) -> String {
        format!("unix:path={}", self.socket().display())
    }

    fn boot(&mut self, unlock: bool) -> anyhow::Result<()> {
        let config = self.root.join("bus.conf");
        std::fs::write(&config, bus_config(&self.socket())).context("write bus.conf")?;
        let bus = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .arg("--nofork")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file(&self.root, "bus.log")?)
            .spawn()
            .with_context(|| format!("cannot run dbus-daemon ({PACKAGES})"))?;
        self.bus = Some(bus);
        let deadline = Instant::now() + START_WITHIN;
        while !self.socket().exists() {
            if Instant::now() > deadline {
                bail!(
                    "dbus-daemon did not make its socket {} within {START_WITHIN:?}: {}",
                    self.socket().display(),
                    read_log(&self.root, "bus.log")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut keyring = self
            .apply(&mut Command::new("gnome-keyring-daemon"))
            .args(["--foreground", "--components=secrets"])
            .args(unlock.then_some("--unlock"))
            .stdin(Stdio::piped())
            .stdout(log_file(&self.root, "keyring.out")?)
            .stderr(log_file(&self.root, "keyring.log")?)
            .spawn()
            .with_context(|| format!("cannot run gnome-keyring-daemon ({PACKAGES})"))?;
        let mut stdin = keyring.stdin.take().context("keyring stdin")?;
        let written = if unlock {
            std::io::Write::write_all(&mut stdin, LOGIN_PASSWORD.as_bytes())
        } else {
            Ok(())
        };
        drop(stdin);
        self.keyring = Some(keyring);
        written.context("write the login password to gnome-keyring-daemon")?;
        while !self.secrets_on_bus()? {
            if let Some(Ok(Some(status))) = self.keyring.as_mut().map(Child::try_wait) {
                bail!(
                    "gnome-keyring-daemon exited ({status}) before it served org.freedesktop.secrets: {}",
                    read_log(&self.root, "keyring.log")
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "gnome-keyring-daemon did not serve org.freedesktop.secrets within {START_WITHIN:?}: {}",
                    read_log(&self.root, "keyring.log")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Whether `org.freedesktop.secrets` has an owner on the bus (`dbus-send`).
    fn secrets_on_bus(&self) -> anyhow::Result<bool> {
        let out = self
            .apply(&mut Command::new("dbus-send"))
            .args([
                "--session",
                "--print-reply",
                "--dest=org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.NameHasOwner",
                "string:org.freedesktop.secrets",
            ])
            .output()
            .with_context(|| format!("cannot run dbus-send ({PACKAGES})"))?;
        Ok(String::from_utf8_lossy(&out.stdout).contains("boolean true"))
    }

    fn stop(&mut self) {
        for mut child in [self.keyring.take(), self.bus.take()].into_iter().flatten() {
            crate::system::terminate_child(&mut child, Duration::from_secs(5));
        }
    }
}

impl Drop for DesktopKeyring {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A session bus listening on `socket` only, with no service started on demand (so nothing but
/// the test's own daemon can answer for `org.freedesktop.secrets`).
fn bus_config(socket: &Path) -> String {
    format!(
        r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
        socket.display()
    )
}

fn log_file(dir: &Path, name: &str) -> anyhow::Result<std::fs::File> {
    std::fs::File::create(dir.join(name)).with_context(|| format!("create {name}"))
}

fn read_log(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_default()
}
