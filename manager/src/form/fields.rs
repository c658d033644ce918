//! The form's fields and the choices it offers. Config values are the configuration model's
//! own types ([`Protocol`], [`Security`], [`AuthMethod`], [`OAuthProvider`]) and its named
//! defaults; what is only the window's (labels, the kind of a secret's source) is here.

use mailpull_shared::config::{
    AuthMethod, DEFAULT_INTERVAL_TEXT, DEFAULT_KEEP_DAYS, DEFAULT_SMTP, OAuthProvider, Protocol,
    Security, default_smtp_security, split_host_port,
};

/// Text typed into a secret field (a password, a client secret). It derefs to the `String`
/// the text box edits; its `Debug` never shows it, so no `{:?}` of the form leaks it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretText(String);

impl std::ops::Deref for SecretText {
    type Target = String;

    fn deref(&self) -> &String {
        &self.0
    }
}

impl std::ops::DerefMut for SecretText {
    fn deref_mut(&mut self) -> &mut String {
        &mut self.0
    }
}

impl From<&str> for SecretText {
    fn from(text: &str) -> Self {
        SecretText(text.to_string())
    }
}

impl PartialEq<&str> for SecretText {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "****" })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordFrom {
    /// The OS keyring of the worker's account (the password typed here is sent there).
    Keyring,
    File,
    Env,
}

/// Every login choice in the order the form lists them, with the form's label.
pub const AUTH_CHOICES: [(AuthMethod, &str); 7] = [
    (AuthMethod::Auto, "Automatic"),
    (AuthMethod::Login, "User/password"),
    (AuthMethod::Plain, "SASL PLAIN"),
    (AuthMethod::Apop, "APOP"),
    (AuthMethod::SaslLogin, "SASL LOGIN"),
    (AuthMethod::XOAuth2, "OAuth 2.0 (XOAUTH2)"),
    (AuthMethod::OAuthBearer, "OAuth 2.0 (OAUTHBEARER)"),
];

/// The form's label of a login choice.
pub fn auth_label(auth: AuthMethod) -> &'static str {
    AUTH_CHOICES
        .iter()
        .find(|(choice, _)| *choice == auth)
        .map_or("", |(_, label)| label)
}

/// Where an OAuth client secret comes from. For the keyring it is typed into the form and
/// sent once to the worker's keyring on save; it is never read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretFrom {
    /// The client has no secret (Microsoft's public clients).
    None,
    /// The worker's keyring (entry `oauth2-client-secret:NAME`).
    Keyring,
    File,
    Env,
}

/// The `after_delivery` choice; the number of days of `KeepDays` is its own text field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterDelivery {
    Delete,
    Keep,
    KeepDays,
}

/// Every field the form shows.
#[derive(Debug, Clone, PartialEq)]
pub struct FormFields {
    pub name: String,
    pub enabled: bool,
    pub protocol: Protocol,
    /// The host name only (a profile written in the `host 995s` notation is read into host,
    /// port and security, and written back unchanged while it still means the same).
    pub server: String,
    /// Empty: the default of the protocol and security ([`FormFields::default_port`]).
    pub port: String,
    /// `None`: not written, which is TLS ([`FormFields::remote_security`] shows it).
    pub security: Option<Security>,
    pub username: String,
    pub auth: AuthMethod,
    /// The OAuth 2.0 client (used when [`AuthMethod::is_oauth`]).
    pub provider: OAuthProvider,
    pub client_id: String,
    /// Microsoft only; empty: the model's default tenant.
    pub tenant: String,
    pub secret_from: SecretFrom,
    /// The file or environment variable of the client secret.
    pub secret_ref: String,
    /// Typed here for [`SecretFrom::Keyring`], sent to the worker's keyring on save, never
    /// read back. Empty: unchanged.
    pub client_secret: SecretText,
    /// Comma-separated; empty: the preset's scopes (custom providers must name them).
    pub scopes: String,
    /// Custom endpoints (they override a preset's when written).
    pub device_url: String,
    pub authorization_url: String,
    pub token_url: String,
    pub password_from: PasswordFrom,
    /// The file or environment variable for [`PasswordFrom::File`] / [`PasswordFrom::Env`].
    pub password_ref: String,
    /// Typed here, sent to the worker's keyring on save, never read back. Empty: unchanged.
    pub password: SecretText,
    pub ca_file: String,
    /// IMAP folders, comma-separated; empty means the model's default folder.
    pub folders: String,
    pub push: bool,
    /// `remote.timeout` as written (`60s`); empty: the model's default.
    pub timeout: String,
    /// `remote.max_message_mb`; empty: the model's default.
    pub max_message_mb: String,
    /// `host:port` of the local SMTP server.
    pub smtp: String,
    /// `None`: not written, which is plain on the loopback and STARTTLS elsewhere
    /// ([`FormFields::local_security`] shows it).
    pub smtp_security: Option<Security>,
    /// `local.ca_file`: a private CA for the local server (a self-signed Exchange).
    pub local_ca_file: String,
    pub local_user: String,
    pub local_domain: String,
    pub interval: String,
    pub after_delivery: AfterDelivery,
    pub keep_days: String,
    pub distribute: bool,
    /// Comma-separated.
    pub local_domains: String,
    pub fallback: String,
    /// One `alias = user` per line.
    pub aliases: String,
    /// Comma-separated header names; empty: the model's defaults.
    pub envelope_headers: String,
    pub visible_headers: String,
    /// Numbers as typed; empty: the model's defaults.
    pub received_trusted: String,
    pub max_received: String,
    /// One character, or empty: the model's default (`+`). `none` keeps tags.
    pub recipient_delimiter: String,
}

