//! The multi-drop routing rules: which domains are ours, where unplaceable mail goes, the
//! aliases, and which headers are trusted to name the envelope recipients.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::address::{normalize_domain, parse_configured_address};

/// The default header lists are the configuration's: one definition for both.
pub use mailpull_shared::config::{DEFAULT_ENVELOPE_HEADERS, DEFAULT_VISIBLE_HEADERS};
use mailpull_shared::config::{
    DEFAULT_MAX_RECEIVED, DEFAULT_RECEIVED_TRUSTED, DEFAULT_RECIPIENT_DELIMITER,
};

/// How one catch-all mailbox is split into local mailboxes.
///
/// Matching is case-insensitive: domains are lowercased and compared in their ASCII (punycode)
/// form, and local parts are lowercased before alias lookup, so the RCPT TO address the worker
/// uses always has a lowercase local part (`Alice@MyDomain.com` becomes `alice@mydomain.com`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Rules {
    /// Domains whose addresses are delivered locally, e.g. `["mydomain.com", "mydomain.de"]`.
    /// Case-insensitive and IDN-aware (`bücher.example` and `xn--bcher-kva.example` are equal).
    pub local_domains: Vec<String>,
    /// The profile's local domain: a bare local user `alice` becomes `alice@default_domain`.
    pub default_domain: String,
    /// Local user or full address for mail that matches nobody. `None`: such mail yields no
    /// recipients and stays on the server.
    pub fallback: Option<String>,
    /// Key: local part (`sales`, matches in every local domain) or full address
    /// (`info@mydomain.de`, tried first). Value: local user (`alice`) or full address.
    /// Aliases do not chain: a value is not looked up again.
    pub aliases: BTreeMap<String, String>,
    /// Envelope headers in order of trust. `Received` means the `for <addr>` clauses of the
    /// topmost [`Rules::received_trusted`] Received headers.
    pub envelope_headers: Vec<String>,
    /// Visible recipient headers, used together when no envelope header names a local address.
    pub visible_headers: Vec<String>,
    /// How many of the topmost Received headers were written by the ISP's own servers and may
    /// supply `for <addr>`.
    pub received_trusted: usize,
    /// `user+tag@` becomes `user@` with `Some('+')`; `None` keeps tags.
    pub recipient_delimiter: Option<char>,
    /// Loop guard: a message with more Received headers than this goes to the fallback.
    pub max_received: usize,
    /// This installation's id, written into the trace header as [`super::loop_marker`].
    pub installation_id: String,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            local_domains: Vec::new(),
            default_domain: String::new(),
            fallback: None,
            aliases: BTreeMap::new(),
            envelope_headers: DEFAULT_ENVELOPE_HEADERS
                .iter()
                .map(|h| h.to_string())
                .collect(),
            visible_headers: DEFAULT_VISIBLE_HEADERS
                .iter()
                .map(|h| h.to_string())
                .collect(),
            received_trusted: DEFAULT_RECEIVED_TRUSTED,
            recipient_delimiter: Some(DEFAULT_RECIPIENT_DELIMITER),
            max_received: DEFAULT_MAX_RECEIVED,
            installation_id: String::new(),
        }
    }
}

/// What is wrong with a set of [`Rules`]; [`Rules::validate`] reports the first problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesError {
    #[error("routing: default_domain is empty")]
    EmptyDefaultDomain,
    #[error("routing: {field} {value:?} is not a valid domain name")]
    BadDomain { field: &'static str, value: String },
    #[error("routing: fallback {0:?} is not a valid local user or address")]
    BadFallback(String),
    #[error("routing: alias key {0:?} is empty or not a valid local part or address")]
    BadAliasKey(String),
    #[error("routing: alias {key:?} = {value:?}: the value is not a valid local user or address")]
    BadAliasValue { key: String, value: String },
    #[error("routing: header name {0:?} is not a valid header field name")]
    BadHeaderName(String),
    #[error(
        "routing: installation_id {0:?} must be non-empty and use only letters, digits, '-', '_' and '.'"
    )]
    BadInstallationId(String),
}

