//! The envelope sender a message goes out with (pure): the Return-Path as it is when it is
//! ASCII, otherwise an ASCII form or the null sender, with the original named in a header.
//!
//! A non-ASCII address needs SMTPUTF8 (RFC 6531) on every hop to the mailbox. Without it on
//! the local server lettre refuses the transaction before sending anything, and that refusal
//! held the message back for ever. With it, the local server may still be unable to pass the
//! message on: Postfix takes `MAIL FROM:<jürgen@…> SMTPUTF8` with 250, then bounces the
//! message because Dovecot 2.3's LMTP does not offer SMTPUTF8 ("SMTPUTF8 is required, but was
//! not offered") — after Mailpull deleted it from the remote mailbox. The local server's
//! answer cannot tell which chain lies behind it, so a non-ASCII sender always goes out in an
//! ASCII form, which every hop takes: an ASCII local part with an internationalised domain goes out with the
//! domain in punycode (IDNA, the same mailbox); a non-ASCII local part has no ASCII form and
//! goes out as the null sender `<>`, as does a Return-Path that is no address at all. Then
//! `X-Mailpull-Original-Sender` names the original, as RFC 2047 encoded-words when it is not
//! plain ASCII: the field is unstructured text, where encoded-words are allowed and mail
//! clients decode them, while raw UTF-8 in a header (RFC 6532) is only for an SMTPUTF8
//! transaction — exactly the case this is not.

use lettre::Address;

/// The header naming the original envelope sender when the message goes out with another.
pub const ORIGINAL_SENDER_HEADER: &str = "X-Mailpull-Original-Sender";

/// At most this many characters of an unusable Return-Path go into the header.
const MAX_ORIGINAL_CHARS: usize = 320;

/// What to send as MAIL FROM, and the header to add to the message, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailFrom {
    /// `None`: the null sender `<>`.
    pub address: Option<Address>,
    /// A whole header line, ending in CRLF, to add to the message; `None` when the message
    /// goes out from its own sender (or had none).
    pub header: Option<String>,
}

/// The envelope sender for `sender` (the Return-Path's address, `None` when it had none or an
/// empty one), always ASCII. Never panics.
pub fn mail_from(sender: Option<&str>) -> MailFrom {
    let Some(sender) = sender.map(str::trim).filter(|s| !s.is_empty()) else {
        return MailFrom {
            address: None,
            header: None,
        };
    };
    let address = sender.parse::<Address>().ok();
    let address = match address {
        Some(address) if AsRef::<str>::as_ref(&address).is_ascii() => {
            return MailFrom {
                address: Some(address),
                header: None,
            };
        }
        Some(address) => ascii_form(&address),
        None => None,
    };
    MailFrom {
        address,
        header: Some(original_sender_header(sender)),
    }
}

/// The same mailbox in ASCII: the local part as it is (when ASCII), the domain in punycode.
fn ascii_form(address: &Address) -> Option<Address> {
    let user = address.user();
    if !user.is_ascii() {
        return None;
    }
    let domain = idna::domain_to_ascii(address.domain()).ok()?;
    format!("{user}@{domain}").parse::<Address>().ok()
}

/// `X-Mailpull-Original-Sender: <...>` with CRLF; the value in RFC 2047 `Q` encoded-words (at
/// most 75 characters each, folded) unless it is plain printable ASCII.
pub fn original_sender_header(sender: &str) -> String {
    let text: String = sender
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_ORIGINAL_CHARS)
        .collect();
    let text = format!("<{text}>");
    let plain = text.bytes().all(|b| b.is_ascii_graphic() || b == b' ') && !text.contains("=?");
    let value = if plain {
        text
    } else {
        encoded_words(&text).join("\r\n ")
    };
    format!("{ORIGINAL_SENDER_HEADER}: {value}\r\n")
}

/// `text` as RFC 2047 `Q` encoded-words of at most 75 characters, split between characters.
fn encoded_words(text: &str) -> Vec<String> {
    const PREFIX: &str = "=?UTF-8?Q?";
    const SUFFIX: &str = "?=";
    const MAX_PAYLOAD: usize = 75 - PREFIX.len() - SUFFIX.len();
    let mut words = Vec::new();
    let mut payload = String::new();
    for c in text.chars() {
        let mut piece = String::new();
        match c {
            ' ' => piece.push('_'),
            '=' | '?' | '_' => piece.push_str(&format!("={:02X}", c as u32)),
            c if c.is_ascii_graphic() => piece.push(c),
            c => {
                let mut buf = [0u8; 4];
                for byte in c.encode_utf8(&mut buf).bytes() {
                    piece.push_str(&format!("={byte:02X}"));
                }
            }
        }
        if payload.len() + piece.len() > MAX_PAYLOAD {
            words.push(format!("{PREFIX}{payload}{SUFFIX}"));
            payload.clear();
        }
        payload.push_str(&piece);
    }
    if !payload.is_empty() {
        words.push(format!("{PREFIX}{payload}{SUFFIX}"));
    }
    words
}

