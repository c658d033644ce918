//! Splits a raw message into header fields and reads `Received` headers (the `for <addr>`
//! clauses and the loop marker), tolerating any bytes.
//!
//! Sans-IO and allocation-light: fields borrow from the message. Nothing here panics, whatever
//! the input: lines without a colon are counted and skipped, missing header/body separators mean
//! the whole input is headers, CR, LF and CRLF line ends are all accepted, 8-bit bytes and NULs
//! are kept as they are.

/// One header field: its name and its raw value (continuation lines included, line ends kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderField<'a> {
    pub name: &'a [u8],
    pub value: &'a [u8],
}

impl HeaderField<'_> {
    /// Case-insensitive comparison of the field name.
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name.as_bytes())
    }
}

/// The header section of a message, as far as it could be read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderSection<'a> {
    /// Fields in the order they appear (topmost first).
    pub fields: Vec<HeaderField<'a>>,
    /// Lines in the header section that are neither a field nor a continuation.
    pub malformed_lines: usize,
    /// Whether an empty line separates headers from the body.
    pub has_separator: bool,
}

/// Iterates over lines, yielding each line without its line end. Accepts CRLF, LF and a lone CR.
struct Lines<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Lines<'a> {
    /// (line start, line without terminator, position after the terminator)
    type Item = (usize, &'a [u8], usize);

    fn next(&mut self) -> Option<Self::Item> {
        let data = self.data;
        let start = self.pos;
        if start >= data.len() {
            return None;
        }
        let rest = data.get(start..)?;
        let (len, term) = match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            Some(i) => {
                // CRLF, LF, a lone CR, and the broken but common CRCRLF are one line end each.
                let crs = rest
                    .get(i..)
                    .map_or(0, |r| r.iter().take_while(|&&b| b == b'\r').count());
                let term = if rest.get(i + crs) == Some(&b'\n') {
                    crs + 1
                } else {
                    1
                };
                (i, term)
            }
            None => (rest.len(), 0),
        };
        self.pos = start + len + term;
        Some((start, rest.get(..len)?, self.pos))
    }
}

/// Length of the field name if `line` starts a header field (`Name:` with printable ASCII name
/// characters, optionally followed by blanks before the colon as in obsolete syntax).
fn field_name_len(line: &[u8]) -> Option<(usize, usize)> {
    let name_len = line
        .iter()
        .position(|&b| !(33..=126).contains(&b) || b == b':')?;
    if name_len == 0 {
        return None;
    }
    let mut colon = name_len;
    while matches!(line.get(colon), Some(b' ' | b'\t')) {
        colon += 1;
    }
    (line.get(colon) == Some(&b':')).then_some((name_len, colon + 1))
}

/// Splits the header section of `message` into fields.
pub fn split_headers(message: &[u8]) -> HeaderSection<'_> {
    let mut section = HeaderSection::default();
    // (name, value start, value end) of the field being read
    let mut current: Option<(&[u8], usize, usize)> = None;
    let mut first = true;
    let lines = Lines {
        data: message,
        pos: 0,
    };
    for (start, line, _next) in lines {
        let is_first = std::mem::take(&mut first);
        if line.is_empty() {
            section.has_separator = true;
            break;
        }
        if matches!(line.first(), Some(b' ' | b'\t')) {
            // A continuation line: extends the current field (or is junk before any field).
            match current.as_mut() {
                Some((_, _, end)) => *end = start + line.len(),
                None => section.malformed_lines += 1,
            }
            continue;
        }
        if let Some((name, value_start, value_end)) = current.take()
            && let Some(value) = message.get(value_start..value_end)
        {
            section.fields.push(HeaderField { name, value });
        }
        if is_first && (line.starts_with(b"From ") || line.starts_with(b">From ")) {
            // An mbox separator line, not a header.
            continue;
        }
        match field_name_len(line) {
            Some((name_len, value_offset)) => {
                let name = line.get(..name_len).unwrap_or_default();
                current = Some((name, start + value_offset, start + line.len()));
            }
            None => section.malformed_lines += 1,
        }
    }
    if let Some((name, value_start, value_end)) = current
        && let Some(value) = message.get(value_start..value_end)
    {
        section.fields.push(HeaderField { name, value });
    }
    section
}