impl Rules {
    /// Checks the rules once when a profile is loaded, so that bad configuration is reported
    /// with a clear message instead of silently never matching. [`super::decide()`] works with
    /// any rules (it never fails), but rules that fail here may route nothing.
    pub fn validate(&self) -> Result<(), RulesError> {
        if self.default_domain.trim().is_empty() {
            return Err(RulesError::EmptyDefaultDomain);
        }
        if normalize_domain(&self.default_domain).is_none() {
            return Err(RulesError::BadDomain {
                field: "default_domain",
                value: self.default_domain.clone(),
            });
        }
        for domain in &self.local_domains {
            if normalize_domain(domain).is_none() {
                return Err(RulesError::BadDomain {
                    field: "local_domains entry",
                    value: domain.clone(),
                });
            }
        }
        let default_domain = self.default_domain.as_str();
        if let Some(fallback) = &self.fallback
            && parse_configured_address(fallback, default_domain).is_none()
        {
            return Err(RulesError::BadFallback(fallback.clone()));
        }
        for (key, value) in &self.aliases {
            // A key is either a local part or a full address; both parse as a configured
            // address (a bare local part gets the default domain for the check).
            if parse_configured_address(key, default_domain).is_none() {
                return Err(RulesError::BadAliasKey(key.clone()));
            }
            if parse_configured_address(value, default_domain).is_none() {
                return Err(RulesError::BadAliasValue {
                    key: key.clone(),
                    value: value.clone(),
                });
            }
        }
        for name in self.envelope_headers.iter().chain(&self.visible_headers) {
            let valid =
                !name.is_empty() && name.bytes().all(|b| (33..=126).contains(&b) && b != b':');
            if !valid {
                return Err(RulesError::BadHeaderName(name.clone()));
            }
        }
        let id_ok = !self.installation_id.is_empty()
            && self
                .installation_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !id_ok {
            return Err(RulesError::BadInstallationId(self.installation_id.clone()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> Rules {
        Rules {
            local_domains: vec!["mydomain.com".into(), "bücher.example".into()],
            default_domain: "mydomain.com".into(),
            fallback: Some("postmaster".into()),
            aliases: [("sales".to_string(), "alice".to_string())].into(),
            installation_id: "inst-1".into(),
            ..Rules::default()
        }
    }

    #[test]
    fn defaults_match_the_documented_values() {
        let rules = Rules::default();
        assert_eq!(
            rules.envelope_headers,
            [
                "X-Envelope-To",
                "Envelope-To",
                "X-Original-To",
                "Delivered-To",
                "X-Rcpt-To",
                "Received"
            ]
        );
        assert_eq!(
            rules.visible_headers,
            ["To", "Cc", "Resent-To", "Resent-Cc"]
        );
        assert_eq!(rules.received_trusted, 1);
        assert_eq!(rules.recipient_delimiter, Some('+'));
        assert_eq!(rules.max_received, 25);
        assert!(rules.local_domains.is_empty());
    }

    #[test]
    fn validate_accepts_good_rules_and_names_bad_fields() {
        assert_eq!(good().validate(), Ok(()));
        let mut r = good();
        r.default_domain = " ".into();
        assert_eq!(r.validate(), Err(RulesError::EmptyDefaultDomain));
        let mut r = good();
        r.local_domains.push("bad domain".into());
        assert!(matches!(r.validate(), Err(RulesError::BadDomain { .. })));
        let mut r = good();
        r.fallback = Some("a b\r\nRCPT".into());
        assert!(matches!(r.validate(), Err(RulesError::BadFallback(_))));
        let mut r = good();
        r.aliases.insert("x".into(), "".into());
        assert!(matches!(
            r.validate(),
            Err(RulesError::BadAliasValue { .. })
        ));
        let mut r = good();
        r.visible_headers.push("To:".into());
        assert!(matches!(r.validate(), Err(RulesError::BadHeaderName(_))));
        let mut r = good();
        r.installation_id = "a b".into();
        assert!(matches!(
            r.validate(),
            Err(RulesError::BadInstallationId(_))
        ));
    }

    #[test]
    fn rules_deserialize_with_defaults_for_missing_fields() {
        let rules: Rules = serde_json::from_str(
            r#"{"local_domains":["mydomain.com"],"default_domain":"mydomain.com"}"#,
        )
        .expect("rules parse");
        assert_eq!(rules.max_received, 25);
        assert_eq!(rules.local_domains, ["mydomain.com"]);
    }
}
