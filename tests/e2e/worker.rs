//! The worker end to end: `mailpull-worker run --once` pulling from a real Dovecot (POP3,
//! POP3S, IMAP, IMAPS with a test CA) into a real Postfix that delivers by LMTP into a second
//! Dovecot. Every test checks the local mailboxes message by message.

use std::path::PathBuf;
use std::time::Duration;

use mailpull_tests::proxy::{Action, FaultProxy, Trigger};
use mailpull_tests::{
    LocalMailServer, ProfileSpec, RemoteDovecot, RemoteOptions, TestCa, WorkerSetup, added_headers,
    duplicate_ids, message_ids, output_text, sample_message,
};

const PASSWORD: &str = "remote-secret-1";
const WAIT: Duration = Duration::from_secs(30);

struct Rig {
    _tmp: tempfile::TempDir,
    ca: TestCa,
    remote: RemoteDovecot,
    local: LocalMailServer,
    password_file: PathBuf,
}

fn rig_with(options: impl FnOnce(&TestCa) -> anyhow::Result<RemoteOptions>) -> Rig {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(tmp.path()).expect("test CA");
    let remote = RemoteDovecot::start_with(options(&ca).expect("options")).expect("remote dovecot");
    remote.add_user("isp-user", PASSWORD).expect("add user");
    let local = LocalMailServer::start(&["alice", "bob"]).expect("local postfix");
    let password_file = WorkerSetup::password_file(tmp.path(), "isp-user", PASSWORD).expect("pw");
    Rig {
        _tmp: tmp,
        ca,
        remote,
        local,
        password_file,
    }
}

fn rig() -> Rig {
    rig_with(|ca| Ok(RemoteOptions::new(ca)))
}

impl Rig {
    fn fill(&self, count: usize) -> Vec<Vec<u8>> {
        (0..count)
            .map(|i| {
                // Mixed sizes: most small, every fourth around 60 KB.
                let size = if i % 4 == 3 { 60_000 } else { 3_000 };
                let raw = sample_message(i, size, "isp-user@isp.example");
                self.remote
                    .add_message("isp-user", &raw)
                    .expect("add message");
                raw
            })
            .collect()
    }

    fn profile(&self, protocol: &'static str, security: &'static str, port: u16) -> ProfileSpec {
        let mut spec = ProfileSpec::new(
            "isp",
            port,
            "isp-user",
            &self.password_file,
            self.local.smtp_port(),
            "alice",
        );
        spec.protocol = protocol;
        spec.security = security;
        spec.ca_file = Some(self.ca.ca_file().to_path_buf());
        spec
    }

    /// Waits until alice holds `n` messages, then makes sure no more arrive.
    fn expect_local(&self, n: usize) -> Vec<Vec<u8>> {
        let got = self
            .local
            .wait_for_messages("alice", n, WAIT)
            .unwrap_or_else(|err| panic!("{err:#}\n--- maillog\n{}", self.local.maillog()));
        std::thread::sleep(Duration::from_millis(500));
        let again = self.local.messages("alice").expect("messages");
        assert_eq!(again.len(), n, "more messages than expected arrived");
        got
    }
}

/// Every submitted message arrived exactly once, identical apart from the prepended headers,
/// which include exactly one Mailpull trace header.
fn assert_delivered_exactly(sent: &[Vec<u8>], delivered: &[Vec<u8>]) {
    assert_eq!(delivered.len(), sent.len());
    assert!(
        duplicate_ids(delivered).is_empty(),
        "duplicates: {:?}",
        duplicate_ids(delivered)
    );
    for original in sent {
        let id = &message_ids(std::slice::from_ref(original))[0];
        let copy = delivered
            .iter()
            .find(|d| message_ids(std::slice::from_ref(*d)).first() == Some(id))
            .unwrap_or_else(|| panic!("{id} missing locally"));
        let added = added_headers(original, copy)
            .unwrap_or_else(|| panic!("{id}: body or headers changed beyond prepended headers"));
        assert_eq!(
            added.matches("mailpull-id=").count(),
            1,
            "{id}: trace header:\n{added}"
        );
        let sender = format!(
            "Return-Path: <sender-{}@example.test>",
            id.trim_start_matches("<mailpull-test-")
                .split('@')
                .next()
                .unwrap_or_default()
        );
        assert!(
            added.contains(&sender),
            "{id}: envelope sender not taken from Return-Path:\n{added}"
        );
    }
}

