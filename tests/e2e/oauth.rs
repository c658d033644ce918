//! OAuth 2.0 end to end on loopback: a real Dovecot whose `oauth2` passdb validates bearer
//! tokens at the introspection endpoint of a small local authorization server
//! ([`FakeOAuthServer`]), the real worker binary, the real local Postfix. Covered: the
//! device-code sign-in (pending polls, `slow_down`) and the browser sign-in (PKCE, loopback
//! redirect, `state`) through `mailpull-worker oauth sign-in`; XOAUTH2 over POP3S and
//! OAUTHBEARER over IMAPS; refresh before expiry, refresh after a refused token,
//! refresh-token rotation; a revoked sign-in giving a clear error and `needs_sign_in`; and the
//! sign-in over IPC. Refresh tokens live in the session keyring (scripts/test.sh runs the
//! tests under `keyctl session`).

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mailpull_shared::ipc::{Endpoint, IpcClient, SignInMethod, SignInPrompt, SignInState};
use mailpull_shared::secrets;
use mailpull_tests::{
    DeviceOutcome, FakeOAuthServer, LocalMailServer, ProfileSpec, RemoteDovecot, RemoteOptions,
    TestCa, WorkerSetup, browse, http_get, output_text, require_keyring, sample_message,
    worker_binary,
};

const WAIT: Duration = Duration::from_secs(30);

pub(crate) struct Rig {
    _tmp: tempfile::TempDir,
    _ca: TestCa,
    pub(crate) oauth: FakeOAuthServer,
    pub(crate) remote: RemoteDovecot,
    pub(crate) local: LocalMailServer,
    pub(crate) pop: ProfileSpec,
    pub(crate) imap: ProfileSpec,
}

/// Dovecot with the oauth2 passdb, two mail users signed in by two OAuth clients, and one
/// profile for each: POP3S + XOAUTH2 and IMAPS + OAUTHBEARER.
pub(crate) fn rig(tag: &str) -> Rig {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(tmp.path()).expect("ca");
    let oauth = FakeOAuthServer::start().expect("oauth server");
    let remote =
        RemoteDovecot::start_with(RemoteOptions::new(&ca).with_oauth2(&oauth.introspection_url()))
            .expect("remote");
    let pid = std::process::id();
    let (pop_user, imap_user) = (format!("popper-{tag}"), format!("imapper-{tag}"));
    remote
        .add_user(&pop_user, "a password nobody uses")
        .expect("user");
    remote
        .add_user(&imap_user, "another unused password")
        .expect("user");
    oauth.register_client(&format!("client-pop-{tag}"), &pop_user);
    oauth.register_client(&format!("client-imap-{tag}"), &imap_user);
    let local = LocalMailServer::start(&["alice", "bob"]).expect("local");
    let table = |client: &str| oauth.custom_table(client);
    let unused = tmp.path().join("unused");
    let mut pop = ProfileSpec::new(
        &format!("oauth-pop-{tag}-{pid}"),
        remote.pop3s_port(),
        &pop_user,
        &unused,
        local.smtp_port(),
        "alice",
    );
    pop.ca_file = Some(ca.ca_file().to_path_buf());
    pop.oauth2 = Some(("xoauth2", table(&format!("client-pop-{tag}"))));
    let mut imap = ProfileSpec::new(
        &format!("oauth-imap-{tag}-{pid}"),
        remote.imaps_port(),
        &imap_user,
        &unused,
        local.smtp_port(),
        "bob",
    );
    imap.protocol = "imap";
    imap.ca_file = Some(ca.ca_file().to_path_buf());
    imap.oauth2 = Some(("oauthbearer", table(&format!("client-imap-{tag}"))));
    Rig {
        _tmp: tmp,
        _ca: ca,
        oauth,
        remote,
        local,
        pop,
        imap,
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        for name in [&self.pop.name, &self.imap.name] {
            let _ = secrets::delete_keyring(name, &secrets::refresh_token_account(name));
            let _ = secrets::delete_keyring(name, &secrets::client_secret_account(name));
        }
    }
}

