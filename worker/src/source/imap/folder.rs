//! One selected IMAP folder as a [`Mailbox`]: listed by `UID SEARCH` (sizes from
//! `RFC822.SIZE`), fetched with `UID FETCH BODY.PEEK[]` (never setting \Seen), deleted by
//! flagging \Deleted, committed with `UID EXPUNGE` of this session's UIDs where UIDPLUS is
//! offered, else with a plain `EXPUNGE` only after a clean poll of the folder (a plain EXPUNGE
//! also removes what another client flagged \Deleted; after a clean poll that mail has been
//! delivered too).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use futures::TryStreamExt;

use super::connect::{ImapConnection, ReadCap, timed};
use crate::source::{Committed, Listed, Mailbox, SourceError};
use crate::state::MailboxKey;

impl ImapConnection {
    /// SELECTs `folder` (read-write, so that \Deleted can be set).
    pub async fn open_folder(&mut self, folder: &str) -> Result<ImapFolder<'_>, SourceError> {
        let mailbox = timed(
            (&self.server, &self.closed),
            self.timeout,
            &format!("SELECT {folder}"),
            self.session.select(folder),
        )
        .await?;
        let uidvalidity = mailbox.uid_validity.unwrap_or(0);
        Ok(ImapFolder {
            key: MailboxKey {
                account: self.account.clone(),
                folder: folder.to_string(),
                uidvalidity,
            },
            exists: mailbox.exists,
            flagged: Vec::new(),
            conn: self,
        })
    }
}

/// One selected folder.
pub struct ImapFolder<'a> {
    conn: &'a mut ImapConnection,
    key: MailboxKey,
    exists: u32,
    /// UIDs flagged \Deleted in this session, expunged by [`Mailbox::commit`].
    flagged: Vec<u32>,
}

/// `1:3,7,9:10` for a sorted list of UIDs.
pub fn uid_set(uids: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end + 1 {
            i += 1;
            end = uids[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            let _ = write!(out, "{start}");
        } else {
            let _ = write!(out, "{start}:{end}");
        }
        i += 1;
    }
    out
}

/// What a FETCH response may hold around the body (the untagged FETCH line, flags, the
/// tagged reply, untagged EXISTS/EXPUNGE) within the read limit of a fetch.
const FETCH_FRAMING: u64 = 64 * 1024;

/// Lifts the read limit when the fetch ends, however it ends.
struct Lift(Arc<ReadCap>);

impl Drop for Lift {
    fn drop(&mut self) {
        self.0.lift();
    }
}

impl ImapFolder<'_> {
    /// The fetch itself ([`Mailbox::fetch`] puts the read limit around it). A body over the
    /// size limit that came whole (within the read limit's margin) leaves the connection in
    /// step: [`SourceError::Message`].
    async fn fetch_body(&mut self, message: &Listed) -> Result<Vec<u8>, SourceError> {
        let conn = &mut *self.conn;
        let (server, closed) = (conn.server.clone(), conn.closed.clone());
        let timeout =
            crate::source::fetch_timeout(conn.timeout, message.size, conn.max_message_bytes);
        let one_message = |reason: String| SourceError::Message {
            server: server.clone(),
            number: message.number,
            reason,
        };
        let context = format!("UID FETCH {} BODY.PEEK[]", message.number);
        let stream = timed(
            (&server, &closed),
            timeout,
            &context,
            conn.session
                .uid_fetch(message.number.to_string(), "BODY.PEEK[]"),
        )
        .await?;
        // A tagged NO judges this message; anything else is the connection's.
        let collect = async {
            match stream.try_collect::<Vec<_>>().await {
                Err(async_imap::error::Error::No(text)) => Ok(Err(text)),
                other => other.map(Ok),
            }
        };
        let fetches = match timed((&server, &closed), timeout, &context, collect).await? {
            Ok(fetches) => fetches,
            Err(text) => return Err(one_message(format!("{context} answered NO {text}"))),
        };
        let body = fetches
            .iter()
            .find(|fetch| fetch.uid == Some(message.number))
            .and_then(|fetch| fetch.body())
            .filter(|body| !body.is_empty())
            .ok_or_else(|| {
                one_message(format!(
                    "{context}: the server returned no message body (message gone?)"
                ))
            })?;
        if body.len() as u64 > conn.max_message_bytes {
            return Err(one_message(format!(
                "{context}: message of {} bytes exceeds max_message_mb",
                body.len()
            )));
        }
        // Room for the trace header, which is prepended in place.
        let mut message = Vec::with_capacity(body.len() + 1024);
        message.extend_from_slice(body);
        Ok(message)
    }
}