#[test]
fn pop3s_delete_delivers_every_message_byte_identical() {
    let rig = rig();
    let sent = rig.fill(12);
    let setup =
        WorkerSetup::new(&[rig.profile("pop3", "tls", rig.remote.pop3s_port())]).expect("setup");
    let out = setup.run_once().expect("run");
    assert!(out.status.success(), "{}", output_text(&out));
    assert_delivered_exactly(&sent, &rig.expect_local(12));
    assert_eq!(
        rig.remote.message_count("isp-user").expect("count"),
        0,
        "remote emptied"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("isp") && stdout.contains(" 12 "),
        "summary: {stdout}"
    );
    // The log names profile, UID, size, recipient and SMTP reply; never the password.
    let log = std::fs::read_dir(setup.state_dir().join("logs"))
        .expect("log dir")
        .map(|e| std::fs::read_to_string(e.expect("entry").path()).expect("read log"))
        .collect::<String>();
    assert!(
        log.contains("delivered")
            && log.contains("recipient=alice@local.test")
            && log.contains("reply=250"),
        "{log}"
    );
    assert!(!log.contains(PASSWORD) && !String::from_utf8_lossy(&out.stderr).contains(PASSWORD));
    // A second poll finds nothing and delivers nothing.
    let out = setup.run_once().expect("run");
    assert!(out.status.success(), "{}", output_text(&out));
    rig.expect_local(12);
}

#[test]
fn imaps_keep_leaves_messages_and_never_fetches_twice() {
    let rig = rig();
    let sent = rig.fill(8);
    let mut spec = rig.profile("imap", "tls", rig.remote.imaps_port());
    spec.after_delivery = "keep";
    let setup = WorkerSetup::new(&[spec]).expect("setup");
    for _ in 0..2 {
        let out = setup.run_once().expect("run");
        assert!(out.status.success(), "{}", output_text(&out));
    }
    assert_delivered_exactly(&sent, &rig.expect_local(8));
    assert_eq!(
        rig.remote.message_count("isp-user").expect("count"),
        8,
        "kept on the server"
    );
    // A new message is the only one fetched on the next poll.
    let extra = sample_message(100, 2_000, "isp-user@isp.example");
    rig.remote.add_message("isp-user", &extra).expect("add");
    let out = setup.run_once().expect("run");
    assert!(out.status.success(), "{}", output_text(&out));
    let mut all = sent.clone();
    all.push(extra);
    assert_delivered_exactly(&all, &rig.expect_local(9));
}

#[test]
fn imap_starttls_delete_expunges_every_folder() {
    let rig = rig();
    let sent = rig.fill(5);
    let archived = sample_message(50, 2_000, "isp-user@isp.example");
    rig.remote
        .add_message_to("isp-user", "Archive", &archived)
        .expect("add to Archive");
    let mut spec = rig.profile("imap", "starttls", rig.remote.imap_port());
    spec.folders = vec!["INBOX".into(), "Archive".into()];
    let setup = WorkerSetup::new(&[spec]).expect("setup");
    let out = setup.run_once().expect("run");
    assert!(out.status.success(), "{}", output_text(&out));
    let mut all = sent.clone();
    all.push(archived);
    assert_delivered_exactly(&all, &rig.expect_local(6));
    assert_eq!(rig.remote.message_count("isp-user").expect("count"), 0);
    assert_eq!(
        rig.remote
            .message_count_in("isp-user", "Archive")
            .expect("count"),
        0
    );
}

