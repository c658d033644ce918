//! Pure: the text of an alert or recovery mail for an administrator — which profile, what is
//! wrong, since when, the last error, what to do — as a complete RFC 5322 message. It is made
//! only from the profile's name, its remote mailbox (user and host, no secret), the error text
//! (errors never carry a secret) and times.

use base64::Engine as _;
use mailpull_shared::config::Profile;

use crate::held::format_time;
use crate::state::AlertKind;

/// One mail: what it is about and whether it says the trouble is over.
pub struct Letter<'a> {
    pub kind: AlertKind,
    /// True: the recovery mail.
    pub recovered: bool,
    pub profile: &'a Profile,
    /// When the trouble was first seen (Unix seconds).
    pub since: i64,
    pub now: i64,
    /// The last error, or what is held.
    pub detail: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    /// This machine's name, said in the mail and in its Message-ID.
    pub hostname: &'a str,
    /// The worker's configuration file, quoted for a command line when it must be
    /// ([`argument`]); the commands the mail suggests name it.
    pub config: Option<&'a str>,
}

/// `mailpull-worker ARGS`, with `--config FILE` when the worker's file is known.
fn command(letter: &Letter<'_>, args: &str) -> String {
    match letter.config {
        Some(config) => format!("mailpull-worker {args} --config {config}"),
        None => format!("mailpull-worker {args}"),
    }
}

/// `text` as one argument on a command line: as it is when it holds only characters no
/// shell treats specially, else in double quotes (on Unix with `\`, `"`, `$` and `` ` ``
/// escaped, as a POSIX shell reads them).
pub fn argument(text: &str) -> String {
    let plain = !text.is_empty()
        && text.chars().all(|c| {
            c.is_ascii_alphanumeric() || "/._-:+@%,=".contains(c) || (c == '\\' && cfg!(windows))
        });
    if plain {
        text.to_string()
    } else if cfg!(windows) {
        format!("\"{text}\"")
    } else {
        let mut quoted = String::from("\"");
        for c in text.chars() {
            if matches!(c, '\\' | '"' | '$' | '`') {
                quoted.push('\\');
            }
            quoted.push(c);
        }
        quoted.push('"');
        quoted
    }
}

/// The subject line, in plain words.
pub fn subject(letter: &Letter<'_>) -> String {
    let name = &letter.profile.name;
    match (letter.kind, letter.recovered) {
        (AlertKind::Failing, false) => format!("Mailpull: profile \"{name}\" is failing"),
        (AlertKind::Held, false) => format!("Mailpull: profile \"{name}\" has held messages"),
        (AlertKind::SignIn, false) => format!("Mailpull: profile \"{name}\" needs a sign-in"),
        (AlertKind::Failing, true) => format!("Mailpull: profile \"{name}\" works again"),
        (AlertKind::Held, true) => {
            format!("Mailpull: profile \"{name}\" has no held messages any more")
        }
        (AlertKind::SignIn, true) => format!("Mailpull: profile \"{name}\" is signed in again"),
    }
}

