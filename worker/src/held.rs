//! Held messages for people: the rows of the state database as [`HeldMessage`]s (the same
//! data on the pipe and in `mailpull-worker held --json`) and the text table of
//! `mailpull-worker held`, read without the state lock so that it works beside a running
//! worker.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use mailpull_shared::config::Config;
use mailpull_shared::ipc::HeldMessage;

use crate::state::{Attempt, read_held};

/// A state row on the wire.
pub fn wire(row: Attempt) -> HeldMessage {
    let summary = row.summary;
    HeldMessage {
        profile: row.profile,
        mailbox: row.key.account,
        folder: row.key.folder,
        uidvalidity: row.key.uidvalidity,
        uid: row.uid,
        reason: row.reason,
        first_attempt: row.first_at,
        last_attempt: row.last_at,
        attempts: row.attempts,
        pending_action: row.action.map(|action| action.as_str().to_string()),
        from: summary.as_ref().map(|s| s.from.clone()),
        subject: summary.as_ref().map(|s| s.subject.clone()),
        date: summary.as_ref().and_then(|s| s.date),
        size: summary.as_ref().map(|s| s.size),
    }
}

/// `2026-12-04 14:05:09 UTC` for Unix seconds.
pub fn format_time(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rest = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// The held messages of `config` (of `profile` only, when named), from its state directory.
pub fn list(config: &Config, profile: Option<&str>) -> anyhow::Result<Vec<HeldMessage>> {
    if let Some(name) = profile
        && config.profile(name).is_none()
    {
        bail!("no profile named \"{name}\" in the configuration");
    }
    if let Some(rows) = crate::state::read_held_shared(&config.worker, profile)
        .context("reading the held messages in the shared state")?
    {
        return Ok(rows.into_iter().map(wire).collect());
    }
    let dir = &config.worker.state_dir;
    let rows = read_held(dir, profile)
        .with_context(|| format!("reading the held messages in {}", dir.display()))?;
    Ok(rows.into_iter().map(wire).collect())
}

/// Writes `messages` as a table (or JSON).
pub fn print(out: &mut impl Write, messages: &[HeldMessage], json: bool) -> anyhow::Result<()> {
    if json {
        serde_json::to_writer_pretty(&mut *out, messages)?;
        writeln!(out)?;
        return Ok(());
    }
    if messages.is_empty() {
        writeln!(out, "no held messages")?;
        return Ok(());
    }
    for m in messages {
        let folder = if m.folder.is_empty() {
            String::new()
        } else {
            format!(" {}", m.folder)
        };
        writeln!(
            out,
            "{} {}{} UID {}: {} attempts, first {}, last {}{}\n{}  reason: {}",
            m.profile,
            m.mailbox,
            folder,
            m.uid,
            m.attempts,
            format_time(m.first_attempt),
            format_time(m.last_attempt),
            m.pending_action
                .as_deref()
                .map(|a| format!(", pending action: {a}"))
                .unwrap_or_default(),
            about(m),
            m.reason
        )?;
    }
    Ok(())
}

/// The lines of what the message is (From, Subject, Date, size), each ending in a newline;
/// none when no attempt downloaded it.
fn about(m: &HeldMessage) -> String {
    let mut lines = String::new();
    let mut line = |label: &str, value: String| {
        lines.push_str(&format!("  {label}: {value}\n"));
    };
    if let Some(from) = &m.from {
        line("from", none_if_empty(from, "(no sender)"));
    }
    if let Some(subject) = &m.subject {
        line("subject", none_if_empty(subject, "(no subject)"));
    }
    if let Some(date) = m.date {
        line("date", format_time(date));
    }
    if let Some(size) = m.size {
        line("size", format!("{size} bytes"));
    }
    lines
}

fn none_if_empty(text: &str, none: &str) -> String {
    if text.is_empty() {
        none.to_string()
    } else {
        text.to_string()
    }
}

/// `mailpull-worker held`: reads `config_file` and prints its held messages.
pub fn command(config_file: &Path, profile: Option<&str>, json: bool) -> anyhow::Result<()> {
    let config = crate::validate::load(config_file)
        .with_context(|| format!("reading {}", config_file.display()))?;
    let messages = list(&config, profile)?;
    print(&mut std::io::stdout().lock(), &messages, json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_names_each_held_message_with_its_reason() {
        let row = HeldMessage {
            profile: "isp".into(),
            mailbox: "u@h.example".into(),
            folder: "INBOX".into(),
            uidvalidity: 7,
            uid: "42".into(),
            reason: "451 busy".into(),
            first_attempt: 0,
            last_attempt: 86_400,
            attempts: 10,
            pending_action: Some("fallback".into()),
            ..HeldMessage::default()
        };
        let mut out = Vec::new();
        print(&mut out, std::slice::from_ref(&row), false).expect("print");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "isp u@h.example INBOX UID 42: 10 attempts, first 1970-01-01 00:00:00 UTC, \
             last 1970-01-02 00:00:00 UTC, pending action: fallback\n  reason: 451 busy\n"
        );
        // What the message is, when an attempt downloaded it.
        let known = HeldMessage {
            from: Some("Ann <ann@x.example>".into()),
            subject: Some(String::new()),
            date: Some(951_782_400),
            size: Some(2048),
            ..row.clone()
        };
        let mut out = Vec::new();
        print(&mut out, std::slice::from_ref(&known), false).expect("print");
        let text = String::from_utf8(out).expect("utf-8");
        assert!(
            text.ends_with(
                "\n  from: Ann <ann@x.example>\n  subject: (no subject)\n  \
                 date: 2000-02-29 00:00:00 UTC\n  size: 2048 bytes\n  reason: 451 busy\n"
            ),
            "{text}"
        );
        let mut out = Vec::new();
        print(&mut out, &[], false).expect("print");
        assert_eq!(out, b"no held messages\n");
        let mut out = Vec::new();
        print(&mut out, &[row.clone(), known.clone()], true).expect("json");
        let back: Vec<HeldMessage> = serde_json::from_slice(&out).expect("parse");
        assert_eq!(back, vec![row, known]);
    }

    #[test]
    fn times_are_printed_as_utc_dates() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_time(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_time(1_796_393_109), "2026-12-04 14:05:09 UTC");
    }
}
