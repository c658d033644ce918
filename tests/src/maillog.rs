//! What the local Postfix took and delivered, read from its log ([`crate::LocalMailServer::maillog`]):
//! one [`Taken`] per queue id, with the message's Message-ID (cleanup's `message-id=` line),
//! the header fields named in [`crate::LocalOptions::log_headers`] (cleanup's `info: header`
//! lines) and its deliveries (`status=sent` lines). This counts the copies that crossed SMTP
//! even where the receiving side dropped some (a Sieve `discard` still answers 250 to Postfix).
//!
//! Sans-IO: [`taken`] parses the text. It expects long queue ids
//! (`enable_long_queue_ids = yes`, which `log_headers` turns on), so that a queue id is never
//! reused within a log.

/// One message Postfix took into its queue, as its log tells.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Taken {
    pub queue_id: String,
    /// The Message-ID with its angle brackets, as Postfix logged it; `None` if not logged.
    pub message_id: Option<String>,
    /// `(name, value)` of each logged header field, in order.
    pub headers: Vec<(String, String)>,
    /// `status=sent` deliveries (one per recipient).
    pub sent: usize,
}

impl Taken {
    /// The values of the logged header fields called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// The queue id and the rest of a Postfix log line (`... postfix/cleanup[12]: QUEUEID: rest`),
/// if it is about one message.
fn queue_line(line: &str) -> Option<(&str, &str)> {
    let at = line.find(" postfix/")?;
    let after = &line[at..];
    let rest = &after[after.find("]: ")? + 3..];
    let (id, rest) = rest.split_once(": ")?;
    let is_id = id.len() >= 6
        && id.bytes().all(|b| b.is_ascii_alphanumeric())
        && !matches!(id, "warning" | "fatal" | "panic" | "error" | "statistics");
    is_id.then_some((id, rest))
}

/// `NAME: VALUE` of cleanup's `info: header NAME: VALUE from CLIENT; from=<..> to=<..> ...`.
fn logged_header(rest: &str) -> Option<(String, String)> {
    let text = rest.strip_prefix("info: header ")?;
    let text = &text[..text.rfind("; from=<")?];
    let text = &text[..text.rfind(" from ")?];
    let (name, value) = text.split_once(':')?;
    Some((name.trim().to_string(), value.trim().to_string()))
}

/// Every message in `log` that Postfix took (a queue id with a `client=`, `message-id=` or
/// header line), in the order of their first line.
pub fn taken(log: &str) -> Vec<Taken> {
    let mut order: Vec<Taken> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for line in log.lines() {
        let Some((id, rest)) = queue_line(line) else {
            continue;
        };
        let starts = rest.starts_with("client=")
            || rest.starts_with("message-id=")
            || rest.starts_with("info: header ");
        let slot = match index.get(id) {
            Some(&i) => i,
            None if starts => {
                order.push(Taken {
                    queue_id: id.to_string(),
                    ..Taken::default()
                });
                index.insert(id.to_string(), order.len() - 1);
                order.len() - 1
            }
            None => continue,
        };
        let entry = &mut order[slot];
        if let Some(mid) = rest.strip_prefix("message-id=") {
            entry.message_id = Some(mid.trim().to_string());
        } else if let Some(header) = logged_header(rest) {
            entry.headers.push(header);
        } else if rest.starts_with("to=<") && rest.contains(" status=sent ") {
            entry.sent += 1;
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
Dec  5 07:30:00 mailpull-local.test postfix/smtpd[10]: connect from unknown[127.0.0.1]
Dec  5 07:30:00 mailpull-local.test postfix/smtpd[10]: 4dNqGh0Yqwz9vZq: client=unknown[127.0.0.1]
Dec  5 07:30:00 mailpull-local.test postfix/cleanup[11]: 4dNqGh0Yqwz9vZq: info: header X-Mailpull-Delivery-Id: inst.00ff from unknown[127.0.0.1]; from=<a@example.test> to=<alice@local.test> proto=ESMTP helo=<h>
Dec  5 07:30:00 mailpull-local.test postfix/cleanup[11]: 4dNqGh0Yqwz9vZq: message-id=<m1@example.test>
Dec  5 07:30:00 mailpull-local.test postfix/qmgr[12]: 4dNqGh0Yqwz9vZq: from=<a@example.test>, size=900, nrcpt=1 (queue active)
Dec  5 07:30:00 mailpull-local.test postfix/smtpd[10]: warning: something: odd
Dec  5 07:30:01 mailpull-local.test postfix/smtpd[13]: 4dNqGj1xyzz9vZr: client=unknown[127.0.0.1]
Dec  5 07:30:01 mailpull-local.test postfix/cleanup[11]: 4dNqGj1xyzz9vZr: message-id=<m2@example.test>
Dec  5 07:30:01 mailpull-local.test postfix/lmtp[14]: 4dNqGh0Yqwz9vZq: to=<alice@local.test>, relay=127.0.0.1[127.0.0.1]:2424, delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, status=sent (250 2.0.0 <alice@local.test> x Saved)
Dec  5 07:30:01 mailpull-local.test postfix/qmgr[12]: 4dNqGh0Yqwz9vZq: removed
Dec  5 07:30:02 mailpull-local.test postfix/lmtp[14]: 4dNqGj1xyzz9vZr: to=<alice@local.test>, relay=127.0.0.1[127.0.0.1]:2424, delay=1, dsn=4.0.0, status=deferred (busy)
Dec  5 07:30:02 mailpull-local.test postfix/qmgr[12]: 4dNqGk2abcz9vZs: removed
";

    #[test]
    fn each_queue_id_gets_its_message_id_headers_and_deliveries() {
        let taken = taken(LOG);
        assert_eq!(
            taken,
            vec![
                Taken {
                    queue_id: "4dNqGh0Yqwz9vZq".into(),
                    message_id: Some("<m1@example.test>".into()),
                    headers: vec![("X-Mailpull-Delivery-Id".into(), "inst.00ff".into())],
                    sent: 1,
                },
                Taken {
                    queue_id: "4dNqGj1xyzz9vZr".into(),
                    message_id: Some("<m2@example.test>".into()),
                    headers: vec![],
                    sent: 0,
                },
            ]
        );
        assert_eq!(
            taken[0].header("x-mailpull-delivery-id"),
            vec!["inst.00ff".to_string()]
        );
    }

    #[test]
    fn lines_about_no_message_are_passed_over() {
        assert!(taken("").is_empty());
        assert!(taken("garbage\nDec  5 postfix/smtpd[1]: warning: a: b\n").is_empty());
        assert_eq!(
            queue_line("x postfix/qmgr[1]: ABCDEF123: removed"),
            Some(("ABCDEF123", "removed"))
        );
    }
}
