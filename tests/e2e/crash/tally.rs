//! What a crash-loop round saw, counted on both sides of the local server: the copies that
//! crossed SMTP (Postfix's log, one queue id per copy it took and handed to Dovecot) and the
//! copies that landed in the mailbox. Without a Sieve recipe the two agree; with the README's
//! recipe the copies sent again still cross SMTP and Dovecot drops them.

use std::collections::{HashMap, HashSet};

use mailpull_tests::{Taken, headers, message_ids};

/// The header every copy carries, the same in a copy sent again.
pub const DELIVERY_ID: &str = "X-Mailpull-Delivery-Id";

/// What one round (or a sum of rounds) saw.
#[derive(Default)]
pub struct Tally {
    pub runs: usize,
    pub kills: usize,
    pub messages: usize,
    /// Copies in the mailbox.
    pub delivered: usize,
    pub lost: usize,
    /// Copies beyond the first that landed in the mailbox.
    pub landed_twice: usize,
    /// Copies beyond the first that crossed SMTP: the worker sent them again, in doubt.
    pub sent_again: usize,
    /// Copies without exactly one delivery id, copies of one message with different ids, a
    /// mailbox holding more copies than crossed SMTP: each a line saying which.
    pub faults: Vec<String>,
    /// Copies sent again per delivery id (what `window` splits by the kill's moment).
    pub extra_copies: HashMap<String, usize>,
    /// The Message-IDs that landed more than once.
    pub twice: Vec<String>,
}

impl Tally {
    pub fn add(&mut self, other: &Tally) {
        self.runs += other.runs;
        self.kills += other.kills;
        self.messages += other.messages;
        self.delivered += other.delivered;
        self.lost += other.lost;
        self.landed_twice += other.landed_twice;
        self.sent_again += other.sent_again;
        self.faults.extend(other.faults.iter().cloned());
        self.twice.extend(other.twice.iter().cloned());
        for (id, n) in &other.extra_copies {
            *self.extra_copies.entry(id.clone()).or_default() += n;
        }
    }

    fn per_100_kills(&self, n: usize) -> f64 {
        n as f64 * 100.0 / self.kills.max(1) as f64
    }

    /// Copies sent again per 100 kills.
    pub fn sent_again_per_100_kills(&self) -> f64 {
        self.per_100_kills(self.sent_again)
    }

    /// Copies landed twice per 100 kills.
    pub fn landed_twice_per_100_kills(&self) -> f64 {
        self.per_100_kills(self.landed_twice)
    }

    /// `runs=… kills=… … sent_again=N (x per 100 kills) landed_twice=M (y per 100 kills)`.
    pub fn line(&self) -> String {
        format!(
            "runs={} kills={} messages={} delivered={} lost={} sent_again={} ({:.1} per 100 kills) landed_twice={} ({:.1} per 100 kills)",
            self.runs,
            self.kills,
            self.messages,
            self.delivered,
            self.lost,
            self.sent_again,
            self.sent_again_per_100_kills(),
            self.landed_twice,
            self.landed_twice_per_100_kills()
        )
    }

    /// Counts the round's messages (`round_ids`: their Message-IDs) in the mailbox
    /// (`delivered`) and in what Postfix took (`taken`), and checks the delivery ids of every
    /// copy on both sides: exactly one per copy, the same in every copy of a message.
    pub fn count(&mut self, round_ids: &HashSet<String>, delivered: &[Vec<u8>], taken: &[Taken]) {
        let mut landed: HashMap<String, Vec<Vec<String>>> = HashMap::new();
        for (raw, id) in delivered.iter().zip(message_ids(delivered)) {
            if round_ids.contains(&id) {
                let ids = headers(raw)
                    .into_iter()
                    .filter(|(name, _)| name.eq_ignore_ascii_case(DELIVERY_ID))
                    .map(|(_, value)| value)
                    .collect();
                landed.entry(id).or_default().push(ids);
            }
        }
        let mut crossed: HashMap<String, Vec<Vec<String>>> = HashMap::new();
        for t in taken {
            if let Some(id) = t.message_id.as_ref().filter(|id| round_ids.contains(*id)) {
                for _ in 0..t.sent {
                    crossed
                        .entry(id.clone())
                        .or_default()
                        .push(t.header(DELIVERY_ID));
                }
            }
        }
        self.delivered = landed.values().map(Vec::len).sum();
        self.lost = round_ids.len() - landed.len();
        self.landed_twice = landed.values().map(|c| c.len() - 1).sum();
        self.sent_again = crossed.values().map(|c| c.len().saturating_sub(1)).sum();
        for (message_id, copies) in &landed {
            if copies.len() > 1 {
                self.twice.push(message_id.clone());
            }
            let crossed = crossed
                .get(message_id)
                .map(Vec::as_slice)
                .unwrap_or_default();
            if crossed.len() < copies.len() {
                self.faults.push(format!(
                    "{message_id}: {} copies in the mailbox, {} in Postfix's log",
                    copies.len(),
                    crossed.len()
                ));
            }
            let all: Vec<&Vec<String>> = copies.iter().chain(crossed).collect();
            if let Some(bad) = all.iter().find(|ids| ids.len() != 1) {
                self.faults
                    .push(format!("{message_id}: a copy with {DELIVERY_ID} {bad:?}"));
            } else if all.iter().any(|ids| ids[0] != all[0][0]) {
                self.faults.push(format!(
                    "{message_id}: copies with different ids, landed {copies:?}, crossed SMTP {crossed:?}"
                ));
            } else if crossed.len() > 1 {
                *self.extra_copies.entry(all[0][0].clone()).or_default() += crossed.len() - 1;
            }
        }
    }
}
