//! Tests of the reply parser, every reply fed in chunks of 1 to 512 bytes.

use super::*;

fn limits() -> ReplyLimits {
    ReplyLimits {
        max_status_line: 64,
        max_data_line: 32,
        max_body: 200,
    }
}

#[test]
fn reserved_body_is_capped_by_the_limit_and_changes_nothing_else() {
    let mut parser = ReplyParser::new(ReplyKind::MultiLine, limits());
    parser.reserve_body(u64::MAX);
    assert!(parser.body.capacity() >= 200 && parser.body.capacity() < 1024);
    let input = b"+OK\r\n..a\r\n.\r\n";
    match parser.feed(input) {
        Ok(Parsed::Complete { reply, consumed }) => {
            assert_eq!(consumed, input.len());
            assert_eq!(reply.body.as_deref(), Some(&b".a\r\n"[..]));
        }
        other => panic!("unexpected {other:?}"),
    }
}

fn ok(text: &str, body: Option<&[u8]>) -> Reply {
    Reply {
        status: Status::Ok,
        text: text.to_owned(),
        body: body.map(<[u8]>::to_vec),
    }
}

type Outcome = Result<(Reply, usize), ReplyError>;

/// Feeds `input` in chunks of `size`; returns the reply and the total bytes consumed.
/// `None` when the parser still needs more data at the end of input.
fn run_chunked(kind: ReplyKind, input: &[u8], size: usize) -> Option<Outcome> {
    let mut parser = ReplyParser::new(kind, limits());
    let mut offset = 0;
    for chunk in input.chunks(size) {
        match parser.feed(chunk) {
            Ok(Parsed::NeedMore) => offset += chunk.len(),
            Ok(Parsed::Complete { reply, consumed }) => {
                assert!(consumed <= chunk.len());
                return Some(Ok((reply, offset + consumed)));
            }
            Err(e) => return Some(Err(e)),
        }
    }
    None
}

/// The Stalwart pattern: every chunk size gives the same outcome.
fn check(kind: ReplyKind, input: &[u8], expected: Option<Outcome>) {
    let mut size = 1;
    while size <= 512 {
        let got = run_chunked(kind, input, size);
        assert_eq!(
            got,
            expected,
            "chunk size {size}, input {}",
            show_bytes(input)
        );
        size *= 2;
    }
}

#[test]
fn single_line_replies() {
    use ReplyKind::SingleLine as S;
    check(S, b"+OK ready\r\n", Some(Ok((ok("ready", None), 11))));
    check(S, b"+OK\r\n", Some(Ok((ok("", None), 5))));
    check(
        S,
        b"+ok lower case\r\n",
        Some(Ok((ok("lower case", None), 16))),
    );
    check(
        S,
        b"-ERR no such message\r\n",
        Some(Ok((
            Reply {
                status: Status::Err,
                text: "no such message".into(),
                body: None,
            },
            22,
        ))),
    );
    check(
        S,
        b"-err\n",
        Some(Ok((
            Reply {
                status: Status::Err,
                text: String::new(),
                body: None,
            },
            5,
        ))),
    );
    check(
        S,
        b"+ VXNlcm5hbWU6\r\n",
        Some(Ok((
            Reply {
                status: Status::Continuation,
                text: "VXNlcm5hbWU6".into(),
                body: None,
            },
            16,
        ))),
    );
    check(
        S,
        b"+\r\n",
        Some(Ok((
            Reply {
                status: Status::Continuation,
                text: String::new(),
                body: None,
            },
            3,
        ))),
    );
    // Bytes after the reply are not consumed.
    check(S, b"+OK a\r\n+OK b\r\n", Some(Ok((ok("a", None), 7))));
    // Missing line end: need more.
    check(S, b"+OK almost", None);
    check(S, b"+OK almost\r", None);
    // Invalid UTF-8 is decoded lossily.
    check(
        S,
        b"+OK caf\xe9\r\n",
        Some(Ok((ok("caf\u{fffd}", None), 10))),
    );
}

