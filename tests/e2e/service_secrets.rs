//! The Linux service's secret store end to end: `set-password` (as root) writes the
//! configuration's root-owned store (`[worker] secrets`), and the worker, started twice and
//! each time in a brand-new, empty session keyring (what a reboot leaves of the kernel
//! keyring), logs in to the real Dovecot with it and delivers through the real Postfix. A store
//! that group or others can read, or that is not root's, is refused by `check` and `run`.

use std::io::Write as _;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use mailpull_tests::{
    LocalMailServer, ProfileSpec, RemoteDovecot, RemoteOptions, TestCa, WorkerSetup, message_ids,
    output_text, require_keyctl_session, sample_message, worker_binary,
};

const PASSWORD: &str = "service-secret-\"17\" #x";
const WAIT: Duration = Duration::from_secs(30);

struct Rig {
    _tmp: tempfile::TempDir,
    remote: RemoteDovecot,
    local: LocalMailServer,
    setup: WorkerSetup,
    store: PathBuf,
}

/// Dovecot with `isp-user`, Postfix with `alice`, and a configuration whose profile `svc`
/// reads `{ keyring = true }` and whose `[worker] secrets` is a store in a root-only folder.
fn rig() -> Rig {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(tmp.path()).expect("test CA");
    let remote = RemoteDovecot::start_with(RemoteOptions::new(&ca)).expect("remote dovecot");
    remote.add_user("isp-user", PASSWORD).expect("add user");
    let local = LocalMailServer::start(&["alice"]).expect("local postfix");
    let unused = tmp.path().join("unused.password");
    let mut spec = ProfileSpec::new(
        "svc",
        remote.pop3s_port(),
        "isp-user",
        &unused,
        local.smtp_port(),
        "alice",
    );
    spec.ca_file = Some(ca.ca_file().to_path_buf());
    let setup = WorkerSetup::new(&[spec]).expect("setup");
    let store = setup
        .dir
        .path()
        .join("credstore")
        .join("mailpull-secrets.toml");
    let text = std::fs::read_to_string(&setup.config).expect("config");
    let password_line = text
        .lines()
        .find(|l| l.starts_with("password = "))
        .expect("password line")
        .to_string();
    let text = text
        .replace(&password_line, "password = { keyring = true }")
        .replacen(
            "[worker]\n",
            &format!("[worker]\nsecrets = {:?}\n", store.display().to_string()),
            1,
        );
    std::fs::write(&setup.config, text).expect("rewrite config");
    Rig {
        _tmp: tmp,
        remote,
        local,
        setup,
        store,
    }
}

impl Rig {
    fn fill(&self, from: usize, count: usize) -> Vec<Vec<u8>> {
        (from..from + count)
            .map(|i| {
                let raw = sample_message(i, 2_000, "isp-user@isp.example");
                self.remote.add_message("isp-user", &raw).expect("add");
                raw
            })
            .collect()
    }

