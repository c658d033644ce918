//! Extracts e-mail addresses from header values (RFC 5322 address lists, tolerant of what real
//! mailers write) and normalises them for matching and for use as an SMTP RCPT TO address.
//!
//! Understood: display names (plain, quoted, RFC 2047 encoded words, raw 8-bit), angle
//! brackets, groups (`undisclosed-recipients:;`, `team: a@x, b@y;`), comments `(…)` anywhere,
//! quoted local parts (`"john doe"@x`), obsolete routes (`<@relay:a@x>`), domain literals, and
//! sloppy input: bare addresses, space-separated lists, missing commas, unclosed quotes,
//! brackets or comments. Nothing here panics on any bytes.
//!
//! Normalisation: domains are lowercased and converted to ASCII (punycode) with IDNA; local parts
//! are lowercased (so matching and aliases are case-insensitive, and the RCPT TO address has a
//! lowercase local part) and lose a `+tag` when a recipient delimiter is set.

use std::borrow::Cow;

use super::parse::skip_comment;

/// Longest local part (in octets) accepted as a recipient (RFC 5321, 4.5.3.1.1).
pub const MAX_LOCAL_PART: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A run of characters that are not whitespace or specials (8-bit bytes included).
    Atom,
    /// A quoted string, span includes the quotes.
    Quoted,
    /// A domain literal, span includes the brackets.
    Literal,
    /// One of `< > @ , : ; .`
    Special(u8),
}

#[derive(Debug, Clone, Copy)]
struct Tok {
    kind: Kind,
    start: usize,
    end: usize,
}

impl Tok {
    fn is_word(&self) -> bool {
        matches!(self.kind, Kind::Atom | Kind::Quoted)
    }
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')' | b'<' | b'>' | b'@' | b',' | b';' | b':' | b'"' | b'.' | b'[' | b']'
    )
}

/// Index after the closing `close` of a quoted string or literal opened at `start`.
fn skip_delimited(v: &[u8], start: usize, close: u8) -> usize {
    let mut i = start + 1;
    while let Some(&b) = v.get(i) {
        if b == b'\\' {
            i += 2;
            continue;
        }
        if b == close {
            return i + 1;
        }
        i += 1;
    }
    v.len()
}

fn tokenize(v: &[u8]) -> Vec<Tok> {
    let mut toks = Vec::with_capacity(16);
    let mut i = 0;
    while let Some(&b) = v.get(i) {
        let start = i;
        let kind = match b {
            _ if is_ws(b) => {
                i += 1;
                continue;
            }
            b'(' => {
                i = skip_comment(v, i);
                continue;
            }
            b')' | b']' => {
                // Stray closers: ignore.
                i += 1;
                continue;
            }
            b'"' => {
                i = skip_delimited(v, i, b'"');
                Kind::Quoted
            }
            b'[' => {
                i = skip_delimited(v, i, b']');
                Kind::Literal
            }
            b'<' | b'>' | b'@' | b',' | b';' | b':' | b'.' => {
                i += 1;
                Kind::Special(b)
            }
            _ => {
                while v.get(i).is_some_and(|&c| !is_ws(c) && !is_special(c)) {
                    i += 1;
                }
                Kind::Atom
            }
        };
        toks.push(Tok {
            kind,
            start,
            end: i.min(v.len()),
        });
    }
    toks
}

/// One mailbox found in a header value, borrowing from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox<'a> {
    /// The local part as written, quotes and quoted pairs resolved, case kept.
    pub local_part: Cow<'a, str>,
    /// The domain as written (comments and blanks removed, a trailing dot dropped), case kept.
    /// A domain literal keeps its brackets.
    pub domain: Cow<'a, str>,
    raw_name: Option<&'a [u8]>,
    raw_group: Option<&'a [u8]>,
}

impl Mailbox<'_> {
    /// The display name, RFC 2047 encoded words decoded (UTF-8, ISO-8859-x and others, Q and
    /// B), quotes removed. Decoding is done on request only.
    pub fn display_name(&self) -> Option<String> {
        decode_phrase(self.raw_name?, false)
    }

    /// The name of the group the mailbox was listed in, decoded like [`Self::display_name`].
    pub fn group(&self) -> Option<String> {
        decode_phrase(self.raw_group?, true)
    }

    /// `local@domain` as written (no quoting added).
    pub fn addr_spec(&self) -> String {
        format!("{}@{}", self.local_part, self.domain)
    }
}

