//! The live log panel: filter by profile and level, pause, copy, clear, open the log file.

use egui::{Color32, RichText};

use crate::app::{Action, ManagerApp};
use crate::log::Level;

fn colour(level: Option<Level>) -> Option<Color32> {
    match level {
        Some(Level::Error) => Some(Color32::from_rgb(220, 60, 60)),
        Some(Level::Warn) => Some(Color32::from_rgb(210, 150, 30)),
        Some(Level::Debug | Level::Trace) => Some(Color32::GRAY),
        _ => None,
    }
}

pub fn show(app: &mut ManagerApp, ui: &mut egui::Ui, actions: &mut Vec<Action>) {
    ui.add_space(4.0);
    ui.horizontal(|ui| {
        ui.strong("Live log");
        ui.separator();
        let filter = &mut app.settings.log_filter;
        let shown = filter
            .profile
            .clone()
            .unwrap_or_else(|| "all profiles".into());
        let label = ui.label("Profile");
        egui::ComboBox::from_id_salt("log_profile")
            .selected_text(shown)
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut filter.profile, None, "all profiles");
                for profile in &app.profiles {
                    ui.selectable_value(
                        &mut filter.profile,
                        Some(profile.name.clone()),
                        profile.name.as_str(),
                    );
                }
            })
            .response
            .labelled_by(label.id);
        let label = ui.label("Level");
        egui::ComboBox::from_id_salt("log_level")
            .selected_text(filter.level.as_str())
            .show_ui(ui, |ui| {
                for level in Level::ALL {
                    ui.selectable_value(&mut filter.level, level, level.as_str());
                }
            })
            .response
            .labelled_by(label.id);
        ui.separator();
        let mut paused = app.log.paused();
        let pause_text = if paused && app.log.held() > 0 {
            format!("Pause ({} waiting)", app.log.held())
        } else {
            "Pause".to_string()
        };
        if ui.toggle_value(&mut paused, pause_text).changed() {
            actions.push(Action::SetPaused(paused));
        }
        if ui
            .button("Copy")
            .on_hover_text("Copy the shown lines")
            .clicked()
        {
            actions.push(Action::CopyLog);
        }
        if ui.button("Clear").clicked() {
            actions.push(Action::ClearLog);
        }
        let open = ui.add_enabled(app.log_dir.is_some(), egui::Button::new("Open log file"));
        let open = match &app.log_dir {
            Some(dir) => {
                open.on_hover_text(format!("Opens the newest log file in {}", dir.display()))
            }
            None => open.on_disabled_hover_text("The worker has not said where its log is"),
        };
        if open.clicked() {
            actions.push(Action::OpenLog);
        }
    });
    ui.separator();
    let filter = app.settings.log_filter.clone();
    let lines: Vec<_> = app.log.visible(&filter).collect();
    if lines.is_empty() {
        // Fill the panel anyway, or egui would remember it at the height of this one line.
        egui::ScrollArea::vertical()
            .id_salt("log_empty")
            .auto_shrink([false, false])
            .show(ui, |ui| {
                ui.weak("No log lines yet; they appear here as the worker writes them.");
            });
        return;
    }
    let row_height = ui.text_style_height(&egui::TextStyle::Monospace);
    egui::ScrollArea::both()
        .id_salt("log_lines")
        .auto_shrink([false, false])
        .stick_to_bottom(true)
        .show_rows(ui, row_height, lines.len(), |ui, rows| {
            for line in &lines[rows] {
                let mut text = RichText::new(&line.text).monospace();
                if let Some(colour) = colour(line.level) {
                    text = text.color(colour);
                }
                ui.add(egui::Label::new(text).wrap_mode(egui::TextWrapMode::Extend));
            }
        });
}
