//! The Remote section: protocol, server, one security choice (the port follows it unless
//! typed), login, and the password's source or the OAuth 2.0 client; CA file and folders.

use mailpull_shared::config::{DEFAULT_FOLDER, Security};

use super::rows::Rows;
use crate::form::{
    AUTH_CHOICES, FormFields, OAuthProvider, PasswordFrom, Protocol, SecretFrom, auth_label,
};

/// The one security choice of the remote (no "default": TLS is what is preselected).
pub const SECURITY_CHOICES: [(Security, &str); 3] = [
    (Security::Tls, "TLS"),
    (Security::StartTls, "STARTTLS"),
    (Security::Plain, "None (plain)"),
];

pub fn show(rows: &Rows, ui: &mut egui::Ui, f: &mut FormFields, is_new: bool) {
    let protocols = [(Protocol::Pop3, "POP3"), (Protocol::Imap, "IMAP")];
    let keys = ["remote.protocol", "push"];
    if let Some(protocol) = rows.choice(ui, "Protocol", &keys, f.protocol, &protocols) {
        f.choose_transport(protocol, f.remote_security());
    }
    rows.text(
        ui,
        "Server",
        &["remote.server", "remote.host", "remote"],
        &mut f.server,
        "e.g. mail.myisp.com",
        "not set",
    );
    let keys = ["remote.security"];
    if let Some(security) = rows.choice(
        ui,
        "Security",
        &keys,
        f.remote_security(),
        &SECURITY_CHOICES,
    ) {
        f.choose_transport(f.protocol, security);
    }
    let default_port = format!(
        "{} (the default for {} over {})",
        f.default_port(),
        f.protocol.as_str().to_uppercase(),
        security_name(f.remote_security())
    );
    rows.text(
        ui,
        "Port",
        &["remote.port"],
        &mut f.port,
        &default_port,
        &default_port,
    );
    rows.text(
        ui,
        "User",
        &["remote.username"],
        &mut f.username,
        "login name at the server",
        "not set",
    );
    if rows.editing {
        rows.input(ui, "Authentication", &["remote.auth"], |ui| {
            egui::ComboBox::from_id_salt("auth")
                .selected_text(auth_label(f.auth))
                .width(240.0)
                .show_ui(ui, |ui| {
                    for (auth, text) in AUTH_CHOICES {
                        if auth.is_available(f.protocol) {
                            ui.selectable_value(&mut f.auth, auth, text);
                        }
                    }
                })
                .response
        });
    } else {
        let mut shown = auth_label(f.auth).to_string();
        rows.text(ui, "Authentication", &[], &mut shown, "", "");
    }
    if f.auth.is_oauth() {
        oauth_rows(rows, ui, f);
    } else {
        password_rows(rows, ui, f, is_new);
    }
    rows.text(
        ui,
        "CA file",
        &["remote.ca_file"],
        &mut f.ca_file,
        "only for a private certificate authority",
        "the system's trusted certificates",
    );
    if f.protocol == Protocol::Imap {
        rows.text(
            ui,
            "Folders",
            &["remote.folders"],
            &mut f.folders,
            DEFAULT_FOLDER,
            DEFAULT_FOLDER,
        );
    }
}

/// The security as a person says it.
pub fn security_name(security: Security) -> &'static str {
    match security {
        Security::Tls => "TLS",
        Security::StartTls => "STARTTLS",
        Security::Plain => "a plain connection",
    }
}

