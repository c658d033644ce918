//! The status bar: who serves the configuration ("Served by the Mailpull service", "... a
//! worker this window started (process N)"); when no worker answers, why, and what can be
//! done: "Start worker", or — where a service or systemd unit is installed for this
//! configuration — its state and the service's Start / Stop / Restart (Windows) or the
//! `systemctl` command to run (Linux), never a second worker.

use egui::Color32;
use mailpull_shared::ipc::RunMode;

use crate::app::{Action, Connection, ManagerApp};
use crate::service::{ServiceVerb, served_by};

/// The status bar's sentence for the connection.
pub fn connection_text(app: &ManagerApp) -> String {
    match &app.connection {
        Connection::Connecting => "Connecting to the worker ...".to_string(),
        Connection::Connected { worker, run_mode } => {
            format!("{} — {worker}", served_by(run_mode, app.started_worker))
        }
        Connection::Disconnected { not_running, .. } => {
            if *not_running {
                format!("Disconnected: {}", app.host.describe())
            } else {
                "Disconnected".to_string()
            }
        }
    }
}

/// The service-control buttons to offer: the installed service's while no worker answers,
/// Stop and Restart while the service itself is connected.
pub fn service_controls(app: &ManagerApp) -> &'static [ServiceVerb] {
    match &app.connection {
        Connection::Connected {
            run_mode: RunMode::WindowsService,
            ..
        } => &[ServiceVerb::Stop, ServiceVerb::Restart],
        Connection::Disconnected {
            not_running: true, ..
        } => app.host.controls(),
        _ => &[],
    }
}

pub fn show(app: &ManagerApp, ui: &mut egui::Ui, actions: &mut Vec<Action>) {
    ui.horizontal(|ui| {
        let colour = match &app.connection {
            Connection::Connecting => Color32::GRAY,
            Connection::Connected { .. } => Color32::from_rgb(40, 160, 60),
            Connection::Disconnected { .. } => Color32::from_rgb(200, 50, 50),
        };
        super::dot(ui, colour);
        ui.label(connection_text(app));
        if let Connection::Disconnected {
            reason,
            not_running,
        } = &app.connection
        {
            if *not_running
                && !app.host.is_service()
                && ui
                    .button("Start worker")
                    .on_hover_text(format!(
                        "Runs mailpull-worker run --config {}",
                        app.config_path.display()
                    ))
                    .clicked()
            {
                actions.push(Action::StartWorker);
            }
            if !*not_running {
                ui.weak(reason.as_str());
            }
        }
        for verb in service_controls(app) {
            if ui
                .button(verb.label())
                .on_hover_text(format!(
                    "Runs mailpull-worker service {} as administrator (Windows asks for consent)",
                    verb.command()
                ))
                .clicked()
            {
                actions.push(Action::ServiceControl(*verb));
            }
        }
        if matches!(app.connection, Connection::Disconnected { .. }) {
            ui.weak("(retrying every second)");
        }
        if let Some(busy) = &app.busy {
            ui.separator();
            ui.spinner();
            ui.label(busy.as_str());
        }
    });
}
