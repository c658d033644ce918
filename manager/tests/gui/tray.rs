//! The tray icon and a notification on a private session bus (Linux): the test runs a private
//! `dbus-daemon`, a real notification daemon (`dunst` under `Xvfb`) and acts itself as the
//! tray host (org.kde.StatusNotifierWatcher); the window, in a child process of this test
//! binary whose session bus is the private one, runs against a real worker whose profile
//! starts failing when its password file is changed to a wrong password. The host reads the
//! item's real ToolTip and Status; `dunstctl history` says what the daemon got.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dbus::blocking::Connection;
use dbus::blocking::stdintf::org_freedesktop_dbus::Properties;
use dbus::channel::{Channel, MatchingReceiver};
use dbus::message::MatchRule;
use mailpull_shared::ipc::ProfileState;

use super::{Rig, click, first_poll_ok, manager, wait_for};

const CHILD: &str = "MAILPULL_TRAY_TEST_CHILD";
const TEST: &str = "tray::tray_icon_and_notification_when_a_profile_starts_failing";

struct Kill(Vec<Child>);
impl Drop for Kill {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

type ToolTip = (String, Vec<(i32, i32, Vec<u8>)>, String, String);

/// The window's side (in the child): a failing profile, then a few seconds for the host.
fn window_side() {
    let rig = Rig::start();
    let mut gui = manager(&rig);
    let ctx = gui.ctx.clone();
    gui.state_mut().start_tray(&ctx);
    first_poll_ok(&mut gui, &rig);
    hold(&mut gui, Duration::from_secs(3)); // for the host to read "works"
    assert_eq!(
        gui.state().tray.watch.summary().heading,
        "Mailpull: the profile works"
    );
    mailpull_tests::WorkerSetup::password_file(rig._tmp.path(), "isp", "wrong-password")
        .expect("wrong password");
    click(&mut gui, "Poll all");
    wait_for(&mut gui, &rig, "the profile failing", |gui| {
        gui.state()
            .status
            .get("isp")
            .is_some_and(|s| s.state == ProfileState::Error)
    });
    hold(&mut gui, Duration::from_secs(4));
}

/// Draws frames for `time` (the window takes in updates and the tray shows them).
fn hold(gui: &mut super::Gui, time: Duration) {
    let end = Instant::now() + time;
    while Instant::now() < end {
        gui.step();
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn tray_icon_and_notification_when_a_profile_starts_failing() {
    if std::env::var_os(CHILD).is_some() {
        return window_side();
    }
    let mut kill = Kill(Vec::new());
    let mut bus = Command::new("dbus-daemon")
        .args(["--session", "--nofork", "--print-address"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("dbus-daemon (package dbus) must be installed");
    let mut line = String::new();
    BufReader::new(bus.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("bus address");
    kill.0.push(bus);
    let address = line.trim().to_string();
    let display = format!(":{}", 40 + std::process::id() % 50);
    kill.0.push(
        Command::new("Xvfb")
            .args([display.as_str(), "-screen", "0", "640x480x24"])
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb (package xvfb) must be installed"),
    );
    std::thread::sleep(Duration::from_millis(800));
    kill.0.push(
        Command::new("dunst")
            .env("DISPLAY", &display)
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .stderr(Stdio::null())
            .spawn()
            .expect("dunst (package dunst) must be installed"),
    );

    // The tray host.
    let mut channel = Channel::open_private(&address).expect("private bus");
    channel.register().expect("hello");
    let host = Connection::from(channel);
    host.request_name("org.kde.StatusNotifierWatcher", false, true, true)
        .expect("watcher name");
    let items = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = items.clone();
    host.start_receive(
        MatchRule::new_method_call(),
        Box::new(move |msg, conn| {
            use dbus::channel::Sender;
            if msg.member().as_deref() == Some("RegisterStatusNotifierItem") {
                if let Ok(name) = msg.read1::<&str>() {
                    seen.lock().expect("lock").push(name.to_string());
                }
                let _ = conn.send(msg.method_return());
            } else {
                let _ = conn.send(dbus::Message::error(
                    &msg,
                    &"org.freedesktop.DBus.Error.UnknownMethod".into(),
                    c"not here",
                ));
            }
            true
        }),
    );
    // Wait for dunst to own the notification name.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let proxy = host.with_proxy("org.freedesktop.DBus", "/", Duration::from_secs(2));
        let (owned,): (bool,) = proxy
            .method_call(
                "org.freedesktop.DBus",
                "NameHasOwner",
                ("org.freedesktop.Notifications",),
            )
            .expect("NameHasOwner");
        if owned {
            break;
        }
        assert!(Instant::now() < deadline, "dunst did not start on the bus");
        std::thread::sleep(Duration::from_millis(100));
    }

    let exe = std::env::current_exe().expect("test binary");
    let mut window = Command::new(exe)
        .args([TEST, "--exact", "--nocapture"])
        .env(CHILD, "1")
        .env("DBUS_SESSION_BUS_ADDRESS", &address)
        .spawn()
        .expect("the window's process");
    let mut tooltips = Vec::new();
    let mut statuses = Vec::new();
    let mut pixmap_sizes = Vec::new();
    let ended = loop {
        host.process(Duration::from_millis(100)).expect("process");
        let item = items.lock().expect("lock").first().cloned();
        if let Some(item) = item {
            let proxy =
                host.with_proxy(item.as_str(), "/StatusNotifierItem", Duration::from_secs(2));
            match proxy.get::<ToolTip>("org.kde.StatusNotifierItem", "ToolTip") {
                Ok(tip) if tooltips.last() != Some(&tip.2) => tooltips.push(tip.2.clone()),
                Ok(_) => {}
                Err(err) => eprintln!("host: ToolTip: {err}"),
            }
            if let Ok(status) = proxy.get::<String>("org.kde.StatusNotifierItem", "Status")
                && statuses.last() != Some(&status)
            {
                statuses.push(status);
            }
            if pixmap_sizes.is_empty()
                && let Ok(icons) = proxy
                    .get::<Vec<(i32, i32, Vec<u8>)>>("org.kde.StatusNotifierItem", "IconPixmap")
            {
                pixmap_sizes = icons
                    .iter()
                    .map(|(w, h, data)| (*w, *h, data.len()))
                    .collect();
            }
        }
        if let Some(status) = window.try_wait().expect("wait") {
            break status;
        }
    };
    assert!(ended.success(), "the window's process failed");
    assert!(
        !items.lock().expect("lock").is_empty(),
        "no item registered"
    );
    assert!(
        tooltips.iter().any(|t| t == "Mailpull: the profile works"),
        "{tooltips:?}"
    );
    assert!(
        tooltips.iter().any(|t| t == "Mailpull: 1 profile failing"),
        "{tooltips:?}"
    );
    assert!(
        statuses.iter().any(|s| s == "NeedsAttention"),
        "{statuses:?}"
    );
    assert!(
        pixmap_sizes.contains(&(32, 32, 32 * 32 * 4)),
        "{pixmap_sizes:?}"
    );

    // Shown notifications enter dunst's history once closed.
    let closed = Command::new("dunstctl")
        .arg("close-all")
        .env("DBUS_SESSION_BUS_ADDRESS", &address)
        .status()
        .expect("dunstctl");
    assert!(closed.success());
    let history = Command::new("dunstctl")
        .arg("history")
        .env("DBUS_SESSION_BUS_ADDRESS", &address)
        .output()
        .expect("dunstctl");
    let history = String::from_utf8_lossy(&history.stdout);
    assert!(
        history.contains("isp: cannot log in — the server refused the password"),
        "dunst history: {history}"
    );
    assert_eq!(
        history.matches("\"data\" : \"isp: cannot log in").count(),
        1,
        "told once (one summary): {history}"
    );
}
