//! Alert mail (`[worker] alerts`) on the real Dovecot → Postfix bed: a profile that keeps
//! failing gets exactly one alert mail once it has failed for `after`, also across restarts
//! of the worker (each `run --once` is a new process), and exactly one recovery mail when it
//! works again; a message that becomes held gets an alert at once and a recovery once it is
//! delivered; an OAuth profile whose sign-in the provider revoked (and then whose refresh
//! token is gone from the keyring) gets one "needs a sign-in" mail saying how to sign in, no
//! more however often it is polled, and one recovery mail once it is signed in again. The
//! mails go through the profile's own local server (Postfix) to postmaster@local.test, and
//! never carry the password or a token.

use std::time::Duration;

use mailpull_shared::ipc::{Endpoint, IpcClient, ProfileStatus, SignInMethod, SignInState};
use mailpull_shared::secrets;
use mailpull_tests::{
    FakeOAuthServer, LocalMailServer, ProfileSpec, RemoteDovecot, RemoteOptions, TestCa,
    WorkerSetup, output_text, require_keyring, stop_worker, worker_binary,
};

const WAIT: Duration = Duration::from_secs(30);
const WRONG: &str = "Wr0ng-Secret-7431";
const RIGHT: &str = "Right-Secret-9902";

fn message(id: &str, to: &str) -> Vec<u8> {
    format!(
        "Return-Path: <sender@example.org>\r\nFrom: Sender <sender@example.org>\r\nTo: {to}\r\n\
         Subject: alert test {id}\r\nDate: Sat, 22 Nov 2025 10:00:00 +0000\r\n\
         Message-ID: <{id}@example.org>\r\n\r\nBody of {id}.\r\n"
    )
    .into_bytes()
}

/// The alert mails postmaster has, as text.
fn alerts(local: &LocalMailServer) -> Vec<String> {
    local
        .messages("postmaster")
        .expect("postmaster's mail")
        .into_iter()
        .map(|raw| String::from_utf8_lossy(&raw).into_owned())
        .collect()
}

/// Waits until postmaster has `n` mails, then a little longer to see that no more come.
fn exactly(local: &LocalMailServer, n: usize, context: &str) -> Vec<String> {
    local
        .wait_for_messages("postmaster", n, WAIT)
        .unwrap_or_else(|err| panic!("{err:#}\n{context}"));
    std::thread::sleep(Duration::from_secs(2));
    let got = alerts(local);
    assert_eq!(got.len(), n, "{got:#?}\n{context}");
    got
}

struct Bed {
    _tmp: tempfile::TempDir,
    remote: RemoteDovecot,
    local: LocalMailServer,
    setup: WorkerSetup,
    password: std::path::PathBuf,
}

/// Alerts to postmaster@local.test after 2 s of failing, and `worker_extra`, in `[worker]`.
fn with_alerts(setup: &WorkerSetup, worker_extra: &str) {
    let text = std::fs::read_to_string(&setup.config).expect("config");
    std::fs::write(
        &setup.config,
        text.replacen(
            "[worker]\n",
            &format!(
                "[worker]\nalerts = {{ to = \"postmaster@local.test\", after = \"2s\" }}\n{worker_extra}\n"
            ),
            1,
        ),
    )
    .expect("write config");
}

fn bed(local_user: &str, password: &str, worker_extra: &str) -> Bed {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(tmp.path()).expect("ca");
    let remote = RemoteDovecot::start(&ca).expect("remote");
    remote.add_user("isp", RIGHT).expect("user");
    let local = LocalMailServer::start(&["alice", "bob", "postmaster"]).expect("local");
    let password = WorkerSetup::password_file(tmp.path(), "isp", password).expect("pw");
    let mut profile = ProfileSpec::new(
        "isp",
        remote.pop3s_port(),
        "isp",
        &password,
        local.smtp_port(),
        local_user,
    );
    profile.ca_file = Some(ca.ca_file().to_path_buf());
    let setup = WorkerSetup::new(&[profile]).expect("setup");
    with_alerts(&setup, worker_extra);
    Bed {
        _tmp: tmp,
        remote,
        local,
        setup,
        password,
    }
}

