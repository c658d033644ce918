//! The leaf of the checker: [`FieldError`] (one problem, naming its profile and field), the
//! [`Errors`] accumulator every section check writes into, and the small validators they
//! share (hosts, ports, files, domains, mailboxes, secret sources). Imports no sibling.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::model::Security;
use crate::config::raw::RawPassword;
use crate::secrets::PasswordSource;

/// One problem in the configuration. The same type travels over the pipe as
/// `ipc::FieldProblem`, so the window names the field the checker names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// Every problem found so far, in the order found.
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

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(super) fn into_vec(self) -> Vec<FieldError> {
        self.0
    }
}

pub(super) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A number from 1 to `max`, or `default` when not written.
pub(super) fn positive(
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

pub(super) fn check_host(
    host: &str,
    profile: Option<&str>,
    field: &str,
    errors: &mut Errors,
) -> bool {
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

pub(super) fn check_port(
    port: i64,
    profile: Option<&str>,
    field: &str,
    errors: &mut Errors,
) -> Option<u16> {
    match u16::try_from(port) {
        Ok(port) if port != 0 => Some(port),
        _ => {
            errors.push(profile, field, format!("{port} is not a port (1-65535)"));
            None
        }
    }
}

pub(super) fn check_file(
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

pub(super) use crate::config::model::{is_loopback, split_host_port};

pub(super) fn valid_domain(domain: &str) -> bool {
    !domain.is_empty()
        && domain.len() <= 253
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && domain.split('.').all(|label| {
            !label.is_empty() && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
}

/// A local user (`alice`) or an address (`alice@mydomain.com`).
pub(super) fn valid_mailbox(text: &str) -> bool {
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

/// `remote.security` or `local.smtp_security`.
pub(super) fn parse_security(
    text: &str,
    profile: Option<&str>,
    field: &str,
    errors: &mut Errors,
) -> Option<Security> {
    match text.parse() {
        Ok(security) => Some(security),
        Err(message) => {
            errors.push(profile, field, message);
            None
        }
    }
}
