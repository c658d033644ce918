//! The pure routing decision: from a raw message and the [`Rules`], the exact RCPT TO
//! addresses, where each came from, and a plain-words reason.
//!
//! Order of evidence: the envelope headers in their configured order (the first one that names
//! a local-domain address wins, with all its occurrences), then the visible headers together,
//! then the fallback. Loops (our own marker in a Received header, or too many Received headers)
//! go straight to the fallback. [`Router`] holds the rules prepared once (normalised domains,
//! alias tables); [`decide`] is the one-shot form.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use serde::Serialize;

use super::address::{
    NormalAddress, normalize_domain, normalize_local, normalize_mailbox, parse_address_list,
    parse_configured_address,
};
use super::parse::{HeaderSection, contains_marker, received_for_clauses, split_headers};
use super::rules::Rules;

/// Where a message goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// The RCPT TO addresses, in order of first appearance, without duplicates. Empty only when
    /// nothing matched and no fallback is configured: the message then stays on the server.
    pub recipients: Vec<Recipient>,
    /// Whether the recipients are the fallback.
    pub fallback: bool,
    /// What happened, in plain words.
    pub reason: String,
}

/// One recipient of a [`Decision`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recipient {
    /// The exact RCPT TO address the worker will use (no angle brackets).
    pub address: String,
    /// The header it came from (as named in the rules), or `"fallback"`.
    pub source: String,
}

/// The source name of fallback recipients.
pub const FALLBACK_SOURCE: &str = "fallback";

/// The loop marker this installation writes into its trace header:
/// `Received: from ... by HOST (mailpull-id=<installation_id>) ...`.
pub fn loop_marker(installation_id: &str) -> String {
    format!("mailpull-id={installation_id}")
}

/// Decides the recipients of `message` under `rules`. Never panics, whatever the bytes.
/// For many messages under the same rules, build a [`Router`] once instead.
pub fn decide(message: &[u8], rules: &Rules) -> Decision {
    Router::new(rules).decide(message)
}

/// Rules prepared for repeated decisions: domains normalised, aliases indexed.
#[derive(Debug, Clone)]
pub struct Router {
    local_domains: Vec<String>,
    /// The fallback, or the configured text if it is not a usable address.
    fallback: Result<Option<NormalAddress>, String>,
    full_aliases: HashMap<String, NormalAddress>,
    local_aliases: HashMap<String, NormalAddress>,
    envelope_headers: Vec<String>,
    visible_headers: Vec<String>,
    received_trusted: usize,
    delimiter: Option<char>,
    max_received: usize,
    marker: Option<String>,
}

/// Collects recipients without duplicates, in order of first appearance.
#[derive(Default)]
struct Collector {
    recipients: Vec<Recipient>,
    seen: HashSet<String>,
    via_alias: usize,
}

impl Collector {
    fn push(&mut self, address: String, source: &str, via_alias: bool) {
        if self.seen.contains(&address) {
            return;
        }
        self.seen.insert(address.clone());
        self.via_alias += usize::from(via_alias);
        self.recipients.push(Recipient {
            address,
            source: source.to_string(),
        });
    }