pub(crate) fn fill(rig: &Rig, user: &str, first: usize, count: usize) {
    for i in first..first + count {
        rig.remote
            .add_message(
                user,
                &sample_message(i, 3_000, &format!("{user}@isp.example")),
            )
            .expect("add message");
    }
}

/// `mailpull-worker oauth sign-in --device`, waiting for it.
fn device_sign_in(setup: &WorkerSetup, profile: &str) -> String {
    let out = Command::new(worker_binary().expect("worker"))
        .args([
            "oauth",
            "sign-in",
            "--device",
            "--profile",
            profile,
            "--config",
        ])
        .arg(&setup.config)
        .output()
        .expect("run sign-in");
    assert!(out.status.success(), "{}", output_text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `mailpull-worker oauth sign-in --browser`, with the simulated browser.
fn browser_sign_in(setup: &WorkerSetup, profile: &str) -> String {
    let mut child: Child = Command::new(worker_binary().expect("worker"))
        .args([
            "oauth",
            "sign-in",
            "--browser",
            "--profile",
            profile,
            "--config",
        ])
        .arg(&setup.config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sign-in");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = String::new();
    let url = loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("sign-in printed no authorization_url:\n{seen}"))
            .expect("line");
        seen.push_str(&line);
        seen.push('\n');
        if let Some(url) = line.strip_prefix("authorization_url: ") {
            break url.to_string();
        }
    };
    assert!(url.contains("code_challenge_method=S256"), "{url}");
    // A stray request with another state must not end the sign-in.
    let redirect_port = url
        .split("redirect_uri=http%3A%2F%2F127.0.0.1%3A")
        .nth(1)
        .and_then(|rest| rest.split('%').next())
        .expect("redirect port");
    let stray = http_get(&format!(
        "http://127.0.0.1:{redirect_port}/?code=stolen&state=wrong"
    ));
    assert!(stray.starts_with("HTTP/1.1 400"), "{stray}");
    let page = browse(&url);
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("signed in"), "{page}");
    finish_sign_in(child, lines, seen)
}

/// Reads the rest of a sign-in command's output into `seen` and asserts that it succeeded;
/// returns all it printed.
pub(crate) fn finish_sign_in(
    mut child: std::process::Child,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
    mut seen: String,
) -> String {
    for line in lines {
        seen.push_str(&line.expect("line"));
        seen.push('\n');
    }
    let status = child.wait().expect("wait");
    let mut stderr = String::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut stderr);
    }
    assert!(status.success(), "{status}\n{seen}\n{stderr}");
    seen
}