#[test]
fn a_failing_profile_gets_one_alert_and_one_recovery_across_restarts() {
    let bed = bed("alice", WRONG, "");
    // First failure: remembered, not mailed (it has not lasted 2 s yet).
    let first = bed.setup.run_once().expect("run");
    std::thread::sleep(Duration::from_secs(3));
    assert!(alerts(&bed.local).is_empty(), "{}", output_text(&first));

    // Still failing after 2 s, in a new process: one alert.
    let second = bed.setup.run_once().expect("run");
    let got = exactly(&bed.local, 1, &output_text(&second));
    let alert = &got[0];
    assert!(
        alert.contains("Subject: Mailpull: profile \"isp\" is failing"),
        "{alert}"
    );
    assert!(alert.contains("Auto-Submitted: auto-generated"), "{alert}");
    assert!(alert.contains("Last error:"), "{alert}");
    assert!(alert.contains("isp@localhost (POP3)"), "{alert}");
    assert!(alert.contains("What to do:"), "{alert}");
    assert!(
        !alert.contains(WRONG),
        "the alert carries the password:\n{alert}"
    );

    // Failing on, restarted twice: no second alert.
    for _ in 0..2 {
        let again = bed.setup.run_once().expect("run");
        assert!(
            !output_text(&again).contains("alert sent"),
            "{}",
            output_text(&again)
        );
    }
    exactly(&bed.local, 1, "a second alert while still failing");

    // The password fixed: the mail is delivered and one recovery mail goes out.
    std::fs::write(&bed.password, format!("{RIGHT}\n")).expect("fix password");
    bed.remote
        .add_message("isp", &message("r1", "alice@local.test"))
        .expect("add");
    let fixed = bed.setup.run_once().expect("run");
    assert!(fixed.status.success(), "{}", output_text(&fixed));
    let got = exactly(&bed.local, 2, &output_text(&fixed));
    let recovery = got
        .iter()
        .find(|mail| mail.contains("Subject: Mailpull: profile \"isp\" works again"))
        .unwrap_or_else(|| panic!("no recovery mail: {got:#?}"));
    assert!(recovery.contains("that is over as of"), "{recovery}");
    assert!(!recovery.contains(WRONG) && !recovery.contains(RIGHT));
    bed.local
        .wait_for_messages("alice", 1, WAIT)
        .expect("the mail itself");
    // Working on: nothing more.
    let calm = bed.setup.run_once().expect("run");
    assert!(calm.status.success(), "{}", output_text(&calm));
    exactly(&bed.local, 2, &output_text(&calm));
}

#[test]
fn a_held_message_gets_an_alert_and_its_delivery_a_recovery() {
    let bed = bed("bob", RIGHT, "hold_after_attempts = 1");
    bed.local
        .set_reject("bob@local.test", Some("451 4.3.0 bob is busy"))
        .expect("reject");
    bed.remote
        .add_message("isp", &message("h1", "bob@local.test"))
        .expect("add");
    let first = bed.setup.run_once().expect("run");
    let got = exactly(&bed.local, 1, &output_text(&first));
    let alert = &got[0];
    assert!(
        alert.contains("Subject: Mailpull: profile \"isp\" has held messages"),
        "{alert}"
    );
    assert!(alert.contains("1 message(s) held"), "{alert}");
    assert!(alert.contains("bob is busy"), "{alert}");
    assert!(
        alert.contains("mailpull-worker held --profile isp"),
        "{alert}"
    );

    // Held on, polled again: no second alert.
    let again = bed.setup.run_once().expect("run");
    exactly(&bed.local, 1, &output_text(&again));

    // Retried (the row forgotten, as the pipe's retry does) and delivered: one recovery.
    bed.local.set_reject("bob@local.test", None).expect("allow");
    let db = rusqlite::Connection::open(bed.setup.state_dir().join("state.sqlite3")).expect("db");
    assert_eq!(db.execute("DELETE FROM attempts", []).expect("retry"), 1);
    drop(db);
    let delivered = bed.setup.run_once().expect("run");
    bed.local
        .wait_for_messages("bob", 1, WAIT)
        .unwrap_or_else(|err| panic!("{err:#}\n{}", output_text(&delivered)));
    let got = exactly(&bed.local, 2, &output_text(&delivered));
    assert!(
        got.iter().any(|mail| mail
            .contains("Subject: Mailpull: profile \"isp\" has no held messages any more")),
        "{got:#?}"
    );
}

/// The profile's refresh token and client secret leave the keyring with the test.
struct SignedIn(String);

impl Drop for SignedIn {
    fn drop(&mut self) {
        let name = &self.0;
        let _ = secrets::delete_keyring(name, &secrets::refresh_token_account(name));
        let _ = secrets::delete_keyring(name, &secrets::client_secret_account(name));
    }
}

/// `mailpull-worker oauth sign-in --device` (the test server approves the code itself).
fn sign_in(setup: &WorkerSetup, profile: &str) {
    let out = std::process::Command::new(worker_binary().expect("worker"))
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
}

