//! Pure: what a filter's end means for the message — deliver (its output in place of the
//! message when the filter rewrites), to the fallback mailbox with a header saying why, or a
//! failure of this message (kept on the server, tried again, held in the end).

use mailpull_shared::config::Filter;

/// The header a message carries when its filter sent it to the fallback mailbox.
pub const FILTER_HEADER: &str = "X-Mailpull-Filter";

/// How the filter ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Exited(i32),
    Signal(i32),
}

/// What becomes of the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Deliver it; `Some`: these bytes instead of the message (the filter rewrote it).
    Deliver(Option<Vec<u8>>),
    /// To the fallback mailbox with `header` (a whole line, CRLF); `output` as for `Deliver`.
    Fallback {
        output: Option<Vec<u8>>,
        header: String,
    },
    /// A failure of this message, in words.
    Fail(String),
}

/// The verdict on a filter that ended as `ended` after printing `output` (and `stderr`).
pub fn verdict(filter: &Filter, ended: Ended, output: Vec<u8>, stderr: &str) -> Verdict {
    let program = program(filter);
    let said = said(stderr);
    match ended {
        Ended::Exited(0) if !filter.rewrites => Verdict::Deliver(None),
        Ended::Exited(0) if output.is_empty() => Verdict::Fail(format!(
            "the filter {program} exited with 0 but printed no message (rewrites = true){said}"
        )),
        Ended::Exited(0) => Verdict::Deliver(Some(output)),
        Ended::Exited(code) if filter.fallback_exit.contains(&code) => {
            // Why, in the scanner's words: a filter that does not rewrite prints its verdict
            // on stdout (clamdscan: `stream: Eicar-Test-Signature FOUND`), else on stderr.
            let words = match first_line(&String::from_utf8_lossy(&output)) {
                words if !filter.rewrites && !words.is_empty() => words,
                _ => first_line(stderr),
            };
            let words = if words.is_empty() {
                String::new()
            } else {
                format!(";\r\n it said: {}", header_text(&words))
            };
            Verdict::Fallback {
                output: (filter.rewrites && !output.is_empty()).then_some(output),
                header: format!(
                    "{FILTER_HEADER}: {program} exited with {code} (fallback_exit); delivered to the fallback mailbox{words}\r\n"
                ),
            }
        }
        Ended::Exited(code) => {
            Verdict::Fail(format!("the filter {program} exited with {code}{said}"))
        }
        Ended::Signal(signal) => Verdict::Fail(format!(
            "the filter {program} was killed by signal {signal}{said}"
        )),
    }
}

/// The program's file name, for messages and the header (no arguments: they are the
/// administrator's, and a header goes to the recipient).
pub fn program(filter: &Filter) -> String {
    let first = filter.command.first().map_or("", String::as_str);
    let name = first.rsplit(['/', '\\']).next().unwrap_or(first);
    name.chars().filter(|c| !c.is_control()).take(64).collect()
}

/// `: what it said on stderr` (first line, at most 200 characters), or nothing.
fn said(stderr: &str) -> String {
    let line = first_line(stderr);
    if line.is_empty() {
        String::new()
    } else {
        format!(": {line}")
    }
}

/// The first non-empty line of `text`, trimmed, without control characters, at most 200
/// characters; empty when there is none.
fn first_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect()
}

/// `text` as it may stand in a header field: ASCII only (anything else becomes `?`).
fn header_text(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii() { c } else { '?' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(rewrites: bool) -> Filter {
        Filter {
            command: vec!["/usr/bin/spamc".into(), "-E".into()],
            timeout: std::time::Duration::from_secs(30),
            rewrites,
            fallback_exit: vec![1],
            fallback: None,
        }
    }

    #[test]
    fn exit_0_delivers_the_message_or_its_rewrite() {
        assert_eq!(
            verdict(&filter(false), Ended::Exited(0), b"ignored".to_vec(), ""),
            Verdict::Deliver(None)
        );
        assert_eq!(
            verdict(
                &filter(true),
                Ended::Exited(0),
                b"X-Spam: no\r\n\r\nx".to_vec(),
                ""
            ),
            Verdict::Deliver(Some(b"X-Spam: no\r\n\r\nx".to_vec()))
        );
        // Rewriting but printing nothing: never an empty message delivered.
        assert!(matches!(
            verdict(&filter(true), Ended::Exited(0), Vec::new(), ""),
            Verdict::Fail(why) if why.contains("printed no message")
        ));
    }

    #[test]
    fn a_fallback_code_goes_to_the_fallback_with_a_header() {
        let Verdict::Fallback { output, header } =
            verdict(&filter(true), Ended::Exited(1), b"spam".to_vec(), "")
        else {
            panic!("not to the fallback")
        };
        assert_eq!(output, Some(b"spam".to_vec()));
        assert_eq!(
            header,
            "X-Mailpull-Filter: spamc exited with 1 (fallback_exit); delivered to the fallback mailbox\r\n"
        );
        let Verdict::Fallback { output, .. } =
            verdict(&filter(false), Ended::Exited(1), b"spam".to_vec(), "")
        else {
            panic!("not to the fallback")
        };
        assert_eq!(output, None, "not rewriting: the message as fetched");
    }

    #[test]
    fn the_fallback_header_says_what_the_scanner_said_on_a_line_of_its_own() {
        let mut clamdscan = filter(false);
        clamdscan.command = vec!["clamdscan".into(), "-".into()];
        let Verdict::Fallback { header, .. } = verdict(
            &clamdscan,
            Ended::Exited(1),
            b"\nstream: Eicar-Test-Signature FOUND\r\nmore\n".to_vec(),
            "",
        ) else {
            panic!("not to the fallback")
        };
        assert_eq!(
            header,
            "X-Mailpull-Filter: clamdscan exited with 1 (fallback_exit); delivered to the fallback mailbox;\r\n it said: stream: Eicar-Test-Signature FOUND\r\n"
        );
        // A rewriting filter's stdout is the message: its stderr says why, if anything.
        let Verdict::Fallback { header, .. } = verdict(
            &filter(true),
            Ended::Exited(1),
            b"Subject: x\r\n\r\nx".to_vec(),
            "score 9.1 \u{e9}t\u{e9}\r\x1b[0m",
        ) else {
            panic!("not to the fallback")
        };
        assert_eq!(
            header,
            "X-Mailpull-Filter: spamc exited with 1 (fallback_exit); delivered to the fallback mailbox;\r\n it said: score 9.1 ?t?[0m\r\n"
        );
        // Nothing can break out of the header: no CR, LF or other control character.
        let Verdict::Fallback { header, .. } = verdict(
            &clamdscan,
            Ended::Exited(1),
            b"a\rBcc: x@example.org\n".to_vec(),
            "",
        ) else {
            panic!("not to the fallback")
        };
        assert_eq!(header.matches("\r\n").count(), 2, "{header:?}");
        assert!(!header.contains("\r\nBcc"), "{header:?}");
    }

    #[test]
    fn another_code_or_a_signal_is_a_failure_of_the_message() {
        assert_eq!(
            verdict(
                &filter(true),
                Ended::Exited(69),
                Vec::new(),
                "\nspamc: connection refused\n"
            ),
            Verdict::Fail("the filter spamc exited with 69: spamc: connection refused".into())
        );
        assert_eq!(
            verdict(&filter(false), Ended::Signal(9), Vec::new(), ""),
            Verdict::Fail("the filter spamc was killed by signal 9".into())
        );
    }
}
