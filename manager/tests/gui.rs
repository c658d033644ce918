//! The Pull Manager's real widgets, driven with egui_kittest by their accessible names,
//! against a real `mailpull-worker run` process over the real pipe, with real Dovecot (the
//! "ISP") and Postfix (the local server) from `mailpull-tests`. Needs root, like the e2e
//! suite, and the worker binary (`cargo build -p mailpull-worker`). The OAuth sign-in test
//! adds the local [`FakeOAuthServer`] behind Dovecot's `oauth2` passdb and needs the OS keyring
//! (scripts/test.sh runs the tests under `keyctl session`).
//!
//! Modules: `held` (the Held page and its actions on held messages), `history` (History and
//! the routing preview after real deliveries), `import` (File → Import of a fetchmailrc),
//! `tray` (the tray icon and a notification on a private session bus, Linux),
//! `wizard` (the first run: empty configuration → wizard → mail arrives).

#[path = "gui/held.rs"]
mod held;
#[path = "gui/history.rs"]
mod history;
#[path = "gui/import.rs"]
mod import;
#[cfg(target_os = "linux")]
#[path = "gui/tray.rs"]
mod tray;
#[path = "gui/wizard.rs"]
mod wizard;

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use egui::{Key, Modifiers};
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use mailpull_manager::{ManagerApp, Settings, view};
use mailpull_shared::ipc::{Endpoint, ProfileState, SignInPrompt};
use mailpull_shared::secrets;
use mailpull_tests::{
    DeviceOutcome, FakeOAuthServer, LocalMailServer, ProfileSpec, RemoteDovecot, RemoteOptions,
    TestCa, WorkerSetup, browse, keyring_usable, sample_message, stop_worker,
};

const PASSWORD: &str = "gui-remote-secret-4";
const WAIT: Duration = Duration::from_secs(30);

/// The connection test's steps as the window names them (the wire says `connect`, `tls`,
/// `login`, `messages`, `local_smtp`).
const PLAIN_STEPS: [&str; 5] = [
    "Remote server",
    "Encryption",
    "Sign-in",
    "Mailbox",
    "Local mail server",
];

/// Dovecot with two users, Postfix for alice and bob, a worker running one profile "isp".
struct Rig {
    _tmp: tempfile::TempDir,
    ca: TestCa,
    remote: RemoteDovecot,
    local: LocalMailServer,
    setup: WorkerSetup,
    worker: Option<Child>,
}

impl Rig {
    fn start() -> Rig {
        let tmp = tempfile::tempdir().expect("tempdir");
        let ca = TestCa::new(tmp.path()).expect("test CA");
        let remote = RemoteDovecot::start(&ca).expect("remote dovecot");
        remote.add_user("isp-user", PASSWORD).expect("add user");
        remote.add_user("isp-user2", PASSWORD).expect("add user");
        let local = LocalMailServer::start(&["alice", "bob"]).expect("local postfix");
        let password_file =
            WorkerSetup::password_file(tmp.path(), "isp", PASSWORD).expect("password file");
        let mut spec = ProfileSpec::new(
            "isp",
            remote.pop3s_port(),
            "isp-user",
            &password_file,
            local.smtp_port(),
            "alice",
        );
        spec.ca_file = Some(ca.ca_file().to_path_buf());
        let setup = WorkerSetup::new(&[spec]).expect("worker setup");
        let mut rig = Rig {
            _tmp: tmp,
            ca,
            remote,
            local,
            setup,
            worker: None,
        };
        rig.start_worker();
        rig
    }

    fn endpoint(&self) -> Endpoint {
        Endpoint::for_config(&self.setup.config)
    }

    fn start_worker(&mut self) {
        self.worker = Some(self.setup.spawn_listening().expect("worker listening"));
    }

    fn stop_worker(&mut self) {
        if let Some(mut child) = self.worker.take() {
            stop_worker(&mut child);
        }
    }

    fn worker_stderr(&self) -> String {
        std::fs::read_to_string(self.setup.dir.path().join("worker.stderr")).unwrap_or_default()
    }

    fn config_text(&self) -> String {
        std::fs::read_to_string(&self.setup.config).expect("read config")
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.stop_worker();
    }
}

type Gui = Harness<'static, ManagerApp>;

fn manager(rig: &Rig) -> Gui {
    manager_at(rig.endpoint())
}

fn manager_at(endpoint: Endpoint) -> Gui {
    let app = ManagerApp::with_endpoint(endpoint, Settings::default()).expect("manager");
    Harness::builder()
        .with_size(egui::vec2(1280.0, 1200.0))
        .build_ui_state(|ui, app: &mut ManagerApp| view::show(app, ui), app)
}

/// Steps the window until `check` holds; the pipe works on its own thread meanwhile.
fn wait_for(gui: &mut Gui, rig: &Rig, what: &str, check: impl Fn(&Gui) -> bool) {
    let deadline = Instant::now() + WAIT;
    loop {
        gui.step();
        if check(gui) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; notice: {:?}\nworker:\n{}",
            gui.state().notice,
            rig.worker_stderr()
        );
        std::thread::sleep(Duration::from_millis(30));
    }
}

fn shows(gui: &Gui, text: &str) -> bool {
    gui.query_all_by_label_contains(text).next().is_some()
}

/// Replaces the text of the field labelled `label` with `text`, as a user would type it.
fn fill(gui: &mut Gui, label: &str, text: &str) {
    gui.get_by_label(label).focus();
    gui.step();
    gui.key_press_modifiers(Modifiers::COMMAND, Key::A);
    gui.key_press(Key::Backspace);
    gui.step();
    if !text.is_empty() {
        gui.get_by_label(label).type_text(text);
    }
    gui.step();
    gui.step();
}

