//! `mailpull-worker oauth sign-in|sign-out` through the running worker, as a service's
//! administrator runs it: the worker runs as another account (the test system user, in a
//! session keyring of its own, with that account's persistent keyring — a service's store),
//! the command runs as root. The refresh token must land in the worker's keyring and not in
//! the caller's, survive a restart of the worker (it refreshes with it and polls the real
//! Dovecot with XOAUTH2 / OAUTHBEARER again), and sign-out must remove it there. Without a
//! worker, a service's configuration is refused unless `--local`, which says where the token
//! goes. Same rig as [`crate::oauth`]: a real Dovecot with the oauth2 passdb, the local
//! authorization server, the real Postfix.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use mailpull_shared::ipc::{Endpoint, IpcClient};
use mailpull_shared::secrets;
use mailpull_tests::{
    SystemUser, WorkerSetup, browse, mail_user, output_text, require_keyctl_session,
    require_keyring, stop_worker, worker_binary,
};

use crate::oauth::{Rig, fill, finish_sign_in, rig};

const WAIT: Duration = Duration::from_secs(30);

/// The keyutils description under which the keyring crate keeps `profile`'s refresh token.
pub(crate) fn refresh_key(profile: &str) -> String {
    format!(
        "keyring-rs:{}@{}",
        secrets::refresh_token_account(profile),
        secrets::KEYRING_SERVICE
    )
}

/// A worker running as `user` in a session keyring of its own; its pipe in `ipc`.
pub(crate) struct OtherUserWorker {
    pub(crate) user: SystemUser,
    pub(crate) setup: WorkerSetup,
    /// Root's, mode 0755: the CA copy, the worker's output, the socket directory.
    home: tempfile::TempDir,
    ipc: PathBuf,
    pub(crate) endpoint: Endpoint,
    child: Option<Child>,
    profiles: Vec<String>,
}

