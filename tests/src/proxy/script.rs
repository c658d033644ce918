//! The fault script: when a rule fires ([`Trigger`]) and what the proxy then does
//! ([`Action`]), with the timeouts of the cutting actions and the byte-level matching of client
//! lines.

use std::time::Duration;

use crate::scripted::trim_line_end;

/// How long the server must be quiet, after it sent at least one complete line, before
/// [`Action::CutAfterReply`] considers a reply it cannot recognise complete and cuts.
pub const REPLY_QUIET: Duration = Duration::from_millis(250);

/// Like [`REPLY_QUIET`], for a reply whose end [`Action::CutAfterReply`] knows how to
/// recognise but has not seen yet (a pause in the middle of a RETR body, say).
pub const REPLY_QUIET_EXPECTING_END: Duration = Duration::from_secs(2);

/// How long [`Action::CutAfterReply`] and [`Action::CutMidReply`] wait for the server's reply
/// before they cut anyway.
pub const REPLY_GIVE_UP: Duration = Duration::from_secs(30);

/// When a rule fires.
///
/// Line triggers look at complete client lines (without the line ending), compare
/// ASCII-case-insensitively, and count per connection: `occurrence` 1 is the first matching
/// line on that connection (0 is treated as 1). Every client line counts, including SMTP
/// message bodies and IMAP literals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// The n-th client line that starts with `starts_with` (POP3 `RETR`, SMTP `DATA`).
    ClientLine {
        starts_with: String,
        occurrence: usize,
    },
    /// The n-th client line whose text after the first word (an IMAP tag such as `a3`)
    /// starts with `starts_with` (IMAP `UID FETCH`, `UID STORE`, `EXPUNGE`).
    ClientCommand {
        starts_with: String,
        occurrence: usize,
    },
    /// The n-th client line that contains `contains` anywhere.
    ClientLineContains { contains: String, occurrence: usize },
    /// The n-th client line equal to `line` (SMTP's end of data `.`).
    ClientLineExact { line: String, occurrence: usize },
    /// The moment the server has sent this many bytes in total on the connection. The bytes
    /// up to that point are forwarded; the action applies to what follows. `ServerBytes(0)`
    /// fires when the server's first data (usually its greeting) arrives.
    ServerBytes(u64),
}

impl Trigger {
    /// [`Trigger::ClientLine`]: the `occurrence`-th client line starting with `starts_with`.
    pub fn line(starts_with: impl Into<String>, occurrence: usize) -> Self {
        Self::ClientLine {
            starts_with: starts_with.into(),
            occurrence,
        }
    }

    /// [`Trigger::ClientCommand`]: the `occurrence`-th tagged IMAP command starting with
    /// `starts_with` after its tag.
    pub fn command(starts_with: impl Into<String>, occurrence: usize) -> Self {
        Self::ClientCommand {
            starts_with: starts_with.into(),
            occurrence,
        }
    }

    /// [`Trigger::ClientLineContains`]: the `occurrence`-th client line containing `contains`.
    pub fn contains(contains: impl Into<String>, occurrence: usize) -> Self {
        Self::ClientLineContains {
            contains: contains.into(),
            occurrence,
        }
    }

    /// [`Trigger::ClientLineExact`]: the `occurrence`-th client line equal to `line`.
    pub fn exact(line: impl Into<String>, occurrence: usize) -> Self {
        Self::ClientLineExact {
            line: line.into(),
            occurrence,
        }
    }

    /// SMTP's end-of-data line `.` of the `occurrence`-th message on a connection
    /// (dot-stuffed body lines never equal `.`).
    pub fn smtp_end_of_data(occurrence: usize) -> Self {
        Self::exact(".", occurrence)
    }

    /// Whether a client line (line ending included or not) matches this trigger's pattern;
    /// always false for [`Trigger::ServerBytes`].
    pub fn matches_line(&self, line: &[u8]) -> bool {
        let line = trim_line_end(line);
        match self {
            Self::ClientLine { starts_with, .. } => starts_with_ci(line, starts_with.as_bytes()),
            Self::ClientCommand { starts_with, .. } => {
                starts_with_ci(after_tag(line), starts_with.as_bytes())
            }
            Self::ClientLineContains { contains, .. } => contains_ci(line, contains.as_bytes()),
            Self::ClientLineExact { line: want, .. } => line.eq_ignore_ascii_case(want.as_bytes()),
            Self::ServerBytes(_) => false,
        }
    }

    pub(super) fn occurrence(&self) -> usize {
        match self {
            Self::ClientLine { occurrence, .. }
            | Self::ClientCommand { occurrence, .. }
            | Self::ClientLineContains { occurrence, .. }
            | Self::ClientLineExact { occurrence, .. } => (*occurrence).max(1),
            Self::ServerBytes(_) => 1,
        }
    }
}

