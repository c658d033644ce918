//! The Pull Manager's pipe end to end: a real `mailpull-worker run` process and the real local
//! socket. Bad clients (another protocol version, oversized frames, garbage, a cut-off frame,
//! twenty at once, 1,000 connections opened and dropped, 300 frames of random bytes) never
//! stop the worker from serving; status, poll-now and profile saves work against real Dovecot
//! and Postfix; a password sent with set-secret is never echoed; another
//! local user is refused.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mailpull_shared::config::raw::{RawPassword, RawPasswordSource};
use mailpull_shared::ipc::frame::{self, FrameDecoder};
use mailpull_shared::ipc::{
    ClientError, ClientHello, Endpoint, ErrorKind, Event, IpcClient, MAX_FRAME, PROTOCOL_VERSION,
    ProfileState, Request, Response, ServerHello, StepOutcome, TestTarget,
};
use mailpull_tests::{
    LocalMailServer, ProfileSpec, RemoteDovecot, TestCa, WorkerSetup, require_keyctl_session,
    sample_message, worker_binary,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PASSWORD: &str = "remote-secret-ipc-7";
const WAIT: Duration = Duration::from_secs(30);

/// A running `mailpull-worker run`, stopped (SIGTERM) on drop.
struct Running {
    setup: WorkerSetup,
    child: Child,
    endpoint: Endpoint,
    /// Files the configuration refers to.
    _extra: Option<tempfile::TempDir>,
}

impl Running {
    fn start(setup: WorkerSetup) -> Running {
        let child = setup.spawn(false).expect("spawn worker");
        Self::wait_ready(setup, child)
    }

    /// The worker in its own session keyring (`keyctl session -`); fails `test` when
    /// `keyctl session` does not work here.
    fn start_in_keyring_session(test: &str, setup: WorkerSetup) -> Running {
        require_keyctl_session(test);
        let stderr = std::fs::File::create(setup.dir.path().join("worker.stderr")).expect("file");
        let child = Command::new("keyctl")
            .args(["session", "-"])
            .arg(worker_binary().expect("worker binary"))
            .args(["run", "--config"])
            .arg(&setup.config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn keyctl session");
        Self::wait_ready(setup, child)
    }

    fn wait_ready(setup: WorkerSetup, mut child: Child) -> Running {
        let endpoint = Endpoint::for_config(&setup.config);
        let rt = runtime();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if rt.block_on(IpcClient::connect(&endpoint)).is_ok() {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "worker exited ({status}) before listening:\n{}",
                    stderr_of(&setup)
                );
            }
            assert!(
                Instant::now() < deadline,
                "worker never listened on {endpoint}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Running {
            setup,
            child,
            endpoint,
            _extra: None,
        }
    }

    async fn client(&self) -> IpcClient {
        IpcClient::connect(&self.endpoint)
            .await
            .unwrap_or_else(|err| panic!("connect: {err}\n{}", stderr_of(&self.setup)))
    }

    /// A fresh client still gets a status answer.
    async fn assert_serving(&self) {
        let status = self.client().await.status().await.expect("status");
        assert!(!status.is_empty());
    }

    fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(worker_binary().expect("worker binary"))
            .args(args)
            .arg("--config")
            .arg(&self.setup.config)
            .output()
            .expect("run CLI")
    }

    /// Everything the worker logged (stderr and its log file).
    fn all_logs(&self) -> String {
        let mut text = stderr_of(&self.setup);
        if let Ok(dir) = std::fs::read_dir(self.setup.state_dir().join("logs")) {
            for entry in dir.flatten() {
                text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
            }
        }
        text
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn stderr_of(setup: &WorkerSetup) -> String {
    std::fs::read_to_string(setup.dir.path().join("worker.stderr")).unwrap_or_default()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A worker whose only profile points at a closed port (for the protocol tests).
fn idle_worker() -> Running {
    let tmp = tempfile::tempdir().expect("tempdir");
    let pw = WorkerSetup::password_file(tmp.path(), "u", "pw").expect("pw");
    let port = mailpull_tests::free_port().expect("port");
    let mut spec = ProfileSpec::new("idle", port, "u", &pw, port, "alice");
    spec.interval = "1h";
    let setup = WorkerSetup::new(&[spec]).expect("setup");
    let mut running = Running::start(setup);
    running._extra = Some(tmp);
    running
}

/// Opens a raw stream and exchanges a valid hello.
async fn raw_after_hello(endpoint: &Endpoint) -> interprocess::local_socket::tokio::Stream {
    let mut stream = IpcClient::open(endpoint).await.expect("open");
    stream
        .write_all(&frame::encode(&ClientHello::new("raw test")).expect("encode"))
        .await
        .expect("hello");
    let hello: ServerHello = read_one(&mut stream).await.expect("server hello");
    assert_eq!(hello.refused, None);
    stream
}

/// Reads one frame; `None` when the worker closed the connection.
async fn read_one<T: serde::de::DeserializeOwned>(
    stream: &mut interprocess::local_socket::tokio::Stream,
) -> Option<T> {
    let mut decoder = FrameDecoder::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(body) = decoder.next_frame().expect("frame from worker") {
            return Some(frame::decode(&body).expect("message from worker"));
        }
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("worker answers in time")
            .unwrap_or(0);
        if n == 0 {
            return None;
        }
        decoder.feed(&buf[..n]);
    }
}

/// After a bad frame the worker answers with an error and closes this connection only.
async fn expect_error_then_close(
    stream: &mut interprocess::local_socket::tokio::Stream,
    needle: &str,
) {
    let reply: Response = read_one(stream).await.expect("an error reply");
    match reply {
        Response::Error { error } => {
            assert_eq!(error.kind, ErrorKind::BadRequest);
            assert!(error.message.contains(needle), "{}", error.message);
        }
        other => panic!("expected an error, got {other:?}"),
    }
    assert!(read_one::<Response>(stream).await.is_none(), "not closed");
}

#[test]
fn another_protocol_version_is_refused_naming_both() {
    let worker = idle_worker();
    runtime().block_on(async {
        let hello = ClientHello {
            protocol: PROTOCOL_VERSION + 41,
            client: "future manager".into(),
        };
        let err = IpcClient::connect_with(&worker.endpoint, hello)
            .await
            .expect_err("mismatch must be refused");
        let text = err.to_string();
        assert!(matches!(err, ClientError::Refused(_)), "{text}");
        assert!(
            text.contains(&format!("version {}", PROTOCOL_VERSION + 41))
                && text.contains(&format!("version {PROTOCOL_VERSION}")),
            "{text}"
        );
        worker.assert_serving().await;
    });
}

#[test]
fn bad_frames_close_only_their_connection() {
    let worker = idle_worker();
    runtime().block_on(async {
        let mut bystander = worker.client().await;

        // A frame declaring more than the limit.
        let mut stream = raw_after_hello(&worker.endpoint).await;
        stream
            .write_all(&((MAX_FRAME as u32) * 2).to_be_bytes())
            .await
            .expect("write");
        expect_error_then_close(&mut stream, "exceeds the limit").await;
        worker.assert_serving().await;

        // Garbage instead of a hello.
        let mut stream = IpcClient::open(&worker.endpoint).await.expect("open");
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: worker\r\n\r\n")
            .await
            .expect("write");
        let hello: ServerHello = read_one(&mut stream).await.expect("refusal");
        assert!(
            hello
                .refused
                .as_deref()
                .is_some_and(|r| r.contains("bad hello")),
            "{hello:?}"
        );
        worker.assert_serving().await;

        // A well-formed frame holding an unknown request.
        let mut stream = raw_after_hello(&worker.endpoint).await;
        let unknown = serde_json::json!({"request": "format_disk"});
        stream
            .write_all(&frame::encode(&unknown).expect("encode"))
            .await
            .expect("write");
        expect_error_then_close(&mut stream, "unknown or malformed request").await;

        // A request whose values do not fit: the reply says what is wrong, never quoting
        // the frame (its values may be a password).
        for bad in [
            serde_json::json!({"request": "set_enabled", "name": "p", "enabled": "hunter2-S3cret"}),
            serde_json::json!({"request": "test_connection", "target": {"saved": "p"}, "password": ["hunter2-S3cret"]}),
            serde_json::json!({"request": "hunter2-S3cret"}),
        ] {
            let mut stream = raw_after_hello(&worker.endpoint).await;
            stream
                .write_all(&frame::encode(&bad).expect("encode"))
                .await
                .expect("write");
            let reply: Response = read_one(&mut stream).await.expect("an error reply");
            let Response::Error { error } = reply else {
                panic!("expected an error, got {reply:?}");
            };
            assert_eq!(error.kind, ErrorKind::BadRequest);
            assert!(
                error.message.contains("malformed request")
                    && (error.message.contains("expected") || error.message.contains("unknown"))
                    && !error.message.contains("hunter2"),
                "{}",
                error.message
            );
        }

        // Bytes that are not JSON.
        let mut stream = raw_after_hello(&worker.endpoint).await;
        let mut bytes = 6u32.to_be_bytes().to_vec();
        bytes.extend_from_slice(b"\x00\xff{{{{");
        stream.write_all(&bytes).await.expect("write");
        expect_error_then_close(&mut stream, "malformed").await;

        // A client that disconnects in the middle of a frame.
        let mut stream = raw_after_hello(&worker.endpoint).await;
        let whole = frame::encode(&Request::Status).expect("encode");
        stream
            .write_all(&whole[..whole.len() / 2])
            .await
            .expect("write");
        drop(stream);

        worker.assert_serving().await;
        // The connection opened before all this still works.
        assert_eq!(bystander.status().await.expect("status").len(), 1);
    });
}

#[test]
fn twenty_clients_at_once() {
    let worker = idle_worker();
    runtime().block_on(async {
        let mut tasks = Vec::new();
        for i in 0..20 {
            let endpoint = worker.endpoint.clone();
            tasks.push(tokio::spawn(async move {
                let mut client = IpcClient::connect(&endpoint).await.expect("connect");
                for _ in 0..5 {
                    let status = client.status().await.expect("status");
                    assert_eq!(status[0].name, "idle");
                    let profiles = client.list_profiles().await.expect("list");
                    assert_eq!(profiles[0].name, "idle");
                }
                i
            }));
        }
        let mut done = 0;
        for task in tasks {
            task.await.expect("client task");
            done += 1;
        }
        assert_eq!(done, 20);
        worker.assert_serving().await;
    });
}

struct MailRig {
    _tmp: tempfile::TempDir,
    ca: TestCa,
    remote: RemoteDovecot,
    local: LocalMailServer,
    password_file: PathBuf,
}

fn mail_rig() -> MailRig {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(tmp.path()).expect("test CA");
    let remote = RemoteDovecot::start(&ca).expect("remote dovecot");
    remote.add_user("isp-user", PASSWORD).expect("add user");
    remote.add_user("isp-user2", PASSWORD).expect("add user");
    let local = LocalMailServer::start(&["alice", "bob"]).expect("local postfix");
    let password_file = WorkerSetup::password_file(tmp.path(), "isp", PASSWORD).expect("pw");
    MailRig {
        _tmp: tmp,
        ca,
        remote,
        local,
        password_file,
    }
}

impl MailRig {
    fn profile(&self, name: &str, user: &str, local_user: &str) -> ProfileSpec {
        let mut spec = ProfileSpec::new(
            name,
            self.remote.pop3s_port(),
            user,
            &self.password_file,
            self.local.smtp_port(),
            local_user,
        );
        spec.ca_file = Some(self.ca.ca_file().to_path_buf());
        spec
    }

    fn fill(&self, user: &str, from: usize, count: usize) {
        for i in from..from + count {
            self.remote
                .add_message(user, &sample_message(i, 2_000, "x@isp.example"))
                .expect("add message");
        }
    }
}

/// Waits until `check` holds for the worker's status.
async fn wait_status(
    worker: &Running,
    what: &str,
    check: impl Fn(&[mailpull_shared::ipc::ProfileStatus]) -> bool,
) {
    let mut client = worker.client().await;
    let deadline = Instant::now() + WAIT;
    loop {
        let status = client.status().await.expect("status");
        if check(&status) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {status:?}\n{}",
            stderr_of(&worker.setup)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn status_and_poll_now_through_the_cli_move_mail() {
    let rig = mail_rig();
    rig.fill("isp-user", 0, 3);
    let setup = WorkerSetup::new(&[rig.profile("isp", "isp-user", "alice")]).expect("setup");
    let worker = Running::start(setup);
    rig.local
        .wait_for_messages("alice", 3, WAIT)
        .expect("first poll");
    runtime().block_on(wait_status(&worker, "first poll recorded", |s| {
        s[0].state == ProfileState::Ok && s[0].messages == 3
    }));

    // Interval 10 minutes: only poll-now can bring these two in time.
    rig.fill("isp-user", 3, 2);
    let out = worker.cli(&["poll-now", "isp"]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("poll of profile \"isp\" started"));
    rig.local
        .wait_for_messages("alice", 5, Duration::from_secs(15))
        .expect("poll-now moved the new mail");
    runtime().block_on(wait_status(&worker, "second poll recorded", |s| {
        s[0].messages == 5
    }));

    let out = worker.cli(&["status"]);
    assert!(out.status.success(), "{out:?}");
    let table = String::from_utf8_lossy(&out.stdout);
    let row = table
        .lines()
        .find(|l| l.starts_with("isp "))
        .unwrap_or_else(|| panic!("no isp row:\n{table}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[1], "ok", "{row}");
    assert!(row.contains(" ago") && row.contains("in "), "{row}");
    assert!(cells.contains(&"5"), "{row}");

    let out = worker.cli(&["poll-now", "nosuch"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no profile named \"nosuch\""));

    // Another configuration has no worker: a clear message and a non-zero exit.
    let other = tempfile::tempdir().expect("tempdir");
    let config = other.path().join("other.toml");
    std::fs::write(&config, "").expect("write");
    let out = Command::new(worker_binary().expect("bin"))
        .args(["status", "--config"])
        .arg(&config)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no worker is running for") && err.contains("other.toml"),
        "{err}"
    );
}

#[test]
fn a_saved_profile_is_written_and_polls_without_restart() {
    let rig = mail_rig();
    let setup = WorkerSetup::new(&[rig.profile("isp", "isp-user", "alice")]).expect("setup");
    let worker = Running::start(setup);
    let config = worker.setup.config.clone();
    runtime().block_on(async {
        let mut client = worker.client().await;
        let mut form = client.read_profile("isp").await.expect("read");
        assert_eq!(form.name.as_deref(), Some("isp"));

        // A bad port: refused with the field named, nothing written.
        let before = std::fs::read(&config).expect("read config");
        let mut bad = form.clone();
        bad.name = Some("second".into());
        if let Some(remote) = bad.remote.as_mut() {
            remote.port = Some(70_000);
        }
        let err = client.save_profile(None, bad).await.expect_err("bad port");
        let ipc = err.worker_error().expect("typed error").clone();
        assert_eq!(ipc.kind, ErrorKind::Invalid);
        assert!(
            ipc.fields
                .iter()
                .any(|f| f.field == "remote.port" && f.profile.as_deref() == Some("second")),
            "{ipc:?}"
        );
        assert!(err.to_string().contains("remote.port"), "{err}");
        assert_eq!(std::fs::read(&config).expect("read config"), before);

        // A good second profile: written, applied, polled without a restart.
        rig.fill("isp-user2", 100, 4);
        form.name = Some("second".into());
        if let Some(remote) = form.remote.as_mut() {
            remote.username = Some("isp-user2".into());
        }
        if let Some(local) = form.local.as_mut() {
            local.user = Some("bob".into());
        }
        let saved = client.save_profile(None, form).await.expect("save");
        assert_eq!(saved, "second");
        let text = std::fs::read_to_string(&config).expect("read config");
        let checked = mailpull_shared::config::parse(&text, "saved").expect("file still valid");
        assert_eq!(checked.profiles.len(), 2);
        assert_eq!(
            checked
                .profile("second")
                .map(|p| p.remote.username.as_str()),
            Some("isp-user2")
        );
        rig.local
            .wait_for_messages("bob", 4, WAIT)
            .expect("the new profile polled without a restart");
        let names: Vec<String> = client
            .list_profiles()
            .await
            .expect("list")
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(names, ["isp", "second"]);

        // Disable, then delete: applied at once too.
        client.set_enabled("second", false).await.expect("disable");
        let status = client.status().await.expect("status");
        assert_eq!(status[1].state, ProfileState::Disabled);
        let err = client.poll_now("second").await.expect_err("disabled");
        assert_eq!(
            err.worker_error().map(|e| e.kind),
            Some(ErrorKind::Disabled)
        );
        client.delete_profile("second").await.expect("delete");
        assert_eq!(client.status().await.expect("status").len(), 1);
        let text = std::fs::read_to_string(&config).expect("read config");
        assert!(!text.contains("second"), "{text}");
    });
}

/// Removes a profile's keyring password when dropped.
struct Forget(String);

impl Drop for Forget {
    fn drop(&mut self) {
        let _ = mailpull_shared::secrets::delete_from_keyring(&self.0);
    }
}

/// A worker setup for profile `name` (hourly) whose password comes from the OS keyring.
fn keyring_setup(rig: &MailRig, name: &str) -> WorkerSetup {
    let mut spec = rig.profile(name, "isp-user", "alice");
    spec.interval = "1h";
    let setup = WorkerSetup::new(&[spec]).expect("setup");
    // Switch the profile to the keyring before the worker starts.
    let text = std::fs::read_to_string(&setup.config).expect("read");
    let file_line = text
        .lines()
        .find(|l| l.starts_with("password = "))
        .expect("password line")
        .to_string();
    std::fs::write(
        &setup.config,
        text.replace(&file_line, "password = { keyring = true }"),
    )
    .expect("write");
    setup
}

#[test]
fn set_password_on_the_command_line_lets_a_keyring_profile_log_in() {
    let rig = mail_rig();
    rig.fill("isp-user", 0, 2);
    // The keyring entry outlives a worker's session (the kernel's persistent keyring): a
    // name of its own, cleared before and after.
    let name = format!("isp-cli-{}", std::process::id());
    let _ = mailpull_shared::secrets::delete_from_keyring(&name);
    let worker = Running::start_in_keyring_session(
        "set_password_on_the_command_line_lets_a_keyring_profile_log_in",
        keyring_setup(&rig, &name),
    );
    let _forget = Forget(name.clone());
    // The first poll finds no password in the worker's keyring.
    runtime().block_on(wait_status(&worker, "the first poll to fail", |s| {
        s[0].consecutive_failures >= 1
            && s[0]
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("no password stored in the OS keyring"))
    }));
    let set_password = |args: &[&str], stdin: &str| {
        let mut child = Command::new(worker_binary().expect("worker binary"))
            .arg("set-password")
            .args(args)
            .arg("--config")
            .arg(&worker.setup.config)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run set-password");
        std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), stdin.as_bytes())
            .expect("write stdin");
        child.wait_with_output().expect("set-password output")
    };

    // Empty input sends nothing; a client secret for a password profile is refused by name.
    let out = set_password(&[&name], "");
    assert!(!out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no password given"),
        "{out:?}"
    );
    let out = set_password(&[&name, "--client-secret"], "whatever\n");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not use OAuth"),
        "{out:?}"
    );

    // The password, piped in: stored, not repeated, and the next poll logs in with it.
    let out = set_password(&[&name], &format!("{PASSWORD}\n"));
    assert!(out.status.success(), "{out:?}");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains(&format!(
            "password of profile \"{name}\" stored in the OS keyring"
        )),
        "{said}"
    );
    assert!(!said.contains(PASSWORD), "{said}");
    let out = worker.cli(&["poll-now", &name]);
    assert!(out.status.success(), "{out:?}");
    rig.local
        .wait_for_messages("alice", 2, WAIT)
        .unwrap_or_else(|e| panic!("{e:#}\n{}", worker.all_logs()));
    assert!(!worker.all_logs().contains(PASSWORD), "password in the log");
}

