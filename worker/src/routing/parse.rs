//! Splits a raw message into header fields, reads one field's unfolded value
//! ([`header_value`], also used by delivery for Return-Path and Message-ID) and reads
//! `Received` headers (the `for <addr>` clauses and the loop marker), tolerating any bytes.
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
    /// Where the body starts: after the empty line, or the end of the message without one.
    pub body_start: usize,
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
    section.body_start = message.len();
    for (start, line, next) in lines {
        let is_first = std::mem::take(&mut first);
        if line.is_empty() {
            section.has_separator = true;
            section.body_start = next;
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

/// A raw field value unfolded: each of its lines trimmed, continuation lines joined with one
/// space, invalid UTF-8 replaced.
pub fn unfold(value: &[u8]) -> String {
    let mut out = Vec::with_capacity(value.len());
    let lines = Lines {
        data: value,
        pos: 0,
    };
    for (i, (_, line, _)) in lines.enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(line.trim_ascii());
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The first field called `name` (case-insensitive) in the header section of `message`,
/// [unfolded](unfold); `None` when there is none.
pub fn header_value(message: &[u8], name: &str) -> Option<String> {
    split_headers(message)
        .fields
        .iter()
        .find(|field| field.is(name))
        .map(|field| unfold(field.value))
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
        assert_eq!(msg.get(s.body_start..), Some(b"To: body@x\r\n".as_slice()));
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

    #[test]
    fn header_value_with_crlf_lf_and_mixed_line_ends() {
        for msg in [
            &b"Subject: a\r\n b\r\nTo: x@y.z\r\n\r\nSubject: body\r\n"[..],
            b"Subject: a\n b\nTo: x@y.z\n\nSubject: body\n",
            b"Subject: a\r\n b\nTo: x@y.z\n\r\nSubject: body\r\n",
            b"Subject: a\r b\rTo: x@y.z\r\rSubject: body\r",
            b"Subject: a\r\r\n b\r\nTo: x@y.z\r\n\r\nSubject: body",
        ] {
            assert_eq!(
                header_value(msg, "subject").as_deref(),
                Some("a b"),
                "{msg:?}"
            );
            assert_eq!(header_value(msg, "TO").as_deref(), Some("x@y.z"), "{msg:?}");
            assert_eq!(header_value(msg, "Cc"), None, "{msg:?}");
        }
    }

    #[test]
    fn header_value_unfolds_every_continuation() {
        let msg = b"Message-ID:\r\n  <a@b>\r\nX-Long: one\r\n\ttwo  \r\n three\r\n\r\n";
        assert_eq!(header_value(msg, "message-id").as_deref(), Some(" <a@b>"));
        assert_eq!(
            header_value(msg, "x-long").as_deref(),
            Some("one two three")
        );
        // The first field of that name counts.
        let msg = b"To: first@x\nTo: second@x\n\n";
        assert_eq!(header_value(msg, "to").as_deref(), Some("first@x"));
        // Obsolete blanks before the colon are accepted.
        assert_eq!(header_value(b"To : a@x\n", "to").as_deref(), Some("a@x"));
    }

    #[test]
    fn header_value_without_a_body_or_without_headers() {
        assert_eq!(header_value(b"To: a@x", "to").as_deref(), Some("a@x"));
        assert_eq!(header_value(b"To: a@x\r\n", "to").as_deref(), Some("a@x"));
        assert_eq!(
            header_value(b"To: a@x\r\n b@y", "to").as_deref(),
            Some("a@x b@y")
        );
        assert_eq!(header_value(b"To:", "to").as_deref(), Some(""));
        assert_eq!(header_value(b"", "to"), None);
        assert_eq!(header_value(b"\r\nTo: a@x\r\n", "to"), None);
        assert_eq!(header_value(b"\xff\xfe: \x00\r\n", "To"), None);
        assert_eq!(
            header_value(b"Subject: caf\xc3\xa9 \xff\r\n\r\n", "subject").as_deref(),
            Some("caf\u{e9} \u{fffd}")
        );
    }

    /// The header reader `deliver` had before it used this module (LF-split lines, an
    /// optional CR before the LF, the name right before the colon): the oracle for messages
    /// it read right.
    fn old_header_value(message: &[u8], name: &str) -> Option<String> {
        let mut start = 0;
        let mut headers = message;
        while start < message.len() {
            let end = message[start..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(message.len(), |i| start + i + 1);
            let line = &message[start..end];
            if line == b"\r\n" || line == b"\n" {
                headers = &message[..start];
                break;
            }
            start = end;
        }
        let mut value: Option<Vec<u8>> = None;
        for line in headers.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if let Some(current) = value.as_mut() {
                if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
                    current.push(b' ');
                    current.extend_from_slice(line.trim_ascii());
                    continue;
                }
                break;
            }
            if line.len() > name.len()
                && line[name.len()] == b':'
                && line[..name.len()].eq_ignore_ascii_case(name.as_bytes())
            {
                value = Some(line[name.len() + 1..].trim_ascii().to_vec());
            }
        }
        value.map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
    }

    proptest::proptest! {
        /// Messages with CRLF, LF or mixed line ends, folded fields, with or without a body:
        /// the same values as the old reader.
        #[test]
        fn header_value_agrees_with_the_old_reader_on_well_formed_messages(
            fields in proptest::collection::vec(
                (
                    proptest::sample::select(vec!["To", "return-path", "Message-ID", "Subject"]),
                    proptest::collection::vec("[ -~]{0,12}", 1..4),
                ),
                0..6,
            ),
            crlf in proptest::collection::vec(proptest::bool::ANY, 32),
            body in proptest::option::of("[ -~]{0,20}"),
        ) {
            let mut msg = Vec::new();
            let mut ends = crlf.iter().cycle();
            let mut eol = |msg: &mut Vec<u8>| {
                let crlf = ends.next().copied().unwrap_or(true);
                msg.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
            };
            for (name, lines) in &fields {
                msg.extend_from_slice(name.as_bytes());
                msg.push(b':');
                for (i, line) in lines.iter().enumerate() {
                    if i > 0 {
                        eol(&mut msg);
                        msg.push(if i % 2 == 0 { b'\t' } else { b' ' });
                    }
                    msg.extend_from_slice(line.as_bytes());
                }
                eol(&mut msg);
            }
            if let Some(body) = &body {
                eol(&mut msg);
                msg.extend_from_slice(body.as_bytes());
            }
            for name in ["to", "Return-Path", "message-id", "subject", "cc"] {
                proptest::prop_assert_eq!(
                    header_value(&msg, name),
                    old_header_value(&msg, name),
                    "{} in {:?}", name, String::from_utf8_lossy(&msg)
                );
            }
        }
    }
}