#[test]
fn pop3_stls_keep_never_fetches_twice() {
    let rig = rig();
    let sent = rig.fill(6);
    let mut spec = rig.profile("pop3", "starttls", rig.remote.pop3_port());
    spec.after_delivery = "keep";
    let setup = WorkerSetup::new(&[spec]).expect("setup");
    for _ in 0..3 {
        let out = setup.run_once().expect("run");
        assert!(out.status.success(), "{}", output_text(&out));
    }
    assert_delivered_exactly(&sent, &rig.expect_local(6));
    assert_eq!(rig.remote.message_count("isp-user").expect("count"), 6);
}

#[test]
fn smtp_451_keeps_messages_until_the_local_server_accepts() {
    let rig = rig();
    let sent = rig.fill(4);
    let setup =
        WorkerSetup::new(&[rig.profile("pop3", "tls", rig.remote.pop3s_port())]).expect("setup");
    rig.local
        .set_reject("alice@local.test", Some("451 4.3.0 try again later"))
        .expect("reject");
    for _ in 0..2 {
        let out = setup.run_once().expect("run");
        assert!(
            !out.status.success(),
            "a deferred delivery fails the poll:\n{}",
            output_text(&out)
        );
        let text = output_text(&out);
        assert!(text.contains("451") && text.contains("deferred"), "{text}");
        assert_eq!(
            rig.remote.message_count("isp-user").expect("count"),
            4,
            "nothing deleted"
        );
    }
    assert!(rig.local.messages("alice").expect("messages").is_empty());
    rig.local
        .set_reject("alice@local.test", None)
        .expect("accept again");
    let out = setup.run_once().expect("run");
    assert!(out.status.success(), "{}", output_text(&out));
    assert_delivered_exactly(&sent, &rig.expect_local(4));
    assert_eq!(rig.remote.message_count("isp-user").expect("count"), 0);
}

#[test]
fn smtp_550_keeps_the_message_and_reports_it() {
    let rig = rig();
    rig.fill(2);
    let setup =
        WorkerSetup::new(&[rig.profile("pop3", "tls", rig.remote.pop3s_port())]).expect("setup");
    rig.local
        .set_reject("alice@local.test", Some("550 5.1.1 mailbox unavailable"))
        .expect("reject");
    let out = setup.run_once().expect("run");
    let text = output_text(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("DELIVERY REFUSED") && text.contains("550"),
        "{text}"
    );
    assert!(text.contains("2 message(s) left on the server"), "{text}");
    assert_eq!(
        rig.remote.message_count("isp-user").expect("count"),
        2,
        "never deleted, never bounced"
    );
}

fn proxied_plain_pop3(rig: &Rig, proxy: &FaultProxy) -> WorkerSetup {
    let mut spec = rig.profile("pop3", "plain", proxy.port());
    spec.ca_file = None;
    WorkerSetup::new(&[spec]).expect("setup")
}

#[test]
fn connection_cut_in_the_middle_of_retr_loses_and_doubles_nothing() {
    let rig = rig();
    let sent = rig.fill(10);
    let proxy = FaultProxy::start(([127, 0, 0, 1], rig.remote.pop3_port()).into()).expect("proxy");
    let setup = proxied_plain_pop3(&rig, &proxy);
    proxy.arm(
        Trigger::line("RETR", 4),
        Action::CutMidReply { after_bytes: 700 },
    );
    let out = setup.run_once().expect("run");
    assert!(!out.status.success(), "{}", output_text(&out));
    assert_eq!(proxy.fired(), 1);
    assert!(
        output_text(&out).contains("RETR"),
        "the error names the command:\n{}",
        output_text(&out)
    );
    // No QUIT went through: the server rolled back the three DELEs.
    assert_eq!(rig.remote.message_count("isp-user").expect("count"), 10);
    rig.expect_local(3);
    let out = setup.run_once().expect("run");
    assert!(out.status.success(), "{}", output_text(&out));
    assert_delivered_exactly(&sent, &rig.expect_local(10));
    assert_eq!(rig.remote.message_count("isp-user").expect("count"), 0);
}

