//! The profile form as the window edits it: plain strings and choices, read from and written
//! to the configuration's [`ProfileForm`] (the `[[profile]]` table as written). Writing back
//! starts from the profile as it was read, so settings the form does not show (timeouts,
//! header lists ...) survive an edit. The authentication choice and, for OAuth 2.0
//! (`xoauth2`/`oauthbearer`), the `[profile.remote.oauth2]` client are part of the form; an
//! OAuth profile has no password (its refresh token comes from the sign-in). [`FormFields::to_profile`] also runs the
//! cheap local checks (a port is 1–65535, an interval reads as a duration, ...); everything
//! else is checked by the worker, which names the field of each problem.

use std::collections::BTreeMap;

use mailpull_shared::config::duration::parse_duration;
use mailpull_shared::config::raw::{
    RawAfterDelivery, RawDistribute, RawKeepDays, RawLocal, RawOAuth2, RawPassword,
    RawPasswordSource, RawRemote,
};
use mailpull_shared::config::server::parse_server;
use mailpull_shared::ipc::{FieldProblem, ProfileForm};

/// The default poll interval of a new profile (the manual's 10 minutes).
pub const DEFAULT_INTERVAL: &str = "10m";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Pop3,
    Imap,
}

/// `Default`: implicit TLS, or as the `server` notation says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    Default,
    Tls,
    StartTls,
    Plain,
}

impl Security {
    fn from_raw(text: Option<&str>) -> Self {
        match text {
            Some("tls") => Security::Tls,
            Some("starttls") => Security::StartTls,
            Some("plain") => Security::Plain,
            _ => Security::Default,
        }
    }

