//! A profile's delivery history, for the pipe's `history` request (the window's History page):
//! totals of today, the last 7 days and all time, the failing messages, messages per day and
//! the last deliveries, from `history` (which outlives the forgotten delivery records, see
//! `schema` version 9) and `attempts`. Records of messages recognised as
//! already delivered (no recipients) are not deliveries and count nowhere. Also [`shown`]:
//! what a record keeps for the page (schema version 8), made safe to show, and [`summary`]:
//! what an attempts row keeps of a message that failed (schema version 10). On the shared
//! state the same figures come from PostgreSQL (`pg::history`).

use mailpull_shared::ipc::history::{DAYS, DayCount, Delivery, History, RECENT, Tally};
use rusqlite::{Connection, params};

use super::error::StateError;
use super::store::Store;
use super::types::{Shown, Summary};

/// Longest From or Subject kept, in characters.
pub const MAX_HEADER_CHARS: usize = 200;
/// Longest local server reply kept, in characters.
pub const MAX_REPLY_CHARS: usize = 300;

const DAY: i64 = 86_400;

/// What the History page shows of a message delivered with the local server's `reply`: its
/// From (display name and address) and Subject decoded (RFC 2047), control characters and
/// line breaks turned into spaces, runs of spaces into one, each cut to a bounded length.
pub fn shown(raw: &[u8], reply: &str) -> Shown {
    summary(raw).shown().replied(reply)
}

/// What a person knows the message `raw` by (schema version 10): From and Subject as
/// [`shown`] gives them, its Date header (a date that does not read as one is none) and its
/// size.
pub fn summary(raw: &[u8]) -> Summary {
    let parsed = mail_parser::MessageParser::new().parse_headers(raw);
    let (from, subject, date) = match &parsed {
        Some(message) => {
            let from = message
                .from()
                .and_then(|from| from.first())
                .map(|addr| match (addr.name(), addr.address()) {
                    (Some(name), Some(address)) => format!("{name} <{address}>"),
                    (None, Some(address)) => address.to_string(),
                    (Some(name), None) => name.to_string(),
                    (None, None) => String::new(),
                })
                .unwrap_or_default();
            let date = message
                .date()
                .filter(|date| date.is_valid())
                .map(|date| date.to_timestamp());
            (
                from,
                message.subject().unwrap_or_default().to_string(),
                date,
            )
        }
        None => (String::new(), String::new(), None),
    };
    Summary {
        from: clean(&from, MAX_HEADER_CHARS),
        subject: clean(&subject, MAX_HEADER_CHARS),
        date,
        size: raw.len() as u64,
    }
}

impl Summary {
    /// Its From and Subject as the History page keeps them, without a reply yet.
    pub fn shown(&self) -> Shown {
        Shown {
            from: self.from.clone(),
            subject: self.subject.clone(),
            reply: String::new(),
        }
    }
}

impl Shown {
    /// The same From and Subject with the local server's `reply` (cleaned and capped).
    pub fn replied(self, reply: &str) -> Shown {
        Shown {
            reply: clean(reply, MAX_REPLY_CHARS),
            ..self
        }
    }
}

