//! The History page and the routing preview drawn with egui_kittest from fake worker answers
//! (the same [`Update`]s the pipe thread sends), in both themes.

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use mailpull_shared::ipc::history::{DAYS, DayCount, Delivery, Tally};
use mailpull_shared::ipc::route::RouteTarget;
use mailpull_shared::ipc::{Endpoint, History, ProfileSummary, RoutePreview};

use super::*;
use crate::backend::{HistoryUpdate, Update};

fn summary(name: &str) -> ProfileSummary {
    ProfileSummary {
        name: name.into(),
        enabled: true,
        protocol: "pop3".into(),
        host: "pop.example.com".into(),
        port: 995,
        username: "catch".into(),
        local_address: "postmaster@example.org".into(),
        multi_drop: true,
        password_source: "keyring".into(),
    }
}

/// A window with no worker, on profile "all".
fn window(dir: &tempfile::TempDir, page: Page) -> ManagerApp {
    let endpoint = Endpoint::for_config(&dir.path().join("mailpull.toml"));
    let mut app = ManagerApp::with_endpoint(endpoint, Settings::default()).expect("app");
    app.profiles = vec![summary("all"), summary("other")];
    app.selected = Some("all".into());
    app.page = page;
    app
}

fn fake_history() -> History {
    let today = 20_426;
    History {
        profile: "all".into(),
        today: Tally {
            messages: 3,
            bytes: 3 * 2048,
        },
        week: Tally {
            messages: 11,
            bytes: 11 * 2048,
        },
        all: Tally {
            messages: 250,
            bytes: 4_000_000,
        },
        failing: 2,
        held: 1,
        per_day: (today - (DAYS - 1)..=today)
            .map(|day| DayCount {
                day,
                messages: (day % 7) as u64,
            })
            .collect(),
        recent: (0..100)
            .map(|n| Delivery {
                at: 1_764_849_600 - n * 600,
                from: format!("Sender {n} <sender{n}@example.com>"),
                subject: format!("Invoice {n}"),
                recipients: "bob@example.org".into(),
                reply: format!("250 2.0.0 Ok: queued as 4X{n}"),
                bytes: 2048,
            })
            .collect(),
    }
}

fn harness(app: ManagerApp, theme: egui::Theme) -> Harness<'static, ManagerApp> {
    let mut gui = Harness::builder()
        .with_size(egui::vec2(1100.0, 760.0))
        .with_theme(theme)
        .build_ui_state(|ui, app: &mut ManagerApp| crate::view::show(app, ui), app);
    gui.run_steps(3);
    gui
}

/// A file dropped on the window, as the windowing layer hands it to egui.
#[derive(Debug)]
struct Dropped(std::path::PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &std::path::Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|err| err.to_string())
    }
}

fn shows(gui: &Harness<'_, ManagerApp>, text: &str) -> bool {
    gui.query_all_by_label_contains(text).next().is_some()
}

#[test]
fn the_history_page_shows_totals_failures_the_chart_and_the_last_deliveries() {
    for theme in [egui::Theme::Dark, egui::Theme::Light] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut app = window(&dir, Page::History);
        app.history.profile = Some("all".into());
        app.apply_update(Update::History(HistoryUpdate::History {
            profile: "all".into(),
            result: Ok(fake_history()),
        }));
        let mut gui = harness(app, theme);
        assert!(shows(&gui, "History of \"all\""));
        assert!(shows(&gui, "3 messages, 6.0 KB"), "today");
        assert!(shows(&gui, "11 messages, 22 KB"), "7 days");
        assert!(shows(&gui, "250 messages, 3.8 MB"), "all");
        assert!(shows(&gui, "2, of which 1 held"), "failing");
        // day % 7 peaks at 6 on the last such day of the 30.
        assert!(
            shows(
                &gui,
                "Messages delivered per day, last 30 days (most: 6 on 3 Dec)"
            ),
            "chart title"
        );
        assert!(shows(&gui, "Last deliveries (100 shown, newest first)"));
        for text in [
            "Sender 0 <sender0@example.com>",
            "Invoice 0",
            "250 2.0.0 Ok: queued as 4X0",
        ] {
            assert!(shows(&gui, text), "{text}");
        }
        assert!(gui.query_all_by_label("bob@example.org").count() > 3);
        // The last rows are reached by scrolling, not drawn below the log.
        let log_top = gui.get_by_label("Live log").rect().min.y;
        let first = gui.get_by_label("Invoice 0").rect();
        assert!(first.max.y < log_top, "{theme:?}: first row at {first:?}");
        // Another profile's answer does not replace this one's.
        gui.state_mut()
            .apply_update(Update::History(HistoryUpdate::History {
                profile: "other".into(),
                result: Err("no".into()),
            }));
        gui.run_steps(2);
        assert!(shows(&gui, "Invoice 0"));
        // An error reads as one.
        gui.state_mut()
            .apply_update(Update::History(HistoryUpdate::History {
                profile: "all".into(),
                result: Err("bad request: unknown variant `history`".into()),
            }));
        gui.run_steps(2);
        assert!(shows(&gui, "The history could not be read: bad request"));
    }
}