/// Decodes a display name or group name through mail-parser's address parser.
fn decode_phrase(raw: &[u8], group: bool) -> Option<String> {
    let mut header = Vec::with_capacity(raw.len() + 40);
    header.extend_from_slice(b"To: ");
    header.extend_from_slice(raw);
    header.extend_from_slice(if group {
        b": x@invalid.invalid;\r\n\r\n".as_slice()
    } else {
        b" <x@invalid.invalid>\r\n\r\n".as_slice()
    });
    let message = mail_parser::MessageParser::new().parse_headers(&header)?;
    let name = match message.to()? {
        mail_parser::Address::List(list) => list.first()?.name.clone(),
        mail_parser::Address::Group(groups) => groups.first()?.name.clone(),
    }?;
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_string())
}

/// The text of a word token: atoms as they are, quoted strings without quotes, quoted pairs
/// resolved and line ends (folding) removed.
fn word_text<'a>(v: &'a [u8], tok: &Tok) -> Cow<'a, [u8]> {
    let raw = v.get(tok.start..tok.end).unwrap_or_default();
    if tok.kind != Kind::Quoted {
        return Cow::Borrowed(raw);
    }
    let inner = raw.get(1..).unwrap_or_default();
    let inner = inner.strip_suffix(b"\"").unwrap_or(inner);
    if !inner.iter().any(|&b| matches!(b, b'\\' | b'\r' | b'\n')) {
        return Cow::Borrowed(inner);
    }
    let mut out = Vec::with_capacity(inner.len());
    let mut iter = inner.iter();
    while let Some(&b) = iter.next() {
        match b {
            b'\\' => {
                if let Some(&next) = iter.next() {
                    out.push(next);
                }
            }
            b'\r' | b'\n' => {}
            _ => out.push(b),
        }
    }
    Cow::Owned(out)
}

fn bytes_to_str(b: Cow<'_, [u8]>) -> Cow<'_, str> {
    match b {
        Cow::Borrowed(b) => String::from_utf8_lossy(b),
        Cow::Owned(b) => Cow::Owned(match String::from_utf8(b) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }),
    }
}

fn span<'a>(v: &'a [u8], toks: &[Tok]) -> Option<&'a [u8]> {
    let first = toks.first()?;
    let last = toks.last()?;
    v.get(first.start..last.end)
}

/// Finds every `local@domain` in a run of tokens and appends it to `out`.
fn extract<'a>(
    v: &'a [u8],
    toks: &[Tok],
    raw_name: Option<&'a [u8]>,
    raw_group: Option<&'a [u8]>,
    out: &mut Vec<Mailbox<'a>>,
) {
    let mut floor = 0;
    for (at, tok) in toks.iter().enumerate() {
        if tok.kind != Kind::Special(b'@') || at < floor {
            continue;
        }
        // Local part: words joined by dots, walking back from the `@`.
        let mut start = at;
        let mut prev_word = false;
        while start > floor {
            let Some(t) = toks.get(start - 1) else { break };
            if t.kind == Kind::Special(b'.') {
                prev_word = false;
            } else if t.is_word() && !prev_word {
                prev_word = true;
            } else {
                break;
            }
            start -= 1;
        }
        // Domain: a literal, or atoms joined by dots (a trailing dot is dropped).
        let mut end = at + 1;
        let mut domain_toks = 0;
        match toks.get(end).map(|t| t.kind) {
            Some(Kind::Literal) => {
                end += 1;
                domain_toks = 1;
            }
            Some(Kind::Atom) => {
                end += 1;
                domain_toks = 1;
                while toks.get(end).map(|t| t.kind) == Some(Kind::Special(b'.')) {
                    if toks.get(end + 1).map(|t| t.kind) == Some(Kind::Atom) {
                        end += 2;
                        domain_toks += 2;
                    } else {
                        end += 1; // trailing dot, not part of the domain
                        break;
                    }
                }
            }
            _ => {}
        }
        let local_toks = toks.get(start..at).unwrap_or_default();
        if domain_toks == 0 || !local_toks.iter().any(Tok::is_word) {
            floor = at + 1;
            continue;
        }
        let local = if let [single] = local_toks {
            word_text(v, single)
        } else {
            let mut joined = Vec::new();
            for t in local_toks {
                match t.kind {
                    Kind::Special(c) => joined.push(c),
                    _ => joined.extend_from_slice(&word_text(v, t)),
                }
            }
            Cow::Owned(joined)
        };
        let domain_span = toks.get(at + 1..at + 1 + domain_toks).unwrap_or_default();
        let domain = if let [single] = domain_span {
            Cow::Borrowed(v.get(single.start..single.end).unwrap_or_default())
        } else {
            let mut joined = Vec::new();
            for t in domain_span {
                joined.extend_from_slice(v.get(t.start..t.end).unwrap_or_default());
            }
            Cow::Owned(joined)
        };
        out.push(Mailbox {
            local_part: bytes_to_str(local),
            domain: bytes_to_str(domain),
            raw_name,
            raw_group,
        });
        floor = end;
    }
}

