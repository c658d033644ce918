//! The checked configuration: what the worker runs on. Built only by [`super::check`], so every
//! value here has been validated.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::secrets::PasswordSource;

pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(600);
pub const MIN_INTERVAL: Duration = Duration::from_secs(10);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_MAX_MESSAGE_MB: u64 = 100;
pub const DEFAULT_MAX_CONNECTIONS: usize = 64;
pub const DEFAULT_MAX_CONNECTIONS_PER_HOST: usize = 4;
/// `after_delivery = { keep_days = N }`: N is 1 to this (ten years).
pub const MAX_KEEP_DAYS: u32 = 3650;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file it was read from, when it was read from one.
    pub source: Option<PathBuf>,
    pub worker: WorkerSettings,
    pub profiles: Vec<Profile>,
}

impl Config {
    pub fn profile(&self, name: &str) -> Option<&Profile> {
        self.profiles.iter().find(|profile| profile.name == name)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct WorkerSettings {
    pub state_dir: PathBuf,
    pub max_connections: usize,
    pub max_connections_per_host: usize,
    /// A tracing filter such as `info` or `mailpull_worker=debug`.
    pub log_level: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub name: String,
    pub enabled: bool,
    pub interval: Duration,
    pub after_delivery: AfterDelivery,
    /// IMAP IDLE on every folder: new mail is pulled as soon as the server announces it; the
    /// timed poll still runs as a safety net. Always false for POP3.
    pub push: bool,
    pub remote: Remote,
    pub local: Local,
    pub distribute: Option<Distribute>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterDelivery {
    /// Delete (POP3 DELE, IMAP \Deleted + expunge) once delivered and recorded.
    Delete,
    /// Leave on the server; the state database makes sure it is never fetched twice.
    Keep,
    /// Leave on the server (never fetched twice) and delete once the first download is more
    /// than this many days old (1 to [`MAX_KEEP_DAYS`]).
    KeepDays(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Pop3,
    Imap,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Pop3 => "pop3",
            Protocol::Imap => "imap",
        }
    }

    pub fn default_port(self, security: Security) -> u16 {
        match (self, security) {
            (Protocol::Pop3, Security::Tls) => 995,
            (Protocol::Pop3, _) => 110,
            (Protocol::Imap, Security::Tls) => 993,
            (Protocol::Imap, _) => 143,
        }
    }
}

/// How a connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// TLS from the first byte (POP3S 995, IMAPS 993, SMTPS 465).
    Tls,
    /// Plain connect, then STLS/STARTTLS; fails closed when the server does not offer it.
    StartTls,
    /// No encryption at all. Only when a profile says so.
    Plain,
}

impl Security {
    pub fn as_str(self) -> &'static str {
        match self {
            Security::Tls => "tls",
            Security::StartTls => "starttls",
            Security::Plain => "plain",
        }
    }
}

/// Which login a profile uses. `Auto` picks the strongest the server offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    Auto,
    /// POP3 USER/PASS or IMAP LOGIN.
    Login,
    /// SASL PLAIN.
    Plain,
    /// POP3 APOP.
    Apop,
    /// SASL LOGIN.
    SaslLogin,
    /// SASL XOAUTH2 (Google, Microsoft) with an OAuth 2.0 access token.
    XOAuth2,
    /// SASL OAUTHBEARER (RFC 7628) with an OAuth 2.0 access token.
    OAuthBearer,
}

impl AuthMethod {
    /// True for the two SASL mechanisms that log in with an OAuth 2.0 access token.
    pub fn is_oauth(self) -> bool {
        matches!(self, AuthMethod::XOAuth2 | AuthMethod::OAuthBearer)
    }
}

/// Whose OAuth 2.0 endpoints a profile uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthProvider {
    /// Microsoft 365 / Outlook.com (Microsoft identity platform v2.0).
    Microsoft,
    /// Google / Gmail.
    Google,
    /// Endpoints given in the profile.
    Custom,
}

impl OAuthProvider {
    pub fn as_str(self) -> &'static str {
        match self {
            OAuthProvider::Microsoft => "microsoft",
            OAuthProvider::Google => "google",
            OAuthProvider::Custom => "custom",
        }
    }
}

