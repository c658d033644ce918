//! The checked configuration: what the worker runs on. Built only by [`super::check`], so every
//! value here has been validated.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::secrets::PasswordSource;

pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(600);
/// [`DEFAULT_INTERVAL`] as a profile writes it.
pub const DEFAULT_INTERVAL_TEXT: &str = "10m";
pub const MIN_INTERVAL: Duration = Duration::from_secs(10);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_MAX_MESSAGE_MB: u64 = 100;
pub const DEFAULT_MAX_CONNECTIONS: usize = 64;
pub const DEFAULT_MAX_CONNECTIONS_PER_HOST: usize = 4;
/// The highest `worker.max_connections` and `max_connections_per_host`.
pub const MAX_CONNECTIONS: usize = 10_000;
/// `worker.memory_budget_mb` when not written: the memory all polls together may reserve for
/// the messages they hold.
pub const DEFAULT_MEMORY_BUDGET_MB: u64 = 256;
/// The highest `worker.memory_budget_mb` (1 TiB; the budget is counted in KiB in a `u32`).
pub const MAX_MEMORY_BUDGET_MB: u64 = 1024 * 1024;
/// The highest `worker.max_idle_connections`.
pub const MAX_IDLE_CONNECTIONS: usize = 1_000_000;
/// `worker.hold_after_attempts` when not written: a message that failed on its own this many
/// times is held (left on the server, not retried automatically).
pub const DEFAULT_HOLD_AFTER_ATTEMPTS: u32 = 10;
/// The highest `worker.hold_after_attempts`.
pub const MAX_HOLD_AFTER_ATTEMPTS: u32 = 10_000;
/// `worker.hold_after` when not written: a message still failing this long after its first
/// failed attempt is held.
pub const DEFAULT_HOLD_AFTER: Duration = Duration::from_secs(86_400);
/// [`DEFAULT_HOLD_AFTER`] as the file writes it.
pub const DEFAULT_HOLD_AFTER_TEXT: &str = "1d";
/// `worker.log_level` when not written.
pub const DEFAULT_LOG_LEVEL: &str = "info";
/// The levels a `worker.log_level` filter names (at least one of them).
pub const LOG_LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];
/// `after_delivery = { keep_days = N }`: N is 1 to this (ten years).
pub const MAX_KEEP_DAYS: u32 = 3650;
/// The N a new `{ keep_days = N }` suggests.
pub const DEFAULT_KEEP_DAYS: u32 = 14;
/// `local.smtp` when not written: the local mail server on the loopback.
pub const DEFAULT_SMTP: &str = "127.0.0.1:25";
/// The IMAP folder pulled when `remote.folders` is not written.
pub const DEFAULT_FOLDER: &str = "INBOX";

/// Implements `as_str`, `Display` and `FromStr` of a config enum from one table of its
/// names as written in the file (the first name of a value is the one written back; further
/// names are accepted aliases).
macro_rules! config_names {
    ($ty:ident, [$($value:ident => $name:literal $(| $alias:literal)*),+ $(,)?]) => {
        impl $ty {
            /// Every value, in the order a choice lists them.
            pub const ALL: &'static [$ty] = &[$($ty::$value),+];

            /// The name as written in the configuration file.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$value => $name),+
                }
            }

            /// `"x" is not one of: a, b, c`: the refusal of a name not in the list.
            pub fn unknown(text: &str) -> String {
                let names: Vec<&str> = $ty::ALL.iter().map(|value| value.as_str()).collect();
                format!("\"{text}\" is not one of: {}", names.join(", "))
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = String;

            fn from_str(text: &str) -> Result<Self, String> {
                match text {
                    $($name $(| $alias)* => Ok($ty::$value),)+
                    _ => Err($ty::unknown(text)),
                }
            }
        }
    };
}

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
    /// Failed attempts of one message after which it is held.
    pub hold_after_attempts: u32,
    /// Time since a message's first failed attempt after which it is held.
    pub hold_after: Duration,
    /// Where the Prometheus endpoint (`/metrics`, `/healthz`) listens; `None`: nowhere.
    pub metrics: Option<std::net::SocketAddr>,
    /// `[worker] secrets`: the service secret store, when not the packaged default.
    pub secrets: Option<PathBuf>,
    /// Bytes all polls together may reserve for the messages they hold
    /// (`memory_budget_mb`, in bytes).
    pub memory_budget_bytes: u64,
    /// IMAP IDLE connections open at once, all push profiles together. `None` (not written):
    /// the worker derives it from its open-file limit at start.
    pub max_idle_connections: Option<usize>,
    /// `[worker] alerts`: mail to an administrator; `None`: no alert mail.
    pub alerts: Option<Alerts>,
    /// `[worker] state`: the state shared by several workers in PostgreSQL; `None`: the
    /// local SQLite database in `state_dir`.
    pub shared_state: Option<SharedState>,
}

