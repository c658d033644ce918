//! The bodies of Mailpull's fuzz targets, one function per target. Each takes arbitrary bytes,
//! must never panic, and checks a property of the code under test (not only "no crash"):
//!
//! - [`pop3_reply`]: the POP3 reply parser gives the same replies and errors whatever the
//!   chunking of the input (byte by byte, in odd chunks, all at once), and every body line
//!   ends in CRLF (no bare LF).
//! - [`pop3_parsers`]: the pure POP3 parsers (greeting, CAPA, UIDL/LIST, STAT, the choice of
//!   login mechanism) never panic; a listing read from a reply body is the same whatever the
//!   chunking of the reply, and what they accept re-encodes to an equal result (round trip);
//!   an APOP timestamp is a printable `<…@…>` taken from the greeting.
//! - [`routing`]: the routing decision for arbitrary header bytes (and, behind a `RULES:`
//!   line, arbitrary rules) is the same from [`decide`](mailpull_worker::routing::decide) and
//!   a prepared [`Router`](mailpull_worker::routing::Router); every recipient is a valid RCPT
//!   TO path (no control characters, specials only in a quoted local part), and under the
//!   fixed rules a lowercase local address.
//! - [`ipc_frame`]: the pipe's frame decoder yields the same frames whatever the chunking,
//!   never a frame above the limit, and a decoded request re-encodes to an equal request.
//! - [`config`]: the configuration loader (`config::parse`, from a string) returns a
//!   configuration or an error naming the file, never a panic.
//! - [`import`]: `import fetchmailrc|getmailrc` on arbitrary text (first byte: which) gives
//!   a configuration that passes the worker's check and writes no password, or an error
//!   naming the file and a line of it.
//!
//! The fuzz targets in `fuzz_targets/` call these; `tests/fuzz_regressions.rs` in the main
//! workspace runs them over `fuzz/corpus/*` seeds and `fuzz/regressions/*` (saved crashers)
//! in `cargo test`.

use mailpull_shared::ipc::frame::{self, FrameDecoder};
use mailpull_shared::ipc::{ClientHello, MAX_FRAME, Request, Response};
use mailpull_worker::pop3::auth::{AuthMethod, choose_method};
use mailpull_worker::pop3::listing::{parse_list_body, parse_stat, parse_uidl_body};
use mailpull_worker::pop3::reply::{Parsed, ReplyKind, ReplyLimits, ReplyParser, body_lines};
use mailpull_worker::pop3::{Capabilities, Greeting};
use mailpull_worker::routing::{Router, Rules, decide};

/// Small limits so the fuzzer reaches them.
const LIMITS: ReplyLimits = ReplyLimits {
    max_status_line: 64,
    max_data_line: 256,
    max_body: 4096,
};

/// Every reply (or the error that ends the stream) from `input` fed in chunks of `chunk`.
fn replies(kind: ReplyKind, input: &[u8], chunk: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut parser = ReplyParser::new(kind, LIMITS);
    let mut pending: Vec<u8> = Vec::new();
    for piece in input.chunks(chunk.max(1)) {
        pending.extend_from_slice(piece);
        loop {
            if pending.is_empty() {
                break;
            }
            match parser.feed(&pending) {
                Ok(Parsed::NeedMore) => {
                    pending.clear();
                    break;
                }
                Ok(Parsed::Complete { reply, consumed }) => {
                    assert!(consumed <= pending.len(), "consumed more than fed");
                    if let Some(body) = &reply.body {
                        assert!(body.len() as u64 <= LIMITS.max_body, "body above the limit");
                        assert!(
                            body.is_empty() || body.ends_with(b"\r\n"),
                            "body does not end in CRLF"
                        );
                        for (i, _) in body.iter().enumerate().filter(|(_, b)| **b == b'\n') {
                            assert!(i > 0 && body[i - 1] == b'\r', "bare LF in a body");
                        }
                        // body_lines strips exactly the line ends.
                        let joined: usize = body_lines(body).map(|l| l.len() + 2).sum();
                        assert_eq!(joined, body.len(), "body_lines lost bytes");
                    }
                    out.push(format!(
                        "{:?} {:?} {:?}",
                        reply.status, reply.text, reply.body
                    ));
                    pending.drain(..consumed);
                    parser = ReplyParser::new(kind, LIMITS);
                }
                Err(err) => {
                    // Errors print without panicking and name something.
                    let text = err.to_string();
                    assert!(!text.is_empty());
                    out.push(format!("error: {text}"));
                    return out;
                }
            }
        }
    }
    out
}