    /// `mailpull-worker ARGS --config FILE` with `stdin` written to its standard input.
    fn worker(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = Command::new(worker_binary().expect("worker binary"))
            .args(args)
            .arg("--config")
            .arg(&self.setup.config)
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

    /// `run --once` in a new, empty session keyring of its own (`keyctl session -`).
    fn run_after_reboot(&self) -> Output {
        Command::new("keyctl")
            .args(["session", "-"])
            .arg(worker_binary().expect("worker binary"))
            .args(["run", "--once", "--config"])
            .arg(&self.setup.config)
            .env("RUST_LOG", "info")
            .output()
            .expect("keyctl session - mailpull-worker run --once")
    }

    fn assert_local_ids(&self, sent: &[Vec<u8>]) {
        let got = self
            .local
            .wait_for_messages("alice", sent.len(), WAIT)
            .unwrap_or_else(|err| panic!("{err:#}\n--- maillog\n{}", self.local.maillog()));
        let mut want = message_ids(sent);
        let mut have = message_ids(&got);
        want.sort();
        have.sort();
        assert_eq!(have, want);
    }
}

fn mode_and_owner(path: &Path) -> (u32, u32) {
    let meta = std::fs::metadata(path).expect("stat store");
    (meta.mode() & 0o777, meta.uid())
}

#[test]
fn a_password_set_for_the_service_survives_a_restart_and_a_fresh_keyring() {
    let test =
        "service_secrets::a_password_set_for_the_service_survives_a_restart_and_a_fresh_keyring";
    require_keyctl_session(test);
    let rig = rig();
    let set = rig.worker(&["set-password", "svc"], &format!("{PASSWORD}\n"));
    let text = output_text(&set);
    assert!(set.status.success(), "set-password failed: {text}");
    assert!(
        !text.contains(PASSWORD),
        "set-password echoed the secret: {text}"
    );
    assert!(text.contains("service secret store"), "{text}");
    assert_eq!(
        mode_and_owner(&rig.store),
        (0o600, 0),
        "the store is not root's 0600"
    );
    let check = rig.worker(&["check"], "");
    let text = output_text(&check);
    assert!(check.status.success(), "{text}");
    assert!(
        text.contains(&format!(
            "password: service secret store {}",
            rig.store.display()
        )),
        "check does not say where the password comes from: {text}"
    );
    assert!(!text.contains(PASSWORD), "{text}");

    // First start, then a restart: each in a new, empty session keyring.
    let first = rig.fill(0, 2);
    let run = rig.run_after_reboot();
    assert!(run.status.success(), "first run: {}", output_text(&run));
    rig.assert_local_ids(&first);
    let second = rig.fill(2, 2);
    let run = rig.run_after_reboot();
    assert!(
        run.status.success(),
        "after the restart: {}",
        output_text(&run)
    );
    let all: Vec<Vec<u8>> = first.into_iter().chain(second).collect();
    rig.assert_local_ids(&all);
    assert!(!output_text(&run).contains(PASSWORD));

    // A new password replaces the old one in place (the file stays root's 0600).
    let set = rig.worker(&["set-password", "svc"], "other-password\n");
    assert!(set.status.success(), "{}", output_text(&set));
    assert_eq!(mode_and_owner(&rig.store), (0o600, 0));
    let stored = std::fs::read_to_string(&rig.store).expect("read store");
    assert!(
        stored.contains("other-password") && !stored.contains(PASSWORD),
        "{stored}"
    );
}

#[test]
fn a_store_others_can_read_or_not_owned_by_root_is_refused() {
    let rig = rig();
    let set = rig.worker(&["set-password", "svc"], &format!("{PASSWORD}\n"));
    assert!(set.status.success(), "{}", output_text(&set));
    let store = rig.store.display().to_string();
    std::fs::set_permissions(&rig.store, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    for args in [&["check"][..], &["run", "--once"][..]] {
        let out = rig.worker(args, "");
        let text = output_text(&out);
        assert!(
            !out.status.success(),
            "{args:?} accepted a 0644 store: {text}"
        );
        assert!(
            text.contains(&format!("refusing the service secret store {store}"))
                && text.contains("0644"),
            "{args:?}: {text}"
        );
        assert!(!text.contains(PASSWORD), "{text}");
    }
    std::fs::set_permissions(&rig.store, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    std::os::unix::fs::chown(&rig.store, Some(65534), None).expect("chown nobody");
    let out = rig.worker(&["check"], "");
    let text = output_text(&out);
    assert!(
        !out.status.success(),
        "check accepted nobody's store: {text}"
    );
    assert!(text.contains("owned by uid 65534, not root"), "{text}");
    // set-password does not write through a store it would refuse to read.
    let set = rig.worker(&["set-password", "svc"], "x\n");
    assert!(!set.status.success(), "{}", output_text(&set));
    assert_eq!(mode_and_owner(&rig.store).1, 65534);
}

#[test]
fn a_worker_with_a_service_store_stores_no_password_in_its_keyring_over_the_pipe() {
    let rig = rig();
    let set = rig.worker(&["set-password", "svc"], &format!("{PASSWORD}\n"));
    assert!(set.status.success(), "{}", output_text(&set));
    let mut worker = rig.setup.spawn_listening().expect("worker listening");
    let endpoint = mailpull_shared::ipc::Endpoint::for_config(&rig.setup.config);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let reply = rt.block_on(async {
        let mut client = mailpull_shared::ipc::IpcClient::connect(&endpoint)
            .await
            .expect("connect");
        client.set_secret("svc", "typed-in-the-manager").await
    });
    mailpull_tests::stop_worker(&mut worker);
    let err =
        reply.expect_err("the worker stored a password in its keyring beside a service store");
    let text = err.to_string();
    assert!(
        text.contains("sudo mailpull-worker set-password svc")
            && text.contains(&rig.store.display().to_string()),
        "{text}"
    );
    assert!(!text.contains("typed-in-the-manager"), "{text}");
    let stored = std::fs::read_to_string(&rig.store).expect("read store");
    assert!(
        stored.contains("service-secret-") && !stored.contains("typed-in"),
        "{stored}"
    );
}
