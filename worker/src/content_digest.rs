//! The content digest of a message: what the copies of one message that an ISP stored once per
//! recipient have in common. Such copies share the Message-ID, the sender's headers and the
//! body; each carries its own trace and envelope headers (Received, Delivered-To, ...), added
//! per copy by the servers on the way. Multi-drop suppresses a message only when the
//! Message-ID and this digest both match (`dispatch`), so a different message that reuses a
//! Message-ID is delivered. Pure: no I/O, never panics.

use sha2::{Digest, Sha256};

use crate::routing::parse::split_headers;

/// Header fields (lower case) that differ between copies of one message: trace, envelope and
/// per-recipient filter headers, and the status headers a mail store adds.
pub const COPY_HEADERS: &[&str] = &[
    "received",
    "x-received",
    "return-path",
    "delivered-to",
    "x-delivered-to",
    "x-original-to",
    "envelope-to",
    "x-envelope-to",
    "x-envelope-from",
    "x-rcpt-to",
    "x-apparently-to",
    "received-spf",
    "authentication-results",
    "x-virus-scanned",
    "x-virus-status",
    "status",
    "x-status",
    "x-uid",
    "x-keywords",
    "content-length",
    "lines",
];

/// Prefixes (lower case) of header fields that differ between copies (ARC seals added per
/// copy by the receiving ISP; per-recipient spam scores).
pub const COPY_HEADER_PREFIXES: &[&str] = &["arc-", "x-spam"];

fn is_copy_header(name: &[u8]) -> bool {
    let name = name.to_ascii_lowercase();
    COPY_HEADERS.iter().any(|h| name == h.as_bytes())
        || COPY_HEADER_PREFIXES
            .iter()
            .any(|p| name.starts_with(p.as_bytes()))
}

/// SHA-256 (hex) of `raw` without the headers of [`COPY_HEADERS`]: the other fields in order,
/// names in lower case, values unfolded with runs of blanks as one space; then the body with
/// CRLF as LF.
pub fn content_digest(raw: &[u8]) -> String {
    let section = split_headers(raw);
    let mut hasher = Sha256::new();
    for field in section.fields.iter().filter(|f| !is_copy_header(f.name)) {
        hasher.update(field.name.to_ascii_lowercase());
        hasher.update(b":");
        let mut blank = false;
        let mut out = Vec::with_capacity(field.value.len());
        for &b in field.value.trim_ascii() {
            if b.is_ascii_whitespace() {
                blank = true;
            } else {
                if blank {
                    out.push(b' ');
                }
                blank = false;
                out.push(b);
            }
        }
        hasher.update(&out);
        hasher.update(b"\n");
    }
    hasher.update(b"\n");
    let body = raw.get(section.body_start..).unwrap_or_default();
    let mut rest = body;
    while let Some(i) = rest.windows(2).position(|w| w == b"\r\n") {
        hasher.update(rest.get(..i).unwrap_or_default());
        hasher.update(b"\n");
        rest = rest.get(i + 2..).unwrap_or_default();
    }
    hasher.update(rest);
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = "From: a@shop.example\r\nTo: x@local.test\r\nSubject: Order\r\nMessage-ID: <m@shop>\r\n\r\nShipped.\r\n";

    #[test]
    fn copies_with_their_own_trace_headers_have_one_digest() {
        let first = format!(
            "Received: by mx1 id A;\r\n\tMon\r\nDelivered-To: a@isp\r\nARC-Seal: i=1; t=1\r\n{BODY}"
        );
        let second = format!(
            "Return-Path: <s@x>\r\nReceived: by mx2 id B\r\nX-Original-To: b@isp\r\nX-Spam-Score: 3\r\n{BODY}"
        );
        assert_eq!(
            content_digest(first.as_bytes()),
            content_digest(second.as_bytes())
        );
        assert_eq!(
            content_digest(first.as_bytes()),
            content_digest(BODY.as_bytes())
        );
        // Line ends and folding do not matter.
        let lf = BODY
            .replace("\r\n", "\n")
            .replace("Subject: Order", "Subject:\n  Order");
        assert_eq!(
            content_digest(lf.as_bytes()),
            content_digest(BODY.as_bytes())
        );
    }

    #[test]
    fn another_body_or_header_is_another_message() {
        let base = content_digest(BODY.as_bytes());
        let body = BODY.replace("Shipped.", "Delivered.");
        assert_ne!(content_digest(body.as_bytes()), base);
        let subject = BODY.replace("Subject: Order", "Subject: Order 2");
        assert_ne!(content_digest(subject.as_bytes()), base);
        let dkim = format!("DKIM-Signature: v=1; b=abc\r\n{BODY}");
        assert_ne!(content_digest(dkim.as_bytes()), base);
        // Body text moved into the headers is not the same message.
        assert_ne!(
            content_digest(b"A: b\r\n\r\nc"),
            content_digest(b"A: b\r\nc:\r\n\r\n")
        );
    }

    #[test]
    fn any_bytes_give_a_digest() {
        for raw in [&b""[..], b"\r\n", b"\xff\x00:\r\n\r", b"no header"] {
            assert_eq!(content_digest(raw).len(), 64);
        }
    }
}