impl Default for FormFields {
    fn default() -> Self {
        FormFields {
            name: String::new(),
            enabled: true,
            protocol: Protocol::default(),
            server: String::new(),
            port: String::new(),
            security: None,
            username: String::new(),
            auth: AuthMethod::default(),
            provider: OAuthProvider::default(),
            client_id: String::new(),
            tenant: String::new(),
            secret_from: SecretFrom::None,
            secret_ref: String::new(),
            client_secret: SecretText::default(),
            scopes: String::new(),
            device_url: String::new(),
            authorization_url: String::new(),
            token_url: String::new(),
            password_from: PasswordFrom::Keyring,
            password_ref: String::new(),
            password: SecretText::default(),
            ca_file: String::new(),
            folders: String::new(),
            push: false,
            timeout: String::new(),
            max_message_mb: String::new(),
            smtp: DEFAULT_SMTP.into(),
            smtp_security: None,
            local_ca_file: String::new(),
            local_user: String::new(),
            local_domain: String::new(),
            interval: DEFAULT_INTERVAL_TEXT.into(),
            after_delivery: AfterDelivery::Delete,
            keep_days: DEFAULT_KEEP_DAYS.to_string(),
            distribute: false,
            local_domains: String::new(),
            fallback: String::new(),
            aliases: String::new(),
            envelope_headers: String::new(),
            visible_headers: String::new(),
            received_trusted: String::new(),
            max_received: String::new(),
            recipient_delimiter: String::new(),
        }
    }
}

impl FormFields {
    /// The remote security in effect: as chosen, or the model's default (TLS).
    pub fn remote_security(&self) -> Security {
        self.security.unwrap_or_default()
    }

    /// The port used when the Port field is empty.
    pub fn default_port(&self) -> u16 {
        self.protocol.default_port(self.remote_security())
    }

    /// Sets the protocol and the security; a port that was the old choice's default follows
    /// the new choice (it is cleared: empty means the default). A typed port stays.
    pub fn choose_transport(&mut self, protocol: Protocol, security: Security) {
        let old_default = self.default_port();
        self.protocol = protocol;
        // Not written stays not written while it means the choice (TLS).
        if security != self.remote_security() {
            self.security = Some(security);
        }
        if self.port.trim() == old_default.to_string() {
            self.port.clear();
        }
    }

    /// The local SMTP security in effect: as chosen, or the model's default for the host
    /// (plain on the loopback, STARTTLS elsewhere).
    pub fn local_security(&self) -> Security {
        self.smtp_security.unwrap_or_else(|| {
            let host = split_host_port(self.smtp.trim()).map_or(String::new(), |(host, _)| host);
            default_smtp_security(&host)
        })
    }
}

/// A comma- or line-separated list, without empty items.
pub(super) fn list(text: &str) -> Vec<String> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_string)
        .collect()
}

/// The trimmed text, or `None` (not written) when empty.
pub(super) fn text(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_string())
}
