//! A worker's log line in plain words for the window: local time without fractions, the
//! profile, and the event as a person says it ("5 messages delivered (20 KB), 5 deleted on
//! the server") instead of developer fields (`already_delivered=0`, UIDs, delivery ids).
//! What it does not know it shows as the message with its fields in words.

use chrono::{DateTime, Local};

use super::line::Parts;

/// `09:27:57` today, `29 Nov 09:27:57` on another day, in this computer's time zone.
pub fn local_time(utc: &str) -> Option<String> {
    let time = DateTime::parse_from_rfc3339(utc)
        .ok()?
        .with_timezone(&Local);
    let today = Local::now().date_naive();
    Some(if time.date_naive() == today {
        time.format("%H:%M:%S").to_string()
    } else {
        time.format("%d %b %H:%M:%S").to_string()
    })
}

/// `4.0 KB`, `20 KB`, `1.2 MB` (1024-based, as mail programs count).
pub fn size(bytes: &str) -> String {
    let Ok(bytes) = bytes.parse::<f64>() else {
        return format!("{bytes} bytes");
    };
    let (value, unit) = if bytes >= 1024.0 * 1024.0 {
        (bytes / 1024.0 / 1024.0, "MB")
    } else if bytes >= 1024.0 {
        (bytes / 1024.0, "KB")
    } else {
        return format!("{bytes} bytes");
    };
    if value < 10.0 {
        format!("{value:.1} {unit}")
    } else {
        format!("{value:.0} {unit}")
    }
}

