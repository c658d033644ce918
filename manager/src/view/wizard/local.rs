//! The wizard's last three steps: your mail server (Exchange, hMailServer, Postfix or
//! another; encryption and a self-signed certificate), who receives the mail (one local user,
//! or a catch-all split over local users), and the name, the summary, the connection test
//! and Save.

use super::{field, say};
use crate::app::{Action, ManagerApp};
use crate::wizard::{LocalPreset, Recipients, RemotePreset};

pub fn delivery(app: &mut ManagerApp, ui: &mut egui::Ui) {
    let Some(wizard) = app.wizard.as_mut() else {
        return;
    };
    ui.strong("Which mail server receives the mail here?");
    ui.add_space(4.0);
    for preset in LocalPreset::ALL {
        if ui
            .radio(wizard.local == Some(preset), preset.label())
            .clicked()
        {
            wizard.choose_local(preset);
        }
    }
    let Some(preset) = wizard.local else {
        return;
    };
    ui.add_space(6.0);
    say(ui, preset.explain());
    ui.add_space(6.0);
    field(
        ui,
        "Mail server and port",
        &mut wizard.fields.smtp,
        "e.g. exchange.example.local:25",
        false,
    );
    let mut starttls = wizard.local_starttls();
    if ui
        .checkbox(&mut starttls, "Encrypt the delivery (STARTTLS)")
        .changed()
    {
        wizard.set_local_starttls(starttls);
    }
    if starttls {
        field(
            ui,
            "Server certificate file",
            &mut wizard.fields.local_ca_file,
            "only for a self-signed certificate (.pem or .crt)",
            false,
        );
    }
}

pub fn recipients(app: &mut ManagerApp, ui: &mut egui::Ui) {
    let Some(wizard) = app.wizard.as_mut() else {
        return;
    };
    ui.strong("Who receives the mail?");
    ui.add_space(4.0);
    let choices = [
        (Recipients::One, "One person receives everything"),
        (
            Recipients::CatchAll,
            "A catch-all mailbox: each message goes to the local users it is addressed to",
        ),
    ];
    for (choice, text) in choices {
        if ui.radio(wizard.recipients == choice, text).clicked() {
            wizard.choose_recipients(choice);
        }
    }
    ui.add_space(6.0);
    let f = &mut wizard.fields;
    match wizard.recipients {
        Recipients::One => {
            field(ui, "Local user", &mut f.local_user, "e.g. alice", false);
            field(
                ui,
                "Mail domain",
                &mut f.local_domain,
                "e.g. example.com",
                false,
            );
            let (user, domain) = (f.local_user.trim(), f.local_domain.trim());
            if !user.is_empty() && !domain.is_empty() {
                say(
                    ui,
                    format!("All mail goes to {user}@{domain} on your mail server."),
                );
            }
        }
        Recipients::CatchAll => {
            field(
                ui,
                "Your mail domains",
                &mut f.local_domains,
                "e.g. example.com, example.org",
                false,
            );
            field(
                ui,
                "Mailbox for everything else",
                &mut f.fallback,
                "e.g. postmaster@example.com",
                false,
            );
            say(
                ui,
                "Each message goes to the people of your domains it was addressed to (read \
                 from its headers); a message for nobody here goes to the mailbox for \
                 everything else, so nothing is lost.",
            );
        }
    }
}

pub fn finish(app: &mut ManagerApp, ui: &mut egui::Ui, actions: &mut Vec<Action>) {
    let Some(wizard) = app.wizard.as_mut() else {
        return;
    };
    ui.strong("Check, test and save");
    ui.add_space(4.0);
    field(
        ui,
        "Connection name",
        &mut wizard.fields.name,
        "a short name, e.g. office",
        false,
    );
    ui.add_space(6.0);
    let f = &wizard.fields;
    let oauth = wizard.remote.is_some_and(RemotePreset::oauth);
    let to = match wizard.recipients {
        Recipients::One => format!("{}@{}", f.local_user.trim(), f.local_domain.trim()),
        Recipients::CatchAll => format!(
            "the people of {} (everything else to {})",
            f.local_domains.trim(),
            f.fallback.trim()
        ),
    };
    let port = f.port.trim().parse().unwrap_or(f.default_port());
    for line in [
        format!(
            "Collect the mail of {} at {} ({}, port {port}) every {}.",
            f.username.trim(),
            f.server.trim(),
            f.protocol.as_str().to_uppercase(),
            if f.interval == "10m" {
                "10 minutes".to_string()
            } else {
                f.interval.clone()
            }
        ),
        format!("Hand it to {} and deliver it to {to}.", f.smtp.trim()),
        "Delete each message at the provider only after your mail server accepted it.".into(),
    ] {
        say(ui, format!("• {line}"));
    }
    ui.add_space(6.0);
    if oauth {
        say(
            ui,
            "Save and start saves the connection and opens the sign-in; the first collection \
             starts as soon as you are signed in.",
        );
    } else {
        say(
            ui,
            "Test connection tries everything with the password you typed, without saving it. \
             Save and start stores the password, saves the connection and collects the mail \
             at once: watch the log at the bottom.",
        );
    }
    ui.add_space(4.0);
    super::super::form::report(app, ui, actions);
}
