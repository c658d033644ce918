//! Drawing: each view reads the state and returns [`Action`]s; [`show`] applies them after
//! the frame is drawn. Every input carries an accessible name (its visible label).
//!
//! - [`profiles`]: the left panel (profiles with status light, last and next poll).
//! - [`form`]: the centre (buttons, messages, connection test report, the profile form).
//! - [`log`]: the live log at the bottom.
//! - [`status`]: the status bar (connected or not, start the worker).
//! - [`held`]: the Held page of the selected profile (its held messages and their actions).
//! - [`sign_in`]: the OAuth sign-in dialog (code and link, or the browser).
//! - [`history`]: the History page of the selected profile (totals, chart, last deliveries).
//! - [`route`]: the routing preview (a message in, its local mailboxes and why out).
//! - [`import`]: the File menu and its Import dialog (fetchmailrc, getmailrc).
//! - [`wizard`]: the first-run wizard, in the centre instead of the form while it is open.

mod form;
mod held;
mod history;
mod import;
mod log;
mod profiles;
mod route;
mod sign_in;
mod status;
mod wizard;

use std::time::Duration;

use crate::app::{Action, ManagerApp, Page, Pending, SETTINGS_KEY};

pub use form::{contrast_ratio, label_colour, value_colour};

/// The window's title.
pub const TITLE: &str = "Mailpull — Pull Manager";

/// Draws one frame and applies what it asked for.
pub fn show(app: &mut ManagerApp, ui: &mut egui::Ui) {
    app.attach(ui.ctx());
    app.poll_updates();
    // Solid scroll bars: a part that does not fit shows that it scrolls.
    ui.style_mut().spacing.scroll = egui::style::ScrollStyle::solid();
    let mut actions = Vec::new();
    if ui.ctx().input(|i| i.viewport().close_requested()) {
        actions.push(Action::CloseRequested);
    }
    dropped(ui.ctx(), &mut actions);
    tray_events(app, ui.ctx(), &mut actions);
    if app.close_now {
        app.close_now = false;
        ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
    }
    egui::Panel::top("title").show(ui, |ui| {
        ui.horizontal(|ui| {
            import::menu(ui, app, &mut actions);
            ui.heading(TITLE);
            ui.weak(format!("configuration {}", app.config_path.display()));
            theme_choice(ui);
        });
    });
    egui::Panel::bottom("status_bar").show(ui, |ui| status::show(app, ui, &mut actions));
    egui::Panel::bottom("log")
        .resizable(true)
        .default_size(210.0)
        .min_size(90.0)
        .show(ui, |ui| log::show(app, ui, &mut actions));
    egui::Panel::left("profiles")
        .resizable(true)
        .default_size(290.0)
        .min_size(160.0)
        .show(ui, |ui| profiles::show(app, ui, &mut actions));
    egui::CentralPanel::default_margins().show(ui, |ui| {
        if app.wizard.is_some() {
            return wizard::show(app, ui, &mut actions);
        }
        form::top(app, ui, &mut actions);
        match page_bar(app, ui, &mut actions) {
            Page::Held => held::show(app, ui, &mut actions),
            Page::History => history::show(app, ui, &mut actions),
            Page::Route => route::show(app, ui, &mut actions),
            Page::Profile => form::show(app, ui),
        }
    });
    if let Some(name) = app.confirm_delete.clone() {
        confirm_delete(ui.ctx(), &name, &mut actions);
    }
    if let Some(id) = app.confirm_held_delete.clone() {
        held::confirm_delete(ui.ctx(), app, &id, &mut actions);
    }
    if app.ask_unsaved {
        unsaved(ui.ctx(), app, &mut actions);
    }
    if let Some(dialog) = app.import.as_mut() {
        import::dialog(ui.ctx(), dialog, &mut actions);
    }
    if let Some(sign_in) = &app.sign_in {
        sign_in::show(ui.ctx(), sign_in, &mut actions);
    }
    app.apply(actions, ui.ctx());
    // Relative times ("in 4 min") and the connection state move on their own.
    ui.ctx().request_repaint_after(Duration::from_secs(1));
}

/// "Profile" and "Held messages (N)" under the buttons, for a saved profile; returns the page
/// to draw (always the form while a new profile is edited).
fn page_bar(app: &ManagerApp, ui: &mut egui::Ui, actions: &mut Vec<Action>) -> Page {
    let Some(name) = app.selected.as_deref() else {
        return Page::Profile;
    };
    let count = crate::held::count_for(&app.held, name);
    ui.horizontal(|ui| {
        if ui
            .selectable_label(app.page == Page::Profile, "Profile")
            .clicked()
        {
            actions.push(Action::ShowPage(Page::Profile));
        }
        // Orange while not selected; the selection's own colours when selected (readable).
        let text = if count > 0 && app.page != Page::Held {
            egui::RichText::new(format!("Held messages ({count})"))
                .color(held::held_colour(ui.visuals()))
        } else if count > 0 {
            egui::RichText::new(format!("Held messages ({count})"))
        } else {
            egui::RichText::new("Held messages")
        };
        if ui
            .selectable_label(app.page == Page::Held, text)
            .on_hover_text("Messages the worker stopped trying: they wait on the server for you")
            .clicked()
        {
            actions.push(Action::ShowPage(Page::Held));
        }
        for (page, label, hover) in [
            (
                Page::History,
                "History",
                "What this profile delivered, per day and message by message",
            ),
            (
                Page::Route,
                "Routing preview",
                "Where a message would go under this profile's routing",
            ),
        ] {
            if ui
                .selectable_label(app.page == page, label)
                .on_hover_text(hover)
                .clicked()
            {
                actions.push(Action::ShowPage(page));
            }
        }
    });
    ui.separator();
    app.page
}

