//! Stage two of the configuration: validates a [`RawProfile`](super::raw) tree and builds the
//! [`Config`]. Every problem is collected (not only the first) and names the file, the profile
//! and the field, e.g. `mailpull.toml: profile "user1": remote.port: 70000 is not a port`.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::duration::parse_duration;
use super::model::*;
use super::raw::*;
use super::server::parse_server;
use crate::secrets::PasswordSource;

/// One problem in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The profile's name (or `#N` when it has none); `None` for the `[worker]` table or the file.
    pub profile: Option<String>,
    /// The field's dotted path, such as `remote.port`; empty for whole-file problems.
    pub field: String,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(profile) = &self.profile {
            write!(f, "profile \"{profile}\": ")?;
        }
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

/// Everything wrong with one configuration file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub file: String,
    pub errors: Vec<FieldError>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}: {error}", self.file)?;
        }
        Ok(())
    }
}

/// Reads and checks a configuration file.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|err| ConfigError {
        file: file.clone(),
        errors: vec![FieldError {
            profile: None,
            field: String::new(),
            message: format!("cannot read the file: {err}"),
        }],
    })?;
    let mut config = parse(&text, &file)?;
    config.source = Some(path.to_path_buf());
    Ok(config)
}

/// Checks configuration text; `file` names it in error messages.
pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
    let mut errors = Errors::default();
    let config = parse_into(text, &mut errors);
    match config {
        Some(config) if errors.0.is_empty() => Ok(config),
        _ => Err(ConfigError {
            file: file.to_string(),
            errors: errors.0,
        }),
    }
}

#[derive(Default)]
pub(super) struct Errors(Vec<FieldError>);

impl Errors {
    pub(super) fn push(&mut self, profile: Option<&str>, field: &str, message: impl Into<String>) {
        self.0.push(FieldError {
            profile: profile.map(str::to_string),
            field: field.to_string(),
            message: message.into(),
        });
    }
}