#[test]
fn set_secret_is_stored_and_never_echoed() {
    let rig = mail_rig();
    let worker = Running::start_in_keyring_session(
        "set_secret_is_stored_and_never_echoed",
        keyring_setup(&rig, "isp"),
    );
    runtime().block_on(async {
        let log = worker.client().await.subscribe_log().await.expect("subscribe");
        let collector = tokio::spawn(async move {
            let mut log = log;
            let mut lines = Vec::new();
            while let Ok(Ok(Some(event))) =
                tokio::time::timeout(Duration::from_secs(3), log.next()).await
            {
                lines.push(event);
            }
            lines
        });
        let mut client = worker.client().await;
        let mut replies = Vec::new();
        let reply = client
            .request(&Request::SetSecret {
                name: "isp".into(),
                password: mailpull_shared::ipc::WirePassword::new(PASSWORD),
            })
            .await
            .expect("set secret");
        replies.push(format!("{reply:?} {}", serde_json::to_string(&reply).expect("json")));

        // The stored password works: the test's login step passes.
        let steps = client
            .test_connection(TestTarget::Saved("isp".into()))
            .await
            .expect("test");
        let outcome = |name: &str| {
            steps
                .iter()
                .find(|s| s.step == name)
                .map(|s| s.outcome)
                .unwrap_or_else(|| panic!("no {name} step in {steps:?}"))
        };
        for name in ["connect", "tls", "login", "messages", "local_smtp"] {
            assert_eq!(outcome(name), StepOutcome::Passed, "{name}: {steps:?}");
        }
        replies.push(format!("{steps:?}"));

        // An unsaved form with a wrong port fails at connect and skips the rest.
        let mut form = client.read_profile("isp").await.expect("read");
        replies.push(serde_json::to_string(&form).expect("json"));
        assert_eq!(
            form.remote.as_ref().and_then(|r| r.password.clone()),
            Some(RawPassword::Source(RawPasswordSource {
                keyring: Some(true),
                ..RawPasswordSource::default()
            }))
        );
        if let Some(remote) = form.remote.as_mut() {
            remote.port = Some(i64::from(mailpull_tests::free_port().expect("port")));
        }
        let steps = client
            .test_connection(TestTarget::Form(Box::new(form)))
            .await
            .expect("test form");
        assert_eq!(steps[0].outcome, StepOutcome::Failed, "{steps:?}");
        assert!(steps[1..4].iter().all(|s| s.outcome == StepOutcome::Skipped));
        replies.push(format!("{steps:?}"));

        for request in [Request::Status, Request::ListProfiles] {
            let reply = client.request(&request).await.expect("request");
            replies.push(serde_json::to_string(&reply).expect("json"));
        }
        let events = collector.await.expect("collector");
        assert!(
            events.iter().any(|e| matches!(e, Event::Log { line } if line.contains("password stored in the OS keyring"))),
            "live log: {events:?}"
        );
        for text in replies
            .iter()
            .chain(events.iter().map(|e| match e {
                Event::Log { line } => line,
                Event::Lagged { .. } => "",
            }).map(str::to_string).collect::<Vec<_>>().iter())
        {
            assert!(!text.contains(PASSWORD), "password echoed: {text}");
        }
        let logs = worker.all_logs();
        assert!(logs.contains("password stored"), "{logs}");
        assert!(!logs.contains(PASSWORD), "password in the log");
    });
}