#[test]
fn device_and_browser_sign_in_then_xoauth2_pop3_and_oauthbearer_imap_deliver() {
    require_keyring("oauth e2e");
    let rig = rig("a");
    let setup = WorkerSetup::new(&[rig.pop.clone(), rig.imap.clone()]).expect("setup");

    // Not signed in yet: a clear error, nothing fetched.
    let out = setup.run_once().expect("run");
    assert!(!out.status.success());
    let text = output_text(&out);
    assert!(
        text.contains("is not signed in") && text.contains("oauth sign-in --profile"),
        "{text}"
    );

    // Device code: slow_down, then authorization_pending, then the approval.
    rig.oauth.slow_down_once();
    let printed = device_sign_in(&setup, &rig.pop.name);
    assert!(printed.contains("user_code: WDJB-MJHT"), "{printed}");
    assert!(
        printed.contains("verification_uri: http://127.0.0.1/device-login"),
        "{printed}"
    );
    assert!(printed.contains("Signed in"), "{printed}");
    let counters = rig.oauth.counters();
    assert_eq!(counters.device_grants, 1, "{counters:?}");
    assert_eq!(counters.device_pending, 2, "{counters:?}");

    // Browser: PKCE + loopback redirect (+ a stray request with a wrong state first).
    let printed = browser_sign_in(&setup, &rig.imap.name);
    assert!(printed.contains("Signed in"), "{printed}");
    assert_eq!(rig.oauth.counters().code_grants, 1);
    for profile in [&rig.pop.name, &rig.imap.name] {
        let stored = secrets::read_keyring(profile, &secrets::refresh_token_account(profile))
            .expect("keyring");
        assert!(stored.is_some(), "no refresh token stored for {profile}");
    }

    fill(&rig, &rig.pop.username, 0, 3);
    fill(&rig, &rig.imap.username, 10, 2);
    let out = setup.run_once().expect("run");
    assert!(out.status.success(), "{}", output_text(&out));
    rig.local
        .wait_for_messages("alice", 3, WAIT)
        .unwrap_or_else(|e| panic!("{e:#}\n{}", rig.local.maillog()));
    rig.local
        .wait_for_messages("bob", 2, WAIT)
        .unwrap_or_else(|e| panic!("{e:#}\n{}", rig.local.maillog()));
    assert_eq!(
        rig.remote.message_count(&rig.pop.username).expect("count"),
        0
    );
    assert_eq!(
        rig.remote.message_count(&rig.imap.username).expect("count"),
        0
    );
    let counters = rig.oauth.counters();
    // Each profile refreshed once (a new process has no access token) with the token the
    // sign-in stored; Dovecot accepted every token it saw.
    assert_eq!(counters.refresh_grants, 2, "{counters:?}");
    assert!(counters.introspections_active >= 2, "{counters:?}");
    assert_eq!(counters.introspections_inactive, 0, "{counters:?}");

    // A second run refreshes with the rotated refresh tokens (the first ones are gone).
    fill(&rig, &rig.pop.username, 20, 1);
    let out = setup.run_once().expect("run");
    assert!(out.status.success(), "{}", output_text(&out));
    rig.local
        .wait_for_messages("alice", 4, WAIT)
        .unwrap_or_else(|e| panic!("{e:#}\n{}", rig.local.maillog()));
    assert_eq!(rig.oauth.counters().refresh_refused, 0);
    let logs = output_text(&out);
    assert!(!logs.contains("tok_"), "a token leaked:\n{logs}");
}

/// A running worker ([`WorkerSetup::spawn`]), stopped on drop.
struct Running {
    child: Child,
    endpoint: Endpoint,
    setup: WorkerSetup,
}