fn parse_into(text: &str, errors: &mut Errors) -> Option<Config> {
    let table: toml::Table = match text.parse() {
        Ok(table) => table,
        Err(err) => {
            errors.push(
                None,
                "",
                format!("not valid TOML: {}", one_line(&err.to_string())),
            );
            return None;
        }
    };
    for key in table.keys() {
        if key != "worker" && key != "profile" {
            errors.push(
                None,
                key,
                "unknown section; expected [worker] or [[profile]]",
            );
        }
    }
    let raw_worker: RawWorker = match table.get("worker") {
        None => RawWorker::default(),
        Some(value) => match value.clone().try_into() {
            Ok(worker) => worker,
            Err(err) => {
                errors.push(None, "worker", serde_message(&err));
                RawWorker::default()
            }
        },
    };
    let worker = check_worker(&raw_worker, errors);

    let mut profiles = Vec::new();
    let raw_profiles = match table.get("profile") {
        None => Vec::new(),
        Some(toml::Value::Array(items)) => items.clone(),
        Some(_) => {
            errors.push(None, "profile", "must be written as [[profile]] tables");
            Vec::new()
        }
    };
    let mut names = HashSet::new();
    for (index, value) in raw_profiles.into_iter().enumerate() {
        let label = value
            .get("name")
            .and_then(toml::Value::as_str)
            .filter(|name| !name.trim().is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| format!("#{}", index + 1));
        let raw: RawProfile = match value.try_into() {
            Ok(raw) => raw,
            Err(err) => {
                errors.push(Some(&label), "", serde_message(&err));
                continue;
            }
        };
        if let Some(profile) = check_profile(&raw, &label, errors) {
            if !names.insert(profile.name.clone()) {
                errors.push(
                    Some(&label),
                    "name",
                    "another profile has the same name; names must be unique",
                );
            }
            profiles.push(profile);
        }
    }
    Some(Config {
        source: None,
        worker: worker?,
        profiles,
    })
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn serde_message(err: &toml::de::Error) -> String {
    one_line(err.message())
}

fn positive(
    value: Option<i64>,
    default: usize,
    max: usize,
    profile: Option<&str>,
    field: &str,
    errors: &mut Errors,
) -> usize {
    match value {
        None => default,
        Some(n) if n >= 1 && (n as u64) <= max as u64 => n as usize,
        Some(n) => {
            errors.push(profile, field, format!("{n} is out of range (1-{max})"));
            default
        }
    }
}

fn check_worker(raw: &RawWorker, errors: &mut Errors) -> Option<WorkerSettings> {
    let state_dir = match raw.state_dir.as_deref() {
        None => crate::paths::default_state_dir(),
        Some("") => {
            errors.push(None, "worker.state_dir", "must not be empty");
            return None;
        }
        Some(dir) => PathBuf::from(dir),
    };
    let max_connections = positive(
        raw.max_connections,
        DEFAULT_MAX_CONNECTIONS,
        10_000,
        None,
        "worker.max_connections",
        errors,
    );
    let max_connections_per_host = positive(
        raw.max_connections_per_host,
        DEFAULT_MAX_CONNECTIONS_PER_HOST,
        10_000,
        None,
        "worker.max_connections_per_host",
        errors,
    );
    let log_level = raw.log_level.clone().unwrap_or_else(|| "info".to_string());
    if !["error", "warn", "info", "debug", "trace"]
        .iter()
        .any(|level| log_level.contains(level))
    {
        errors.push(
            None,
            "worker.log_level",
            format!("\"{log_level}\" is not a level (error, warn, info, debug or trace)"),
        );
    }
    Some(WorkerSettings {
        state_dir,
        max_connections,
        max_connections_per_host,
        log_level,
    })
}

fn check_profile(raw: &RawProfile, label: &str, errors: &mut Errors) -> Option<Profile> {
    let p = Some(label);
    let name = match raw.name.as_deref().map(str::trim) {
        None | Some("") => {
            errors.push(p, "name", "missing; every profile needs a name");
            return None;
        }
        Some(name) if name.len() > 64 || name.chars().any(char::is_control) => {
            errors.push(
                p,
                "name",
                "must be at most 64 characters without control characters",
            );
            return None;
        }
        Some(name) => name.to_string(),
    };
    let interval = match raw.interval.as_deref() {
        None => DEFAULT_INTERVAL,
        Some(text) => match parse_duration(text) {
            Ok(interval) if interval < MIN_INTERVAL => {
                errors.push(
                    p,
                    "interval",
                    format!("\"{text}\" is shorter than the minimum of 10s"),
                );
                DEFAULT_INTERVAL
            }
            Ok(interval) => interval,
            Err(message) => {
                errors.push(p, "interval", message);
                DEFAULT_INTERVAL
            }
        },
    };
    let after_delivery = check_after_delivery(raw.after_delivery.as_ref(), p, errors);
    let remote = match &raw.remote {
        Some(remote) => check_remote(remote, p, errors),
        None => {
            errors.push(p, "remote", "missing [profile.remote] section");
            None
        }
    };
    let local = match &raw.local {
        Some(local) => check_local(local, p, errors),
        None => {
            errors.push(p, "local", "missing [profile.local] section");
            None
        }
    };
    let distribute = match (&raw.distribute, &local) {
        (Some(distribute), Some(local)) if distribute.enabled.unwrap_or(true) => {
            check_distribute(distribute, local, p, errors)
        }
        _ => None,
    };
    let push = raw.push.unwrap_or(false);
    if push
        && remote
            .as_ref()
            .is_some_and(|r| r.protocol == Protocol::Pop3)
    {
        errors.push(
            p,
            "push",
            "needs protocol = \"imap\" (IMAP IDLE); POP3 has no push, it is polled every interval",
        );
    }
    Some(Profile {
        name,
        enabled: raw.enabled.unwrap_or(true),
        interval,
        after_delivery,
        push,
        remote: remote?,
        local: local?,
        distribute,
    })
}

fn check_after_delivery(
    raw: Option<&RawAfterDelivery>,
    p: Option<&str>,
    errors: &mut Errors,
) -> AfterDelivery {
    const HOW: &str = "write \"delete\", \"keep\" or { keep_days = N }";
    match raw {
        None => AfterDelivery::Delete,
        Some(RawAfterDelivery::Mode(mode)) => match mode.as_str() {
            "delete" => AfterDelivery::Delete,
            "keep" => AfterDelivery::Keep,
            other => {
                errors.push(
                    p,
                    "after_delivery",
                    format!("\"{other}\" is not one of: delete, keep, {{ keep_days = N }}"),
                );
                AfterDelivery::Delete
            }
        },
        Some(RawAfterDelivery::Table(table)) => match table.keep_days {
            Some(days) if (1..=i64::from(MAX_KEEP_DAYS)).contains(&days) => {
                AfterDelivery::KeepDays(days as u32)
            }
            Some(days) => {
                errors.push(
                    p,
                    "after_delivery.keep_days",
                    format!("{days} is out of range (1-{MAX_KEEP_DAYS} days)"),
                );
                AfterDelivery::Keep
            }
            None => {
                errors.push(
                    p,
                    "after_delivery.keep_days",
                    "missing; write after_delivery = { keep_days = 14 }",
                );
                AfterDelivery::Keep
            }
        },
        Some(RawAfterDelivery::Other(value)) => {
            errors.push(
                p,
                "after_delivery",
                format!("{value} is not a valid setting; {HOW}"),
            );
            AfterDelivery::Delete
        }
    }
}

fn parse_security(
    text: &str,
    profile: Option<&str>,
    field: &str,
    errors: &mut Errors,
) -> Option<Security> {
    match text {
        "tls" | "ssl" => Some(Security::Tls),
        "starttls" => Some(Security::StartTls),
        "plain" => Some(Security::Plain),
        other => {
            errors.push(
                profile,
                field,
                format!("\"{other}\" is not one of: tls, starttls, plain"),
            );
            None
        }
    }
}

fn check_host(host: &str, profile: Option<&str>, field: &str, errors: &mut Errors) -> bool {
    let valid = !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '[' | ']'));
    if !valid {
        errors.push(
            profile,
            field,
            format!("\"{host}\" is not a host name or IP address"),
        );
    }
    valid
}

