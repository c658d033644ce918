//! The routing preview: a message pasted, opened from a file or dropped on the window, a
//! profile chosen, and the local mailboxes the worker's routing would deliver it to, with the
//! header each came from and the reason in the worker's words. Nothing is delivered.

use egui::RichText;

use super::form::{label_colour, value_colour};
use super::held::{error_colour, good_colour, held_colour};
use crate::app::{Action, ManagerApp};

pub fn show(app: &mut ManagerApp, ui: &mut egui::Ui, actions: &mut Vec<Action>) {
    let connected = app.connection.is_connected();
    ui.label(
        RichText::new("Where would a message go?")
            .strong()
            .size(16.0),
    );
    ui.add(
        egui::Label::new(
            "Paste a message, open an .eml file or drop one on this window, then see which \
             local mailboxes the profile's routing would deliver it to, and why. Nothing is \
             delivered.",
        )
        .wrap(),
    );
    let names: Vec<String> = app.profiles.iter().map(|p| p.name.clone()).collect();
    let mut chosen = app
        .route
        .profile
        .clone()
        .or_else(|| app.selected.clone())
        .unwrap_or_default();
    ui.horizontal(|ui| {
        let label = ui.label("Profile");
        egui::ComboBox::from_id_salt("route_profile")
            .selected_text(chosen.as_str())
            .show_ui(ui, |ui| {
                for name in &names {
                    ui.selectable_value(&mut chosen, name.clone(), name);
                }
            })
            .response
            .labelled_by(label.id);
    });
    if !chosen.is_empty() && app.route.profile.as_deref() != Some(chosen.as_str()) {
        app.route.profile = Some(chosen);
    }
    ui.horizontal(|ui| {
        let label = ui.label("Message file");
        ui.add(
            egui::TextEdit::singleline(&mut app.route.path)
                .hint_text("C:\\Mail\\message.eml")
                .desired_width(320.0),
        )
        .labelled_by(label.id);
        if ui.button("Open").clicked() {
            actions.push(Action::OpenRouteFile);
        }
    });
    let label = ui.label("Message (headers are enough)");
    egui::ScrollArea::vertical()
        .id_salt("route_text")
        .max_height(150.0)
        .show(ui, |ui| {
            ui.add(
                egui::TextEdit::multiline(&mut app.route.text)
                    .code_editor()
                    .desired_rows(6)
                    .desired_width(f32::INFINITY)
                    .hint_text("From: ann@example.com\nTo: bob@mydomain.com\nSubject: …"),
            )
            .labelled_by(label.id);
        });
    ui.horizontal(|ui| {
        let label = if app.route.running {
            "Asking the worker…"
        } else {
            "Preview"
        };
        if ui
            .add_enabled(connected && !app.route.running, egui::Button::new(label))
            .on_hover_text("Ask the worker where this message would go")
            .clicked()
        {
            actions.push(Action::PreviewRoute);
        }
        if !connected {
            ui.label("(needs the worker running)");
        }
    });
    ui.separator();
    outcome(app, ui);
}

fn outcome(app: &ManagerApp, ui: &mut egui::Ui) {
    let visuals = ui.visuals().clone();
    match &app.route.outcome {
        None => {}
        Some(Err(why)) => {
            ui.add(
                egui::Label::new(
                    RichText::new(format!("No preview: {why}")).color(error_colour(&visuals)),
                )
                .wrap(),
            );
        }
        Some(Ok(preview)) => {
            let message = match (preview.subject.is_empty(), preview.from.is_empty()) {
                (true, true) => "The message".to_string(),
                (false, true) => format!("\"{}\"", preview.subject),
                (true, false) => format!("The message from {}", preview.from),
                (false, false) => format!("\"{}\" from {}", preview.subject, preview.from),
            };
            let (headline, colour) = match (preview.targets.len(), preview.fallback) {
                (0, _) => (
                    format!(
                        "{message} would reach no mailbox under \"{}\": it would stay on the server.",
                        preview.profile
                    ),
                    error_colour(&visuals),
                ),
                (_, true) => (
                    format!(
                        "{message} would go to the fallback mailbox of \"{}\":",
                        preview.profile
                    ),
                    held_colour(&visuals),
                ),
                (n, false) => (
                    format!(
                        "{message} would be delivered by \"{}\" to {}:",
                        preview.profile,
                        if n == 1 {
                            "1 mailbox".to_string()
                        } else {
                            format!("{n} mailboxes")
                        }
                    ),
                    good_colour(&visuals),
                ),
            };
            ui.add(egui::Label::new(RichText::new(headline).strong().color(colour)).wrap());
            egui::Grid::new("route_targets")
                .num_columns(2)
                .spacing([16.0, 4.0])
                .show(ui, |ui| {
                    for target in &preview.targets {
                        ui.label(
                            RichText::new(&target.address)
                                .strong()
                                .color(value_colour(&visuals)),
                        );
                        ui.label(
                            RichText::new(source_words(&target.source))
                                .color(label_colour(&visuals)),
                        );
                        ui.end_row();
                    }
                });
            ui.horizontal_wrapped(|ui| {
                ui.label(RichText::new("Why:").color(label_colour(&visuals)));
                ui.add(
                    egui::Label::new(RichText::new(&preview.reason).color(value_colour(&visuals)))
                        .wrap(),
                );
            });
        }
    }
}

/// Where a recipient came from, in words.
pub fn source_words(source: &str) -> String {
    match source {
        "fallback" => "the fallback: no header named a local address".into(),
        "single-drop" => "the profile's one mailbox (single-drop)".into(),
        header => format!("named in the {header} header"),
    }
}
