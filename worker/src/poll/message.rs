//! One message of a poll, step by step: check a recorded UID, fetch, route and deliver,
//! record, delete (or leave it on the server with the reason), and decide whether a failure
//! stops the poll ([`super::retry`]).

use mailpull_shared::config::{AfterDelivery, Profile};
use tracing::{error, info, warn};

use super::retry::skips_one_message;
use super::{PollError, PollReport, Progress, hex_digest, remove_recorded};
use crate::context::{PollContext, now_secs};
use crate::deliver;
use crate::dispatch::{Outcome, Source, deliver_to_recipients};
use crate::routing::Route;
use crate::source::{Listed, Mailbox};
use crate::state::{Known, MailboxKey, Record};

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
    let raw = mailbox.fetch(message).await?;
    if hex_digest(&raw) == record.digest {
        return Ok(Check::Recorded);
    }
    warn!(uid = %uid, listed_size = ?listed, recorded_size = ?recorded,
        "the server reused a UID for a different message; delivering it as a new message");
    Ok(Check::Reused(Some(raw)))
}

/// What one walk through a mailbox's listed messages shares from message to message.
pub(super) struct Walk<'a> {
    pub ctx: &'a PollContext,
    pub profile: &'a Profile,
    pub route: Route,
    pub key: MailboxKey,
    pub known: std::collections::HashMap<String, Known>,
    /// When the poll began (the clock of `ctx`).
    pub now: i64,
    /// For the trace header: `IMAPS`, `POP3` …
    pub with: &'a str,
    /// Messages the local server deferred one after the other (reset by any other outcome).
    pub deferred_in_a_row: usize,
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
        let to_confirm = &mut progress.to_confirm;
        let mut fetched = None;
        if let Some(uid) = &message.uid
            && let Some(record) = known.get(uid)
        {
            let max = profile.remote.max_message_bytes;
            match check_recorded(mailbox, message, uid, record, self.remove(record), max).await? {
                // Delivered earlier: its deletion was rolled back, it is kept, or it is kept
                // for `keep_days` and may now be old enough to go.
                Check::Recorded => {
                    if self.remove(record) {
                        if !delete {
                            info!(uid = %uid, "kept for keep_days and now older; deleting from the server");
                        }
                        mailbox.delete(message).await?;
                        to_confirm.push(uid.clone());
                    }
                    return Ok(());
                }
                Check::Reused(raw) => fetched = raw,
            }
        }
        if let Some(size) = message.size
            && size > profile.remote.max_message_bytes
        {
            let why = format!(
                "message {} of {size} bytes is larger than max_message_mb ({} MB); left on the server",
                message.number,
                profile.remote.max_message_bytes / (1024 * 1024)
            );
            warn!("{why}");
            report.left_on_server.push(why);
            return Ok(());
        }
        let mut raw = match fetched {
            Some(raw) => raw,
            None => mailbox.fetch(message).await?,
        };
        let digest = hex_digest(&raw);
        let uid = message
            .uid
            .clone()
            .unwrap_or_else(|| format!("sha256:{digest}"));
        if message.uid.is_none()
            && let Some(record) = known.get(&uid)
        {
            if self.remove(record) {
                mailbox.delete(message).await?;
                to_confirm.push(uid);
            }
            return Ok(());
        }
        let message_id = deliver::header_value(&raw, "Message-ID");
        let outcome = if ctx.store.digest_known(&key.account, &digest).await? {
            info!(uid = %uid, "already delivered under another UID; not delivering again");
            Outcome::AlreadyDelivered
        } else {
            let source = Source {
                key: &key,
                with: self.with,
                uid: &uid,
                digest: &digest,
                unix_time: now_secs(),
            };
            deliver_to_recipients(ctx, profile, &self.route, &mut raw, &source).await?
        };
        let (recipients, dedupe_key, reply) = match outcome {
            Outcome::Delivered {
                recipients,
                reply,
                dedupe_key,
            } => (recipients, dedupe_key, Some(reply)),
            Outcome::AlreadyDelivered => (Vec::new(), None, None),
            Outcome::Deferred(err) => {
                self.deferred_in_a_row += 1;
                if !skips_one_message(&err, self.deferred_in_a_row) {
                    warn!(uid = %uid, error = %err, "delivery deferred; the message stays on the server and the poll stops");
                    return Err(PollError::Deferred(err));
                }
                warn!(uid = %uid, error = %err, "the local server deferred this message only; it stays on the server and the poll goes on");
                report.left_on_server.push(format!("{uid}: {err}"));
                return Ok(());
            }
            Outcome::Refused(why) => {
                self.deferred_in_a_row = 0;
                error!(uid = %uid, error = %why, "DELIVERY REFUSED; the message stays on the server");
                report.left_on_server.push(format!("{uid}: {why}"));
                return Ok(());
            }
        };
        self.deferred_in_a_row = 0;
        let size = raw.len() as u64;
        ctx.store
            .record(Record {
                key: key.clone(),
                uid: uid.clone(),
                profile: profile.name.clone(),
                size,
                remote_size: message.size,
                digest,
                message_id,
                recipients: recipients.clone(),
                dedupe_key,
            })
            .await?;
        match reply {
            Some(reply) => {
                info!(uid = %uid, size, recipient = %recipients.join(","), reply = %reply, "delivered");
                report.delivered += 1;
                report.bytes += size;
            }
            None => report.already_delivered += 1,
        }
        if delete {
            mailbox.delete(message).await?;
            to_confirm.push(uid);
        }
        Ok(())
    }
}