fn check_port(port: i64, profile: Option<&str>, field: &str, errors: &mut Errors) -> Option<u16> {
    match u16::try_from(port) {
        Ok(port) if port != 0 => Some(port),
        _ => {
            errors.push(profile, field, format!("{port} is not a port (1-65535)"));
            None
        }
    }
}

fn check_file(
    path: &str,
    profile: Option<&str>,
    field: &str,
    errors: &mut Errors,
) -> Option<PathBuf> {
    let path = PathBuf::from(path);
    if path.is_file() {
        Some(path)
    } else {
        errors.push(
            profile,
            field,
            format!("{} does not exist or is not a file", path.display()),
        );
        None
    }
}

fn check_remote(raw: &RawRemote, p: Option<&str>, errors: &mut Errors) -> Option<Remote> {
    let protocol = match raw.protocol.as_deref() {
        None | Some("pop3") => Protocol::Pop3,
        Some("imap") => Protocol::Imap,
        Some(other) => {
            errors.push(
                p,
                "remote.protocol",
                format!("\"{other}\" is not one of: pop3, imap"),
            );
            return None;
        }
    };
    let mut security = match raw.security.as_deref() {
        Some(text) => Some(parse_security(text, p, "remote.security", errors)?),
        None => None,
    };
    let (host, port) = match (&raw.server, &raw.host) {
        (Some(_), Some(_)) => {
            errors.push(
                p,
                "remote.server",
                "give either server = \"HOST PORT[s]\" or host/port, not both",
            );
            return None;
        }
        (Some(server), None) => {
            if raw.port.is_some() {
                errors.push(
                    p,
                    "remote.port",
                    "the port is already part of remote.server",
                );
                return None;
            }
            let notation = match parse_server(server) {
                Ok(notation) => notation,
                Err(message) => {
                    errors.push(p, "remote.server", message);
                    return None;
                }
            };
            match (security, notation.tls) {
                (Some(Security::Tls) | None, true) => security = Some(Security::Tls),
                (Some(other), true) => {
                    errors.push(
                        p,
                        "remote.security",
                        format!(
                            "\"{}\" contradicts the trailing s (TLS) in remote.server",
                            other.as_str()
                        ),
                    );
                    return None;
                }
                // "host 110" without s: the connection is upgraded with STLS/STARTTLS unless
                // the profile says plain explicitly.
                (None, false) if notation.port.is_some() => security = Some(Security::StartTls),
                _ => {}
            }
            (notation.host, notation.port.map(i64::from))
        }
        (None, Some(host)) => (host.clone(), raw.port),
        (None, None) => {
            errors.push(
                p,
                "remote.host",
                "missing; give host (and port) or server = \"HOST PORT[s]\"",
            );
            return None;
        }
    };
    let security = security.unwrap_or(Security::Tls);
    let host_ok = check_host(&host, p, "remote.host", errors);
    let port = match port {
        None => Some(protocol.default_port(security)),
        Some(port) => check_port(port, p, "remote.port", errors),
    };
    let username = match raw.username.as_deref() {
        Some(user) if !user.is_empty() && !user.contains(['\r', '\n', '\0']) => user.to_string(),
        Some(_) => {
            errors.push(
                p,
                "remote.username",
                "must not be empty or contain line breaks",
            );
            return None;
        }
        None => {
            errors.push(p, "remote.username", "missing");
            return None;
        }
    };
    let auth = match (raw.auth.as_deref(), protocol) {
        (None | Some("auto"), _) => AuthMethod::Auto,
        (Some("user" | "login"), _) => AuthMethod::Login,
        (Some("plain"), _) => AuthMethod::Plain,
        (Some("apop"), Protocol::Pop3) => AuthMethod::Apop,
        (Some("sasl-login"), _) => AuthMethod::SaslLogin,
        (Some("xoauth2"), _) => AuthMethod::XOAuth2,
        (Some("oauthbearer"), _) => AuthMethod::OAuthBearer,
        (Some(other), _) => {
            let allowed = match protocol {
                Protocol::Pop3 => "auto, user, apop, plain, sasl-login, xoauth2, oauthbearer",
                Protocol::Imap => "auto, login, plain, sasl-login, xoauth2, oauthbearer",
            };
            errors.push(
                p,
                "remote.auth",
                format!("\"{other}\" is not one of: {allowed}"),
            );
            AuthMethod::Auto
        }
    };
    let mut credentials_ok = true;
    let (password, oauth2) = if auth.is_oauth() {
        if raw.password.is_some() {
            errors.push(
                p,
                "remote.password",
                "an OAuth login (xoauth2, oauthbearer) uses no password; remove it (the sign-in stores a refresh token in the OS keyring)",
            );
            credentials_ok = false;
        }
        let oauth2 = match &raw.oauth2 {
            Some(oauth2) => super::oauth2::check_oauth2(oauth2, protocol, p, errors),
            None => {
                errors.push(
                    p,
                    "remote.oauth2",
                    "missing; auth = \"xoauth2\"/\"oauthbearer\" needs a [profile.remote.oauth2] table with provider and client_id",
                );
                None
            }
        };
        credentials_ok &= oauth2.is_some();
        (None, oauth2)
    } else {
        if raw.oauth2.is_some() {
            errors.push(
                p,
                "remote.oauth2",
                "only used with auth = \"xoauth2\" or \"oauthbearer\"",
            );
        }
        let password = check_password(raw.password.as_ref(), p, errors);
        credentials_ok &= password.is_some();
        (password, None)
    };
    let ca_file = raw
        .ca_file
        .as_deref()
        .and_then(|path| check_file(path, p, "remote.ca_file", errors));
    let folders = match (protocol, &raw.folders) {
        (Protocol::Pop3, Some(_)) => {
            errors.push(
                p,
                "remote.folders",
                "only IMAP has folders; POP3 reads the one mailbox",
            );
            Vec::new()
        }
        (Protocol::Pop3, None) => Vec::new(),
        (Protocol::Imap, None) => vec!["INBOX".to_string()],
        (Protocol::Imap, Some(folders)) => {
            if folders.is_empty() {
                errors.push(p, "remote.folders", "must name at least one folder");
            }
            for folder in folders {
                if folder.is_empty() || folder.contains(['\r', '\n', '\0']) {
                    errors.push(
                        p,
                        "remote.folders",
                        format!("{folder:?} is not a folder name"),
                    );
                }
            }
            folders.clone()
        }
    };
    let timeout = match raw.timeout.as_deref() {
        None => DEFAULT_TIMEOUT,
        Some(text) => match parse_duration(text) {
            Ok(timeout) if timeout >= Duration::from_secs(1) => timeout,
            Ok(_) => {
                errors.push(p, "remote.timeout", "must be at least 1s");
                DEFAULT_TIMEOUT
            }
            Err(message) => {
                errors.push(p, "remote.timeout", message);
                DEFAULT_TIMEOUT
            }
        },
    };
    let max_message_mb = positive(
        raw.max_message_mb,
        DEFAULT_MAX_MESSAGE_MB as usize,
        4096,
        p,
        "remote.max_message_mb",
        errors,
    ) as u64;
    if !host_ok || !credentials_ok {
        return None;
    }
    Some(Remote {
        protocol,
        host,
        port: port?,
        security,
        username,
        password,
        auth,
        oauth2,
        ca_file,
        folders,
        timeout,
        max_message_bytes: max_message_mb * 1024 * 1024,
    })
}