/// Clicks, then draws three frames: one for the click, one for its effect, and one more for
/// a window that appears (egui sizes a new area invisibly first).
fn click(gui: &mut Gui, label: &str) {
    gui.get_by_label(label).click();
    gui.run_steps(3);
}

/// Waits until profile "isp"'s first poll has gone through.
fn first_poll_ok(gui: &mut Gui, rig: &Rig) {
    wait_for(gui, rig, "the first poll", |gui| {
        gui.state()
            .status
            .get("isp")
            .is_some_and(|s| s.state == ProfileState::Ok)
    });
}

fn connected(gui: &mut Gui, rig: &Rig) {
    wait_for(gui, rig, "connected with profile isp listed", |gui| {
        shows(gui, "Served by ") && gui.query_by_label("isp").is_some()
    });
}

#[test]
fn new_profile_is_checked_saved_and_listed() {
    let rig = Rig::start();
    let mut gui = manager(&rig);
    connected(&mut gui, &rig);
    gui.check_accessibility();

    click(&mut gui, "New");
    click(&mut gui, "Use the full form instead");
    assert_eq!(
        gui.state().editor.fields.interval,
        "10m",
        "10 minutes by default"
    );
    fill(&mut gui, "Name", "work");
    fill(&mut gui, "Server", "localhost");
    fill(&mut gui, "Port", "70000");
    fill(&mut gui, "User", "isp-user2");
    fill(&mut gui, "Password", PASSWORD);
    fill(&mut gui, "CA file", &rig.ca.ca_file().display().to_string());
    click(&mut gui, "Delivery");
    fill(
        &mut gui,
        "SMTP server",
        &format!("127.0.0.1:{}", rig.local.smtp_port()),
    );
    fill(&mut gui, "Local user", "bob");
    fill(&mut gui, "Local domain", "local.test");
    gui.check_accessibility();
    // The fields that only some choices show are named too.
    click(&mut gui, "Remote");
    click(&mut gui, "IMAP");
    assert!(gui.query_by_label("Folders").is_some(), "Folders shown");
    click(&mut gui, "Schedule");
    click(&mut gui, "Keep for days");
    assert!(gui.query_by_label("Days to keep").is_some());
    click(&mut gui, "Distribution");
    click(&mut gui, "Distribute to local users by the headers");
    for label in ["Local domains", "Fallback", "Aliases", "Tag delimiter"] {
        assert!(gui.query_by_label(label).is_some(), "{label} shown");
    }
    gui.check_accessibility();
    click(&mut gui, "Advanced");
    for label in [
        "Timeout",
        "Max message size",
        "Envelope headers",
        "Visible headers",
        "Trusted Received",
        "Max Received",
    ] {
        assert!(gui.query_by_label(label).is_some(), "{label} shown");
    }
    gui.check_accessibility();
    click(&mut gui, "Remote");
    // An OAuth profile: the OAuth client instead of the password, each field named.
    gui.get_by_label("Authentication").click();
    gui.run_steps(3);
    click(&mut gui, "OAuth 2.0 (XOAUTH2)");
    assert!(
        gui.query_by_label("Password").is_none(),
        "no password for OAuth"
    );
    for label in ["Provider", "Client ID", "Tenant", "Client secret from"] {
        assert!(gui.query_by_label(label).is_some(), "{label} shown");
    }
    click(&mut gui, "Custom");
    // The password source "File" (the File menu over the window has the same name).
    gui.query_all_by_label("File")
        .find(|n| n.accesskit_node().role() == egui::accesskit::Role::RadioButton)
        .expect("the File password source")
        .click();
    gui.run_steps(3);
    for label in [
        "Scopes",
        "Device code URL",
        "Authorization URL",
        "Token URL",
        "Client secret file",
    ] {
        assert!(gui.query_by_label(label).is_some(), "{label} shown");
    }
    assert!(gui.query_by_label("Tenant").is_none(), "Microsoft only");
    gui.check_accessibility();
    gui.get_by_label("Authentication").click();
    gui.run_steps(3);
    click(&mut gui, "Automatic");
    assert!(gui.query_by_label("Password").is_some());
    click(&mut gui, "POP3");
    assert!(gui.query_by_label("Folders").is_none());
    click(&mut gui, "Schedule");
    click(&mut gui, "No, delete after delivery");
    click(&mut gui, "Distribution");
    click(&mut gui, "Distribute to local users by the headers");

    // A bad port: named under its field, nothing sent, nothing written.
    let before = rig.config_text();
    click(&mut gui, "Save");
    assert!(
        gui.query_by_label("\"70000\" is not a port (1-65535)")
            .is_some(),
        "inline port error under its field; notice {:?}",
        gui.state().notice
    );
    assert!(shows(&gui, "Not saved"));
    std::thread::sleep(Duration::from_millis(300));
    gui.step();
    assert_eq!(rig.config_text(), before, "nothing saved for a bad port");

    // A problem only the worker sees (no local user): its per-field message, nothing written.
    fill(&mut gui, "Port", &rig.remote.pop3s_port().to_string());
    click(&mut gui, "Delivery");
    fill(&mut gui, "Local user", "");
    assert!(
        gui.query_by_label("Remote (1)").is_some(),
        "the section with a problem says so"
    );
    click(&mut gui, "Save");
    wait_for(&mut gui, &rig, "the worker's refusal", |gui| {
        shows(gui, "Not saved, the worker found")
    });
    let problem = gui
        .state()
        .editor
        .problems
        .iter()
        .find(|p| p.field == "local.user")
        .map(|p| p.message.clone())
        .unwrap_or_else(|| panic!("no local.user problem: {:?}", gui.state().editor.problems));
    assert!(
        gui.query_by_label(&problem).is_some(),
        "the worker's message under the Local user field: {problem}"
    );
    assert!(!shows(&gui, "\"70000\""), "the old port error is gone");
    assert_eq!(
        rig.config_text(),
        before,
        "nothing saved when the worker refuses"
    );

    // Fixed: saved, written, applied and listed; the password went to the keyring only.
    fill(&mut gui, "Local user", "bob");
    click(&mut gui, "Save");
    wait_for(&mut gui, &rig, "saved and listed", |gui| {
        shows(gui, "Saved profile \"work\"") && gui.query_by_label("work").is_some()
    });
    let text = rig.config_text();
    assert!(text.contains("name = \"work\""), "{text}");
    assert!(text.contains("keyring = true"), "{text}");
    assert!(!text.contains(PASSWORD), "no password in the file: {text}");
    assert!(!gui.state().editor.editing());
    assert_eq!(gui.state().selected.as_deref(), Some("work"));
    wait_for(&mut gui, &rig, "the worker's status lists work", |gui| {
        gui.state().status.contains_key("work")
    });

    // Delete asks first; "Keep it" keeps it, "Yes, delete" removes it from the file.
    click(&mut gui, "Delete");
    assert_eq!(
        gui.state().confirm_delete.as_deref(),
        Some("work"),
        "{:?}",
        gui.state().notice
    );
    assert!(shows(&gui, "Delete the profile \"work\""));
    click(&mut gui, "Keep it");
    assert!(gui.query_by_label("Yes, delete").is_none());
    assert!(rig.config_text().contains("name = \"work\""));
    click(&mut gui, "Delete");
    click(&mut gui, "Yes, delete");
    wait_for(
        &mut gui,
        &rig,
        "work deleted and gone from the list",
        |gui| shows(gui, "Deleted profile \"work\"") && gui.query_by_label("work").is_none(),
    );
    assert!(!rig.config_text().contains("name = \"work\""));
}

