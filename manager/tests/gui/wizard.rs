//! The first run, end to end: a configuration with no profile opens the wizard; "My ISP or
//! web host" finds the test Dovecot through the worker; the connection test logs in with the
//! typed password and keeps it nowhere; Save stores it in the keyring (never in the file),
//! starts the first poll, the mail arrives in the local Postfix mailbox and the delivery line
//! shows in the log panel; after a second poll (the messages now deleted on the server, their
//! delivery records forgotten) History still lists both deliveries (From and Subject).

use std::process::Child;

use egui_kittest::Harness;
use mailpull_manager::{ManagerApp, Settings, view};
use mailpull_shared::config::{Protocol, Security};
use mailpull_shared::ipc::{Endpoint, ServerCandidate};
use mailpull_shared::secrets;
use mailpull_tests::{
    LocalMailServer, RemoteDovecot, TestCa, WorkerSetup, keyring_usable, sample_message,
    stop_worker,
};

use super::{Gui, PASSWORD, PLAIN_STEPS, WAIT, click, fill, shows};

/// Dovecot with one user and two messages, Postfix for alice, a worker with no profile.
struct FirstRun {
    _tmp: tempfile::TempDir,
    ca: TestCa,
    remote: RemoteDovecot,
    local: LocalMailServer,
    setup: WorkerSetup,
    worker: Option<Child>,
}

impl FirstRun {
    fn start() -> FirstRun {
        let tmp = tempfile::tempdir().expect("tempdir");
        let ca = TestCa::new(tmp.path()).expect("test CA");
        let remote = RemoteDovecot::start(&ca).expect("remote dovecot");
        remote.add_user("isp-user", PASSWORD).expect("add user");
        for i in 0..2 {
            remote
                .add_message("isp-user", &sample_message(i, 2_000, "alice@local.test"))
                .expect("add message");
        }
        let local = LocalMailServer::start(&["alice"]).expect("local postfix");
        let setup = WorkerSetup::new(&[]).expect("worker setup");
        let worker = Some(setup.spawn_listening().expect("worker listening"));
        FirstRun {
            _tmp: tmp,
            ca,
            remote,
            local,
            setup,
            worker,
        }
    }

    fn config_text(&self) -> String {
        std::fs::read_to_string(&self.setup.config).expect("read config")
    }

    fn worker_stderr(&self) -> String {
        std::fs::read_to_string(self.setup.dir.path().join("worker.stderr")).unwrap_or_default()
    }
}

impl Drop for FirstRun {
    fn drop(&mut self) {
        if let Some(mut child) = self.worker.take() {
            stop_worker(&mut child);
        }
    }
}

fn wait(gui: &mut Gui, rig: &FirstRun, what: &str, check: impl Fn(&Gui) -> bool) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        gui.step();
        if check(gui) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}; notice: {:?}; wizard: {:?}\nworker:\n{}",
            gui.state().notice,
            gui.state().wizard,
            rig.worker_stderr()
        );
        std::thread::sleep(std::time::Duration::from_millis(30));
    }
}

