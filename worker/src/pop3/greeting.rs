//! The server greeting (RFC 1939 section 4): its text and the APOP timestamp, parsed from the
//! text after `+OK`. Pure: no I/O, never panics.

/// The server's greeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greeting {
    /// The text after `+OK`.
    pub text: String,
    /// The APOP timestamp (`<...@...>`, brackets included) if the greeting has one.
    pub apop_timestamp: Option<String>,
}

impl Greeting {
    /// Parses the greeting text (after `+OK`), finding the APOP timestamp: the first
    /// `<...>` holding an `@` and only printable ASCII.
    pub fn parse(text: &str) -> Greeting {
        let apop_timestamp = text.find('<').and_then(|start| {
            let end = start + text[start..].find('>')?;
            let stamp = &text[start..=end];
            let inner = &stamp[1..stamp.len() - 1];
            let valid = inner.contains('@')
                && inner
                    .bytes()
                    .all(|b| (0x21..=0x7e).contains(&b) && b != b'<');
            valid.then(|| stamp.to_owned())
        });
        Greeting {
            text: text.to_owned(),
            apop_timestamp,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greeting_timestamp_parsing() {
        assert_eq!(Greeting::parse("Dovecot ready.").apop_timestamp, None);
        assert_eq!(Greeting::parse("ready <no-at-sign>").apop_timestamp, None);
        assert_eq!(Greeting::parse("ready <a b@c>").apop_timestamp, None);
        assert_eq!(
            Greeting::parse("ready <unterminated@x").apop_timestamp,
            None
        );
        assert_eq!(
            Greeting::parse("ready <1.2@host> more")
                .apop_timestamp
                .as_deref(),
            Some("<1.2@host>")
        );
    }

    #[test]
    fn edge_cases_keep_the_text_and_find_no_timestamp() {
        let empty = Greeting::parse("");
        assert_eq!(empty.text, "");
        assert_eq!(empty.apop_timestamp, None);
        // Only the first `<` counts, and a `<` inside the stamp spoils it.
        assert_eq!(Greeting::parse("<<1@h>").apop_timestamp, None);
        assert_eq!(Greeting::parse("a <b> <1@h>").apop_timestamp, None);
        assert_eq!(Greeting::parse("<>").apop_timestamp, None);
        assert_eq!(Greeting::parse(">x@y<").apop_timestamp, None);
        assert_eq!(
            Greeting::parse("<@>").apop_timestamp.as_deref(),
            Some("<@>")
        );
        // Non-ASCII inside the stamp is refused; around it is fine.
        assert_eq!(Greeting::parse("<caf\u{e9}@h>").apop_timestamp, None);
        assert_eq!(
            Greeting::parse("\u{e9}t\u{e9} <1@h> \u{fffd}")
                .apop_timestamp
                .as_deref(),
            Some("<1@h>")
        );
        // A long greeting: the text is kept whole, the stamp found wherever it is.
        let long = format!("{} <9.9@host>", "x".repeat(10_000));
        let greeting = Greeting::parse(&long);
        assert_eq!(greeting.text.len(), long.len());
        assert_eq!(greeting.apop_timestamp.as_deref(), Some("<9.9@host>"));
    }
}
