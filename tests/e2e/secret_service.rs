//! `password = { keyring = true }` on a Linux desktop: with a session bus that has a Secret
//! Service (a private `dbus-daemon` and `gnome-keyring-daemon`, see
//! `mailpull_tests::secret_service`) `set-password` stores into it, and the password is still
//! there after both daemons restart on the same keyring files and the worker runs in a new,
//! empty kernel session keyring, with nothing in the kernel keyring (what a reboot leaves);
//! without a bus the kernel keyring holds it (`keyctl` finds the key), `check` says it is lost
//! at reboot, and a password stored there before is still read when a bus appears and moves to
//! the Secret Service at the next `set-password`. A login keyring left locked is an error that
//! names the Secret Service, never a silent fallback to the kernel keyring. The worker
//! logs in to the real Dovecot and delivers through the real Postfix each time.
//!
//! Needs root, the packages of `scripts/setup-deps.sh` (dbus, gnome-keyring, keyutils) and,
//! for the kernel keyring part, a session keyring of the test process
//! (`MAILPULL_REQUIRE_KEYRING=1 keyctl session - cargo test ...`).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use mailpull_shared::secrets;
use mailpull_tests::keyring::HOW_TO_RUN;
use mailpull_tests::{
    DesktopKeyring, LocalMailServer, ProfileSpec, RemoteDovecot, RemoteOptions, TestCa,
    WorkerSetup, message_ids, output_text, require_keyctl_session, sample_message, stop_worker,
    worker_binary,
};

const PASSWORD: &str = "desktop-secret-\"13\" #x";
const WAIT: Duration = Duration::from_secs(30);
const GNOME: &str = "Secret Service (GNOME Keyring)";

/// Where a worker command runs: in the desktop session of `DesktopKeyring` or with no session
/// bus at all; in the test's own kernel session keyring or (`fresh_keyring`) a new, empty one.
#[derive(Clone, Copy)]
struct Session<'d> {
    desktop: Option<&'d DesktopKeyring>,
    fresh_keyring: bool,
}

const NO_BUS: Session<'static> = Session {
    desktop: None,
    fresh_keyring: false,
};

fn desktop(desktop: &DesktopKeyring) -> Session<'_> {
    Session {
        desktop: Some(desktop),
        fresh_keyring: false,
    }
}

impl Session<'_> {
    fn after_reboot(self) -> Self {
        Session {
            fresh_keyring: true,
            ..self
        }
    }
}

struct Rig {
    _tmp: tempfile::TempDir,
    remote: RemoteDovecot,
    local: LocalMailServer,
    setup: WorkerSetup,
    name: String,
    /// `MAILPULL_IPC_DIR` and, without a bus, `XDG_RUNTIME_DIR` (both empty folders of ours).
    ipc_dir: PathBuf,
    runtime_dir: PathBuf,
    sent: Vec<Vec<u8>>,
}

/// Dovecot with `isp-user`, Postfix with `alice`, and a profile `NAME-PID` reading
/// `password = { keyring = true }`.
fn rig(name: &str) -> Rig {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(tmp.path()).expect("test CA");
    let remote = RemoteDovecot::start_with(RemoteOptions::new(&ca)).expect("remote dovecot");
    remote.add_user("isp-user", PASSWORD).expect("add user");
    let local = LocalMailServer::start(&["alice"]).expect("local postfix");
    let name = format!("{name}-{}", std::process::id());
    let unused = tmp.path().join("unused.password");
    let mut spec = ProfileSpec::new(
        &name,
        remote.pop3s_port(),
        "isp-user",
        &unused,
        local.smtp_port(),
        "alice",
    );
    spec.ca_file = Some(ca.ca_file().to_path_buf());
    let setup = WorkerSetup::new(&[spec]).expect("setup");
    let text = std::fs::read_to_string(&setup.config).expect("config");
    let line = text
        .lines()
        .find(|l| l.starts_with("password = "))
        .expect("password line")
        .to_string();
    std::fs::write(
        &setup.config,
        text.replace(&line, "password = { keyring = true }"),
    )
    .expect("rewrite config");
    let ipc_dir = tmp.path().join("ipc");
    let runtime_dir = tmp.path().join("runtime");
    for dir in [&ipc_dir, &runtime_dir] {
        std::fs::create_dir(dir).expect("mkdir");
        std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .expect("chmod 0700");
    }
    Rig {
        _tmp: tmp,
        remote,
        local,
        setup,
        name,
        ipc_dir,
        runtime_dir,
        sent: Vec::new(),
    }
}