/// `text` with control characters as spaces, runs of white space as one space, trimmed, and
/// cut to `max` characters (an ellipsis marks the cut).
pub fn clean(text: &str, max: usize) -> String {
    let mut out: Vec<char> = Vec::with_capacity(max + 1);
    let mut space = false;
    for c in text.chars() {
        if c.is_control() || c.is_whitespace() || is_invisible(c) {
            space = !out.is_empty();
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.push(c);
        if out.len() > max {
            out.truncate(max.saturating_sub(1));
            out.push('…');
            break;
        }
    }
    out.into_iter().collect()
}

/// A header value (e.g. From, Subject of a previewed message) made safe to show as
/// [`shown`] does.
pub fn clean_header(value: &str) -> String {
    clean(value, MAX_HEADER_CHARS)
}

/// Characters that change how text around them is shown (bidirectional overrides, zero
/// width): a subject could hide or reorder what the page shows with them.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

impl Store {
    /// The history of `profile`, its days counted at `utc_offset` seconds from UTC, as of
    /// `now` (Unix seconds).
    pub async fn history(
        &self,
        profile: String,
        utc_offset: i32,
        now: i64,
    ) -> Result<History, StateError> {
        if let Some(pg) = &self.shared {
            return pg.history(&profile, utc_offset, now).await;
        }
        self.read(move |conn| read_history(conn, &profile, utc_offset, now))
            .await
    }
}

fn read_history(
    conn: &Connection,
    profile: &str,
    utc_offset: i32,
    now: i64,
) -> Result<History, StateError> {
    let offset = i64::from(utc_offset);
    let today = (now + offset).div_euclid(DAY);
    let day_start = |day: i64| day * DAY - offset;
    let tally = |since: i64| -> Result<Tally, StateError> {
        conn.prepare_cached(
            "SELECT count(*), coalesce(sum(size), 0) FROM history
             WHERE profile = ?1 AND recipients != '' AND delivered_at >= ?2",
        )
        .and_then(|mut stmt| {
            stmt.query_row(params![profile, since], |row| {
                Ok(Tally {
                    messages: row.get::<_, i64>(0)?.max(0) as u64,
                    bytes: row.get::<_, i64>(1)?.max(0) as u64,
                })
            })
        })
        .map_err(StateError::Read)
    };
    let mut history = History {
        profile: profile.to_string(),
        today: tally(day_start(today))?,
        week: tally(day_start(today - 6))?,
        all: tally(i64::MIN)?,
        ..History::default()
    };
    (history.failing, history.held) = conn
        .query_row(
            "SELECT count(*), coalesce(sum(held), 0) FROM attempts WHERE profile = ?1",
            params![profile],
            |row| {
                Ok((
                    row.get::<_, i64>(0)?.max(0) as u64,
                    row.get::<_, i64>(1)?.max(0) as u64,
                ))
            },
        )
        .map_err(StateError::Read)?;
    let first = today - (DAYS - 1);
    let mut per_day: Vec<DayCount> = (first..=today)
        .map(|day| DayCount { day, messages: 0 })
        .collect();
    let mut stmt = conn
        .prepare_cached(
            "SELECT (delivered_at + ?2) / 86400 AS day, count(*) FROM history
             WHERE profile = ?1 AND recipients != '' AND delivered_at >= ?3 GROUP BY day",
        )
        .map_err(StateError::Read)?;
    let rows = stmt
        .query_map(params![profile, offset, day_start(first)], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?))
        })
        .map_err(StateError::Read)?;
    for row in rows {
        let (day, count) = row.map_err(StateError::Read)?;
        if let Some(slot) = per_day.iter_mut().find(|d| d.day == day) {
            slot.messages = count.max(0) as u64;
        }
    }
    history.per_day = per_day;
    let mut stmt = conn
        .prepare_cached(
            "SELECT delivered_at, coalesce(sender, ''), coalesce(subject, ''), recipients,
                    coalesce(reply, ''), size
             FROM history WHERE profile = ?1 AND recipients != ''
             ORDER BY delivered_at DESC LIMIT ?2",
        )
        .map_err(StateError::Read)?;
    let rows = stmt
        .query_map(params![profile, RECENT as i64], |row| {
            Ok(Delivery {
                at: row.get(0)?,
                from: row.get(1)?,
                subject: row.get(2)?,
                recipients: row.get(3)?,
                reply: row.get(4)?,
                bytes: row.get::<_, i64>(5)?.max(0) as u64,
            })
        })
        .map_err(StateError::Read)?;
    history.recent = rows
        .collect::<Result<Vec<_>, _>>()
        .map_err(StateError::Read)?;
    Ok(history)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{MailboxKey, Record};

    fn record(uid: &str, profile: &str, recipients: &[&str], shown: Shown) -> Record {
        Record {
            key: MailboxKey {
                account: "u@h".into(),
                folder: String::new(),
                uidvalidity: 0,
            },
            uid: uid.into(),
            profile: profile.into(),
            size: 100,
            remote_size: None,
            digest: format!("d{uid}"),
            message_id: None,
            recipients: recipients.iter().map(|r| r.to_string()).collect(),
            dedupe_key: None,
            shown,
        }
    }

    #[test]
    fn shown_headers_are_decoded_cleaned_and_capped() {
        let raw = b"From: =?UTF-8?Q?J=C3=BCrgen?= <j@x.example>\r\nSubject: =?UTF-8?B?R3LDvMOfZQ==?=\r\n\tand\x07 more\r\n\r\nbody";
        let shown = shown(raw, "250 2.0.0 Ok: queued as 4Xk\r\n");
        assert_eq!(shown.from, "Jürgen <j@x.example>");
        assert_eq!(shown.subject, "Grüße and more");
        assert_eq!(shown.reply, "250 2.0.0 Ok: queued as 4Xk");
        let long = format!("Subject: {}\r\n\r\n", "a".repeat(5000));
        let capped = super::shown(long.as_bytes(), "");
        assert_eq!(capped.subject.chars().count(), MAX_HEADER_CHARS);
        assert!(capped.subject.ends_with('…'));
        assert_eq!(clean("a\u{202E}b\u{200B}c", 10), "a b c");
        assert_eq!(clean("  \r\n ", 10), "");
        // No headers at all: nothing to show, no panic.
        assert_eq!(
            super::shown(b"\xff\xfe", "250"),
            Shown {
                reply: "250".into(),
                ..Shown::default()
            }
        );
    }

    #[tokio::test]
    async fn history_counts_days_periods_failures_and_lists_the_last_deliveries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        for n in 0..4 {
            let shown = Shown {
                from: format!("sender{n}@x.example"),
                subject: format!("Subject {n}"),
                reply: format!("250 2.0.0 Ok: queued as Q{n}"),
            };
            store
                .record(record(&n.to_string(), "p", &["bob@local.test"], shown))
                .await
                .expect("record");
        }
        // Recognised as already delivered: not a delivery. Another profile: not this one's.
        store
            .record(record("9", "p", &[], Shown::default()))
            .await
            .expect("record");
        store
            .record(record("8", "q", &["x@local.test"], Shown::default()))
            .await
            .expect("record");
        // Move deliveries 0 and 1 into the past: 3 days ago and 40 days ago (UTC+2 days).
        let offset = 2 * 3600;
        let now = 1_764_849_600; // 2025-12-04 12:00 UTC
        store
            .run(move |conn| {
                let set = |uid: &str, at: i64| {
                    conn.execute(
                        "UPDATE history SET delivered_at = ?1 WHERE uid = ?2",
                        params![at, uid],
                    )
                };
                set("0", now - 3 * DAY)
                    .and(set("1", now - 40 * DAY))
                    .and(set("2", now - 60))
                    .and(set("3", now - 30))
                    .and(set("9", now))
                    .and(set("8", now))
                    .map_err(StateError::Write)
            })
            .await
            .expect("dates");
        store
            .run(|conn| {
                conn.execute_batch(
                    "INSERT INTO attempts VALUES ('u@h', '', 0, '5', 'p', 3, 1, 2, 3, 'no', 0, NULL, NULL, NULL, NULL, NULL);
                     INSERT INTO attempts VALUES ('u@h', '', 0, '6', 'p', 9, 1, 2, 3, 'no', 1, NULL, NULL, NULL, NULL, NULL);",
                )
                .map_err(StateError::Write)
            })
            .await
            .expect("attempts");
        let history = store
            .history("p".into(), offset, now)
            .await
            .expect("history");
        assert_eq!(history.profile, "p");
        assert_eq!(
            history.today,
            Tally {
                messages: 2,
                bytes: 200
            }
        );
        assert_eq!(
            history.week,
            Tally {
                messages: 3,
                bytes: 300
            }
        );
        assert_eq!(
            history.all,
            Tally {
                messages: 4,
                bytes: 400
            }
        );
        assert_eq!((history.failing, history.held), (1 + 1, 1));
        assert_eq!(history.per_day.len(), DAYS as usize);
        let today = (now + i64::from(offset)) / DAY;
        assert_eq!(
            history.per_day.last(),
            Some(&DayCount {
                day: today,
                messages: 2
            })
        );
        assert_eq!(
            history.per_day[DAYS as usize - 4],
            DayCount {
                day: today - 3,
                messages: 1
            }
        );
        assert_eq!(history.per_day.iter().map(|d| d.messages).sum::<u64>(), 3);
        let subjects: Vec<&str> = history.recent.iter().map(|d| d.subject.as_str()).collect();
        assert_eq!(
            subjects,
            ["Subject 3", "Subject 2", "Subject 0", "Subject 1"]
        );
        let newest = &history.recent[0];
        assert_eq!(newest.from, "sender3@x.example");
        assert_eq!(newest.recipients, "bob@local.test");
        assert_eq!(newest.reply, "250 2.0.0 Ok: queued as Q3");
        assert_eq!(newest.at, now - 30);
        // An unknown profile has an empty history, each day present.
        let none = store.history("zz".into(), 0, now).await.expect("none");
        assert_eq!(none.all, Tally::default());
        assert!(none.recent.is_empty());
        assert_eq!(none.per_day.len(), DAYS as usize);
    }

    #[tokio::test]
    async fn a_version_8_database_gains_the_history_table_and_keeps_its_rows() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let conn =
                rusqlite::Connection::open(dir.path().join("state.sqlite3")).expect("create");
            for step in [
                super::super::schema::CREATE_V1,
                super::super::schema::MIGRATE_V2,
                super::super::schema::CREATE_V3,
                super::super::schema::CREATE_V4,
                super::super::schema::MIGRATE_V5_SENT,
                super::super::schema::CREATE_V6,
                super::super::schema::CREATE_V7,
                super::super::schema::MIGRATE_V8,
            ] {
                conn.execute_batch(step).expect("older schema");
            }
            conn.execute_batch(
                "INSERT INTO delivered (account, folder, uidvalidity, uid, profile, size, digest, recipients, delivered_at)
                 VALUES ('u@h', '', 0, 'old', 'p', 50, 'dold', 'bob@local.test', 1000);
                 INSERT INTO delivered (account, folder, uidvalidity, uid, profile, size, digest, recipients, delivered_at, sender, subject, reply)
                 VALUES ('u@h', '', 0, 'v8', 'p', 60, 'dv8', 'bob@local.test', 1500, 'eve@x.example', 'v8 subject', '250 v8');
                 INSERT INTO delivered (account, folder, uidvalidity, uid, profile, size, digest, recipients, delivered_at)
                 VALUES ('u@h', '', 0, 'dup', 'p', 70, 'ddup', '', 1600);",
            )
            .expect("v8 rows");
            let version: i64 = conn
                .pragma_query_value(None, "user_version", |row| row.get(0))
                .expect("version");
            assert_eq!(version, 8);
        }
        let store = Store::open(dir.path()).expect("open and migrate");
        let version: i64 = store
            .read(|conn| {
                conn.pragma_query_value(None, "user_version", |row| row.get(0))
                    .map_err(StateError::Read)
            })
            .await
            .expect("version");
        assert_eq!(version, super::super::schema::SCHEMA_VERSION);
        // The delivery records stay what they were.
        let records: i64 = store
            .read(|conn| {
                conn.query_row("SELECT count(*) FROM delivered", [], |row| row.get(0))
                    .map_err(StateError::Read)
            })
            .await
            .expect("records");
        assert_eq!(records, 3);
        let shown = Shown {
            from: "ann@x.example".into(),
            subject: "new".into(),
            reply: "250 ok".into(),
        };
        store
            .record(record("new", "p", &["bob@local.test"], shown))
            .await
            .expect("record");
        let history = store.history("p".into(), 0, 2000).await.expect("history");
        // The two deliveries of version 8 (not the recognised copy) and the new one.
        assert_eq!(history.all.messages, 3);
        assert_eq!(history.all.bytes, 50 + 60 + 100);
        let v8 = history
            .recent
            .iter()
            .find(|d| d.at == 1500)
            .expect("v8 row");
        assert_eq!(
            (v8.from.as_str(), v8.subject.as_str(), v8.reply.as_str()),
            ("eve@x.example", "v8 subject", "250 v8")
        );
        let old = history
            .recent
            .iter()
            .find(|d| d.at == 1000)
            .expect("old row");
        assert_eq!(
            (old.from.as_str(), old.subject.as_str(), old.reply.as_str()),
            ("", "", "")
        );
        let new = history
            .recent
            .iter()
            .find(|d| d.subject == "new")
            .expect("new row");
        assert_eq!(
            (new.from.as_str(), new.reply.as_str()),
            ("ann@x.example", "250 ok")
        );
    }
}