/// Everything the worker wrote: its stderr and its log files.
fn worker_logs(rig: &Rig) -> String {
    let mut text = rig.worker_stderr();
    if let Ok(dir) = std::fs::read_dir(rig.setup.state_dir().join("logs")) {
        for entry in dir.flatten() {
            text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
        }
    }
    text
}

/// The first step of every new profile: Test connection before Save, with the password
/// typed into the form and nothing in the keyring yet. The worker logs in with the typed
/// password for this test only: it is in no reply, no log line, no keyring entry, no file.
#[test]
fn test_before_save_logs_in_with_the_typed_password_and_keeps_it_nowhere() {
    keyring_usable("Test connection of an unsaved keyring profile");
    let rig = Rig::start();
    let _ = secrets::delete_from_keyring("fresh");
    let mut gui = manager(&rig);
    connected(&mut gui, &rig);
    click(&mut gui, "New");
    click(&mut gui, "Use the full form instead");
    fill(&mut gui, "Name", "fresh");
    fill(&mut gui, "Server", "localhost");
    fill(&mut gui, "Port", &rig.remote.pop3s_port().to_string());
    fill(&mut gui, "User", "isp-user2");
    fill(&mut gui, "Password", PASSWORD);
    fill(&mut gui, "CA file", &rig.ca.ca_file().display().to_string());
    click(&mut gui, "Delivery");
    fill(
        &mut gui,
        "SMTP server",
        &format!("127.0.0.1:{}", rig.local.smtp_port()),
    );
    fill(&mut gui, "Local user", "bob");
    fill(&mut gui, "Local domain", "local.test");
    click(&mut gui, "Test connection");
    wait_for(&mut gui, &rig, "the test report", |gui| {
        gui.state().test_report.is_some()
    });
    let report = format!("{:?}", gui.state().test_report);
    for step in PLAIN_STEPS {
        assert!(shows(&gui, &format!("{step}: OK")), "step {step}: {report}");
    }
    assert!(!report.contains(PASSWORD), "password echoed: {report}");
    assert!(gui.state().editor.editing(), "still editing, nothing saved");
    assert_eq!(
        gui.state().editor.fields.password,
        PASSWORD,
        "the typed password stays in the form for Save"
    );
    match secrets::PasswordSource::Keyring.read("fresh") {
        Err(secrets::SecretError::KeyringMissing { .. }) => {}
        other => panic!("the test stored the password in the keyring: {other:?}"),
    }
    assert!(
        !rig.config_text().contains("fresh"),
        "nothing written by a test"
    );
    let logs = worker_logs(&rig);
    assert!(logs.contains("connection test requested"), "{logs}");
    assert!(!logs.contains(PASSWORD), "password in the worker's log");
    assert!(
        !format!("{:?}", gui.state().editor).contains(PASSWORD),
        "the form's Debug shows the password"
    );
}

