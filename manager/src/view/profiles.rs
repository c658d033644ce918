//! The left panel: Poll all, and every profile with a check box that enables or disables it,
//! a status light (ok, polling, error, disabled, waiting for its first poll, sign-in needed),
//! its remote mailbox, and when it polled last and polls next. A right click offers
//! Duplicate.

use egui::{Color32, RichText};
use mailpull_shared::ipc::ProfileState;

use super::relative_time;
use crate::app::{Action, ManagerApp};

/// The light of an OAuth profile that has no (valid) refresh token.
const SIGN_IN_NEEDED: Color32 = Color32::from_rgb(220, 120, 20);

/// The size of the lines under each profile's name.
const DETAIL_SIZE: f32 = 12.0;

pub fn light(state: Option<ProfileState>) -> (Color32, &'static str) {
    match state {
        Some(ProfileState::Ok) => (Color32::from_rgb(40, 160, 60), "ok"),
        Some(ProfileState::Polling) => (Color32::from_rgb(40, 110, 220), "polling"),
        Some(ProfileState::Error) => (Color32::from_rgb(210, 50, 50), "error"),
        Some(ProfileState::Disabled) => (Color32::from_gray(140), "disabled"),
        Some(ProfileState::Idle) | None => (Color32::from_rgb(200, 160, 40), "waiting"),
    }
}

pub fn show(app: &ManagerApp, ui: &mut egui::Ui, actions: &mut Vec<Action>) {
    ui.add_space(4.0);
    ui.horizontal(|ui| {
        ui.heading("Profiles");
        let any = app.profiles.iter().any(|p| p.enabled);
        if ui
            .add_enabled(
                any && app.connection.is_connected(),
                egui::Button::new("Poll all"),
            )
            .on_hover_text("Poll every enabled profile now")
            .clicked()
        {
            actions.push(Action::PollAll);
        }
    });
    ui.separator();
    if app.profiles.is_empty() {
        ui.weak(if app.connection.is_connected() {
            "No profiles yet. Press New to add one."
        } else {
            "The profiles appear once the worker is connected."
        });
        return;
    }
    if !app.connection.is_connected() {
        ui.weak("Last known state: the worker is not connected.");
    }
    egui::ScrollArea::vertical().show(ui, |ui| {
        for profile in &app.profiles {
            let status = app.status.get(&profile.name);
            let (colour, state) = match status {
                Some(status) if status.needs_sign_in => (SIGN_IN_NEEDED, "sign-in needed"),
                _ => light(status.map(|s| s.state)),
            };
            let selected = app.selected.as_deref() == Some(profile.name.as_str());
            let editing_it = app.editor.editing() && selected;
            ui.horizontal(|ui| {
                let mut enabled = profile.enabled;
                let toggle = ui
                    .add_enabled(
                        app.connection.is_connected() && !editing_it,
                        egui::Checkbox::without_text(&mut enabled),
                    )
                    .on_hover_text(if profile.enabled {
                        "Enabled: polled on its schedule. Untick to disable."
                    } else {
                        "Disabled: not polled. Tick to enable."
                    });
                let checked = profile.enabled;
                let accessible = format!("Enabled {}", profile.name);
                toggle.widget_info(|| {
                    egui::WidgetInfo::selected(
                        egui::Role::CheckBox,
                        true,
                        checked,
                        accessible.as_str(),
                    )
                });
                if toggle.changed() {
                    actions.push(Action::SetEnabled(profile.name.clone(), enabled));
                }
                super::dot(ui, colour);
                let label = RichText::new(&profile.name).strong();
                let entry = ui.selectable_label(selected, label);
                if !app.editor.editing() {
                    entry.context_menu(|ui| {
                        if ui.button("Duplicate").clicked() {
                            actions.push(Action::DuplicateOf(profile.name.clone()));
                        }
                    });
                }
                if entry
                    .on_hover_text(format!(
                        "{} {}@{}:{} to {}",
                        profile.protocol,
                        profile.username,
                        profile.host,
                        profile.port,
                        profile.local_address
                    ))
                    .clicked()
                {
                    actions.push(Action::Select(profile.name.clone()));
                }
                ui.colored_label(colour, state);
                let held = crate::held::count_for(&app.held, &profile.name);
                if held > 0 {
                    ui.label(
                        RichText::new(format!("{held} held"))
                            .strong()
                            .color(super::held::held_colour(ui.visuals())),
                    )
                    .on_hover_text("Messages that could not be delivered wait on the server");
                }
            });
            ui.indent(("details", &profile.name), |ui| {
                ui.label(
                    RichText::new(format!(
                        "{} {}:{} to {}",
                        profile.protocol.to_uppercase(),
                        profile.host,
                        profile.port,
                        profile.local_address
                    ))
                    .size(DETAIL_SIZE),
                );
                if let Some(status) = status {
                    let last = status.last_poll.map_or("never".into(), relative_time);
                    let next = status.next_poll.map_or("none".into(), relative_time);
                    ui.label(
                        RichText::new(format!(
                            "last poll {last} · next {next} · {} moved",
                            status.messages
                        ))
                        .size(DETAIL_SIZE),
                    );
                    if let Some(error) = &status.last_error {
                        ui.label(
                            RichText::new(crate::held::plain_error(error))
                                .size(DETAIL_SIZE)
                                .color(Color32::from_rgb(210, 50, 50)),
                        );
                    }
                }
            });
            ui.add_space(6.0);
        }
    });
}