#[test]
fn connection_cut_between_dele_and_quit_causes_no_duplicate() {
    let rig = rig();
    let sent = rig.fill(6);
    let proxy = FaultProxy::start(([127, 0, 0, 1], rig.remote.pop3_port()).into()).expect("proxy");
    let setup = proxied_plain_pop3(&rig, &proxy);
    proxy.arm(Trigger::line("QUIT", 1), Action::CutBeforeForwarding);
    let out = setup.run_once().expect("run");
    assert!(!out.status.success(), "{}", output_text(&out));
    assert_eq!(
        rig.remote.message_count("isp-user").expect("count"),
        6,
        "DELEs rolled back"
    );
    rig.expect_local(6);
    // The next poll finds every UID recorded: deletes them, delivers nothing.
    let out = setup.run_once().expect("run");
    assert!(out.status.success(), "{}", output_text(&out));
    assert_delivered_exactly(&sent, &rig.expect_local(6));
    assert_eq!(rig.remote.message_count("isp-user").expect("count"), 0);
}

#[test]
fn sigkill_in_the_middle_of_a_500_message_batch_loses_nothing() {
    let rig = rig();
    let total = 500;
    let sent: Vec<Vec<u8>> = (0..total)
        .map(|i| {
            let raw = sample_message(i, 2_000, "isp-user@isp.example");
            rig.remote.add_message("isp-user", &raw).expect("add");
            raw
        })
        .collect();
    let setup =
        WorkerSetup::new(&[rig.profile("pop3", "tls", rig.remote.pop3s_port())]).expect("setup");
    let mut child = setup.spawn(true).expect("spawn");
    // Kill once some, but not all, messages have reached the local server.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let n = rig.local.messages("alice").expect("messages").len();
        if n >= 100 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "worker delivered only {n} messages"
        );
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "worker ended before the kill"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("wait");
    let out = setup.run_once().expect("run");
    assert!(out.status.success(), "{}", output_text(&out));
    std::thread::sleep(Duration::from_secs(1));
    let delivered = rig
        .local
        .wait_for_messages("alice", total, WAIT)
        .expect("every message arrives");
    let ids = message_ids(&delivered);
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    let missing = message_ids(&sent)
        .iter()
        .filter(|id| !unique.contains(id))
        .count();
    let duplicated = ids.len() - unique.len();
    eprintln!(
        "sigkill batch: {total} sent, {} delivered, {missing} missing, {duplicated} duplicated",
        ids.len()
    );
    assert_eq!(missing, 0, "lost messages");
    // Only a kill that falls between the SMTP 250 and the commit can duplicate, and only one.
    assert!(duplicated <= 1, "{duplicated} duplicates");
    assert_eq!(rig.remote.message_count("isp-user").expect("count"), 0);
}

#[test]
fn an_untrusted_certificate_is_refused_with_the_reason() {
    let rig = rig_with(|ca| Ok(RemoteOptions::new(ca).with_cert(ca.untrusted()?)));
    rig.fill(2);
    for (protocol, port) in [
        ("pop3", rig.remote.pop3s_port()),
        ("imap", rig.remote.imaps_port()),
    ] {
        let setup = WorkerSetup::new(&[rig.profile(protocol, "tls", port)]).expect("setup");
        let out = setup.run_once().expect("run");
        let text = output_text(&out);
        assert!(!out.status.success(), "{text}");
        assert!(
            text.contains("not signed by a trusted authority")
                && text.contains("TLS handshake with localhost"),
            "{text}"
        );
    }
    assert_eq!(rig.remote.message_count("isp-user").expect("count"), 2);
}

#[test]
fn a_certificate_for_another_host_is_refused() {
    let rig = rig_with(|ca| Ok(RemoteOptions::new(ca).with_cert(ca.wrong_host()?)));
    rig.fill(1);
    let setup =
        WorkerSetup::new(&[rig.profile("pop3", "tls", rig.remote.pop3s_port())]).expect("setup");
    let out = setup.run_once().expect("run");
    assert!(
        output_text(&out).contains("certificate is for another host name"),
        "{}",
        output_text(&out)
    );
}