impl Running {
    fn start(setup: WorkerSetup) -> Running {
        let child = setup.spawn(false).expect("spawn worker");
        let endpoint = Endpoint::for_config(&setup.config);
        let running = Running {
            child,
            endpoint,
            setup,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while running
            .rt()
            .block_on(IpcClient::connect(&running.endpoint))
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "worker never listened\n{}",
                running.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        running
    }

    fn rt(&self) -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.setup.dir.path().join("worker.stderr")).unwrap_or_default()
    }

    fn status(&self, name: &str) -> mailpull_shared::ipc::ProfileStatus {
        self.rt()
            .block_on(async {
                let mut client = IpcClient::connect(&self.endpoint).await?;
                client.status().await
            })
            .expect("status")
            .into_iter()
            .find(|s| s.name == name)
            .expect("profile in status")
    }

    fn poll_now(&self, name: &str) {
        self.rt()
            .block_on(async {
                let mut client = IpcClient::connect(&self.endpoint).await?;
                client.poll_now(name).await
            })
            .expect("poll now");
    }

    /// Starts a sign-in over the pipe, as the Pull Manager does: the session and what to
    /// show, or the worker's refusal.
    fn start_sign_in(
        &self,
        name: &str,
        method: SignInMethod,
    ) -> Result<(String, SignInPrompt), String> {
        self.rt()
            .block_on(async {
                let mut client = IpcClient::connect(&self.endpoint).await?;
                client.start_sign_in(name, method).await
            })
            .map_err(|err| err.to_string())
    }

    /// Asks for the state of a sign-in until it is no longer pending.
    fn finish_sign_in(&self, session: &str) -> SignInState {
        let rt = self.rt();
        let deadline = Instant::now() + WAIT;
        loop {
            let state = rt
                .block_on(async {
                    let mut client = IpcClient::connect(&self.endpoint).await?;
                    client.sign_in_result(session).await
                })
                .expect("sign-in result");
            if state != SignInState::Pending {
                return state;
            }
            assert!(Instant::now() < deadline, "sign-in never finished");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// A device sign-in over the pipe until it is no longer pending: the final state, or the
    /// worker's refusal to start it.
    fn device_sign_in(&self, name: &str) -> Result<SignInState, String> {
        let (session, _prompt) = self.start_sign_in(name, SignInMethod::Device)?;
        Ok(self.finish_sign_in(&session))
    }

    /// Waits until the profile's status satisfies `done`.
    fn wait_until(
        &self,
        name: &str,
        what: &str,
        done: impl Fn(&mailpull_shared::ipc::ProfileStatus) -> bool,
    ) -> mailpull_shared::ipc::ProfileStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            let status = self.status(name);
            if done(&status) {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: never reached; last status {status:?}\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
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

#[test]
fn ipc_sign_in_refresh_before_expiry_after_refusal_and_revocation() {
    require_keyring("oauth IPC e2e");
    let rig = rig("b");
    // Access tokens live 6 s: the worker refreshes them after 4.5 s.
    rig.oauth.set_access_lifetime(Duration::from_secs(6));
    let mut pop = rig.pop.clone();
    pop.interval = "1h";
    let name = pop.name.clone();
    let worker = Running::start(WorkerSetup::new(&[pop]).expect("setup"));

    // The first poll fails: not signed in, and the status says so.
    let status = worker.wait_until(&name, "first poll", |s| s.consecutive_failures >= 1);
    assert!(status.needs_sign_in, "{status:?}");
    assert!(
        status
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("is not signed in")),
        "{status:?}"
    );

    // Device sign-in over IPC, as the Pull Manager does it.
    let (session, prompt) = worker
        .start_sign_in(&name, SignInMethod::Device)
        .expect("start sign-in");
    match &prompt {
        SignInPrompt::Device {
            user_code,
            verification_uri,
            ..
        } => {
            assert_eq!(user_code, "WDJB-MJHT");
            assert!(verification_uri.starts_with("http://127.0.0.1/"));
        }
        other => panic!("unexpected prompt {other:?}"),
    }
    let state = worker.finish_sign_in(&session);
    assert!(matches!(state, SignInState::Done { .. }), "{state:?}");

    // The finished sign-in wakes the poll: mail flows with the access token it brought.
    fill(&rig, &rig.pop.username, 0, 2);
    worker.poll_now(&name);
    let status = worker.wait_until(&name, "2 delivered", |s| s.messages >= 2);
    rig.local
        .wait_for_messages("alice", 2, WAIT)
        .unwrap_or_else(|e| panic!("{e:#}\n{}\n{}", rig.local.maillog(), worker.stderr()));
    assert!(!status.needs_sign_in, "{status:?}");
    assert_eq!(rig.oauth.counters().refresh_grants, 0);

    // After 4.5 s the token is refreshed before use: no token is ever refused.
    std::thread::sleep(Duration::from_millis(5_000));
    fill(&rig, &rig.pop.username, 10, 1);
    worker.poll_now(&name);
    worker.wait_until(&name, "3 delivered", |s| s.messages >= 3);
    rig.local
        .wait_for_messages("alice", 3, WAIT)
        .unwrap_or_else(|e| panic!("{e:#}\n{}", worker.stderr()));
    let counters = rig.oauth.counters();
    assert_eq!(counters.refresh_grants, 1, "{counters:?}");
    assert_eq!(counters.introspections_inactive, 0, "{counters:?}");

    // The server stops accepting the cached token early: one refusal, a refresh, a login.
    rig.oauth.set_access_lifetime(Duration::from_secs(3600));
    rig.oauth.expire_access_tokens();
    fill(&rig, &rig.pop.username, 20, 1);
    worker.poll_now(&name);
    let status = worker.wait_until(&name, "4 delivered", |s| s.messages >= 4);
    assert_eq!(status.last_error, None, "{status:?}\n{}", worker.stderr());
    rig.local
        .wait_for_messages("alice", 4, WAIT)
        .unwrap_or_else(|e| panic!("{e:#}\n{}", worker.stderr()));
    let counters = rig.oauth.counters();
    assert_eq!(counters.refresh_grants, 2, "{counters:?}");
    assert!(counters.introspections_inactive >= 1, "{counters:?}");

    // Revoked: "sign in again" and needs_sign_in, in the status and on the command line.
    rig.oauth.revoke(&format!("client-pop-{}", "b"));
    rig.oauth.expire_access_tokens();
    worker.poll_now(&name);
    let status = worker.wait_until(&name, "revocation seen", |s| s.needs_sign_in);
    let error = status.last_error.unwrap_or_default();
    assert!(
        error.contains("revoked or has expired") && error.contains("sign in again"),
        "{error}"
    );
    let out = Command::new(worker_binary().expect("worker"))
        .args(["status", "--config"])
        .arg(&worker.setup.config)
        .output()
        .expect("status");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with(&name) && l.contains("sign-in")),
        "{table}"
    );

    // Signing in again (browser, over the pipe) recovers.
    let (session, prompt) = worker
        .start_sign_in(&name, SignInMethod::Browser)
        .expect("start browser sign-in");
    let SignInPrompt::Browser { authorization_url } = prompt else {
        panic!("unexpected prompt {prompt:?}")
    };
    let page = browse(&authorization_url);
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    let state = worker.finish_sign_in(&session);
    assert!(
        matches!(state, SignInState::Done { .. }),
        "browser sign-in failed: {state:?}"
    );
    fill(&rig, &rig.pop.username, 30, 1);
    worker.poll_now(&name);
    let status = worker.wait_until(&name, "5 delivered", |s| s.messages >= 5);
    assert!(!status.needs_sign_in, "{status:?}");
    assert_eq!(status.last_error, None, "{status:?}");

    let logs = worker.stderr();
    assert!(!logs.contains("tok_"), "a token leaked:\n{logs}");
}

