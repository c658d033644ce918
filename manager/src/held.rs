//! Held messages for a person: which message (its Subject, From, date and size when the
//! worker downloaded it, else where the server keeps it), why it is held in plain words ("The local mail
//! server refused it: …" rather than lettre's `permanent error (550)`), the attempts in this
//! computer's time, and what came of an action. Pure functions over the pipe's
//! [`HeldMessage`] rows; drawing is in `view::held`.

use chrono::{DateTime, Local};
use mailpull_shared::ipc::{HeldActionKind, HeldMessage};

/// How many of `held` belong to `profile`.
pub fn count_for(held: &[HeldMessage], profile: &str) -> usize {
    held.iter().filter(|m| m.profile == profile).count()
}

/// The message's heading: its Subject, "(no subject)" when it has none, or, when the worker
/// never downloaded it (or is older and does not say), where the server keeps it ([`place`]).
pub fn title(message: &HeldMessage) -> String {
    match message.subject.as_deref().map(str::trim) {
        Some(subject) if !subject.is_empty() => subject.to_string(),
        _ if message.is_known() => "(no subject)".into(),
        _ => place(message),
    }
}

/// Who sent it, when and how large, on one line: "From Ann <ann@x.example> · sent 22 Nov 2025
/// 11:00 · 1.2 KB" (the date in this computer's time). `None` when the worker does not know
/// what the message is.
pub fn about(message: &HeldMessage) -> Option<String> {
    if !message.is_known() {
        return None;
    }
    let mut parts = vec![match message.from.as_deref().map(str::trim) {
        Some(from) if !from.is_empty() => format!("From {from}"),
        _ => "No sender".to_string(),
    }];
    if let Some(date) = message.date {
        parts.push(format!("sent {}", local_time(date)));
    }
    if let Some(size) = message.size {
        parts.push(crate::log::size(&size.to_string()));
    }
    Some(parts.join(" · "))
}

/// The message in a sentence: `The message "Invoice 7"`, `The message from Ann <…>` when it
/// has no subject, or where the server keeps it when the worker does not know what it is.
pub fn named(message: &HeldMessage) -> String {
    let subject = message.subject.as_deref().map(str::trim).unwrap_or("");
    let from = message.from.as_deref().map(str::trim).unwrap_or("");
    if !subject.is_empty() {
        format!("The message \"{subject}\"")
    } else if !from.is_empty() {
        format!("The message from {from}")
    } else {
        place(message)
    }
}

/// The message as the server numbers it: "Message 2 in INBOX" (IMAP) or "Message 7f3a…"
/// (POP3, whose ids are long; the full id is in the hover text).
pub fn place(message: &HeldMessage) -> String {
    let id = if message.uid.chars().count() > 16 {
        let short: String = message.uid.chars().take(12).collect();
        format!("{short}…")
    } else {
        message.uid.clone()
    };
    if message.folder.is_empty() {
        format!("Message {id}")
    } else {
        format!("Message {id} in {}", message.folder)
    }
}

/// `4 Dec 2026 09:12` in this computer's time zone (Unix seconds in).
pub fn local_time(secs: i64) -> String {
    match DateTime::from_timestamp(secs, 0) {
        Some(utc) => utc
            .with_timezone(&Local)
            .format("%-d %b %Y %H:%M")
            .to_string(),
        None => "unknown".into(),
    }
}

/// How often it was tried: "once", "twice", "3 times".
pub fn attempts(count: u32) -> String {
    match count {
        1 => "once".into(),
        2 => "twice".into(),
        n => format!("{n} times"),
    }
}

/// The worker's reason in plain words. The local server's answers read as what it did, with
/// its text first and the codes after it; anything else is passed on with a capital letter.
pub fn plain_reason(reason: &str) -> String {
    let reason = reason.trim();
    let answers = [
        (
            " answered with a temporary failure: ",
            "The local mail server asked to try again later",
        ),
        (
            " refused the message: ",
            "The local mail server refused the message",
        ),
    ];
    if let Some(rest) = reason.strip_prefix("local server ") {
        for (marker, said) in answers {
            if let Some((server, reply)) = rest.split_once(marker) {
                return format!("{said} ({server}): {}", smtp_reply(reply));
            }
        }
        if let Some((server, why)) = rest.split_once(" unreachable: ") {
            return format!("The local mail server ({server}) could not be reached: {why}");
        }
    }
    if let Some(rest) = reason.strip_prefix("message ")
        && let Some((what, limit)) = rest.split_once(" is larger than max_message_mb (")
    {
        let bytes = what
            .rsplit(" of ")
            .next()
            .unwrap_or("")
            .trim_end_matches(" bytes");
        let limit = limit.trim_end_matches(')');
        return format!(
            "The message ({}) is larger than the profile's size limit ({limit})",
            crate::log::size(bytes)
        );
    }
    capitalised(reason)
}

