//! The server's capabilities (RFC 2449 `CAPA`), parsed from the body of the multi-line reply.
//! Pure: no I/O, never panics; lines that are not UTF-8 are read lossily.

use super::reply::body_lines;

/// The server's CAPA answer (RFC 2449). [`Capabilities::default()`] stands for "unknown"
/// (the server refused CAPA).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    lines: Vec<String>,
    known: bool,
}

impl Capabilities {
    /// Capabilities from CAPA's lines.
    pub fn from_lines(lines: Vec<String>) -> Self {
        Capabilities { lines, known: true }
    }

    /// Capabilities from the body of CAPA's `+OK` reply (dot-unstuffed, CRLF line ends):
    /// each line trimmed, empty lines dropped.
    pub fn from_body(body: &[u8]) -> Self {
        let lines = body_lines(body)
            .map(|l| String::from_utf8_lossy(l).trim().to_owned())
            .filter(|l| !l.is_empty())
            .collect();
        Capabilities::from_lines(lines)
    }

    /// Whether the server answered CAPA (false for [`Capabilities::default()`]).
    pub fn is_known(&self) -> bool {
        self.known
    }

    /// The raw capability lines.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// The arguments of capability `name` (case-insensitive), if the server lists it.
    pub fn get(&self, name: &str) -> Option<Vec<&str>> {
        self.lines.iter().find_map(|line| {
            let mut words = line.split_whitespace();
            let first = words.next()?;
            first.eq_ignore_ascii_case(name).then(|| words.collect())
        })
    }

    /// Whether the server lists capability `name` (case-insensitive).
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// STLS (RFC 2595).
    pub fn stls(&self) -> bool {
        self.has("STLS")
    }

    /// UIDL.
    pub fn uidl(&self) -> bool {
        self.has("UIDL")
    }

    /// USER/PASS login.
    pub fn user(&self) -> bool {
        self.has("USER")
    }

    /// PIPELINING.
    pub fn pipelining(&self) -> bool {
        self.has("PIPELINING")
    }

    /// The SASL mechanisms offered, upper-cased.
    pub fn sasl_mechanisms(&self) -> Vec<String> {
        self.get("SASL")
            .unwrap_or_default()
            .into_iter()
            .map(str::to_ascii_uppercase)
            .collect()
    }

    /// Whether SASL mechanism `mechanism` is offered (case-insensitive).
    pub fn offers_sasl(&self, mechanism: &str) -> bool {
        self.get("SASL")
            .unwrap_or_default()
            .iter()
            .any(|m| m.eq_ignore_ascii_case(mechanism))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_lines_become_capabilities() {
        let caps = Capabilities::from_body(
            b"TOP\r\nUSER\r\nSASL PLAIN login\r\nSTLS\r\nUIDL\r\nPIPELINING\r\nIMPLEMENTATION Test server\r\n",
        );
        assert!(caps.is_known());
        assert!(caps.stls() && caps.uidl() && caps.user() && caps.pipelining());
        assert_eq!(caps.sasl_mechanisms(), vec!["PLAIN", "LOGIN"]);
        assert!(caps.offers_sasl("login"));
        assert!(!caps.offers_sasl("CRAM-MD5"));
        assert_eq!(caps.get("IMPLEMENTATION"), Some(vec!["Test", "server"]));
        assert_eq!(caps.get("top"), Some(vec![]));
        assert_eq!(caps.lines().len(), 7);
    }

    #[test]
    fn empty_and_blank_bodies_are_known_but_offer_nothing() {
        for body in [&b""[..], b"\r\n", b"  \r\n\t\r\n"] {
            let caps = Capabilities::from_body(body);
            assert!(caps.is_known(), "{body:?}");
            assert!(caps.lines().is_empty(), "{body:?}");
            assert!(!caps.user() && !caps.stls() && caps.sasl_mechanisms().is_empty());
        }
        let unknown = Capabilities::default();
        assert!(!unknown.is_known() && unknown.get("USER").is_none());
    }

    #[test]
    fn lines_are_trimmed_and_words_split_on_any_blank() {
        let caps = Capabilities::from_body(b"  user \r\nSASL\tPLAIN   XOAUTH2\r\nSASL LOGIN\r\n");
        assert!(caps.user());
        assert_eq!(caps.lines()[0], "user");
        // The first SASL line counts.
        assert_eq!(caps.sasl_mechanisms(), vec!["PLAIN", "XOAUTH2"]);
        assert!(!caps.offers_sasl("LOGIN"));
        // A name must be the whole first word.
        assert!(!caps.has("US") && !caps.has("USERS"));
    }

    #[test]
    fn non_utf8_and_long_lines_do_not_hide_the_others() {
        let long = format!("X-{}\r\nUIDL\r\n", "a".repeat(100_000));
        let caps = Capabilities::from_body(long.as_bytes());
        assert!(caps.uidl());
        assert_eq!(caps.lines()[0].len(), 100_002);
        let caps = Capabilities::from_body(b"IMPLEMENTATION \xff\xfe\r\nSASL PL\xc3\r\nSTLS\r\n");
        assert!(caps.stls());
        assert_eq!(caps.get("IMPLEMENTATION"), Some(vec!["\u{fffd}\u{fffd}"]));
        assert!(!caps.offers_sasl("PLAIN"));
        // A bare LF ends a line too.
        let caps = Capabilities::from_body(b"USER\nSTLS\r\n");
        assert!(caps.user() && caps.stls());
    }

    #[test]
    fn capabilities_read_from_a_reply_fed_in_any_chunks_are_the_same() {
        use crate::pop3::reply::{Parsed, ReplyKind, ReplyLimits, ReplyParser};
        let reply = b"+OK Capability list follows\r\nTOP\r\nUSER\r\nSASL PLAIN LOGIN\r\nSTLS\r\n..X-DOT\r\n.\r\n";
        let mut seen = None;
        for chunk in 1..=512 {
            let mut parser = ReplyParser::new(ReplyKind::MultiLine, ReplyLimits::default());
            let mut body = None;
            for piece in reply.chunks(chunk) {
                if let Parsed::Complete { reply, .. } = parser.feed(piece).expect("a valid reply") {
                    body = reply.body;
                }
            }
            let caps = Capabilities::from_body(&body.expect("a body"));
            assert!(
                caps.user() && caps.stls() && caps.has(".X-DOT"),
                "chunk {chunk}"
            );
            assert_eq!(caps.sasl_mechanisms(), vec!["PLAIN", "LOGIN"]);
            match &seen {
                None => seen = Some(caps),
                Some(first) => assert_eq!(&caps, first, "chunk size {chunk}"),
            }
        }
    }
}