pub(super) fn check_password(
    raw: Option<&RawPassword>,
    p: Option<&str>,
    errors: &mut Errors,
) -> Option<PasswordSource> {
    const HOW: &str =
        "write password = { keyring = true }, { file = \"/path\" } or { env = \"VAR\" }";
    if raw.is_none() {
        errors.push(p, "remote.password", format!("missing; {HOW}"));
        return None;
    }
    check_secret_source(raw, p, "remote.password", "password", errors)
}

/// A secret's source (`{ keyring = true }`, `{ file = "..." }` or `{ env = "VAR" }`) written
/// in `field`; never the secret itself.
pub(super) fn check_secret_source(
    raw: Option<&RawPassword>,
    p: Option<&str>,
    field: &str,
    what: &str,
    errors: &mut Errors,
) -> Option<PasswordSource> {
    let how = format!(
        "write {} = {{ keyring = true }}, {{ file = \"/path\" }} or {{ env = \"VAR\" }}",
        field.rsplit('.').next().unwrap_or(field)
    );
    match raw {
        None => None,
        Some(RawPassword::Inline(_)) => {
            errors.push(
                p,
                field,
                format!("{what}s are never stored in the config file; {how}"),
            );
            None
        }
        Some(RawPassword::Source(source)) => {
            let chosen = [
                source.keyring == Some(true),
                source.file.is_some(),
                source.env.is_some(),
            ]
            .iter()
            .filter(|set| **set)
            .count();
            if chosen != 1 {
                errors.push(p, field, format!("name exactly one source; {how}"));
                return None;
            }
            if let Some(file) = &source.file {
                return Some(PasswordSource::File(PathBuf::from(file)));
            }
            if let Some(var) = &source.env {
                if var.is_empty() || var.contains(['=', '\0']) {
                    errors.push(
                        p,
                        field,
                        format!("{var:?} is not an environment variable name"),
                    );
                    return None;
                }
                return Some(PasswordSource::Env(var.clone()));
            }
            Some(PasswordSource::Keyring)
        }
    }
}