/// POP3 replies: the first byte picks the reply shape, the rest is what the server sent.
pub fn pop3_reply(data: &[u8]) {
    let Some((&first, input)) = data.split_first() else {
        return;
    };
    let kind = if first & 1 == 0 {
        ReplyKind::SingleLine
    } else {
        ReplyKind::MultiLine
    };
    let whole = replies(kind, input, input.len().max(1));
    for chunk in [1, 2, 3, 7, 64] {
        assert_eq!(
            replies(kind, input, chunk),
            whole,
            "chunks of {chunk} parse differently"
        );
    }
    let _ = mailpull_worker::pop3::reply::parse_status(input);
}

/// The body of the multi-line `+OK` reply `input` fed in chunks of `chunk` (`None` when the
/// input is not one whole `+OK` reply).
fn reply_body(input: &[u8], chunk: usize) -> Option<Vec<u8>> {
    let limits = ReplyLimits {
        max_status_line: 1024,
        max_data_line: 4096,
        max_body: 1 << 20,
    };
    let mut parser = ReplyParser::new(ReplyKind::MultiLine, limits);
    for piece in input.chunks(chunk.max(1)) {
        // A multi-line reply ends with its last byte; the parser consumes whole pieces.
        match parser.feed(piece) {
            Ok(Parsed::NeedMore) => {}
            Ok(Parsed::Complete { reply, .. }) => return reply.body,
            Err(_) => return None,
        }
    }
    None
}

/// A listing body: each line ends in CRLF.
fn listing<T: std::fmt::Display>(rows: &[(u32, T)]) -> Vec<u8> {
    rows.iter()
        .flat_map(|(n, v)| format!("{n} {v}\r\n").into_bytes())
        .collect()
}