#[test]
fn starttls_not_offered_fails_closed() {
    let rig = rig_with(|ca| Ok(RemoteOptions::new(ca).without_starttls()));
    rig.fill(2);
    for (protocol, port, command) in [
        ("pop3", rig.remote.pop3_port(), "STLS"),
        ("imap", rig.remote.imap_port(), "STARTTLS"),
    ] {
        let setup = WorkerSetup::new(&[rig.profile(protocol, "starttls", port)]).expect("setup");
        let out = setup.run_once().expect("run");
        let text = output_text(&out);
        assert!(!out.status.success(), "{text}");
        assert!(
            text.contains(&format!("does not offer {command}")),
            "{text}"
        );
    }
    assert_eq!(rig.remote.message_count("isp-user").expect("count"), 2);
    assert!(rig.local.messages("alice").expect("messages").is_empty());
}

#[test]
fn check_accepts_the_sample_and_names_errors() {
    let bin = mailpull_tests::worker_binary().expect("worker binary");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = std::process::Command::new(&bin)
        .args(["check", "--config"])
        .arg(root.join("assets/mailpull.sample.toml"))
        .output()
        .expect("check");
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("OK, 2 profile(s)"));
    let broken = root.join("shared/tests/config/broken/03-bad-port.toml");
    let out = std::process::Command::new(&bin)
        .args(["check", "--config"])
        .arg(&broken)
        .output()
        .expect("check");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("profile \"p1\": remote.port: 70000 is not a port"),
        "{}",
        output_text(&out)
    );
}

/// `check … | head -1`: the reader of standard output is gone before the command writes.
/// The command ends quietly (exit 0, nothing on stderr) instead of panicking on the broken
/// pipe, as std's `println!` does.
#[test]
fn a_command_whose_output_reader_is_gone_ends_quietly() {
    let bin = mailpull_tests::worker_binary().expect("worker binary");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for args in [&["--help"][..], &["check", "--config"][..]] {
        let mut command = std::process::Command::new(&bin);
        command.args(args);
        if args.len() > 1 {
            command.arg(root.join("assets/mailpull.sample.toml"));
        }
        let mut child = command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(
            out.status.success() || args[0] == "--help",
            "{args:?}: {:?} {stderr}",
            out.status
        );
    }
}

#[test]
fn scheduled_run_polls_again_on_its_timer_and_stops_cleanly_on_sigterm() {
    let rig = rig();
    let mut sent = rig.fill(3);
    let mut spec = rig.profile("pop3", "tls", rig.remote.pop3s_port());
    spec.interval = "10s";
    let setup = WorkerSetup::new(&[spec]).expect("setup");
    let mut child = setup.spawn(false).expect("spawn");
    rig.expect_local(3);
    // New mail is picked up by the next timed poll, without a restart.
    for i in 10..12 {
        let raw = sample_message(i, 2_000, "isp-user@isp.example");
        rig.remote.add_message("isp-user", &raw).expect("add");
        sent.push(raw);
    }
    let delivered = rig
        .local
        .wait_for_messages("alice", 5, WAIT)
        .expect("second poll");
    assert_delivered_exactly(&sent, &delivered);
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = child.wait().expect("wait");
    assert!(exit.success(), "clean exit on SIGTERM: {exit}");
    let stderr = std::fs::read_to_string(setup.dir.path().join("worker.stderr")).expect("stderr");
    assert!(
        stderr.contains("worker started") && stderr.contains("worker stopped"),
        "{stderr}"
    );
    assert!(stderr.matches("poll done").count() >= 2, "{stderr}");
}

