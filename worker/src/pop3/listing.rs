//! Scan listings: the `STAT` answer and the `UIDL`/`LIST` bodies (RFC 1939), parsed strictly
//! from bytes. Pure: no I/O, never panics; a malformed line, a message number listed twice or a
//! unique id used twice is a [`Pop3Error::Protocol`] naming the line.

use std::collections::{HashMap, HashSet};

use super::error::Pop3Error;
use super::reply::{body_lines, show_bytes};

/// Longest UIDL value RFC 1939 allows.
pub const MAX_UIDL_LEN: usize = 70;

fn parse_u32(bytes: &[u8]) -> Option<u32> {
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

fn parse_u64(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

fn malformed(during: &str, what: &str, line: &[u8]) -> Pop3Error {
    Pop3Error::Protocol {
        during: during.to_owned(),
        detail: format!("malformed {what} line {}", show_bytes(line)),
    }
}

/// Splits `<number> SP <rest>` and checks the number (1.., no duplicates).
fn split_numbered<'a>(
    line: &'a [u8],
    seen: &mut HashSet<u32>,
    during: &str,
    what: &str,
) -> Result<(u32, &'a [u8]), Pop3Error> {
    let space = line
        .iter()
        .position(|&b| b == b' ')
        .ok_or_else(|| malformed(during, what, line))?;
    let msg = parse_u32(&line[..space])
        .filter(|&n| n > 0)
        .ok_or_else(|| malformed(during, what, line))?;
    if !seen.insert(msg) {
        return Err(Pop3Error::Protocol {
            during: during.to_owned(),
            detail: format!("message number {msg} listed twice, in {}", show_bytes(line)),
        });
    }
    Ok((msg, &line[space + 1..]))
}

/// Parses the text of `STAT`'s `+OK` (after the status): (message count, mailbox size in
/// bytes); anything after the two numbers is ignored.
pub fn parse_stat(text: &str) -> Result<(u32, u64), Pop3Error> {
    let mut words = text.split_whitespace();
    let parsed = (|| {
        let count = parse_u32(words.next()?.as_bytes())?;
        let size = parse_u64(words.next()?.as_bytes())?;
        Some((count, size))
    })();
    parsed.ok_or_else(|| Pop3Error::Protocol {
        during: "STAT".to_owned(),
        detail: format!(
            "expected \"+OK count size\", got +OK {}",
            show_bytes(text.as_bytes())
        ),
    })
}

/// Parses a UIDL listing: `<msg> SP <uid>`, uid 1..=70 chars in 0x21..=0x7E, all distinct.
pub fn parse_uidl_body(body: &[u8]) -> Result<Vec<(u32, String)>, Pop3Error> {
    let mut seen_msgs = HashSet::new();
    let mut seen_uids = HashMap::new();
    let mut out = Vec::new();
    for line in body_lines(body) {
        let (msg, uid) = split_numbered(line, &mut seen_msgs, "UIDL", "UIDL")?;
        let valid = (1..=MAX_UIDL_LEN).contains(&uid.len())
            && uid.iter().all(|b| (0x21..=0x7e).contains(b));
        if !valid {
            return Err(malformed("UIDL", "UIDL", line));
        }
        // Only printable ASCII is left, so this conversion cannot fail.
        let uid = String::from_utf8_lossy(uid).into_owned();
        if let Some(first) = seen_uids.insert(uid.clone(), msg) {
            return Err(Pop3Error::Protocol {
                during: "UIDL".to_owned(),
                detail: format!(
                    "duplicate unique id {} for messages {first} and {msg}",
                    show_bytes(uid.as_bytes())
                ),
            });
        }
        out.push((msg, uid));
    }
    Ok(out)
}

/// Parses a LIST scan listing: `<msg> SP <size>`, optionally followed by a space and
/// anything (RFC 1939 allows extra information after the size).
pub fn parse_list_body(body: &[u8]) -> Result<Vec<(u32, u64)>, Pop3Error> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for line in body_lines(body) {
        let (msg, rest) = split_numbered(line, &mut seen, "LIST", "LIST")?;
        let size_end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
        let size = parse_u64(&rest[..size_end]).ok_or_else(|| malformed("LIST", "LIST", line))?;
        out.push((msg, size));
    }
    Ok(out)
}

#[cfg(test)]
#[path = "listing_tests.rs"]
mod tests;
