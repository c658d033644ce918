//! Linux: the tray icon as a StatusNotifierItem on the session bus (`ksni`, on the libdbus
//! binding the keyring already uses; KDE, GNOME with the AppIndicator extension, XFCE …
//! show it), and notifications through org.freedesktop.Notifications. Each runs on a thread
//! of its own; the UI thread only hands them values. No session bus or no tray host: one
//! info line, and the window goes on as before (the item registers by itself once a tray
//! host starts).

use std::collections::HashMap;
use std::sync::mpsc::{Sender, channel};
use std::time::Duration;

use dbus::arg::{RefArg, Variant};
use dbus::blocking::Connection;

use super::icon::picture;
use super::state::{IconKind, Summary};
use super::{Notice, NoticeKind, Shell, TrayEvent};

/// The sizes offered in IconPixmap; the host picks the nearest.
const SIZES: [u32; 3] = [22, 32, 64];

struct Item {
    summary: Summary,
    pictures: HashMap<IconKind, Vec<ksni::Icon>>,
    sender: Sender<TrayEvent>,
    ctx: egui::Context,
}

impl Item {
    fn send(&self, event: TrayEvent) {
        let _ = self.sender.send(event);
        self.ctx.request_repaint();
    }
}

fn pictures() -> HashMap<IconKind, Vec<ksni::Icon>> {
    let kinds = [
        IconKind::Fine,
        IconKind::Attention,
        IconKind::Failing,
        IconKind::Stopped,
    ];
    kinds
        .into_iter()
        .map(|kind| {
            let icons = SIZES
                .iter()
                .filter_map(|&size| picture(kind, size).ok())
                .map(|rgba| ksni::Icon {
                    width: rgba.size as i32,
                    height: rgba.size as i32,
                    data: rgba.to_argb(),
                })
                .collect();
            (kind, icons)
        })
        .collect()
}

/// The tooltip's description allows a little HTML: profile names are shown as text.
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

impl ksni::Tray for Item {
    fn id(&self) -> String {
        "mailpull-manager".into()
    }

    fn title(&self) -> String {
        "Mailpull".into()
    }

    fn category(&self) -> ksni::Category {
        ksni::Category::ApplicationStatus
    }

    fn status(&self) -> ksni::Status {
        match self.summary.icon {
            IconKind::Attention | IconKind::Failing => ksni::Status::NeedsAttention,
            IconKind::Fine | IconKind::Stopped => ksni::Status::Active,
        }
    }

    fn icon_pixmap(&self) -> Vec<ksni::Icon> {
        self.pictures
            .get(&self.summary.icon)
            .cloned()
            .unwrap_or_default()
    }

    fn tool_tip(&self) -> ksni::ToolTip {
        ksni::ToolTip {
            title: self.summary.heading.clone(),
            description: escaped(&self.summary.details),
            ..Default::default()
        }
    }

    fn activate(&mut self, _x: i32, _y: i32) {
        self.send(TrayEvent::Open);
    }

    fn menu(&self) -> Vec<ksni::MenuItem<Self>> {
        let item = |label: &str, event: TrayEvent| {
            ksni::menu::StandardItem {
                label: label.into(),
                activate: Box::new(move |item: &mut Item| item.send(event)),
                ..Default::default()
            }
            .into()
        };
        vec![
            item("Open Pull Manager", TrayEvent::Open),
            item("Poll all", TrayEvent::PollAll),
            ksni::MenuItem::Separator,
            item("Quit", TrayEvent::Quit),
        ]
    }

    fn watcher_offine(&self) -> bool {
        // Keep the item: it registers by itself when a tray host appears.
        tracing::info!(
            "no tray host (StatusNotifierWatcher) on the session bus; the tray icon appears \
             when one starts"
        );
        true
    }

    fn watcher_online(&self) {
        tracing::info!("tray icon shown (StatusNotifierItem registered)");
    }
}

pub struct LinuxShell {
    tray: Option<ksni::Handle<Item>>,
    notices: Sender<Notice>,
}

impl LinuxShell {
    pub fn start(ctx: egui::Context, sender: Sender<TrayEvent>) -> LinuxShell {
        let item = Item {
            summary: super::state::summarize(super::Link::Connecting, &[]),
            pictures: pictures(),
            sender,
            ctx,
        };
        let service = ksni::TrayService::new(item);
        let handle = service.handle();
        let tray = std::thread::Builder::new()
            .name("mailpull-tray".into())
            .spawn(move || {
                if let Err(err) = service.run() {
                    tracing::info!("no tray icon: the session bus is not available ({err})");
                }
            })
            .map_err(|err| tracing::info!("no tray icon: {err}"))
            .ok()
            .map(|_| handle);
        let (notices, receive) = channel::<Notice>();
        let spawned = std::thread::Builder::new()
            .name("mailpull-notify".into())
            .spawn(move || notify_loop(receive));
        if let Err(err) = spawned {
            tracing::info!("no desktop notifications: {err}");
        }
        LinuxShell { tray, notices }
    }
}

impl Shell for LinuxShell {
    fn show(&mut self, summary: &Summary) {
        if let Some(tray) = &self.tray {
            let summary = summary.clone();
            tray.update(move |item| item.summary = summary);
        }
    }

    fn notify(&mut self, notice: &Notice) {
        let _ = self.notices.send(notice.clone());
    }
}

/// Sends each notice to org.freedesktop.Notifications; the bus is opened at the first one
/// (and again after a failure), and a failure is logged once at info level.
fn notify_loop(notices: std::sync::mpsc::Receiver<Notice>) {
    let mut bus: Option<Connection> = None;
    let mut told = false;
    for notice in notices {
        if bus.is_none() {
            bus = Connection::new_session().ok();
        }
        let sent = match &bus {
            Some(conn) => send(conn, &notice).map_err(|e| e.to_string()),
            None => Err("no session bus".to_string()),
        };
        match sent {
            Ok(()) => {
                told = false;
                tracing::info!("desktop notification shown: {}", notice.title);
            }
            Err(why) => {
                bus = None;
                if !told {
                    tracing::info!("desktop notification not shown ({why}): {}", notice.title);
                    told = true;
                }
            }
        }
    }
}

fn send(conn: &Connection, notice: &Notice) -> Result<(), dbus::Error> {
    let proxy = conn.with_proxy(
        "org.freedesktop.Notifications",
        "/org/freedesktop/Notifications",
        Duration::from_secs(5),
    );
    let urgency: u8 = match notice.kind {
        NoticeKind::Failing | NoticeKind::WorkerGone => 2,
        NoticeKind::SignIn => 1,
    };
    let mut hints: HashMap<&str, Variant<Box<dyn RefArg>>> = HashMap::new();
    hints.insert("urgency", Variant(Box::new(urgency)));
    hints.insert(
        "desktop-entry",
        Variant(Box::new("mailpull-manager".to_string())),
    );
    let actions: Vec<&str> = Vec::new();
    let (_id,): (u32,) = proxy.method_call(
        "org.freedesktop.Notifications",
        "Notify",
        (
            "Mailpull",
            0u32,
            "mail-unread",
            notice.title.as_str(),
            notice.body.as_str(),
            actions,
            hints,
            -1i32,
        ),
    )?;
    Ok(())
}