#[test]
fn test_connection_and_poll_now_against_dovecot() {
    let rig = Rig::start();
    let mut gui = manager(&rig);
    connected(&mut gui, &rig);
    // The log folder came with the hello: "Open log file" knows where to look.
    assert_eq!(
        gui.state().log_dir.as_deref(),
        Some(rig.setup.state_dir().join("logs").as_path())
    );
    first_poll_ok(&mut gui, &rig);

    click(&mut gui, "isp");
    wait_for(&mut gui, &rig, "the form of isp", |gui| {
        gui.state().editor.fields.name == "isp"
    });
    click(&mut gui, "Test connection");
    wait_for(&mut gui, &rig, "the test report", |gui| {
        gui.state().test_report.is_some()
    });
    for step in PLAIN_STEPS {
        assert!(
            shows(&gui, &format!("{step}: OK")),
            "step {step}: {:?}",
            gui.state().test_report
        );
    }
    // The report in plain words: the wire's step names and "message(s)" stay on the wire.
    assert!(
        shows(&gui, "Mailbox: OK — 0 messages"),
        "{:?}",
        gui.state().test_report
    );
    let lines: Vec<String> = PLAIN_STEPS
        .iter()
        .flat_map(|step| {
            gui.query_all_by_label_contains(&format!("{step}: "))
                .map(|n| format!("{:?}", n.accesskit_node().value()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(lines.len(), PLAIN_STEPS.len(), "{lines:?}");
    for wire in [
        "local_smtp",
        "message(s)",
        "TLSv1_",
        "(starttls)",
        "(plain)",
    ] {
        assert!(
            lines.iter().all(|line| !line.contains(wire)),
            "developer words {wire} in the report: {lines:?}"
        );
    }

    for i in 0..3 {
        rig.remote
            .add_message("isp-user", &sample_message(i, 3_000, "alice@local.test"))
            .expect("add message");
    }
    // Lines from before the window opened came first (the worker's last 500).
    wait_for(&mut gui, &rig, "the worker's start in the log", |gui| {
        shows(gui, "worker started")
    });
    // One line per delivered message, in words: no UIDs, no developer fields.
    const DELIVERY: &str = "delivered a message";
    const IN_FILE: &str = "recipient=alice@local.test";
    // Paused, the log panel holds the new lines back and counts them.
    assert!(!shows(&gui, DELIVERY), "nothing delivered yet");
    click(&mut gui, "Pause");
    click(&mut gui, "Poll now");
    rig.local
        .wait_for_messages("alice", 3, WAIT)
        .expect("Poll now moved the mail");
    wait_for(&mut gui, &rig, "the status of three moved", |gui| {
        shows(gui, "3 moved")
    });
    wait_for(&mut gui, &rig, "lines waiting behind the pause", |gui| {
        shows(gui, "waiting)")
    });
    assert!(!shows(&gui, DELIVERY), "the pause holds the delivery lines");
    // Resumed, they appear.
    gui.get_by_label_contains("waiting)").click();
    gui.run_steps(3);
    wait_for(&mut gui, &rig, "the delivery in the log panel", |gui| {
        shows(gui, DELIVERY)
    });
    assert_eq!(rig.remote.message_count("isp-user").expect("count"), 0);
    assert!(shows(&gui, "3 messages delivered"), "the poll in words");
    assert!(!shows(&gui, "already_delivered"), "no developer fields");
    assert!(!shows(&gui, "uid="), "no UIDs");
    // Search narrows the panel to the matching lines.
    fill(&mut gui, "Search", "no such words");
    assert!(!shows(&gui, DELIVERY));
    fill(&mut gui, "Search", "");

    // Copy puts the shown lines on the clipboard.
    gui.get_by_label("Copy").click();
    gui.step();
    let copied: Vec<String> = gui
        .output()
        .platform_output
        .commands
        .iter()
        .filter_map(|c| match c {
            egui::OutputCommand::CopyText(text) => Some(text.clone()),
            _ => None,
        })
        .collect();
    assert!(
        copied.iter().any(|t| t.matches(DELIVERY).count() >= 3),
        "Copy copies the shown lines: {copied:?}"
    );

    // Open log file hands the newest log file in the worker's log folder to the opener.
    let opened = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = opened.clone();
    gui.state_mut().opener = Box::new(move |path: &str| {
        seen.lock().expect("lock").push(path.to_string());
        Ok(())
    });
    click(&mut gui, "Open log file");
    let opened = opened.lock().expect("lock").clone();
    let [path] = opened.as_slice() else {
        panic!("opened {opened:?}")
    };
    let path = std::path::Path::new(path);
    assert_eq!(
        path.parent(),
        Some(rig.setup.state_dir().join("logs").as_path())
    );
    assert!(path.is_file(), "{path:?} is a file");
    assert!(
        std::fs::read_to_string(path)
            .expect("log file")
            .contains(IN_FILE),
        "the log file holds the deliveries"
    );
}

/// Stops a worker the window started, at the end of the test whatever happens.
struct StartedByWindow(u32);

impl Drop for StartedByWindow {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.to_string()])
            .status();
    }
}

#[test]
fn worker_stopped_shows_disconnected_then_reconnects() {
    let mut rig = Rig::start();
    let mut gui = manager(&rig);
    gui.state_mut().worker_binary = mailpull_tests::worker_binary().expect("worker binary");
    connected(&mut gui, &rig);
    // The rig's worker was started as from a terminal; the window says so, with its process.
    let rig_pid = rig.worker.as_ref().expect("rig worker").id();
    assert!(
        shows(
            &gui,
            &format!("Served by a worker started from a terminal (process {rig_pid})")
        ),
        "the status bar names the terminal's worker"
    );

    rig.stop_worker();
    wait_for(&mut gui, &rig, "disconnected", |gui| {
        shows(gui, "Disconnected: no worker is running")
    });
    assert!(!gui.state().connection.is_connected());

    // The window's own button starts the worker for its configuration, and it reconnects.
    click(&mut gui, "Start worker");
    let started = StartedByWindow(gui.state().started_worker.expect("a worker was started"));
    connected(&mut gui, &rig);
    assert!(gui.query_by_label("Start worker").is_none());
    // The worker itself says the window started it (its hello), with the process id the
    // window got when it started it.
    assert!(
        shows(
            &gui,
            &format!(
                "Served by a worker this window started (process {})",
                started.0
            )
        ),
        "the status bar names the window's own worker"
    );

    // That one stops too; a worker started elsewhere is found again by itself.
    drop(started);
    wait_for(&mut gui, &rig, "disconnected again", |gui| {
        shows(gui, "Disconnected: no worker is running")
    });
    rig.start_worker();
    connected(&mut gui, &rig);
}

/// eframe's storage, in memory.
#[derive(Default)]
struct MemoryStorage(std::collections::HashMap<String, String>);

impl eframe::Storage for MemoryStorage {
    fn get_string(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }

    fn set_string(&mut self, key: &str, value: String) {
        self.0.insert(key.to_string(), value);
    }

    fn remove_string(&mut self, key: &str) {
        self.0.remove(key);
    }

    fn flush(&mut self) {}
}

#[test]
fn log_filter_and_selection_survive_a_restart() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let endpoint = Endpoint::for_config(&tmp.path().join("none.toml"));
    let mut app = ManagerApp::with_endpoint(endpoint.clone(), Settings::default()).expect("app");
    app.settings.log_filter.level = mailpull_manager::log::Level::Warn;
    app.settings.log_filter.profile = Some("isp".into());
    app.settings.selected = Some("isp".into());
    let mut storage = MemoryStorage::default();
    eframe::App::save(&mut app, &mut storage);

    let restored: Settings =
        eframe::get_value(&storage, mailpull_manager::app::SETTINGS_KEY).expect("stored");
    assert_eq!(restored, app.settings);
    let again = ManagerApp::with_endpoint(endpoint, restored).expect("app");
    assert_eq!(again.selected.as_deref(), Some("isp"));
}