/// The body: what happened, since when, the last error and what to do.
pub fn body(letter: &Letter<'_>) -> String {
    let profile = letter.profile;
    let name = &profile.name;
    let since = format_time(letter.since);
    let now = format_time(letter.now);
    let mailbox = format!(
        "{}@{} ({})",
        profile.remote.username,
        profile.remote.host,
        profile.remote.protocol.as_str().to_ascii_uppercase()
    );
    let detail = letter
        .detail
        .lines()
        .map(|line| format!("  {}", line.trim_end()))
        .collect::<Vec<_>>()
        .join("\n");
    let (what, todo) = if letter.recovered {
        let was = match letter.kind {
            AlertKind::Failing => "was failing",
            AlertKind::Held => "had held messages",
            AlertKind::SignIn => "needed a sign-in",
        };
        (
            format!("Profile \"{name}\" {was} since {since}; that is over as of {now}."),
            "Nothing to do. Mailpull goes on as usual.".to_string(),
        )
    } else {
        match letter.kind {
            AlertKind::Failing => (
                format!("Profile \"{name}\" has been failing since {since} (still at {now})."),
                format!(
                    "Look at the error above. A refused login: set the password again \
                     ({}, or the Pull Manager). The remote server \
                     unreachable or its certificate refused: check the network and the profile's \
                     [profile.remote] settings. The local mail server unreachable or deferring: \
                     check it. Meanwhile the mail stays on the remote server, nothing is lost; \
                     Mailpull keeps trying and sends one more mail when the profile works again.",
                    command(letter, &format!("set-password {}", argument(name)))
                ),
            ),
            AlertKind::Held => (
                format!("Messages of profile \"{name}\" are held since {since}."),
                format!(
                    "A held message failed too often on its own; it stays on the remote server \
                     and is not tried again by itself. List them with \
                     {} (or the Pull Manager's Held messages \
                     page), fix the cause, then retry each one, deliver it to the fallback \
                     mailbox or delete it. One more mail comes when none is held any more.",
                    command(letter, &format!("held --profile {}", argument(name)))
                ),
            ),
            AlertKind::SignIn => (
                format!(
                    "Profile \"{name}\" needs a new OAuth sign-in since {since}:\nits refresh \
                     token is missing or was revoked (withdrawn or expired at the provider, or \
                     the mailbox's password changed), so it cannot log in."
                ),
                // One step a line: the mail stays readable, and no line nears SMTP's 998.
                format!(
                    "sign in again, as the mailbox's owner, either\n\
                     - in the Pull Manager: select profile \"{name}\", press Sign in ... (a \
                     code to enter on the provider's page, on any device) or Sign in with \
                     browser ..., and approve; the profile is polled at once; or\n\
                     - on the worker's machine, as the account the worker runs as:\n  \
                     {}\n  \
                     (add --browser for a browser on that machine); the next poll picks it \
                     up.\n\
                     Meanwhile the mail stays on the remote server, nothing is lost. One more \
                     mail comes when the sign-in works again.",
                    command(
                        letter,
                        &format!("oauth sign-in --profile {}", argument(name))
                    )
                ),
            ),
        }
    };
    let last = if letter.recovered {
        "Last trouble seen"
    } else if letter.kind == AlertKind::Held {
        "Held"
    } else {
        "Last error"
    };
    format!(
        "{what}\n\nMailbox: {mailbox}\nWorker: {host}\n{last}:\n{detail}\n\nWhat to do: {todo}\n\n-- \nMailpull on {host}; one mail when trouble starts and one when it ends (see the README, \"Alerts\").\n",
        host = letter.hostname,
    )
}

/// The whole message, CRLF line ends; ASCII headers (a non-ASCII subject as an RFC 2047
/// encoded-word), a body in 7-bit or, with any non-ASCII text, base64.
pub fn compose(letter: &Letter<'_>) -> Vec<u8> {
    let subject = subject(letter);
    let subject = if subject.is_ascii() {
        subject
    } else {
        format!(
            "=?UTF-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(subject.as_bytes())
        )
    };
    let body = body(letter).replace('\n', "\r\n");
    let (encoding, body) = if body.is_ascii() {
        ("7bit", body)
    } else {
        let encoded = base64::engine::general_purpose::STANDARD.encode(body.as_bytes());
        let lines: Vec<&str> = encoded
            .as_bytes()
            .chunks(76)
            .map(|chunk| std::str::from_utf8(chunk).unwrap_or_default())
            .collect();
        ("base64", lines.join("\r\n") + "\r\n")
    };
    let host = ascii_host(letter.hostname);
    let phase = if letter.recovered {
        "recovered"
    } else {
        "alert"
    };
    format!(
        "From: Mailpull <{from}>\r\nTo: <{to}>\r\nSubject: {subject}\r\nDate: {date}\r\n\
         Message-ID: <mailpull-{phase}.{kind}.{now}.{random:016x}@{host}>\r\n\
         Auto-Submitted: auto-generated\r\nX-Mailpull-Alert: {kind} {phase}\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: {encoding}\r\n\r\n{body}",
        from = letter.from,
        to = letter.to,
        date = rfc5322_date(letter.now),
        kind = letter.kind.as_str(),
        now = letter.now,
        random = fastrand::u64(..),
    )
    .into_bytes()
}

/// The host name as it may stand in a Message-ID (`localhost` when it has no usable form).
fn ascii_host(hostname: &str) -> String {
    let host: String = hostname
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
        .collect();
    if host.is_empty() {
        "localhost".into()
    } else {
        host
    }
}

