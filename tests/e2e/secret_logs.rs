//! No password or AUTH blob in any log at any level (issue #13 §2): a worker at
//! `log_level = "trace"` logs in to the real Dovecot with every mechanism it has — IMAP
//! `LOGIN`, `AUTHENTICATE PLAIN` and `AUTHENTICATE LOGIN`, POP3 `USER`/`PASS`, `AUTH PLAIN`
//! and `AUTH LOGIN` — and delivers into the real Postfix; neither its log files, nor its
//! standard error, nor the live log read over the pipe hold a password, its base64 form or
//! the base64 `\0user\0password` of AUTH PLAIN. (The local SMTP server has no AUTH in this
//! test bed: Mailpull sends no SMTP AUTH.) Before the fix async-imap's own trace logged
//! `LOGIN "user" "password"` and the base64 AUTHENTICATE lines.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use mailpull_shared::ipc::{Endpoint, Event, IpcClient};
use mailpull_tests::{
    LocalMailServer, ProfileSpec, RemoteDovecot, TestCa, WorkerSetup, sample_message, worker_binary,
};

/// (profile, protocol, auth)
const LOGINS: &[(&str, &str, &str)] = &[
    ("imap-login", "imap", "login"),
    ("imap-plain", "imap", "plain"),
    ("imap-sasl-login", "imap", "sasl-login"),
    ("pop3-user", "pop3", "user"),
    ("pop3-plain", "pop3", "plain"),
    ("pop3-sasl-login", "pop3", "sasl-login"),
];

/// Every form in which `password` of `user` could show up in a log.
fn forms(user: &str, password: &str) -> Vec<String> {
    vec![
        password.to_string(),
        STANDARD.encode(password),
        STANDARD.encode(format!("\0{user}\0{password}")),
        STANDARD.encode(format!("{user}\0{user}\0{password}")),
    ]
}

#[test]
fn no_password_or_auth_blob_in_any_log_at_trace() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(tmp.path()).expect("ca");
    let remote = RemoteDovecot::start(&ca).expect("remote");
    let local = LocalMailServer::start(&["alice"]).expect("local");
    let mut specs = Vec::new();
    let mut secrets = Vec::new();
    for (i, (name, protocol, auth)) in LOGINS.iter().enumerate() {
        let user = format!("user-{name}");
        let password = format!("Pw{i}-{name}-Zq7x");
        remote.add_user(&user, &password).expect("user");
        remote
            .add_message(&user, &sample_message(100 + i, 1_200, "x@isp.example"))
            .expect("add");
        let file = WorkerSetup::password_file(tmp.path(), &user, &password).expect("pw");
        let port = if *protocol == "imap" {
            remote.imaps_port()
        } else {
            remote.pop3s_port()
        };
        let mut spec = ProfileSpec::new(name, port, &user, &file, local.smtp_port(), "alice");
        spec.protocol = protocol;
        spec.ca_file = Some(ca.ca_file().to_path_buf());
        spec.remote_extra = format!("auth = {auth:?}");
        specs.push(spec);
        secrets.extend(forms(&user, &password));
    }
    let setup = WorkerSetup::new(&specs).expect("setup");
    let text = std::fs::read_to_string(&setup.config).expect("config");
    std::fs::write(
        &setup.config,
        text.replacen("[worker]\n", "[worker]\nlog_level = \"trace\"\n", 1),
    )
    .expect("config");

    let stderr_path = setup.dir.path().join("worker.stderr");
    let mut child = Command::new(worker_binary().expect("bin"))
        .args(["run", "--config"])
        .arg(&setup.config)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).expect("stderr"))
        .spawn()
        .expect("spawn");
    let endpoint = Endpoint::for_config(&setup.config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let live = runtime.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = loop {
            match IpcClient::connect(&endpoint).await {
                Ok(client) => break client,
                Err(err) => {
                    assert!(Instant::now() < deadline, "worker never listened: {err}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        let mut stream = client.subscribe_log().await.expect("subscribe");
        let collector = tokio::spawn(async move {
            let mut lines = Vec::new();
            while let Ok(Ok(Some(event))) =
                tokio::time::timeout(Duration::from_secs(3), stream.next()).await
            {
                if let Event::Log { line } = event {
                    lines.push(line);
                }
            }
            lines
        });
        // Every profile logs in again with the live log listening.
        let mut control = IpcClient::connect(&endpoint).await.expect("connect");
        for (name, _, _) in LOGINS {
            control.poll_now(name).await.expect("poll-now");
        }
        collector.await.expect("collector")
    });
    local
        .wait_for_messages("alice", LOGINS.len(), Duration::from_secs(30))
        .expect("every profile delivered");
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();

    let mut files = vec![(
        "stderr".to_string(),
        std::fs::read_to_string(&stderr_path).unwrap_or_default(),
    )];
    for entry in std::fs::read_dir(setup.state_dir().join("logs"))
        .expect("logs")
        .flatten()
    {
        files.push((
            entry.path().display().to_string(),
            std::fs::read_to_string(entry.path()).unwrap_or_default(),
        ));
    }
    files.push(("live log".to_string(), live.join("\n")));
    let all: String = files.iter().map(|(_, text)| text.as_str()).collect();
    // The logs are at trace: the worker's own debug lines of every login are there.
    assert!(
        all.contains("TRACE") || all.contains("DEBUG"),
        "not verbose:\n{all}"
    );
    assert!(all.contains("POP3 login"), "no POP3 login logged:\n{all}");
    assert!(!live.is_empty(), "the live log carried nothing");
    for (name, text) in &files {
        for secret in &secrets {
            if let Some(at) = text.find(secret.as_str()) {
                let line = text[..at].rsplit('\n').next().unwrap_or_default();
                panic!("{secret:?} in {name}: {line}{secret}…");
            }
        }
    }
}
