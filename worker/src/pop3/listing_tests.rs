//! Tests of the STAT, UIDL and LIST parsers.

use super::*;

#[test]
fn uidl_lines_are_parsed_strictly() {
    let long = format!("1 {}\r\n", "a".repeat(71));
    let cases: &[(&[u8], &str)] = &[
        (b"1  abc\r\n", "malformed UIDL line \"1  abc\""),
        (b"1 ab c\r\n", "malformed UIDL line \"1 ab c\""),
        (b"x abc\r\n", "malformed UIDL line \"x abc\""),
        (b"0 abc\r\n", "malformed UIDL line \"0 abc\""),
        (b"1\r\n", "malformed UIDL line \"1\""),
        (b"1 \r\n", "malformed UIDL line \"1 \""),
        (
            b"99999999999 abc\r\n",
            "malformed UIDL line \"99999999999 abc\"",
        ),
        (b"1 caf\xc3\xa9\r\n", "malformed UIDL line \"1 caf\u{e9}\""),
        (long.as_bytes(), "malformed UIDL line"),
        (
            b"1 abc\r\n2 abc\r\n",
            "duplicate unique id \"abc\" for messages 1 and 2",
        ),
        (b"1 abc\r\n1 abd\r\n", "message number 1 listed twice"),
    ];
    for (body, want) in cases {
        let err = parse_uidl_body(body).expect_err("must fail");
        assert!(matches!(err, Pop3Error::Protocol { .. }), "{err:?}");
        assert!(
            err.to_string().contains(want),
            "{} does not contain {want}",
            err
        );
    }
    // 70 characters is the maximum and fine; all of 0x21..=0x7E is allowed.
    let max = format!("1 {}\r\n2 !~\r\n", "a".repeat(70));
    assert_eq!(parse_uidl_body(max.as_bytes()).expect("uidl").len(), 2);
    // A garbage line is truncated in the error.
    let garbage = format!("{}\r\n", "z".repeat(500));
    let err = parse_uidl_body(garbage.as_bytes())
        .expect_err("must fail")
        .to_string();
    assert!(err.contains("(truncated, 500 bytes in all)"), "{err}");
    assert!(err.len() < 250, "{err}");
}

#[test]
fn list_lines_are_parsed_strictly() {
    for body in [
        &b"1 abc\r\n"[..],
        b"1 -5\r\n",
        b"1\r\n",
        b"1 \r\n",
        b"a 1\r\n",
        b"1 2\r\n1 3\r\n",
        b"1 99999999999999999999999\r\n",
    ] {
        let err = parse_list_body(body).expect_err("must fail");
        assert!(matches!(err, Pop3Error::Protocol { .. }), "{err:?}");
        assert!(err.to_string().contains("LIST"), "{err}");
    }
    assert_eq!(
        parse_list_body(b"3 18446744073709551615\r\n").expect("list"),
        vec![(3, u64::MAX)]
    );
}

#[test]
fn empty_listings_are_empty() {
    assert_eq!(parse_uidl_body(b"").expect("uidl"), vec![]);
    assert_eq!(parse_list_body(b"").expect("list"), vec![]);
}

#[test]
fn listings_read_every_line_and_keep_their_order() {
    let body = b"3 whqtswO00WBw418f9t5JxYwZ\r\n1 QhdPYR:00WBw1Ph7x7\r\n";
    assert_eq!(
        parse_uidl_body(body).expect("uidl"),
        vec![
            (3, "whqtswO00WBw418f9t5JxYwZ".to_owned()),
            (1, "QhdPYR:00WBw1Ph7x7".to_owned())
        ]
    );
    // Extra information after the size, even 8-bit, is allowed; a bare LF ends a line.
    assert_eq!(
        parse_list_body(b"1 120 extra \xff info\r\n2 0\n").expect("list"),
        vec![(1, 120), (2, 0)]
    );
}

#[test]
fn listings_refuse_missing_fields_and_non_utf8() {
    for body in [
        &b" abc\r\n"[..],
        b"\r\n",
        b"1\xff abc\r\n",
        b"1 ab\x00c\r\n",
    ] {
        let err = parse_uidl_body(body).expect_err("must fail");
        assert!(err.to_string().contains("malformed UIDL line"), "{err}");
    }
    for body in [&b" 5\r\n"[..], b"\r\n", b"1 5\xff\r\n", b"\xff 5\r\n"] {
        let err = parse_list_body(body).expect_err("must fail");
        assert!(err.to_string().contains("malformed LIST line"), "{err}");
    }
}

#[test]
fn stat_needs_a_count_and_a_size() {
    assert_eq!(parse_stat("2 320").expect("stat"), (2, 320));
    assert_eq!(parse_stat("  0 0 and more").expect("stat"), (0, 0));
    for text in [
        "",
        "lots",
        "1",
        "1 x",
        "-1 5",
        "4294967296 1",
        "1 18446744073709551616",
    ] {
        let err = parse_stat(text).expect_err("must fail");
        assert!(matches!(err, Pop3Error::Protocol { .. }), "{err:?}");
        assert!(
            err.to_string().contains("expected \"+OK count size\""),
            "{err}"
        );
    }
}

/// The body of the multi-line reply `input`, fed to the reply parser in chunks of `chunk`.
fn body_in_chunks(input: &[u8], chunk: usize) -> Vec<u8> {
    use crate::pop3::reply::{Parsed, ReplyKind, ReplyLimits, ReplyParser};
    let mut parser = ReplyParser::new(ReplyKind::MultiLine, ReplyLimits::default());
    for piece in input.chunks(chunk) {
        if let Parsed::Complete { reply, .. } = parser.feed(piece).expect("a valid reply") {
            return reply.body.expect("a body");
        }
    }
    panic!("reply incomplete");
}

#[test]
fn listings_read_from_replies_fed_in_any_chunks_are_the_same() {
    let uidl = b"+OK\r\n1 whqtswO00WBw418f9t5JxYwZ\r\n2 ..dotted\r\n3 QhdPYR:00WBw1Ph7x7\r\n.\r\n";
    let list = b"+OK 3 messages\r\n1 120\r\n2 0 extra\r\n3 18446744073709551615\r\n.\r\n";
    let want_uidl = vec![
        (1, "whqtswO00WBw418f9t5JxYwZ".to_owned()),
        (2, "..dotted".to_owned()),
        (3, "QhdPYR:00WBw1Ph7x7".to_owned()),
    ];
    let want_list = vec![(1, 120), (2, 0), (3, u64::MAX)];
    for chunk in 1..=512 {
        assert_eq!(
            parse_uidl_body(&body_in_chunks(uidl, chunk)).expect("uidl"),
            want_uidl,
            "chunk size {chunk}"
        );
        assert_eq!(
            parse_list_body(&body_in_chunks(list, chunk)).expect("list"),
            want_list,
            "chunk size {chunk}"
        );
    }
}