impl Rig {
    /// `mailpull-worker ARGS --config FILE` in `session`.
    fn command(&self, session: Session<'_>, args: &[&str]) -> Command {
        let worker = worker_binary().expect("worker binary");
        let mut command = if session.fresh_keyring {
            let mut keyctl = Command::new("keyctl");
            keyctl.args(["session", "-"]).arg(worker);
            keyctl
        } else {
            Command::new(worker)
        };
        command
            .args(args)
            .arg("--config")
            .arg(&self.setup.config)
            .env("MAILPULL_IPC_DIR", &self.ipc_dir)
            .env("RUST_LOG", "info");
        match session.desktop {
            Some(desktop) => {
                desktop.apply(&mut command);
            }
            None => {
                command
                    .env_remove("DBUS_SESSION_BUS_ADDRESS")
                    .env_remove("DISPLAY")
                    .env("XDG_RUNTIME_DIR", &self.runtime_dir);
            }
        }
        command
    }

    fn run(&self, session: Session<'_>, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .command(session, args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn worker");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write stdin");
        child.wait_with_output().expect("wait")
    }

    /// `check`'s output, which must succeed and never show the password.
    fn check(&self, session: Session<'_>) -> String {
        let out = self.run(session, &["check"], "");
        let text = output_text(&out);
        assert!(out.status.success(), "check failed: {text}");
        assert!(
            !text.contains(PASSWORD),
            "check showed the password: {text}"
        );
        text
    }

    /// The running worker of `session`, answering on its pipe.
    fn worker(&self, session: Session<'_>) -> Child {
        let log = |name: &str| {
            std::fs::File::create(self.setup.dir.path().join(name)).expect("worker log file")
        };
        let mut child = self
            .command(session, &["run"])
            .stdin(Stdio::null())
            .stdout(log("worker.stdout"))
            .stderr(log("worker.stderr"))
            .spawn()
            .expect("spawn worker");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.run(session, &["status"], "").status.success() {
            let stderr = || {
                std::fs::read_to_string(self.setup.dir.path().join("worker.stderr"))
                    .unwrap_or_default()
            };
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "the worker exited ({status}) before listening: {}",
                    stderr()
                );
            }
            if Instant::now() > deadline {
                stop_worker(&mut child);
                panic!("the worker never answered on its pipe: {}", stderr());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        child
    }

    /// `set-password NAME` over the pipe to a worker started in `session`; its output.
    fn set_password(&self, session: Session<'_>) -> String {
        let mut worker = self.worker(session);
        let out = self.run(
            session,
            &["set-password", &self.name],
            &format!("{PASSWORD}\n"),
        );
        stop_worker(&mut worker);
        let text = output_text(&out);
        assert!(out.status.success(), "set-password failed: {text}");
        assert!(!text.contains(PASSWORD), "set-password echoed it: {text}");
        text
    }

    /// Two new messages on the remote server; `run --once` in `session` must deliver them.
    /// Returns its output.
    fn poll_delivers(&mut self, session: Session<'_>) -> String {
        for _ in 0..2 {
            let raw = sample_message(self.sent.len(), 2_000, "isp-user@isp.example");
            self.remote.add_message("isp-user", &raw).expect("add");
            self.sent.push(raw);
        }
        let out = self.run(session, &["run", "--once"], "");
        let text = output_text(&out);
        assert!(out.status.success(), "run --once failed: {text}");
        assert!(
            !text.contains(PASSWORD),
            "the log showed the password: {text}"
        );
        let got = self
            .local
            .wait_for_messages("alice", self.sent.len(), WAIT)
            .unwrap_or_else(|err| panic!("{err:#}\n--- maillog\n{}", self.local.maillog()));
        let mut want = message_ids(&self.sent);
        let mut have = message_ids(&got);
        want.sort();
        have.sort();
        assert_eq!(have, want);
        text
    }