/// The theme choice at the right of the title bar: follow the system (the default), light
/// or dark. egui keeps the choice with its memory, which eframe saves between runs.
fn theme_choice(ui: &mut egui::Ui) {
    ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
        let mut choice = ui.ctx().options(|o| o.theme_preference);
        let before = choice;
        // Right to left: the last drawn is the leftmost.
        ui.selectable_value(&mut choice, egui::ThemePreference::Dark, "Dark");
        ui.selectable_value(&mut choice, egui::ThemePreference::Light, "Light");
        ui.selectable_value(&mut choice, egui::ThemePreference::System, "System theme")
            .on_hover_text("Light or dark as the system is set");
        if choice != before {
            ui.ctx().set_theme(choice);
        }
    });
}

/// A file dropped on the window goes to the routing preview.
fn dropped(ctx: &egui::Context, actions: &mut Vec<Action>) {
    for file in ctx.input(|i| i.raw.dropped_files.clone()) {
        actions.push(Action::DroppedFile(file.path().to_path_buf()));
    }
}

fn confirm_delete(ctx: &egui::Context, name: &str, actions: &mut Vec<Action>) {
    let modal = egui::Modal::new(egui::Id::unique("confirm_delete")).show(ctx, |ui| {
        ui.set_width(360.0);
        ui.heading("Delete profile?");
        ui.label(format!(
            "Delete the profile \"{name}\" from the configuration? Its password is removed from \
             the keyring; mail already delivered stays where it is."
        ));
        ui.add_space(8.0);
        ui.horizontal(|ui| {
            if ui.button("Yes, delete").clicked() {
                actions.push(Action::ConfirmDelete);
            }
            if ui.button("Keep it").clicked() {
                actions.push(Action::CancelDelete);
            }
        });
    });
    if modal.should_close() {
        actions.push(Action::CancelDelete);
    }
}

/// "Unsaved changes": Save, Discard or Cancel before showing another profile or closing.
fn unsaved(ctx: &egui::Context, app: &ManagerApp, actions: &mut Vec<Action>) {
    let name = match &app.editor.mode {
        crate::app::Mode::Editing {
            original: Some(name),
        } => format!("\"{name}\""),
        _ => "the new profile".to_string(),
    };
    let then = match &app.pending {
        Some(Pending::Close) => "before closing the window".to_string(),
        Some(Pending::Select(next)) => format!("before showing \"{next}\""),
        None => String::new(),
    };
    let modal = egui::Modal::new(egui::Id::unique("unsaved_changes")).show(ctx, |ui| {
        ui.set_width(380.0);
        ui.heading("Unsaved changes");
        ui.label(format!("Save the changes to {name} {then}?"));
        ui.add_space(8.0);
        ui.horizontal(|ui| {
            if ui.button("Save changes").clicked() {
                actions.push(Action::SavePending);
            }
            if ui.button("Discard changes").clicked() {
                actions.push(Action::DiscardPending);
            }
            if ui.button("Keep editing").clicked() {
                actions.push(Action::CancelPending);
            }
        });
    });
    if modal.should_close() {
        actions.push(Action::CancelPending);
    }
}

impl eframe::App for ManagerApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        show(self, ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, SETTINGS_KEY, &self.settings);
    }
}

/// What the tray asked for: the window to the front, Poll all, Quit.
fn tray_events(app: &ManagerApp, ctx: &egui::Context, actions: &mut Vec<Action>) {
    for event in app.tray.events() {
        match event {
            crate::tray::TrayEvent::Open => {
                ctx.send_viewport_cmd(egui::ViewportCommand::Visible(true));
                ctx.send_viewport_cmd(egui::ViewportCommand::Minimized(false));
                ctx.send_viewport_cmd(egui::ViewportCommand::Focus);
            }
            crate::tray::TrayEvent::PollAll => actions.push(Action::PollAll),
            crate::tray::TrayEvent::Quit => actions.push(Action::Quit),
        }
    }
}

/// A status light: a filled circle (drawn, so no font needs the glyph).
pub fn dot(ui: &mut egui::Ui, colour: egui::Color32) {
    let (rect, _) = ui.allocate_exact_size(egui::vec2(14.0, 14.0), egui::Sense::hover());
    ui.painter().circle_filled(rect.center(), 6.0, colour);
}

/// "3 min ago" / "in 4 min" from Unix seconds.
pub fn relative_time(secs: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (delta, future) = if secs >= now {
        (secs - now, true)
    } else {
        (now - secs, false)
    };
    let amount = if delta < 60 {
        format!("{delta} s")
    } else if delta < 3600 {
        format!("{} min", delta / 60)
    } else if delta < 86_400 {
        format!("{} h {} min", delta / 3600, delta % 3600 / 60)
    } else {
        format!("{} d", delta / 86_400)
    };
    if future {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

/// "4 min 10 s" until `at` (0 s once passed).
pub fn relative_time_left(at: std::time::Instant) -> String {
    let left = at
        .saturating_duration_since(std::time::Instant::now())
        .as_secs();
    if left < 60 {
        format!("{left} s")
    } else {
        format!("{} min {} s", left / 60, left % 60)
    }
}