/// "Remove my data" (the Windows uninstaller runs `forget-secrets` while the service still
/// runs): the worker removes the profiles' passwords from its own account's keyring; the
/// stored password that logged in before no longer exists afterwards.
#[test]
fn forget_secrets_removes_the_stored_passwords() {
    let rig = mail_rig();
    let worker = Running::start_in_keyring_session(
        "forget_secrets_removes_the_stored_passwords",
        keyring_setup(&rig, "isp"),
    );
    runtime().block_on(async {
        let mut client = worker.client().await;
        client
            .set_secret("isp", PASSWORD)
            .await
            .expect("set secret");
        let login = |steps: &[mailpull_shared::ipc::TestStep]| {
            steps
                .iter()
                .find(|s| s.step == "login")
                .map(|s| s.outcome)
                .unwrap_or_else(|| panic!("no login step in {steps:?}"))
        };
        let steps = client
            .test_connection(TestTarget::Saved("isp".into()))
            .await
            .expect("test");
        assert_eq!(login(&steps), StepOutcome::Passed, "{steps:?}");
        let reply = client.forget_secrets().await.expect("forget secrets");
        assert!(reply.contains("1 profile(s)"), "{reply}");
        assert!(!reply.contains(PASSWORD), "{reply}");
        let steps = client
            .test_connection(TestTarget::Saved("isp".into()))
            .await
            .expect("test");
        assert_ne!(login(&steps), StepOutcome::Passed, "{steps:?}");
        let text = format!("{steps:?}");
        assert!(
            text.contains("keyring") || text.contains("no password"),
            "{text}"
        );
    });
}