/// Dovecot with the `oauth2` passdb checking tokens at a [`FakeOAuthServer`], Postfix, and a
/// worker with two OAuth profiles that have never signed in: `device` (POP3S + XOAUTH2) and
/// `browser` (IMAPS + OAUTHBEARER), each pulling its own mail user into alice.
struct OAuthRig {
    _tmp: tempfile::TempDir,
    _ca: TestCa,
    oauth: FakeOAuthServer,
    remote: RemoteDovecot,
    local: LocalMailServer,
    setup: WorkerSetup,
    worker: Option<Child>,
    device: String,
    browser: String,
}

impl OAuthRig {
    fn start() -> OAuthRig {
        let tmp = tempfile::tempdir().expect("tempdir");
        let ca = TestCa::new(tmp.path()).expect("test CA");
        let oauth = FakeOAuthServer::start().expect("oauth server");
        let remote = RemoteDovecot::start_with(
            RemoteOptions::new(&ca).with_oauth2(&oauth.introspection_url()),
        )
        .expect("remote dovecot");
        let local = LocalMailServer::start(&["alice"]).expect("local postfix");
        let pid = std::process::id();
        let (device, browser) = (format!("gui-device-{pid}"), format!("gui-browser-{pid}"));
        let unused = tmp.path().join("unused");
        let mut specs = Vec::new();
        for (name, user, protocol, auth, port) in [
            (&device, "dev-user", "pop3", "xoauth2", remote.pop3s_port()),
            (
                &browser,
                "web-user",
                "imap",
                "oauthbearer",
                remote.imaps_port(),
            ),
        ] {
            remote
                .add_user(user, "a password nobody uses")
                .expect("user");
            let client = format!("client-{user}");
            oauth.register_client(&client, user);
            let mut spec = ProfileSpec::new(name, port, user, &unused, local.smtp_port(), "alice");
            spec.protocol = protocol;
            spec.interval = "1h";
            spec.ca_file = Some(ca.ca_file().to_path_buf());
            spec.oauth2 = Some((auth, oauth.custom_table(&client)));
            specs.push(spec);
        }
        let setup = WorkerSetup::new(&specs).expect("worker setup");
        let worker = Some(setup.spawn_listening().expect("worker listening"));
        OAuthRig {
            _tmp: tmp,
            _ca: ca,
            oauth,
            remote,
            local,
            setup,
            worker,
            device,
            browser,
        }
    }

    fn endpoint(&self) -> Endpoint {
        Endpoint::for_config(&self.setup.config)
    }

    fn worker_stderr(&self) -> String {
        std::fs::read_to_string(self.setup.dir.path().join("worker.stderr")).unwrap_or_default()
    }
}

impl Drop for OAuthRig {
    fn drop(&mut self) {
        if let Some(mut child) = self.worker.take() {
            stop_worker(&mut child);
        }
        for name in [&self.device, &self.browser] {
            let _ = secrets::delete_keyring(name, &secrets::refresh_token_account(name));
            let _ = secrets::delete_keyring(name, &secrets::client_secret_account(name));
        }
    }
}

/// Steps the window until `check` holds (the OAuth rig's twin of [`wait_for`]).
fn wait_oauth(gui: &mut Gui, rig: &OAuthRig, what: &str, check: impl Fn(&Gui) -> bool) {
    let deadline = Instant::now() + WAIT;
    loop {
        gui.step();
        if check(gui) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; notice: {:?}; sign-in: {:?}\nworker:\n{}",
            gui.state().notice,
            gui.state().sign_in,
            rig.worker_stderr()
        );
        std::thread::sleep(Duration::from_millis(30));
    }
}

fn needs_sign_in(gui: &Gui, name: &str) -> bool {
    gui.state()
        .status
        .get(name)
        .is_some_and(|s| s.needs_sign_in)
}

/// Selects `name`, signs it in with the button `button`, waits for success, closes the
/// dialog, and checks that the status cleared.
fn sign_in(gui: &mut Gui, rig: &OAuthRig, name: &str, button: &str) {
    click(gui, name);
    wait_oauth(gui, rig, "the OAuth form with Sign in", |gui| {
        gui.state().editor.fields.name == name && gui.query_by_label(button).is_some()
    });
    // The form shows the OAuth client, and no password field.
    assert!(gui.query_by_label("Client ID").is_some());
    assert!(gui.query_by_label("Password").is_none());
    click(gui, button);
    wait_oauth(gui, rig, "the sign-in prompt", |gui| {
        gui.state()
            .sign_in
            .as_ref()
            .is_some_and(|s| s.prompt.is_some())
    });
    gui.run_steps(2); // the dialog grew by the prompt: let it settle before clicking in it
}