    /// The distinct sources, in order of first use, e.g. `To, Cc`.
    fn sources(&self) -> String {
        let mut names: Vec<&str> = Vec::new();
        for r in &self.recipients {
            if !names.contains(&r.source.as_str()) {
                names.push(&r.source);
            }
        }
        names.join(", ")
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

impl Router {
    /// Prepares `rules`. Entries that cannot work (an alias whose key or value is not an
    /// address, a local domain that is not a domain) are left out here; [`Rules::validate`]
    /// reports them when the configuration is loaded.
    pub fn new(rules: &Rules) -> Router {
        let default_domain = rules.default_domain.as_str();
        let mut local_domains: Vec<String> = Vec::new();
        for d in &rules.local_domains {
            if let Some(d) = normalize_domain(d)
                && !local_domains.contains(&d)
            {
                local_domains.push(d);
            }
        }
        let fallback = match rules.fallback.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(text) => parse_configured_address(text, default_domain)
                .map(Some)
                .ok_or_else(|| text.to_string()),
        };
        let mut full_aliases = HashMap::new();
        let mut local_aliases = HashMap::new();
        for (key, value) in &rules.aliases {
            let Some(target) = parse_configured_address(value, default_domain) else {
                continue;
            };
            if key.contains('@') {
                if let Some(k) = parse_configured_address(key, default_domain) {
                    full_aliases.insert(k.key(), target);
                }
            } else {
                let key = key.trim();
                let key = key
                    .strip_prefix('"')
                    .and_then(|k| k.strip_suffix('"'))
                    .unwrap_or(key);
                if let Some(k) = normalize_local(key, None) {
                    local_aliases.insert(k, target);
                }
            }
        }
        let marker =
            (!rules.installation_id.is_empty()).then(|| loop_marker(&rules.installation_id));
        Router {
            local_domains,
            fallback,
            full_aliases,
            local_aliases,
            envelope_headers: rules.envelope_headers.clone(),
            visible_headers: rules.visible_headers.clone(),
            received_trusted: rules.received_trusted,
            delimiter: rules.recipient_delimiter,
            max_received: rules.max_received,
            marker,
        }
    }

    /// Decides the recipients of `message`. Never panics, whatever the bytes.
    pub fn decide(&self, message: &[u8]) -> Decision {
        let section = split_headers(message);
        if section.fields.is_empty() {
            let why = if message.is_empty() {
                "empty message: no headers at all".to_string()
            } else if message.iter().all(|b| b.is_ascii_whitespace()) {
                "message is only blank lines: no headers at all".to_string()
            } else {
                format!(
                    "no headers at all ({} that are not header fields)",
                    plural(section.malformed_lines, "line")
                )
            };
            return self.to_fallback(why);
        }

        if let Some(why) = self.loop_reason(&section) {
            return self.to_fallback(why);
        }

        for name in &self.envelope_headers {
            let mut found = Collector::default();
            if name.eq_ignore_ascii_case("Received") {
                let trusted = section
                    .fields
                    .iter()
                    .filter(|f| f.is("Received"))
                    .take(self.received_trusted);
                for field in trusted {
                    for clause in received_for_clauses(field.value) {
                        self.collect(clause, name, &mut found);
                    }
                }
            } else {
                for field in section.fields.iter().filter(|f| f.is(name)) {
                    self.collect(field.value, name, &mut found);
                }
            }
            if !found.recipients.is_empty() {
                let reason = self.success_reason(&found, "");
                return Decision {
                    recipients: found.recipients,
                    fallback: false,
                    reason,
                };
            }
        }

        let mut found = Collector::default();
        for field in &section.fields {
            if let Some(name) = self.visible_headers.iter().find(|h| field.is(h)) {
                self.collect(field.value, name, &mut found);
            }
        }
        if !found.recipients.is_empty() {
            let note = if self.envelope_headers.is_empty() {
                ""
            } else {
                "; no envelope header named a local address"
            };
            let reason = self.success_reason(&found, note);
            return Decision {
                recipients: found.recipients,
                fallback: false,
                reason,
            };
        }

        let mut why = String::from("no address in a local domain in ");
        let searched: Vec<&str> = self
            .envelope_headers
            .iter()
            .chain(&self.visible_headers)
            .map(String::as_str)
            .collect();
        if searched.is_empty() {
            why = String::from("no envelope or visible headers are configured");
        } else {
            why.push_str(&searched.join(", "));
        }
        if self.local_domains.is_empty() {
            why.push_str(" (no local domains are configured)");
        }
        if let Some(list) = section.fields.iter().find(|f| f.is("List-Id")) {
            let id = String::from_utf8_lossy(list.value);
            let id: String = id.split_whitespace().collect::<Vec<_>>().join(" ");
            let _ = write!(why, "; mailing list {id}");
        }
        if section.malformed_lines > 0 {
            let _ = write!(
                why,
                "; {} ignored",
                plural(section.malformed_lines, "malformed header line")
            );
        }
        if !section.has_separator {
            why.push_str("; no blank line between headers and body");
        }
        self.to_fallback(why)
    }

    /// Adds the local-domain addresses of one header value (or Received `for` clause).
    fn collect(&self, value: &[u8], source: &str, found: &mut Collector) {
        for mailbox in parse_address_list(value) {
            let Some(addr) = normalize_mailbox(&mailbox, self.delimiter) else {
                continue;
            };
            if !self.local_domains.contains(&addr.domain) {
                continue;
            }
            let alias = self
                .full_aliases
                .get(&addr.key())
                .or_else(|| self.local_aliases.get(&addr.local));
            match alias {
                Some(target) => found.push(target.to_rcpt(), source, true),
                None => found.push(addr.to_rcpt(), source, false),
            }
        }
    }

    fn success_reason(&self, found: &Collector, note: &str) -> String {
        let mut reason = format!(
            "{} from {}",
            plural(found.recipients.len(), "recipient"),
            found.sources()
        );
        if found.via_alias > 0 {
            let _ = write!(reason, ", {} through an alias", found.via_alias);
        }
        reason.push_str(note);
        reason
    }

    /// Why the message looks like a mail loop, if it does.
    fn loop_reason(&self, section: &HeaderSection<'_>) -> Option<String> {
        let mut count = 0usize;
        let mut marked = false;
        for field in section.fields.iter().filter(|f| f.is("Received")) {
            count += 1;
            if let Some(marker) = &self.marker
                && !marked
            {
                marked = contains_marker(field.value, marker.as_bytes());
            }
        }
        if marked {
            let marker = self.marker.as_deref().unwrap_or_default();
            return Some(format!(
                "mail loop: a Received header carries {marker}, so this installation already delivered the message once"
            ));
        }
        (count > self.max_received).then(|| {
            format!(
                "mail loop suspected: {count} Received headers, more than the limit of {}",
                self.max_received
            )
        })
    }

    /// A decision for the fallback (or for no recipient when there is none), with `why`.
    fn to_fallback(&self, why: String) -> Decision {
        match &self.fallback {
            Ok(Some(addr)) => {
                let address = addr.to_rcpt();
                let reason = format!("{why}; delivered to the fallback {address}");
                Decision {
                    recipients: vec![Recipient {
                        address,
                        source: FALLBACK_SOURCE.to_string(),
                    }],
                    fallback: true,
                    reason,
                }
            }
            Ok(None) => Decision {
                recipients: Vec::new(),
                fallback: true,
                reason: format!(
                    "{why}; no fallback is configured, so the message stays on the server"
                ),
            },
            Err(text) => Decision {
                recipients: Vec::new(),
                fallback: true,
                reason: format!(
                    "{why}; the fallback {text:?} is not a valid address, so the message stays on the server"
                ),
            },
        }
    }
}

/// The routing tests' rules, shared with `tests/it` and the benchmark.
#[cfg(test)]
#[path = "../../tests/common/rules.rs"]
mod test_rules;

#[cfg(test)]
mod tests {
    use super::test_rules::test_rules as rules;
    use super::*;

