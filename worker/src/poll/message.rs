//! One message of a poll, step by step: check a recorded UID, fetch, filter, route and deliver,
//! record, delete (or leave it on the server with the reason), and decide whether a failure
//! stops the poll ([`super::retry`]).

use mailpull_shared::config::{AfterDelivery, Profile};
use tracing::{debug, error, info, warn};

use super::retry::{self, HoldPolicy, skips_one_message};
use super::{PollError, PollReport, Progress, hex_digest, remove_recorded};
use crate::budget::{MemoryBudget, Reservation};
use crate::context::{PollContext, now_secs};
use crate::deliver;
use crate::dispatch::{
    Outcome, Source, deliver_held_to_fallback, deliver_to_fallback, deliver_to_recipients,
};
use crate::filter::{self, Passed};
use crate::metrics::FailureKind;
use crate::routing::Route;
use crate::source::{Listed, Mailbox};
use crate::state::{Attempt, HeldAction, Known, MailboxKey, Record, Summary};

/// Whether a message listed under a recorded UID is the recorded message.
pub(super) enum Check {
    /// It is (or cannot be told apart and is not going to be deleted).
    Recorded,
    /// It is another message under a reused UID: deliver it as new. The bytes when it was
    /// fetched to find out (`None`: the listed size alone told, and it is too large to fetch).
    Reused(Option<Vec<u8>>),
}

/// Tells whether `message`, listed under the recorded `uid`, is the message of `record`: the
/// same listed size is taken for the same message; a different size, or no size to compare
/// when the message would be deleted (`would_remove`), is settled by fetching it and
/// comparing its digest.
async fn check_recorded<M: Mailbox>(
    mailbox: &mut M,
    message: &Listed,
    uid: &str,
    record: &Known,
    would_remove: bool,
    max_message_bytes: u64,
    (budget, held): (&MemoryBudget, &mut Option<Reservation>),
) -> Result<Check, PollError> {
    let (listed, recorded) = (message.size, record.remote_size);
    match (listed, recorded) {
        (Some(now), Some(then)) if now == then => return Ok(Check::Recorded),
        (Some(_), Some(_)) => {}
        _ if !would_remove => return Ok(Check::Recorded),
        _ => {}
    }
    if listed.is_some_and(|size| size > max_message_bytes) {
        warn!(uid = %uid, listed_size = ?listed, recorded_size = ?recorded,
            "the server reused a UID: it now lists another, larger message under it");
        return Ok(Check::Reused(None));
    }
    reserve(budget, held, message, max_message_bytes, M::COPIES).await;
    let raw = mailbox.fetch(message).await?;
    if hex_digest(&raw) == record.digest {
        return Ok(Check::Recorded);
    }
    warn!(uid = %uid, listed_size = ?listed, recorded_size = ?recorded,
        "the server reused a UID for a different message; delivering it as a new message");
    Ok(Check::Reused(Some(raw)))
}

/// Reserves the cost of `message` from the memory budget unless `held` already holds it.
/// The reservation lives until the step of the message ends, whatever way it ends.
async fn reserve(
    budget: &MemoryBudget,
    held: &mut Option<Reservation>,
    message: &Listed,
    max_message_bytes: u64,
    copies: u64,
) {
    if held.is_none() {
        let reservation = budget
            .reserve(message.size, max_message_bytes, copies)
            .await;
        if reservation.alone() {
            info!(number = message.number, size = ?message.size,
                budget_mb = budget.total_kib() / 1024,
                "the message costs more than the whole memory_budget_mb: fetched alone");
        } else {
            debug!(number = message.number, size = ?message.size, kib = reservation.kib(),
                "memory reserved for the message");
        }
        *held = Some(reservation);
    }
}