#[test]
fn a_client_secret_set_over_the_pipe_reaches_the_token_endpoint_and_never_comes_back() {
    require_keyring("oauth client secret e2e");
    let rig = rig("d");
    const SECRET: &str = "GOCSPX-confidential-d-7f3a";
    rig.oauth.require_client_secret("client-pop-d", SECRET);
    let mut pop = rig.pop.clone();
    pop.interval = "1h";
    if let Some((_, table)) = &mut pop.oauth2 {
        table.push_str("\nclient_secret = { keyring = true }");
    }
    let name = pop.name.clone();
    let worker = Running::start(WorkerSetup::new(&[pop]).expect("setup"));
    let set = |secret: &str| {
        worker.rt().block_on(async {
            let mut client = IpcClient::connect(&worker.endpoint).await?;
            client.set_client_secret(&name, secret).await
        })
    };

    // No secret stored yet: the sign-in is refused, naming the missing keyring entry.
    let message = worker
        .device_sign_in(&name)
        .expect_err("a sign-in without the client secret");
    assert!(
        message.contains("no OAuth client secret stored")
            && message.contains(&secrets::client_secret_account(&name)),
        "{message}"
    );

    // A wrong secret reaches the token endpoint, which refuses it.
    set("not-the-secret").expect("set a wrong secret");
    let state = worker.device_sign_in(&name).expect("sign-in started");
    assert!(matches!(state, SignInState::Failed { .. }), "{state:?}");
    assert!(rig.oauth.counters().client_secret_refused >= 1);

    // The right one: stored in the worker's keyring, never repeated, and the sign-in and the
    // poll that follows work with it.
    let reply = set(SECRET).expect("set the secret");
    assert!(
        reply.contains("client secret") && !reply.contains(SECRET),
        "{reply}"
    );
    assert_eq!(
        secrets::read_keyring(&name, &secrets::client_secret_account(&name))
            .expect("read keyring")
            .map(|s| s.expose().to_string())
            .as_deref(),
        Some(SECRET)
    );
    let state = worker.device_sign_in(&name).expect("sign-in started");
    assert!(matches!(state, SignInState::Done { .. }), "{state:?}");
    fill(&rig, &rig.pop.username, 0, 1);
    worker.poll_now(&name);
    worker.wait_until(&name, "1 delivered", |s| s.messages >= 1);
    rig.local
        .wait_for_messages("alice", 1, WAIT)
        .unwrap_or_else(|e| panic!("{e:#}\n{}", worker.stderr()));

    // An empty secret is refused by name.
    let err = set("").expect_err("an empty secret");
    assert!(
        err.to_string().contains("the client secret is empty"),
        "{err}"
    );

    // Deleting the profile removes its client secret and refresh token from the keyring.
    worker
        .rt()
        .block_on(async {
            let mut client = IpcClient::connect(&worker.endpoint).await?;
            client.delete_profile(&name).await
        })
        .expect("delete profile");
    for account in [
        secrets::client_secret_account(&name),
        secrets::refresh_token_account(&name),
    ] {
        assert!(
            secrets::read_keyring(&name, &account)
                .expect("read keyring")
                .is_none(),
            "{account} left in the keyring"
        );
    }
    let logs = worker.stderr();
    assert!(
        !logs.contains(SECRET) && !logs.contains("not-the-secret"),
        "{logs}"
    );
}