impl OtherUserWorker {
    pub(crate) fn new(rig: &Rig) -> OtherUserWorker {
        let user = mail_user().expect("test system user");
        let home = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        // The worker's account cannot read root's temporary folders: its own CA copy.
        let ca = home.path().join("ca.pem");
        std::fs::copy(rig.pop.ca_file.as_ref().expect("ca file"), &ca).expect("copy CA");
        std::fs::set_permissions(&ca, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let (mut pop, mut imap) = (rig.pop.clone(), rig.imap.clone());
        for spec in [&mut pop, &mut imap] {
            spec.ca_file = Some(ca.clone());
            spec.interval = "1h";
        }
        let setup = WorkerSetup::new(&[pop.clone(), imap.clone()]).expect("setup");
        let chown = Command::new("chown")
            .arg("-R")
            .arg(format!("{}:{}", user.uid, user.gid))
            .arg(setup.dir.path())
            .output()
            .expect("chown");
        assert!(chown.status.success(), "{}", output_text(&chown));
        // As systemd's RuntimeDirectory=: made for the worker's account, mode 0700, in a
        // folder only root can write.
        let ipc = home.path().join("ipc");
        std::fs::create_dir(&ipc).expect("mkdir ipc");
        std::os::unix::fs::chown(&ipc, Some(user.uid), Some(user.gid)).expect("chown ipc");
        std::fs::set_permissions(&ipc, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        let socket = Endpoint::for_config(&setup.config)
            .address
            .file_name()
            .expect("socket name")
            .to_owned();
        let endpoint = Endpoint::at(ipc.join(socket), setup.config.clone());
        OtherUserWorker {
            user,
            setup,
            home,
            ipc,
            endpoint,
            child: None,
            profiles: vec![pop.name, imap.name],
        }
    }

    /// `setpriv` to the worker's account, in a new session keyring: `keyctl session - ARGS`.
    pub(crate) fn as_user(&self) -> Command {
        let mut command = Command::new("setpriv");
        command
            .arg(format!("--reuid={}", self.user.uid))
            .arg(format!("--regid={}", self.user.gid))
            .arg("--clear-groups")
            .args(["keyctl", "session", "-"]);
        command
    }

    pub(crate) fn stderr(&self) -> String {
        std::fs::read_to_string(self.home.path().join("worker.stderr")).unwrap_or_default()
    }

    /// Starts `mailpull-worker run` as the worker's account and waits until it answers.
    pub(crate) fn start(&mut self) {
        let out = std::fs::File::create(self.home.path().join("worker.stdout")).expect("stdout");
        let err = std::fs::File::create(self.home.path().join("worker.stderr")).expect("stderr");
        let child = self
            .as_user()
            .arg(worker_binary().expect("worker"))
            .args(["run", "--config"])
            .arg(&self.setup.config)
            .env(mailpull_shared::ipc::endpoint::IPC_DIR_ENV, &self.ipc)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn worker");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while rt().block_on(IpcClient::connect(&self.endpoint)).is_err() {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("the worker exited ({status}):\n{}", self.stderr());
            }
            assert!(
                Instant::now() < deadline,
                "the worker never listened on {}:\n{}",
                self.endpoint,
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_worker(&mut child);
        }
    }

    /// Whether the worker's account holds `profile`'s refresh token (its persistent keyring,
    /// as a fresh session of that account sees it). The token itself is never read.
    pub(crate) fn holds_refresh_token(&self, profile: &str) -> bool {
        let out = self
            .as_user()
            .args([
                "sh",
                "-c",
                "keyctl get_persistent @s >/dev/null && keyctl search @s user \"$1\" >/dev/null",
                "sh",
                &refresh_key(profile),
            ])
            .output()
            .expect("keyctl search as the worker's account");
        out.status.success()
    }

    /// `mailpull-worker ARGS --config FILE` as root, with the worker's socket folder.
    pub(crate) fn cli(&self, args: &[&str]) -> Command {
        let mut command = Command::new(worker_binary().expect("worker"));
        command
            .args(args)
            .arg("--config")
            .arg(&self.setup.config)
            .env(mailpull_shared::ipc::endpoint::IPC_DIR_ENV, &self.ipc);
        command
    }

    pub(crate) fn poll_now(&self, name: &str) {
        rt().block_on(async {
            let mut client = IpcClient::connect(&self.endpoint).await?;
            client.poll_now(name).await
        })
        .expect("poll now");
    }

    pub(crate) fn wait_delivered(&self, name: &str, messages: u64) {
        let deadline = Instant::now() + WAIT;
        loop {
            let status = rt()
                .block_on(async {
                    let mut client = IpcClient::connect(&self.endpoint).await?;
                    client.status().await
                })
                .expect("status")
                .into_iter()
                .find(|s| s.name == name)
                .expect("profile in status");
            if status.messages >= messages {
                assert!(!status.needs_sign_in, "{status:?}");
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{name}: {messages} never delivered; {status:?}\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for OtherUserWorker {
    fn drop(&mut self) {
        self.stop();
        // Nothing left in the account's persistent keyring, also after a failure.
        for profile in &self.profiles {
            let _ = self
                .as_user()
                .args([
                    "sh",
                    "-c",
                    "keyctl get_persistent @s >/dev/null; keyctl purge user \"$1\"",
                ])
                .args(["sh", &refresh_key(profile)])
                .output();
        }
    }
}

pub(crate) fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// The caller's (root's) own keyring holds no refresh token of `profile`.
pub(crate) fn caller_holds_nothing(profile: &str) {
    let stored = secrets::read_keyring(profile, &secrets::refresh_token_account(profile))
        .expect("read the caller's keyring");
    assert!(
        stored.is_none(),
        "the refresh token of {profile} landed in the caller's keyring"
    );
}

/// `oauth sign-in --browser` through the worker: reads the printed authorization URL, plays
/// the browser (the redirect goes to the worker's listener), and returns all it printed.
pub(crate) fn browser_sign_in(worker: &OtherUserWorker, profile: &str) -> String {
    let mut child = worker
        .cli(&["oauth", "sign-in", "--browser", "--profile", profile])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sign-in");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut seen = String::new();
    let url = loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("no authorization_url printed:\n{seen}"))
            .expect("line");
        seen.push_str(&line);
        seen.push('\n');
        if let Some(url) = line.strip_prefix("authorization_url: ") {
            break url.to_string();
        }
    };
    let page = browse(&url);
    assert!(page.contains("signed in"), "{page}");
    finish_sign_in(child, lines, seen)
}

#[test]
fn the_command_line_signs_in_through_the_worker_into_its_accounts_keyring() {
    let test = "oauth_pipe::the_command_line_signs_in_through_the_worker_into_its_accounts_keyring";
    require_keyring(test);
    require_keyctl_session(test);
    let rig = rig("p");
    let mut worker = OtherUserWorker::new(&rig);
    let (pop, imap) = (rig.pop.name.clone(), rig.imap.name.clone());
    worker.start();

    // Device code, run by root: the worker (another account) does it and keeps the token.
    let out = worker
        .cli(&["oauth", "sign-in", "--device", "--profile", &pop])
        .output()
        .expect("sign-in");
    let text = output_text(&out);
    assert!(out.status.success(), "{text}\n{}", worker.stderr());
    assert!(text.contains("through the running worker"), "{text}");
    assert!(text.contains("user_code: WDJB-MJHT"), "{text}");
    assert!(text.contains("Signed in through the worker"), "{text}");
    assert!(
        text.contains(&format!(
            "worker's OS keyring (the worker's account: uid {})",
            worker.user.uid
        )),
        "{text}"
    );
    // Browser: the address is printed here, the redirect reaches the worker's listener.
    let text = browser_sign_in(&worker, &imap);
    assert!(text.contains("Signed in through the worker"), "{text}");
    let counters = rig.oauth.counters();
    assert_eq!(
        (counters.device_grants, counters.code_grants),
        (1, 1),
        "{counters:?}"
    );
    for profile in [&pop, &imap] {
        assert!(
            worker.holds_refresh_token(profile),
            "no refresh token of {profile} in the worker's account's keyring"
        );
        caller_holds_nothing(profile);
    }

    // Mail flows with the access tokens the sign-ins brought.
    fill(&rig, &rig.pop.username, 0, 2);
    fill(&rig, &rig.imap.username, 10, 1);
    worker.poll_now(&pop);
    worker.poll_now(&imap);
    worker.wait_delivered(&pop, 2);
    worker.wait_delivered(&imap, 1);
    rig.local
        .wait_for_messages("alice", 2, WAIT)
        .unwrap_or_else(|e| panic!("{e:#}\n{}", rig.local.maillog()));
    rig.local
        .wait_for_messages("bob", 1, WAIT)
        .unwrap_or_else(|e| panic!("{e:#}\n{}", rig.local.maillog()));
    assert_eq!(rig.oauth.counters().refresh_grants, 0);

    // A restarted worker (a new session keyring, no access token) refreshes with the stored
    // refresh token and logs in again.
    worker.stop();
    fill(&rig, &rig.pop.username, 20, 1);
    worker.start();
    worker.poll_now(&pop);
    worker.wait_delivered(&pop, 1);
    rig.local
        .wait_for_messages("alice", 3, WAIT)
        .unwrap_or_else(|e| panic!("{e:#}\n{}", worker.stderr()));
    let counters = rig.oauth.counters();
    assert!(counters.refresh_grants >= 1, "{counters:?}");
    assert_eq!(counters.refresh_refused, 0, "{counters:?}");
    assert_eq!(counters.introspections_inactive, 0, "{counters:?}");

    // Sign-out through the worker removes the token from the worker's account.
    for profile in [&pop, &imap] {
        let out = worker
            .cli(&["oauth", "sign-out", "--profile", profile])
            .output()
            .expect("sign-out");
        let text = output_text(&out);
        assert!(out.status.success(), "{text}");
        assert!(text.contains("Signed out through the worker"), "{text}");
        assert!(
            !worker.holds_refresh_token(profile),
            "the refresh token of {profile} is still in the worker's keyring"
        );
    }
    let logs = worker.stderr();
    assert!(!logs.contains("tok_"), "a token leaked:\n{logs}");
}

/// A configuration with `[worker] secrets` (a service's, on Linux) in `setup`.
pub(crate) fn make_service_config(setup: &WorkerSetup) {
    let store = setup
        .dir
        .path()
        .join("credstore")
        .join("mailpull-secrets.toml");
    let text = std::fs::read_to_string(&setup.config).expect("config");
    let text = text.replacen(
        "[worker]\n",
        &format!("[worker]\nsecrets = {:?}\n", store.display().to_string()),
        1,
    );
    std::fs::write(&setup.config, text).expect("rewrite config");
}

fn cli(setup: &WorkerSetup, ipc: &Path, args: &[&str]) -> Output {
    Command::new(worker_binary().expect("worker"))
        .args(args)
        .arg("--config")
        .arg(&setup.config)
        .env(mailpull_shared::ipc::endpoint::IPC_DIR_ENV, ipc)
        .output()
        .expect("run the worker's command line")
}

#[test]
fn without_a_worker_a_services_configuration_is_refused_unless_local() {
    require_keyring(
        "oauth_pipe::without_a_worker_a_services_configuration_is_refused_unless_local",
    );
    let rig = rig("q");
    let name = rig.pop.name.clone();
    let setup = WorkerSetup::new(std::slice::from_ref(&rig.pop)).expect("setup");
    make_service_config(&setup);
    // Nobody listens in this (empty) socket folder.
    let ipc = tempfile::tempdir().expect("tempdir");

    for args in [
        &["oauth", "sign-in", "--device", "--profile", &name][..],
        &["oauth", "sign-out", "--profile", &name][..],
    ] {
        let out = cli(&setup, ipc.path(), args);
        let text = output_text(&out);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {text}");
        assert!(
            text.contains("no worker answers")
                && text.contains("the configuration of the Linux service")
                && text.contains("Start the service (`systemctl start mailpull`)")
                && text.contains("--local"),
            "{args:?}: {text}"
        );
    }
    assert_eq!(rig.oauth.counters().device_starts, 0);
    caller_holds_nothing(&name);

    // --local: done here, and the output says whose keyring that is.
    let out = cli(
        &setup,
        ipc.path(),
        &[
            "oauth",
            "sign-in",
            "--device",
            "--local",
            "--profile",
            &name,
        ],
    );
    let text = output_text(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("--local:") && text.contains("NOT the service's store"),
        "{text}"
    );
    assert!(
        text.contains("Signed in: the refresh token of profile")
            && text.contains("OS keyring of this account")
            && text.contains("uid 0"),
        "{text}"
    );
    assert!(!text.contains("tok_"), "{text}");
    let stored =
        secrets::read_keyring(&name, &secrets::refresh_token_account(&name)).expect("read keyring");
    assert!(stored.is_some(), "--local stored nothing here");
    let out = cli(
        &setup,
        ipc.path(),
        &["oauth", "sign-out", "--local", "--profile", &name],
    );
    assert!(out.status.success(), "{}", output_text(&out));
    caller_holds_nothing(&name);

    // Not a service's configuration: with no worker it runs here and says so.
    let plain = WorkerSetup::new(std::slice::from_ref(&rig.pop)).expect("setup");
    let out = cli(
        &plain,
        ipc.path(),
        &["oauth", "sign-in", "--device", "--profile", &name],
    );
    let text = output_text(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("No worker answers")
            && text.contains("the refresh token goes into the OS keyring of this account"),
        "{text}"
    );
}
