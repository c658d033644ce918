//! The centre: the buttons (New, Edit, Delete, Save, Cancel, Test connection, Poll now), the
//! last message, the connection test report, and the profile form with each problem shown
//! under its field. The form is read-only until New or Edit.

use egui::{Color32, RichText};
use mailpull_shared::ipc::{SignInMethod, StepOutcome};

use crate::app::{Action, ManagerApp, Mode};
use mailpull_shared::config::{
    DEFAULT_FOLDER, DEFAULT_INTERVAL_TEXT, DEFAULT_KEEP_DAYS, DEFAULT_SMTP,
};

use crate::form::{
    AUTH_CHOICES, AfterDelivery, FormFields, OAuthProvider, PasswordFrom, Protocol, SecretFrom,
    Security, auth_label,
};

const ERROR: Color32 = Color32::from_rgb(210, 50, 50);
const GOOD: Color32 = Color32::from_rgb(40, 150, 60);

pub fn show(app: &mut ManagerApp, ui: &mut egui::Ui, actions: &mut Vec<Action>) {
    buttons(app, ui, actions);
    if let Some(notice) = &app.notice {
        let colour = if notice.error { ERROR } else { GOOD };
        ui.label(RichText::new(&notice.text).color(colour));
    }
    if let Some((name, steps)) = &app.test_report {
        ui.group(|ui| {
            ui.strong(format!("Connection test of \"{name}\""));
            for step in steps {
                let (mark, colour) = match step.outcome {
                    StepOutcome::Passed => ("passed", GOOD),
                    StepOutcome::Failed => ("FAILED", ERROR),
                    StepOutcome::Skipped => ("skipped", Color32::GRAY),
                };
                ui.label(
                    RichText::new(format!("{}: {mark} ({})", step.step, step.detail)).color(colour),
                );
            }
        });
    }
    ui.separator();
    if app.selected.is_none() && !app.editor.editing() {
        ui.weak("Select a profile on the left, or press New.");
        return;
    }
    let editing = app.editor.editing();
    let title = match &app.editor.mode {
        Mode::Editing { original: None } => "New profile".to_string(),
        Mode::Editing {
            original: Some(name),
        } => format!("Editing \"{name}\""),
        Mode::Viewing => format!("Profile \"{}\"", app.editor.fields.name),
    };
    ui.strong(title);
    egui::ScrollArea::vertical()
        .id_salt("form")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            ui.add_enabled_ui(editing, |ui| fields(app, ui));
        });
}

fn buttons(app: &ManagerApp, ui: &mut egui::Ui, actions: &mut Vec<Action>) {
    let connected = app.connection.is_connected();
    let editing = app.editor.editing();
    let selected = app.selected.is_some();
    ui.horizontal_wrapped(|ui| {
        if ui.add_enabled(!editing, egui::Button::new("New")).clicked() {
            actions.push(Action::New);
        }
        if ui
            .add_enabled(!editing && selected, egui::Button::new("Edit"))
            .clicked()
        {
            actions.push(Action::Edit);
        }
        if ui
            .add_enabled(
                !editing && selected && connected,
                egui::Button::new("Delete"),
            )
            .clicked()
        {
            actions.push(Action::AskDelete);
        }
        ui.separator();
        if ui
            .add_enabled(editing && connected, egui::Button::new("Save"))
            .clicked()
        {
            actions.push(Action::Save);
        }
        if ui
            .add_enabled(editing, egui::Button::new("Cancel"))
            .clicked()
        {
            actions.push(Action::Cancel);
        }
        ui.separator();
        if ui
            .add_enabled(
                connected && (editing || selected),
                egui::Button::new("Test connection"),
            )
            .clicked()
        {
            actions.push(Action::Test);
        }
        if ui
            .add_enabled(
                connected && selected && !editing,
                egui::Button::new("Poll now"),
            )
            .clicked()
        {
            actions.push(Action::PollNow);
        }
        if app.editor.fields.auth.is_oauth() && selected && !editing {
            ui.separator();
            let ready = connected && app.sign_in.is_none();
            if ui
                .add_enabled(ready, egui::Button::new("Sign in …"))
                .on_hover_text("Sign in with a code entered on the provider's page, on any device")
                .clicked()
            {
                actions.push(Action::SignIn(SignInMethod::Device));
            }
            if ui
                .add_enabled(ready, egui::Button::new("Sign in with browser …"))
                .on_hover_text("Open the provider's sign-in page in this computer's browser")
                .clicked()
            {
                actions.push(Action::SignIn(SignInMethod::Browser));
            }
        }
    });
}