#[test]
fn oauth_sign_in_by_device_code_and_by_browser_then_poll_now_moves_mail() {
    if !keyring_usable("the Pull Manager's OAuth sign-in") {
        return;
    }
    let rig = OAuthRig::start();
    for (user, first) in [("dev-user", 0), ("web-user", 10)] {
        for i in first..first + 2 {
            rig.remote
                .add_message(user, &sample_message(i, 2_000, "alice@local.test"))
                .expect("add message");
        }
    }
    let mut gui = manager_at(rig.endpoint());
    // The opener a test can run: the simulated browser follows the redirect to the worker.
    let opened = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = opened.clone();
    gui.state_mut().opener = Box::new(move |url: &str| {
        seen.lock().expect("lock").push(url.to_string());
        if url.contains("/authorize?") {
            let page = browse(url);
            if !page.starts_with("HTTP/1.1 200") {
                return Err(page);
            }
        }
        Ok(())
    });

    // Both profiles fail their first poll: not signed in, and the list says so.
    wait_oauth(&mut gui, &rig, "sign-in needed for both", |gui| {
        needs_sign_in(gui, &rig.device) && needs_sign_in(gui, &rig.browser)
    });
    assert_eq!(
        gui.query_all_by_label("sign-in needed").count(),
        2,
        "the marker in the profile list"
    );

    // Cancel closes the dialog; a declined sign-in says so. (Declined from the start: the
    // worker's cancelled attempt runs on until the provider answers.)
    rig.oauth.set_device_outcome(DeviceOutcome::Deny);
    sign_in(&mut gui, &rig, &rig.device, "Sign in …");
    click(&mut gui, "Cancel sign-in");
    assert!(gui.state().sign_in.is_none(), "Cancel closes the dialog");
    click(&mut gui, "Sign in …");
    wait_oauth(&mut gui, &rig, "the declined sign-in", |gui| {
        shows(gui, "Sign-in failed")
    });
    assert!(needs_sign_in(&gui, &rig.device));
    gui.run_steps(2);
    click(&mut gui, "Close");
    rig.oauth.set_device_outcome(DeviceOutcome::Approve);

    // Device flow: the dialog shows the link and the code the server issued.
    click(&mut gui, "Sign in …");
    wait_oauth(&mut gui, &rig, "the sign-in prompt", |gui| {
        gui.state()
            .sign_in
            .as_ref()
            .is_some_and(|s| s.prompt.is_some())
    });
    gui.run_steps(2);
    gui.check_accessibility();
    assert!(shows(&gui, "WDJB-MJHT"), "the user code");
    assert!(gui.query_by_label("Copy code").is_some());
    // The verification link the server gave opens in the browser (the opener) on a click.
    let uri = match gui.state().sign_in.as_ref().and_then(|s| s.prompt.clone()) {
        Some(SignInPrompt::Device {
            verification_uri, ..
        }) => verification_uri,
        other => panic!("not a device prompt: {other:?}"),
    };
    assert!(uri.starts_with("http://127.0.0.1/"), "{uri}");
    click(&mut gui, &uri);
    assert_eq!(opened.lock().expect("lock").last(), Some(&uri));
    gui.get_by_label("Copy code").click();
    gui.step();
    let copied = &gui.output().platform_output.commands;
    assert!(
        copied.contains(&egui::OutputCommand::CopyText("WDJB-MJHT".into())),
        "Copy code copies the code: {copied:?}"
    );
    // The fake server approves after two pending polls; the dialog polls the worker.
    wait_oauth(&mut gui, &rig, "the device sign-in to succeed", |gui| {
        shows(gui, "Signed in")
    });
    gui.run_steps(2); // the dialog grew by the outcome: let it settle before clicking
    click(&mut gui, "Close");
    assert!(gui.state().sign_in.is_none());
    wait_oauth(
        &mut gui,
        &rig,
        "the device profile's status to clear",
        |gui| !needs_sign_in(gui, &rig.device),
    );
    click(&mut gui, "Poll now");
    rig.local
        .wait_for_messages("alice", 2, WAIT)
        .expect("Poll now moved the device profile's mail");
    assert_eq!(rig.remote.message_count("dev-user").expect("count"), 0);

    // The browser profile's client is confidential: its secret is typed into the form, goes
    // to the worker's keyring on Save, and the file only says where it is.
    const CLIENT_SECRET: &str = "GOCSPX-gui-typed-secret";
    rig.oauth
        .require_client_secret("client-web-user", CLIENT_SECRET);
    click(&mut gui, &rig.browser);
    wait_oauth(&mut gui, &rig, "the browser profile selected", |gui| {
        gui.state().editor.fields.name == rig.browser && gui.query_by_label("Edit").is_some()
    });
    click(&mut gui, "Edit");
    assert!(
        gui.query_by_label("Client secret").is_none(),
        "no secret yet"
    );
    click(&mut gui, "OS keyring");
    fill(&mut gui, "Client secret", CLIENT_SECRET);
    gui.check_accessibility();
    click(&mut gui, "Save");
    wait_oauth(&mut gui, &rig, "the client secret stored", |gui| {
        shows(gui, "client secret of profile")
    });
    assert!(
        gui.state().editor.fields.client_secret.is_empty(),
        "the form forgets it"
    );
    let stored = secrets::read_keyring(&rig.browser, &secrets::client_secret_account(&rig.browser))
        .expect("read keyring");
    assert_eq!(stored.as_ref().map(|s| s.expose()), Some(CLIENT_SECRET));
    let config = std::fs::read_to_string(&rig.setup.config).expect("config");
    assert!(!config.contains(CLIENT_SECRET), "{config}");
    assert!(
        config.contains("[profile.remote.oauth2.client_secret]\nkeyring = true"),
        "{config}"
    );

    // Browser flow: the authorization URL goes to the opener, which plays the browser.
    sign_in(&mut gui, &rig, &rig.browser, "Sign in with browser …");
    wait_oauth(&mut gui, &rig, "the browser sign-in to succeed", |gui| {
        shows(gui, "Signed in")
    });
    let urls = opened.lock().expect("lock").clone();
    assert!(
        urls.iter()
            .any(|u| u.starts_with(&rig.oauth.url("authorize")) && u.contains("code_challenge")),
        "{urls:?}"
    );
    gui.run_steps(2);
    click(&mut gui, "Close");
    wait_oauth(
        &mut gui,
        &rig,
        "the browser profile's status to clear",
        |gui| !needs_sign_in(gui, &rig.browser),
    );
    click(&mut gui, "Poll now");
    rig.local
        .wait_for_messages("alice", 4, WAIT)
        .expect("Poll now moved the browser profile's mail");
    assert_eq!(rig.remote.message_count("web-user").expect("count"), 0);
    assert!(gui.query_all_by_label("sign-in needed").next().is_none());
    assert!(rig.oauth.counters().client_secret_refused == 0);
    let logs = rig.worker_stderr();
    assert!(
        !logs.contains(CLIENT_SECRET),
        "the secret in the worker's log"
    );
}

