//! The tray icon with the overall state, and desktop notifications when a profile starts
//! failing or needs a sign-in, or the worker goes away.
//!
//! Layout: `state` (pure: the overall state, the tooltip in words, which picture), `notices`
//! (pure: which notifications a new status list brings), `watch` (pure: the memory between
//! frames, what changed), `icon` (pure: the pictures as RGBA from Mailpull's icon, with a
//! coloured dot), `linux` (a StatusNotifierItem over the session bus with `ksni`, and
//! org.freedesktop.Notifications), `windows` (`tray-icon`, and balloons through
//! `Shell_NotifyIconW` on its icon).
//!
//! Where the desktop has no tray (no session bus, no StatusNotifierWatcher) the window works
//! as before: one info line in the log, nothing else.

pub mod icon;
#[cfg(target_os = "linux")]
mod linux;
pub mod notices;
pub mod state;
pub mod watch;
#[cfg(windows)]
mod windows;

use std::sync::mpsc::{Receiver, Sender, channel};

pub use notices::{Notice, NoticeKind};
pub use state::{IconKind, Link, Summary};
pub use watch::Watch;

/// What the tray's menu or a click on it asks the window for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrayEvent {
    /// Bring the window to the front.
    Open,
    PollAll,
    Quit,
}

/// The desktop's side: shows a summary, shows a notification. Never blocks the UI thread.
pub(crate) trait Shell {
    fn show(&mut self, summary: &Summary);
    fn notify(&mut self, notice: &Notice);
}

/// The tray and notifications of the window: the pure [`Watch`] plus the desktop's side, once
/// [`Tray::start`] found one.
pub struct Tray {
    pub watch: Watch,
    shell: Option<Box<dyn Shell>>,
    events: Receiver<TrayEvent>,
    sender: Sender<TrayEvent>,
}

impl Default for Tray {
    fn default() -> Self {
        let (sender, events) = channel();
        Tray {
            watch: Watch::default(),
            shell: None,
            events,
            sender,
        }
    }
}

impl Tray {
    /// Puts the icon in the desktop's tray and readies notifications; `ctx` is woken for each
    /// click on the tray. Where the desktop offers neither, logs one info line.
    pub fn start(&mut self, ctx: &egui::Context) {
        if self.shell.is_some() {
            return;
        }
        self.shell = platform_shell(ctx, self.sender.clone());
        match self.shell.as_mut() {
            // What the window already knows (frames may have run before).
            Some(shell) => shell.show(&self.watch.summary()),
            None => tracing::info!("no tray icon or desktop notifications on this desktop"),
        }
    }

    /// The desktop's side is there.
    pub fn started(&self) -> bool {
        self.shell.is_some()
    }

    /// Shows what changed since the last call; notifications only when `notify`.
    pub fn refresh(&mut self, notify: bool) {
        let step = self.watch.take();
        let Some(shell) = self.shell.as_mut() else {
            return;
        };
        if let Some(summary) = &step.summary {
            shell.show(summary);
        }
        if notify {
            for notice in &step.notices {
                shell.notify(notice);
            }
        }
    }

    /// The clicks and menu choices since the last call.
    pub fn events(&self) -> Vec<TrayEvent> {
        self.events.try_iter().collect()
    }
}

#[cfg(target_os = "linux")]
fn platform_shell(ctx: &egui::Context, sender: Sender<TrayEvent>) -> Option<Box<dyn Shell>> {
    Some(Box::new(linux::LinuxShell::start(ctx.clone(), sender)))
}

#[cfg(windows)]
fn platform_shell(ctx: &egui::Context, sender: Sender<TrayEvent>) -> Option<Box<dyn Shell>> {
    match windows::WindowsShell::start(ctx.clone(), sender) {
        Ok(shell) => Some(Box::new(shell)),
        Err(why) => {
            tracing::info!("no tray icon: {why}");
            None
        }
    }
}

#[cfg(not(any(target_os = "linux", windows)))]
fn platform_shell(_ctx: &egui::Context, _sender: Sender<TrayEvent>) -> Option<Box<dyn Shell>> {
    None
}

#[cfg(test)]
mod tests;