/// A labelled single-line text field, its problems underneath.
fn text_row(
    ui: &mut egui::Ui,
    problems: &[String],
    label: &str,
    value: &mut String,
    hint: &str,
    password: bool,
) {
    let label = ui.label(label);
    ui.vertical(|ui| {
        ui.add(
            egui::TextEdit::singleline(value)
                .hint_text(hint)
                .password(password)
                .desired_width(320.0),
        )
        .labelled_by(label.id);
        show_problems(ui, problems);
    });
    ui.end_row();
}

/// Each problem of a field, in red under it.
fn show_problems(ui: &mut egui::Ui, problems: &[String]) {
    for problem in problems {
        ui.label(RichText::new(problem).color(ERROR));
    }
}

fn problems(app: &ManagerApp, fields: &[&str]) -> Vec<String> {
    app.editor
        .problems_for(fields)
        .map(str::to_string)
        .collect()
}

fn section(ui: &mut egui::Ui, title: &str) {
    ui.label(RichText::new(title).strong().size(15.0));
    ui.separator();
    ui.end_row();
}

fn fields(app: &mut ManagerApp, ui: &mut egui::Ui) {
    let p = |keys: &[&str]| problems(app, keys);
    let (name_p, server_p, port_p, security_p, protocol_p, user_p, password_p, ca_p, folders_p) = (
        p(&["name"]),
        p(&["remote.server", "remote.host", "remote"]),
        p(&["remote.port"]),
        p(&["remote.security"]),
        p(&["remote.protocol", "push"]),
        p(&["remote.username"]),
        p(&["remote.password"]),
        p(&["remote.ca_file"]),
        p(&["remote.folders"]),
    );
    let (smtp_p, local_user_p, domain_p, interval_p, after_p) = (
        p(&[
            "local.smtp",
            "local.smtp_security",
            "local.ca_file",
            "local",
        ]),
        p(&["local.user"]),
        p(&["local.domain"]),
        p(&["interval"]),
        p(&["after_delivery"]),
    );
    let (domains_p, fallback_p, aliases_p) = (
        p(&["distribute.local_domains", "distribute"]),
        p(&["distribute.fallback"]),
        p(&["distribute.aliases", "distribute.recipient_delimiter"]),
    );
    let (auth_p, provider_p, client_p, tenant_p, secret_p, scopes_p, device_p, authz_p, token_p) = (
        p(&["remote.auth"]),
        p(&["remote.oauth2", "remote.oauth2.provider"]),
        p(&["remote.oauth2.client_id"]),
        p(&["remote.oauth2.tenant"]),
        p(&["remote.oauth2.client_secret"]),
        p(&["remote.oauth2.scopes"]),
        p(&["remote.oauth2.device_authorization_url"]),
        p(&["remote.oauth2.authorization_url"]),
        p(&["remote.oauth2.token_url"]),
    );
    let oauth_p = OAuthProblems {
        provider: provider_p,
        client: client_p,
        tenant: tenant_p,
        secret: secret_p,
        scopes: scopes_p,
        device: device_p,
        authz: authz_p,
        token: token_p,
    };
    let is_new = app.editor.mode == (Mode::Editing { original: None });
    let f: &mut FormFields = &mut app.editor.fields;
    egui::Grid::new("profile_form")
        .num_columns(2)
        .spacing([12.0, 6.0])
        .show(ui, |ui| {
            section(ui, "Profile");
            text_row(ui, &name_p, "Name", &mut f.name, "e.g. isp", false);
            ui.label("");
            ui.checkbox(&mut f.enabled, "Enabled");
            ui.end_row();

            section(ui, "Remote mailbox");
            let label = ui.label("Protocol");
            ui.vertical(|ui| {
                ui.horizontal(|ui| {
                    ui.radio_value(&mut f.protocol, Protocol::Pop3, "POP3");
                    ui.radio_value(&mut f.protocol, Protocol::Imap, "IMAP");
                })
                .response
                .labelled_by(label.id);
                show_problems(ui, &protocol_p);
            });
            ui.end_row();
            text_row(
                ui,
                &server_p,
                "Server",
                &mut f.server,
                "mail.myisp.com  or  mail.myisp.com 995s",
                false,
            );
            text_row(
                ui,
                &port_p,
                "Port",
                &mut f.port,
                "default for the protocol",
                false,
            );
            let label = ui.label("Security");
            ui.vertical(|ui| {
                ui.horizontal(|ui| {
                    ui.radio_value(&mut f.security, None, "Default (TLS)");
                    ui.radio_value(&mut f.security, Some(Security::Tls), "TLS");
                    ui.radio_value(&mut f.security, Some(Security::StartTls), "STARTTLS");
                    ui.radio_value(&mut f.security, Some(Security::Plain), "None (plain)");
                })
                .response
                .labelled_by(label.id);
                show_problems(ui, &security_p);
            });
            ui.end_row();
            text_row(
                ui,
                &user_p,
                "User",
                &mut f.username,
                "login name at the server",
                false,
            );
            let label = ui.label("Authentication");
            ui.vertical(|ui| {
                egui::ComboBox::from_id_salt("auth")
                    .selected_text(auth_label(f.auth))
                    .width(240.0)
                    .show_ui(ui, |ui| {
                        for (auth, text) in AUTH_CHOICES {
                            if !auth.is_available(f.protocol) {
                                continue;
                            }
                            ui.selectable_value(&mut f.auth, auth, text);
                        }
                    })
                    .response
                    .labelled_by(label.id);
                show_problems(ui, &auth_p);
            });
            ui.end_row();
            if f.auth.is_oauth() {
                oauth_rows(ui, f, &oauth_p);
            } else {
                password_rows(ui, f, &password_p, is_new);
            }
            text_row(
                ui,
                &ca_p,
                "CA file",
                &mut f.ca_file,
                "only for a private certificate authority",
                false,
            );
            if f.protocol == Protocol::Imap {
                text_row(
                    ui,
                    &folders_p,
                    "Folders",
                    &mut f.folders,
                    DEFAULT_FOLDER,
                    false,
                );
                ui.label("");
                ui.checkbox(&mut f.push, "Push (IMAP IDLE)");
                ui.end_row();
            }

            section(ui, "Local delivery");
            text_row(ui, &smtp_p, "SMTP server", &mut f.smtp, DEFAULT_SMTP, false);
            text_row(
                ui,
                &local_user_p,
                "Local user",
                &mut f.local_user,
                "e.g. alice",
                false,
            );
            text_row(
                ui,
                &domain_p,
                "Local domain",
                &mut f.local_domain,
                "e.g. example.org",
                false,
            );

            section(ui, "Schedule");
            text_row(
                ui,
                &interval_p,
                "Interval",
                &mut f.interval,
                DEFAULT_INTERVAL_TEXT,
                false,
            );
            let label = ui.label("Leave on server");
            ui.vertical(|ui| {
                ui.horizontal(|ui| {
                    ui.radio_value(
                        &mut f.after_delivery,
                        AfterDelivery::Delete,
                        "No, delete after delivery",
                    );
                    ui.radio_value(&mut f.after_delivery, AfterDelivery::Keep, "Yes, keep");
                    ui.radio_value(
                        &mut f.after_delivery,
                        AfterDelivery::KeepDays,
                        "Keep for days",
                    );
                })
                .response
                .labelled_by(label.id);
                show_problems(ui, &after_p);
            });
            ui.end_row();
            if f.after_delivery == AfterDelivery::KeepDays {
                let hint = DEFAULT_KEEP_DAYS.to_string();
                text_row(ui, &[], "Days to keep", &mut f.keep_days, &hint, false);
            }

            section(ui, "Distribution (multi-drop)");
            ui.label("");
            ui.checkbox(
                &mut f.distribute,
                "Distribute to local users by the headers",
            );
            ui.end_row();
            if f.distribute {
                text_row(
                    ui,
                    &domains_p,
                    "Local domains",
                    &mut f.local_domains,
                    "e.g. example.org, example.net",
                    false,
                );
                text_row(
                    ui,
                    &fallback_p,
                    "Fallback",
                    &mut f.fallback,
                    "e.g. postmaster",
                    false,
                );
                let label = ui.label("Aliases");
                ui.vertical(|ui| {
                    ui.add(
                        egui::TextEdit::multiline(&mut f.aliases)
                            .hint_text("sales = bob\ninfo = alice")
                            .desired_rows(3)
                            .desired_width(320.0),
                    )
                    .labelled_by(label.id);
                    show_problems(ui, &aliases_p);
                });
                ui.end_row();
            }
        });
}

