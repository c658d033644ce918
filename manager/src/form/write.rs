//! The form written back: the profile to save (starting from the profile as read, so what
//! the form does not show survives), and the secrets typed into it, sent one way.

use std::collections::BTreeMap;

use mailpull_shared::config::raw::{
    RawAfterDelivery, RawDistribute, RawKeepDays, RawOAuth2, RawPassword, RawPasswordSource,
    RawRemote,
};
use mailpull_shared::config::server::parse_server;
use mailpull_shared::config::{self as model, AuthMethod, OAuthProvider, Protocol, Security};
use mailpull_shared::ipc::{FieldProblem, ProfileForm, WirePassword};

use super::fields::{AfterDelivery, FormFields, PasswordFrom, SecretFrom, list, text};

/// A security choice as written: `None` when not chosen; the text as written when it still
/// means the choice (`ssl` is `tls`), else the choice's name.
fn written_security(chosen: Option<Security>, written: Option<String>) -> Option<String> {
    chosen.map(|chosen| match written {
        Some(written) if written.parse() == Ok(chosen) => written,
        _ => chosen.as_str().into(),
    })
}

impl FormFields {
    /// Host, port and security of the remote. A profile written in the `host 995s` notation
    /// keeps it while host, port and security still mean the same; otherwise they are written
    /// as `host`, `port` and `security`.
    fn write_address(&self, remote: &mut RawRemote) {
        let host = self.server.trim();
        let port: Option<u16> = self.port.trim().parse().ok();
        if let Some(notation) = remote.server.as_deref().and_then(|s| parse_server(s).ok()) {
            let written_security = remote.security.as_deref().and_then(|s| s.parse().ok());
            let notation_security =
                written_security.unwrap_or(if notation.tls || notation.port.is_none() {
                    Security::Tls
                } else {
                    Security::StartTls
                });
            if notation.host == host
                && notation.port == port
                && notation_security == self.remote_security()
            {
                return;
            }
        }
        remote.server = None;
        remote.host = text(host);
        remote.port = port.map(i64::from);
        remote.security = written_security(self.security, remote.security.take());
    }

    /// The password to send with the save, if one was typed (keyring profiles only; an
    /// OAuth profile has none).
    pub fn password_to_send(&self) -> Option<WirePassword> {
        (!self.auth.is_oauth()
            && self.password_from == PasswordFrom::Keyring
            && !self.password.is_empty())
        .then(|| WirePassword::new(self.password.as_str()))
    }

    /// The OAuth client secret to send with the save, if one was typed (OAuth profiles whose
    /// client secret comes from the keyring only).
    pub fn client_secret_to_send(&self) -> Option<WirePassword> {
        (self.auth.is_oauth()
            && self.secret_from == SecretFrom::Keyring
            && !self.client_secret.is_empty())
        .then(|| WirePassword::new(self.client_secret.as_str()))
    }

    /// The `[profile.remote.oauth2]` table: `base` with the form's fields.
    fn to_oauth2(&self, base: Option<&RawOAuth2>) -> RawOAuth2 {
        let mut out = base.cloned().unwrap_or_default();
        out.provider = Some(self.provider.as_str().into());
        out.client_id = text(&self.client_id);
        out.tenant = if self.provider == OAuthProvider::Microsoft {
            text(&self.tenant)
        } else {
            None
        };
        out.client_secret = match self.secret_from {
            SecretFrom::None => None,
            SecretFrom::Keyring => Some(RawPasswordSource {
                keyring: Some(true),
                ..RawPasswordSource::default()
            }),
            SecretFrom::File => Some(RawPasswordSource {
                file: text(&self.secret_ref),
                ..RawPasswordSource::default()
            }),
            SecretFrom::Env => Some(RawPasswordSource {
                env: text(&self.secret_ref),
                ..RawPasswordSource::default()
            }),
        }
        .map(RawPassword::Source);
        let scopes = list(&self.scopes);
        out.scopes = (!scopes.is_empty()).then_some(scopes);
        out.device_authorization_url = text(&self.device_url);
        out.authorization_url = text(&self.authorization_url);
        out.token_url = text(&self.token_url);
        out
    }