    /// Whether `keyctl search @s user keyring-rs:profile:NAME@mailpull` finds the key (the
    /// test's session keyring and the persistent keyring linked to it).
    fn kernel_key_exists(&self) -> bool {
        let description = format!("keyring-rs:profile:{}@mailpull", self.name);
        Command::new("keyctl")
            .args(["search", "@s", "user", &description])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("keyctl search")
            .success()
    }

    fn password_line(&self, text: &str) -> String {
        text.lines()
            .find(|l| l.trim_start().starts_with("password: "))
            .unwrap_or_else(|| panic!("no password line in check's output: {text}"))
            .trim()
            .to_string()
    }
}

fn start_desktop() -> DesktopKeyring {
    DesktopKeyring::start().unwrap_or_else(|err| {
        panic!(
            "this test needs a private session bus with GNOME Keyring, which did not start: {err:#}"
        )
    })
}

#[test]
fn a_password_set_on_a_desktop_is_kept_by_the_secret_service_across_a_reboot() {
    require_keyctl_session(
        "secret_service::a_password_set_on_a_desktop_is_kept_by_the_secret_service_across_a_reboot",
    );
    let mut keyring = start_desktop();
    let mut rig = rig("desk");
    let said = rig.set_password(desktop(&keyring).after_reboot());
    assert!(
        said.contains(&format!(
            "password of profile \"{}\" stored in the OS keyring: {GNOME} — survives a reboot",
            rig.name
        )),
        "{said}"
    );

    // A fresh process in a new kernel session keyring reads it from the Secret Service.
    let text = rig.check(desktop(&keyring).after_reboot());
    assert_eq!(
        rig.password_line(&text),
        format!(
            "password: {GNOME}, entry mailpull / profile:{} — survives a reboot",
            rig.name
        ),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "secrets for {{ keyring = true }}: the OS keyring: {GNOME} — survives a reboot"
        )),
        "{text}"
    );
    rig.poll_delivers(desktop(&keyring).after_reboot());

    // On disk, encrypted: the keyring file does not hold the password as text.
    let file = keyring.keyrings_dir().join("login.keyring");
    let bytes = std::fs::read(&file).expect("login.keyring");
    assert!(
        !bytes
            .windows(PASSWORD.len())
            .any(|w| w == PASSWORD.as_bytes()),
        "{} holds the password in clear",
        file.display()
    );

    // A reboot: both daemons restart on the same files; a new, empty kernel session keyring.
    keyring
        .reboot()
        .expect("restart dbus-daemon and gnome-keyring-daemon");
    let text = rig.poll_delivers(desktop(&keyring).after_reboot());
    let start = text
        .lines()
        .find(|l| l.contains("OS keyring of this account"))
        .unwrap_or_else(|| panic!("the log does not say which keyring: {text}"));
    assert!(
        start.contains(&format!("{GNOME} — survives a reboot")),
        "{start}"
    );

    // Nothing went to the kernel keyring: without the bus there is no password.
    let text = rig.check(NO_BUS.after_reboot());
    assert!(
        rig.password_line(&text)
            .starts_with("password: NONE: not in the kernel keyring"),
        "{text}"
    );
}

