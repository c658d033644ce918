//! Held messages on the wire: the rows of [`crate::ipc::Request::ListHeld`] (also what
//! `mailpull-worker held --json` prints) and the actions of
//! [`crate::ipc::Request::HeldAction`]. Added within protocol version 1: an older worker
//! answers these requests with a bad-request error.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A message that failed on its own too often: it stays on the remote server and is not
/// retried automatically. Times are seconds since the Unix epoch (UTC).
///
/// `from`, `subject`, `date` and `size` say what the message is; they were added within
/// protocol version 1 (`#[serde(default)]`: an older worker's rows read as not known) and are
/// `None` when no attempt got as far as downloading the message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldMessage {
    pub profile: String,
    /// The remote mailbox (`username@host`).
    pub mailbox: String,
    /// The IMAP folder; empty for POP3.
    pub folder: String,
    /// The IMAP UIDVALIDITY of the folder; 0 for POP3.
    pub uidvalidity: u32,
    /// The IMAP UID or POP3 UIDL (`sha256:…` for a POP3 server without UIDL).
    pub uid: String,
    /// Why the last attempt failed.
    pub reason: String,
    pub first_attempt: i64,
    pub last_attempt: i64,
    pub attempts: u32,
    /// An action asked for and not carried out yet (`fallback` or `delete`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_action: Option<String>,
    /// The message's From (display name and address), decoded; empty when it has none.
    #[serde(default)]
    pub from: Option<String>,
    /// The message's Subject, decoded; empty when it has none.
    #[serde(default)]
    pub subject: Option<String>,
    /// The message's own Date header; `None` also when it has none that reads as a date.
    #[serde(default)]
    pub date: Option<i64>,
    /// The message's size in bytes, as downloaded.
    #[serde(default)]
    pub size: Option<u64>,
}

impl HeldMessage {
    /// Whether the worker knows what the message is (an attempt downloaded it).
    pub fn is_known(&self) -> bool {
        self.from.is_some() || self.subject.is_some() || self.size.is_some()
    }
}

/// Names one held message in [`crate::ipc::Request::HeldAction`]: the fields of its
/// [`HeldMessage`] row that identify it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldId {
    pub profile: String,
    pub folder: String,
    pub uidvalidity: u32,
    pub uid: String,
}

impl HeldId {
    /// The id of a listed row.
    pub fn of(message: &HeldMessage) -> Self {
        HeldId {
            profile: message.profile.clone(),
            folder: message.folder.clone(),
            uidvalidity: message.uidvalidity,
            uid: message.uid.clone(),
        }
    }
}

impl fmt::Display for HeldId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "profile \"{}\" UID {}", self.profile, self.uid)?;
        if !self.folder.is_empty() {
            write!(f, " in {}", self.folder)?;
        }
        Ok(())
    }
}

/// What to do with a held message. Each is carried out by a poll of the profile, started at
/// once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeldActionKind {
    /// Clear the hold, the delay and the count: the message is tried again like a new one.
    Retry,
    /// Deliver it to the profile's fallback mailbox with an `X-Mailpull-Held-Reason` header
    /// (refused for a profile without a fallback).
    DeliverToFallback,
    /// Delete it on the remote server without delivering it.
    Delete,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::{Request, Response};

    #[test]
    fn held_requests_and_rows_round_trip() {
        let row = HeldMessage {
            profile: "isp".into(),
            mailbox: "u@h".into(),
            folder: "INBOX".into(),
            uidvalidity: 7,
            uid: "42".into(),
            reason: "550 no".into(),
            first_attempt: 1,
            last_attempt: 2,
            attempts: 10,
            pending_action: None,
            from: Some("Ann <ann@x.example>".into()),
            subject: Some("Invoice 7".into()),
            date: Some(1_764_800_000),
            size: Some(2048),
        };
        let request = Request::HeldAction {
            id: HeldId::of(&row),
            action: HeldActionKind::DeliverToFallback,
        };
        let json = serde_json::to_string(&request).expect("json");
        assert_eq!(
            json,
            r#"{"request":"held_action","id":{"profile":"isp","folder":"INBOX","uidvalidity":7,"uid":"42"},"action":"deliver_to_fallback"}"#
        );
        assert_eq!(
            serde_json::from_str::<Request>(&json).expect("parse"),
            request
        );
        assert_eq!(request.kind(), "held_action");
        let list = Request::ListHeld { profile: None };
        let json = serde_json::to_string(&list).expect("json");
        assert_eq!(serde_json::from_str::<Request>(&json).expect("parse"), list);
        let response = Response::Held {
            messages: vec![row],
        };
        let json = serde_json::to_string(&response).expect("json");
        assert!(!json.contains("pending_action"), "{json}");
        assert!(json.contains(r#""subject":"Invoice 7""#), "{json}");
        assert_eq!(
            serde_json::from_str::<Response>(&json).expect("parse"),
            response
        );
    }

    /// A row of a worker from before `from`, `subject`, `date` and `size` still parses: the
    /// message reads as not known.
    #[test]
    fn an_older_workers_row_parses_without_what_the_message_is() {
        let older = r#"{"profile":"isp","mailbox":"u@h","folder":"INBOX","uidvalidity":7,"uid":"42",
            "reason":"550 no","first_attempt":1,"last_attempt":2,"attempts":10}"#;
        let row: HeldMessage = serde_json::from_str(older).expect("older row");
        assert_eq!(
            (row.from, row.subject, row.date, row.size),
            (None, None, None, None)
        );
        assert_eq!(row.uid, "42");
        let unknown = HeldMessage {
            uid: "42".into(),
            ..HeldMessage::default()
        };
        assert!(!unknown.is_known());
        let no_subject = HeldMessage {
            subject: Some(String::new()),
            ..unknown
        };
        assert!(no_subject.is_known());
    }
}