/// The pure POP3 parsers. The first byte picks what `data` is fed to; the rest is what the
/// server sent.
pub fn pop3_parsers(data: &[u8]) {
    let Some((&first, input)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(input);

    // Greeting: the timestamp is a `<…@…>` of printable ASCII found in the text.
    let greeting = Greeting::parse(&text);
    assert_eq!(greeting.text, text, "greeting text changed");
    if let Some(stamp) = &greeting.apop_timestamp {
        assert!(
            text.contains(stamp.as_str()),
            "timestamp not in the greeting"
        );
        assert!(stamp.starts_with('<') && stamp.ends_with('>') && stamp.contains('@'));
        assert!(stamp.bytes().all(|b| (0x21..=0x7e).contains(&b)));
    }

    // STAT: what parses prints back as two numbers that parse the same.
    if let Ok((count, size)) = parse_stat(&text) {
        assert_eq!(
            parse_stat(&format!("{count} {size}")).ok(),
            Some((count, size))
        );
    }

    // CAPA, UIDL and LIST from a reply body: the same whatever the chunking of the reply.
    let body = match first % 3 {
        0 => input.to_vec(),
        _ => {
            let whole = reply_body(input, input.len());
            for chunk in [1, 2, 3, 7, 64] {
                assert_eq!(
                    reply_body(input, chunk),
                    whole,
                    "chunks of {chunk} give another body"
                );
            }
            match whole {
                Some(body) => body,
                None => return,
            }
        }
    };
    let caps = Capabilities::from_body(&body);
    assert!(caps.is_known());
    for line in caps.lines() {
        assert!(
            !line.is_empty() && line.trim() == line,
            "untrimmed line {line:?}"
        );
        let name = line.split_whitespace().next().unwrap_or_default();
        assert!(caps.has(name), "listed capability {name:?} not found");
    }
    // The choice of login mechanism: never "auto", and only what the server offers.
    let with_stamp = Greeting::parse("<1.2@fuzz>");
    for greeting in [None, Some(&greeting), Some(&with_stamp)] {
        if let Ok(method) = choose_method(AuthMethod::Auto, &caps, greeting) {
            assert_ne!(method, AuthMethod::Auto);
            match method {
                AuthMethod::SaslPlain => assert!(caps.offers_sasl("PLAIN")),
                AuthMethod::SaslLogin => assert!(caps.offers_sasl("LOGIN")),
                AuthMethod::Apop => {
                    assert!(greeting.is_some_and(|g| g.apop_timestamp.is_some()))
                }
                AuthMethod::User | AuthMethod::Auto => assert!(caps.user()),
            }
        }
    }
    if let Ok(rows) = parse_uidl_body(&body) {
        let mut seen = std::collections::HashSet::new();
        for (n, uid) in &rows {
            assert!(*n > 0 && seen.insert(*n), "message {n} zero or twice");
            assert!((1..=70).contains(&uid.len()), "uid length {}", uid.len());
        }
        let again = parse_uidl_body(&listing(&rows)).expect("a parsed UIDL listing re-parses");
        assert_eq!(again, rows, "UIDL round trip");
    }
    if let Ok(rows) = parse_list_body(&body) {
        let again = parse_list_body(&listing(&rows)).expect("a parsed LIST listing re-parses");
        assert_eq!(again, rows, "LIST round trip");
    }
}

fn rules() -> Rules {
    let mut rules = Rules {
        local_domains: vec!["mydomain.com".into(), "bücher.example".into()],
        default_domain: "mydomain.com".into(),
        fallback: Some("postmaster".into()),
        installation_id: "fuzz-installation".into(),
        ..Rules::default()
    };
    rules.aliases.insert("sales".into(), "alice".into());
    rules
        .aliases
        .insert("info@mydomain.com".into(), "bob@mydomain.com".into());
    rules
}

/// Rules from the first line of `data` after `RULES:` (`|`-separated: a local domain, the
/// default domain, an alias key, its value, a fallback, a delimiter character), or `None`.
/// The routing functions accept any rules, valid or not.
fn custom_rules(data: &[u8]) -> Option<(Rules, &[u8])> {
    let rest = data.strip_prefix(b"RULES:")?;
    let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
    let line = String::from_utf8_lossy(&rest[..end]);
    let message = rest.get(end + 1..).unwrap_or_default();
    let fields: Vec<&str> = line.split('|').collect();
    let field = |i: usize| fields.get(i).map(|f| f.to_string());
    let mut rules = rules();
    if let Some(domain) = field(0) {
        rules.local_domains.push(domain);
    }
    if let Some(domain) = field(1) {
        rules.default_domain = domain;
    }
    if let (Some(key), Some(value)) = (field(2), field(3)) {
        rules.aliases.insert(key, value);
    }
    rules.fallback = field(4);
    rules.recipient_delimiter = field(5).and_then(|d| d.chars().next());
    rules.received_trusted = fields.len() % 4;
    rules.max_received = fields.len();
    Some((rules, message))
}

/// Routing: `data` is a raw message (headers and perhaps a body), optionally preceded by a
/// `RULES:` line (see [`custom_rules`]).
pub fn routing(data: &[u8]) {
    let (rules, message, fixed) = match custom_rules(data) {
        Some((rules, message)) => (rules, message, false),
        None => (rules(), data, true),
    };
    let once = decide(message, &rules);
    let router = Router::new(&rules);
    let prepared = router.decide(message);
    assert_eq!(
        format!("{once:?}"),
        format!("{prepared:?}"),
        "decide and Router disagree"
    );
    for recipient in &prepared.recipients {
        let address = &recipient.address;
        let (local, domain) = address
            .rsplit_once('@')
            .unwrap_or_else(|| panic!("recipient without a domain: {address:?}"));
        if fixed {
            assert_eq!(local, local.to_lowercase(), "local part not lowercase");
            assert!(
                domain == "mydomain.com" || domain == "xn--bcher-kva.example",
                "recipient outside the local domains: {address:?}"
            );
        }
        // A valid RCPT TO path: no control characters (CR, LF, NUL) anywhere, a plain domain,
        // and `<`, `>`, spaces or quotes in the local part only inside a quoted string.
        assert!(
            !address.chars().any(char::is_control),
            "control character in a recipient: {address:?}"
        );
        assert!(
            !domain.contains(['<', '>', ' ', '"']),
            "bad domain in a recipient: {address:?}"
        );
        if local.contains(['<', '>', ' ', '"']) {
            assert!(
                local.len() >= 2 && local.starts_with('"') && local.ends_with('"'),
                "special characters outside a quoted local part: {address:?}"
            );
        }
    }
}

fn frames(data: &[u8], chunk: usize) -> (Vec<Vec<u8>>, Option<String>) {
    let mut decoder = FrameDecoder::new();
    let mut out = Vec::new();
    for piece in data.chunks(chunk.max(1)) {
        decoder.feed(piece);
        loop {
            match decoder.next_frame() {
                Ok(Some(body)) => {
                    assert!(body.len() <= MAX_FRAME, "frame above the limit");
                    out.push(body);
                }
                Ok(None) => break,
                Err(err) => return (out, Some(err.to_string())),
            }
        }
    }
    let end = decoder.finish().err().map(|e| e.to_string());
    (out, end)
}

/// The pipe: `data` is what a client sends.
pub fn ipc_frame(data: &[u8]) {
    let whole = frames(data, data.len().max(1));
    for chunk in [1, 3, 4, 5, 1000] {
        let (bodies, err) = frames(data, chunk);
        // The same frames; an error at the same point (its text may count buffered bytes).
        assert_eq!(bodies, whole.0, "chunks of {chunk} give other frames");
        assert_eq!(err.is_some(), whole.1.is_some(), "chunks of {chunk}");
    }
    for body in &whole.0 {
        if let Ok(request) = frame::decode::<Request>(body) {
            let again = frame::encode(&request).expect("a decoded request encodes");
            let (bodies, _) = frames(&again, again.len());
            let back: Request = frame::decode(&bodies[0]).expect("re-decodes");
            assert_eq!(back, request, "request changed in a round trip");
        }
        let _ = frame::decode::<ClientHello>(body);
        let _ = frame::decode::<Response>(body);
    }
}

/// The configuration loader: `data` is a configuration file's text.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match mailpull_shared::config::parse(text, "fuzz.toml") {
        Ok(config) => {
            // A valid configuration has at least named profiles and a state directory.
            for profile in &config.profiles {
                assert!(!profile.name.is_empty(), "profile without a name accepted");
            }
        }
        Err(err) => {
            let text = err.to_string();
            assert!(
                text.contains("fuzz.toml"),
                "error does not name the file: {text}"
            );
        }
    }
}

/// `import fetchmailrc` (first byte even) or `import getmailrc` (odd) on the rest as text.
pub fn import(data: &[u8]) {
    use mailpull_worker::import::Options;
    use mailpull_worker::import::run::{Format, checked_text, import_texts};
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let format = if which % 2 == 0 {
        Format::Fetchmail
    } else {
        Format::Getmail
    };
    let files = [("fuzz.rc".to_string(), text.to_string())];
    match import_texts(format, &files, &Options::default()) {
        Ok(mut import) => {
            let toml = checked_text(format, &["fuzz.rc".to_string()], &mut import, "fuzz.toml")
                .unwrap_or_else(|err| panic!("the imported file does not pass the check: {err:#}"));
            assert!(
                !toml.lines().any(|line| line.starts_with("password = \"")),
                "a password written inline:\n{toml}"
            );
        }
        Err(err) => {
            assert_eq!(err.file, "fuzz.rc");
            let lines = text.lines().count().max(1);
            assert!(
                (1..=lines + 1).contains(&err.line),
                "line {} of a {lines}-line file: {err}",
                err.line
            );
        }
    }
}
