//! Address lists: finds every mailbox in a header value (RFC 5322 address lists, tolerant of
//! what real mailers write), by a tokenizer and an extractor over its tokens. Borrowing, and
//! never panicking on any bytes.

use std::borrow::Cow;

use crate::routing::parse::skip_comment;

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