#[test]
fn multi_line_replies() {
    use ReplyKind::MultiLine as M;
    check(
        M,
        b"+OK 2 messages\r\n1 120\r\n2 200\r\n.\r\n",
        Some(Ok((ok("2 messages", Some(b"1 120\r\n2 200\r\n")), 33))),
    );
    // Empty body.
    check(M, b"+OK\r\n.\r\n", Some(Ok((ok("", Some(b"")), 8))));
    // Dot-unstuffing: `..` alone becomes `.`, `..x` becomes `.x`, dots inside a line stay.
    check(
        M,
        b"+OK\r\n..\r\n..x\r\na.b\r\n. \r\n.\r\n",
        Some(Ok((ok("", Some(b".\r\n.x\r\na.b\r\n \r\n")), 26))),
    );
    // Bare LF line ends become CRLF.
    check(
        M,
        b"+OK\nline1\nline2\n.\n",
        Some(Ok((ok("", Some(b"line1\r\nline2\r\n")), 18))),
    );
    // 8-bit data and NUL bytes are kept, a lone CR inside a line is data.
    check(
        M,
        b"+OK\r\na\0b\xff\r\nc\rd\r\n.\r\n",
        Some(Ok((ok("", Some(b"a\0b\xff\r\nc\rd\r\n")), 19))),
    );
    // -ERR has no body.
    check(
        M,
        b"-ERR no such message\r\nrest",
        Some(Ok((
            Reply {
                status: Status::Err,
                text: "no such message".into(),
                body: None,
            },
            22,
        ))),
    );
    // Missing final line end or terminator: need more.
    check(M, b"+OK\r\nabc\r\n.", None);
    check(M, b"+OK\r\nabc\r\n.\r", None);
    check(M, b"+OK\r\nabc\r\n", None);
    // Trailing bytes stay unconsumed.
    check(M, b"+OK\r\n.\r\n+OK", Some(Ok((ok("", Some(b"")), 8))));
    // A continuation is not a multi-line reply.
    check(
        M,
        b"+ abc\r\n",
        Some(Err(ReplyError::UnexpectedContinuation {
            received: "\"+ abc\"".into(),
        })),
    );
}

#[test]
fn garbage_status_lines() {
    use ReplyKind::SingleLine as S;
    check(
        S,
        b"HTTP/1.1 400 Bad Request\r\n",
        Some(Err(ReplyError::BadStatusLine {
            received: "\"HTTP/1.1 400 Bad Request\"".into(),
        })),
    );
    check(
        S,
        b"\r\n",
        Some(Err(ReplyError::BadStatusLine {
            received: "an empty line".into(),
        })),
    );
    check(
        S,
        b"+OKAY\r\n",
        Some(Err(ReplyError::BadStatusLine {
            received: "\"+OKAY\"".into(),
        })),
    );
    check(
        S,
        b"* OK IMAP4rev1\x01\r\n",
        Some(Err(ReplyError::BadStatusLine {
            received: "\"* OK IMAP4rev1\\u{1}\"".into(),
        })),
    );
}

#[test]
fn garbage_is_truncated_in_errors() {
    let mut line = vec![b'x'; 150];
    line.extend_from_slice(b"\r\n");
    let mut parser = ReplyParser::new(
        ReplyKind::SingleLine,
        ReplyLimits {
            max_status_line: 1000,
            ..limits()
        },
    );
    let err = parser.feed(&line).expect_err("must fail");
    let ReplyError::BadStatusLine { received } = &err else {
        panic!("unexpected {err:?}");
    };
    assert!(received.starts_with(&format!("\"{}\"", "x".repeat(100))));
    assert!(received.ends_with("(truncated, 150 bytes in all)"));
    // The parser stays failed.
    assert_eq!(parser.feed(b"+OK\r\n"), Err(err));
}

#[test]
fn status_line_limit() {
    use ReplyKind::SingleLine as S;
    let mut at_limit = b"+OK ".to_vec();
    at_limit.extend(std::iter::repeat_n(b'a', 60));
    let mut input = at_limit.clone();
    input.extend_from_slice(b"\r\n");
    check(S, &input, Some(Ok((ok(&"a".repeat(60), None), 66))));
    let mut over = at_limit.clone();
    over.push(b'a');
    over.extend_from_slice(b"\r\n");
    let err = Some(Err(ReplyError::StatusLineTooLong { limit: 64 }));
    check(S, &over, err.clone());
    // Detected without a line end too: the parser does not buffer without bound.
    check(S, &[b'+'; 600], err.clone());
    // The status line limit applies to multi-line replies.
    check(ReplyKind::MultiLine, &over, err);
}

