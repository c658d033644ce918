//! Getting one fetched message to its local recipients: who they are (the profile's local user
//! for single-drop, the routing decision for multi-drop), who already has it (multi-drop
//! remembers the recipients of each message per profile by Message-ID and content digest, so
//! only a true copy is suppressed, never another message that reuses a Message-ID), and what happens when the local server refuses a
//! recipient (multi-drop: that recipient's copy goes to the fallback with a header saying why;
//! the message is never bounced to the sender and never dropped). Every send is preceded by
//! its delivery intent in the state database, and the message carries the intent's delivery
//! id ([`DELIVERY_ID_HEADER`]), the same id when it is sent again after a crash or a lost reply.

use mailpull_shared::config::Profile;
use tracing::{debug, info, warn};

use crate::content_digest::content_digest;
use crate::context::PollContext;
use crate::deliver::{self, DeliveryError, TraceInfo};
use crate::routing::Route;
use crate::state::{CopyKey, Intent, MailboxKey, PendingRecord, Record, StateError};

/// The header that carries a delivery's id, right below the trace header: the same in every
/// attempt of one delivery, so the receiving side can drop a copy (Sieve `duplicate`).
pub const DELIVERY_ID_HEADER: &str = "X-Mailpull-Delivery-Id";

/// What became of a message.
#[derive(Debug)]
pub enum Outcome {
    /// The local server accepted it for these recipients.
    Delivered {
        recipients: Vec<String>,
        reply: String,
        /// Multi-drop: the key the recipients are remembered under.
        dedupe_key: Option<CopyKey>,
        /// The delivery's record, already queued for the writer at the 250 (see
        /// [`Source::record`]); `None`: the caller writes the record.
        recorded: Option<PendingRecord>,
    },
    /// Every recipient already has this message (a copy: same Message-ID and content).
    AlreadyDelivered,
    /// The local server cannot take mail now (4xx, unreachable): retry on a later poll.
    Deferred(DeliveryError),
    /// Refused for good and nowhere to put it: stays on the server.
    Refused(String),
}

/// Where the message came from, for the trace header and the delivery intent.
pub struct Source<'a> {
    /// The remote mailbox it was fetched from.
    pub key: &'a MailboxKey,
    pub with: &'a str,
    pub uid: &'a str,
    pub digest: &'a str,
    pub unix_time: i64,
    /// The record of this message's delivery, its recipients left to fill in, where one
    /// transaction delivers the whole message (single-drop, a held message to the fallback;
    /// `None` for multi-drop, which records after all its transactions): it is queued for the
    /// writer on the SMTP lane the moment the 250 is read, not after the poll's task gets round
    /// to it (the crash window).
    pub record: Option<Record>,
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Writes the delivery intent for sending `source` to `recipients` and returns its delivery
/// id (that of the earlier attempt, when there was one).
async fn delivery_id(
    ctx: &PollContext,
    profile: &str,
    source: &Source<'_>,
    recipients: &[String],
) -> Result<String, StateError> {
    let intended = ctx
        .store
        .intend(Intent {
            key: source.key.clone(),
            profile: profile.to_string(),
            uid: source.uid.to_string(),
            digest: source.digest.to_string(),
            recipients: recipients.to_vec(),
        })
        .await?;
    if intended.attempts > 1 {
        info!(uid = %source.uid, delivery_id = %intended.delivery_id, attempt = intended.attempts,
            "an earlier attempt may have reached the local server; sending again under the same delivery id");
    }
    Ok(intended.delivery_id)
}

