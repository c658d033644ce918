//! `[worker] state`, `state_password` and `lease`: the state shared by several workers in
//! PostgreSQL. The connection string is checked for its form here (a `postgres://` URL naming a
//! user and a host, with no password in it: the password comes from `state_password`, a
//! secret source like a profile's); the worker's client parses the rest when it connects.

use super::fields::{Errors, check_secret_source};
use crate::config::duration::parse_duration;
use crate::config::model::{DEFAULT_LEASE, SharedState};
use crate::config::raw::RawWorker;

/// The shortest lease: a renewal every third of it must fit between two polls' database writes.
const MIN_LEASE_SECS: u64 = 3;

pub(super) fn check_shared_state(raw: &RawWorker, errors: &mut Errors) -> Option<SharedState> {
    let lease = match raw.lease.as_deref().map(parse_duration) {
        None => DEFAULT_LEASE,
        Some(Ok(lease)) if lease.as_secs() >= MIN_LEASE_SECS => lease,
        Some(Ok(_)) => {
            errors.push(
                None,
                "worker.lease",
                format!("must be at least {MIN_LEASE_SECS}s (for example \"30s\")"),
            );
            DEFAULT_LEASE
        }
        Some(Err(message)) => {
            errors.push(None, "worker.lease", message);
            DEFAULT_LEASE
        }
    };
    let Some(url) = raw.state.as_deref() else {
        if raw.state_password.is_some() {
            errors.push(
                None,
                "worker.state_password",
                "is only used with worker.state = \"postgres://...\"",
            );
        }
        return None;
    };
    let password = check_secret_source(
        raw.state_password.as_ref(),
        None,
        "worker.state_password",
        "password",
        errors,
    );
    if let Err(message) = check_url(url) {
        errors.push(None, "worker.state", message);
        return None;
    }
    Some(SharedState {
        url: url.to_string(),
        password,
        lease,
    })
}

/// A `postgres://user@host[:port]/db` URL without a password.
fn check_url(url: &str) -> Result<(), String> {
    const FORM: &str = "\"postgres://USER@HOST:PORT/DATABASE\"";
    let Some(rest) = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
    else {
        // Never echo the value: it could hold a password.
        return Err(format!(
            "is not a PostgreSQL URL; write {FORM} (the password goes in worker.state_password)"
        ));
    };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let Some((user, host)) = authority.rsplit_once('@') else {
        return Err(format!("names no user; write {FORM}"));
    };
    if user.contains(':') {
        return Err(
            "holds a password; passwords are never stored in the config file: remove it from the URL and write state_password = { keyring = true }, { file = \"/path\" } or { env = \"VAR\" }"
                .to_string(),
        );
    }
    if user.is_empty() || host.is_empty() || host.starts_with(':') {
        return Err(format!("names no user or no host; write {FORM}"));
    }
    if let Some((_, port)) = host.rsplit_once(':')
        && !host.ends_with(']')
        && port.parse::<u16>().map_or(true, |port| port == 0)
    {
        return Err(format!("port {port:?} is not a port number (1-65535)"));
    }
    if url.contains("password=") {
        return Err("holds a password parameter; passwords are never stored in the config file: use worker.state_password".to_string());
    }
    let query = url
        .split_once('?')
        .map(|(_, query)| query)
        .unwrap_or_default();
    for pair in query.split('&') {
        if let Some(mode) = pair.strip_prefix("sslmode=")
            && !["disable", "require", "verify-ca", "verify-full"].contains(&mode)
        {
            return Err(match mode {
                "prefer" | "allow" => format!(
                    "sslmode={mode} falls back to an unencrypted connection without a word: write sslmode=verify-full (or require, verify-ca, disable)"
                ),
                _ => format!(
                    "sslmode={mode:?} is not one of disable, require, verify-ca, verify-full"
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::raw::{RawPassword, RawPasswordSource};

    fn check(
        state: Option<&str>,
        password: Option<RawPassword>,
        lease: Option<&str>,
    ) -> (Option<SharedState>, Vec<String>) {
        let raw = RawWorker {
            state: state.map(str::to_string),
            state_password: password,
            lease: lease.map(str::to_string),
            ..RawWorker::default()
        };
        let mut errors = Errors::default();
        let shared = check_shared_state(&raw, &mut errors);
        let messages = errors
            .into_vec()
            .into_iter()
            .map(|err| format!("{}: {}", err.field, err.message))
            .collect();
        (shared, messages)
    }

    #[test]
    fn absent_is_the_local_database() {
        assert_eq!(check(None, None, None), (None, vec![]));
    }

    #[test]
    fn a_url_with_a_password_source_is_taken() {
        let env = RawPassword::Source(RawPasswordSource {
            env: Some("PGPASS".into()),
            ..RawPasswordSource::default()
        });
        let (shared, errors) = check(
            Some("postgres://mailpull@db.example:5432/mailpull"),
            Some(env),
            Some("20s"),
        );
        assert_eq!(errors, Vec::<String>::new());
        let shared = shared.expect("shared");
        assert_eq!(shared.lease.as_secs(), 20);
        assert_eq!(
            shared.password,
            Some(crate::secrets::PasswordSource::Env("PGPASS".into()))
        );
    }

    #[test]
    fn a_password_in_the_url_is_refused_without_echoing_it() {
        let (shared, errors) = check(Some("postgres://u:hunter2@db/m"), None, None);
        assert!(shared.is_none());
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("worker.state: holds a password"),
            "{errors:?}"
        );
        assert!(!errors[0].contains("hunter2"));
        let (_, errors) = check(Some("postgres://u@db/m?password=hunter2"), None, None);
        assert!(errors[0].contains("password parameter") && !errors[0].contains("hunter2"));
    }

    #[test]
    fn other_urls_and_short_leases_are_refused() {
        for url in [
            "mysql://u@db/m",
            "postgres://db/m",
            "postgres://u@db:99999/m",
            "postgres://u@/m",
            "postgres://u@db/m?sslmode=prefer",
            "postgres://u@db/m?sslmode=on",
        ] {
            let (shared, errors) = check(Some(url), None, None);
            assert!(shared.is_none() && errors.len() == 1, "{url}: {errors:?}");
        }
        let (shared, errors) = check(
            Some("postgres://u@db/m?sslmode=verify-full&sslrootcert=/etc/ca.pem"),
            None,
            None,
        );
        assert!(shared.is_some() && errors.is_empty(), "{errors:?}");
        let (_, errors) = check(Some("postgres://u@db/m?sslmode=allow"), None, None);
        assert!(
            errors[0].contains("falls back to an unencrypted"),
            "{errors:?}"
        );
        let (_, errors) = check(Some("postgres://u@db/m"), None, Some("1s"));
        assert_eq!(
            errors,
            vec!["worker.lease: must be at least 3s (for example \"30s\")"]
        );
        let inline = RawPassword::Inline("x".into());
        let (_, errors) = check(Some("postgres://u@db/m"), Some(inline), None);
        assert!(
            errors[0].starts_with("worker.state_password: passwords are never stored"),
            "{errors:?}"
        );
    }
}