fn check_local(raw: &RawLocal, p: Option<&str>, errors: &mut Errors) -> Option<Local> {
    let smtp = raw.smtp.as_deref().unwrap_or("127.0.0.1:25");
    let (smtp_host, smtp_port) = match split_host_port(smtp) {
        Some((host, port)) => {
            if !check_host(&host, p, "local.smtp", errors) {
                return None;
            }
            (host, check_port(port, p, "local.smtp", errors)?)
        }
        None => {
            errors.push(p, "local.smtp", format!("\"{smtp}\" is not HOST:PORT"));
            return None;
        }
    };
    let smtp_security = match raw.smtp_security.as_deref() {
        Some(text) => parse_security(text, p, "local.smtp_security", errors)?,
        None if is_loopback(&smtp_host) => Security::Plain,
        None => Security::StartTls,
    };
    let ca_file = raw
        .ca_file
        .as_deref()
        .and_then(|path| check_file(path, p, "local.ca_file", errors));
    let user = match raw.user.as_deref().map(str::trim) {
        Some(user) if valid_mailbox(user) => user.to_string(),
        Some(user) => {
            errors.push(
                p,
                "local.user",
                format!("\"{user}\" is not a user name or address"),
            );
            return None;
        }
        None => {
            errors.push(
                p,
                "local.user",
                "missing; the local user that receives the mail",
            );
            return None;
        }
    };
    let domain = match raw.domain.as_deref().map(str::trim) {
        Some(domain) if valid_domain(domain) => domain.to_ascii_lowercase(),
        Some(domain) => {
            errors.push(
                p,
                "local.domain",
                format!("\"{domain}\" is not a domain name"),
            );
            return None;
        }
        None => {
            errors.push(
                p,
                "local.domain",
                "missing; the local mail domain, such as mydomain.com",
            );
            return None;
        }
    };
    Some(Local {
        smtp_host,
        smtp_port,
        smtp_security,
        ca_file,
        user,
        domain,
    })
}

