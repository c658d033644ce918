//! The wizard's first two steps: where the mail is now (a provider, or "my ISP or web host"
//! and the search of its server) and how Mailpull signs in there (a password, or the OAuth
//! client of a later sign-in).

use egui::RichText;
use mailpull_shared::config::OAuthProvider;

use super::{ERROR_COLOUR, GOOD, field, say};
use crate::app::{Action, ManagerApp};
use crate::form::SecretFrom;
use crate::wizard::{RemotePreset, Search, WizardAction, choose, describe_candidate, is_chosen};

pub fn mailbox(app: &mut ManagerApp, ui: &mut egui::Ui, actions: &mut Vec<Action>) {
    let Some(wizard) = app.wizard.as_mut() else {
        return;
    };
    ui.strong("Where is the mail now?");
    say(
        ui,
        "Mailpull collects the mail from this mailbox and hands it to your own mail server.",
    );
    ui.add_space(4.0);
    for preset in RemotePreset::ALL {
        if ui
            .radio(wizard.remote == Some(preset), preset.label())
            .clicked()
        {
            wizard.choose_remote(preset);
        }
    }
    let Some(preset) = wizard.remote else {
        return;
    };
    ui.add_space(6.0);
    say(ui, preset.explain());
    ui.add_space(6.0);
    if preset != RemotePreset::Isp {
        say(
            ui,
            format!(
                "Server: {} (IMAP, encrypted with TLS, port {}).",
                wizard.fields.server,
                wizard.fields.default_port()
            ),
        );
        return;
    }
    field(
        ui,
        "Mail server name",
        &mut wizard.fields.server,
        "e.g. mail.myisp.com",
        false,
    );
    field(
        ui,
        "Certificate file (optional)",
        &mut wizard.fields.ca_file,
        "only for a server with its own private certificate",
        false,
    );
    let looking = matches!(wizard.search, Search::Looking { .. });
    ui.horizontal(|ui| {
        if ui
            .add_enabled(!looking, egui::Button::new("Find my server"))
            .on_hover_text(
                "Tries POP3 and IMAP on the usual ports, encrypted; nothing is sent but a greeting",
            )
            .clicked()
        {
            actions.push(Action::Wizard(WizardAction::FindServer));
        }
        if looking {
            ui.spinner();
        }
    });
    if let Some(summary) = wizard.search.summary(&wizard.fields) {
        let colour = if wizard.search.chosen(&wizard.fields) {
            GOOD
        } else if looking {
            ui.visuals().text_color()
        } else {
            ERROR_COLOUR
        };
        ui.add(egui::Label::new(RichText::new(summary).color(colour)).wrap());
    }
    let Some(findings) = wizard.search.findings_for(&wizard.fields.server) else {
        return;
    };
    let findings = findings.to_vec();
    ui.add_space(4.0);
    for finding in findings {
        ui.horizontal_wrapped(|ui| {
            let what = describe_candidate(&finding.candidate);
            if finding.works {
                let chosen = is_chosen(&finding.candidate, &wizard.fields);
                if ui.radio(chosen, format!("{what}: works")).clicked() {
                    choose(&finding.candidate, &mut wizard.fields);
                }
            } else {
                ui.label(format!("{what}: not usable — {}", finding.detail));
            }
        });
    }
}

pub fn sign_in(app: &mut ManagerApp, ui: &mut egui::Ui) {
    let Some(wizard) = app.wizard.as_mut() else {
        return;
    };
    let oauth = wizard.remote.is_some_and(RemotePreset::oauth);
    let f = &mut wizard.fields;
    ui.strong("How does Mailpull sign in to the mailbox?");
    ui.add_space(4.0);
    field(
        ui,
        "User name",
        &mut f.username,
        "usually the e-mail address",
        false,
    );
    if !oauth {
        field(ui, "Password", &mut f.password, "", true);
        say(
            ui,
            "The password is kept in the protected credential store of the account the \
             Mailpull service runs as (the Windows Credential Manager, or the keyring on Linux) \
             when you save — never in the configuration file.",
        );
        return;
    }
    field(
        ui,
        "Application (client) ID",
        &mut f.client_id,
        "from your app registration",
        false,
    );
    if wizard.remote == Some(RemotePreset::Microsoft365) {
        field(
            ui,
            "Tenant (optional)",
            &mut f.tenant,
            "e.g. contoso.onmicrosoft.com; empty: any",
            false,
        );
    }
    if f.provider == OAuthProvider::Google && f.secret_from == SecretFrom::Keyring {
        field(ui, "Client secret", &mut f.client_secret, "", true);
    }
    say(
        ui,
        "No password is kept: after you save, you sign in once in your browser, and Mailpull \
         keeps the sign-in in the protected credential store of the account it runs as.",
    );
}