/// Where a header may be added after the first header field of `message` (the trace header
/// Mailpull prepends): the offset just past that field's line end, folded lines included.
pub fn after_first_field(message: &[u8]) -> usize {
    let mut at = 0;
    while let Some(nl) = message[at..].iter().position(|&b| b == b'\n') {
        at += nl + 1;
        if !matches!(message.get(at), Some(b' ' | b'\t')) {
            return at;
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide(sender: &str) -> (Option<String>, Option<String>) {
        let got = mail_from(Some(sender));
        (got.address.map(|a| a.to_string()), got.header)
    }

    #[test]
    fn ascii_sender_goes_out_as_it_is() {
        assert_eq!(
            decide("Bob@Example.org"),
            (Some("Bob@Example.org".into()), None)
        );
        assert_eq!(
            mail_from(None),
            MailFrom {
                address: None,
                header: None
            }
        );
        assert_eq!(mail_from(Some("  ")).header, None);
    }

    #[test]
    fn non_ascii_domain_goes_out_in_punycode() {
        assert_eq!(
            decide("juergen@bücher.example"),
            (
                Some("juergen@xn--bcher-kva.example".into()),
                Some(
                    "X-Mailpull-Original-Sender: =?UTF-8?Q?<juergen@b=C3=BCcher.example>?=\r\n"
                        .into()
                )
            )
        );
    }

    #[test]
    fn non_ascii_local_part_goes_out_as_the_null_sender() {
        assert_eq!(
            decide("jürgen@example.com"),
            (
                None,
                Some(
                    "X-Mailpull-Original-Sender: =?UTF-8?Q?<j=C3=BCrgen@example.com>?=\r\n".into()
                )
            )
        );
        let (address, header) = decide("jürgen@bücher.example");
        assert_eq!(address, None);
        assert_eq!(
            header.as_deref(),
            Some("X-Mailpull-Original-Sender: =?UTF-8?Q?<j=C3=BCrgen@b=C3=BCcher.example>?=\r\n")
        );
    }

    #[test]
    fn garbage_goes_out_as_the_null_sender_with_the_header() {
        assert_eq!(
            decide("not an address"),
            (
                None,
                Some("X-Mailpull-Original-Sender: <not an address>\r\n".into())
            )
        );
        // Control characters never reach the message; "=?" is encoded, not passed as it is.
        let (address, header) = decide("a\r\nBcc: x@y.z\0@");
        assert_eq!(address, None);
        let header = header.expect("a header");
        assert_eq!(header.matches("\r\n").count(), 1, "{header:?}");
        assert!(header.ends_with("\r\n"));
        let (_, header) = decide("=?x?= y");
        assert!(header.expect("a header").contains("=?UTF-8?Q?<=3D=3Fx"));
        // A domain IDNA refuses: no ASCII form, the null sender.
        let (address, header) = decide("a@xn--ü.example");
        assert_eq!(address, None);
        assert!(header.is_some());
    }

    #[test]
    fn long_or_odd_senders_never_panic_and_fold_into_short_words() {
        let long = format!("{}@{}.example", "ü".repeat(200), "ß".repeat(300));
        for sender in [
            long.as_str(),
            "@",
            "<>",
            "a@",
            "@b",
            "ü",
            "\u{1F600}@\u{1F600}",
            "a@[127.0.0.1]",
            "\u{0}",
        ] {
            let got = mail_from(Some(sender));
            if let Some(address) = &got.address {
                assert!(AsRef::<str>::as_ref(address).is_ascii(), "{address}");
            }
            if let Some(header) = got.header {
                assert!(header.is_ascii(), "{header}");
                for line in header.split("\r\n") {
                    assert!(line.len() <= 998, "{line}");
                    for word in line.split(' ').filter(|w| w.starts_with("=?")) {
                        assert!(word.len() <= 75, "{word}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_header_goes_after_the_first_field() {
        let msg = b"Received: from a\r\n\tby b;\r\n\tdate\r\nReturn-Path: <x@y>\r\n\r\nbody";
        assert_eq!(
            &msg[after_first_field(msg)..],
            b"Return-Path: <x@y>\r\n\r\nbody"
        );
        assert_eq!(after_first_field(b"A: b\nC: d\n"), 5);
        assert_eq!(after_first_field(b"no line end"), 0);
        assert_eq!(after_first_field(b"A: b\r\n folded"), 0);
        assert_eq!(after_first_field(b""), 0);
    }
}