/// The OAuth 2.0 client of a profile that logs in with XOAUTH2 or OAUTHBEARER. The endpoints
/// are filled in from the provider's preset unless the profile gives them; every URL is https
/// (or http on a loopback address, for tests).
#[derive(Debug, Clone, PartialEq)]
pub struct OAuth2 {
    pub provider: OAuthProvider,
    pub client_id: String,
    /// Confidential clients only (Google's desktop clients have one too); read when a token
    /// is requested, never stored in the model.
    pub client_secret: Option<PasswordSource>,
    pub scopes: Vec<String>,
    /// RFC 8628 device authorization endpoint; `None` when the provider has none.
    pub device_authorization_url: Option<String>,
    /// Authorization endpoint of the authorization-code flow (PKCE); `None` when unknown.
    pub authorization_url: Option<String>,
    pub token_url: String,
}

/// Microsoft identity platform endpoints for `tenant` (`common`, `organizations`,
/// `consumers` or a directory id).
pub fn microsoft_endpoint(tenant: &str, path: &str) -> String {
    format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0/{path}")
}

/// Google's OAuth 2.0 endpoints.
pub const GOOGLE_DEVICE_AUTHORIZATION_URL: &str = "https://oauth2.googleapis.com/device/code";
pub const GOOGLE_AUTHORIZATION_URL: &str = "https://accounts.google.com/o/oauth2/v2/auth";
pub const GOOGLE_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
/// The scope Gmail's IMAP and POP3 need.
pub const GOOGLE_MAIL_SCOPE: &str = "https://mail.google.com/";

#[derive(Debug, Clone, PartialEq)]
pub struct Remote {
    pub protocol: Protocol,
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub username: String,
    /// The password's source; `None` exactly when `auth` is an OAuth mechanism.
    pub password: Option<PasswordSource>,
    pub auth: AuthMethod,
    /// The OAuth 2.0 client; `Some` exactly when `auth` is an OAuth mechanism.
    pub oauth2: Option<OAuth2>,
    pub ca_file: Option<PathBuf>,
    /// IMAP folders to pull; empty for POP3.
    pub folders: Vec<String>,
    pub timeout: Duration,
    pub max_message_bytes: u64,
}

impl Remote {
    /// `protocol://username@host:port`: what identifies the mailbox in the state database.
    pub fn identity(&self) -> String {
        format!(
            "{}://{}@{}:{}",
            self.protocol.as_str(),
            self.username,
            self.host.to_ascii_lowercase(),
            self.port
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Local {
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_security: Security,
    pub ca_file: Option<PathBuf>,
    pub user: String,
    pub domain: String,
}

impl Local {
    /// The single-drop recipient: `user@domain`, or `user` as written when it is an address.
    pub fn address(&self) -> String {
        qualify(&self.user, &self.domain)
    }
}

/// `alice` becomes `alice@domain`; an address stays as it is.
pub fn qualify(user: &str, domain: &str) -> String {
    if user.contains('@') {
        user.to_string()
    } else {
        format!("{user}@{domain}")
    }
}

/// Multi-drop: distribute a catch-all mailbox to local users by its headers.
#[derive(Debug, Clone, PartialEq)]
pub struct Distribute {
    pub local_domains: Vec<String>,
    /// Gets what matches nobody; defaults to the profile's local user.
    pub fallback: String,
    pub aliases: BTreeMap<String, String>,
    pub envelope_headers: Vec<String>,
    pub visible_headers: Vec<String>,
    pub received_trusted: usize,
    pub max_received: usize,
    /// `user+tag@` is delivered to `user@`; `None` keeps tags.
    pub recipient_delimiter: Option<char>,
}

pub const DEFAULT_ENVELOPE_HEADERS: &[&str] = &[
    "X-Envelope-To",
    "Envelope-To",
    "X-Original-To",
    "Delivered-To",
    "X-Rcpt-To",
    "Received",
];
pub const DEFAULT_VISIBLE_HEADERS: &[&str] = &["To", "Cc", "Resent-To", "Resent-Cc"];
pub const DEFAULT_RECEIVED_TRUSTED: usize = 1;
pub const DEFAULT_MAX_RECEIVED: usize = 25;
