//! How [`Action::CutAfterReply`](super::Action::CutAfterReply) sees the end of the server's
//! reply to the triggering command: POP3 multi-line and single-line replies, SMTP final lines,
//! IMAP tagged completions (skipping literals), and a quiet server otherwise.

use std::time::Duration;

use super::script::{REPLY_QUIET, REPLY_QUIET_EXPECTING_END, starts_with_ci};
use crate::scripted::trim_line_end;

/// How [`Action::CutAfterReply`](super::Action::CutAfterReply) recognises the end of the reply to the triggering line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ReplyEnd {
    /// POP3 multi-line: `-ERR` first line, or the `.` line.
    Pop3Multi,
    /// One final line: `+OK`, `-ERR`, `+ ` (SASL continuation) or SMTP `NNN ` / `NNN`.
    SingleLine,
    /// IMAP: the tagged completion `TAG ...` or a `+` continuation request.
    ImapTagged(Vec<u8>),
    /// Not recognisable: rely on the server going quiet.
    Unknown,
}

impl ReplyEnd {
    pub(super) fn for_command(line: &[u8]) -> Self {
        let line = trim_line_end(line);
        if line == b"." {
            return Self::SingleLine;
        }
        let mut words = line.split(|&b| b == b' ').filter(|word| !word.is_empty());
        let Some(first) = words.next() else {
            return Self::Unknown;
        };
        let verb = first.to_ascii_uppercase();
        let has_argument = words.next().is_some();
        match verb.as_slice() {
            b"RETR" | b"TOP" | b"CAPA" => Self::Pop3Multi,
            b"LIST" | b"UIDL" if !has_argument => Self::Pop3Multi,
            b"LIST" | b"UIDL" | b"USER" | b"PASS" | b"APOP" | b"STAT" | b"DELE" | b"NOOP"
            | b"RSET" | b"QUIT" | b"STLS" | b"UTF8" | b"AUTH" | b"HELO" | b"EHLO" | b"LHLO"
            | b"MAIL" | b"RCPT" | b"DATA" | b"VRFY" | b"STARTTLS" => Self::SingleLine,
            _ if has_argument => Self::ImapTagged(first.to_vec()),
            _ => Self::Unknown,
        }
    }

    /// Whether complete reply line number `index` (0-based, line ending removed; only its
    /// first bytes are kept) ends the reply.
    fn is_last_line(&self, index: usize, line: &[u8]) -> bool {
        match self {
            Self::Pop3Multi => {
                (index == 0 && starts_with_ci(line, b"-ERR")) || (index > 0 && line == b".")
            }
            Self::SingleLine => {
                starts_with_ci(line, b"+OK")
                    || starts_with_ci(line, b"-ERR")
                    || is_continuation(line)
                    || is_final_smtp_line(line)
            }
            Self::ImapTagged(tag) => {
                is_continuation(line)
                    || (starts_with_ci(line, tag) && line.get(tag.len()) == Some(&b' '))
            }
            Self::Unknown => false,
        }
    }
}

fn is_continuation(line: &[u8]) -> bool {
    line == b"+" || line.starts_with(b"+ ")
}

fn is_final_smtp_line(line: &[u8]) -> bool {
    line.len() >= 3
        && line[..3].iter().all(u8::is_ascii_digit)
        && matches!(line.get(3), None | Some(b' '))
}

/// Watches the server's reply for [`Action::CutAfterReply`](super::Action::CutAfterReply).
pub(super) struct ReplyWatch {
    end: ReplyEnd,
    /// The start of the current incomplete line (enough to recognise a last line).
    partial: Vec<u8>,
    /// The last bytes of the current line (enough to see an IMAP literal `{N}`).
    tail: Vec<u8>,
    /// Bytes of an IMAP literal still to pass without looking at them.
    literal_left: usize,
    lines: usize,
    pub(super) complete: bool,
}