    fn to_raw(self) -> Option<String> {
        match self {
            Security::Default => None,
            Security::Tls => Some("tls".into()),
            Security::StartTls => Some("starttls".into()),
            Security::Plain => Some("plain".into()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordFrom {
    /// The OS keyring of the worker's account (the password typed here is sent there).
    Keyring,
    File,
    Env,
}

/// How the worker logs in (`remote.auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// The best the server offers (`auto`, or not written).
    Auto,
    /// USER/PASS (POP3) or LOGIN (IMAP).
    User,
    Plain,
    /// POP3 only.
    Apop,
    SaslLogin,
    XOAuth2,
    OAuthBearer,
}

impl Auth {
    /// Every choice, with the form's label.
    pub const ALL: [(Auth, &'static str); 7] = [
        (Auth::Auto, "Automatic"),
        (Auth::User, "User/password"),
        (Auth::Plain, "SASL PLAIN"),
        (Auth::Apop, "APOP"),
        (Auth::SaslLogin, "SASL LOGIN"),
        (Auth::XOAuth2, "OAuth 2.0 (XOAUTH2)"),
        (Auth::OAuthBearer, "OAuth 2.0 (OAUTHBEARER)"),
    ];

    /// True for the two mechanisms that log in with an OAuth 2.0 access token.
    pub fn is_oauth(self) -> bool {
        matches!(self, Auth::XOAuth2 | Auth::OAuthBearer)
    }

    pub fn label(self) -> &'static str {
        Auth::ALL
            .iter()
            .find(|(auth, _)| *auth == self)
            .map_or("", |(_, label)| label)
    }

    fn from_raw(text: Option<&str>) -> Self {
        match text {
            Some("user" | "login") => Auth::User,
            Some("plain") => Auth::Plain,
            Some("apop") => Auth::Apop,
            Some("sasl-login") => Auth::SaslLogin,
            Some("xoauth2") => Auth::XOAuth2,
            Some("oauthbearer") => Auth::OAuthBearer,
            _ => Auth::Auto,
        }
    }

    fn to_raw(self, protocol: Protocol) -> Option<String> {
        let text = match self {
            Auth::Auto => return None,
            Auth::User if protocol == Protocol::Imap => "login",
            Auth::User => "user",
            Auth::Plain => "plain",
            Auth::Apop => "apop",
            Auth::SaslLogin => "sasl-login",
            Auth::XOAuth2 => "xoauth2",
            Auth::OAuthBearer => "oauthbearer",
        };
        Some(text.into())
    }
}

/// Whose OAuth 2.0 endpoints an OAuth profile uses (`remote.oauth2.provider`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Microsoft,
    Google,
    Custom,
}

impl Provider {
    fn from_raw(text: Option<&str>) -> Self {
        match text {
            Some("google") => Provider::Google,
            Some("custom") => Provider::Custom,
            _ => Provider::Microsoft,
        }
    }

    fn to_raw(self) -> String {
        match self {
            Provider::Microsoft => "microsoft",
            Provider::Google => "google",
            Provider::Custom => "custom",
        }
        .into()
    }
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
    /// A host name, or the notation `host 995s`.
    pub server: String,
    /// Empty: the default of the protocol and security.
    pub port: String,
    pub security: Security,
    pub username: String,
    pub auth: Auth,
    /// The OAuth 2.0 client (used when [`Auth::is_oauth`]).
    pub provider: Provider,
    pub client_id: String,
    /// Microsoft only; empty: `common`.
    pub tenant: String,
    pub secret_from: SecretFrom,
    /// The file or environment variable of the client secret.
    pub secret_ref: String,
    /// Typed here for [`SecretFrom::Keyring`], sent to the worker's keyring on save, never
    /// read back. Empty: unchanged.
    pub client_secret: String,
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
    pub password: String,
    pub ca_file: String,
    /// IMAP folders, comma-separated; empty means INBOX.
    pub folders: String,
    pub push: bool,
    /// `host:port` of the local SMTP server.
    pub smtp: String,
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
}

impl Default for FormFields {
    fn default() -> Self {
        FormFields {
            name: String::new(),
            enabled: true,
            protocol: Protocol::Pop3,
            server: String::new(),
            port: String::new(),
            security: Security::Default,
            username: String::new(),
            auth: Auth::Auto,
            provider: Provider::Microsoft,
            client_id: String::new(),
            tenant: String::new(),
            secret_from: SecretFrom::None,
            secret_ref: String::new(),
            client_secret: String::new(),
            scopes: String::new(),
            device_url: String::new(),
            authorization_url: String::new(),
            token_url: String::new(),
            password_from: PasswordFrom::Keyring,
            password_ref: String::new(),
            password: String::new(),
            ca_file: String::new(),
            folders: String::new(),
            push: false,
            smtp: "127.0.0.1:25".into(),
            local_user: String::new(),
            local_domain: String::new(),
            interval: DEFAULT_INTERVAL.into(),
            after_delivery: AfterDelivery::Delete,
            keep_days: "14".into(),
            distribute: false,
            local_domains: String::new(),
            fallback: String::new(),
            aliases: String::new(),
        }
    }
}

/// The form's label for a field as the worker names it (`remote.port` is "Port"), or the
/// worker's name when the form does not show that field.
pub fn field_label(field: &str) -> &str {
    match field {
        "name" => "Name",
        "enabled" => "Enabled",
        "interval" => "Interval",
        "after_delivery" => "Leave on server",
        "push" => "Push",
        "remote.protocol" => "Protocol",
        "remote.server" | "remote.host" => "Server",
        "remote.port" => "Port",
        "remote.security" => "Security",
        "remote.username" => "User",
        "remote.password" => "Password",
        "remote.auth" => "Authentication",
        "remote.oauth2" | "remote.oauth2.provider" => "Provider",
        "remote.oauth2.client_id" => "Client ID",
        "remote.oauth2.tenant" => "Tenant",
        "remote.oauth2.client_secret" => "Client secret",
        "remote.oauth2.scopes" => "Scopes",
        "remote.oauth2.device_authorization_url" => "Device code URL",
        "remote.oauth2.authorization_url" => "Authorization URL",
        "remote.oauth2.token_url" => "Token URL",
        "remote.ca_file" => "CA file",
        "remote.folders" => "Folders",
        "local.smtp" => "SMTP server",
        "local.user" => "Local user",
        "local.domain" => "Local domain",
        "distribute.local_domains" => "Local domains",
        "distribute.fallback" => "Fallback",
        "distribute.aliases" => "Aliases",
        other => other,
    }
}

/// One problem for a message: `Port: "70000" is not a port (1-65535)`.
pub fn describe_problem(problem: &FieldProblem) -> String {
    if problem.field.is_empty() {
        problem.message.clone()
    } else {
        format!("{}: {}", field_label(&problem.field), problem.message)
    }
}

fn list(text: &str) -> Vec<String> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_string)
        .collect()
}

fn text(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_string())
}

fn problem(field: &str, message: impl Into<String>) -> FieldProblem {
    FieldProblem {
        profile: None,
        field: field.into(),
        message: message.into(),
    }
}