#[test]
fn the_routing_preview_shows_the_mailboxes_and_why_and_reads_dropped_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut app = window(&dir, Page::Route);
    app.route.running = true;
    app.apply_update(Update::History(HistoryUpdate::Route(Ok(RoutePreview {
        profile: "all".into(),
        targets: vec![
            RouteTarget {
                address: "bob@example.org".into(),
                source: "To".into(),
            },
            RouteTarget {
                address: "carol@example.org".into(),
                source: "Cc".into(),
            },
        ],
        fallback: false,
        reason: "To and Cc name local addresses".into(),
        subject: "Quarterly figures".into(),
        from: "ann@example.com".into(),
    }))));
    assert!(!app.route.running);
    let mut gui = harness(app, egui::Theme::Light);
    assert!(shows(
        &gui,
        "\"Quarterly figures\" from ann@example.com would be delivered by \"all\" to 2 mailboxes:"
    ));
    assert!(shows(&gui, "bob@example.org"));
    assert!(shows(&gui, "named in the Cc header"));
    assert!(shows(&gui, "To and Cc name local addresses"));
    // Without a worker Preview cannot be pressed, and says why.
    assert!(shows(&gui, "(needs the worker running)"));

    // A file dropped on the window: its header section becomes the draft.
    let path = dir.path().join("dropped.eml");
    std::fs::write(
        &path,
        b"From: zed@x.example\r\nTo: dave@example.org\r\n\r\nthe body",
    )
    .expect("eml");
    gui.state_mut().page = Page::Profile;
    gui.input_mut()
        .dropped_files
        .push(std::sync::Arc::new(Dropped(path.clone())));
    gui.run_steps(3);
    let app = gui.state();
    assert_eq!(app.page, Page::Route);
    assert_eq!(
        app.route.text,
        "From: zed@x.example\r\nTo: dave@example.org\r\n\r\n"
    );
    assert_eq!(app.route.path, path.display().to_string());

    // No path, or a missing file: an error in words.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut gui = harness(window(&dir, Page::Route), egui::Theme::Dark);
    gui.get_by_label("Open").click();
    gui.run_steps(3);
    assert!(shows(
        &gui,
        "No preview: type the path of a message file (.eml) first"
    ));
    let dir = tempfile::tempdir().expect("tempdir");
    let mut app = window(&dir, Page::Route);
    app.route.path = dir.path().join("gone.eml").display().to_string();
    let mut gui = harness(app, egui::Theme::Dark);
    gui.get_by_label("Open").click();
    gui.run_steps(3);
    assert!(shows(&gui, "No preview: cannot open"));
}

#[test]
fn the_theme_choice_switches_between_system_light_and_dark() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut gui = harness(window(&dir, Page::Profile), egui::Theme::Dark);
    assert!(gui.ctx.global_style().visuals.dark_mode);
    gui.get_by_label("Light").click();
    gui.run_steps(3);
    assert_eq!(
        gui.ctx.options(|o| o.theme_preference),
        egui::ThemePreference::Light
    );
    assert!(!gui.ctx.global_style().visuals.dark_mode);
    gui.get_by_label("System theme").click();
    gui.run_steps(3);
    assert_eq!(
        gui.ctx.options(|o| o.theme_preference),
        egui::ThemePreference::System
    );
}
