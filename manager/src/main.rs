//! `mailpull-manager`: the Pull Manager window. For now it shows the profiles of the
//! configuration it is pointed at; talking to the worker comes with the IPC pipe.

#![cfg_attr(all(windows, not(debug_assertions)), windows_subsystem = "windows")]

use std::path::PathBuf;

use eframe::egui;
use mailpull_shared::config::{self, Config};

struct ManagerApp {
    config_path: PathBuf,
    config: Result<Config, String>,
}

impl ManagerApp {
    fn load(config_path: PathBuf) -> Self {
        let config = config::load(&config_path).map_err(|err| err.to_string());
        ManagerApp {
            config_path,
            config,
        }
    }
}

impl eframe::App for ManagerApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        ui.heading("Mailpull — Pull Manager");
        ui.label(format!("Configuration: {}", self.config_path.display()));
        ui.separator();
        match &self.config {
            Ok(config) if config.profiles.is_empty() => {
                ui.label("No profiles yet.");
            }
            Ok(config) => {
                egui::Grid::new("profiles").striped(true).show(ui, |ui| {
                    for heading in ["Profile", "Remote", "Local mailbox", "Interval", "Enabled"] {
                        ui.strong(heading);
                    }
                    ui.end_row();
                    for profile in &config.profiles {
                        ui.label(&profile.name);
                        ui.label(format!(
                            "{} {}:{}",
                            profile.remote.protocol.as_str(),
                            profile.remote.host,
                            profile.remote.port
                        ));
                        ui.label(profile.local.address());
                        ui.label(config::duration::format_duration(profile.interval));
                        ui.label(if profile.enabled { "yes" } else { "no" });
                        ui.end_row();
                    }
                });
            }
            Err(err) => {
                ui.colored_label(egui::Color32::RED, err);
            }
        }
    }
}

fn main() -> eframe::Result {
    let mut args = std::env::args().skip(1);
    let mut config_path = mailpull_shared::paths::default_config_file();
    while let Some(arg) = args.next() {
        if arg == "--config"
            && let Some(path) = args.next()
        {
            config_path = PathBuf::from(path);
        }
    }
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Mailpull — Pull Manager")
            .with_inner_size([900.0, 600.0]),
        ..Default::default()
    };
    eframe::run_native(
        "Mailpull — Pull Manager",
        options,
        Box::new(move |_cc| Ok(Box::new(ManagerApp::load(config_path)))),
    )
}
