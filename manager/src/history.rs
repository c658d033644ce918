//! The History page and the routing preview for a person, apart from drawing (`view::history`,
//! `view::route`): totals in words, days as dates, this computer's offset from UTC, and the
//! text of a message to preview (its header section, bounded) from a file, a drop or a paste.

use chrono::{DateTime, Local, NaiveDate, TimeDelta};
use mailpull_shared::ipc::history::Tally;
use mailpull_shared::ipc::route::MAX_PREVIEW;

/// Largest file the routing preview opens (it reads only the header section of it).
pub const MAX_FILE: u64 = 64 * 1024 * 1024;

/// This computer's offset from UTC now, in seconds (what the worker counts days by).
pub fn utc_offset() -> i32 {
    Local::now().offset().local_minus_utc()
}

/// "12 messages, 1.4 MB" / "1 message, 300 bytes" / "none".
pub fn tally(tally: Tally) -> String {
    match tally.messages {
        0 => "none".into(),
        1 => format!("1 message, {}", crate::log::size(&tally.bytes.to_string())),
        n => format!(
            "{n} messages, {}",
            crate::log::size(&tally.bytes.to_string())
        ),
    }
}

/// A day (days since 1970-01-01) as "4 Dec".
pub fn day_label(day: i64) -> String {
    NaiveDate::from_ymd_opt(1970, 1, 1)
        .and_then(|epoch| epoch.checked_add_signed(TimeDelta::try_days(day)?))
        .map_or_else(String::new, |date| date.format("%-d %b").to_string())
}

/// `4 Dec 09:12` in this computer's time zone, with the year when it is not this year's.
pub fn when(secs: i64) -> String {
    let Some(utc) = DateTime::from_timestamp(secs, 0) else {
        return "unknown".into();
    };
    let local = utc.with_timezone(&Local);
    if local.format("%Y").to_string() == Local::now().format("%Y").to_string() {
        local.format("%-d %b %H:%M").to_string()
    } else {
        local.format("%-d %b %Y %H:%M").to_string()
    }
}

/// The part of a message the routing preview sends: its header section (up to the first
/// blank line; all of it when there is none), as text. An error in words when it is larger
/// than the worker takes.
pub fn header_section(message: &[u8]) -> Result<String, String> {
    let end = find(message, b"\r\n\r\n")
        .map(|at| at + 4)
        .or_else(|| find(message, b"\n\n").map(|at| at + 2))
        .unwrap_or(message.len());
    let head = message.get(..end).unwrap_or(message);
    if head.len() > MAX_PREVIEW {
        return Err(format!(
            "the message's headers are {} KB; the preview reads at most {} KB of them",
            head.len().div_ceil(1024),
            MAX_PREVIEW / 1024
        ));
    }
    Ok(String::from_utf8_lossy(head).into_owned())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Reads the message file at `path` for the routing preview: its header section, at most
/// [`MAX_FILE`] bytes read.
pub fn read_message(path: &std::path::Path) -> Result<String, String> {
    use std::io::Read;
    let file = std::fs::File::open(path)
        .map_err(|err| format!("cannot open {}: {err}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE)
        .read_to_end(&mut bytes)
        .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    header_section(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_days_and_times_read_as_words() {
        assert_eq!(tally(Tally::default()), "none");
        assert_eq!(
            tally(Tally {
                messages: 1,
                bytes: 300
            }),
            "1 message, 300 bytes"
        );
        assert_eq!(
            tally(Tally {
                messages: 12,
                bytes: 1_468_006
            }),
            "12 messages, 1.4 MB"
        );
        assert_eq!(day_label(0), "1 Jan");
        assert_eq!(day_label(20_426), "4 Dec");
        assert!(when(1_000_000_000).contains("2001"));
        assert!(utc_offset().unsigned_abs() <= 18 * 3600);
    }

    #[test]
    fn the_preview_sends_the_header_section_only_and_refuses_huge_headers() {
        assert_eq!(
            header_section(b"To: a@b\r\nSubject: s\r\n\r\nbody\r\n\r\nmore").expect("crlf"),
            "To: a@b\r\nSubject: s\r\n\r\n"
        );
        assert_eq!(
            header_section(b"To: a@b\n\nbody").expect("lf"),
            "To: a@b\n\n"
        );
        assert_eq!(header_section(b"To: a@b").expect("no body"), "To: a@b");
        assert_eq!(
            header_section(b"\xffTo: x\n\n").expect("lossy"),
            "\u{fffd}To: x\n\n"
        );
        let huge = format!("X: {}\r\n\r\n", "y".repeat(MAX_PREVIEW));
        let err = header_section(huge.as_bytes()).expect_err("huge");
        assert!(err.contains("at most 256 KB"), "{err}");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("m.eml");
        std::fs::write(&path, b"From: a@x\r\nTo: b@y\r\n\r\nbody").expect("write");
        assert_eq!(
            read_message(&path).expect("read"),
            "From: a@x\r\nTo: b@y\r\n\r\n"
        );
        let err = read_message(&dir.path().join("missing.eml")).expect_err("missing");
        assert!(err.starts_with("cannot open"), "{err}");
    }
}
