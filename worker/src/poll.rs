//! One poll of one profile: list the remote mailbox, and for every message not yet recorded
//! fetch it, deliver it, record the delivery (committed), and only then delete it remotely.
//!
//! The order is the invariant that keeps mail from being lost or doubled:
//! 1. a message is deleted remotely only after the local server answered 250 *and* the record
//!    is committed — a failure anywhere before leaves it on the server for the next poll;
//! 2. a recorded message is never delivered again — when a POP3 session ends without QUIT
//!    the server rolls the DELE back, and the next poll finds the UID recorded and deletes it
//!    without delivering; in `keep` mode recorded messages are never fetched again; with
//!    `keep_days` they are never fetched again and deleted once their record is older than
//!    the number of days ([`remove_recorded`]);
//! 3. a message that reappears under another UID (POP3 without UIDL, a new IMAP UIDVALIDITY)
//!    is recognised by its digest and not delivered again;
//! 4. a recorded UID is taken for the recorded message only when the size the server lists
//!    agrees with the size it listed then; when the sizes differ, or no size is known and the
//!    message would be deleted, it is fetched and its digest compared. Another message under
//!    a reused UID (a POP3 UIDL reused, IMAP UIDs reset without a new UIDVALIDITY) is
//!    delivered as new ([`check_recorded`]);
//! 5. without UIDPLUS, IMAP can only EXPUNGE every message flagged \Deleted, also those
//!    another client flagged: that happens only after a clean poll of the folder, when every
//!    listed message has been delivered ([`crate::source::Committed`]).

use std::collections::HashSet;

use mailpull_shared::config::{AfterDelivery, Profile};
use sha2::{Digest, Sha256};
use tracing::{error, info, warn};

use crate::context::{PollContext, now_secs};
use crate::deliver::{self, DeliveryError};
use crate::dispatch::{Outcome, Source, deliver_to_recipients};
use crate::mailbox;
use crate::remote::{self, Connection};
use crate::routing::Route;
use crate::source::{Committed, Listed, Mailbox, SourceError};
use crate::state::{Known, MailboxKey, Record, StateError};

/// What one poll did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollReport {
    /// Messages the server listed.
    pub listed: usize,
    /// Messages delivered to the local server in this poll.
    pub delivered: usize,
    /// Bytes of the messages delivered.
    pub bytes: u64,
    /// Messages already delivered earlier (by UID or digest) and not delivered again.
    pub already_delivered: usize,
    /// Remote deletions the server confirmed.
    pub deleted: usize,
    /// Messages left on the server, each with the reason.
    pub left_on_server: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PollError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    State(#[from] StateError),
    /// The local server could not take mail now; the poll stopped and retries later.
    #[error("delivery deferred: {0}")]
    Deferred(DeliveryError),
    /// Some messages could not be delivered and stay on the server.
    #[error("{count} message(s) left on the server: {first}")]
    Undelivered { count: usize, first: String },
}

