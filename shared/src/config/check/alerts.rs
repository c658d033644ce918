//! `[worker] alerts`: the administrator's address, how long a profile fails before it is
//! mailed about, the `From:` address and, when written, the SMTP server that sends alerts
//! (otherwise each profile's own local server).

use super::fields::{
    Errors, check_file, check_host, check_port, parse_security, split_host_port, valid_domain,
};
use crate::config::duration::parse_duration;
use crate::config::model::{AlertSmtp, Alerts, DEFAULT_ALERT_AFTER, default_smtp_security};
use crate::config::raw::RawAlerts;

/// An address with a domain (`postmaster@example.com`), no display name or brackets.
fn valid_address(text: &str) -> bool {
    match text.rsplit_once('@') {
        Some((user, domain)) => {
            !user.is_empty()
                && user.chars().all(|c| {
                    !c.is_control() && !c.is_whitespace() && !matches!(c, '<' | '>' | ',' | '@')
                })
                && valid_domain(domain)
        }
        None => false,
    }
}

pub(super) fn check_alerts(raw: &RawAlerts, errors: &mut Errors) -> Option<Alerts> {
    let to = match raw.to.as_deref().map(str::trim) {
        Some(to) if valid_address(to) => Some(to.to_string()),
        Some(to) => {
            errors.push(
                None,
                "worker.alerts.to",
                format!("\"{to}\" is not an address such as \"postmaster@example.com\""),
            );
            None
        }
        None => {
            errors.push(
                None,
                "worker.alerts.to",
                "missing; the administrator's address, such as \"postmaster@example.com\"",
            );
            None
        }
    };
    let after = match raw.after.as_deref().map(parse_duration) {
        None => DEFAULT_ALERT_AFTER,
        Some(Ok(after)) => after,
        Some(Err(message)) => {
            errors.push(None, "worker.alerts.after", message);
            DEFAULT_ALERT_AFTER
        }
    };
    let from = match raw.from.as_deref().map(str::trim) {
        None => None,
        Some(from) if valid_address(from) => Some(from.to_string()),
        Some(from) => {
            errors.push(
                None,
                "worker.alerts.from",
                format!("\"{from}\" is not an address such as \"mailpull@example.com\""),
            );
            None
        }
    };
    let smtp = match raw.smtp.as_deref() {
        None => {
            for (written, field) in [
                (raw.smtp_security.is_some(), "worker.alerts.smtp_security"),
                (raw.ca_file.is_some(), "worker.alerts.ca_file"),
            ] {
                if written {
                    errors.push(
                        None,
                        field,
                        "needs worker.alerts.smtp (without it each profile's own local server sends its alerts)",
                    );
                }
            }
            None
        }
        Some(smtp) => check_smtp(smtp, raw, errors),
    };
    Some(Alerts {
        to: to?,
        after,
        from,
        smtp,
    })
}

fn check_smtp(smtp: &str, raw: &RawAlerts, errors: &mut Errors) -> Option<AlertSmtp> {
    let Some((host, port)) = split_host_port(smtp) else {
        errors.push(
            None,
            "worker.alerts.smtp",
            format!("\"{smtp}\" is not HOST:PORT"),
        );
        return None;
    };
    if !check_host(&host, None, "worker.alerts.smtp", errors) {
        return None;
    }
    let port = check_port(port, None, "worker.alerts.smtp", errors)?;
    let security = match raw.smtp_security.as_deref() {
        Some(text) => parse_security(text, None, "worker.alerts.smtp_security", errors)?,
        None => default_smtp_security(&host),
    };
    let ca_file = raw
        .ca_file
        .as_deref()
        .and_then(|path| check_file(path, None, "worker.alerts.ca_file", errors));
    Some(AlertSmtp {
        host,
        port,
        security,
        ca_file,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: RawAlerts) -> (Option<Alerts>, Vec<String>) {
        let mut errors = Errors::default();
        let alerts = check_alerts(&raw, &mut errors);
        let messages = errors
            .into_vec()
            .into_iter()
            .map(|err| format!("{}: {}", err.field, err.message))
            .collect();
        (alerts, messages)
    }

    #[test]
    fn to_alone_takes_the_defaults() {
        let (alerts, errors) = check(RawAlerts {
            to: Some("postmaster@local.test".into()),
            ..RawAlerts::default()
        });
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            alerts,
            Some(Alerts {
                to: "postmaster@local.test".into(),
                after: DEFAULT_ALERT_AFTER,
                from: None,
                smtp: None,
            })
        );
    }

    #[test]
    fn an_explicit_server_is_read_with_its_security() {
        let (alerts, errors) = check(RawAlerts {
            to: Some("admin@example.com".into()),
            after: Some("30m".into()),
            from: Some("mailpull@example.com".into()),
            smtp: Some("mail.example.com:587".into()),
            ..RawAlerts::default()
        });
        assert!(errors.is_empty(), "{errors:?}");
        let alerts = alerts.expect("alerts");
        assert_eq!(alerts.after, std::time::Duration::from_secs(1800));
        let smtp = alerts.smtp.expect("smtp");
        assert_eq!((smtp.host.as_str(), smtp.port), ("mail.example.com", 587));
        assert_eq!(smtp.security, crate::config::Security::StartTls);
    }

    #[test]
    fn every_mistake_is_named_with_its_field() {
        let (alerts, errors) = check(RawAlerts {
            to: Some("postmaster".into()),
            after: Some("soon".into()),
            from: Some("Mailpull <m@x.org>".into()),
            smtp_security: Some("tls".into()),
            ..RawAlerts::default()
        });
        assert_eq!(alerts, None);
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors[0].starts_with("worker.alerts.to: \"postmaster\" is not an address"));
        assert!(errors[1].starts_with("worker.alerts.after: "));
        assert!(errors[2].starts_with("worker.alerts.from: "));
        assert!(errors[3].starts_with("worker.alerts.smtp_security: needs worker.alerts.smtp"));
        let (_, errors) = check(RawAlerts::default());
        assert_eq!(
            errors,
            [
                "worker.alerts.to: missing; the administrator's address, such as \"postmaster@example.com\""
            ]
        );
        let (_, errors) = check(RawAlerts {
            to: Some("a@b.org".into()),
            smtp: Some("localhost".into()),
            ..RawAlerts::default()
        });
        assert_eq!(
            errors,
            ["worker.alerts.smtp: \"localhost\" is not HOST:PORT"]
        );
    }
}
