//! The first-run wizard, drawn in the centre instead of the profile form: a title with the
//! step and where it is among the five, the step's questions in a scroll area, and at the
//! bottom what is still missing and the buttons (Back, Next or Test connection and Save and
//! start, Cancel). Plain words throughout: it speaks to an administrator, not a developer.
//!
//! Layout: `remote` (the mailbox and sign-in steps), `local` (your mail server, recipients,
//! test and save).

mod local;
mod remote;

use egui::RichText;

use super::form::{ERROR_COLOUR, GOOD};
use crate::app::{Action, ManagerApp};
use crate::wizard::{Step, WizardAction};

/// The width of the wizard's text fields.
const WIDTH: f32 = 420.0;

/// The width of the labels' column.
const LABEL_WIDTH: f32 = 190.0;

/// Draws the wizard (call only while `app.wizard` is set).
pub fn show(app: &mut ManagerApp, ui: &mut egui::Ui, actions: &mut Vec<Action>) {
    let Some(step) = app.wizard.as_ref().map(|w| w.step) else {
        return;
    };
    ui.horizontal(|ui| {
        ui.heading("Set up a mail connection");
        ui.label(format!(
            "— step {} of {}: {}",
            step.number(),
            Step::ALL.len(),
            step.title()
        ));
    });
    ui.horizontal_wrapped(|ui| {
        for (i, s) in Step::ALL.iter().enumerate() {
            if i > 0 {
                ui.label("›");
            }
            let text = format!("{}. {}", s.number(), s.title());
            if *s == step {
                ui.label(RichText::new(text).strong().underline());
            } else {
                ui.label(text);
            }
        }
    });
    if let Some(notice) = &app.notice {
        let colour = if notice.error { ERROR_COLOUR } else { GOOD };
        ui.add(egui::Label::new(RichText::new(&notice.text).color(colour)).wrap());
    }
    ui.separator();
    let busy = app.busy.clone();
    let problems = app
        .wizard
        .as_ref()
        .map(|w| w.problems.clone())
        .unwrap_or_default();
    // Bottom up: the buttons stay at the bottom, the step's questions scroll above them.
    ui.with_layout(egui::Layout::bottom_up(egui::Align::Min), |ui| {
        ui.add_space(4.0);
        buttons(ui, step, busy.is_none(), actions);
        if let Some(busy) = &busy {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(busy);
            });
        }
        for problem in problems.iter().rev() {
            ui.add(egui::Label::new(RichText::new(problem).color(ERROR_COLOUR)).wrap());
        }
        ui.separator();
        ui.with_layout(egui::Layout::top_down(egui::Align::Min), |ui| {
            egui::ScrollArea::vertical()
                .auto_shrink([false, false])
                .show(ui, |ui| match step {
                    Step::Mailbox => remote::mailbox(app, ui, actions),
                    Step::SignIn => remote::sign_in(app, ui),
                    Step::Delivery => local::delivery(app, ui),
                    Step::Recipients => local::recipients(app, ui),
                    Step::Finish => local::finish(app, ui, actions),
                });
        });
    });
}

/// Back, Next (or Test connection and Save and start on the last step), Cancel.
fn buttons(ui: &mut egui::Ui, step: Step, idle: bool, actions: &mut Vec<Action>) {
    let mut push = |a| actions.push(Action::Wizard(a));
    ui.horizontal(|ui| {
        if step != Step::Mailbox && ui.button("Back").clicked() {
            push(WizardAction::Back);
        }
        if step == Step::Finish {
            if ui
                .add_enabled(idle, egui::Button::new("Test connection"))
                .clicked()
            {
                push(WizardAction::Test);
            }
            if ui
                .add_enabled(idle, egui::Button::new("Save and start"))
                .clicked()
            {
                push(WizardAction::Save);
            }
        } else if ui.button("Next").clicked() {
            push(WizardAction::Next);
        }
        if ui.button("Cancel").clicked() {
            push(WizardAction::Cancel);
        }
        if step == Step::Mailbox
            && ui
                .link("Use the full form instead")
                .on_hover_text("Every setting of a connection on one form, for experts")
                .clicked()
        {
            push(WizardAction::FullForm);
        }
    });
}

/// A paragraph of plain text that wraps.
fn say(ui: &mut egui::Ui, text: impl Into<String>) {
    ui.add(egui::Label::new(text.into()).wrap());
}

/// A labelled one-line text field (its label is its accessible name).
fn field(ui: &mut egui::Ui, label: &str, value: &mut String, hint: &str, secret: bool) {
    ui.horizontal(|ui| {
        let label = ui.label(label);
        // The fields line up in one column.
        ui.add_space((LABEL_WIDTH - label.rect.width()).max(0.0));
        ui.add(
            egui::TextEdit::singleline(value)
                .hint_text(hint)
                .password(secret)
                .desired_width(WIDTH.min(ui.available_width())),
        )
        .labelled_by(label.id);
    });
}

#[cfg(test)]
mod tests;