/// A profile's last poll error in plain words: the worker's "2 message(s) left on the
/// server: 7: <reason>" as "2 messages wait on the server, not delivered (message 7: <reason in
/// words>)"; a deferral and the local server's answers as [`plain_reason`] says them.
pub fn plain_error(error: &str) -> String {
    let error = error.trim();
    if let Some((count, rest)) = error.split_once(" message(s) left on the server: ")
        && let Ok(count) = count.parse::<u64>()
    {
        let (uid, reason) = rest.split_once(": ").unwrap_or(("", rest));
        let what = if count == 1 {
            "1 message waits on the server, not delivered".to_string()
        } else {
            format!("{count} messages wait on the server, not delivered")
        };
        let reason = plain_reason(reason);
        return if uid.is_empty() || uid.contains(' ') {
            format!("{what}: {reason}")
        } else {
            format!("{what} (message {uid}: {reason})")
        };
    }
    if let Some(rest) = error.strip_prefix("delivery deferred: ") {
        return plain_reason(rest);
    }
    plain_reason(error)
}

/// lettre's `permanent error (550): 5.1.1 <bob@x>: Recipient address rejected: …` as
/// `<bob@x>: Recipient address rejected: … (550 5.1.1)`.
fn smtp_reply(reply: &str) -> String {
    let reply = reply.trim();
    let Some((_, rest)) = reply.split_once(" error (") else {
        return reply.to_string();
    };
    let Some((code, text)) = rest.split_once("): ") else {
        return reply.to_string();
    };
    let text = text.trim();
    let (enhanced, text) = match text.split_once(' ') {
        Some((first, rest)) if is_enhanced_code(first) => (Some(first), rest.trim()),
        _ => (None, text),
    };
    match enhanced {
        Some(enhanced) => format!("{text} ({code} {enhanced})"),
        None => format!("{text} ({code})"),
    }
}

/// `4.3.0`, `5.1.1`: a class digit, then two numbers.
fn is_enhanced_code(word: &str) -> bool {
    let parts: Vec<&str> = word.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The button of an action.
pub fn action_label(action: HeldActionKind) -> &'static str {
    match action {
        HeldActionKind::Retry => "Try again now",
        HeldActionKind::DeliverToFallback => "Deliver to the fallback mailbox",
        HeldActionKind::Delete => "Delete from the server…",
    }
}