/// `password = { keyring = true }` with a real backend (the kernel keyring through keyutils;
/// scripts/test.sh runs the tests inside `keyctl session`).
#[test]
fn a_password_from_the_os_keyring_logs_in() {
    use mailpull_shared::secrets::{self, PasswordSource, Secret};
    let profile = format!("keyring-e2e-{}", std::process::id());
    let stored = secrets::store_in_keyring(&profile, &Secret::new(PASSWORD))
        .and_then(|()| PasswordSource::Keyring.read(&profile));
    let secret = stored.unwrap_or_else(|err| {
        panic!(
            "this test needs the OS keyring, which does not work here: {err}; {}",
            mailpull_tests::keyring::HOW_TO_RUN
        )
    });
    assert_eq!(secret.expose(), PASSWORD);
    let rig = rig();
    let sent = rig.fill(2);
    let mut spec = rig.profile("pop3", "tls", rig.remote.pop3s_port());
    spec.name = profile.clone();
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
    .expect("rewrite");
    let out = setup.run_once().expect("run");
    assert!(out.status.success(), "{}", output_text(&out));
    assert_delivered_exactly(&sent, &rig.expect_local(2));
    secrets::delete_from_keyring(&profile).expect("delete");
    assert!(matches!(
        PasswordSource::Keyring.read(&profile),
        Err(secrets::SecretError::KeyringMissing { .. })
    ));
}

/// A minimal POP3 server without UIDL (and without CAPA), holding `messages`; DELEs are
/// committed at QUIT unless `lose_quit` is set, in which case the connection is closed
/// without answering QUIT and the deletions are rolled back, as RFC 1939 says.
fn spawn_pop3_without_uidl(
    messages: Vec<Vec<u8>>,
    lose_quit: bool,
) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let store = std::sync::Arc::new(std::sync::Mutex::new(messages));
    let shared = store.clone();
    std::thread::spawn(move || {
        for (session, conn) in listener.incoming().enumerate() {
            let Ok(conn) = conn else { return };
            let mut reader = BufReader::new(conn.try_clone().expect("clone"));
            let mut out = conn;
            let mut deleted = std::collections::BTreeSet::new();
            let _ = out.write_all(b"+OK fake POP3 without UIDL\r\n");
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                let cmd = line.trim_end().to_string();
                line.clear();
                let mut words = cmd.split_whitespace();
                let verb = words.next().unwrap_or_default().to_ascii_uppercase();
                let arg: usize = words.next().and_then(|n| n.parse().ok()).unwrap_or(0);
                let msgs = shared.lock().expect("lock").clone();
                let reply = match verb.as_str() {
                    "CAPA" | "UIDL" => "-ERR not supported\r\n".to_string(),
                    "USER" | "PASS" | "NOOP" | "RSET" => "+OK\r\n".to_string(),
                    "STAT" => format!("+OK {} 0\r\n", msgs.len()),
                    "LIST" => {
                        let mut r = format!("+OK {} messages\r\n", msgs.len());
                        for (i, m) in msgs.iter().enumerate() {
                            r.push_str(&format!("{} {}\r\n", i + 1, m.len()));
                        }
                        r + ".\r\n"
                    }
                    "RETR" if (1..=msgs.len()).contains(&arg) => {
                        let mut r = String::from("+OK\r\n");
                        for l in String::from_utf8_lossy(&msgs[arg - 1]).split_inclusive("\r\n") {
                            if l.starts_with('.') {
                                r.push('.');
                            }
                            r.push_str(l);
                        }
                        r + ".\r\n"
                    }
                    "DELE" if (1..=msgs.len()).contains(&arg) => {
                        deleted.insert(arg - 1);
                        "+OK\r\n".to_string()
                    }
                    // The first session's QUIT is lost: no +OK, deletions rolled back.
                    "QUIT" if lose_quit && session == 0 => break,
                    "QUIT" => {
                        let mut all = shared.lock().expect("lock");
                        let kept: Vec<Vec<u8>> = all
                            .iter()
                            .enumerate()
                            .filter(|(i, _)| !deleted.contains(i))
                            .map(|(_, m)| m.clone())
                            .collect();
                        *all = kept;
                        let _ = out.write_all(b"+OK bye\r\n");
                        break;
                    }
                    _ => "-ERR unknown\r\n".to_string(),
                };
                let _ = out.write_all(reply.as_bytes());
            }
        }
    });
    (port, store)
}

