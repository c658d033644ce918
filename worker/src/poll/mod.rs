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
//!    delivered as new (`message::check_recorded`);
//! 5. without UIDPLUS, IMAP can only EXPUNGE every message flagged \Deleted, also those
//!    another client flagged: that happens only after a clean poll of the folder, when every
//!    listed message has been delivered ([`crate::source::Committed`]).

//!
//! Layout:
//! - this file: the poll of a profile and of each of its mailboxes (list, walk the messages,
//!   commit the deletions);
//! - `message`: one message, step by step (fetch → route → deliver → record → decide);
//! - `retry`: the policy, as pure functions: which failures belong to one message and which
//!   stop the poll.

use std::collections::HashSet;

use mailpull_shared::config::{AfterDelivery, Profile};
use sha2::{Digest, Sha256};
use tracing::info;

use crate::context::PollContext;
use crate::deliver::DeliveryError;
use crate::mailbox;
use crate::metrics::{FailureKind, PollOutcome};
use crate::remote::{self, Connection};
use crate::routing::Route;
use crate::source::{Committed, Mailbox, SourceError};
use crate::state::StateError;

mod message;
mod retry;
#[cfg(test)]
mod tests;

pub use retry::{DEFERRED_IN_A_ROW_STOP, skips_one_message};

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
    /// Messages not fetched because their next attempt is later.
    pub waiting: usize,
    /// Held messages left on the server (see `mailpull-worker held`).
    pub held: usize,
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

impl PollError {
    /// How this poll ended for the metrics: messages left on the server are counted one by
    /// one where they failed, so such a poll went through its mailbox.
    pub fn metrics_outcome(&self) -> PollOutcome {
        match self {
            PollError::Source(err) if err.needs_sign_in() => {
                PollOutcome::Failed(FailureKind::SignIn)
            }
            PollError::Source(_) => PollOutcome::Failed(FailureKind::Remote),
            PollError::State(_) => PollOutcome::Failed(FailureKind::State),
            PollError::Deferred(_) => PollOutcome::Failed(FailureKind::LocalServer),
            PollError::Undelivered { .. } => PollOutcome::Completed,
        }
    }
}

/// What a poll's result says about the profile failing and about its sign-in, for the
/// alerts. Messages left on the server are not a failing profile (held messages are their
/// own alert); a sign-in error says nothing about other failures, and another error nothing
/// about the sign-in — except a deferred delivery: a message was fetched, so the login (and
/// the sign-in) worked, and a sign-in alert's recovery need not wait for the local server.
pub fn alert_seen(result: &Result<PollReport, PollError>) -> crate::alerts::PollSeen {
    use crate::alerts::{PollSeen, Seen};
    match result {
        Ok(_) | Err(PollError::Undelivered { .. }) => PollSeen {
            failing: Seen::Clear,
            sign_in: Seen::Clear,
        },
        Err(PollError::Source(err)) if err.needs_sign_in() => PollSeen {
            failing: Seen::Unknown,
            sign_in: Seen::Active(err.to_string()),
        },
        Err(err @ PollError::Deferred(_)) => PollSeen {
            failing: Seen::Active(err.to_string()),
            sign_in: Seen::Clear,
        },
        Err(err) => PollSeen {
            failing: Seen::Active(err.to_string()),
            sign_in: Seen::Unknown,
        },
    }
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

/// Polls `profile` once.
pub async fn poll(ctx: &PollContext, profile: &Profile) -> Result<PollReport, PollError> {
    let mut report = PollReport::default();
    poll_into(ctx, profile, &mut report).await?;
    finish(report)
}

/// Polls `profile` once, counting into `report` as it goes: what was delivered stays counted
/// there when the poll fails later (a message left on the server, the local server gone,
/// the connection cut), for the status board. [`finish`] then says whether every listed
/// message was taken care of.
#[tracing::instrument(name = "poll", skip_all, fields(profile = %profile.name))]
pub async fn poll_into(
    ctx: &PollContext,
    profile: &Profile,
    report: &mut PollReport,
) -> Result<(), PollError> {
    ctx.store.begin_poll(&profile.name).await?;
    mailbox::settle(&ctx.store, profile).await?;
    match remote::connect(ctx, profile).await? {
        Connection::Pop3(mailbox) => {
            let with = mailbox.with_label();
            poll_mailbox(ctx, profile, mailbox, with, report).await?;
        }
        Connection::Imap(mut conn) => {
            let with = conn.with_label();
            let mut result = Ok(());
            for folder in &profile.remote.folders {
                if ctx.cancel.is_cancelled() {
                    break;
                }
                result = match conn.open_folder(folder).await {
                    Ok(mailbox) => poll_mailbox(ctx, profile, mailbox, with, report).await,
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
    Ok(())
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
    let clean = outcome.is_ok()
        && !progress.stopped_early
        && !progress.skipped
        && report.left_on_server.len() == left_before;
    // Commit (QUIT, EXPUNGE) even after a failure: every deletion so far is of a recorded
    // message.
    let committed = mailbox.commit(clean).await;
    if let Ok(Committed::All) = committed {
        report.deleted += progress.to_confirm.len() + progress.dropped.len();
        ctx.store.mark_deleted(&key, progress.to_confirm).await?;
        for uid in &progress.dropped {
            ctx.store.clear_attempt(&key, uid).await?;
        }
    }
    outcome?;
    committed?;
    ctx.store
        .forget_attempts_missing(&key, &progress.present | &progress.seen_digests)
        .await?;
    ctx.store
        .forget_deleted_missing(&key, progress.present)
        .await?;
    Ok(())
}

/// The report of a poll that went through its mailboxes, or [`PollError::Undelivered`] when
/// it left messages on the server.
pub fn finish(report: PollReport) -> Result<PollReport, PollError> {
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
    /// POP3 without UIDL: the `sha256:` ids of the messages fetched.
    seen_digests: HashSet<String>,
    /// The poll stopped (shutdown) before it went through every listed message.
    stopped_early: bool,
    /// A listed message was left on the server (failed, waiting or held).
    skipped: bool,
    /// Held messages deleted on the server by the explicit action: their attempts are
    /// forgotten once the server commits.
    dropped: Vec<String>,
}

/// Lists `mailbox` and takes every listed message through [`message::Walk::step`], until
/// the end, a shutdown, or a failure that stops the poll.
async fn process<M: Mailbox>(
    ctx: &PollContext,
    profile: &Profile,
    mailbox: &mut M,
    with: &str,
    report: &mut PollReport,
    progress: &mut Progress,
) -> Result<(), PollError> {
    let key = mailbox.key().clone();
    let listed = mailbox.list().await?;
    report.listed += listed.len();
    let known = ctx.store.known(&key).await?;
    let attempts = ctx.store.attempts(&key).await?;
    progress.present = listed.iter().filter_map(|m| m.uid.clone()).collect();
    let mut walk = message::Walk {
        ctx,
        profile,
        route: Route::for_profile(profile, ctx.store.installation_id()),
        key,
        known,
        attempts,
        now: ctx.now(),
        with,
        deferred_in_a_row: 0,
        deferred_run: Vec::new(),
    };
    for message in &listed {
        if ctx.cancel.is_cancelled() {
            info!("shutting down: stopping before the next message");
            progress.stopped_early = true;
            break;
        }
        walk.step(mailbox, message, report, progress).await?;
    }
    Ok(())
}