/// What an action came to, for the person: the text and whether it is an error.
pub fn action_result(
    message: &HeldMessage,
    action: HeldActionKind,
    outcome: &Result<String, String>,
) -> (String, bool) {
    let title = named(message);
    match outcome {
        Ok(worker) => {
            let what = match action {
                HeldActionKind::Retry => "is being tried again",
                HeldActionKind::DeliverToFallback => "is being delivered to the fallback mailbox",
                HeldActionKind::Delete => "is being deleted from the server",
            };
            let when = if worker.contains("next poll") {
                "at the next poll (the profile is not polling now)"
            } else {
                "by a poll started now"
            };
            (format!("{title} {what} {when}."), false)
        }
        Err(why) => {
            let what = match action {
                HeldActionKind::Retry => "try it again",
                HeldActionKind::DeliverToFallback => "deliver it to the fallback mailbox",
                HeldActionKind::Delete => "delete it from the server",
            };
            (format!("{title}: could not {what}: {why}"), true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(uid: &str, folder: &str, reason: &str) -> HeldMessage {
        HeldMessage {
            profile: "catch-all".into(),
            mailbox: "u@h".into(),
            folder: folder.into(),
            uidvalidity: 1,
            uid: uid.into(),
            reason: reason.into(),
            first_attempt: 1_764_840_000,
            last_attempt: 1_764_843_600,
            attempts: 3,
            pending_action: None,
            ..HeldMessage::default()
        }
    }

    fn downloaded(uid: &str, from: &str, subject: &str) -> HeldMessage {
        HeldMessage {
            from: Some(from.into()),
            subject: Some(subject.into()),
            date: Some(1_763_805_600),
            size: Some(1234),
            ..row(uid, "INBOX", "")
        }
    }

    #[test]
    fn the_local_servers_answers_read_as_what_it_did() {
        assert_eq!(
            plain_reason(
                "local server 127.0.0.1:2525 refused the message: permanent error (550): \
                 5.1.1 <zed@local.test>: Recipient address rejected: User unknown in virtual \
                 mailbox table"
            ),
            "The local mail server refused the message (127.0.0.1:2525): <zed@local.test>: \
             Recipient address rejected: User unknown in virtual mailbox table (550 5.1.1)"
        );
        assert_eq!(
            plain_reason(
                "local server 127.0.0.1:25 answered with a temporary failure: transient error \
                 (451): 4.3.0 bob is busy"
            ),
            "The local mail server asked to try again later (127.0.0.1:25): bob is busy \
             (451 4.3.0)"
        );
        assert_eq!(
            plain_reason("message 7 of 3000000 bytes is larger than max_message_mb (1 MB)"),
            "The message (2.9 MB) is larger than the profile's size limit (1 MB)"
        );
        assert_eq!(
            plain_reason("remote server answered NO"),
            "Remote server answered NO"
        );
        assert_eq!(plain_reason(""), "");
    }

    #[test]
    fn a_profiles_last_error_reads_as_words() {
        assert_eq!(
            plain_error(
                "2 message(s) left on the server: 7: local server 127.0.0.1:25 answered with a \
                 temporary failure: transient error (452): 4.2.2 carol's mailbox is full"
            ),
            "2 messages wait on the server, not delivered (message 7: The local mail server \
             asked to try again later (127.0.0.1:25): carol's mailbox is full (452 4.2.2))"
        );
        assert_eq!(
            plain_error("delivery deferred: local server h:25 unreachable: refused"),
            "The local mail server (h:25) could not be reached: refused"
        );
        assert_eq!(
            plain_error("login to x failed: authentication failed"),
            "Login to x failed: authentication failed"
        );
    }

    #[test]
    fn messages_are_named_by_folder_and_short_id() {
        assert_eq!(title(&row("2", "INBOX", "")), "Message 2 in INBOX");
        let pop = row("sha256:0123456789abcdef0123", "", "");
        assert_eq!(title(&pop), "Message sha256:01234…");
        assert_eq!(attempts(1), "once");
        assert_eq!(attempts(2), "twice");
        assert_eq!(attempts(3), "3 times");
        assert_eq!(
            count_for(&[row("1", "", ""), row("2", "", "")], "catch-all"),
            2
        );
        assert_eq!(count_for(&[row("1", "", "")], "other"), 0);
        let shown = local_time(1_764_840_000);
        assert!(shown.contains("2025"), "{shown}");
        assert!(!shown.contains("UTC"), "{shown}");
    }

    #[test]
    fn a_downloaded_message_is_named_by_its_subject_sender_date_and_size() {
        let message = downloaded("2", "Ann <ann@x.example>", "Invoice 7");
        assert_eq!(title(&message), "Invoice 7");
        let about = about(&message).expect("known");
        // 22 Nov 2025 10:00 UTC, in this computer's time.
        assert!(
            about.starts_with("From Ann <ann@x.example> · sent ") && about.contains(" Nov 2025 "),
            "{about}"
        );
        assert!(about.ends_with(" · 1.2 KB"), "{about}");
        assert_eq!(place(&message), "Message 2 in INBOX");
        assert_eq!(named(&message), "The message \"Invoice 7\"");
        // No subject, no sender, no date: said in words, not left blank.
        let bare = HeldMessage {
            date: None,
            ..downloaded("3", "", " ")
        };
        assert_eq!(title(&bare), "(no subject)");
        assert_eq!(super::about(&bare).as_deref(), Some("No sender · 1.2 KB"));
        assert_eq!(named(&bare), "Message 3 in INBOX");
        let no_subject = downloaded("4", "Ann <ann@x.example>", "");
        assert_eq!(named(&no_subject), "The message from Ann <ann@x.example>");
        // Never downloaded (or an older worker): where the server keeps it, as before.
        let unknown = row("2", "INBOX", "");
        assert_eq!(title(&unknown), "Message 2 in INBOX");
        assert_eq!(super::about(&unknown), None);
    }

    #[test]
    fn an_actions_result_says_what_happens_next() {
        let message = row("2", "INBOX", "");
        let (text, error) = action_result(
            &message,
            HeldActionKind::Retry,
            &Ok("held message profile \"a\" UID 2 will be retried by the poll started now".into()),
        );
        assert_eq!(
            (text.as_str(), error),
            (
                "Message 2 in INBOX is being tried again by a poll started now.",
                false
            )
        );
        let (text, error) = action_result(
            &message,
            HeldActionKind::DeliverToFallback,
            &Err("profile \"single\" has no fallback mailbox".into()),
        );
        assert!(error);
        assert!(
            text.starts_with("Message 2 in INBOX: could not deliver it to the fallback mailbox"),
            "{text}"
        );
        let (text, _) = action_result(
            &downloaded("2", "Ann <ann@x.example>", "Invoice 7"),
            HeldActionKind::Delete,
            &Ok("deleted by the poll started now".into()),
        );
        assert_eq!(
            text,
            "The message \"Invoice 7\" is being deleted from the server by a poll started now."
        );
    }
}