    fn password_source(&self) -> RawPassword {
        RawPassword::Source(match self.password_from {
            PasswordFrom::Keyring => RawPasswordSource {
                keyring: Some(true),
                ..RawPasswordSource::default()
            },
            PasswordFrom::File => RawPasswordSource {
                file: text(&self.password_ref),
                ..RawPasswordSource::default()
            },
            PasswordFrom::Env => RawPasswordSource {
                env: text(&self.password_ref),
                ..RawPasswordSource::default()
            },
        })
    }

    /// The profile to save: `base` (as read, or empty for a new one) with the form's fields.
    /// Refused with every local problem; nothing is sent then.
    pub fn to_profile(&self, base: &ProfileForm) -> Result<ProfileForm, Vec<FieldProblem>> {
        let problems = self.local_problems();
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut out = base.clone();
        out.name = text(&self.name);
        out.enabled = Some(self.enabled);
        out.interval = text(&self.interval);
        out.after_delivery = Some(match self.after_delivery {
            AfterDelivery::Delete => model::AfterDelivery::Delete.into(),
            AfterDelivery::Keep => model::AfterDelivery::Keep.into(),
            AfterDelivery::KeepDays => RawAfterDelivery::Table(RawKeepDays {
                keep_days: self.keep_days.trim().parse().ok(),
            }),
        });
        out.push = (self.protocol == Protocol::Imap && self.push).then_some(true);

        let mut remote = base.remote.clone().unwrap_or_default();
        remote.protocol = Some(self.protocol.as_str().into());
        self.write_address(&mut remote);
        remote.username = text(&self.username);
        remote.auth =
            (self.auth != AuthMethod::Auto).then(|| self.auth.name_for(self.protocol).into());
        if self.auth.is_oauth() {
            let base_oauth2 = base.remote.as_ref().and_then(|r| r.oauth2.as_ref());
            remote.oauth2 = Some(self.to_oauth2(base_oauth2));
            remote.password = None;
        } else {
            remote.oauth2 = None;
            remote.password = Some(self.password_source());
        }
        remote.ca_file = text(&self.ca_file);
        let folders = list(&self.folders);
        remote.folders =
            (self.protocol == Protocol::Imap && !folders.is_empty()).then_some(folders);
        remote.timeout = text(&self.timeout);
        remote.max_message_mb = self.max_message_mb.trim().parse().ok();
        out.remote = Some(remote);

        let mut local = base.local.clone().unwrap_or_default();
        local.smtp = text(&self.smtp);
        local.user = text(&self.local_user);
        local.domain = text(&self.local_domain);
        local.smtp_security = written_security(self.smtp_security, local.smtp_security.take());
        local.ca_file = text(&self.local_ca_file);
        out.local = Some(local);

        out.distribute = if self.distribute {
            let mut distribute = base.distribute.clone().unwrap_or_default();
            distribute.enabled = Some(true);
            let domains = list(&self.local_domains);
            distribute.local_domains = (!domains.is_empty()).then_some(domains);
            distribute.fallback = text(&self.fallback);
            let aliases: BTreeMap<String, String> = self
                .aliases
                .lines()
                .filter_map(|line| line.split_once('='))
                .map(|(alias, user)| (alias.trim().to_string(), user.trim().to_string()))
                .collect();
            distribute.aliases = (!aliases.is_empty()).then_some(aliases);
            let envelope = list(&self.envelope_headers);
            distribute.envelope_headers = (!envelope.is_empty()).then_some(envelope);
            let visible = list(&self.visible_headers);
            distribute.visible_headers = (!visible.is_empty()).then_some(visible);
            distribute.received_trusted = self.received_trusted.trim().parse().ok();
            distribute.max_received = self.max_received.trim().parse().ok();
            // Empty: the default (`+`); "none" keeps tags (`""` in the file).
            distribute.recipient_delimiter = match self.recipient_delimiter.trim() {
                "none" => Some(String::new()),
                other => text(other),
            };
            Some(distribute)
        } else {
            base.distribute.clone().map(|d| RawDistribute {
                enabled: Some(false),
                ..d
            })
        };
        Ok(out)
    }
}