/// Skips a comment starting at `data[i] == b'('`, nested comments and quoted pairs included.
/// Returns the index after the closing parenthesis (or `data.len()` if unclosed).
pub(crate) fn skip_comment(data: &[u8], mut i: usize) -> usize {
    let mut depth = 0usize;
    while let Some(&b) = data.get(i) {
        match b {
            b'\\' => i += 1,
            b'(' => depth += 1,
            b')' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    data.len()
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')
}

/// The spans of the `for` clauses in a Received header value: for each `for` keyword outside
/// comments, the text up to the next `;` (or the end), e.g. `<alice@example.com>`.
pub fn received_for_clauses(value: &[u8]) -> Vec<&[u8]> {
    let mut clauses = Vec::new();
    let mut i = 0;
    while let Some(&b) = value.get(i) {
        match b {
            b'(' => {
                i = skip_comment(value, i);
                continue;
            }
            b'<' => {
                // Skip bracketed addresses (`envelope-from <for@x>` must not start a clause).
                i = value
                    .get(i..)
                    .and_then(|rest| rest.iter().position(|&c| c == b'>'))
                    .map_or(value.len(), |p| i + p + 1);
                continue;
            }
            b'f' | b'F' => {
                let before_ok = i == 0 || value.get(i - 1).is_some_and(|&p| !is_word_byte(p));
                let word = value.get(i..i + 3);
                let after = value.get(i + 3).copied();
                if before_ok
                    && word.is_some_and(|w| w.eq_ignore_ascii_case(b"for"))
                    && matches!(after, Some(b' ' | b'\t' | b'\r' | b'\n' | b'<'))
                {
                    let start = i + 3;
                    let end = clause_end(value, start);
                    if let Some(clause) = value.get(start..end) {
                        clauses.push(clause);
                    }
                    i = end;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    clauses
}

/// End of a `for` clause starting at `start`: the addresses, and `,`-separated further ones,
/// stop at `;`, at a comment, or at the next word after the address list.
fn clause_end(value: &[u8], start: usize) -> usize {
    let mut i = start;
    let mut in_angle = false;
    let mut seen_address = false;
    while let Some(&b) = value.get(i) {
        match b {
            b'<' => in_angle = true,
            b'>' => {
                in_angle = false;
                seen_address = true;
            }
            b'"' if !in_angle => {
                // A quoted local part: skip to its end.
                i += 1;
                while let Some(&c) = value.get(i) {
                    match c {
                        b'\\' => i += 1,
                        b'"' => break,
                        _ => {}
                    }
                    i += 1;
                }
            }
            b';' | b'(' if !in_angle => return i,
            b' ' | b'\t' | b'\r' | b'\n' if !in_angle && seen_address => {
                // After an address, whitespace ends the clause unless a `,` continues the list.
                let mut j = i;
                while matches!(value.get(j), Some(b' ' | b'\t' | b'\r' | b'\n')) {
                    j += 1;
                }
                if value.get(j) != Some(&b',') {
                    return i;
                }
                i = j;
                continue;
            }
            b' ' | b'\t' | b'\r' | b'\n' => {}
            b',' if !in_angle => seen_address = false,
            _ if !in_angle => seen_address = true,
            _ => {}
        }
        i += 1;
    }
    value.len()
}

/// Whether `value` contains `marker` as a whole token (the byte after it is not part of an id,
/// so `mailpull-id=a` does not match `mailpull-id=ab`).
pub fn contains_marker(value: &[u8], marker: &[u8]) -> bool {
    let Some(&first) = marker.first() else {
        return false;
    };
    let mut from = 0;
    while let Some(window) = value.get(from..) {
        // Jump between occurrences of the first byte; compare the rest only there.
        let Some(pos) = window.iter().position(|&b| b == first) else {
            return false;
        };
        let at = from + pos;
        if !value.get(at..).is_some_and(|rest| rest.starts_with(marker)) {
            from = at + 1;
            continue;
        }
        let before_ok = at == 0 || value.get(at - 1).is_some_and(|&b| !is_word_byte(b));
        let after_ok = value
            .get(at + marker.len())
            .is_none_or(|&b| !is_word_byte(b));
        if before_ok && after_ok {
            return true;
        }
        from = at + 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names<'a>(s: &HeaderSection<'a>) -> Vec<&'a [u8]> {
        s.fields.iter().map(|f| f.name).collect()
    }

    #[test]
    fn splits_fields_with_folding_and_stops_at_the_blank_line() {
        let msg = b"To: a@x,\r\n b@y\r\nSubject : hi\r\n\r\nTo: body@x\r\n";
        let s = split_headers(msg);
        assert_eq!(names(&s), [b"To".as_slice(), b"Subject"]);
        assert_eq!(s.fields[0].value, b" a@x,\r\n b@y");
        assert_eq!(s.fields[1].value, b" hi");
        assert!(s.has_separator);
        assert_eq!(s.malformed_lines, 0);
    }

    #[test]
    fn accepts_lf_and_cr_line_ends_and_mbox_from_line() {
        let s = split_headers(b"From alice Mon Jan 1 00:00:00 2024\nTo: a@x\rCc: b@y\n\nbody");
        assert_eq!(names(&s), [b"To".as_slice(), b"Cc"]);
        assert_eq!(s.fields[0].value, b" a@x");
        assert!(s.has_separator);
    }

    #[test]
    fn counts_malformed_lines_and_keeps_going() {
        let s = split_headers(b" leading continuation\nno colon here\nTo: a@x\nX-\xff\x00: v\n");
        assert_eq!(names(&s), [b"To".as_slice()]);
        assert_eq!(s.malformed_lines, 3);
        assert!(!s.has_separator);
    }

    #[test]
    fn crcrlf_is_one_line_end() {
        let s = split_headers(b"To: a@x\r\r\nCc: b@y\r\n\r\nbody");
        assert_eq!(names(&s), [b"To".as_slice(), b"Cc"]);
    }

    #[test]
    fn empty_and_separator_only_inputs() {
        let s = split_headers(b"");
        assert!(s.fields.is_empty() && !s.has_separator);
        let s = split_headers(b"\r\nTo: a@x\r\n");
        assert!(s.fields.is_empty() && s.has_separator);
    }

    #[test]
    fn finds_for_clauses_outside_comments() {
        let v = b" from mail.example (mail.example [192.0.2.1]) (envelope-from <for@x.example>)\r\n\tby mx.isp (Postfix) with ESMTPS id 4A for <alice@mydomain.com>; Tue, 1 Jan 2024";
        assert_eq!(
            received_for_clauses(v),
            [b" <alice@mydomain.com>".as_slice()]
        );
        let exim =
            b" from [192.0.2.1] by mx with esmtps (Exim 4.96)\n id 1r for bob@mydomain.com; Tue";
        assert_eq!(
            received_for_clauses(exim),
            [b" bob@mydomain.com".as_slice()]
        );
        let list = b" by h for <a@x>, <b@x> (single-drop); date";
        assert_eq!(received_for_clauses(list), [b" <a@x>, <b@x>".as_slice()]);
        let comment = b" by h (for <a@x>) with SMTP; date";
        assert!(received_for_clauses(comment).is_empty());
        let host = b" from for.example by formail.example with SMTP; date";
        assert!(received_for_clauses(host).is_empty());
    }

    #[test]
    fn marker_must_be_a_whole_token() {
        let v = b" from pop by host (mailpull-id=inst-1) with POP3";
        assert!(contains_marker(v, b"mailpull-id=inst-1"));
        assert!(!contains_marker(v, b"mailpull-id=inst-"));
        assert!(!contains_marker(v, b"mailpull-id=inst-12"));
        assert!(!contains_marker(
            b"xmailpull-id=inst-1",
            b"mailpull-id=inst-1"
        ));
        assert!(!contains_marker(v, b""));
    }
}