/// What the proxy does when a rule fires. After a cut both sides are closed; client data that
/// arrives after the trigger is never forwarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Close both sides without forwarding the triggering client line. With
    /// [`Trigger::ServerBytes`]: the client gets exactly that many bytes, then the cut.
    CutBeforeForwarding,
    /// Forward the triggering line, then forward the server's whole reply, then close.
    ///
    /// The end of the reply is recognised from the triggering command: a POP3 multi-line
    /// reply (RETR, TOP, CAPA, LIST/UIDL without argument) ends with its `.` line or a
    /// `-ERR`; other POP3 and SMTP commands (and SMTP's end of data `.`) end with a `+OK`,
    /// `-ERR`, `+ ` or final `NNN ` line; an IMAP command `TAG ...` ends with the line
    /// `TAG OK|NO|BAD ...` or a `+` continuation. Otherwise (or if that end never comes) the
    /// reply is taken as complete once at least one complete line arrived and the server has
    /// been quiet for [`REPLY_QUIET`] ([`REPLY_QUIET_EXPECTING_END`] when an end was
    /// expected). Cuts anyway after [`REPLY_GIVE_UP`] or when the server closes.
    CutAfterReply,
    /// Forward the triggering line, then forward only `after_bytes` bytes of what the server
    /// sends next, then close. With `after_bytes: 0` the cut waits until the server starts to
    /// answer (so the server has processed the line) and forwards none of it. Cuts anyway
    /// after [`REPLY_GIVE_UP`].
    CutMidReply { after_bytes: usize },
    /// Stop forwarding in both directions for this long, then carry on normally (the held
    /// client line is forwarded after the stall). If the client closes during the stall, the
    /// proxy closes the server side at once.
    Stall(Duration),
    /// Do not forward the triggering client line; answer it with this text instead (line
    /// endings included), every `{tag}` replaced by the line's first word (an IMAP tag), then
    /// carry on normally: a server that refuses one command (`{tag} NO ...`) while the
    /// connection stays good. With [`Trigger::ServerBytes`] there is no line to answer: the
    /// connection is cut.
    AnswerInstead(String),
    /// Forward the triggering line and the server's reply to it (its end recognised as for
    /// [`Action::CutAfterReply`]), and send these bytes to the client right behind that reply,
    /// in the same write, as if the server had sent them (a man in the middle adding lines
    /// after a STARTTLS `220`). From then on every byte passes through unchanged in both
    /// directions (no more line handling: a TLS handshake may follow). With
    /// [`Trigger::ServerBytes`] the bytes go to the client at that point.
    InjectAfterReply(String),
}

impl Action {
    /// [`Action::AnswerInstead`] with an IMAP tagged reply: `{tag} <text>\r\n`.
    pub fn imap_tagged(text: &str) -> Self {
        Self::AnswerInstead(format!("{{tag}} {text}\r\n"))
    }
}

/// The answer of [`Action::AnswerInstead`] to the client line `line`.
pub(super) fn answer_for(template: &str, line: &[u8]) -> String {
    let line = trim_line_end(line);
    let tag_end = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
    template.replace("{tag}", &String::from_utf8_lossy(&line[..tag_end]))
}

pub(super) fn starts_with_ci(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.len() >= needle.len() && haystack[..needle.len()].eq_ignore_ascii_case(needle)
}

fn contains_ci(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty()
        || haystack
            .windows(needle.len())
            .any(|window| window.eq_ignore_ascii_case(needle))
}

/// The text after the first word and the spaces that follow it (an IMAP command after its tag).
fn after_tag(line: &[u8]) -> &[u8] {
    match line.iter().position(|&b| b == b' ') {
        Some(space) => {
            let rest = &line[space..];
            let start = rest.iter().position(|&b| b != b' ').unwrap_or(rest.len());
            &rest[start..]
        }
        None => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_instead_carries_the_commands_tag() {
        let Action::AnswerInstead(template) = Action::imap_tagged("NO [SERVERBUG] broken") else {
            panic!("not an answer");
        };
        assert_eq!(
            answer_for(&template, b"A7 UID FETCH 2 (BODY.PEEK[])\r\n"),
            "A7 NO [SERVERBUG] broken\r\n"
        );
    }

    #[test]
    fn line_triggers_match_case_insensitively() {
        assert!(Trigger::line("RETR", 1).matches_line(b"retr 3\r\n"));
        assert!(!Trigger::line("RETR", 1).matches_line(b"LIST\r\n"));
        assert!(Trigger::command("UID FETCH", 1).matches_line(b"a3 uid fetch 1:* BODY[]\r\n"));
        assert!(!Trigger::command("UID FETCH", 1).matches_line(b"UID FETCH 1\r\n"));
        assert!(Trigger::contains("body[]", 1).matches_line(b"a3 UID FETCH 7 (BODY[])\r\n"));
        assert!(Trigger::smtp_end_of_data(1).matches_line(b".\r\n"));
        assert!(Trigger::smtp_end_of_data(1).matches_line(b".\n"));
        assert!(!Trigger::smtp_end_of_data(1).matches_line(b"..\r\n"));
        assert!(!Trigger::ServerBytes(3).matches_line(b"RETR 1\r\n"));
    }

    #[test]
    fn after_tag_skips_the_first_word() {
        assert_eq!(after_tag(b"a1  LOGIN x y"), b"LOGIN x y");
        assert_eq!(after_tag(b"NOOP"), b"");
    }
}