/// Sends `message` with the trace header, the delivery id header and `extra_headers` in
/// front, after writing the delivery intent. With [`Source::record`], the record (its recipients
/// set to `recipients`) is queued for the writer on the SMTP lane at the 250 and comes back
/// pending. The headers are put into the message's own
/// buffer and taken out again afterwards, so a large message is never held twice (multi-drop
/// may send the same message several times). The outer error: the intent could not be
/// written, and nothing was sent.
async fn send_with_headers(
    ctx: &PollContext,
    profile: &Profile,
    source: &Source<'_>,
    sender: Option<&str>,
    recipients: &[String],
    extra_headers: &str,
    message: &mut Vec<u8>,
) -> Result<Result<(String, Option<PendingRecord>), DeliveryError>, StateError> {
    let id = delivery_id(ctx, &profile.name, source, recipients).await?;
    let id_header = format!("{DELIVERY_ID_HEADER}: {id}\r\n");
    let trace = deliver::trace_header(&TraceInfo {
        remote_host: &profile.remote.host,
        with: source.with,
        uid: source.uid,
        local_host: &ctx.hostname,
        installation_id: ctx.store.installation_id(),
        recipients,
        unix_time: source.unix_time,
    });
    let prefix_len = trace.len() + id_header.len() + extra_headers.len();
    message.splice(
        0..0,
        trace
            .bytes()
            .chain(id_header.bytes())
            .chain(extra_headers.bytes()),
    );
    // The crash window's trace (target `mailpull::delivery`, debug; the crash loop reads it):
    // data going out, then the local server's 250, then the record's write (`state`).
    debug!(target: "mailpull::delivery", delivery_id = %id, account = %source.key.account,
        uid = %source.uid, "smtp transaction begins");
    let (store, account, uid) = (
        ctx.store.clone(),
        source.key.account.clone(),
        source.uid.to_string(),
    );
    let record = source.record.clone().map(|record| Record {
        recipients: recipients.to_vec(),
        ..record
    });
    // Runs on the SMTP lane right after the 250 is read.
    let on_accepted = move |accepted: &deliver::Accepted| {
        debug!(target: "mailpull::delivery", delivery_id = %id, account = %account,
            uid = %uid, "smtp accepted");
        record
            .map(|record| {
                store.record_at_once(Record {
                    shown: record.shown.replied(&accepted.reply),
                    ..record
                })
            })
            .transpose()
    };
    let (back, result) = ctx
        .deliverer
        .send(
            &profile.local,
            deliver::smtp_timeout(profile.remote.timeout),
            sender,
            recipients,
            std::mem::take(message),
            on_accepted,
        )
        .await;
    *message = back;
    if let Some(class) = deliver::reply_class(&result) {
        ctx.metrics.smtp_reply(&profile.name, class);
    }
    // Empty only when the transaction ended without an answer (the poll stops).
    if message.len() >= prefix_len {
        message.drain(..prefix_len);
    }
    Ok(match result {
        Ok((accepted, queued)) => Ok((accepted.reply, queued?)),
        Err(err) => Err(err),
    })
}

/// The header a held message carries when it is delivered to the fallback on request.
pub const HELD_REASON_HEADER: &str = "X-Mailpull-Held-Reason";

/// Delivers a held message to the profile's fallback mailbox (asked for over the pipe), with
/// [`HELD_REASON_HEADER`] saying why it was held. A single-drop route has no fallback (the
/// profile's configuration changed since the request): refused.
pub async fn deliver_held_to_fallback(
    ctx: &PollContext,
    profile: &Profile,
    route: &Route,
    raw: &mut Vec<u8>,
    source: &Source<'_>,
    reason: &str,
) -> Result<Outcome, StateError> {
    let Route::Multi { fallback, .. } = route else {
        return Ok(Outcome::Refused(
            "delivery to the fallback was asked, but the profile has no fallback mailbox".into(),
        ));
    };
    let header = format!("{HELD_REASON_HEADER}: {}\r\n", one_line(reason));
    let fallback = fallback.clone();
    deliver_to_fallback(ctx, profile, &fallback, raw, source, &header).await
}

/// Delivers `raw` to the mailbox `fallback` with `header` (a whole header line, CRLF) below
/// the trace header: a held message on request, or one the profile's filter sent there.
pub async fn deliver_to_fallback(
    ctx: &PollContext,
    profile: &Profile,
    fallback: &str,
    raw: &mut Vec<u8>,
    source: &Source<'_>,
    header: &str,
) -> Result<Outcome, StateError> {
    let sender = deliver::envelope_sender(raw);
    let recipients = [fallback.to_string()];
    let sent = send_with_headers(
        ctx,
        profile,
        source,
        sender.as_deref(),
        &recipients,
        header,
        raw,
    )
    .await?;
    Ok(match sent {
        Ok((reply, recorded)) => {
            info!(uid = %source.uid, fallback = %fallback, "delivered to the fallback mailbox");
            Outcome::Delivered {
                recipients: vec![fallback.to_string()],
                reply,
                dedupe_key: None,
                recorded,
            }
        }
        Err(err) if err.is_transient() => Outcome::Deferred(err),
        Err(err) => Outcome::Refused(format!("the fallback {fallback} refused it: {err}")),
    })
}