/// The password source and, for the keyring, the password (never read back).
fn password_rows(rows: &Rows, ui: &mut egui::Ui, f: &mut FormFields, is_new: bool) {
    let sources = [
        (PasswordFrom::Keyring, "OS keyring"),
        (PasswordFrom::File, "File"),
        (PasswordFrom::Env, "Environment variable"),
    ];
    if let Some(from) = rows.choice(ui, "Password from", &[], f.password_from, &sources) {
        f.password_from = from;
    }
    let keys = ["remote.password"];
    match f.password_from {
        PasswordFrom::Keyring => {
            let hint = if is_new {
                "stored in the worker's keyring"
            } else {
                "leave empty to keep the stored one"
            };
            rows.secret(ui, "Password", &keys, &mut f.password, hint);
        }
        PasswordFrom::File => rows.text(
            ui,
            "Password file",
            &keys,
            &mut f.password_ref,
            "/etc/mailpull/isp.password",
            "not set",
        ),
        PasswordFrom::Env => rows.text(
            ui,
            "Password variable",
            &keys,
            &mut f.password_ref,
            "MAILPULL_ISP_PASSWORD",
            "not set",
        ),
    }
}

/// The OAuth 2.0 client: provider preset, client id, tenant (Microsoft), the client secret's
/// source (never the secret), scopes and endpoints (custom, or to override a preset).
fn oauth_rows(rows: &Rows, ui: &mut egui::Ui, f: &mut FormFields) {
    let providers = [
        (OAuthProvider::Microsoft, "Microsoft 365"),
        (OAuthProvider::Google, "Google"),
        (OAuthProvider::Custom, "Custom"),
    ];
    let keys = ["remote.oauth2", "remote.oauth2.provider"];
    if let Some(provider) = rows.choice(ui, "Provider", &keys, f.provider, &providers) {
        f.provider = provider;
    }
    rows.text(
        ui,
        "Client ID",
        &["remote.oauth2.client_id"],
        &mut f.client_id,
        "application (client) id of the app registration",
        "not set",
    );
    if f.provider == OAuthProvider::Microsoft {
        rows.text(
            ui,
            "Tenant",
            &["remote.oauth2.tenant"],
            &mut f.tenant,
            "common, or the directory id / domain",
            "common",
        );
    }
    let sources = [
        (SecretFrom::None, "None"),
        (SecretFrom::Keyring, "OS keyring"),
        (SecretFrom::File, "File"),
        (SecretFrom::Env, "Environment variable"),
    ];
    let keys = ["remote.oauth2.client_secret"];
    if let Some(from) = rows.choice(ui, "Client secret from", &keys, f.secret_from, &sources) {
        f.secret_from = from;
    }
    match f.secret_from {
        SecretFrom::File => rows.text(
            ui,
            "Client secret file",
            &[],
            &mut f.secret_ref,
            "/etc/mailpull/client.secret",
            "not set",
        ),
        SecretFrom::Env => rows.text(
            ui,
            "Client secret variable",
            &[],
            &mut f.secret_ref,
            "MAILPULL_CLIENT_SECRET",
            "not set",
        ),
        SecretFrom::Keyring => rows.secret(
            ui,
            "Client secret",
            &[],
            &mut f.client_secret,
            "stored in the worker's keyring; empty keeps the stored one",
        ),
        SecretFrom::None => {}
    }
    let preset = f.provider != OAuthProvider::Custom;
    let default = |custom: &'static str| if preset { "the preset's" } else { custom };
    for (label, key, value, example) in [
        (
            "Scopes",
            "remote.oauth2.scopes",
            &mut f.scopes,
            "e.g. mail, offline_access",
        ),
        (
            "Device code URL",
            "remote.oauth2.device_authorization_url",
            &mut f.device_url,
            "https://id.example.com/device",
        ),
        (
            "Authorization URL",
            "remote.oauth2.authorization_url",
            &mut f.authorization_url,
            "https://id.example.com/authorize",
        ),
        (
            "Token URL",
            "remote.oauth2.token_url",
            &mut f.token_url,
            "https://id.example.com/token",
        ),
    ] {
        let shown = default(example);
        let empty = if preset { "the preset's" } else { "not set" };
        rows.text(ui, label, &[key], value, shown, empty);
    }
    if rows.editing {
        rows.note(
            ui,
            "No password: save, then press Sign in … to sign in with the provider.",
        );
    }
}