#[test]
fn data_line_limit() {
    use ReplyKind::MultiLine as M;
    let mut input = b"+OK\r\n".to_vec();
    input.extend(std::iter::repeat_n(b'd', 32));
    input.extend_from_slice(b"\r\n.\r\n");
    let mut body = vec![b'd'; 32];
    body.extend_from_slice(b"\r\n");
    check(M, &input, Some(Ok((ok("", Some(&body)), input.len()))));
    // Over the limit: error, with or without a line end.
    let mut over = b"+OK\r\n".to_vec();
    over.extend(std::iter::repeat_n(b'd', 33));
    let err = Some(Err(ReplyError::DataLineTooLong { limit: 32 }));
    check(M, &over, err.clone());
    over.extend_from_slice(b"\n.\r\n");
    check(M, &over, err.clone());
    let mut endless = b"+OK\r\n".to_vec();
    endless.extend(std::iter::repeat_n(b'd', 1000));
    check(M, &endless, err);
}

#[test]
fn body_limit() {
    use ReplyKind::MultiLine as M;
    // 10 lines of 18 bytes + CRLF = 200 bytes: exactly the limit.
    let mut input = b"+OK\r\n".to_vec();
    for _ in 0..10 {
        input.extend(std::iter::repeat_n(b'b', 18));
        input.extend_from_slice(b"\r\n");
    }
    let body = input[5..].to_vec();
    input.extend_from_slice(b".\r\n");
    check(M, &input, Some(Ok((ok("", Some(&body)), input.len()))));
    // One more byte is too much.
    let mut over = b"+OK\r\nx".to_vec();
    over.extend_from_slice(&input[5..]);
    check(M, &over, Some(Err(ReplyError::BodyTooLarge { limit: 200 })));
    // Unstuffed size counts: 100 lines of ".." are 100 * 3 = 300 output bytes.
    let mut dots = b"+OK\r\n".to_vec();
    for _ in 0..100 {
        dots.extend_from_slice(b"..\n");
    }
    check(M, &dots, Some(Err(ReplyError::BodyTooLarge { limit: 200 })));
}

#[test]
fn body_lines_splits_on_crlf() {
    let lines: Vec<&[u8]> = body_lines(b"1 a\r\n2 b\r\n").collect();
    assert_eq!(lines, vec![&b"1 a"[..], &b"2 b"[..]]);
    assert_eq!(body_lines(b"").count(), 0);
    let lines: Vec<&[u8]> = body_lines(b"\r\n").collect();
    assert_eq!(lines, vec![&b""[..]]);
    let lines: Vec<&[u8]> = body_lines(b"x\r\n\r\ny\r\n").collect();
    assert_eq!(lines, vec![&b"x"[..], &b""[..], &b"y"[..]]);
}

proptest::proptest! {
    /// Any bytes, split anywhere: no panic, and the same outcome as one single feed.
    #[test]
    fn any_split_gives_the_same_outcome(
        input in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::strategy::Just(b'.'),
                proptest::strategy::Just(b'\r'),
                proptest::strategy::Just(b'\n'),
                proptest::strategy::Just(b'+'),
                proptest::num::u8::ANY,
            ],
            0..400,
        ),
        prefix in proptest::prop_oneof![
            proptest::strategy::Just(&b"+OK\r\n"[..]),
            proptest::strategy::Just(&b"-ERR x\r\n"[..]),
            proptest::strategy::Just(&b""[..]),
        ],
        multi in proptest::bool::ANY,
        size in 1usize..64,
    ) {
        let kind = if multi { ReplyKind::MultiLine } else { ReplyKind::SingleLine };
        let mut all = prefix.to_vec();
        all.extend_from_slice(&input);
        let whole = run_chunked(kind, &all, all.len().max(1));
        proptest::prop_assert_eq!(run_chunked(kind, &all, size), whole);
    }
}