/// `Fri, 04 Dec 2026 14:05:09 +0000` for Unix seconds.
pub fn rfc5322_date(secs: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    // format_time: "YYYY-MM-DD HH:MM:SS UTC".
    let text = format_time(secs);
    let weekday = DAYS[secs.div_euclid(86_400).rem_euclid(7) as usize];
    let month: usize = text.get(5..7).and_then(|m| m.parse().ok()).unwrap_or(1);
    format!(
        "{weekday}, {} {} {} {} +0000",
        text.get(8..10).unwrap_or("01"),
        MONTHS[month.clamp(1, 12) - 1],
        text.get(0..4).unwrap_or("1970"),
        text.get(11..19).unwrap_or("00:00:00"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> Profile {
        let config = mailpull_shared::config::parse(
            "[[profile]]\nname = \"isp\"\n[profile.remote]\nprotocol = \"imap\"\nhost = \"imap.isp.example\"\nusername = \"u@isp.example\"\npassword = { env = \"SECRET_PW\" }\n[profile.local]\nuser = \"alice\"\ndomain = \"local.test\"\n",
            "t.toml",
        )
        .expect("config");
        config.profiles[0].clone()
    }

    fn letter<'a>(profile: &'a Profile, kind: AlertKind, recovered: bool) -> Letter<'a> {
        Letter {
            kind,
            recovered,
            profile,
            since: 1_796_393_109,
            now: 1_796_396_709,
            detail: "login refused: [AUTHENTICATIONFAILED] Authentication failed.",
            from: "mailpull@mail.local.test",
            to: "postmaster@local.test",
            hostname: "mail.local.test",
            config: Some("/etc/mailpull/mailpull.toml"),
        }
    }

    #[test]
    fn an_alert_says_what_since_when_the_error_and_what_to_do() {
        let profile = profile();
        let text =
            String::from_utf8(compose(&letter(&profile, AlertKind::Failing, false))).expect("utf8");
        assert!(
            text.contains("Subject: Mailpull: profile \"isp\" is failing\r\n"),
            "{text}"
        );
        assert!(text.contains("To: <postmaster@local.test>\r\n"));
        assert!(
            text.contains("Date: Fri, 04 Dec 2026 15:05:09 +0000\r\n"),
            "{text}"
        );
        assert!(text.contains("Auto-Submitted: auto-generated\r\n"));
        assert!(text.contains("since 2026-12-04 14:05:09 UTC"), "{text}");
        assert!(text.contains("Mailbox: u@isp.example@imap.isp.example (IMAP)"));
        assert!(text.contains("  login refused: [AUTHENTICATIONFAILED]"));
        assert!(text.contains("mailpull-worker set-password isp"));
        assert!(
            !text.contains("SECRET_PW"),
            "the secret's source is not named"
        );
        assert!(text.is_ascii());
        assert!(!text.replace("\r\n", "").contains('\n'), "CRLF only");
    }

    #[test]
    fn each_kind_and_its_recovery_have_their_own_words() {
        let profile = profile();
        let mut subjects = std::collections::HashSet::new();
        for kind in AlertKind::ALL {
            for recovered in [false, true] {
                let letter = letter(&profile, kind, recovered);
                assert!(subjects.insert(subject(&letter)));
                let body = body(&letter);
                assert!(body.contains("What to do: "), "{body}");
                assert_eq!(body.contains("that is over as of"), recovered, "{body}");
            }
        }
        let held = body(&letter(&profile, AlertKind::Held, false));
        assert!(
            held.contains("mailpull-worker held --profile isp"),
            "{held}"
        );
        let sign_in = body(&letter(&profile, AlertKind::SignIn, false));
        assert!(
            sign_in.lines().all(|line| line.len() < 200),
            "one step a line: {sign_in}"
        );
        for how in [
            "mailpull-worker oauth sign-in --profile isp --config /etc/mailpull/mailpull.toml\n",
            "press Sign in ...",
            "Sign in with browser ...",
            "--browser",
        ] {
            assert!(sign_in.contains(how), "{how}: {sign_in}");
        }
    }

    #[test]
    fn the_commands_name_the_workers_file_quoted_when_a_shell_would_split_it() {
        let profile = profile();
        let mut letter = letter(&profile, AlertKind::Held, false);
        assert!(
            body(&letter).contains(
                "mailpull-worker held --profile isp --config /etc/mailpull/mailpull.toml "
            )
        );
        letter.config = None;
        assert!(body(&letter).contains("mailpull-worker held --profile isp (or"));
        assert_eq!(
            argument("/srv/mail pull/a.toml"),
            "\"/srv/mail pull/a.toml\""
        );
        assert_eq!(argument("isp-2_b.x@y"), "isp-2_b.x@y");
        assert_eq!(argument(""), "\"\"");
        if cfg!(unix) {
            assert_eq!(argument("a\"$`\\b"), "\"a\\\"\\$\\`\\\\b\"");
        }
    }

    #[test]
    fn non_ascii_text_is_encoded_not_sent_raw() {
        let mut profile = profile();
        profile.name = "büro".into();
        let bytes = compose(&letter(&profile, AlertKind::Failing, false));
        assert!(bytes.is_ascii());
        let text = String::from_utf8(bytes).expect("utf8");
        assert!(text.contains("Subject: =?UTF-8?B?"), "{text}");
        assert!(text.contains("Content-Transfer-Encoding: base64\r\n"));
    }

    #[test]
    fn dates_are_rfc_5322() {
        assert_eq!(rfc5322_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(rfc5322_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
    }
}