// ---- The form and the list without a worker: what a person sees and what it asks. ----

/// A window at the default size (main.rs) whose worker is not running, showing the profile
/// `all` (every field of a profile written) and a second profile `other`.
fn offline_window(theme: egui::Theme) -> (tempfile::TempDir, Gui) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let endpoint = Endpoint::for_config(&tmp.path().join("none.toml"));
    let mut app = ManagerApp::with_endpoint(endpoint, Settings::default()).expect("app");
    let form: mailpull_shared::ipc::ProfileForm = toml::from_str(
        r#"
        name = "all"
        interval = "5m"
        after_delivery = { keep_days = 30 }
        [remote]
        protocol = "imap"
        host = "imap.example.com"
        username = "joe"
        password = { keyring = true }
        folders = ["INBOX", "Spam"]
        timeout = "90s"
        [local]
        smtp = "exchange.example.org:587"
        ca_file = "/etc/exchange-ca.pem"
        user = "joe"
        domain = "example.org"
        [distribute]
        local_domains = ["example.org"]
        aliases = { info = "alice", sales = "bob" }
        max_received = 40
        "#,
    )
    .expect("profile");
    let summary = |name: &str| mailpull_shared::ipc::ProfileSummary {
        name: name.into(),
        enabled: true,
        protocol: "imap".into(),
        host: "imap.example.com".into(),
        port: 993,
        username: "joe".into(),
        local_address: "joe@example.org".into(),
        multi_drop: true,
        password_source: "keyring".into(),
    };
    app.profiles = vec![summary("all"), summary("other")];
    app.selected = Some("all".into());
    app.editor.fields = mailpull_manager::form::FormFields::from_profile(&form);
    app.editor.initial = app.editor.fields.clone();
    app.editor.base = form;
    let mut gui = Harness::builder()
        .with_size(egui::vec2(1100.0, 760.0))
        .with_theme(theme)
        .build_ui_state(|ui, app: &mut ManagerApp| view::show(app, ui), app);
    gui.run_steps(3);
    (tmp, gui)
}

/// The last row of each section, and a value it shows as text.
const SECTIONS: [(&str, &str, &str); 5] = [
    ("Remote", "Folders", "imap.example.com"),
    ("Delivery", "Local domain", "exchange.example.org:587"),
    ("Schedule", "Days to keep", "5m"),
    ("Distribution", "Tag delimiter", "info = alice"),
    ("Advanced", "Max Received", "90s"),
];

#[test]
fn view_mode_is_readable_text_and_every_section_fits_the_default_window() {
    for theme in [egui::Theme::Dark, egui::Theme::Light] {
        let (_tmp, mut gui) = offline_window(theme);
        // The colours the view draws with, from the theme the window actually uses.
        let visuals = gui.ctx.global_style().visuals.clone();
        assert_eq!(visuals.dark_mode, theme == egui::Theme::Dark);
        for colour in [view::label_colour(&visuals), view::value_colour(&visuals)] {
            let ratio = view::contrast_ratio(colour, visuals.panel_fill);
            assert!(ratio >= 4.5, "{theme:?}: {colour:?} is {ratio:.2}:1");
        }
        let log_top = gui.get_by_label("Live log").rect().min.y;
        for (section, last_row, value) in SECTIONS {
            click(&mut gui, section);
            assert!(shows(&gui, value), "{section} shows {value} as text");
            assert!(
                gui.query_all_by_role(egui::accesskit::Role::TextInput)
                    .all(|input| input.rect().min.y >= log_top),
                "{section}: no input in view mode (only the log's search)"
            );
            let bottom = gui.get_by_label(last_row).rect().max.y;
            assert!(
                bottom < log_top,
                "{theme:?} {section}: {last_row} at {bottom} is below the fold (log at {log_top})"
            );
        }
    }
}