/// The size N of an IMAP literal announced at the end of a line (`{N}` or `{N+}`).
fn literal_size(line_end: &[u8]) -> Option<usize> {
    let inner = line_end.strip_suffix(b"}")?;
    let inner = inner.strip_suffix(b"+").unwrap_or(inner);
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let digits = &inner[open + 1..];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// How much of a reply line's start [`ReplyWatch`] keeps: longer than any tag or status it
/// looks for.
const KEEP_OF_LINE: usize = 256;
/// How much of a reply line's end [`ReplyWatch`] keeps: longer than any literal marker.
const KEEP_OF_LINE_END: usize = 32;

impl ReplyWatch {
    pub(super) fn new(end: ReplyEnd) -> Self {
        Self {
            end,
            partial: Vec::new(),
            tail: Vec::new(),
            literal_left: 0,
            lines: 0,
            complete: false,
        }
    }

    fn keep(&mut self, piece: &[u8]) {
        let room = KEEP_OF_LINE.saturating_sub(self.partial.len());
        self.partial
            .extend_from_slice(&piece[..piece.len().min(room)]);
        self.tail.extend_from_slice(piece);
        if self.tail.len() > KEEP_OF_LINE_END {
            self.tail.drain(..self.tail.len() - KEEP_OF_LINE_END);
        }
    }

    /// Scans server data; returns how many bytes belong to the reply (all of them, or up to
    /// and including the reply's last line).
    pub(super) fn feed(&mut self, data: &[u8]) -> usize {
        let mut start = 0;
        while start < data.len() {
            if self.literal_left > 0 {
                // Literal bytes are part of the current line; only their length matters.
                let skip = self.literal_left.min(data.len() - start);
                self.literal_left -= skip;
                self.tail.clear();
                start += skip;
                continue;
            }
            let Some(offset) = data[start..].iter().position(|&b| b == b'\n') else {
                self.keep(&data[start..]);
                return data.len();
            };
            let end = start + offset + 1;
            self.keep(&data[start..end]);
            let line = std::mem::take(&mut self.partial);
            let tail = std::mem::take(&mut self.tail);
            if matches!(self.end, ReplyEnd::ImapTagged(_))
                && let Some(size) = literal_size(trim_line_end(&tail))
            {
                // `* 1 FETCH (BODY[] {N}`: the line goes on after N bytes of literal data.
                self.literal_left = size;
                self.partial = line;
                start = end;
                continue;
            }
            let last = self.end.is_last_line(self.lines, trim_line_end(&line));
            self.lines += 1;
            start = end;
            if last {
                self.complete = true;
                return end;
            }
        }
        data.len()
    }

    /// How long a quiet server means the reply is over, once a complete line arrived.
    pub(super) fn quiet(&self) -> Option<Duration> {
        match (self.lines, &self.end) {
            (0, _) => None,
            (_, ReplyEnd::Unknown) => Some(REPLY_QUIET),
            _ => Some(REPLY_QUIET_EXPECTING_END),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch(command: &[u8], reply: &[u8]) -> (bool, usize) {
        let mut watch = ReplyWatch::new(ReplyEnd::for_command(command));
        let mut taken = 0;
        // Byte by byte, to prove lines split across reads are recognised.
        for byte in reply {
            if watch.complete {
                break;
            }
            taken += watch.feed(std::slice::from_ref(byte));
        }
        (watch.complete, taken)
    }

    #[test]
    fn recognises_the_end_of_replies() {
        let retr = b"+OK\r\n250 looks like smtp\r\n..stuffed\r\n.\r\nNEXT";
        assert_eq!(watch(b"RETR 1\r\n", retr), (true, retr.len() - 4));
        assert_eq!(
            watch(b"retr 1\r\n", b"-ERR no such message\r\n"),
            (true, 22)
        );
        assert_eq!(watch(b"LIST\r\n", b"+OK\r\n1 10\r\n"), (false, 11));
        assert_eq!(watch(b"LIST 1\r\n", b"+OK 1 10\r\n"), (true, 10));
        assert_eq!(watch(b"DELE 1\r\n", b"+OK\r\n"), (true, 5));
        assert_eq!(watch(b".\r\n", b"250 2.0.0 queued\r\n"), (true, 18));
        assert_eq!(watch(b"EHLO x\r\n", b"250-a\r\n250 b\r\n"), (true, 14));
        // Literal contents that look like the end are skipped.
        let fetch = b"* 1 FETCH (BODY[] {18}\r\na3 OK no\r\n+ diff\r\n)\r\na3 OK done\r\nX";
        assert_eq!(
            watch(b"a3 UID FETCH 1 BODY[]\r\n", fetch),
            (true, fetch.len() - 1)
        );
        assert_eq!(literal_size(b"* 1 FETCH (BODY[] {123}"), Some(123));
        assert_eq!(literal_size(b"a1 APPEND x {5+}"), Some(5));
        assert_eq!(literal_size(b"{}"), None);
        assert_eq!(literal_size(b"{1a}"), None);
        assert_eq!(watch(b"a4 IDLE\r\n", b"+ idling\r\n"), (true, 10));
        assert_eq!(watch(b"DONE\r\n", b"a4 OK\r\n"), (false, 7));
        assert_eq!(
            ReplyEnd::for_command(b"a4 OK\r\n"),
            ReplyEnd::ImapTagged(b"a4".to_vec())
        );
    }
}