#[test]
fn another_local_user_is_refused() {
    let worker = idle_worker();
    let dir = worker
        .endpoint
        .directory()
        .map(Path::to_path_buf)
        .expect("socket dir");
    let out = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .arg("env")
        .arg(format!(
            "{}={}",
            mailpull_shared::ipc::endpoint::IPC_DIR_ENV,
            dir.display()
        ))
        .arg(worker_binary().expect("bin"))
        .args(["status", "--config"])
        .arg(&worker.setup.config)
        .output()
        .expect("setpriv");
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    assert!(err.contains("permission denied"), "{err}");
    runtime().block_on(worker.assert_serving());
}

/// `set-password`, run by an ordinary user (the test system user), against a socket
/// directory another user could have made: one created first by `nobody` (the
/// `/tmp/mailpull-<uid>` of a user without `XDG_RUNTIME_DIR`, mode 0755 and a socket anyone
/// may connect to), and the user's own directory left at mode 0777. Refused before connecting, naming the directory, its owner and its
/// mode; the impostor's listener never sees a connection, so the password never leaves.
#[test]
fn an_impostor_socket_directory_is_refused_before_anything_is_sent() {
    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt as _;
    const BAIT: &str = "impostor-bait-password";
    let victim = mailpull_tests::mail_user().expect("test system user");
    let nobody = 65534;
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let config = tmp.path().join("mailpull.toml");
    std::fs::write(&config, "").expect("config");
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let socket_name = Endpoint::for_config(&config)
        .address
        .file_name()
        .expect("socket name")
        .to_owned();
    // The impostor makes its directory and socket reachable for the victim, as it would.
    for (case, owner, mode) in [("nobody", nobody, 0o755), ("open", victim.uid, 0o777)] {
        let dir = tmp.path().join(format!("mailpull-{case}"));
        std::fs::create_dir(&dir).expect("mkdir");
        let listener =
            std::os::unix::net::UnixListener::bind(dir.join(&socket_name)).expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        std::fs::set_permissions(
            dir.join(&socket_name),
            std::fs::Permissions::from_mode(0o777),
        )
        .expect("chmod socket");
        std::os::unix::fs::chown(&dir, Some(owner), Some(owner)).expect("chown");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).expect("chmod");
        let mut child = Command::new("setpriv")
            .arg(format!("--reuid={}", victim.uid))
            .arg(format!("--regid={}", victim.gid))
            .arg("--clear-groups")
            .arg("env")
            .arg(format!(
                "{}={}",
                mailpull_shared::ipc::endpoint::IPC_DIR_ENV,
                dir.display()
            ))
            .arg(worker_binary().expect("bin"))
            .args(["set-password", "p", "--config"])
            .arg(&config)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        writeln!(child.stdin.take().expect("stdin"), "{BAIT}").expect("write");
        let out = child.wait_with_output().expect("wait");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(0), "{case}: {out:?}");
        assert!(
            err.contains("refusing") && err.contains(&dir.display().to_string()),
            "{case}: {err}"
        );
        assert!(
            err.contains(&format!("{mode:04o}")),
            "{case}: names the mode: {err}"
        );
        let owner_name = if owner == nobody {
            "nobody"
        } else {
            victim.name.as_str()
        };
        assert!(err.contains(owner_name), "{case}: names the owner: {err}");
        assert!(!err.contains(BAIT), "{case}: {err}");
        assert_eq!(
            listener.accept().map(|_| ()).map_err(|e| e.kind()),
            Err(std::io::ErrorKind::WouldBlock),
            "{case}: the client connected to the impostor"
        );
    }
}