#[test]
fn a_declined_or_expired_device_sign_in_says_so_and_stores_nothing() {
    let rig = rig("c");
    let setup = WorkerSetup::new(std::slice::from_ref(&rig.pop)).expect("setup");
    for (outcome, expected) in [
        (DeviceOutcome::Deny, "the sign-in was declined"),
        (
            DeviceOutcome::Expire,
            "the code expired before it was approved",
        ),
    ] {
        rig.oauth.set_device_outcome(outcome);
        let out = Command::new(worker_binary().expect("worker"))
            .args([
                "oauth",
                "sign-in",
                "--device",
                "--profile",
                &rig.pop.name,
                "--config",
            ])
            .arg(&setup.config)
            .output()
            .expect("run sign-in");
        assert!(!out.status.success(), "{}", output_text(&out));
        let text = output_text(&out);
        assert!(text.contains(expected), "{text}");
        assert!(!text.contains("tok_"), "{text}");
    }
    assert_eq!(rig.oauth.counters().device_grants, 0);
    // A browser sign-in needs an authorization endpoint; a device one a device endpoint.
    let mut no_device = rig.pop.clone();
    no_device.oauth2 = Some((
        "xoauth2",
        format!(
            "provider = \"custom\"\nclient_id = \"client-pop-c\"\nscopes = [\"mail\"]\nauthorization_url = \"{}\"\ntoken_url = \"{}\"",
            rig.oauth.url("authorize"),
            rig.oauth.url("token")
        ),
    ));
    let setup = WorkerSetup::new(&[no_device]).expect("setup");
    let out = Command::new(worker_binary().expect("worker"))
        .args([
            "oauth",
            "sign-in",
            "--device",
            "--profile",
            &rig.pop.name,
            "--config",
        ])
        .arg(&setup.config)
        .output()
        .expect("run sign-in");
    assert!(!out.status.success());
    assert!(
        output_text(&out).contains("no device authorization endpoint"),
        "{}",
        output_text(&out)
    );
}

#[test]
fn push_idle_logs_in_with_oauthbearer_and_delivers_at_once() {
    require_keyring("oauth push e2e");
    let rig = rig("d");
    let mut imap = rig.imap.clone();
    imap.push = true;
    imap.interval = "1h";
    let name = imap.name.clone();
    let setup = WorkerSetup::new(std::slice::from_ref(&imap)).expect("setup");
    let printed = device_sign_in(&setup, &name);
    assert!(printed.contains("Signed in"), "{printed}");
    let worker = Running::start(setup);
    let deadline = Instant::now() + WAIT;
    while !worker.stderr().contains("IDLE started") {
        assert!(
            Instant::now() < deadline,
            "IDLE never started\n{}",
            worker.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // No poll_now: the IDLE connection (logged in with OAUTHBEARER) announces the message.
    fill(&rig, &rig.imap.username, 0, 1);
    let delivered = rig
        .local
        .wait_for_messages("bob", 1, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e:#}\n{}", worker.stderr()));
    assert_eq!(delivered.len(), 1);
    let counters = rig.oauth.counters();
    // One refresh serves the poll and the IDLE connection (the token is cached).
    assert_eq!(counters.refresh_grants, 1, "{counters:?}");
    assert_eq!(counters.introspections_inactive, 0, "{counters:?}");
    let status = worker.status(&name);
    assert!(!status.needs_sign_in, "{status:?}");
}