#[test]
fn a_pop3_server_without_uidl_loses_and_doubles_nothing() {
    let rig = rig();
    let sent: Vec<Vec<u8>> = (0..5)
        .map(|i| sample_message(i, 2_500, "isp-user@isp.example"))
        .collect();
    let (port, store) = spawn_pop3_without_uidl(sent.clone(), true);
    let mut spec = rig.profile("pop3", "plain", port);
    spec.ca_file = None;
    let setup = WorkerSetup::new(&[spec]).expect("setup");
    // First session: everything delivered, but QUIT is lost, so the server keeps all five.
    let out = setup.run_once().expect("run");
    assert!(!out.status.success(), "{}", output_text(&out));
    rig.expect_local(5);
    assert_eq!(
        store.lock().expect("lock").len(),
        5,
        "deletions rolled back"
    );
    // Second session: the messages are recognised by their digest, deleted, not delivered again.
    let out = setup.run_once().expect("run");
    assert!(out.status.success(), "{}", output_text(&out));
    assert_delivered_exactly(&sent, &rig.expect_local(5));
    assert!(store.lock().expect("lock").is_empty(), "server emptied");
}

#[test]
fn delivery_to_a_local_server_over_starttls_verifies_its_certificate() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(tmp.path()).expect("ca");
    let remote = RemoteDovecot::start(&ca).expect("remote");
    remote.add_user("isp-user", PASSWORD).expect("user");
    let local = LocalMailServer::start_with(mailpull_tests::LocalOptions {
        users: vec!["alice".into()],
        tls: Some(ca.server_pair()),
        ..Default::default()
    })
    .expect("local with STARTTLS");
    let sent: Vec<Vec<u8>> = (0..3)
        .map(|i| {
            let raw = sample_message(i, 2_000, "isp-user@isp.example");
            remote.add_message("isp-user", &raw).expect("add");
            raw
        })
        .collect();
    let password = WorkerSetup::password_file(tmp.path(), "isp", PASSWORD).expect("pw");
    let spec = |local_ca: &std::path::Path| {
        let mut spec = ProfileSpec::new(
            "isp",
            remote.pop3s_port(),
            "isp-user",
            &password,
            local.smtp_port(),
            "alice",
        );
        spec.ca_file = Some(ca.ca_file().to_path_buf());
        spec.extra = format!(
            "smtp_security = \"starttls\"\nca_file = {:?}\n",
            local_ca.display().to_string()
        );
        spec
    };
    // The local server's certificate is checked too: trusting only another CA fails the poll.
    let other_dir = tmp.path().join("other");
    std::fs::create_dir(&other_dir).expect("dir");
    let other = TestCa::new(&other_dir).expect("other ca");
    let setup = WorkerSetup::new(&[spec(other.ca_file())]).expect("setup");
    let out = setup.run_once().expect("run");
    let text = output_text(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("delivery deferred: TLS set-up for local server")
            && text.contains("invalid peer certificate"),
        "{text}"
    );
    assert!(
        !text.contains("Connection error: Connection error"),
        "{text}"
    );
    assert_eq!(
        remote.message_count("isp-user").expect("count"),
        3,
        "nothing deleted"
    );
    // With the right CA everything goes through STARTTLS.
    let setup = WorkerSetup::new(&[spec(ca.ca_file())]).expect("setup");
    let out = setup.run_once().expect("run");
    assert!(out.status.success(), "{}", output_text(&out));
    let delivered = local
        .wait_for_messages("alice", 3, WAIT)
        .expect("delivered");
    assert_delivered_exactly(&sent, &delivered);
    assert!(
        local.maillog().contains("TLS connection established"),
        "Postfix saw TLS:\n{}",
        local.maillog()
    );
}