/// The password source and, for the keyring, the password (never read back).
fn password_rows(ui: &mut egui::Ui, f: &mut FormFields, password_p: &[String], is_new: bool) {
    let label = ui.label("Password from");
    ui.horizontal(|ui| {
        ui.radio_value(&mut f.password_from, PasswordFrom::Keyring, "OS keyring");
        ui.radio_value(&mut f.password_from, PasswordFrom::File, "File");
        ui.radio_value(
            &mut f.password_from,
            PasswordFrom::Env,
            "Environment variable",
        );
    })
    .response
    .labelled_by(label.id);
    ui.end_row();
    match f.password_from {
        PasswordFrom::Keyring => {
            let hint = if is_new {
                "stored in the worker's keyring"
            } else {
                "leave empty to keep the stored one"
            };
            text_row(ui, password_p, "Password", &mut f.password, hint, true);
        }
        PasswordFrom::File => text_row(
            ui,
            password_p,
            "Password file",
            &mut f.password_ref,
            "/etc/mailpull/isp.password",
            false,
        ),
        PasswordFrom::Env => text_row(
            ui,
            password_p,
            "Password variable",
            &mut f.password_ref,
            "MAILPULL_ISP_PASSWORD",
            false,
        ),
    }
}

/// The problems of the OAuth 2.0 client's fields.
struct OAuthProblems {
    provider: Vec<String>,
    client: Vec<String>,
    tenant: Vec<String>,
    secret: Vec<String>,
    scopes: Vec<String>,
    device: Vec<String>,
    authz: Vec<String>,
    token: Vec<String>,
}

