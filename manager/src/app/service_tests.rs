//! The status bar's service awareness drawn with egui_kittest: a window whose worker does not
//! answer, with the service manager (Windows) or the unit files (Linux) stood in for by a
//! probe, and the texts a connected worker's run mode gives.

use std::path::Path;
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use mailpull_shared::ipc::{Endpoint, RunMode};

use super::*;
use crate::backend::Update;
use crate::service::{Host, Probe, ServiceState};

type Gui = Harness<'static, ManagerApp>;

fn window(dir: &tempfile::TempDir, probe: Probe) -> Gui {
    let endpoint = Endpoint::for_config(&dir.path().join("mailpull.toml"));
    let app = ManagerApp::with_probe(endpoint, Settings::default(), probe).expect("app");
    Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_ui_state(|ui, app: &mut ManagerApp| crate::view::show(app, ui), app)
}

fn shows(gui: &Gui, text: &str) -> bool {
    gui.query_all_by_label_contains(text).next().is_some()
}

/// Steps the window until `check` holds (the pipe thread reports on its own).
fn wait_for(gui: &mut Gui, what: &str, check: impl Fn(&Gui) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        gui.step();
        if check(gui) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stopped_service(_: &Path) -> Host {
    Host::WindowsService {
        state: Ok(ServiceState::Stopped),
    }
}

fn running_service(_: &Path) -> Host {
    Host::WindowsService {
        state: Ok(ServiceState::Running),
    }
}

fn installed_unit(_: &Path) -> Host {
    Host::SystemdUnit {
        unit: "mailpull.service".into(),
    }
}

fn nobody(_: &Path) -> Host {
    Host::Nobody
}

#[test]
fn a_stopped_service_offers_start_service_and_never_start_worker() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut gui = window(&dir, stopped_service);
    wait_for(&mut gui, "the service's state", |gui| {
        shows(gui, "Disconnected: the Mailpull service is stopped")
    });
    assert!(gui.query_by_label("Start service").is_some());
    assert!(gui.query_by_label("Start worker").is_none());
    assert!(gui.query_by_label("Stop service").is_none());
    // Asked for anyway (a stale button, a shortcut): refused in words, nothing started.
    let ctx = gui.ctx.clone();
    gui.state_mut().apply(vec![Action::StartWorker], &ctx);
    assert_eq!(gui.state().started_worker, None);
    let notice = gui.state().notice.clone().expect("a notice");
    assert!(
        notice.error
            && notice
                .text
                .contains("Not starting a worker: the Mailpull service"),
        "{notice:?}"
    );
    // Start service asks Windows for elevation; this system has no service manager to ask,
    // and says so.
    gui.get_by_label("Start service").click();
    wait_for(&mut gui, "the outcome of Start service", |gui| {
        gui.state()
            .notice
            .as_ref()
            .is_some_and(|n| n.text.contains("this system has none"))
    });
}

#[test]
fn a_running_service_that_does_not_answer_offers_stop_and_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut gui = window(&dir, running_service);
    wait_for(&mut gui, "the service's state", |gui| {
        shows(gui, "the Mailpull service is running but does not answer")
    });
    assert!(gui.query_by_label("Stop service").is_some());
    assert!(gui.query_by_label("Restart service").is_some());
    assert!(gui.query_by_label("Start worker").is_none());
}

#[test]
fn an_installed_unit_for_the_system_config_says_how_to_start_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut gui = window(&dir, installed_unit);
    wait_for(&mut gui, "the unit", |gui| {
        shows(gui, "sudo systemctl start mailpull.service")
    });
    assert!(gui.query_by_label("Start worker").is_none());
    assert!(gui.query_by_label("Start service").is_none());
}

#[test]
fn with_nothing_installed_start_worker_is_offered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut gui = window(&dir, nobody);
    wait_for(&mut gui, "no worker", |gui| {
        shows(
            gui,
            "Disconnected: no worker is running for this configuration",
        )
    });
    assert!(gui.query_by_label("Start worker").is_some());
}

#[test]
fn a_connected_worker_says_how_it_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut gui = window(&dir, nobody);
    // The pipe thread's own report first, so it cannot overwrite the answers played below.
    wait_for(&mut gui, "no worker", |gui| {
        shows(
            gui,
            "Disconnected: no worker is running for this configuration",
        )
    });
    let connect = |gui: &mut Gui, run_mode: RunMode| {
        gui.state_mut().apply_update(Update::Connected {
            worker: "mailpull-worker 0.1.0".into(),
            log_dir: None,
            run_mode,
        });
        gui.run_steps(2);
    };
    connect(&mut gui, RunMode::WindowsService);
    assert!(shows(
        &gui,
        "Served by the Mailpull service — mailpull-worker 0.1.0"
    ));
    // The service itself answers: Stop and Restart are offered, Start is not.
    assert!(gui.query_by_label("Restart service").is_some());
    assert!(gui.query_by_label("Start service").is_none());
    connect(
        &mut gui,
        RunMode::Systemd {
            unit: Some("mailpull.service".into()),
        },
    );
    assert!(shows(&gui, "Served by the systemd unit mailpull.service"));
    assert!(gui.query_by_label("Restart service").is_none());
    gui.state_mut().started_worker = Some(4242);
    connect(&mut gui, RunMode::Manager { pid: 4242 });
    assert!(shows(
        &gui,
        "Served by a worker this window started (process 4242)"
    ));
    connect(&mut gui, RunMode::Foreground { pid: 99 });
    assert!(shows(
        &gui,
        "Served by a worker started from a terminal (process 99)"
    ));
}
