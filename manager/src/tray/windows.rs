//! Windows: the icon in the notification area (`tray-icon`, on the UI thread, whose message
//! loop eframe runs), a left click opens the window, the menu has Open Pull Manager, Poll all
//! and Quit. Notifications are the icon's own balloons (`Shell_NotifyIconW` with `NIF_INFO`
//! on the tray's window), which Windows 10/11 show as toasts of the program: no AUMID or
//! Start menu registration needed.
#![allow(unsafe_code)] // Shell_NotifyIconW with a NOTIFYICONDATAW.

use std::collections::HashMap;
use std::sync::mpsc::Sender;

use tray_icon::menu::{Menu, MenuEvent, MenuItem, PredefinedMenuItem};
use tray_icon::{MouseButton, MouseButtonState, TrayIcon, TrayIconAttributes, TrayIconEvent};
use windows_sys::Win32::UI::Shell::{
    NIF_INFO, NIIF_INFO, NIIF_WARNING, NIM_MODIFY, NOTIFYICONDATAW, Shell_NotifyIconW,
};

use super::icon::picture;
use super::state::{IconKind, Summary};
use super::{Notice, NoticeKind, Shell, TrayEvent};

/// tray-icon numbers its icons from 1 in creation order; the window has exactly one, made
/// with an explicit id (an id made by tray-icon would take a number first).
const ICON_UID: u32 = 1;
const SIZE: u32 = 32;

pub struct WindowsShell {
    icon: TrayIcon,
    pictures: HashMap<IconKind, tray_icon::Icon>,
}

/// `text` as UTF-16 in a fixed, NUL-terminated field (cut to fit).
fn wide<const N: usize>(text: &str) -> [u16; N] {
    let mut out = [0u16; N];
    for (slot, unit) in out.iter_mut().zip(text.encode_utf16().take(N - 1)) {
        *slot = unit;
    }
    out
}

impl WindowsShell {
    pub fn start(ctx: egui::Context, sender: Sender<TrayEvent>) -> Result<WindowsShell, String> {
        let mut pictures = HashMap::new();
        for kind in [
            IconKind::Fine,
            IconKind::Attention,
            IconKind::Failing,
            IconKind::Stopped,
        ] {
            let rgba = picture(kind, SIZE)?;
            let icon = tray_icon::Icon::from_rgba(rgba.pixels, rgba.size, rgba.size)
                .map_err(|e| e.to_string())?;
            pictures.insert(kind, icon);
        }
        let menu = Menu::new();
        let open = MenuItem::new("Open Pull Manager", true, None);
        let poll = MenuItem::new("Poll all", true, None);
        let quit = MenuItem::new("Quit", true, None);
        menu.append_items(&[&open, &poll, &PredefinedMenuItem::separator(), &quit])
            .map_err(|e| e.to_string())?;
        let ids = [
            (open.id().clone(), TrayEvent::Open),
            (poll.id().clone(), TrayEvent::PollAll),
            (quit.id().clone(), TrayEvent::Quit),
        ];
        let (menu_sender, menu_ctx) = (sender.clone(), ctx.clone());
        MenuEvent::set_event_handler(Some(move |event: MenuEvent| {
            if let Some((_, what)) = ids.iter().find(|(id, _)| *id == event.id) {
                let _ = menu_sender.send(*what);
                menu_ctx.request_repaint();
            }
        }));
        TrayIconEvent::set_event_handler(Some(move |event: TrayIconEvent| {
            if let TrayIconEvent::Click {
                button: MouseButton::Left,
                button_state: MouseButtonState::Up,
                ..
            } = event
            {
                let _ = sender.send(TrayEvent::Open);
                ctx.request_repaint();
            }
        }));
        let summary = super::state::summarize(super::Link::Connecting, &[]);
        let attrs = TrayIconAttributes {
            tooltip: Some(summary.tooltip()),
            menu: Some(Box::new(menu)),
            icon: pictures.get(&summary.icon).cloned(),
            menu_on_left_click: false,
            ..Default::default()
        };
        let icon = TrayIcon::with_id("mailpull", attrs).map_err(|e| e.to_string())?;
        tracing::info!("tray icon shown (notification area)");
        Ok(WindowsShell { icon, pictures })
    }
}

impl Shell for WindowsShell {
    fn show(&mut self, summary: &Summary) {
        let _ = self
            .icon
            .set_icon(self.pictures.get(&summary.icon).cloned());
        // The tooltip holds at most 127 characters; the heading comes first.
        let _ = self.icon.set_tooltip(Some(summary.tooltip()));
    }

    fn notify(&mut self, notice: &Notice) {
        // SAFETY: a zeroed NOTIFYICONDATAW is valid (all integers, arrays and null handles);
        // the fields set are plain values and the call only reads the struct.
        let shown = unsafe {
            let mut data: NOTIFYICONDATAW = std::mem::zeroed();
            data.cbSize = std::mem::size_of::<NOTIFYICONDATAW>() as u32;
            data.hWnd = self.icon.window_handle();
            data.uID = ICON_UID;
            data.uFlags = NIF_INFO;
            data.szInfoTitle = wide::<64>(&notice.title);
            data.szInfo = wide::<256>(&notice.body);
            data.dwInfoFlags = match notice.kind {
                NoticeKind::Failing | NoticeKind::WorkerGone => NIIF_WARNING,
                NoticeKind::SignIn => NIIF_INFO,
            };
            Shell_NotifyIconW(NIM_MODIFY, &data)
        };
        if shown == 0 {
            tracing::info!("desktop notification not shown: {}", notice.title);
        } else {
            tracing::info!("desktop notification shown: {}", notice.title);
        }
    }
}
