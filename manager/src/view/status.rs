//! The status bar: whether the worker is connected; when none runs, a button to start it.

use egui::Color32;

use crate::app::{Action, Connection, ManagerApp};

pub fn show(app: &ManagerApp, ui: &mut egui::Ui, actions: &mut Vec<Action>) {
    ui.horizontal(|ui| {
        let (colour, text) = match &app.connection {
            Connection::Connecting => (Color32::GRAY, "Connecting to the worker ...".to_string()),
            Connection::Connected { worker } => (
                Color32::from_rgb(40, 160, 60),
                format!("Connected to {worker}"),
            ),
            Connection::Disconnected { not_running, .. } => (
                Color32::from_rgb(200, 50, 50),
                if *not_running {
                    "Disconnected: no worker is running for this configuration".to_string()
                } else {
                    "Disconnected".to_string()
                },
            ),
        };
        super::dot(ui, colour);
        ui.label(text);
        if let Connection::Disconnected {
            reason,
            not_running,
        } = &app.connection
        {
            if *not_running {
                if ui
                    .button("Start worker")
                    .on_hover_text(format!(
                        "Runs mailpull-worker run --config {}",
                        app.config_path.display()
                    ))
                    .clicked()
                {
                    actions.push(Action::StartWorker);
                }
                ui.weak("(retrying every second)");
            } else {
                ui.weak(reason.as_str());
            }
        }
        if let Some(busy) = &app.busy {
            ui.separator();
            ui.spinner();
            ui.label(busy.as_str());
        }
    });
}