impl FormFields {
    /// The form of a profile read from the worker.
    pub fn from_profile(form: &ProfileForm) -> FormFields {
        let mut fields = FormFields {
            name: form.name.clone().unwrap_or_default(),
            enabled: form.enabled.unwrap_or(true),
            interval: form
                .interval
                .clone()
                .unwrap_or_else(|| DEFAULT_INTERVAL.into()),
            push: form.push.unwrap_or(false),
            ..FormFields::default()
        };
        match &form.after_delivery {
            Some(RawAfterDelivery::Mode(mode)) if mode == "keep" => {
                fields.after_delivery = AfterDelivery::Keep;
            }
            Some(RawAfterDelivery::Table(RawKeepDays { keep_days })) => {
                fields.after_delivery = AfterDelivery::KeepDays;
                fields.keep_days = keep_days.map(|d| d.to_string()).unwrap_or_default();
            }
            _ => {}
        }
        if let Some(remote) = &form.remote {
            fields.protocol = match remote.protocol.as_deref() {
                Some("imap") => Protocol::Imap,
                _ => Protocol::Pop3,
            };
            fields.server = remote
                .server
                .clone()
                .or_else(|| remote.host.clone())
                .unwrap_or_default();
            fields.port = remote.port.map(|p| p.to_string()).unwrap_or_default();
            fields.security = Security::from_raw(remote.security.as_deref());
            fields.username = remote.username.clone().unwrap_or_default();
            fields.auth = Auth::from_raw(remote.auth.as_deref());
            if let Some(oauth2) = &remote.oauth2 {
                fields.provider = Provider::from_raw(oauth2.provider.as_deref());
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
        }
        if let Some(local) = &form.local {
            fields.smtp = local.smtp.clone().unwrap_or_default();
            fields.local_user = local.user.clone().unwrap_or_default();
            fields.local_domain = local.domain.clone().unwrap_or_default();
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
        }
        fields
    }

    /// The password to send with the save, if one was typed (keyring profiles only; an
    /// OAuth profile has none).
    pub fn password_to_send(&self) -> Option<String> {
        (!self.auth.is_oauth()
            && self.password_from == PasswordFrom::Keyring
            && !self.password.is_empty())
        .then(|| self.password.clone())
    }

    /// The OAuth client secret to send with the save, if one was typed (OAuth profiles whose
    /// client secret comes from the keyring only).
    pub fn client_secret_to_send(&self) -> Option<String> {
        (self.auth.is_oauth()
            && self.secret_from == SecretFrom::Keyring
            && !self.client_secret.is_empty())
        .then(|| self.client_secret.clone())
    }

    /// The local checks: each problem names its field as the worker would.
    pub fn local_problems(&self) -> Vec<FieldProblem> {
        let mut problems = Vec::new();
        if self.name.trim().is_empty() {
            problems.push(problem("name", "a profile needs a name"));
        }
        let port = self.port.trim();
        if !port.is_empty() && !matches!(port.parse::<u32>(), Ok(1..=65535)) {
            problems.push(problem(
                "remote.port",
                format!("\"{port}\" is not a port (1-65535)"),
            ));
        }
        let server = self.server.trim();
        if server.is_empty() {
            problems.push(problem(
                "remote.server",
                "missing; write a host such as mail.myisp.com, or \"mail.myisp.com 995s\"",
            ));
        } else if server.contains(char::is_whitespace) {
            if let Err(why) = parse_server(server) {
                problems.push(problem("remote.server", why));
            } else if !port.is_empty() {
                problems.push(problem(
                    "remote.port",
                    "leave the port empty when the server says it (\"host 995s\")",
                ));
            }
        }
        if let Err(why) = parse_duration(self.interval.trim()) {
            problems.push(problem("interval", why));
        }
        if self.after_delivery == AfterDelivery::KeepDays
            && !matches!(self.keep_days.trim().parse::<u32>(), Ok(1..=3650))
        {
            problems.push(problem(
                "after_delivery",
                format!(
                    "keep days \"{}\" is not a number of days (1-3650)",
                    self.keep_days.trim()
                ),
            ));
        }
        if self.auth == Auth::Apop && self.protocol == Protocol::Imap {
            problems.push(problem("remote.auth", "APOP is for POP3 only"));
        }
        if self.auth.is_oauth() {
            problems.extend(self.oauth_problems());
        } else if self.password_from != PasswordFrom::Keyring && self.password_ref.trim().is_empty()
        {
            problems.push(problem(
                "remote.password",
                match self.password_from {
                    PasswordFrom::File => "name the file that holds the password",
                    _ => "name the environment variable that holds the password",
                },
            ));
        }
        for line in self.aliases.lines().filter(|l| !l.trim().is_empty()) {
            if !line.contains('=') {
                problems.push(problem(
                    "distribute.aliases",
                    format!("\"{}\" is not of the form alias = user", line.trim()),
                ));
            }
        }
        problems
    }

    fn oauth_problems(&self) -> Vec<FieldProblem> {
        let mut problems = Vec::new();
        if self.client_id.trim().is_empty() {
            problems.push(problem(
                "remote.oauth2.client_id",
                "missing; the application (client) id from the provider's app registration",
            ));
        }
        if matches!(self.secret_from, SecretFrom::File | SecretFrom::Env)
            && self.secret_ref.trim().is_empty()
        {
            problems.push(problem(
                "remote.oauth2.client_secret",
                match self.secret_from {
                    SecretFrom::File => "name the file that holds the client secret",
                    _ => "name the environment variable that holds the client secret",
                },
            ));
        }
        if self.provider == Provider::Custom {
            if list(&self.scopes).is_empty() {
                problems.push(problem(
                    "remote.oauth2.scopes",
                    "a custom provider needs the scopes to ask for",
                ));
            }
            if self.token_url.trim().is_empty() {
                problems.push(problem(
                    "remote.oauth2.token_url",
                    "a custom provider needs its token endpoint",
                ));
            }
            if self.device_url.trim().is_empty() && self.authorization_url.trim().is_empty() {
                problems.push(problem(
                    "remote.oauth2.device_authorization_url",
                    "a custom provider needs a device code URL, an authorization URL, or both",
                ));
            }
        }
        problems
    }

    /// The `[profile.remote.oauth2]` table: `base` with the form's fields.
    fn to_oauth2(&self, base: Option<&RawOAuth2>) -> RawOAuth2 {
        let mut out = base.cloned().unwrap_or_default();
        out.provider = Some(self.provider.to_raw());
        out.client_id = text(&self.client_id);
        out.tenant = if self.provider == Provider::Microsoft {
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
            AfterDelivery::Delete => RawAfterDelivery::Mode("delete".into()),
            AfterDelivery::Keep => RawAfterDelivery::Mode("keep".into()),
            AfterDelivery::KeepDays => RawAfterDelivery::Table(RawKeepDays {
                keep_days: self.keep_days.trim().parse().ok(),
            }),
        });
        out.push = (self.protocol == Protocol::Imap && self.push).then_some(true);

        let mut remote = base.remote.clone().unwrap_or_default();
        remote.protocol = Some(
            match self.protocol {
                Protocol::Pop3 => "pop3",
                Protocol::Imap => "imap",
            }
            .into(),
        );
        let server = self.server.trim();
        if server.contains(char::is_whitespace) {
            remote.server = Some(server.into());
            remote.host = None;
        } else {
            remote.server = None;
            remote.host = text(server);
        }
        remote.port = self.port.trim().parse().ok();
        remote.security = self.security.to_raw();
        remote.username = text(&self.username);
        remote.auth = self.auth.to_raw(self.protocol);
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
        out.remote = Some(RawRemote { ..remote });

        let mut local = base.local.clone().unwrap_or_default();
        local.smtp = text(&self.smtp);
        local.user = text(&self.local_user);
        local.domain = text(&self.local_domain);
        out.local = Some(RawLocal { ..local });

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

#[cfg(test)]
mod tests {
    use super::*;

    fn filled() -> FormFields {
        FormFields {
            name: "isp".into(),
            server: "pop.example.com".into(),
            username: "joe".into(),
            local_user: "joe".into(),
            local_domain: "example.org".into(),
            ..FormFields::default()
        }
    }

    #[test]
    fn a_new_profile_polls_every_ten_minutes_and_uses_the_keyring() {
        let profile = filled().to_profile(&ProfileForm::default()).expect("valid");
        assert_eq!(profile.interval.as_deref(), Some("10m"));
        let remote = profile.remote.expect("remote");
        assert_eq!(remote.host.as_deref(), Some("pop.example.com"));
        assert_eq!(
            remote.password,
            Some(RawPassword::Source(RawPasswordSource {
                keyring: Some(true),
                ..Default::default()
            }))
        );
    }

    #[test]
    fn bad_ports_intervals_and_notation_are_named() {
        let mut fields = filled();
        fields.port = "70000".into();
        fields.interval = "soon".into();
        let problems = fields.to_profile(&ProfileForm::default()).expect_err("bad");
        let names: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(names, ["remote.port", "interval"]);
        assert!(problems[0].message.contains("70000"), "{problems:?}");

        let mut fields = filled();
        fields.server = "pop.example.com 99999s".into();
        let problems = fields.to_profile(&ProfileForm::default()).expect_err("bad");
        assert_eq!(problems[0].field, "remote.server");
    }

    #[test]
    fn problems_read_with_the_form_labels() {
        let problem = FieldProblem {
            profile: Some("isp".into()),
            field: "remote.port".into(),
            message: "\"70000\" is not a port (1-65535)".into(),
        };
        assert_eq!(
            describe_problem(&problem),
            "Port: \"70000\" is not a port (1-65535)"
        );
        assert_eq!(
            field_label("distribute.max_received"),
            "distribute.max_received"
        );
    }

    #[test]
    fn the_server_notation_is_kept_as_written() {
        let mut fields = filled();
        fields.server = "pop.example.com 995s".into();
        let profile = fields.to_profile(&ProfileForm::default()).expect("valid");
        let remote = profile.remote.expect("remote");
        assert_eq!(remote.server.as_deref(), Some("pop.example.com 995s"));
        assert_eq!(remote.host, None);
        assert_eq!(remote.port, None);
    }

    #[test]
    fn an_edit_keeps_what_the_form_does_not_show_and_round_trips() {
        let mut fields = filled();
        fields.protocol = Protocol::Imap;
        fields.folders = "INBOX, Spam".into();
        fields.after_delivery = AfterDelivery::KeepDays;
        fields.keep_days = "30".into();
        fields.distribute = true;
        fields.local_domains = "example.org, example.net".into();
        fields.fallback = "postmaster".into();
        fields.aliases = "info = alice\nsales = bob".into();
        let base = ProfileForm {
            remote: Some(RawRemote {
                timeout: Some("30s".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let profile = fields.to_profile(&base).expect("valid");
        assert_eq!(
            profile.remote.as_ref().and_then(|r| r.timeout.as_deref()),
            Some("30s")
        );
        let back = FormFields::from_profile(&profile);
        assert_eq!(back, fields);
    }

    fn oauth() -> FormFields {
        FormFields {
            protocol: Protocol::Imap,
            auth: Auth::XOAuth2,
            provider: Provider::Microsoft,
            client_id: "9e5f94bc-e8a4-4e73-b8be-63364c29d753".into(),
            tenant: "contoso.onmicrosoft.com".into(),
            password: "typed before switching".into(),
            ..filled()
        }
    }

    #[test]
    fn an_oauth_profile_writes_its_client_and_no_password() {
        let fields = oauth();
        let base = ProfileForm {
            remote: Some(RawRemote {
                password: Some(RawPassword::Source(RawPasswordSource {
                    keyring: Some(true),
                    ..Default::default()
                })),
                ..Default::default()
            }),
            ..Default::default()
        };
        let profile = fields.to_profile(&base).expect("valid");
        let remote = profile.remote.clone().expect("remote");
        assert_eq!(remote.auth.as_deref(), Some("xoauth2"));
        assert_eq!(remote.password, None, "an OAuth profile has no password");
        let oauth2 = remote.oauth2.expect("oauth2 table");
        assert_eq!(oauth2.provider.as_deref(), Some("microsoft"));
        assert_eq!(oauth2.tenant.as_deref(), Some("contoso.onmicrosoft.com"));
        assert_eq!(oauth2.client_secret, None);
        assert_eq!(oauth2.scopes, None, "the preset's scopes");
        assert_eq!(fields.password_to_send(), None);
        assert_eq!(fields.client_secret_to_send(), None, "no secret typed");

        let mut back = FormFields::from_profile(&profile);
        back.password = fields.password.clone();
        assert_eq!(back, fields);
    }

    /// The `[profile.remote.oauth2]` table the form wrote.
    fn oauth2_of(profile: &ProfileForm) -> mailpull_shared::config::raw::RawOAuth2 {
        profile
            .remote
            .as_ref()
            .and_then(|r| r.oauth2.clone())
            .expect("oauth2")
    }

    #[test]
    fn a_custom_provider_round_trips_with_a_secret_source() {
        let mut fields = oauth();
        fields.password.clear();
        fields.auth = Auth::OAuthBearer;
        fields.provider = Provider::Custom;
        fields.tenant.clear();
        fields.secret_from = SecretFrom::File;
        fields.secret_ref = "/etc/mailpull/client.secret".into();
        fields.scopes = "mail, offline_access".into();
        fields.device_url = "https://id.example.com/device".into();
        fields.token_url = "https://id.example.com/token".into();
        let profile = fields.to_profile(&ProfileForm::default()).expect("valid");
        let oauth2 = oauth2_of(&profile);
        assert_eq!(
            oauth2.client_secret,
            Some(RawPassword::Source(RawPasswordSource {
                file: Some("/etc/mailpull/client.secret".into()),
                ..Default::default()
            }))
        );
        assert_eq!(
            oauth2.scopes,
            Some(vec!["mail".to_string(), "offline_access".to_string()])
        );
        assert_eq!(FormFields::from_profile(&profile), fields);

        // Back to a password: the oauth2 table goes, the password source comes back.
        fields.auth = Auth::User;
        let profile = fields.to_profile(&profile).expect("valid");
        let remote = profile.remote.expect("remote");
        assert_eq!(remote.auth.as_deref(), Some("login"), "IMAP says login");
        assert_eq!(remote.oauth2, None);
        assert!(remote.password.is_some());
    }

    #[test]
    fn a_typed_client_secret_is_sent_only_for_a_keyring_source_and_never_written() {
        let mut fields = oauth();
        fields.password.clear();
        fields.secret_from = SecretFrom::Keyring;
        fields.client_secret = "GOCSPX-typed".into();
        assert_eq!(
            fields.client_secret_to_send().as_deref(),
            Some("GOCSPX-typed")
        );
        let profile = fields.to_profile(&ProfileForm::default()).expect("valid");
        let written = serde_json::to_string(&profile).expect("json");
        assert!(!written.contains("GOCSPX"), "{written}");
        let oauth2 = oauth2_of(&profile);
        assert_eq!(
            oauth2.client_secret,
            Some(RawPassword::Source(RawPasswordSource {
                keyring: Some(true),
                ..Default::default()
            }))
        );
        // Read back, the form never shows it.
        assert_eq!(FormFields::from_profile(&profile).client_secret, "");

        fields.secret_from = SecretFrom::File;
        assert_eq!(fields.client_secret_to_send(), None, "a file holds it");
        fields.secret_from = SecretFrom::Keyring;
        fields.auth = Auth::User;
        assert_eq!(fields.client_secret_to_send(), None, "not an OAuth profile");
    }

    #[test]
    fn oauth_and_auth_problems_are_named() {
        let mut fields = oauth();
        fields.client_id.clear();
        fields.provider = Provider::Custom;
        fields.secret_from = SecretFrom::Env;
        let problems = fields.to_profile(&ProfileForm::default()).expect_err("bad");
        let names: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            names,
            [
                "remote.oauth2.client_id",
                "remote.oauth2.client_secret",
                "remote.oauth2.scopes",
                "remote.oauth2.token_url",
                "remote.oauth2.device_authorization_url",
            ]
        );
        assert_eq!(
            describe_problem(&problems[0]).split(':').next(),
            Some("Client ID")
        );

        let mut fields = filled();
        fields.protocol = Protocol::Imap;
        fields.auth = Auth::Apop;
        let problems = fields.to_profile(&ProfileForm::default()).expect_err("bad");
        assert_eq!(problems[0].field, "remote.auth");
    }

    #[test]
    fn every_auth_choice_reads_back() {
        for (auth, label) in Auth::ALL {
            assert_eq!(auth.label(), label);
            let protocol = if auth == Auth::Apop {
                Protocol::Pop3
            } else {
                Protocol::Imap
            };
            let raw = auth.to_raw(protocol);
            assert_eq!(Auth::from_raw(raw.as_deref()), auth, "{raw:?}");
        }
    }

    #[test]
    fn the_password_is_sent_only_for_keyring_profiles() {
        let mut fields = filled();
        fields.password = "hunter2".into();
        assert_eq!(fields.password_to_send().as_deref(), Some("hunter2"));
        fields.password_from = PasswordFrom::File;
        fields.password_ref = "/etc/pw".into();
        assert_eq!(fields.password_to_send(), None);
    }
}
