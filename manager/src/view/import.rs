//! File → Import: the File menu over the window, and the dialog that asks for a fetchmailrc or
//! getmailrc, then shows what came of it — the profiles saved, any the worker refused with
//! why, and the import's report (passwords stored in the worker's keyring, what could not be
//! mapped, by line).

use egui::RichText;
use mailpull_shared::ipc::ImportFormat;

use crate::app::{Action, ImportDialog, format_name};

/// The File menu.
pub fn menu(ui: &mut egui::Ui, app: &crate::app::ManagerApp, actions: &mut Vec<Action>) {
    let connected = app.connection.is_connected();
    ui.menu_button("File", |ui| {
        let mut on = !app.settings.notifications_off;
        if ui
            .checkbox(&mut on, "Desktop notifications")
            .on_hover_text(
                "A notification when a profile starts failing or needs a sign-in, or the \
                 worker stops",
            )
            .clicked()
        {
            actions.push(Action::SetNotifications(on));
        }
        ui.separator();
        for format in [ImportFormat::Fetchmailrc, ImportFormat::Getmailrc] {
            if ui
                .add_enabled(
                    connected,
                    egui::Button::new(format!("Import {}…", format_name(format))),
                )
                .on_disabled_hover_text(
                    "Needs the worker: it reads the file and keeps the passwords",
                )
                .clicked()
            {
                actions.push(Action::OpenImport(format));
                ui.close();
            }
        }
    });
}

fn profiles(n: usize) -> String {
    if n == 1 {
        "1 profile".into()
    } else {
        format!("{n} profiles")
    }
}

pub fn dialog(ctx: &egui::Context, dialog: &mut ImportDialog, actions: &mut Vec<Action>) {
    let modal = egui::Modal::new(egui::Id::unique("import_dialog")).show(ctx, |ui| {
        ui.set_width(620.0);
        ui.heading(format!("Import a {}", dialog.format_name()));
        ui.add(
            egui::Label::new(format!(
                "The worker turns each entry of the file into a profile, as `mailpull-worker \
                 import {}` does, stores the passwords it finds in its OS keyring (never in the \
                 configuration), and the profiles are saved here.",
                dialog.format_name()
            ))
            .wrap(),
        );
        ui.add_space(6.0);
        ui.horizontal(|ui| {
            let label = ui.label("File to import");
            ui.add_enabled(
                !dialog.running,
                egui::TextEdit::singleline(&mut dialog.path)
                    .hint_text("/home/me/.fetchmailrc")
                    .desired_width(440.0),
            )
            .labelled_by(label.id);
        });
        ui.add_space(6.0);
        match &dialog.outcome {
            None if dialog.running => {
                ui.label("Importing …");
            }
            None => {}
            Some(Err(why)) => {
                ui.add(
                    egui::Label::new(
                        RichText::new(format!("Nothing imported: {why}"))
                            .color(super::held::error_colour(ui.visuals())),
                    )
                    .wrap(),
                );
            }
            Some(Ok(done)) => {
                let good = super::held::good_colour(ui.visuals());
                let bad = super::held::error_colour(ui.visuals());
                if done.saved.is_empty() {
                    ui.colored_label(bad, "No profile was saved.");
                } else {
                    ui.colored_label(
                        good,
                        format!(
                            "Saved {}: {}.",
                            profiles(done.saved.len()),
                            done.saved.join(", ")
                        ),
                    );
                }
                for (name, why) in &done.refused {
                    ui.add(
                        egui::Label::new(
                            RichText::new(format!("Not saved \"{name}\": {why}")).color(bad),
                        )
                        .wrap(),
                    );
                }
                ui.label(RichText::new("Report").strong());
                egui::ScrollArea::vertical()
                    .max_height(260.0)
                    .show(ui, |ui| {
                        ui.add(egui::Label::new(RichText::new(&done.report).monospace()).wrap());
                    });
            }
        }
        ui.add_space(8.0);
        ui.horizontal(|ui| {
            let done = matches!(dialog.outcome, Some(Ok(_)));
            if !done
                && ui
                    .add_enabled(!dialog.running, egui::Button::new("Import"))
                    .clicked()
            {
                actions.push(Action::RunImport);
            }
            if ui.button(if done { "Close" } else { "Cancel" }).clicked() {
                actions.push(Action::CloseImport);
            }
        });
    });
    if modal.should_close() && !dialog.running {
        actions.push(Action::CloseImport);
    }
}