/// What one walk through a mailbox's listed messages shares from message to message.
pub(super) struct Walk<'a> {
    pub ctx: &'a PollContext,
    pub profile: &'a Profile,
    pub route: Route,
    pub key: MailboxKey,
    pub known: std::collections::HashMap<String, Known>,
    /// The attempts of messages that failed on their own, by UID (kept up to date).
    pub attempts: std::collections::HashMap<String, Attempt>,
    /// When the poll began (the clock of `ctx`).
    pub now: i64,
    /// For the trace header: `IMAPS`, `POP3` …
    pub with: &'a str,
    /// Messages the local server deferred one after the other (reset by any other outcome).
    pub deferred_in_a_row: usize,
    /// The attempts rows, as they were before, of the messages of the current run of
    /// deferrals: a run long enough to stop the poll was the server's, not theirs.
    pub deferred_run: Vec<(String, Option<Attempt>)>,
}

impl Walk<'_> {
    fn remove(&self, record: &Known) -> bool {
        remove_recorded(self.profile.after_delivery, record.delivered_at, self.now)
    }

    /// Takes one listed message through fetch, delivery, record and deletion. `Ok` when the
    /// poll goes on (the message delivered, or left on the server for a reason of its own);
    /// `Err` when the poll stops.
    pub(super) async fn step<M: Mailbox>(
        &mut self,
        mailbox: &mut M,
        message: &Listed,
        report: &mut PollReport,
        progress: &mut Progress,
    ) -> Result<(), PollError> {
        let (ctx, profile, key) = (self.ctx, self.profile, &self.key);
        let delete = profile.after_delivery == AfterDelivery::Delete;
        let known = &self.known;
        let mut fetched = None;
        // The message's share of the memory budget, given back when this step returns.
        let mut held: Option<Reservation> = None;
        let max = profile.remote.max_message_bytes;
        if let Some(uid) = &message.uid
            && let Some(record) = known.get(uid)
        {
            let would_remove = self.remove(record);
            let budget = (&ctx.budget, &mut held);
            match check_recorded(mailbox, message, uid, record, would_remove, max, budget).await? {
                // Delivered earlier: its deletion was rolled back, it is kept, or it is kept
                // for `keep_days` and may now be old enough to go.
                Check::Recorded => {
                    if self.remove(record) {
                        if !delete {
                            info!(uid = %uid, "kept for keep_days and now older; deleting from the server");
                        }
                        mailbox.delete(message).await?;
                        progress.to_confirm.push(uid.clone());
                    }
                    return Ok(());
                }
                Check::Reused(raw) => fetched = raw,
            }
        }
        let due = retry::due(
            message.uid.as_ref().and_then(|uid| self.attempts.get(uid)),
            self.now,
        );
        let fallback_for = match (due, message.uid.as_deref()) {
            (retry::Due::Now, _) => None,
            (retry::Due::Later, _) => {
                report.waiting += 1;
                progress.skipped = true;
                return Ok(());
            }
            (retry::Due::Held, _) => {
                report.held += 1;
                progress.skipped = true;
                return Ok(());
            }
            (retry::Due::Action(action), Some(uid)) => {
                let reason = self
                    .attempts
                    .get(uid)
                    .map(|row| row.reason.clone())
                    .unwrap_or_default();
                match action {
                    HeldAction::Delete => {
                        info!(profile = %profile.name, uid = %uid, reason = %reason,
                            "deleting the held message on the server, as asked (it is not delivered)");
                        mailbox.delete(message).await?;
                        progress.dropped.push(uid.to_string());
                        return Ok(());
                    }
                    HeldAction::Fallback => Some(reason),
                }
            }
            // Actions are only ever asked for messages with a UID.
            (retry::Due::Action(_), None) => None,
        };
        if fetched.is_none()
            && let Some(size) = message.size
            && size > profile.remote.max_message_bytes
        {
            let why = format!(
                "message {} of {size} bytes is larger than max_message_mb ({} MB)",
                message.number,
                profile.remote.max_message_bytes / (1024 * 1024)
            );
            return self
                .failed(message.uid.as_deref(), (why, None), report, progress)
                .await;
        }
        reserve(&ctx.budget, &mut held, message, max, M::COPIES).await;
        let mut raw = match fetched {
            Some(raw) => raw,
            None => match mailbox.fetch(message).await {
                Ok(raw) => raw,
                Err(err) if err.is_one_message() => {
                    let why = (err.to_string(), None);
                    return self
                        .failed(message.uid.as_deref(), why, report, progress)
                        .await;
                }
                Err(err) if err.is_the_message() => {
                    let why = (err.to_string(), None);
                    self.failed(message.uid.as_deref(), why, report, progress)
                        .await?;
                    return Err(err.into());
                }
                Err(err) => return Err(err.into()),
            },
        };
        let digest = hex_digest(&raw);
        // What the message is, as the server has it (before a filter rewrites it): kept with
        // its attempts if it fails, so the Held page can name it.
        let summary = crate::state::summary(&raw);
        let uid = message
            .uid
            .clone()
            .unwrap_or_else(|| format!("sha256:{digest}"));
        if message.uid.is_none() {
            progress.seen_digests.insert(uid.clone());
        }
        if message.uid.is_none()
            && let Some(record) = known.get(&uid)
        {
            if self.remove(record) {
                mailbox.delete(message).await?;
                progress.to_confirm.push(uid);
            }
            return Ok(());
        }
        if message.uid.is_none() && retry::due(self.attempts.get(&uid), self.now) != retry::Due::Now
        {
            // POP3 without UIDL: known by its digest only once fetched.
            report.waiting += 1;
            progress.skipped = true;
            return Ok(());
        }
        let message_id = deliver::header_value(&raw, "Message-ID");
        let size = raw.len() as u64;
        let record = Record {
            key: key.clone(),
            uid: uid.clone(),
            profile: profile.name.clone(),
            size,
            remote_size: message.size,
            digest: digest.clone(),
            message_id,
            recipients: Vec::new(),
            dedupe_key: None,
            // From and Subject now; the local server's reply is added when it is read.
            shown: summary.shown(),
        };
        let outcome = if ctx.store.digest_known(&key.account, &digest).await? {
            info!(uid = %uid, "already delivered under another UID; not delivering again");
            Outcome::AlreadyDelivered
        } else {
            // Nothing bypasses the filter: a failure of it is this message's failure.
            let passed = match filter::apply(profile, &self.route, &mut raw).await {
                Ok(passed) => passed,
                Err(why) => {
                    let why = (why, Some(summary));
                    return self.failed(Some(&uid), why, report, progress).await;
                }
            };
            let source = Source {
                key,
                with: self.with,
                uid: &uid,
                digest: &digest,
                unix_time: now_secs(),
                // One transaction delivers the whole message: recorded on the SMTP lane at the
                // 250 (multi-drop records after all its transactions, below).
                record: (matches!(self.route, Route::Single(_)) || fallback_for.is_some())
                    .then(|| record.clone()),
            };
            match (passed, &fallback_for) {
                (Passed::Fallback { to, header }, _) => {
                    deliver_to_fallback(ctx, profile, &to, &mut raw, &source, &header).await?
                }
                (Passed::Deliver, None) => {
                    deliver_to_recipients(ctx, profile, &self.route, &mut raw, &source).await?
                }
                (Passed::Deliver, Some(reason)) => {
                    deliver_held_to_fallback(ctx, profile, &self.route, &mut raw, &source, reason)
                        .await?
                }
            }
        };
        let (recipients, dedupe_key, reply, recorded) = match outcome {
            Outcome::Delivered {
                recipients,
                reply,
                dedupe_key,
                recorded,
            } => (recipients, dedupe_key, Some(reply), recorded),
            Outcome::AlreadyDelivered => (Vec::new(), None, None, None),
            Outcome::Deferred(err) => {
                self.deferred_in_a_row += 1;
                if !skips_one_message(&err, self.deferred_in_a_row) {
                    warn!(uid = %uid, error = %err, "delivery deferred; the message stays on the server and the poll stops");
                    self.undo_deferred_run().await?;
                    return Err(PollError::Deferred(err));
                }
                warn!(uid = %uid, error = %err, "the local server deferred this message only; it stays on the server and the poll goes on");
                let previous = self.attempts.get(&uid).cloned();
                self.deferred_run.push((uid.clone(), previous));
                let why = (err.to_string(), Some(summary));
                return self.failed(Some(&uid), why, report, progress).await;
            }
            Outcome::Refused(why) => {
                self.deferred_in_a_row = 0;
                self.deferred_run.clear();
                error!(uid = %uid, error = %why, "DELIVERY REFUSED; the message stays on the server");
                let why = (why, Some(summary));
                return self.failed(Some(&uid), why, report, progress).await;
            }
        };
        self.deferred_in_a_row = 0;
        self.deferred_run.clear();
        // Durable (fsync'd) before anything is deleted remotely.
        match recorded {
            Some(pending) => ctx.store.durable(pending).await?,
            None => {
                let record = Record {
                    recipients: recipients.clone(),
                    dedupe_key,
                    shown: record.shown.replied(reply.as_deref().unwrap_or_default()),
                    ..record
                };
                ctx.store.record(record).await?
            }
        }
        match reply {
            Some(reply) => {
                info!(uid = %uid, size, recipient = %recipients.join(","), reply = %reply, "delivered");
                report.delivered += 1;
                report.bytes += size;
                ctx.metrics.delivered(&profile.name, size);
            }
            None => report.already_delivered += 1,
        }
        if self.attempts.remove(&uid).is_some() {
            ctx.store.clear_attempt(key, &uid).await?;
        }
        if delete {
            mailbox.delete(message).await?;
            progress.to_confirm.push(uid);
        }
        Ok(())
    }

    /// Puts back the attempts rows of the messages deferred in the run that turned out to be
    /// the local server's (it stopped the poll): those deferrals were not the messages'.
    async fn undo_deferred_run(&mut self) -> Result<(), PollError> {
        for (uid, previous) in std::mem::take(&mut self.deferred_run) {
            match previous {
                Some(row) => {
                    self.ctx.store.put_attempt(row.clone()).await?;
                    self.attempts.insert(uid, row);
                }
                None => {
                    self.ctx.store.clear_attempt(&self.key, &uid).await?;
                    self.attempts.remove(&uid);
                }
            }
        }
        Ok(())
    }

    /// Leaves a message on the server for a reason of its own and counts the attempt (when it
    /// has a UID to count it under), with what the message is when it was downloaded
    /// (`summary`): it is tried again after a growing delay, and held once the policy says
    /// so. The poll goes on.
    async fn failed(
        &mut self,
        uid: Option<&str>,
        (reason, summary): (String, Option<Summary>),
        report: &mut PollReport,
        progress: &mut Progress,
    ) -> Result<(), PollError> {
        progress.skipped = true;
        self.ctx
            .metrics
            .failed(&self.profile.name, FailureKind::Message);
        report
            .left_on_server
            .push(format!("{}: {reason}", uid.unwrap_or("?")));
        let Some(uid) = uid else {
            warn!(error = %reason, "a message without a UID failed; it stays on the server");
            return Ok(());
        };
        let previous = self.attempts.get(uid);
        let was_held = previous.is_some_and(|row| row.held);
        let row = retry::after_failure(
            previous,
            (&self.key, uid, &self.profile.name),
            (reason, summary),
            self.now,
            HoldPolicy::of(self.ctx),
        );
        if row.held && !was_held {
            error!(uid = %uid, attempts = row.attempts, reason = %row.reason,
                "HELD: the message failed too often; it stays on the server and is not retried automatically (see `mailpull-worker held`)");
        } else if row.held {
            warn!(uid = %uid, reason = %row.reason, "the held message failed again; it stays held");
        } else {
            warn!(uid = %uid, attempt = row.attempts, retry_in_secs = row.next_at - row.last_at,
                reason = %row.reason, "the message stays on the server and is tried again later");
        }
        self.ctx.store.put_attempt(row.clone()).await?;
        self.attempts.insert(uid.to_string(), row);
        Ok(())
    }
}