/// How long a profile fails before an alert goes out when `after` is not written.
pub const DEFAULT_ALERT_AFTER: Duration = Duration::from_secs(3600);

/// `[worker] alerts`: one mail when a profile has been failing for `after`, has held
/// messages or needs a sign-in, and one when that is over.
#[derive(Debug, Clone, PartialEq)]
pub struct Alerts {
    /// The administrator's address.
    pub to: String,
    /// How long a profile fails before its alert goes out.
    pub after: Duration,
    /// The `From:` address; `None`: `mailpull@` and the worker's host name. The envelope
    /// sender is always the null sender, so an alert never bounces back into a loop.
    pub from: Option<String>,
    /// The SMTP server alerts go through; `None`: the failing profile's own local server.
    pub smtp: Option<AlertSmtp>,
}

/// `alerts.smtp`, `smtp_security` and `ca_file`.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertSmtp {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub ca_file: Option<PathBuf>,
}

/// The shared state of several workers (`[worker] state = "postgres://..."`).
#[derive(Debug, Clone, PartialEq)]
pub struct SharedState {
    /// The connection string, without a password (`check` refuses one in it).
    pub url: String,
    /// Where its password comes from; `None`: the server asks for none.
    pub password: Option<crate::secrets::PasswordSource>,
    /// How long a claimed profile stays this worker's without a renewal.
    pub lease: Duration,
}

/// [`SharedState::lease`] when `lease` is not written.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

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
    /// A command every message passes through before delivery; `None`: none.
    pub filter: Option<Filter>,
}

/// How long a filter may take for one message when `timeout` is not written.
pub const DEFAULT_FILTER_TIMEOUT: Duration = Duration::from_secs(30);

/// A profile's `filter`: each message goes to the command's stdin before delivery. Exit 0
/// delivers it (its stdout in its place when `rewrites`); an exit code in `fallback_exit`
/// delivers it to the fallback mailbox with an `X-Mailpull-Filter` header; anything else (a
/// timeout, a signal, another code) leaves it on the server as a failure of that message.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// The program and its arguments, run without a shell.
    pub command: Vec<String>,
    pub timeout: Duration,
    /// The command prints the message to deliver (e.g. with spam headers added).
    pub rewrites: bool,
    /// Exit codes that send the message to the fallback mailbox.
    pub fallback_exit: Vec<i32>,
    /// The fallback for `fallback_exit`, qualified (`spam@local.domain`); `None`: the
    /// profile's `[profile.distribute] fallback`.
    pub fallback: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AfterDelivery {
    /// Delete (POP3 DELE, IMAP \Deleted + expunge) once delivered and recorded. The default.
    #[default]
    Delete,
    /// Leave on the server; the state database makes sure it is never fetched twice.
    Keep,
    /// Leave on the server (never fetched twice) and delete once the first download is more
    /// than this many days old (1 to [`MAX_KEEP_DAYS`]).
    KeepDays(u32),
}

impl AfterDelivery {
    /// The two settings written as a word (`after_delivery = "delete"` or `"keep"`).
    pub const MODES: [AfterDelivery; 2] = [AfterDelivery::Delete, AfterDelivery::Keep];

    /// Reads the word form; the refusal names every form.
    pub fn from_mode(text: &str) -> Result<AfterDelivery, String> {
        AfterDelivery::MODES
            .into_iter()
            .find(|mode| mode.to_string() == text)
            .ok_or_else(|| format!("\"{text}\" is not one of: delete, keep, {{ keep_days = N }}"))
    }
}

/// As written in the file: `delete`, `keep` or `{ keep_days = N }`.
impl fmt::Display for AfterDelivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AfterDelivery::Delete => f.write_str("delete"),
            AfterDelivery::Keep => f.write_str("keep"),
            AfterDelivery::KeepDays(days) => write!(f, "{{ keep_days = {days} }}"),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Protocol {
    /// The default when `remote.protocol` is not written.
    #[default]
    Pop3,
    Imap,
}

config_names!(Protocol, [Pop3 => "pop3", Imap => "imap"]);

impl Protocol {
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Security {
    /// TLS from the first byte (POP3S 995, IMAPS 993, SMTPS 465). The default of
    /// `remote.security`; `ssl` is read as this too.
    #[default]
    Tls,
    /// Plain connect, then STLS/STARTTLS; fails closed when the server does not offer it.
    StartTls,
    /// No encryption at all. Only when a profile says so.
    Plain,
}

config_names!(Security, [Tls => "tls" | "ssl", StartTls => "starttls", Plain => "plain"]);

/// Which login a profile uses. `Auto` (the default) picks the strongest the server offers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AuthMethod {
    #[default]
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

// `login` is what IMAP calls USER/PASS; `user` is POP3's name for it (see `name_for`).
config_names!(AuthMethod, [
    Auto => "auto",
    Login => "login" | "user",
    Apop => "apop",
    Plain => "plain",
    SaslLogin => "sasl-login",
    XOAuth2 => "xoauth2",
    OAuthBearer => "oauthbearer",
]);

impl AuthMethod {
    /// True for the two SASL mechanisms that log in with an OAuth 2.0 access token.
    pub fn is_oauth(self) -> bool {
        matches!(self, AuthMethod::XOAuth2 | AuthMethod::OAuthBearer)
    }