    fn addrs(d: &Decision) -> Vec<(&str, &str)> {
        d.recipients
            .iter()
            .map(|r| (r.address.as_str(), r.source.as_str()))
            .collect()
    }

    #[test]
    fn envelope_wins_over_visible() {
        let d = decide(
            b"X-Envelope-To: <carol@mydomain.com>\r\nTo: dave@mydomain.com\r\n\r\nhi",
            &rules(),
        );
        assert_eq!(addrs(&d), [("carol@mydomain.com", "X-Envelope-To")]);
        assert!(!d.fallback);
        assert_eq!(d.reason, "1 recipient from X-Envelope-To");
    }

    #[test]
    fn aliases_full_address_first_then_local_part() {
        let d = decide(
            b"To: info@mydomain.de, info@mydomain.com, Sales+x@MyDomain.de\r\n\r\n",
            &rules(),
        );
        assert_eq!(
            addrs(&d),
            [
                ("bob@mydomain.com", "To"),
                ("info@mydomain.com", "To"),
                ("alice@mydomain.com", "To")
            ]
        );
        assert!(d.reason.contains("2 through an alias"), "{}", d.reason);
    }

    #[test]
    fn fallback_and_no_fallback() {
        let d = decide(b"To: someone@else.example\r\n\r\n", &rules());
        assert_eq!(addrs(&d), [("postmaster@mydomain.com", "fallback")]);
        assert!(d.fallback);
        assert!(
            d.reason
                .starts_with("no address in a local domain in X-Envelope-To")
        );
        let mut r = rules();
        r.fallback = None;
        let d = decide(b"To: someone@else.example\r\n\r\n", &r);
        assert!(d.recipients.is_empty() && d.fallback);
        assert!(d.reason.contains("stays on the server"));
    }

    #[test]
    fn loop_marker_and_too_many_received() {
        assert_eq!(loop_marker("inst-1"), "mailpull-id=inst-1");
        let d = decide(
            b"Received: from pop by host (mailpull-id=test-install-1) with POP3\r\nTo: carol@mydomain.com\r\n\r\n",
            &rules(),
        );
        assert!(d.fallback);
        assert!(d.reason.contains("mail loop"));
        let mut msg = Vec::new();
        for _ in 0..26 {
            msg.extend_from_slice(b"Received: from a by b; date\r\n");
        }
        msg.extend_from_slice(b"To: carol@mydomain.com\r\n\r\n");
        let d = decide(&msg, &rules());
        assert!(
            d.fallback && d.reason.contains("26 Received headers"),
            "{}",
            d.reason
        );
    }

    #[test]
    fn idn_domains_match_in_either_form() {
        let mut r = rules();
        r.local_domains = vec!["xn--bcher-kva.example".into()];
        let d = decide("To: Bücher <Info@BÜCHER.example>\r\n\r\n".as_bytes(), &r);
        assert_eq!(addrs(&d), [("info@xn--bcher-kva.example", "To")]);
        r.local_domains = vec!["Bücher.Example".into()];
        let d = decide(b"X-Original-To: info@xn--bcher-kva.example\r\n\r\n", &r);
        assert_eq!(addrs(&d), [("info@xn--bcher-kva.example", "X-Original-To")]);
    }

    #[test]
    fn bad_fallback_is_reported_not_used() {
        let mut r = rules();
        r.fallback = Some("a\nb".into());
        let d = decide(b"", &r);
        assert!(d.recipients.is_empty());
        assert!(d.reason.contains("not a valid address"), "{}", d.reason);
    }
}