impl Mailbox for ImapFolder<'_> {
    /// async-imap's read buffer (grown by doubling: up to twice the body) beside our copy of
    /// the body while it is fetched; then the body and lettre's dot-stuffed copy.
    const COPIES: u64 = 3;

    fn key(&self) -> &MailboxKey {
        &self.key
    }

    async fn list(&mut self) -> Result<Vec<Listed>, SourceError> {
        if self.exists == 0 {
            return Ok(Vec::new());
        }
        let conn = &mut *self.conn;
        let (server, timeout, closed) = (conn.server.clone(), conn.timeout, conn.closed.clone());
        let mut uids: Vec<u32> = timed(
            (&server, &closed),
            timeout,
            "UID SEARCH ALL",
            conn.session.uid_search("ALL"),
        )
        .await?
        .into_iter()
        .collect();
        uids.sort_unstable();
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        let stream = timed(
            (&server, &closed),
            timeout,
            "UID FETCH RFC822.SIZE",
            conn.session.uid_fetch(uid_set(&uids), "RFC822.SIZE"),
        )
        .await?;
        let fetches: Vec<_> = timed(
            (&server, &closed),
            timeout,
            "UID FETCH RFC822.SIZE",
            stream.try_collect::<Vec<_>>(),
        )
        .await?;
        let sizes: HashMap<u32, u64> = fetches
            .iter()
            .filter_map(|fetch| Some((fetch.uid?, u64::from(fetch.size?))))
            .collect();
        while conn.session.unsolicited_responses.try_recv().is_ok() {}
        Ok(uids
            .into_iter()
            .map(|uid| Listed {
                number: uid,
                uid: Some(uid.to_string()),
                size: sizes.get(&uid).copied(),
            })
            .collect())
    }

    /// `UID FETCH BODY.PEEK[]` within [`crate::source::fetch_timeout`] of the announced size,
    /// reading no more than the size limit ([`ReadCap`]). A NO, no body or an empty one leave
    /// the connection in step: [`SourceError::Message`], the poll skips this message. A body
    /// over the limit is stopped while it is read: [`SourceError::ImapMessageTooLarge`], the
    /// connection is out of step.
    async fn fetch(&mut self, message: &Listed) -> Result<Vec<u8>, SourceError> {
        let conn = &*self.conn;
        let cap = conn.cap.clone();
        cap.set(conn.max_message_bytes.saturating_add(FETCH_FRAMING));
        let _lift = Lift(cap.clone());
        let (server, limit_mb) = (conn.server.clone(), conn.max_message_bytes / (1024 * 1024));
        match self.fetch_body(message).await {
            Err(_) if cap.went_over() => Err(SourceError::ImapMessageTooLarge {
                server,
                number: message.number,
                limit_mb,
            }),
            other => other,
        }
    }

    async fn delete(&mut self, message: &Listed) -> Result<(), SourceError> {
        let conn = &mut *self.conn;
        let (server, timeout, closed) = (conn.server.clone(), conn.timeout, conn.closed.clone());
        let context = format!("UID STORE {} +FLAGS (\\Deleted)", message.number);
        let stream = timed(
            (&server, &closed),
            timeout,
            &context,
            conn.session
                .uid_store(message.number.to_string(), "+FLAGS.SILENT (\\Deleted)"),
        )
        .await?;
        timed(
            (&server, &closed),
            timeout,
            &context,
            stream.try_collect::<Vec<_>>(),
        )
        .await?;
        self.flagged.push(message.number);
        Ok(())
    }

    /// Removes the messages flagged in this session: `UID EXPUNGE` of their UIDs, or without
    /// UIDPLUS a plain `EXPUNGE` when the poll was `clean`; otherwise they stay flagged.
    async fn commit(self, clean: bool) -> Result<Committed, SourceError> {
        if self.flagged.is_empty() {
            return Ok(Committed::All);
        }
        if !self.conn.uidplus && !clean {
            tracing::warn!(
                folder = %self.key.folder,
                flagged = self.flagged.len(),
                "the server offers no UIDPLUS and this poll of the folder did not get through \
                 every message: not expunging (a plain EXPUNGE would also remove messages \
                 another client flagged \\Deleted that were not delivered yet); the delivered \
                 messages stay flagged and the next clean poll removes them"
            );
            return Ok(Committed::Deferred);
        }
        let mut uids = self.flagged;
        uids.sort_unstable();
        let conn = self.conn;
        let (server, timeout, closed) = (conn.server.clone(), conn.timeout, conn.closed.clone());
        if conn.uidplus {
            let set = uid_set(&uids);
            let stream = timed(
                (&server, &closed),
                timeout,
                "UID EXPUNGE",
                conn.session.uid_expunge(set),
            )
            .await?;
            timed(
                (&server, &closed),
                timeout,
                "UID EXPUNGE",
                stream.try_collect::<Vec<_>>(),
            )
            .await?;
        } else {
            let stream = timed(
                (&server, &closed),
                timeout,
                "EXPUNGE",
                conn.session.expunge(),
            )
            .await?;
            timed(
                (&server, &closed),
                timeout,
                "EXPUNGE",
                stream.try_collect::<Vec<_>>(),
            )
            .await?;
        }
        while conn.session.unsolicited_responses.try_recv().is_ok() {}
        Ok(Committed::All)
    }
}

#[cfg(test)]
mod tests {
    use super::uid_set;

    #[test]
    fn uid_sets_compress_runs() {
        assert_eq!(uid_set(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(uid_set(&[5]), "5");
        assert_eq!(uid_set(&[]), "");
    }
}
