//! A profile's delivery history in PostgreSQL, for the pipe's `history` request: the same
//! figures as the SQLite store's `history` (totals of today, the last 7 days and all time, the
//! failing and held messages, messages per day, the last deliveries), from the shared
//! `history` and `attempts` rows, so any worker's pipe shows every worker's deliveries.
//! Records of messages recognised as already delivered (no recipients) count nowhere.

use mailpull_shared::ipc::history::{DAYS, DayCount, Delivery, History, RECENT, Tally};

use super::{PgStore, pg_err};
use crate::state::error::StateError;

const DAY: i64 = 86_400;

fn count(n: i64) -> u64 {
    n.max(0) as u64
}

impl PgStore {
    /// The history of `profile`, its days counted at `utc_offset` seconds from UTC, as of
    /// `now` (Unix seconds).
    pub(crate) async fn history(
        &self,
        profile: &str,
        utc_offset: i32,
        now: i64,
    ) -> Result<History, StateError> {
        let client = self.client().await?;
        let offset = i64::from(utc_offset);
        let today = (now + offset).div_euclid(DAY);
        let day_start = |day: i64| day * DAY - offset;
        let tally = async |since: i64| -> Result<Tally, StateError> {
            let row = client
                .query_one(
                    "SELECT count(*), coalesce(sum(size), 0)::BIGINT FROM history
                     WHERE profile = $1 AND recipients <> '' AND delivered_at >= $2",
                    &[&profile, &since],
                )
                .await
                .map_err(pg_err)?;
            Ok(Tally {
                messages: count(row.get(0)),
                bytes: count(row.get(1)),
            })
        };
        let mut history = History {
            profile: profile.to_string(),
            today: tally(day_start(today)).await?,
            week: tally(day_start(today - 6)).await?,
            all: tally(i64::MIN).await?,
            ..History::default()
        };
        let row = client
            .query_one(
                "SELECT count(*), count(*) FILTER (WHERE held) FROM attempts WHERE profile = $1",
                &[&profile],
            )
            .await
            .map_err(pg_err)?;
        (history.failing, history.held) = (count(row.get(0)), count(row.get(1)));
        let first = today - (DAYS - 1);
        let mut per_day: Vec<DayCount> = (first..=today)
            .map(|day| DayCount { day, messages: 0 })
            .collect();
        // Integer division truncates toward zero, as SQLite's does (the same days).
        let rows = client
            .query(
                "SELECT (delivered_at + $2) / 86400 AS day, count(*) FROM history
                 WHERE profile = $1 AND recipients <> '' AND delivered_at >= $3 GROUP BY day",
                &[&profile, &offset, &day_start(first)],
            )
            .await
            .map_err(pg_err)?;
        for row in rows {
            let day: i64 = row.get(0);
            if let Some(slot) = per_day.iter_mut().find(|d| d.day == day) {
                slot.messages = count(row.get(1));
            }
        }
        history.per_day = per_day;
        let rows = client
            .query(
                "SELECT delivered_at, coalesce(sender, ''), coalesce(subject, ''), recipients,
                        coalesce(reply, ''), size
                 FROM history WHERE profile = $1 AND recipients <> ''
                 ORDER BY delivered_at DESC LIMIT $2",
                &[&profile, &(RECENT as i64)],
            )
            .await
            .map_err(pg_err)?;
        history.recent = rows
            .into_iter()
            .map(|row| Delivery {
                at: row.get(0),
                from: row.get(1),
                subject: row.get(2),
                recipients: row.get(3),
                reply: row.get(4),
                bytes: count(row.get(5)),
            })
            .collect();
        Ok(history)
    }
}
