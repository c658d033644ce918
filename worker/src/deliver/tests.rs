//! Unit tests of `deliver`: the envelope sender, the header reader, the trace header, the SMTP
//! timeout.

use super::*;

#[test]
fn return_path_gives_the_envelope_sender() {
    let msg = b"Received: x\r\nReturn-Path: <Bob@Example.org>\r\nSubject: s\r\n\r\nReturn-Path: <body@x.y>\r\n";
    assert_eq!(envelope_sender(msg).as_deref(), Some("Bob@Example.org"));
    assert_eq!(envelope_sender(b"Return-Path: <>\r\n\r\nbody"), None);
    assert_eq!(
        envelope_sender(b"Subject: none\r\n\r\nReturn-Path: <a@b.c>\r\n"),
        None
    );
    assert_eq!(
        envelope_sender(b"Return-Path: <@relay.example:me@x.example>\r\n\r\n").as_deref(),
        Some("me@x.example")
    );
    // Not an address: handed on as written, for `mail_from` to name in its header.
    assert_eq!(
        envelope_sender(b"Return-Path: <not an address>\r\n\r\n").as_deref(),
        Some("not an address")
    );
    assert_eq!(envelope_sender(b"Return-Path: < >\r\n\r\n"), None);
    assert_eq!(
        envelope_sender(b"return-path:\r\n <folded@x.example>\r\n\r\n").as_deref(),
        Some("folded@x.example")
    );
}

#[test]
fn header_value_unfolds_and_stops_at_the_body() {
    let msg = b"Subject: a\r\n b\r\nTo: x@y.z\r\n\r\nSubject: body\r\n";
    assert_eq!(header_value(msg, "subject").as_deref(), Some("a b"));
    assert_eq!(header_value(msg, "Cc"), None);
    assert_eq!(header_value(b"", "To"), None);
    assert_eq!(header_value(b"\xff\xfe: \x00\r\n", "To"), None);
}

#[test]
fn envelope_sender_with_any_line_ends() {
    for msg in [
        &b"Received: x\r\nReturn-Path: <Bob@Example.org>\r\n\r\nbody"[..],
        b"Received: x\nReturn-Path: <Bob@Example.org>\n\nbody",
        b"Received: x\nReturn-Path:\r\n\t<Bob@Example.org>\n\r\nbody",
        b"Received: x\rReturn-Path: <Bob@Example.org>\r\rbody",
        b"Return-Path: <Bob@Example.org>",
    ] {
        assert_eq!(
            envelope_sender(msg).as_deref(),
            Some("Bob@Example.org"),
            "{msg:?}"
        );
    }
    assert_eq!(
        envelope_sender(b"Subject: x\n\nReturn-Path: <a@b.c>\n"),
        None
    );
}

#[test]
fn trace_header_names_source_installation_and_single_recipient() {
    let rcpt = vec!["alice@local.test".to_string()];
    let header = trace_header(&TraceInfo {
        remote_host: "pop.isp.example",
        with: "POP3S",
        uid: "UID-1;x",
        local_host: "gateway",
        installation_id: "abc123",
        recipients: &rcpt,
        unix_time: 0,
    });
    assert!(
        header.starts_with(
            "Received: from pop.isp.example by gateway (Mailpull, mailpull-id=abc123)\r\n"
        ),
        "{header}"
    );
    assert!(
        header.contains("with POP3S id UID-1x for <alice@local.test>;"),
        "{header}"
    );
    assert!(header.contains("1970"), "{header}");
    assert!(header.ends_with("\r\n"));
    let two = vec!["a@x.y".to_string(), "b@x.y".to_string()];
    let header = trace_header(&TraceInfo {
        recipients: &two,
        ..TraceInfo {
            remote_host: "h",
            with: "IMAPS",
            uid: "1",
            local_host: "g",
            installation_id: "i",
            recipients: &rcpt,
            unix_time: 0,
        }
    });
    assert!(!header.contains(" for <"), "{header}");
}

#[test]
fn smtp_timeout_follows_the_profile_timeout() {
    assert_eq!(
        smtp_timeout(Duration::from_secs(60)),
        Duration::from_secs(120)
    );
    assert_eq!(smtp_timeout(Duration::from_secs(2)), Duration::from_secs(4));
    assert_eq!(smtp_timeout(Duration::MAX), Duration::MAX);
}
