//! Normalisation: addresses in their comparable form (lowercase, punycode domains, `+tag`
//! removed when a recipient delimiter is set) and as RCPT TO arguments; addresses written in
//! the configuration.

use super::list::{Mailbox, parse_address_list};

/// Longest local part (in octets) accepted as a recipient (RFC 5321, 4.5.3.1.1).
pub const MAX_LOCAL_PART: usize = 64;

fn is_valid_ascii_domain(d: &str) -> bool {
    !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// A domain in its comparable form: lowercase ASCII, IDN labels in punycode, no trailing dot.
/// `None` for domain literals and anything that is not a valid domain name.
pub fn normalize_domain(domain: &str) -> Option<String> {
    let d = domain.trim();
    let d = d.strip_suffix('.').unwrap_or(d);
    let ascii = if d.is_ascii() {
        d.to_ascii_lowercase()
    } else {
        idna::domain_to_ascii(d).ok()?
    };
    is_valid_ascii_domain(&ascii).then_some(ascii)
}

/// A local part in its comparable form: lowercased, `+tag` removed when `delimiter` is set
/// (only if something precedes the delimiter). `None` if empty, too long, or containing
/// control characters or undecodable bytes, which could not be used safely as a RCPT TO.
pub fn normalize_local(local: &str, delimiter: Option<char>) -> Option<String> {
    let mut l = local;
    if let Some(delim) = delimiter
        && let Some(pos) = l.find(delim)
        && pos > 0
    {
        l = l.get(..pos).unwrap_or(l);
    }
    let bad = |c: char| c.is_control() || c == '\u{FFFD}';
    if l.is_empty() || l.len() > MAX_LOCAL_PART || l.chars().any(bad) {
        return None;
    }
    Some(if l.is_ascii() {
        l.to_ascii_lowercase()
    } else {
        l.to_lowercase()
    })
}

/// A normalised address: what matching, aliases and the RCPT TO use.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NormalAddress {
    /// Lowercased local part, unquoted.
    pub local: String,
    /// Lowercase ASCII domain.
    pub domain: String,
}

fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii()
}

impl NormalAddress {
    /// The address as an SMTP RCPT TO argument (without angle brackets): the local part is
    /// quoted when it is not a dot-atom, e.g. `"john doe"@mydomain.com`.
    pub fn to_rcpt(&self) -> String {
        let dot_atom = !self.local.is_empty()
            && self
                .local
                .split('.')
                .all(|atom| !atom.is_empty() && atom.chars().all(is_atext));
        if dot_atom {
            format!("{}@{}", self.local, self.domain)
        } else {
            let mut s = String::with_capacity(self.local.len() + self.domain.len() + 4);
            s.push('"');
            for c in self.local.chars() {
                if c == '"' || c == '\\' {
                    s.push('\\');
                }
                s.push(c);
            }
            s.push_str("\"@");
            s.push_str(&self.domain);
            s
        }
    }

    /// `local@domain` without quoting, the key for full-address aliases.
    pub fn key(&self) -> String {
        format!("{}@{}", self.local, self.domain)
    }
}

/// Normalises a mailbox found in a message. `None` if its domain or local part is unusable.
pub fn normalize_mailbox(mailbox: &Mailbox<'_>, delimiter: Option<char>) -> Option<NormalAddress> {
    Some(NormalAddress {
        domain: normalize_domain(&mailbox.domain)?,
        local: normalize_local(&mailbox.local_part, delimiter)?,
    })
}

/// Parses an address from the configuration (fallback, alias keys and values): a full address
/// (`bob@mydomain.de`, `"john doe"@x`) or a bare local user (`alice`), which gets
/// `default_domain`. No tag is removed from configured addresses.
pub fn parse_configured_address(text: &str, default_domain: &str) -> Option<NormalAddress> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if text.contains('@') {
        let mailboxes = parse_address_list(text.as_bytes());
        let [mailbox] = mailboxes.as_slice() else {
            return None;
        };
        return normalize_mailbox(mailbox, None);
    }
    let unquoted = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    Some(NormalAddress {
        local: normalize_local(unquoted, None)?,
        domain: normalize_domain(default_domain)?,
    })
}
