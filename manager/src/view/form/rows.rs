//! One row of the form, drawn for editing (a labelled input, its problems under it) or for
//! viewing (the label and the value as plain text in readable colours, never a disabled
//! widget). Every input carries its visible label as its accessible name.

use egui::{Color32, RichText, Visuals};
use mailpull_shared::ipc::FieldProblem;

/// The width of a text field: room for a path or a list of header names.
const FIELD_WIDTH: f32 = 460.0;

/// Problems and the red of a problem.
pub const ERROR: Color32 = Color32::from_rgb(210, 50, 50);

/// The colour of a row's label in view mode: the theme's normal text.
pub fn label_colour(visuals: &Visuals) -> Color32 {
    visuals.text_color()
}

/// The colour of a value in view mode: the theme's strong text.
pub fn value_colour(visuals: &Visuals) -> Color32 {
    visuals.strong_text_color()
}

/// The WCAG 2 contrast ratio of two colours (1 to 21).
pub fn contrast_ratio(a: Color32, b: Color32) -> f32 {
    fn channel(c: u8) -> f32 {
        let c = f32::from(c) / 255.0;
        if c <= 0.040_45 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    }
    fn luminance(c: Color32) -> f32 {
        0.2126 * channel(c.r()) + 0.7152 * channel(c.g()) + 0.0722 * channel(c.b())
    }
    let (la, lb) = (luminance(a), luminance(b));
    let (hi, lo) = if la > lb { (la, lb) } else { (lb, la) };
    (hi + 0.05) / (lo + 0.05)
}

/// The rows of one section: a two-column grid, editable or not.
pub struct Rows<'a> {
    pub editing: bool,
    pub problems: &'a [FieldProblem],
}

impl Rows<'_> {
    /// The messages of the problems of any of `fields`.
    fn problems_of(&self, fields: &[&str]) -> Vec<&str> {
        self.problems
            .iter()
            .filter(|p| fields.contains(&p.field.as_str()))
            .map(|p| p.message.as_str())
            .collect()
    }

    fn show_problems(&self, ui: &mut egui::Ui, fields: &[&str]) {
        for problem in self.problems_of(fields) {
            ui.label(RichText::new(problem).color(ERROR));
        }
    }

    /// The label column.
    fn label(&self, ui: &mut egui::Ui, label: &str) -> egui::Response {
        ui.label(RichText::new(label).color(label_colour(ui.visuals())))
    }

    /// A value in view mode.
    fn value(&self, ui: &mut egui::Ui, label: &str, value: &str) {
        self.label(ui, label);
        ui.add(egui::Label::new(RichText::new(value).color(value_colour(ui.visuals()))).wrap());
        ui.end_row();
    }

    /// A single-line text field; in view mode the value, or `empty` when there is none.
    pub fn text(
        &self,
        ui: &mut egui::Ui,
        label: &str,
        fields: &[&str],
        value: &mut String,
        hint: &str,
        empty: &str,
    ) {
        if !self.editing {
            let shown = if value.trim().is_empty() {
                empty
            } else {
                value.as_str()
            };
            return self.value(ui, label, shown);
        }
        self.input(ui, label, fields, |ui| {
            ui.add(
                egui::TextEdit::singleline(value)
                    .hint_text(hint)
                    .desired_width(FIELD_WIDTH.min(ui.available_width())),
            )
        });
    }

    /// A secret typed here and never shown back.
    pub fn secret(
        &self,
        ui: &mut egui::Ui,
        label: &str,
        fields: &[&str],
        value: &mut String,
        hint: &str,
    ) {
        if !self.editing {
            return self.value(ui, label, "in the worker's keyring (never shown)");
        }
        self.input(ui, label, fields, |ui| {
            ui.add(
                egui::TextEdit::singleline(value)
                    .hint_text(hint)
                    .password(true)
                    .desired_width(FIELD_WIDTH.min(ui.available_width())),
            )
        });
    }

    /// A text of several lines.
    pub fn multiline(
        &self,
        ui: &mut egui::Ui,
        label: &str,
        fields: &[&str],
        value: &mut String,
        hint: &str,
        empty: &str,
    ) {
        if !self.editing {
            let shown = if value.trim().is_empty() {
                empty
            } else {
                value.as_str()
            };
            return self.value(ui, label, shown);
        }
        self.input(ui, label, fields, |ui| {
            ui.add(
                egui::TextEdit::multiline(value)
                    .hint_text(hint)
                    .desired_rows(3)
                    .desired_width(FIELD_WIDTH.min(ui.available_width())),
            )
        });
    }

    /// One of `choices` as radio buttons; returns the newly picked one.
    pub fn choice<T: Copy + PartialEq>(
        &self,
        ui: &mut egui::Ui,
        label: &str,
        fields: &[&str],
        current: T,
        choices: &[(T, &str)],
    ) -> Option<T> {
        if !self.editing {
            let shown = choices
                .iter()
                .find(|(value, _)| *value == current)
                .map_or("", |(_, text)| *text);
            self.value(ui, label, shown);
            return None;
        }
        let mut picked = None;
        self.input(ui, label, fields, |ui| {
            ui.horizontal_wrapped(|ui| {
                for (value, text) in choices {
                    if ui.radio(current == *value, *text).clicked() && current != *value {
                        picked = Some(*value);
                    }
                }
            })
            .response
        });
        picked
    }

    /// A check box whose text says what it does; in view mode `on` or `off` in words.
    pub fn check(&self, ui: &mut egui::Ui, label: &str, text: &str, value: &mut bool, off: &str) {
        if !self.editing {
            return self.value(ui, label, if *value { text } else { off });
        }
        self.label(ui, label);
        ui.checkbox(value, text);
        ui.end_row();
    }

    /// A note across the value column.
    pub fn note(&self, ui: &mut egui::Ui, text: &str) {
        ui.label("");
        ui.add(egui::Label::new(RichText::new(text).color(label_colour(ui.visuals()))).wrap());
        ui.end_row();
    }

    /// A labelled input drawn by `add`, its problems under it.
    pub fn input(
        &self,
        ui: &mut egui::Ui,
        label: &str,
        fields: &[&str],
        add: impl FnOnce(&mut egui::Ui) -> egui::Response,
    ) {
        let label = self.label(ui, label);
        ui.vertical(|ui| {
            add(ui).labelled_by(label.id);
            self.show_problems(ui, fields);
        });
        ui.end_row();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// View mode is text in the theme's colours: both the labels and the values read at
    /// 4.5:1 or better against the panel they are drawn on, in the dark and the light theme.
    #[test]
    fn view_mode_text_reads_at_wcag_aa_in_both_themes() {
        for (theme, visuals) in [("dark", Visuals::dark()), ("light", Visuals::light())] {
            for (what, colour) in [
                ("label", label_colour(&visuals)),
                ("value", value_colour(&visuals)),
            ] {
                let ratio = contrast_ratio(colour, visuals.panel_fill);
                assert!(
                    ratio >= 4.5,
                    "{theme} theme: {what} {colour:?} on {:?} is {ratio:.2}:1",
                    visuals.panel_fill
                );
            }
        }
    }

    #[test]
    fn contrast_ratio_matches_the_wcag_examples() {
        assert!((contrast_ratio(Color32::BLACK, Color32::WHITE) - 21.0).abs() < 0.01);
        assert!((contrast_ratio(Color32::WHITE, Color32::WHITE) - 1.0).abs() < 0.01);
        // #767676 on white is the classic just-passing grey (4.54:1).
        let grey = Color32::from_gray(0x76);
        assert!((contrast_ratio(grey, Color32::WHITE) - 4.54).abs() < 0.01);
    }
}