#[test]
fn first_run_wizard_finds_the_server_tests_saves_and_the_mail_arrives() {
    keyring_usable("the first-run wizard stores the typed password in the keyring");
    let rig = FirstRun::start();
    let _ = secrets::delete_keyring("first", &secrets::password_account("first"));
    // A port where nothing listens: the search says so and goes on.
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut app =
        ManagerApp::with_endpoint(Endpoint::for_config(&rig.setup.config), Settings::default())
            .expect("manager");
    // The test Dovecot listens on high ports: the search tries them as it would 995, 993,
    // 110 and 143 (TLS first, then STARTTLS).
    app.probe_candidates = vec![
        ServerCandidate::new("pop3", rig.remote.pop3s_port(), "tls"),
        ServerCandidate::new("imap", rig.remote.imaps_port(), "tls"),
        ServerCandidate::new("pop3", rig.remote.pop3_port(), "starttls"),
        ServerCandidate::new("imap", rig.remote.imap_port(), "starttls"),
        ServerCandidate::new("pop3", closed_port, "starttls"),
    ];
    let mut gui: Gui = Harness::builder()
        .with_size(egui::vec2(1280.0, 1000.0))
        .build_ui_state(|ui, app: &mut ManagerApp| view::show(app, ui), app);

    // No profile: the wizard opens by itself.
    wait(&mut gui, &rig, "the wizard on the first run", |gui| {
        shows(gui, "Set up a mail connection")
    });
    gui.check_accessibility();
    click(&mut gui, "Next");
    assert!(
        shows(&gui, "Choose where your mail is now."),
        "Next checks the step"
    );

    // Step 1: my ISP; the worker finds the server on its TLS port first.
    click(&mut gui, "My ISP or web host");
    fill(&mut gui, "Mail server name", "localhost");
    fill(
        &mut gui,
        "Certificate file (optional)",
        &rig.ca.ca_file().display().to_string(),
    );
    click(&mut gui, "Next");
    assert!(shows(&gui, "Press \"Find my server\""), "no search yet");
    click(&mut gui, "Find my server");
    wait(&mut gui, &rig, "the search's findings", |gui| {
        shows(gui, "Found localhost")
    });
    let pop3s = format!(
        "POP3, port {}, encrypted (TLS): works",
        rig.remote.pop3s_port()
    );
    assert!(shows(&gui, &pop3s), "{:?}", gui.state().wizard);
    let imap = format!(
        "IMAP, port {}, encrypted after connecting (STARTTLS): works",
        rig.remote.imap_port()
    );
    let closed = format!(
        "POP3, port {closed_port}, encrypted after connecting (STARTTLS): not usable — nothing answers on port {closed_port}"
    );
    assert!(shows(&gui, &closed), "{:?}", gui.state().wizard);
    assert!(
        shows(&gui, &imap),
        "STARTTLS found too: {:?}",
        gui.state().wizard
    );
    {
        let fields = &gui.state().wizard.as_ref().expect("wizard").fields;
        assert_eq!(fields.protocol, Protocol::Pop3, "TLS on POP3 chosen first");
        assert_eq!(fields.remote_security(), Security::Tls);
        assert_eq!(fields.port, rig.remote.pop3s_port().to_string());
    }
    gui.check_accessibility();
    click(&mut gui, "Next");

    // Step 2: the password.
    fill(&mut gui, "User name", "isp-user");
    fill(&mut gui, "Password", PASSWORD);
    click(&mut gui, "Next");

    // Step 3: the local Postfix.
    click(&mut gui, "Postfix or another mail server");
    fill(
        &mut gui,
        "Mail server and port",
        &format!("127.0.0.1:{}", rig.local.smtp_port()),
    );
    click(&mut gui, "Next");

    // Step 4: one local user.
    fill(&mut gui, "Local user", "alice");
    fill(&mut gui, "Mail domain", "local.test");
    assert!(shows(&gui, "All mail goes to alice@local.test"));
    click(&mut gui, "Next");

    // Step 5: the test logs in with the typed password; nothing is stored by it.
    assert_eq!(
        gui.state().wizard.as_ref().expect("wizard").fields.name,
        "isp-user",
        "a name suggested from the user name"
    );
    fill(&mut gui, "Connection name", "first");
    gui.check_accessibility();
    click(&mut gui, "Test connection");
    wait(&mut gui, &rig, "the test report", |gui| {
        gui.state().test_report.is_some()
    });
    for step in PLAIN_STEPS {
        assert!(
            shows(&gui, &format!("{step}: OK")),
            "step {step}: {:?}",
            gui.state().test_report
        );
    }
    assert!(shows(&gui, "Mailbox: OK — 2 messages"));
    assert!(
        shows(&gui, "Connection test of \"first\""),
        "named after the wizard's profile"
    );
    match secrets::PasswordSource::Keyring.read("first") {
        Err(secrets::SecretError::KeyringMissing { .. }) => {}
        other => panic!("the test stored the password in the keyring: {other:?}"),
    }
    assert!(
        !rig.config_text().contains("first"),
        "nothing written by a test"
    );

    // Save and start: the password to the keyring, the profile to the file, the first poll.
    click(&mut gui, "Save and start");
    if let Err(err) = rig.local.wait_for_messages("alice", 2, WAIT) {
        gui.step();
        panic!(
            "the first poll moved no mail to Postfix: {err}\nnotice: {:?}\nwizard: {:?}\nbusy: {:?}\nlog: {}\nworker:\n{}",
            gui.state().notice,
            gui.state().wizard,
            gui.state().busy,
            gui.state().log.visible_text(&Default::default()),
            rig.worker_stderr()
        );
    }
    wait(
        &mut gui,
        &rig,
        "the delivery lines in the log panel",
        |gui| shows(gui, "delivered a message"),
    );
    assert!(gui.state().wizard.is_none(), "the wizard closed");
    assert_eq!(gui.state().selected.as_deref(), Some("first"));
    // The notice says what was saved, where the password went and that the poll runs.
    for said in [
        "Saved profile \"first\"",
        "stored in the OS keyring",
        "The first poll is running",
        "poll of profile \"first\" started",
    ] {
        assert!(shows(&gui, said), "{said}: {:?}", gui.state().notice);
    }
    let stored = secrets::PasswordSource::Keyring
        .read("first")
        .expect("the password in the keyring");
    assert_eq!(stored.expose(), PASSWORD);
    let text = rig.config_text();
    assert!(text.contains("name = \"first\""), "{text}");
    assert!(text.contains("keyring = true"), "{text}");
    assert!(!text.contains(PASSWORD), "no password in the file: {text}");
    assert_eq!(rig.remote.message_count("isp-user").expect("count"), 0);

    // A second poll finds the server empty and forgets the delivery records of the deleted
    // messages; History, read from the worker's state database, still lists both deliveries.
    click(&mut gui, "Poll now");
    wait(&mut gui, &rig, "the second poll's line in the log", |gui| {
        shows(gui, "checked: no new mail")
    });
    click(&mut gui, "History");
    wait(
        &mut gui,
        &rig,
        "the first poll's deliveries in History",
        |gui| shows(gui, "Mailpull test message 0") && shows(gui, "Mailpull test message 1"),
    );
    assert!(shows(&gui, "History of \"first\""));
    for from in [
        "Sender 0 <sender-0@example.test>",
        "Sender 1 <sender-1@example.test>",
    ] {
        assert!(shows(&gui, from), "{from}: {:?}", gui.state().history.shown);
    }
    assert!(
        shows(&gui, "Last deliveries (2 shown, newest first)"),
        "{:?}",
        gui.state().history.shown
    );
    match &gui.state().history.shown {
        Some(Ok(history)) => assert_eq!(history.all.messages, 2, "{history:?}"),
        other => panic!("no history: {other:?}"),
    }
    let _ = secrets::delete_keyring("first", &secrets::password_account("first"));
}