/// Delivers `raw` for `profile` along `route`. `raw` is returned unchanged.
pub async fn deliver_to_recipients(
    ctx: &PollContext,
    profile: &Profile,
    route: &Route,
    raw: &mut Vec<u8>,
    source: &Source<'_>,
) -> Result<Outcome, StateError> {
    let sender = deliver::envelope_sender(raw);
    let sender = sender.as_deref();

    let (router, fallback) = match route {
        Route::Single(address) => {
            return Ok(
                match send_with_headers(
                    ctx,
                    profile,
                    source,
                    sender,
                    std::slice::from_ref(address),
                    "",
                    raw,
                )
                .await?
                {
                    Ok((reply, recorded)) => Outcome::Delivered {
                        recipients: vec![address.clone()],
                        reply,
                        dedupe_key: None,
                        recorded,
                    },
                    Err(err) if err.is_transient() => Outcome::Deferred(err),
                    Err(err) => Outcome::Refused(err.to_string()),
                },
            );
        }
        Route::Multi { router, fallback } => (router, fallback),
    };

    let decision = router.decide(raw.as_slice());
    info!(uid = %source.uid, fallback = decision.fallback, reason = %decision.reason, "routed");
    if decision.recipients.is_empty() {
        return Ok(Outcome::Refused(format!(
            "no recipient: {}",
            decision.reason
        )));
    }
    let all: Vec<String> = decision
        .recipients
        .iter()
        .map(|r| r.address.clone())
        .collect();
    let dedupe_key = CopyKey {
        message_id: deliver::header_value(raw.as_slice(), "Message-ID")
            .map(|id| id.trim().to_string())
            .unwrap_or_default(),
        content: content_digest(raw.as_slice()),
    };
    let have = ctx
        .store
        .already_sent(&profile.name, &dedupe_key, &all)
        .await?;
    let remaining: Vec<String> = all.into_iter().filter(|r| !have.contains(r)).collect();
    if remaining.is_empty() {
        info!(uid = %source.uid, message_id = %dedupe_key.message_id, content = %dedupe_key.content, "every recipient already has a copy of this message");
        return Ok(Outcome::AlreadyDelivered);
    }
    let note = if decision.fallback {
        format!("X-Mailpull-Fallback: {}\r\n", one_line(&decision.reason))
    } else {
        String::new()
    };

    // The usual case: one transaction for every recipient.
    let first_error =
        match send_with_headers(ctx, profile, source, sender, &remaining, &note, raw).await? {
            Ok((reply, _)) => {
                return Ok(Outcome::Delivered {
                    recipients: remaining,
                    reply,
                    dedupe_key: Some(dedupe_key),
                    recorded: None,
                });
            }
            Err(err) if err.is_transient() => return Ok(Outcome::Deferred(err)),
            Err(err) => err,
        };

    // A 5xx: find out which recipients the local server refuses, one by one. Each one that
    // succeeds is remembered at once, so a later retry cannot deliver it twice.
    let mut delivered = Vec::new();
    let mut refused: Vec<(String, String)> = Vec::new();
    let mut last_reply = String::new();
    if remaining.len() == 1 {
        refused.push((remaining[0].clone(), first_error.to_string()));
    } else {
        for recipient in &remaining {
            match send_with_headers(
                ctx,
                profile,
                source,
                sender,
                std::slice::from_ref(recipient),
                &note,
                raw,
            )
            .await?
            {
                Ok((reply, _)) => {
                    ctx.store
                        .record_sent(&dedupe_key, &profile.name, std::slice::from_ref(recipient))
                        .await?;
                    delivered.push(recipient.clone());
                    last_reply = reply;
                }
                Err(err) if err.is_transient() => return Ok(Outcome::Deferred(err)),
                Err(err) => refused.push((recipient.clone(), err.to_string())),
            }
        }
    }
    for (recipient, why) in &refused {
        warn!(uid = %source.uid, recipient = %recipient, error = %why, "recipient refused by the local server; its copy goes to the fallback {fallback}");
    }
    // The fallback receives one copy for the refused recipients, unless it already has one.
    if !refused.is_empty() && !delivered.contains(fallback) {
        let names: Vec<&str> = refused.iter().map(|(r, _)| r.as_str()).collect();
        if names.contains(&fallback.as_str()) {
            return Ok(Outcome::Refused(format!(
                "the local server refused {} including the fallback",
                names.join(", ")
            )));
        }
        let headers: String = refused
            .iter()
            .map(|(recipient, why)| {
                format!(
                    "X-Mailpull-Fallback: local server refused <{recipient}>: {}\r\n",
                    one_line(why)
                )
            })
            .collect();
        let to_fallback = std::slice::from_ref(fallback);
        match send_with_headers(ctx, profile, source, sender, to_fallback, &headers, raw).await? {
            Ok((reply, _)) => {
                delivered.push(fallback.clone());
                last_reply = reply;
            }
            Err(err) if err.is_transient() => return Ok(Outcome::Deferred(err)),
            Err(err) => {
                return Ok(Outcome::Refused(format!(
                    "the local server refused {} and the fallback {fallback}: {err}",
                    names.join(", ")
                )));
            }
        }
    }
    Ok(Outcome::Delivered {
        recipients: delivered,
        reply: last_reply,
        dedupe_key: Some(dedupe_key),
        recorded: None,
    })
}