/// An OAuth profile (IMAPS, OAUTHBEARER) on Dovecot's `oauth2` passdb and the local OAuth
/// server, into alice, with alerts to postmaster.
struct OAuthBed {
    _tmp: tempfile::TempDir,
    oauth: FakeOAuthServer,
    remote: RemoteDovecot,
    local: LocalMailServer,
    setup: WorkerSetup,
    name: String,
    client: String,
    _keys: SignedIn,
}

fn oauth_bed(tag: &str) -> OAuthBed {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(tmp.path()).expect("ca");
    let oauth = FakeOAuthServer::start().expect("oauth server");
    let remote =
        RemoteDovecot::start_with(RemoteOptions::new(&ca).with_oauth2(&oauth.introspection_url()))
            .expect("remote");
    remote
        .add_user("owner", "a password nobody uses")
        .expect("user");
    let client = format!("client-alerts-{tag}");
    oauth.register_client(&client, "owner");
    let local = LocalMailServer::start(&["alice", "postmaster"]).expect("local");
    let name = format!("alert-oauth-{tag}-{}", std::process::id());
    let keys = SignedIn(name.clone());
    let mut profile = ProfileSpec::new(
        &name,
        remote.imaps_port(),
        "owner",
        &tmp.path().join("unused"),
        local.smtp_port(),
        "alice",
    );
    profile.protocol = "imap";
    profile.interval = "1h";
    profile.ca_file = Some(ca.ca_file().to_path_buf());
    profile.oauth2 = Some(("oauthbearer", oauth.custom_table(&client)));
    let setup = WorkerSetup::new(&[profile]).expect("setup");
    with_alerts(&setup, "");
    OAuthBed {
        _tmp: tmp,
        oauth,
        remote,
        local,
        setup,
        name,
        client,
        _keys: keys,
    }
}

#[test]
fn a_revoked_or_missing_sign_in_gets_one_alert_and_the_new_sign_in_one_recovery() {
    require_keyring("sign-in alert e2e");
    let bed = oauth_bed("a");
    let (oauth, remote, local, setup) = (&bed.oauth, &bed.remote, &bed.local, &bed.setup);
    let name = bed.name.as_str();

    // Signed in and working: mail flows, no alert.
    sign_in(setup, name);
    remote
        .add_message("owner", &message("s1", "alice@local.test"))
        .expect("add");
    let working = setup.run_once().expect("run");
    assert!(working.status.success(), "{}", output_text(&working));
    local.wait_for_messages("alice", 1, WAIT).expect("s1");

    // The provider revokes the sign-in: one alert at once, saying what to do.
    oauth.revoke(&bed.client);
    remote
        .add_message("owner", &message("s2", "alice@local.test"))
        .expect("add");
    let revoked = setup.run_once().expect("run");
    assert!(!revoked.status.success(), "{}", output_text(&revoked));
    let got = exactly(local, 1, &output_text(&revoked));
    let alert = &got[0];
    let subject = format!("Subject: Mailpull: profile \"{name}\" needs a sign-in");
    assert!(alert.contains(&subject), "{alert}");
    assert!(alert.contains("X-Mailpull-Alert: sign_in alert"), "{alert}");
    assert!(alert.contains("Mailbox: owner@localhost (IMAP)"), "{alert}");
    assert!(alert.contains("was revoked or has expired"), "{alert}");
    // The command as it can be pasted: with the worker's own configuration file.
    let config = std::fs::canonicalize(&setup.config).expect("config path");
    assert!(
        alert.contains(&format!(
            "mailpull-worker oauth sign-in --profile {name} --config {}",
            config.display()
        )),
        "{alert}"
    );
    assert!(alert.contains("Sign in with browser"), "{alert}");
    assert!(
        alert.contains("the mail stays on the remote server"),
        "{alert}"
    );
    assert!(!alert.contains("tok_"), "a token in the alert:\n{alert}");

    // Polled on for longer than `after` (2 s), in new processes, and then the refresh token
    // gone from the keyring too: still that one mail (no "failing" alert either).
    std::thread::sleep(Duration::from_secs(3));
    let again = setup.run_once().expect("run");
    assert!(!again.status.success(), "{}", output_text(&again));
    secrets::delete_keyring(name, &secrets::refresh_token_account(name)).expect("delete");
    let missing = setup.run_once().expect("run");
    assert!(
        output_text(&missing).contains("is not signed in"),
        "{}",
        output_text(&missing)
    );
    exactly(local, 1, &output_text(&missing));
    assert_eq!(remote.message_count("owner").expect("count"), 1);

    // Signed in again: the waiting mail comes and one recovery mail follows.
    sign_in(setup, name);
    let back = setup.run_once().expect("run");
    assert!(back.status.success(), "{}", output_text(&back));
    local
        .wait_for_messages("alice", 2, WAIT)
        .unwrap_or_else(|err| panic!("{err:#}\n{}", output_text(&back)));
    let got = exactly(local, 2, &output_text(&back));
    let recovery = got
        .iter()
        .find(|mail| mail.contains(&format!("profile \"{name}\" is signed in again")))
        .unwrap_or_else(|| panic!("no recovery mail: {got:#?}"));
    assert!(recovery.contains("that is over as of"), "{recovery}");
    assert!(
        recovery.contains("X-Mailpull-Alert: sign_in recovered"),
        "{recovery}"
    );
    assert!(!recovery.contains("tok_"), "{recovery}");

    // Working on: nothing more.
    let calm = setup.run_once().expect("run");
    assert!(calm.status.success(), "{}", output_text(&calm));
    exactly(local, 2, &output_text(&calm));
}