fn hex_digest(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for byte in digest {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// Whether a message recorded (delivered) at `delivered_at` is to be removed from the server
/// at `now` (both Unix seconds): always in `delete` mode (its earlier deletion was rolled
/// back), never in `keep` mode, and with `keep_days = N` once the record is more than N days
/// old. A clock that went backwards never makes a message old.
pub fn remove_recorded(policy: AfterDelivery, delivered_at: i64, now: i64) -> bool {
    match policy {
        AfterDelivery::Delete => true,
        AfterDelivery::Keep => false,
        AfterDelivery::KeepDays(days) => {
            now.saturating_sub(delivered_at) > i64::from(days).saturating_mul(86_400)
        }
    }
}

/// Messages deferred (4xx) one after the other by the local server that make the deferral
/// the server's, not a message's: the poll stops there.
pub const DEFERRED_IN_A_ROW_STOP: usize = 3;

/// Whether a deferral belongs to the message in hand (skip it, go on with the rest) rather than
/// to the local server as a whole (stop the poll): only a 4xx reply to this transaction, and
/// fewer than [`DEFERRED_IN_A_ROW_STOP`] of them in a row. An unreachable server, TLS trouble
/// or a run of 4xx replies stop the poll.
pub fn skips_one_message(err: &DeliveryError, deferred_in_a_row: usize) -> bool {
    // 421: the server is closing the channel, not judging the message.
    let one_message =
        matches!(err, DeliveryError::Transient { reply, .. } if !reply.contains("(421)"));
    one_message && deferred_in_a_row < DEFERRED_IN_A_ROW_STOP
}

/// Polls `profile` once.
#[tracing::instrument(name = "poll", skip_all, fields(profile = %profile.name))]
pub async fn poll(ctx: &PollContext, profile: &Profile) -> Result<PollReport, PollError> {
    ctx.store.begin_poll(&profile.name).await?;
    mailbox::settle(&ctx.store, profile).await?;
    let mut report = PollReport::default();
    match remote::connect(ctx, profile).await? {
        Connection::Pop3(mailbox) => {
            let with = mailbox.with_label();
            poll_mailbox(ctx, profile, mailbox, with, &mut report).await?;
        }
        Connection::Imap(mut conn) => {
            let with = conn.with_label();
            let mut result = Ok(());
            for folder in &profile.remote.folders {
                if ctx.cancel.is_cancelled() {
                    break;
                }
                result = match conn.open_folder(folder).await {
                    Ok(mailbox) => poll_mailbox(ctx, profile, mailbox, with, &mut report).await,
                    Err(err) => Err(err.into()),
                };
                if result.is_err() {
                    break;
                }
            }
            conn.logout().await;
            result?;
        }
    }
    finish(report)
}

/// Processes one mailbox (the POP3 mailbox, or one IMAP folder) and commits its deletions.
async fn poll_mailbox<M: Mailbox>(
    ctx: &PollContext,
    profile: &Profile,
    mut mailbox: M,
    with: &str,
    report: &mut PollReport,
) -> Result<(), PollError> {
    let mut progress = Progress::default();
    let left_before = report.left_on_server.len();
    let outcome = process(ctx, profile, &mut mailbox, with, report, &mut progress).await;
    let key = mailbox.key().clone();
    // Clean: every listed message is delivered and recorded (now or earlier).
    let clean =
        outcome.is_ok() && !progress.stopped_early && report.left_on_server.len() == left_before;
    // Commit (QUIT, EXPUNGE) even after a failure: every deletion so far is of a recorded
    // message.
    let committed = mailbox.commit(clean).await;
    if let Ok(Committed::All) = committed {
        report.deleted += progress.to_confirm.len();
        ctx.store.mark_deleted(&key, progress.to_confirm).await?;
    }
    outcome?;
    committed?;
    ctx.store
        .forget_deleted_missing(&key, progress.present)
        .await?;
    Ok(())
}

fn finish(report: PollReport) -> Result<PollReport, PollError> {
    match report.left_on_server.first() {
        None => Ok(report),
        Some(first) => Err(PollError::Undelivered {
            count: report.left_on_server.len(),
            first: first.clone(),
        }),
    }
}

#[derive(Default)]
struct Progress {
    /// UIDs deleted in this session, to be marked once the server commits.
    to_confirm: Vec<String>,
    /// UIDs the server listed.
    present: HashSet<String>,
    /// The poll stopped (shutdown) before it went through every listed message.
    stopped_early: bool,
}

/// Whether a message listed under a recorded UID is the recorded message.
enum Check {
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

async fn process<M: Mailbox>(
    ctx: &PollContext,
    profile: &Profile,
    mailbox: &mut M,
    with: &str,
    report: &mut PollReport,
    progress: &mut Progress,
) -> Result<(), PollError> {
    let route = &Route::for_profile(profile, ctx.store.installation_id());
    let delete = profile.after_delivery == AfterDelivery::Delete;
    let key: MailboxKey = mailbox.key().clone();
    let listed = mailbox.list().await?;
    report.listed += listed.len();
    let known = ctx.store.known(&key).await?;
    let now = ctx.now();
    let remove = |record: &Known| remove_recorded(profile.after_delivery, record.delivered_at, now);
    progress.present = listed.iter().filter_map(|m| m.uid.clone()).collect();
    let to_confirm = &mut progress.to_confirm;
    // Messages the local server deferred one after the other (reset by any other outcome).
    let mut deferred_in_a_row = 0;

    for message in &listed {
        if ctx.cancel.is_cancelled() {
            info!("shutting down: stopping before the next message");
            progress.stopped_early = true;
            break;
        }
        let mut fetched = None;
        if let Some(uid) = &message.uid
            && let Some(record) = known.get(uid)
        {
            let max = profile.remote.max_message_bytes;
            match check_recorded(mailbox, message, uid, record, remove(record), max).await? {
                // Delivered earlier: its deletion was rolled back, it is kept, or it is kept
                // for `keep_days` and may now be old enough to go.
                Check::Recorded => {
                    if remove(record) {
                        if !delete {
                            info!(uid = %uid, "kept for keep_days and now older; deleting from the server");
                        }
                        mailbox.delete(message).await?;
                        to_confirm.push(uid.clone());
                    }
                    continue;
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
            continue;
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
            if remove(record) {
                mailbox.delete(message).await?;
                to_confirm.push(uid);
            }
            continue;
        }
        let message_id = deliver::header_value(&raw, "Message-ID");
        let outcome = if ctx.store.digest_known(&key.account, &digest).await? {
            info!(uid = %uid, "already delivered under another UID; not delivering again");
            Outcome::AlreadyDelivered
        } else {
            let source = Source {
                key: &key,
                with,
                uid: &uid,
                digest: &digest,
                unix_time: now_secs(),
            };
            deliver_to_recipients(ctx, profile, route, &mut raw, &source).await?
        };
        let (recipients, dedupe_key, reply) = match outcome {
            Outcome::Delivered {
                recipients,
                reply,
                dedupe_key,
            } => (recipients, dedupe_key, Some(reply)),
            Outcome::AlreadyDelivered => (Vec::new(), None, None),
            Outcome::Deferred(err) => {
                deferred_in_a_row += 1;
                if !skips_one_message(&err, deferred_in_a_row) {
                    warn!(uid = %uid, error = %err, "delivery deferred; the message stays on the server and the poll stops");
                    return Err(PollError::Deferred(err));
                }
                warn!(uid = %uid, error = %err, "the local server deferred this message only; it stays on the server and the poll goes on");
                report.left_on_server.push(format!("{uid}: {err}"));
                continue;
            }
            Outcome::Refused(why) => {
                deferred_in_a_row = 0;
                error!(uid = %uid, error = %why, "DELIVERY REFUSED; the message stays on the server");
                report.left_on_server.push(format!("{uid}: {why}"));
                continue;
            }
        };
        deferred_in_a_row = 0;
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
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Clock;
    use crate::deliver::Deliverer;
    use crate::source::Listed;
    use crate::state::Store;
    use tokio_util::sync::CancellationToken;

    const DAY: i64 = 86_400;

    #[test]
    fn only_a_4xx_to_one_message_skips_it_and_a_run_of_them_stops_the_poll() {
        let transient = DeliveryError::Transient {
            server: "s".into(),
            reply: "451 busy".into(),
        };
        assert!(skips_one_message(&transient, 1));
        assert!(skips_one_message(&transient, DEFERRED_IN_A_ROW_STOP - 1));
        assert!(!skips_one_message(&transient, DEFERRED_IN_A_ROW_STOP));
        let closing = DeliveryError::Transient {
            server: "s".into(),
            reply: "transient error (421): 4.3.0 closing".into(),
        };
        assert!(!skips_one_message(&closing, 1));
        let unreachable = DeliveryError::Unreachable {
            server: "s".into(),
            reason: "refused".into(),
        };
        assert!(!skips_one_message(&unreachable, 1));
        let tls = DeliveryError::Tls {
            server: "s".into(),
            reason: "bad".into(),
        };
        assert!(!skips_one_message(&tls, 1));
    }

    #[test]
    fn the_age_decision_follows_the_policy() {
        let t0 = 1_700_000_000;
        assert!(remove_recorded(AfterDelivery::Delete, t0, t0));
        assert!(!remove_recorded(AfterDelivery::Keep, t0, t0 + 10_000 * DAY));
        let fourteen = AfterDelivery::KeepDays(14);
        assert!(!remove_recorded(fourteen, t0, t0));
        assert!(!remove_recorded(fourteen, t0, t0 + 14 * DAY));
        assert!(remove_recorded(fourteen, t0, t0 + 14 * DAY + 1));
        assert!(remove_recorded(fourteen, t0, t0 + 400 * DAY));
        // A clock that went backwards, or a record from the future, is never old.
        assert!(!remove_recorded(fourteen, t0, t0 - 30 * DAY));
        assert!(!remove_recorded(fourteen, i64::MAX, i64::MIN));
        assert!(remove_recorded(
            AfterDelivery::KeepDays(3650),
            0,
            3651 * DAY
        ));
    }

    /// A mailbox that lists fixed UIDs and remembers which were deleted; a fetch is an error
    /// of the test unless `body` is set.
    struct FakeMailbox {
        key: MailboxKey,
        uids: Vec<u32>,
        deleted: Vec<u32>,
        body: Option<Vec<u8>>,
        fetched: usize,
    }

    impl Mailbox for FakeMailbox {
        fn key(&self) -> &MailboxKey {
            &self.key
        }
        async fn list(&mut self) -> Result<Vec<Listed>, SourceError> {
            Ok(self
                .uids
                .iter()
                .map(|&n| Listed {
                    number: n,
                    uid: Some(n.to_string()),
                    size: Some(100),
                })
                .collect())
        }
        async fn fetch(&mut self, message: &Listed) -> Result<Vec<u8>, SourceError> {
            self.fetched += 1;
            match &self.body {
                Some(body) => Ok(body.clone()),
                None => panic!("a recorded message was fetched again: {message:?}"),
            }
        }
        async fn delete(&mut self, message: &Listed) -> Result<(), SourceError> {
            self.deleted.push(message.number);
            Ok(())
        }
        async fn commit(self, _clean: bool) -> Result<Committed, SourceError> {
            Ok(Committed::All)
        }
    }

    fn profile(after_delivery: &str) -> Profile {
        let text = format!(
            "[[profile]]\nname = \"p\"\nafter_delivery = {after_delivery}\n\
             [profile.remote]\nhost = \"h.example\"\nusername = \"u\"\npassword = {{ env = \"X\" }}\n\
             [profile.local]\nuser = \"alice\"\ndomain = \"d.example\"\n"
        );
        let config = mailpull_shared::config::parse(&text, "test.toml").expect("config");
        config.profiles[0].clone()
    }

    fn real_now() -> i64 {
        now_secs()
    }
    fn in_13_days() -> i64 {
        now_secs() + 13 * DAY
    }
    fn in_15_days() -> i64 {
        now_secs() + 15 * DAY
    }

    const BODY: &[u8] = b"Subject: recorded\r\n\r\nhello\r\n";

    async fn run(clock: Clock, after_delivery: &str) -> (Vec<u32>, Vec<String>) {
        let (deleted, confirmed, fetched) = run_with(clock, after_delivery, Some(100)).await;
        assert_eq!(fetched, 0, "the listed size agrees: nothing fetched");
        (deleted, confirmed)
    }

    /// Two recorded messages listed at 100 bytes, recorded with `remote_size` and the digest
    /// of [`BODY`]: what was deleted, confirmed, and how many fetches it took.
    async fn run_with(
        clock: Clock,
        after_delivery: &str,
        remote_size: Option<u64>,
    ) -> (Vec<u32>, Vec<String>, usize) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let key = MailboxKey {
            account: "imap://u@h.example:993".into(),
            folder: "INBOX".into(),
            uidvalidity: 7,
        };
        for uid in ["1", "2"] {
            store
                .record(Record {
                    key: key.clone(),
                    uid: uid.into(),
                    profile: "p".into(),
                    size: 100,
                    remote_size,
                    digest: hex_digest(BODY),
                    message_id: None,
                    recipients: vec!["alice@d.example".into()],
                    dedupe_key: None,
                })
                .await
                .expect("record");
        }
        let ctx =
            PollContext::new(store, Deliverer::new(1), CancellationToken::new()).with_clock(clock);
        let mut mailbox = FakeMailbox {
            key,
            uids: vec![1, 2],
            deleted: Vec::new(),
            body: Some(BODY.to_vec()),
            fetched: 0,
        };
        let mut report = PollReport::default();
        let mut progress = Progress::default();
        process(
            &ctx,
            &profile(after_delivery),
            &mut mailbox,
            "IMAP",
            &mut report,
            &mut progress,
        )
        .await
        .expect("process");
        assert_eq!(report.delivered, 0);
        (mailbox.deleted, progress.to_confirm, mailbox.fetched)
    }

    #[tokio::test]
    async fn a_record_without_a_listed_size_is_checked_by_digest_before_deletion() {
        // Rows from before schema version 2: the message is fetched, recognised, deleted.
        let (deleted, confirmed, fetched) = run_with(real_now, "\"delete\"", None).await;
        assert_eq!((deleted, confirmed.len(), fetched), (vec![1, 2], 2, 2));
        // Nothing to delete, nothing to check.
        assert_eq!(
            run_with(real_now, "\"keep\"", None).await,
            (vec![], vec![], 0)
        );
    }

    #[tokio::test]
    async fn a_listed_size_that_differs_is_settled_by_the_digest() {
        // The server lists another size now, but the bytes are those recorded: the same
        // message, deleted without a second delivery.
        let (deleted, _, fetched) = run_with(real_now, "\"delete\"", Some(99)).await;
        assert_eq!((deleted, fetched), (vec![1, 2], 2));
        let (deleted, _, fetched) = run_with(real_now, "\"keep\"", Some(99)).await;
        assert_eq!((deleted, fetched), (vec![], 2));
    }

    #[tokio::test]
    async fn recorded_messages_are_deleted_only_once_older_than_keep_days() {
        let keep14 = "{ keep_days = 14 }";
        assert_eq!(run(real_now, keep14).await, (vec![], vec![]));
        assert_eq!(run(in_13_days, keep14).await, (vec![], vec![]));
        assert_eq!(
            run(in_15_days, keep14).await,
            (vec![1, 2], vec!["1".to_string(), "2".to_string()])
        );
        assert_eq!(run(in_15_days, "\"keep\"").await, (vec![], vec![]));
        assert_eq!(run(real_now, "\"delete\"").await.0, vec![1, 2]);
    }
}
