//! `[profile.remote]`: the mailbox to pull (protocol, server, security, user, folders,
//! limits); its login is checked by [`super::credentials`].

use std::time::Duration;

use super::credentials::{check_auth, check_credentials};
use super::fields::{Errors, check_file, check_host, check_port, parse_security, positive};
use crate::config::duration::parse_duration;
use crate::config::model::{
    DEFAULT_FOLDER, DEFAULT_MAX_MESSAGE_MB, DEFAULT_TIMEOUT, Protocol, Remote, Security,
};
use crate::config::raw::RawRemote;
use crate::config::server::parse_server;

pub(super) fn check_remote(
    raw: &RawRemote,
    p: Option<&str>,
    errors: &mut Errors,
) -> Option<Remote> {
    let protocol = match raw
        .protocol
        .as_deref()
        .map(str::parse)
        .unwrap_or(Ok(Protocol::default()))
    {
        Ok(protocol) => protocol,
        Err(message) => {
            errors.push(p, "remote.protocol", message);
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
    let security = security.unwrap_or_default();
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
    let auth = check_auth(raw.auth.as_deref(), protocol, p, errors);
    let credentials = check_credentials(raw, auth, protocol, p, errors);
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
        (Protocol::Imap, None) => vec![DEFAULT_FOLDER.to_string()],
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
    if !host_ok {
        return None;
    }
    Some(Remote {
        protocol,
        host,
        port: port?,
        security,
        username,
        auth,
        credentials: credentials?,
        ca_file,
        folders,
        timeout,
        max_message_bytes: max_message_mb * 1024 * 1024,
    })
}