/// A tokio runtime for one pipe request.
fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// The profile's status over the pipe.
fn status(endpoint: &Endpoint, name: &str) -> ProfileStatus {
    rt().block_on(async {
        let mut client = IpcClient::connect(endpoint).await?;
        client.status().await
    })
    .expect("status")
    .into_iter()
    .find(|status| status.name == name)
    .expect("the profile in the status")
}

/// Waits until the profile's status satisfies `done`.
fn wait_status(endpoint: &Endpoint, name: &str, what: &str, done: impl Fn(&ProfileStatus) -> bool) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let now = status(endpoint, name);
        if done(&now) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: never; last status {now:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_running_worker_mails_once_for_a_revoked_sign_in_and_recovers_after_the_pipe_sign_in() {
    require_keyring("sign-in alert e2e (running worker)");
    let bed = oauth_bed("b");
    let name = bed.name.as_str();
    sign_in(&bed.setup, name);
    bed.remote
        .add_message("owner", &message("r1", "alice@local.test"))
        .expect("add");
    let mut worker = bed.setup.spawn_listening().expect("worker");
    let endpoint = Endpoint::for_config(&bed.setup.config);
    let stderr =
        || std::fs::read_to_string(bed.setup.dir.path().join("worker.stderr")).unwrap_or_default();
    let poll_now = || {
        rt().block_on(async {
            let mut client = IpcClient::connect(&endpoint).await?;
            client.poll_now(name).await
        })
        .expect("poll now")
    };
    bed.local
        .wait_for_messages("alice", 1, WAIT)
        .unwrap_or_else(|err| panic!("{err:#}\n{}", stderr()));

    // Revoked: the next poll mails once; three more polls in the same process mail nothing.
    bed.oauth.revoke(&bed.client);
    bed.remote
        .add_message("owner", &message("r2", "alice@local.test"))
        .expect("add");
    for polls in 1..=4 {
        poll_now();
        wait_status(&endpoint, name, "a failed poll", |s| {
            s.consecutive_failures >= polls && s.needs_sign_in
        });
    }
    let got = exactly(&bed.local, 1, &stderr());
    assert!(got[0].contains("needs a sign-in"), "{}", got[0]);

    // Signed in over the pipe, as the Pull Manager does: the profile is polled at once (no
    // poll_now), the waiting message arrives and one recovery mail follows.
    let (session, _prompt) = rt()
        .block_on(async {
            let mut client = IpcClient::connect(&endpoint).await?;
            client.start_sign_in(name, SignInMethod::Device).await
        })
        .expect("start sign-in");
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let state = rt()
            .block_on(async {
                let mut client = IpcClient::connect(&endpoint).await?;
                client.sign_in_result(&session).await
            })
            .expect("sign-in result");
        match state {
            SignInState::Pending => {}
            SignInState::Done { .. } => break,
            other => panic!("the sign-in failed: {other:?}\n{}", stderr()),
        }
        assert!(std::time::Instant::now() < deadline, "sign-in never ended");
        std::thread::sleep(Duration::from_millis(200));
    }
    bed.local
        .wait_for_messages("alice", 2, WAIT)
        .unwrap_or_else(|err| panic!("{err:#}\n{}", stderr()));
    let got = exactly(&bed.local, 2, &stderr());
    assert!(
        got.iter().any(|mail| mail.contains("is signed in again")),
        "{got:#?}"
    );
    // Polled on: nothing more.
    poll_now();
    wait_status(&endpoint, name, "a good poll", |s| {
        s.consecutive_failures == 0 && s.messages >= 2
    });
    exactly(&bed.local, 2, &stderr());
    stop_worker(&mut worker);
    assert!(
        !stderr().contains("tok_"),
        "a token in the log:\n{}",
        stderr()
    );
}