#[test]
fn without_a_session_bus_the_kernel_keyring_holds_it_until_set_password_moves_it() {
    let test = "secret_service::without_a_session_bus_the_kernel_keyring_holds_it_until_set_password_moves_it";
    require_keyctl_session(test);
    let mut rig = rig("kern");
    // Kernel keyring: the worker, `check` and `run` share the test's session keyring.
    let said = rig.set_password(NO_BUS);
    assert!(
        said.contains(&format!(
            "password of profile \"{}\" stored in the OS keyring: kernel keyring — lost at reboot; use ",
            rig.name
        )),
        "{said}"
    );
    let text = rig.check(NO_BUS);
    let kernel_entry = format!("kernel keyring, entry mailpull / profile:{}", rig.name);
    assert!(
        rig.password_line(&text)
            .starts_with(&format!("password: {kernel_entry} — lost at reboot; use ")),
        "check does not find the password in the kernel keyring ({HOW_TO_RUN}): {text}"
    );
    assert!(
        text.contains(
            "secrets for { keyring = true }: the OS keyring: kernel keyring — lost at reboot"
        ),
        "{text}"
    );
    rig.poll_delivers(NO_BUS);
    // A kernel key (in memory, gone at reboot), as keyctl sees it.
    assert!(
        rig.kernel_key_exists(),
        "keyctl does not find the key in the kernel keyring"
    );

    // An upgrade on a desktop: the password in the kernel keyring is still read, and check
    // says how to move it.
    let keyring = start_desktop();
    let text = rig.check(desktop(&keyring));
    assert_eq!(
        rig.password_line(&text),
        format!(
            "password: {kernel_entry} — lost at reboot; `mailpull-worker set-password {}` moves it to the {GNOME}, which survives a reboot",
            rig.name
        ),
        "{text}"
    );
    rig.poll_delivers(desktop(&keyring));

    // set-password moves it: in the Secret Service now, gone from the kernel keyring.
    let said = rig.set_password(desktop(&keyring));
    assert!(
        said.contains(&format!(
            "stored in the OS keyring: {GNOME} — survives a reboot"
        )),
        "{said}"
    );
    let text = rig.check(NO_BUS);
    assert!(
        rig.password_line(&text)
            .starts_with("password: NONE: not in the kernel keyring"),
        "the kernel keyring still holds a copy: {text}"
    );
    assert!(
        !rig.kernel_key_exists(),
        "keyctl still finds the kernel key"
    );
    let text = rig.check(desktop(&keyring).after_reboot());
    assert!(
        rig.password_line(&text)
            .starts_with(&format!("password: {GNOME}, entry mailpull")),
        "{text}"
    );
    rig.poll_delivers(desktop(&keyring).after_reboot());
    let _ = secrets::delete_from_keyring(&rig.name);
}

impl Rig {
    /// [`Rig::run`] with no input, killed and failed if it takes over 60 s (a keyring that
    /// waits for a prompt nobody answers must not hang the worker).
    fn run_within_a_minute(&self, session: Session<'_>, args: &[&str]) -> Output {
        let mut child = self
            .command(session, args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn worker");
        let deadline = Instant::now() + Duration::from_secs(60);
        while child.try_wait().expect("try_wait").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let out = child.wait_with_output().expect("wait");
                panic!("{args:?} hung on the locked keyring: {}", output_text(&out));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        child.wait_with_output().expect("wait")
    }
}

#[test]
fn a_secret_service_left_locked_is_an_error_naming_it_and_nothing_goes_to_the_kernel_keyring() {
    require_keyctl_session(
        "secret_service::a_secret_service_left_locked_is_an_error_naming_it_and_nothing_goes_to_the_kernel_keyring",
    );
    let mut keyring = start_desktop();
    let rig = rig("locked");
    rig.set_password(desktop(&keyring).after_reboot());
    // After a reboot nobody unlocked the login keyring (and no prompter can ask).
    keyring
        .reboot_locked()
        .expect("restart dbus-daemon and gnome-keyring-daemon, locked");
    let out = rig.run_within_a_minute(desktop(&keyring).after_reboot(), &["check"]);
    let text = output_text(&out);
    assert!(!text.contains(PASSWORD), "{text}");
    let line = rig.password_line(&text);
    assert!(
        line.starts_with(&format!("password: the {GNOME}, which cannot be read: ")),
        "{text}"
    );
    let out = rig.run_within_a_minute(desktop(&keyring).after_reboot(), &["run", "--once"]);
    let text = output_text(&out);
    assert!(
        !out.status.success(),
        "a poll without the password succeeded: {text}"
    );
    assert!(
        text.contains(&format!("{GNOME}: ")),
        "the poll's error does not name the Secret Service: {text}"
    );
    // Nothing fell back to the kernel keyring.
    let text = rig.check(NO_BUS.after_reboot());
    assert!(
        rig.password_line(&text)
            .starts_with("password: NONE: not in the kernel keyring"),
        "{text}"
    );
    assert!(!rig.kernel_key_exists());
}
