//! Test messages: realistic RFC 5322 samples with unique Message-IDs, and helpers to compare
//! what was submitted with what a mailbox received.

use std::fmt::Write as _;

/// A realistic message, CRLF line endings, about `size` bytes (never less than its ~1.5 KB
/// of fixed content). It has `Message-ID: <mailpull-test-{i}@example.test>`, a
/// `Return-Path`, a `Received` trace header, UTF-8 8-bit text, a 998-character line (the RFC
/// 5322 maximum), and lines that start with "." — including one that is just "." — to
/// exercise SMTP dot-stuffing. Same arguments, same bytes.
pub fn sample_message(i: usize, size: usize, to: &str) -> Vec<u8> {
    let mut m = String::with_capacity(size + 2048);
    let date = "Sat, 22 Nov 2025 10:00:00 +0000";
    let _ = write!(
        m,
        "Return-Path: <sender-{i}@example.test>\r\n\
         Received: from mx.example.test (mx.example.test [192.0.2.1])\r\n\
         \tby pop.example.test with ESMTPS id mp{i:08};\r\n\
         \t{date}\r\n\
         From: \"Sender {i}\" <sender-{i}@example.test>\r\n\
         To: <{to}>\r\n\
         Subject: Mailpull test message {i}\r\n\
         Date: {date}\r\n\
         Message-ID: <mailpull-test-{i}@example.test>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         \r\n\
         Hello, this is test message number {i}.\r\n\
         Grüße aus Köln: naïve café, smörgåsbord, 東京, ✓.\r\n\
         .a line that starts with a dot\r\n\
         ..two dots at the start\r\n\
         .\r\n\
         The line above is a single dot; it must not end the message.\r\n"
    );
    // One line of exactly 998 characters.
    let mut long = format!("long-line-{i}:");
    while long.len() < 998 {
        long.push(char::from(b'a' + (long.len() % 26) as u8));
    }
    m.push_str(&long);
    m.push_str("\r\n");
    let mut n = 0usize;
    while m.len() + 4 < size {
        let _ = write!(
            m,
            "{n:06} The quick brown fox jumps over the lazy dog; message {i} keeps going.\r\n"
        );
        n += 1;
        if n.is_multiple_of(40) {
            m.push_str(".dot-led padding line\r\n");
        }
    }
    m.push_str("-- \r\nMailpull tests\r\n");
    m.into_bytes()
}

/// The header section of `raw` (up to the first empty line), unfolded into (name, value).
pub fn headers(raw: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(raw);
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                if !last.1.is_empty() {
                    last.1.push(' ');
                }
                last.1.push_str(line.trim());
            }
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            out.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    out
}

/// The Message-ID of each message (as written, e.g. `<mailpull-test-3@example.test>`), in
/// order; an empty string for a message without one. Handy for counting duplicates.
pub fn message_ids(messages: &[Vec<u8>]) -> Vec<String> {
    messages
        .iter()
        .map(|m| {
            headers(m)
                .into_iter()
                .find(|(name, _)| name.eq_ignore_ascii_case("Message-ID"))
                .map(|(_, value)| value)
                .unwrap_or_default()
        })
        .collect()
}

/// Message-IDs that occur more than once in `messages`, each listed once, sorted.
pub fn duplicate_ids(messages: &[Vec<u8>]) -> Vec<String> {
    let mut ids = message_ids(messages);
    ids.sort();
    let mut dups: Vec<String> = ids
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0].clone())
        .collect();
    dups.dedup();
    dups
}

/// `raw` with CRLF line endings turned into LF.
pub fn crlf_to_lf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut iter = raw.iter().peekable();
    while let Some(&b) = iter.next() {
        if b == b'\r' && iter.peek() == Some(&&b'\n') {
            continue;
        }
        out.push(b);
    }
    out
}

/// What the local server stores for a submitted message, minus the trace headers it prepends:
/// LF line endings and no `Return-Path` header (see [`crate::postfix`]).
pub fn as_delivered(submitted: &[u8]) -> Vec<u8> {
    let lf = crlf_to_lf(submitted);
    let mut out = Vec::with_capacity(lf.len());
    let mut in_headers = true;
    let mut dropping = false;
    for line in lf.split_inclusive(|&b| b == b'\n') {
        if in_headers {
            if line == b"\n" {
                in_headers = false;
            } else if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
                if dropping {
                    continue;
                }
            } else {
                dropping = line.len() >= 12 && line[..12].eq_ignore_ascii_case(b"return-path:");
                if dropping {
                    continue;
                }
            }
        }
        out.extend_from_slice(line);
    }
    out
}

/// If `delivered` is `submitted` (as [`as_delivered`] predicts) with header lines prepended,
/// returns those prepended header lines; otherwise `None`.
pub fn added_headers(submitted: &[u8], delivered: &[u8]) -> Option<String> {
    let expected = as_delivered(submitted);
    let prefix = delivered.strip_suffix(expected.as_slice())?;
    Some(String::from_utf8_lossy(prefix).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_message_has_requested_shape() {
        let m = sample_message(7, 20_000, "alice@local.test");
        assert!(m.len() >= 20_000 && m.len() < 20_200, "len {}", m.len());
        assert_eq!(
            message_ids(std::slice::from_ref(&m)),
            vec!["<mailpull-test-7@example.test>"]
        );
        let text = String::from_utf8(m.clone()).expect("sample is UTF-8");
        assert!(text.contains("\r\n.\r\n"), "has a lone dot line");
        assert!(text.lines().any(|l| l.len() == 998));
        assert!(text.lines().all(|l| l.len() <= 998));
        assert!(m.iter().any(|&b| b >= 0x80), "has 8-bit bytes");
        assert!(
            !text.replace("\r\n", "").contains('\n'),
            "only CRLF line ends"
        );
        assert_eq!(
            sample_message(7, 20_000, "alice@local.test"),
            m,
            "deterministic"
        );
        assert!(sample_message(1, 0, "x@y").len() > 1000);
    }

    #[test]
    fn message_ids_unfold_and_report_missing() {
        let a = b"Subject: x\r\nMessage-Id:\r\n <a@b>\r\n\r\nbody".to_vec();
        let b = b"Subject: y\r\n\r\nMessage-ID: <not-a-header@b>\r\n".to_vec();
        assert_eq!(
            message_ids(&[a.clone(), b]),
            vec!["<a@b>".to_owned(), String::new()]
        );
        assert_eq!(
            duplicate_ids(&[a.clone(), a.clone(), a]),
            vec!["<a@b>".to_owned()]
        );
    }

    #[test]
    fn as_delivered_drops_return_path_and_crlf() {
        let sub = b"Return-Path: <x@y>\r\n\tfolded\r\nFrom: a\r\n\r\nReturn-Path: body\r\n";
        assert_eq!(
            as_delivered(sub),
            b"From: a\n\nReturn-Path: body\n".to_vec()
        );
        let delivered = b"Received: by z\nFrom: a\n\nReturn-Path: body\n";
        assert_eq!(
            added_headers(sub, delivered),
            Some("Received: by z\n".to_owned())
        );
        assert_eq!(added_headers(sub, b"From: b\n"), None);
    }
}
