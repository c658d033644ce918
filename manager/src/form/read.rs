//! A profile as read from the worker (the `[[profile]]` table as written) into the form.

use mailpull_shared::config::raw::{RawAfterDelivery, RawKeepDays, RawPassword};
use mailpull_shared::config::server::parse_server;
use mailpull_shared::config::{self as model, DEFAULT_INTERVAL_TEXT, Security};
use mailpull_shared::ipc::ProfileForm;

use super::fields::{AfterDelivery, FormFields, PasswordFrom, SecretFrom};

/// A config value as the model reads it; `None` when not written or not one of its names
/// (the form then shows its default, as it always did).
fn choice<T: std::str::FromStr>(text: Option<&str>) -> Option<T> {
    text.and_then(|text| text.parse().ok())
}

/// A number as the form shows it; empty when not written.
fn number(value: Option<i64>) -> String {
    value.map(|n| n.to_string()).unwrap_or_default()
}

impl FormFields {
    pub fn from_profile(form: &ProfileForm) -> FormFields {
        let mut fields = FormFields {
            name: form.name.clone().unwrap_or_default(),
            enabled: form.enabled.unwrap_or(true),
            interval: form
                .interval
                .clone()
                .unwrap_or_else(|| DEFAULT_INTERVAL_TEXT.into()),
            push: form.push.unwrap_or(false),
            ..FormFields::default()
        };
        match &form.after_delivery {
            Some(RawAfterDelivery::Mode(mode))
                if model::AfterDelivery::from_mode(mode) == Ok(model::AfterDelivery::Keep) =>
            {
                fields.after_delivery = AfterDelivery::Keep;
            }
            Some(RawAfterDelivery::Table(RawKeepDays { keep_days })) => {
                fields.after_delivery = AfterDelivery::KeepDays;
                fields.keep_days = keep_days.map(|d| d.to_string()).unwrap_or_default();
            }
            _ => {}
        }
        if let Some(remote) = &form.remote {
            fields.protocol = choice(remote.protocol.as_deref()).unwrap_or_default();
            fields.security = choice(remote.security.as_deref());
            fields.port = remote.port.map(|p| p.to_string()).unwrap_or_default();
            fields.server = remote.host.clone().unwrap_or_default();
            // The `host 995s` notation: one host, one port, one security in the form.
            if let Some(server) = &remote.server {
                match parse_server(server) {
                    Ok(notation) => {
                        fields.server = notation.host;
                        fields.port = notation.port.map(|p| p.to_string()).unwrap_or_default();
                        if fields.security.is_none() && notation.port.is_some() {
                            fields.security = Some(if notation.tls {
                                Security::Tls
                            } else {
                                Security::StartTls
                            });
                        }
                    }
                    Err(_) => fields.server = server.clone(),
                }
            }
            fields.username = remote.username.clone().unwrap_or_default();
            fields.auth = choice(remote.auth.as_deref()).unwrap_or_default();
            if let Some(oauth2) = &remote.oauth2 {
                fields.provider = choice(oauth2.provider.as_deref()).unwrap_or_default();
                fields.client_id = oauth2.client_id.clone().unwrap_or_default();
                fields.tenant = oauth2.tenant.clone().unwrap_or_default();
                (fields.secret_from, fields.secret_ref) = match &oauth2.client_secret {
                    Some(RawPassword::Source(source)) if source.file.is_some() => {
                        (SecretFrom::File, source.file.clone().unwrap_or_default())
                    }
                    Some(RawPassword::Source(source)) if source.env.is_some() => {
                        (SecretFrom::Env, source.env.clone().unwrap_or_default())
                    }
                    Some(RawPassword::Source(source)) if source.keyring == Some(true) => {
                        (SecretFrom::Keyring, String::new())
                    }
                    _ => (SecretFrom::None, String::new()),
                };
                fields.scopes = oauth2.scopes.clone().unwrap_or_default().join(", ");
                fields.device_url = oauth2.device_authorization_url.clone().unwrap_or_default();
                fields.authorization_url = oauth2.authorization_url.clone().unwrap_or_default();
                fields.token_url = oauth2.token_url.clone().unwrap_or_default();
            }
            match &remote.password {
                Some(RawPassword::Source(source)) if source.file.is_some() => {
                    fields.password_from = PasswordFrom::File;
                    fields.password_ref = source.file.clone().unwrap_or_default();
                }
                Some(RawPassword::Source(source)) if source.env.is_some() => {
                    fields.password_from = PasswordFrom::Env;
                    fields.password_ref = source.env.clone().unwrap_or_default();
                }
                // An inline password in the file is never shown; the worker refuses it anyway.
                _ => fields.password_from = PasswordFrom::Keyring,
            }
            fields.ca_file = remote.ca_file.clone().unwrap_or_default();
            fields.folders = remote.folders.clone().unwrap_or_default().join(", ");
            fields.timeout = remote.timeout.clone().unwrap_or_default();
            fields.max_message_mb = number(remote.max_message_mb);
        }
        if let Some(local) = &form.local {
            fields.smtp = local.smtp.clone().unwrap_or_default();
            fields.local_user = local.user.clone().unwrap_or_default();
            fields.local_domain = local.domain.clone().unwrap_or_default();
            fields.smtp_security = choice(local.smtp_security.as_deref());
            fields.local_ca_file = local.ca_file.clone().unwrap_or_default();
        }
        if let Some(distribute) = &form.distribute {
            fields.distribute = distribute.enabled.unwrap_or(true);
            fields.local_domains = distribute
                .local_domains
                .clone()
                .unwrap_or_default()
                .join(", ");
            fields.fallback = distribute.fallback.clone().unwrap_or_default();
            fields.aliases = distribute
                .aliases
                .clone()
                .unwrap_or_default()
                .iter()
                .map(|(alias, user)| format!("{alias} = {user}"))
                .collect::<Vec<_>>()
                .join("\n");
            fields.envelope_headers = distribute
                .envelope_headers
                .clone()
                .unwrap_or_default()
                .join(", ");
            fields.visible_headers = distribute
                .visible_headers
                .clone()
                .unwrap_or_default()
                .join(", ");
            fields.received_trusted = number(distribute.received_trusted);
            fields.max_received = number(distribute.max_received);
            fields.recipient_delimiter = match distribute.recipient_delimiter.as_deref() {
                Some("") => "none".into(),
                other => other.unwrap_or_default().into(),
            };
        }
        fields
    }
}