#[test]
fn unsaved_edits_ask_before_another_profile_or_closing() {
    let (_tmp, mut gui) = offline_window(egui::Theme::Dark);
    click(&mut gui, "Edit");
    let log_top = gui.get_by_label("Live log").rect().min.y;
    for (section, last_row, _) in SECTIONS {
        click(&mut gui, section);
        let input = gui
            .query_by_role_and_label(egui::accesskit::Role::TextInput, last_row)
            .unwrap_or_else(|| panic!("{section}: {last_row} is a text field"));
        let bottom = input.rect().max.y;
        assert!(
            bottom < log_top,
            "editing {section}: {last_row} at {bottom} is below the fold (log at {log_top})"
        );
    }
    click(&mut gui, "Remote");
    assert!(
        gui.query_by_role_and_label(egui::accesskit::Role::TextInput, "Server")
            .is_some()
    );
    // Nothing changed yet: another profile is shown without a question.
    click(&mut gui, "other");
    assert!(!gui.state().ask_unsaved);
    assert_eq!(gui.state().selected.as_deref(), Some("other"));
    assert!(!gui.state().editor.editing());

    let (_tmp, mut gui) = offline_window(egui::Theme::Dark);
    click(&mut gui, "Edit");
    fill(&mut gui, "Server", "imap.example.net");
    click(&mut gui, "other");
    assert!(shows(
        &gui,
        "Save the changes to \"all\" before showing \"other\"?"
    ));
    click(&mut gui, "Keep editing");
    assert!(!gui.state().ask_unsaved);
    assert_eq!(gui.state().editor.fields.server, "imap.example.net", "kept");
    assert_eq!(gui.state().selected.as_deref(), Some("all"));

    // Closing the window asks too: the close is cancelled until answered.
    gui.input_mut()
        .viewports
        .entry(egui::ViewportId::ROOT)
        .or_default()
        .events
        .push(egui::ViewportEvent::Close);
    gui.step();
    let commands = &gui.output().viewport_output[&egui::ViewportId::ROOT].commands;
    assert!(
        commands.contains(&egui::ViewportCommand::CancelClose),
        "{commands:?}"
    );
    gui.run_steps(2);
    assert!(shows(&gui, "before closing the window"));
    gui.get_by_label("Discard changes").click();
    gui.step();
    let commands = &gui.output().viewport_output[&egui::ViewportId::ROOT].commands;
    assert!(
        commands.contains(&egui::ViewportCommand::Close),
        "{commands:?}"
    );
    gui.run_steps(2);
    assert!(!gui.state().editor.editing());
    assert_eq!(gui.state().editor.fields.server, "imap.example.com");

    // Discard when switching: the other profile is asked for, the edits are gone.
    let (_tmp, mut gui) = offline_window(egui::Theme::Dark);
    click(&mut gui, "Edit");
    click(&mut gui, "Delivery");
    fill(&mut gui, "Local user", "jane");
    click(&mut gui, "other");
    click(&mut gui, "Discard changes");
    assert_eq!(gui.state().selected.as_deref(), Some("other"));
    assert!(!gui.state().editor.editing());
}

#[test]
fn duplicate_copies_every_field_under_a_new_name_without_the_password() {
    let (_tmp, mut gui) = offline_window(egui::Theme::Light);
    let before = gui.state().editor.fields.clone();
    click(&mut gui, "Duplicate");
    let editor = &gui.state().editor;
    assert_eq!(
        editor.mode,
        mailpull_manager::app::Mode::Editing { original: None }
    );
    assert_eq!(editor.fields.name, "all-copy");
    assert_eq!(editor.fields.password, "");
    let mut expected = before;
    expected.name = "all-copy".into();
    assert_eq!(editor.fields, expected, "every other field copied");
    assert_eq!(
        editor
            .base
            .remote
            .as_ref()
            .and_then(|r| r.timeout.as_deref()),
        Some("90s")
    );
    assert!(gui.state().selected.is_none());
}

/// From the list: Poll all moves the mail, the check box disables and enables a profile in
/// the file, and Duplicate saves a copy through the worker with every setting of the first.
#[test]
fn list_polls_all_enables_and_duplicates_against_the_worker() {
    let rig = Rig::start();
    let mut gui = manager(&rig);
    connected(&mut gui, &rig);
    first_poll_ok(&mut gui, &rig);
    for i in 0..2 {
        rig.remote
            .add_message("isp-user", &sample_message(i, 2_000, "alice@local.test"))
            .expect("add message");
    }
    click(&mut gui, "Poll all");
    rig.local
        .wait_for_messages("alice", 2, WAIT)
        .expect("Poll all moved the mail");

    click(&mut gui, "Enabled isp");
    wait_for(&mut gui, &rig, "isp disabled", |gui| {
        gui.state()
            .profiles
            .iter()
            .any(|p| p.name == "isp" && !p.enabled)
    });
    assert!(rig.config_text().contains("enabled = false"));
    click(&mut gui, "Enabled isp");
    wait_for(&mut gui, &rig, "isp enabled again", |gui| {
        gui.state()
            .profiles
            .iter()
            .any(|p| p.name == "isp" && p.enabled)
    });

    // Duplicate from the list's right-click menu, before the profile was ever shown: it is
    // read first, then copied.
    assert_eq!(gui.state().selected, None);
    gui.get_by_label("isp").click_secondary();
    gui.run_steps(3);
    let list_right = gui.get_by_label("Poll all").rect().max.x + 120.0;
    gui.query_all_by_label("Duplicate")
        .find(|item| item.rect().min.x < list_right)
        .expect("Duplicate in the menu")
        .click();
    wait_for(&mut gui, &rig, "the copy of isp in the form", |gui| {
        gui.state().editor.fields.name == "isp-copy"
    });
    assert!(gui.state().editor.editing());
    assert_eq!(
        gui.state().editor.fields.ca_file,
        rig.ca.ca_file().display().to_string()
    );
    // One mailbox is pulled by one enabled profile: the copy pulls the second user.
    fill(&mut gui, "User", "isp-user2");
    // Closing the window asks; "Save changes" saves through the worker, then closes.
    gui.input_mut()
        .viewports
        .entry(egui::ViewportId::ROOT)
        .or_default()
        .events
        .push(egui::ViewportEvent::Close);
    gui.run_steps(3);
    assert!(shows(
        &gui,
        "Save the changes to the new profile before closing"
    ));
    click(&mut gui, "Save changes");
    wait_for(&mut gui, &rig, "the copy saved and listed", |gui| {
        shows(gui, "Saved profile \"isp-copy\"") && gui.query_by_label("isp-copy").is_some()
    });
    assert!(gui.state().close_allowed, "then the window closes");
    let text = rig.config_text();
    assert!(text.contains("name = \"isp-copy\""), "{text}");
    assert_eq!(
        text.matches("ca_file = ").count(),
        2,
        "the copy has the CA file too: {text}"
    );
}
