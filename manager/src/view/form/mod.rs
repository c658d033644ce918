//! The centre: the buttons, the last message, the connection test report, and the profile
//! form. The form is split into sections (Remote, Delivery, Schedule, Distribution,
//! Advanced), one shown at a time under a section bar, each in a scroll area with a solid
//! scroll bar, so nothing hides below the fold. Until New, Duplicate or Edit the profile is
//! shown as readable text, not as disabled widgets.
//!
//! Layout: `buttons` (the bar of buttons), `rows` (one row, editable or as text, and the
//! colours of the text), `remote` (the Remote section), `sections` (the other four),
//! `report` (the connection test report in plain words).

mod buttons;
mod remote;
mod report;
mod rows;
mod sections;

use crate::app::{Action, ManagerApp, Mode};
use crate::form::Section;
use egui::{Color32, RichText};
use rows::{ERROR, Rows};

pub use rows::{contrast_ratio, label_colour, value_colour};
// The wizard draws its messages and test report the way the form does.
pub(super) use report::show as report;
pub(super) use rows::ERROR as ERROR_COLOUR;

pub(super) const GOOD: Color32 = Color32::from_rgb(40, 150, 60);

/// The bar of buttons, the last message and the connection test report: over every page.
pub fn top(app: &ManagerApp, ui: &mut egui::Ui, actions: &mut Vec<Action>) {
    buttons::show(app, ui, actions);
    if let Some(notice) = &app.notice {
        let colour = if notice.error { ERROR } else { GOOD };
        ui.add(egui::Label::new(RichText::new(&notice.text).color(colour)).wrap());
    }
    report::show(app, ui, actions);
    ui.separator();
}

/// The profile form (or what to do when none is selected).
pub fn show(app: &mut ManagerApp, ui: &mut egui::Ui) {
    if app.selected.is_none() && !app.editor.editing() {
        ui.label("Select a profile on the left, or press New.");
        return;
    }
    name_row(app, ui);
    section_bar(app, ui);
    ui.separator();
    let editing = app.editor.editing();
    let is_new = app.editor.mode == (Mode::Editing { original: None });
    let section = app.editor.section;
    let editor = &mut app.editor;
    let rows = Rows {
        editing,
        problems: &editor.problems,
    };
    let f = &mut editor.fields;
    egui::ScrollArea::vertical()
        .id_salt(("form", section.title()))
        .auto_shrink([false, false])
        .scroll_bar_visibility(egui::scroll_area::ScrollBarVisibility::VisibleWhenNeeded)
        .show(ui, |ui| {
            egui::Grid::new(("profile_form", section.title()))
                .num_columns(2)
                .spacing([12.0, 6.0])
                .min_col_width(130.0)
                .show(ui, |ui| match section {
                    Section::Remote => remote::show(&rows, ui, f, is_new),
                    Section::Delivery => sections::delivery(&rows, ui, f),
                    Section::Schedule => sections::schedule(&rows, ui, f),
                    Section::Distribution => sections::distribution(&rows, ui, f),
                    Section::Advanced => sections::advanced(&rows, ui, f),
                });
        });
}

/// The profile's name and whether it is enabled, above every section.
fn name_row(app: &mut ManagerApp, ui: &mut egui::Ui) {
    let editor = &mut app.editor;
    match &editor.mode {
        Mode::Viewing => {
            let state = if editor.fields.enabled {
                "enabled"
            } else {
                "disabled"
            };
            ui.horizontal(|ui| {
                ui.label(
                    RichText::new(format!("Profile \"{}\"", editor.fields.name))
                        .strong()
                        .size(16.0),
                );
                ui.label(RichText::new(state).color(label_colour(ui.visuals())));
            });
        }
        Mode::Editing { original } => {
            let title = match original {
                None => "New profile".to_string(),
                Some(name) => format!("Editing \"{name}\""),
            };
            ui.label(RichText::new(title).strong().size(16.0));
            let rows = Rows {
                editing: true,
                problems: &editor.problems,
            };
            egui::Grid::new("profile_name")
                .num_columns(2)
                .spacing([12.0, 6.0])
                .min_col_width(130.0)
                .show(ui, |ui| {
                    let f = &mut editor.fields;
                    rows.text(ui, "Name", &["name"], &mut f.name, "e.g. isp", "");
                    rows.check(ui, "", "Enabled", &mut f.enabled, "");
                });
        }
    }
}

/// One button per section; a section with a problem says how many, in red.
fn section_bar(app: &mut ManagerApp, ui: &mut egui::Ui) {
    let editor = &mut app.editor;
    ui.horizontal(|ui| {
        for section in Section::ALL {
            let problems = editor
                .problems
                .iter()
                .filter(|p| Section::of_field(&p.field) == Some(section))
                .count();
            let text = if problems > 0 {
                RichText::new(format!("{} ({problems})", section.title())).color(ERROR)
            } else {
                RichText::new(section.title())
            };
            if ui
                .selectable_label(editor.section == section, text)
                .clicked()
            {
                editor.section = section;
            }
        }
    });
}