/// Open file descriptors of a process (sockets included).
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Waits until the worker has closed what the storm opened (at most `slack` more than before).
async fn wait_fds_back(worker: &Running, before: usize, slack: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = open_fds(worker.child.id());
        if now <= before + slack {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "worker holds {now} descriptors, {before} before the storm"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A fresh client's status once the storm has drained: connections the client side has
/// dropped may still wait in the socket's backlog, and while the worker works through them a
/// newcomer can be told "busy; try again" (by design), so this retries that refusal only.
async fn status_after_the_storm(worker: &Running) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match IpcClient::connect(&worker.endpoint).await {
            Ok(mut client) => {
                assert_eq!(client.status().await.expect("status").len(), 1);
                return;
            }
            Err(err) if err.to_string().contains("busy") && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(err) => panic!(
                "connect after the storm: {err}\n{}",
                stderr_of(&worker.setup)
            ),
        }
    }
}

#[test]
fn a_thousand_connections_opened_and_dropped_leave_it_serving() {
    let worker = idle_worker();
    runtime().block_on(async {
        let mut bystander = worker.client().await;
        let before = open_fds(worker.child.id());
        let hello = frame::encode(&ClientHello::new("storm")).expect("encode");
        let mut dropped = 0;
        // 20 waves of 50 at once: more than MAX_CLIENTS, so some are told "busy".
        for wave in 0..20 {
            let mut tasks = Vec::new();
            for i in 0..50 {
                let (endpoint, hello) = (worker.endpoint.clone(), hello.clone());
                tasks.push(tokio::spawn(async move {
                    let Ok(mut stream) = IpcClient::open(&endpoint).await else {
                        return false;
                    };
                    match (wave + i) % 3 {
                        // Dropped at once.
                        0 => {}
                        // Half a hello, then gone.
                        1 => {
                            let _ = stream.write_all(&hello[..hello.len() / 2]).await;
                        }
                        // A whole hello, then gone without reading the answer.
                        _ => {
                            let _ = stream.write_all(&hello).await;
                        }
                    }
                    true
                }));
            }
            for task in tasks {
                if task.await.expect("task") {
                    dropped += 1;
                }
            }
        }
        assert_eq!(dropped, 1000, "every connection was accepted");
        // The client connected throughout answers at once, even while the backlog drains.
        assert_eq!(bystander.status().await.expect("status").len(), 1);
        status_after_the_storm(&worker).await;
        let after = wait_fds_back(&worker, before, 2).await;
        eprintln!("1,000 connections: worker fds {before} before, {after} after");
        worker.assert_serving().await;
        assert_eq!(bystander.status().await.expect("status").len(), 1);
    });
}

