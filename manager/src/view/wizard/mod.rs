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

/// Draws the wizard (call only while `app.wizard` is set).
pub fn show(app: &mut ManagerApp, ui: &mut egui::Ui, actions: &mut Vec<Action>) {
    let Some(step) = app.wizard.as_ref().map(|w| w.step) else {
        return;
    };
    let push = |actions: &mut Vec<Action>, a| actions.push(Action::Wizard(a));
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
    egui::Panel::bottom("wizard_buttons").show(ui, |ui| {
        ui.add_space(4.0);
        if let Some(wizard) = &app.wizard {
            for problem in &wizard.problems {
                ui.add(egui::Label::new(RichText::new(problem).color(ERROR_COLOUR)).wrap());
            }
        }
        if let Some(busy) = &busy {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(busy);
            });
        }
        ui.horizontal(|ui| {
            let idle = busy.is_none();
            if step != Step::Mailbox && ui.button("Back").clicked() {
                push(actions, WizardAction::Back);
            }
            if step == Step::Finish {
                if ui
                    .add_enabled(idle, egui::Button::new("Test connection"))
                    .clicked()
                {
                    push(actions, WizardAction::Test);
                }
                if ui
                    .add_enabled(idle, egui::Button::new("Save and start"))
                    .clicked()
                {
                    push(actions, WizardAction::Save);
                }
            } else if ui.button("Next").clicked() {
                push(actions, WizardAction::Next);
            }
            if ui.button("Cancel").clicked() {
                push(actions, WizardAction::Cancel);
            }
            if step == Step::Mailbox
                && ui
                    .link("Use the full form instead")
                    .on_hover_text("Every setting of a connection on one form, for experts")
                    .clicked()
            {
                push(actions, WizardAction::FullForm);
            }
        });
        ui.add_space(4.0);
    });
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show(ui, |ui| match step {
            Step::Mailbox => remote::mailbox(app, ui, actions),
            Step::SignIn => remote::sign_in(app, ui),
            Step::Delivery => local::delivery(app, ui),
            Step::Recipients => local::recipients(app, ui),
            Step::Finish => local::finish(app, ui, actions),
        });
}

/// A paragraph of plain text that wraps.
fn say(ui: &mut egui::Ui, text: impl Into<String>) {
    ui.add(egui::Label::new(text.into()).wrap());
}

/// A labelled one-line text field (its label is its accessible name).
fn field(ui: &mut egui::Ui, label: &str, value: &mut String, hint: &str, secret: bool) {
    ui.horizontal(|ui| {
        let label = ui
            .allocate_ui_with_layout(
                egui::vec2(190.0, 20.0),
                egui::Layout::left_to_right(egui::Align::Center),
                |ui| ui.label(label),
            )
            .inner;
        ui.add(
            egui::TextEdit::singleline(value)
                .hint_text(hint)
                .password(secret)
                .desired_width(WIDTH.min(ui.available_width())),
        )
        .labelled_by(label.id);
    });
}