    /// Whether `protocol` has this login (APOP is POP3's only).
    pub fn is_available(self, protocol: Protocol) -> bool {
        self != AuthMethod::Apop || protocol == Protocol::Pop3
    }

    /// The name as written for `protocol`: [`AuthMethod::Login`] is `user` for POP3 and
    /// `login` for IMAP.
    pub fn name_for(self, protocol: Protocol) -> &'static str {
        match (self, protocol) {
            (AuthMethod::Login, Protocol::Pop3) => "user",
            _ => self.as_str(),
        }
    }

    /// Reads `remote.auth` of a `protocol` profile; the refusal lists the names it has.
    pub fn parse_for(text: &str, protocol: Protocol) -> Result<AuthMethod, String> {
        match text.parse::<AuthMethod>() {
            Ok(auth) if auth.is_available(protocol) => Ok(auth),
            _ => {
                let names: Vec<&str> = AuthMethod::ALL
                    .iter()
                    .filter(|auth| auth.is_available(protocol))
                    .map(|auth| auth.name_for(protocol))
                    .collect();
                Err(format!("\"{text}\" is not one of: {}", names.join(", ")))
            }
        }
    }
}

/// Whose OAuth 2.0 endpoints a profile uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OAuthProvider {
    /// Microsoft 365 / Outlook.com (Microsoft identity platform v2.0); what a new OAuth
    /// profile suggests.
    #[default]
    Microsoft,
    /// Google / Gmail.
    Google,
    /// Endpoints given in the profile.
    Custom,
}

config_names!(OAuthProvider, [
    Microsoft => "microsoft",
    Google => "google",
    Custom => "custom",
]);

/// The Microsoft tenant when `remote.oauth2.tenant` is not written.
pub const DEFAULT_MICROSOFT_TENANT: &str = "common";

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

/// What a profile logs in with: a password read from its source, or (for `xoauth2` and
/// `oauthbearer`) an OAuth 2.0 client whose access tokens come from the sign-in's refresh
/// token. Never both.
#[derive(Debug, Clone, PartialEq)]
pub enum Credentials {
    Password(PasswordSource),
    OAuth2(OAuth2),
}

impl Credentials {
    /// The password's source; `None` for an OAuth profile.
    pub fn password(&self) -> Option<&PasswordSource> {
        match self {
            Credentials::Password(source) => Some(source),
            Credentials::OAuth2(_) => None,
        }
    }

    /// The OAuth 2.0 client; `None` for a password profile.
    pub fn oauth2(&self) -> Option<&OAuth2> {
        match self {
            Credentials::Password(_) => None,
            Credentials::OAuth2(oauth2) => Some(oauth2),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Remote {
    pub protocol: Protocol,
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub username: String,
    pub auth: AuthMethod,
    /// A password source, or the OAuth 2.0 client exactly when `auth` is an OAuth mechanism.
    pub credentials: Credentials,
    pub ca_file: Option<PathBuf>,
    /// IMAP folders to pull; empty for POP3.
    pub folders: Vec<String>,
    pub timeout: Duration,
    pub max_message_bytes: u64,
}

impl Remote {
    /// `username@host`, both in lower case: what identifies the remote mailbox in the state
    /// database. The route to it (protocol, port, security) and the case of the names are not
    /// part of it, so changing them does not make kept mail look new.
    pub fn mailbox_identity(&self) -> String {
        mailbox_identity(&self.username, &self.host)
    }
}

/// `username@host` in lower case (see [`Remote::mailbox_identity`]).
pub fn mailbox_identity(username: &str, host: &str) -> String {
    format!("{}@{}", username.to_lowercase(), host.to_ascii_lowercase())
}

/// The username and host of a [`mailbox_identity`] (the host follows the last `@`).
pub fn split_mailbox_identity(identity: &str) -> Option<(&str, &str)> {
    identity.rsplit_once('@')
}

/// `HOST:PORT` (or `[v6]:PORT`) as `local.smtp` writes it.
pub fn split_host_port(text: &str) -> Option<(String, i64)> {
    let (host, port) = text.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some((host.to_string(), port.parse().ok()?))
}

pub fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `local.smtp_security` when not written: plain to a server on the loopback, STARTTLS
/// (failing closed) to any other.
pub fn default_smtp_security(host: &str) -> Security {
    if is_loopback(host) {
        Security::Plain
    } else {
        Security::StartTls
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
/// `user+tag@` is delivered to `user@` unless `distribute.recipient_delimiter` says otherwise.
pub const DEFAULT_RECIPIENT_DELIMITER: char = '+';
