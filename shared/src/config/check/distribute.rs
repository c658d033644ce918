//! `[profile.distribute]`: multi-drop (local domains, fallback, aliases, the headers read and
//! the loop guard).

use std::collections::BTreeMap;

use super::fields::{Errors, positive, valid_domain, valid_mailbox};
use crate::config::model::{
    DEFAULT_ENVELOPE_HEADERS, DEFAULT_MAX_RECEIVED, DEFAULT_RECEIVED_TRUSTED,
    DEFAULT_RECIPIENT_DELIMITER, DEFAULT_VISIBLE_HEADERS, Distribute, Local,
};
use crate::config::raw::RawDistribute;

pub(super) fn check_distribute(
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
        None => Some(DEFAULT_RECIPIENT_DELIMITER),
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