#[test]
fn frames_of_random_bytes_leave_it_serving() {
    let seed = fastrand::u64(..);
    eprintln!("random frames: seed {seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let worker = idle_worker();
    runtime().block_on(async {
        let mut bystander = worker.client().await;
        let before = open_fds(worker.child.id());
        let mut closed_by_worker = 0;
        for round in 0..300 {
            let len = rng.usize(1..3000);
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
            // A third declare a plausible length, so the decoder takes the body as a frame.
            if round % 3 == 0 && len > 4 {
                bytes[..4].copy_from_slice(&((len - 4) as u32).to_be_bytes());
            }
            let mut stream = if round % 2 == 0 {
                IpcClient::open(&worker.endpoint).await.expect("open")
            } else {
                raw_after_hello(&worker.endpoint).await
            };
            let _ = stream.write_all(&bytes).await;
            // The worker answers (an error) and closes, or waits for more; either way it must
            // not hang the client for long or stop serving others.
            let mut buf = [0u8; 4096];
            let deadline = Instant::now() + Duration::from_millis(300);
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match tokio::time::timeout(left, stream.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => {
                        closed_by_worker += 1;
                        break;
                    }
                    Ok(Ok(_)) => continue,
                    Err(_) => break,
                }
            }
            drop(stream);
            if round % 50 == 49 {
                worker.assert_serving().await;
                assert_eq!(bystander.status().await.expect("status").len(), 1);
            }
        }
        let after = wait_fds_back(&worker, before, 2).await;
        eprintln!(
            "300 random frames: {closed_by_worker} closed by the worker, fds {before} before, {after} after"
        );
        worker.assert_serving().await;
        assert_eq!(bystander.status().await.expect("status").len(), 1);
    });
}