fn check_distribute(
    raw: &RawDistribute,
    local: &Local,
    p: Option<&str>,
    errors: &mut Errors,
) -> Option<Distribute> {
    let local_domains: Vec<String> = raw
        .local_domains
        .clone()
        .unwrap_or_else(|| vec![local.domain.clone()])
        .into_iter()
        .map(|domain| domain.trim().to_lowercase())
        .collect();
    if local_domains.is_empty() {
        errors.push(
            p,
            "distribute.local_domains",
            "must name at least one domain",
        );
    }
    for domain in &local_domains {
        if !valid_domain(domain) {
            errors.push(
                p,
                "distribute.local_domains",
                format!("\"{domain}\" is not a domain name"),
            );
        }
    }
    let fallback = raw.fallback.clone().unwrap_or_else(|| local.user.clone());
    if !valid_mailbox(&fallback) {
        errors.push(
            p,
            "distribute.fallback",
            format!("\"{fallback}\" is not a user name or address"),
        );
    }
    let mut aliases = BTreeMap::new();
    for (from, to) in raw.aliases.clone().unwrap_or_default() {
        if !valid_mailbox(&from) || !valid_mailbox(&to) {
            errors.push(
                p,
                "distribute.aliases",
                format!("\"{from}\" = \"{to}\": both sides must be user names or addresses"),
            );
        }
        aliases.insert(from.to_lowercase(), to);
    }
    let headers =
        |value: &Option<Vec<String>>, default: &[&str], field: &str, errors: &mut Errors| {
            let list = value
                .clone()
                .unwrap_or_else(|| default.iter().map(|h| h.to_string()).collect());
            for header in &list {
                if header.is_empty() || !header.chars().all(|c| c.is_ascii_graphic() && c != ':') {
                    errors.push(p, field, format!("\"{header}\" is not a header name"));
                }
            }
            list
        };
    let envelope_headers = headers(
        &raw.envelope_headers,
        DEFAULT_ENVELOPE_HEADERS,
        "distribute.envelope_headers",
        errors,
    );
    let visible_headers = headers(
        &raw.visible_headers,
        DEFAULT_VISIBLE_HEADERS,
        "distribute.visible_headers",
        errors,
    );
    let received_trusted = match raw.received_trusted {
        None => DEFAULT_RECEIVED_TRUSTED,
        Some(n) if (0..=100).contains(&n) => n as usize,
        Some(n) => {
            errors.push(
                p,
                "distribute.received_trusted",
                format!("{n} is out of range (0-100)"),
            );
            DEFAULT_RECEIVED_TRUSTED
        }
    };
    let max_received = positive(
        raw.max_received,
        DEFAULT_MAX_RECEIVED,
        1000,
        p,
        "distribute.max_received",
        errors,
    );
    let recipient_delimiter = match raw.recipient_delimiter.as_deref() {
        None => Some('+'),
        Some("") => None,
        Some(text) => {
            let mut chars = text.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if c.is_ascii_punctuation() && c != '@' => Some(c),
                _ => {
                    errors.push(
                        p,
                        "distribute.recipient_delimiter",
                        format!("\"{text}\" must be one punctuation character such as \"+\", or \"\" for none"),
                    );
                    None
                }
            }
        }
    };
    Some(Distribute {
        recipient_delimiter,
        local_domains,
        fallback,
        aliases,
        envelope_headers,
        visible_headers,
        received_trusted,
        max_received,
    })
}

fn split_host_port(text: &str) -> Option<(String, i64)> {
    let (host, port) = text.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some((host.to_string(), port.parse().ok()?))
}

pub(super) fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn valid_domain(domain: &str) -> bool {
    !domain.is_empty()
        && domain.len() <= 253
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && domain.split('.').all(|label| {
            !label.is_empty() && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
}

/// A local user (`alice`) or an address (`alice@mydomain.com`).
fn valid_mailbox(text: &str) -> bool {
    let (user, domain) = match text.split_once('@') {
        Some((user, domain)) => (user, Some(domain)),
        None => (text, None),
    };
    !user.is_empty()
        && user
            .chars()
            .all(|c| !c.is_control() && !c.is_whitespace() && !matches!(c, '<' | '>' | ',' | '@'))
        && domain.is_none_or(valid_domain)
}
