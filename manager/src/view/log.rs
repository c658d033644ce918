//! The live log panel: local time, the profile and the event in plain words, coloured by
//! level and wrapped at the panel's edge; filter by profile, level and search text, pause,
//! copy, clear, open the log file.

use egui::{Color32, RichText, Visuals};

use crate::app::{Action, ManagerApp};
use crate::log::Level;

/// Lines drawn at most (the newest that match); older ones are in the log file.
pub const SHOWN_LINES: usize = 1000;

/// The colour of a line of `level` on `visuals`' panels: red errors, amber warnings, the
/// normal text otherwise; each readable (4.5:1) on the dark and the light theme.
pub fn level_colour(level: Option<Level>, visuals: &Visuals) -> Color32 {
    match (level, visuals.dark_mode) {
        (Some(Level::Error), true) => Color32::from_rgb(255, 120, 110),
        (Some(Level::Error), false) => Color32::from_rgb(180, 20, 20),
        (Some(Level::Warn), true) => Color32::from_rgb(235, 180, 70),
        (Some(Level::Warn), false) => Color32::from_rgb(140, 80, 0),
        _ => visuals.text_color(),
    }
}

pub fn show(app: &mut ManagerApp, ui: &mut egui::Ui, actions: &mut Vec<Action>) {
    ui.add_space(4.0);
    ui.horizontal_wrapped(|ui| {
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
        let label = ui.label("Search");
        ui.add(
            egui::TextEdit::singleline(&mut filter.search)
                .hint_text("words in the lines")
                .desired_width(160.0),
        )
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
    let skip = lines.len().saturating_sub(SHOWN_LINES);
    egui::ScrollArea::vertical()
        .id_salt("log_lines")
        .auto_shrink([false, false])
        .stick_to_bottom(true)
        .show(ui, |ui| {
            if skip > 0 {
                ui.label(format!(
                    "{skip} older matching lines are not shown here; they are in the log file."
                ));
            }
            for line in &lines[skip..] {
                let colour = level_colour(line.level, ui.visuals());
                let text = RichText::new(line.shown()).monospace().color(colour);
                ui.add(egui::Label::new(text).wrap());
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::contrast_ratio;

    #[test]
    fn every_level_reads_at_wcag_aa_in_both_themes() {
        for visuals in [Visuals::dark(), Visuals::light()] {
            for level in Level::ALL {
                let colour = level_colour(Some(level), &visuals);
                let ratio = contrast_ratio(colour, visuals.panel_fill);
                assert!(
                    ratio >= 4.5,
                    "{level:?} dark={}: {ratio:.2}:1",
                    visuals.dark_mode
                );
            }
        }
    }
}
