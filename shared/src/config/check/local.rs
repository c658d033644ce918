//! `[profile.local]`: the local SMTP server and the single-drop recipient.

use super::fields::{
    Errors, check_file, check_host, check_port, parse_security, split_host_port, valid_domain,
    valid_mailbox,
};
use crate::config::model::{DEFAULT_SMTP, Local, default_smtp_security};
use crate::config::raw::RawLocal;

pub(super) fn check_local(raw: &RawLocal, p: Option<&str>, errors: &mut Errors) -> Option<Local> {
    let smtp = raw.smtp.as_deref().unwrap_or(DEFAULT_SMTP);
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
        None => default_smtp_security(&smtp_host),
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