fn count(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// The event of a line in words (without time and profile).
pub fn words(parts: &Parts) -> String {
    let number = |key: &str| parts.field(key).and_then(|v| v.parse::<u64>().ok());
    match parts.message {
        "delivered" => {
            let to = parts.field("recipient").unwrap_or("the local server");
            match parts.field("size") {
                Some(bytes) => format!("delivered a message ({}) to {to}", size(bytes)),
                None => format!("delivered a message to {to}"),
            }
        }
        "poll done" => {
            let delivered = number("delivered").unwrap_or(0);
            let listed = number("listed").unwrap_or(0);
            let deleted = number("deleted").unwrap_or(0);
            let mut text = if delivered == 0 {
                "checked: no new mail".to_string()
            } else {
                let bytes = parts.field("bytes").map(size).unwrap_or_default();
                format!(
                    "{} delivered ({bytes})",
                    count(delivered, "message", "messages")
                )
            };
            if deleted > 0 {
                text.push_str(&format!(", {deleted} deleted on the server"));
            }
            let left = listed.saturating_sub(deleted);
            if left > 0 {
                text.push_str(&format!(
                    ", {} left on the server",
                    count(left, "message", "messages")
                ));
            }
            text
        }
        "poll failed" => format!(
            "poll failed: {}",
            poll_error(parts.field("error").unwrap_or(""))
        ),
        "routed" => {
            let reason = parts.field("reason").unwrap_or("");
            if parts.field("fallback") == Some("true") {
                format!("routed to the fallback mailbox: {reason}")
            } else {
                format!("routed: {reason}")
            }
        }
        "poll requested over IPC" => "poll requested from the window".into(),
        "IDLE started" => "push (IMAP IDLE) waiting for new mail".into(),
        "worker started" => {
            let profiles = count(number("profiles").unwrap_or(0), "profile", "profiles");
            match parts.field("config") {
                Some(config) => format!("worker started with {profiles} from {config}"),
                None => format!("worker started with {profiles}"),
            }
        }
        "IDLE connection cap" => match number("max_idle_connections") {
            Some(n) => format!("push (IMAP IDLE) can watch up to {n} mailboxes at once"),
            None => "push (IMAP IDLE) connections are capped".into(),
        },
        held if held.starts_with("HELD:") => {
            let tries = count(number("attempts").unwrap_or(1), "attempt", "attempts");
            let mut text = format!(
                "a message is held after {tries}: it stays on the server until you choose \
                 what to do with it on the Held messages page"
            );
            if let Some(reason) = parts.field("reason") {
                text.push_str(&format!(" (last failure: {reason})"));
            }
            text
        }
        _ => generic(parts),
    }
}

/// A poll's error without the server's UID of the first message left behind:
/// "2 message(s) left on the server: 7: local server …" reads "2 messages stay on the server,
/// not delivered (the first: local server …)".
fn poll_error(error: &str) -> String {
    const LEFT: &str = " message(s) left on the server: ";
    let Some((number, rest)) = error.split_once(LEFT) else {
        return error.to_string();
    };
    let (Ok(count_n), Some((_uid, reason))) = (number.parse::<u64>(), rest.split_once(": ")) else {
        return error.to_string();
    };
    let messages = count(count_n, "message stays", "messages stay");
    format!("{messages} on the server, not delivered (the first: {reason})")
}

/// Fields a person does not need in the window (they stay in the log file).
const HIDDEN: [&str; 5] = ["uid", "delivery_id", "profile", "content", "attempt"];

/// The message, then `error` after a colon and the other fields in words; zero counts and
/// identifiers left out.
fn generic(parts: &Parts) -> String {
    let mut text = parts.message.to_string();
    let mut extras = Vec::new();
    for (key, value) in &parts.fields {
        if HIDDEN.contains(key) || *value == "0" {
            continue;
        }
        if *key == "error" {
            text.push_str(&format!(": {value}"));
            continue;
        }
        extras.push(match *key {
            "retry_in_secs" => format!("retrying in {value} s"),
            "retry_in_ms" => format!("retrying in {value} ms"),
            "expires_in_secs" => format!("valid for {value} s"),
            _ => format!("{} {value}", key.replace(['_', '.'], " ")),
        });
    }
    if !extras.is_empty() {
        text.push_str(&format!(" ({})", extras.join(", ")));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::super::line::parse;
    use super::*;

    #[test]
    fn deliveries_and_polls_read_as_words() {
        let line = parse(
            "2026-11-29T09:27:57.048409Z  INFO poll{profile=alice}: delivered \
             uid=000000136b0bf009 size=4094 recipient=alice@local.test reply=250 2.0.0 Ok",
        );
        assert_eq!(
            words(&line),
            "delivered a message (4.0 KB) to alice@local.test"
        );
        let line = parse(
            "2026-11-29T09:28:07Z  INFO poll done profile=alice listed=5 delivered=5 \
             bytes=20470 deleted=5 already_delivered=0",
        );
        assert_eq!(
            words(&line),
            "5 messages delivered (20 KB), 5 deleted on the server"
        );
        let line = parse(
            "2026-11-29T09:28:07Z  INFO poll done profile=bob listed=6 delivered=0 bytes=0 \
             deleted=0 already_delivered=0",
        );
        assert_eq!(
            words(&line),
            "checked: no new mail, 6 messages left on the server"
        );
        let line =
            parse("2026-11-29T09:28:07Z  WARN poll failed profile=old error=login to x failed");
        assert_eq!(words(&line), "poll failed: login to x failed");
        let line = parse(
            "2026-11-29T09:28:07Z  INFO poll{profile=a}: backing off after 3 failed poll(s) \
             retry_in_secs=60 already_delivered=0 uid=7",
        );
        assert_eq!(
            words(&line),
            "backing off after 3 failed poll(s) (retrying in 60 s)"
        );
    }

    #[test]
    fn the_start_reads_without_sockets_or_type_names() {
        let line = parse(
            "2026-11-29T09:28:07Z  INFO worker started config=/tmp/x/mailpull.toml profiles=0 \
             ipc=/run/mailpull/d1d74e4b.sock run_mode=Foreground { pid: 10004 }",
        );
        assert_eq!(
            words(&line),
            "worker started with 0 profiles from /tmp/x/mailpull.toml"
        );
        let line = parse(
            "2026-11-29T09:28:07Z  INFO IDLE connection cap open_files=20000 \
             open_files_before=20000 open_files_hard=20000 max_idle_connections=14856 \
             cap=from open-file limit",
        );
        assert_eq!(
            words(&line),
            "push (IMAP IDLE) can watch up to 14856 mailboxes at once"
        );
    }

    #[test]
    fn a_poll_that_left_mail_and_a_routing_read_without_uids() {
        let line = parse(
            "2026-11-29T09:28:07Z  WARN poll failed profile=bob error=2 message(s) left on the \
             server: 7: local server answered 452 mailbox full",
        );
        assert_eq!(
            words(&line),
            "poll failed: 2 messages stay on the server, not delivered (the first: local \
             server answered 452 mailbox full)"
        );
        let line = parse(
            "2026-11-29T09:28:07Z  INFO poll{profile=bob}: routed uid=7 fallback=false \
             reason=1 recipient from To",
        );
        assert_eq!(words(&line), "routed: 1 recipient from To");
        let line = parse(
            "2026-11-29T09:28:07Z  INFO poll{profile=bob}: routed uid=7 fallback=true \
             reason=no local address",
        );
        assert_eq!(
            words(&line),
            "routed to the fallback mailbox: no local address"
        );
    }

    #[test]
    fn a_held_message_reads_as_words_without_the_cli_or_its_uid() {
        let line = parse(
            "2026-11-29T09:28:07Z ERROR poll{profile=bob}: HELD: the message failed too often; \
             it stays on the server and is not retried automatically (see `mailpull-worker held`) \
             uid=7 attempts=1 reason=local server answered 452 mailbox full",
        );
        assert_eq!(
            words(&line),
            "a message is held after 1 attempt: it stays on the server until you choose what to \
             do with it on the Held messages page (last failure: local server answered 452 \
             mailbox full)"
        );
    }

    #[test]
    fn the_time_is_local_without_fractions() {
        let shown = local_time("2026-11-29T09:27:57.048409Z").expect("time");
        assert!(!shown.contains('.'), "{shown}");
        assert!(shown.ends_with(":57"), "{shown}");
        assert_eq!(local_time("yesterday"), None);
    }
}
