//! The data the state database keeps: a remote mailbox's key, a delivery record, and what is
//! known of one UID, the attempts of a message that failed on its own (see `attempts`) with
//! what that message is ([`Summary`]), and
//! the alert state of a profile (see `alerts`).

/// Identifies one remote mailbox (an account, and for IMAP a folder at one UIDVALIDITY).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MailboxKey {
    pub account: String,
    pub folder: String,
    pub uidvalidity: u32,
}

/// A delivered message.
#[derive(Debug, Clone)]
pub struct Record {
    pub key: MailboxKey,
    pub uid: String,
    pub profile: String,
    /// Bytes delivered (with the trace header).
    pub size: u64,
    /// The size the server listed for it (POP3 LIST, IMAP RFC822.SIZE), if it listed one.
    pub remote_size: Option<u64>,
    /// SHA-256 of the message as fetched (before the trace header), in hex.
    pub digest: String,
    pub message_id: Option<String>,
    /// RCPT TO addresses it was delivered to (empty when it was recognised as already delivered).
    pub recipients: Vec<String>,
    /// Multi-drop: what `recipients` are remembered under, so the same message reaches each
    /// local recipient once even when the ISP stored several copies.
    pub dedupe_key: Option<CopyKey>,
    /// What the History page shows of it (empty when recognised as already delivered).
    pub shown: Shown,
}

/// What the History page shows of a delivery (schema version 8): From, Subject and the local
/// server's reply, made safe to show by `history::shown` (decoded, no control characters,
/// length-capped).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shown {
    pub from: String,
    pub subject: String,
    pub reply: String,
}

/// The summary columns of an attempts row to write: sender, subject, message date, size.
pub(super) type SummaryColumns = (Option<String>, Option<String>, Option<i64>, Option<i64>);

impl Summary {
    /// The columns of `summary` (all NULL when not known).
    pub(super) fn columns(summary: Option<&Summary>) -> SummaryColumns {
        match summary {
            Some(s) => (
                Some(s.from.clone()),
                Some(s.subject.clone()),
                s.date,
                Some(i64::try_from(s.size).unwrap_or(i64::MAX)),
            ),
            None => (None, None, None, None),
        }
    }
}

/// Multi-drop: what tells a copy of a delivered message from another message. Both parts
/// must match (within the profile and the retention period) for a message to be a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyKey {
    /// The trimmed Message-ID, empty when the message has none.
    pub message_id: String,
    /// `content_digest` of the message: trace and envelope headers aside.
    pub content: String,
}

/// What the database knows of one UID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    /// The remote deletion was confirmed (POP3 QUIT +OK or IMAP expunge).
    pub deleted: bool,
    /// When it was first downloaded and recorded (Unix seconds); `keep_days` counts from here.
    pub delivered_at: i64,
    /// The size the server listed for the recorded message (`None`: it listed none, or the
    /// row predates schema version 2).
    pub remote_size: Option<u64>,
    /// SHA-256 of the recorded message as fetched, in hex.
    pub digest: String,
}

/// What to do with a held message, asked for over the pipe and carried out by the next poll
/// of its profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeldAction {
    /// Deliver it to the profile's fallback mailbox, with a header saying why it was held.
    Fallback,
    /// Delete it on the remote server without delivering it.
    Delete,
}

impl HeldAction {
    pub fn as_str(self) -> &'static str {
        match self {
            HeldAction::Fallback => "fallback",
            HeldAction::Delete => "delete",
        }
    }

    pub(super) fn parse(text: &str) -> Option<Self> {
        match text {
            "fallback" => Some(HeldAction::Fallback),
            "delete" => Some(HeldAction::Delete),
            _ => None,
        }
    }
}

/// One row of `attempts`. Times are Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub key: MailboxKey,
    pub uid: String,
    pub profile: String,
    /// Failed attempts so far (at least 1).
    pub attempts: u32,
    pub first_at: i64,
    pub last_at: i64,
    /// Not fetched again before this time.
    pub next_at: i64,
    /// Why the last attempt failed.
    pub reason: String,
    /// Left on the server and not retried automatically.
    pub held: bool,
    /// An action asked for over the pipe, not carried out yet.
    pub action: Option<HeldAction>,
    /// What the message is, as downloaded (schema version 10); `None`: no attempt got as far
    /// as its bytes (the fetch failed, or it was too large to fetch).
    pub summary: Option<Summary>,
}

/// What a person knows a message by, read from its bytes as downloaded (schema version 10):
/// From (display name and address) and Subject made safe to show as `history::shown` does,
/// the message's own Date, and its size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub from: String,
    pub subject: String,
    /// Its Date header in Unix seconds; `None` when it has none or none that reads as a date.
    pub date: Option<i64>,
    /// Bytes downloaded.
    pub size: u64,
}

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertKind {
    /// Polls of the profile fail (for longer than `alerts.after` before a mail goes out).
    Failing,
    /// Messages of the profile are held.
    Held,
    /// The profile's OAuth sign-in is missing or revoked.
    SignIn,
}

impl AlertKind {
    pub const ALL: [AlertKind; 3] = [AlertKind::Failing, AlertKind::Held, AlertKind::SignIn];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Failing => "failing",
            AlertKind::Held => "held",
            AlertKind::SignIn => "sign_in",
        }
    }

    pub(super) fn parse(text: &str) -> Option<Self> {
        AlertKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

/// One row of `alerts`. Times are Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRow {
    pub profile: String,
    pub kind: AlertKind,
    /// When the trouble was first seen.
    pub since: i64,
    /// The last error or what is held, in words (never a secret: errors carry none).
    pub detail: String,
    /// When the alert mail went out; `None`: not (yet).
    pub sent_at: Option<i64>,
}