/// Parses an address list (the value of To, Cc, X-Envelope-To, …) into its mailboxes, in order.
/// Entries without a domain (`undisclosed-recipients:;`, `<>`, bare `alice`) yield nothing.
pub fn parse_address_list(value: &[u8]) -> Vec<Mailbox<'_>> {
    let toks = tokenize(value);
    let mut out = Vec::new();
    let mut group: Option<&[u8]> = None;
    let mut elem_start = 0;
    let mut i = 0;
    while let Some(tok) = toks.get(i) {
        match tok.kind {
            Kind::Special(b'<') => {
                let close = toks
                    .get(i + 1..)
                    .and_then(|rest| rest.iter().position(|t| t.kind == Kind::Special(b'>')))
                    .map_or(toks.len(), |p| i + 1 + p);
                let inner = toks.get(i + 1..close).unwrap_or_default();
                // Obsolete route `<@relay1,@relay2:user@x>`: keep what follows the last colon.
                let inner = match inner.iter().rposition(|t| t.kind == Kind::Special(b':')) {
                    Some(p) => inner.get(p + 1..).unwrap_or_default(),
                    None => inner,
                };
                let name = span(value, toks.get(elem_start..i).unwrap_or_default());
                extract(value, inner, name, group, &mut out);
                i = close + 1;
                elem_start = i;
                continue;
            }
            Kind::Special(sep @ (b',' | b';' | b':')) => {
                let elem = toks.get(elem_start..i).unwrap_or_default();
                let has_at = elem.iter().any(|t| t.kind == Kind::Special(b'@'));
                if sep == b':' && !has_at {
                    // A group starts: the phrase before the colon is its name.
                    group = span(value, elem);
                } else {
                    extract(value, elem, None, group, &mut out);
                    if sep == b';' {
                        group = None;
                    }
                }
                elem_start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    let elem = toks.get(elem_start..).unwrap_or_default();
    extract(value, elem, None, group, &mut out);
    out
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn specs(v: &str) -> Vec<String> {
        parse_address_list(v.as_bytes())
            .iter()
            .map(Mailbox::addr_spec)
            .collect()
    }

    #[test]
    fn bare_bracketed_and_listed_addresses() {
        assert_eq!(specs("alice@example.com"), ["alice@example.com"]);
        assert_eq!(specs(" <alice@example.com> "), ["alice@example.com"]);
        assert_eq!(
            specs("a@x.example, <b@y.example>,c@z.example"),
            ["a@x.example", "b@y.example", "c@z.example"]
        );
        assert_eq!(
            specs("a@x.example b@y.example; c@z.example"),
            ["a@x.example", "b@y.example", "c@z.example"]
        );
    }

    #[test]
    fn display_names_quoted_with_specials_do_not_leak_addresses() {
        let list = parse_address_list(
            br#""Doe, John <evil@bad.example>" <john@example.com>, Ann <ann@example.com>"#,
        );
        let got: Vec<_> = list.iter().map(Mailbox::addr_spec).collect();
        assert_eq!(got, ["john@example.com", "ann@example.com"]);
        assert_eq!(
            list[0].display_name().as_deref(),
            Some("Doe, John <evil@bad.example>")
        );
        assert_eq!(list[1].display_name().as_deref(), Some("Ann"));
    }

    #[test]
    fn encoded_word_display_names_are_decoded() {
        let list = parse_address_list(
            b"=?UTF-8?B?SsO8cmdlbiBNw7xsbGVy?= <juergen@example.com>, =?ISO-8859-1?Q?Andr=E9?= <andre@example.com>",
        );
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].display_name().as_deref(), Some("Jürgen Müller"));
        assert_eq!(list[1].display_name().as_deref(), Some("André"));
        assert_eq!(list[1].addr_spec(), "andre@example.com");
    }

    #[test]
    fn raw_8bit_display_name() {
        let list = parse_address_list(b"J\xc3\xbcrgen <j@example.com>, Andr\xe9 <a@example.com>");
        assert_eq!(
            list.iter().map(Mailbox::addr_spec).collect::<Vec<_>>(),
            ["j@example.com", "a@example.com"]
        );
    }

    #[test]
    fn groups() {
        assert!(specs("undisclosed-recipients:;").is_empty());
        let list = parse_address_list(b"team: a@x.example, Bee <b@y.example>; c@z.example");
        let got: Vec<_> = list.iter().map(|m| (m.addr_spec(), m.group())).collect();
        assert_eq!(
            got,
            [
                ("a@x.example".to_string(), Some("team".to_string())),
                ("b@y.example".to_string(), Some("team".to_string())),
                ("c@z.example".to_string(), None),
            ]
        );
    }

    #[test]
    fn comments_anywhere() {
        assert_eq!(
            specs("alice(the boss)@(x)example.com (Alice (nested) Smith), (c) <b@example.com>"),
            ["alice@example.com", "b@example.com"]
        );
        assert_eq!(specs("(unclosed <x@y.example>"), Vec::<String>::new());
    }

    #[test]
    fn quoted_local_parts() {
        let list =
            parse_address_list(br#""john doe"@example.com, "a\"b"@example.com, "x".y@example.com"#);
        let got: Vec<_> = list.iter().map(|m| m.local_part.to_string()).collect();
        assert_eq!(got, ["john doe", "a\"b", "x.y"]);
    }

    #[test]
    fn sloppy_input() {
        assert_eq!(specs("Alice alice@example.com"), ["alice@example.com"]);
        assert_eq!(
            specs("<@relay.example,@r2.example:alice@example.com>"),
            ["alice@example.com"]
        );
        assert_eq!(specs("alice@example.com."), ["alice@example.com"]);
        assert_eq!(specs("alice @ example . com"), ["alice@example.com"]);
        assert_eq!(specs("<alice@example.com"), ["alice@example.com"]);
        assert_eq!(specs("\"unclosed@example.com"), Vec::<String>::new());
        assert_eq!(specs("a@b@c.example"), ["a@b"]);
        assert_eq!(
            specs("<>, alice, @, @example.com, a@"),
            Vec::<String>::new()
        );
        assert_eq!(specs("mailto:alice@example.com"), ["alice@example.com"]);
        assert_eq!(specs("a@[192.0.2.1]"), ["a@[192.0.2.1]"]);
        assert_eq!(
            specs("\r\n\t<alice@example.com>\r\n"),
            ["alice@example.com"]
        );
    }

    #[test]
    fn domains_normalise_to_lowercase_ascii() {
        assert_eq!(
            normalize_domain("MyDomain.COM.").as_deref(),
            Some("mydomain.com")
        );
        assert_eq!(
            normalize_domain("bücher.example").as_deref(),
            Some("xn--bcher-kva.example")
        );
        assert_eq!(
            normalize_domain("BÜCHER.example").as_deref(),
            Some("xn--bcher-kva.example")
        );
        assert_eq!(
            normalize_domain("XN--BCHER-KVA.example").as_deref(),
            Some("xn--bcher-kva.example")
        );
        assert_eq!(normalize_domain("[192.0.2.1]"), None);
        assert_eq!(normalize_domain("a..b"), None);
        assert_eq!(normalize_domain("bad domain"), None);
        assert_eq!(normalize_domain(""), None);
    }

    #[test]
    fn local_parts_normalise() {
        assert_eq!(
            normalize_local("Alice+Tag", Some('+')).as_deref(),
            Some("alice")
        );
        assert_eq!(
            normalize_local("alice+tag", None).as_deref(),
            Some("alice+tag")
        );
        assert_eq!(normalize_local("+tag", Some('+')).as_deref(), Some("+tag"));
        assert_eq!(
            normalize_local("ÄRGER", Some('+')).as_deref(),
            Some("ärger")
        );
        assert_eq!(normalize_local("a\r\nb", None), None);
        assert_eq!(normalize_local("a\u{FFFD}", None), None);
        assert_eq!(normalize_local(&"x".repeat(65), None), None);
        assert_eq!(normalize_local("", None), None);
    }

    #[test]
    fn rcpt_form_quotes_only_when_needed() {
        let a = |l: &str| {
            NormalAddress {
                local: l.into(),
                domain: "example.com".into(),
            }
            .to_rcpt()
        };
        assert_eq!(a("alice.smith"), "alice.smith@example.com");
        assert_eq!(a("john doe"), "\"john doe\"@example.com");
        assert_eq!(a("a\"b"), "\"a\\\"b\"@example.com");
        assert_eq!(a(".alice"), "\".alice\"@example.com");
        assert_eq!(a("jürgen"), "jürgen@example.com");
    }

    #[test]
    fn configured_addresses() {
        let p = |t: &str| parse_configured_address(t, "MyDomain.com").map(|a| a.to_rcpt());
        assert_eq!(p("alice").as_deref(), Some("alice@mydomain.com"));
        assert_eq!(p(" Bob@MyDomain.DE ").as_deref(), Some("bob@mydomain.de"));
        assert_eq!(p("x+y@mydomain.de").as_deref(), Some("x+y@mydomain.de"));
        assert_eq!(
            p("\"john doe\"").as_deref(),
            Some("\"john doe\"@mydomain.com")
        );
        assert_eq!(p(""), None);
        assert_eq!(p("a@x.example, b@y.example"), None);
        assert_eq!(p("a\nb"), None);
    }
}