/// The OAuth 2.0 client: provider preset, client id, tenant (Microsoft), the client secret's
/// source (never the secret), scopes and endpoints (custom, or to override a preset).
fn oauth_rows(ui: &mut egui::Ui, f: &mut FormFields, p: &OAuthProblems) {
    let label = ui.label("Provider");
    ui.vertical(|ui| {
        ui.horizontal(|ui| {
            ui.radio_value(&mut f.provider, OAuthProvider::Microsoft, "Microsoft 365");
            ui.radio_value(&mut f.provider, OAuthProvider::Google, "Google");
            ui.radio_value(&mut f.provider, OAuthProvider::Custom, "Custom");
        })
        .response
        .labelled_by(label.id);
        show_problems(ui, &p.provider);
    });
    ui.end_row();
    text_row(
        ui,
        &p.client,
        "Client ID",
        &mut f.client_id,
        "application (client) id of the app registration",
        false,
    );
    if f.provider == OAuthProvider::Microsoft {
        text_row(
            ui,
            &p.tenant,
            "Tenant",
            &mut f.tenant,
            "common, or the directory id / domain",
            false,
        );
    }
    let label = ui.label("Client secret from");
    ui.vertical(|ui| {
        ui.horizontal(|ui| {
            ui.radio_value(&mut f.secret_from, SecretFrom::None, "None");
            ui.radio_value(&mut f.secret_from, SecretFrom::Keyring, "OS keyring");
            ui.radio_value(&mut f.secret_from, SecretFrom::File, "File");
            ui.radio_value(&mut f.secret_from, SecretFrom::Env, "Environment variable");
        })
        .response
        .labelled_by(label.id);
        show_problems(ui, &p.secret);
    });
    ui.end_row();
    match f.secret_from {
        SecretFrom::File => text_row(
            ui,
            &[],
            "Client secret file",
            &mut f.secret_ref,
            "/etc/mailpull/client.secret",
            false,
        ),
        SecretFrom::Env => text_row(
            ui,
            &[],
            "Client secret variable",
            &mut f.secret_ref,
            "MAILPULL_CLIENT_SECRET",
            false,
        ),
        SecretFrom::Keyring => text_row(
            ui,
            &[],
            "Client secret",
            &mut f.client_secret,
            "stored in the worker's keyring; empty keeps the stored one",
            true,
        ),
        SecretFrom::None => {}
    }
    let preset = f.provider != OAuthProvider::Custom;
    let default = |custom: &'static str| if preset { "the preset's" } else { custom };
    text_row(
        ui,
        &p.scopes,
        "Scopes",
        &mut f.scopes,
        default("e.g. mail, offline_access"),
        false,
    );
    text_row(
        ui,
        &p.device,
        "Device code URL",
        &mut f.device_url,
        default("https://id.example.com/device"),
        false,
    );
    text_row(
        ui,
        &p.authz,
        "Authorization URL",
        &mut f.authorization_url,
        default("https://id.example.com/authorize"),
        false,
    );
    text_row(
        ui,
        &p.token,
        "Token URL",
        &mut f.token_url,
        default("https://id.example.com/token"),
        false,
    );
    ui.label("");
    ui.weak("No password: save, then press Sign in … to sign in with the provider.");
    ui.end_row();
}
