//! What a getmailrc means as a Mailpull profile (getmail keeps one account per rc file):
//! `[retriever]` gives the remote side (protocol and TLS by its `type`, multi-drop by its
//! `envelope_recipient`), `[destination]` the local one (`MDA_external` running sendmail
//! becomes the local SMTP server and its recipient argument the local user), `[options]`
//! what happens after delivery (`delete`, `delete_after`, `read_all`). What has no
//! equivalent is reported with its line. Pure.

use mailpull_shared::config::model::MAX_KEEP_DAYS;
use mailpull_shared::config::raw::{
    RawAfterDelivery, RawDistribute, RawKeepDays, RawLocal, RawPassword, RawPasswordSource,
    RawProfile, RawRemote,
};
use mailpull_shared::secrets::Secret;

use super::ini::{self, Entry, Section};
use crate::import::{
    DEFAULT_DOMAIN, Import, ImportError, ImportedProfile, Options, Severity, profile_name,
};

/// The profile of the getmailrc `text`, read from `file`; its name is the file name without
/// its `getmailrc` prefix (or the server's name).
pub fn import(text: &str, file: &str, options: &Options) -> Result<Import, ImportError> {
    let error = |line, expected: String| ImportError {
        file: file.to_string(),
        line,
        expected,
    };
    let sections = ini::parse(text).map_err(|e| error(e.line, e.expected))?;
    let find = |name: &str| sections.iter().find(|s| s.name == name);
    let retriever = find("retriever")
        .ok_or_else(|| error(1, "a [retriever] section (getmail needs one)".into()))?;
    let required = |key: &str| {
        retriever.get(key).map(|e| e.value.clone()).ok_or_else(|| {
            error(
                retriever.line,
                format!("`{key} = ...` in [retriever] (getmail requires it)"),
            )
        })
    };
    let kind = required("type")?;
    let server = required("server")?;
    let username = required("username")?;
    let mut map = Mapper {
        file,
        options,
        out: Import::default(),
    };
    let Some(shape) = retriever_shape(&kind) else {
        let line = retriever.get("type").map_or(retriever.line, |e| e.line);
        map.report(
            line,
            Severity::NotImported,
            format!("type = {kind}"),
            "not a retriever Mailpull can stand in for (SimplePOP3/IMAP, their SSL and \
             BrokenUIDL forms, and the Multidrop POP3/IMAP ones are)",
        );
        return Ok(map.out);
    };
    let mut remote = map.remote(retriever, &shape, &server, &username);
    let multidrop = map.envelope(retriever, &shape);
    let (mut local, recipient_from_envelope) = map.destination(find("destination"));
    let after_delivery = map.options(find("options"), &mut remote);
    for section in &sections {
        if !matches!(
            section.name.as_str(),
            "retriever" | "destination" | "options"
        ) {
            let reason = if section.name.starts_with("filter") {
                "filters before delivery are not imported"
            } else {
                "not a section getmail's documentation describes"
            };
            map.report(
                section.line,
                Severity::NotImported,
                format!("[{}]", section.name),
                reason,
            );
        }
    }
    let domain_known = local.domain.is_some();
    let distribute = match multidrop {
        Some(header) => {
            local.user = Some("postmaster".into());
            Some(RawDistribute {
                enabled: Some(true),
                envelope_headers: header.map(|h| vec![h]),
                ..RawDistribute::default()
            })
        }
        None => {
            if local.user.is_none() {
                let user = username.split('@').next().unwrap_or(&username).to_string();
                map.report(
                    retriever.line,
                    Severity::Note,
                    "",
                    if recipient_from_envelope {
                        format!("a single-drop retriever has no envelope recipient: mail goes to the local user \"{user}\"")
                    } else {
                        format!("no recipient in [destination]: mail goes to the local user \"{user}\"")
                    },
                );
                local.user = Some(user);
            }
            None
        }
    };
    if !domain_known {
        local.domain = Some(map.options.domain.clone().unwrap_or_else(|| {
            map.report(
                retriever.line,
                Severity::Note,
                "",
                "no local domain in the file: mail goes to NAME@localhost; import with --domain \
                 DOMAIN to choose it",
            );
            DEFAULT_DOMAIN.to_string()
        }));
    }
    map.out.report(
        file,
        None,
        Severity::Note,
        "",
        "getmail ran from cron or by hand: the profile polls every 10m (Mailpull's default \
         interval)",
    );
    let password = retriever
        .get("password")
        .filter(|e| !e.value.is_empty())
        .map(|e| Secret::new(e.value.clone()));
    if password.is_none() {
        map.report(
            retriever.line,
            Severity::Note,
            "",
            "no password in the file: set it with `mailpull-worker set-password NAME`",
        );
    }
    remote.password = Some(RawPassword::Source(RawPasswordSource {
        keyring: Some(true),
        ..RawPasswordSource::default()
    }));
    let profile = RawProfile {
        name: Some(name_from_file(file, &server)),
        after_delivery: Some(after_delivery),
        remote: Some(remote),
        local: Some(local),
        distribute,
        ..RawProfile::default()
    };
    map.out.profiles.push(ImportedProfile {
        profile,
        password,
        file: file.to_string(),
        line: retriever.line,
    });
    Ok(map.out)
}

/// The profile name of a getmailrc: `getmailrc-work` → `work`; plain `getmailrc` → the
/// server.
fn name_from_file(file: &str, server: &str) -> String {
    let base = std::path::Path::new(file)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let base = base.trim_start_matches('.');
    let base = base
        .strip_suffix(".getmailrc")
        .or_else(|| base.strip_suffix(".rc"))
        .unwrap_or(base);
    let stem = base
        .trim_start_matches("getmailrc")
        .trim_start_matches(['-', '_', '.']);
    if stem.is_empty() {
        profile_name(&[server])
    } else {
        profile_name(&[stem])
    }
}

/// What a retriever `type` stands for.
struct Shape {
    protocol: &'static str,
    tls: bool,
    multidrop: bool,
}

fn retriever_shape(kind: &str) -> Option<Shape> {
    let (protocol, rest) = if let Some(rest) = kind.strip_prefix("SimplePOP3") {
        ("pop3", rest)
    } else if let Some(rest) = kind.strip_prefix("BrokenUIDLPOP3") {
        ("pop3", rest)
    } else if let Some(rest) = kind.strip_prefix("SimpleIMAP") {
        ("imap", rest)
    } else if let Some(rest) = kind.strip_prefix("MultidropPOP3") {
        ("pop3", rest)
    } else if let Some(rest) = kind.strip_prefix("MultidropIMAP") {
        ("imap", rest)
    } else {
        return None;
    };
    let tls = match rest {
        "SSLRetriever" => true,
        "Retriever" => false,
        _ => return None,
    };
    Some(Shape {
        protocol,
        tls,
        multidrop: kind.starts_with("Multidrop"),
    })
}

/// Why a `[retriever]` parameter is not imported (the mapped ones are handled elsewhere).
fn retriever_reason(key: &str) -> &'static str {
    match key {
        "password_command" => {
            "Mailpull runs no command for a password: store it with `mailpull-worker \
             set-password NAME` (or point password at a file or an environment variable)"
        }
        "use_xoauth2" => {
            "OAuth 2.0 needs an app registration: add [profile.remote.oauth2] and run \
             `mailpull-worker oauth sign-in`"
        }
        "keyfile" | "certfile" => "TLS client certificates are not supported",
        "ssl_fingerprints" | "ssl_cert_hostname" => {
            "Mailpull verifies certificates against trusted CAs and the host name; it pins no \
             fingerprints"
        }
        "ssl_version" | "ssl_ciphers" => "Mailpull speaks TLS 1.2 and 1.3 with rustls's ciphers",
        "use_peek" => "Mailpull always fetches with BODY.PEEK and never marks messages read",
        "move_on_delete" | "imap_on_delete" => {
            "Mailpull deletes with \\Deleted and EXPUNGE after delivery"
        }
        "imap_search" => "Mailpull fetches every message it has not delivered",
        "use_kerberos" => "Kerberos is not supported",
        "use_cram_md5" => "Mailpull logs in with USER/PASS, LOGIN, PLAIN, APOP or OAuth 2.0",
        "delete_dup_msgids" => "Mailpull suppresses copies with the same Message-ID itself",
        _ => "no equivalent in Mailpull",
    }
}

struct Mapper<'a> {
    file: &'a str,
    options: &'a Options,
    out: Import,
}

impl Mapper<'_> {
    fn report(
        &mut self,
        line: usize,
        severity: Severity,
        what: impl Into<String>,
        reason: impl Into<String>,
    ) {
        self.out
            .report(self.file, Some(line), severity, what, reason);
    }

    fn not_imported(&mut self, entry: &Entry, reason: &str) {
        let what = if entry.key.contains("password") {
            format!("{} = ****", entry.key)
        } else {
            format!("{} = {}", entry.key, entry.value.replace('\n', " "))
        };
        self.report(entry.line, Severity::NotImported, what, reason);
    }

    fn remote(
        &mut self,
        section: &Section,
        shape: &Shape,
        server: &str,
        username: &str,
    ) -> RawRemote {
        let mut remote = RawRemote {
            protocol: Some(shape.protocol.into()),
            host: Some(server.to_string()),
            username: Some(username.to_string()),
            security: Some(if shape.tls { "tls" } else { "starttls" }.into()),
            ..RawRemote::default()
        };
        if !shape.tls {
            let line = section.get("type").map_or(section.line, |e| e.line);
            self.report(
                line,
                Severity::Note,
                "",
                "getmail logged in unencrypted; imported with security = \"starttls\", which \
                 fails when the server offers no STARTTLS (write security = \"plain\" to keep \
                 the old behaviour)",
            );
        }
        for entry in &section.entries {
            match entry.key.as_str() {
                "type" | "server" | "username" | "password" | "envelope_recipient" => {}
                "port" => match entry.value.parse::<u16>() {
                    Ok(port) if port != 0 => remote.port = Some(i64::from(port)),
                    _ => self.not_imported(entry, "not a port number"),
                },
                "ca_certs" => remote.ca_file = Some(entry.value.clone()),
                "timeout" => match entry.value.parse::<u64>() {
                    Ok(secs) if secs > 0 => remote.timeout = Some(format!("{secs}s")),
                    _ => self.not_imported(entry, "not a number of seconds"),
                },
                "use_apop" => match ini::boolean(&entry.value) {
                    Some(true) => remote.auth = Some("apop".into()),
                    Some(false) => {}
                    None => self.not_imported(entry, "not a boolean"),
                },
                "mailboxes" if shape.protocol == "imap" => match ini::tuple(&entry.value) {
                    Ok(folders) if folders == ["ALL"] => self.not_imported(
                        entry,
                        "Mailpull pulls the folders it is given: list them in remote.folders",
                    ),
                    Ok(folders) if !folders.is_empty() => remote.folders = Some(folders),
                    Ok(_) => self.not_imported(entry, "an empty list of folders"),
                    Err(expected) => self.not_imported(entry, &format!("expected {expected}")),
                },
                "use_peek" if ini::boolean(&entry.value) == Some(true) => {}
                key => {
                    let reason = retriever_reason(key);
                    self.not_imported(entry, reason);
                }
            }
        }
        remote
    }

    /// The envelope header of a multi-drop retriever (`envelope_recipient = delivered-to:1`).
    /// `None` for a single-drop retriever, `Some(None)` for Mailpull's default headers.
    fn envelope(&mut self, section: &Section, shape: &Shape) -> Option<Option<String>> {
        let entry = section.get("envelope_recipient");
        if !shape.multidrop {
            if let Some(entry) = entry {
                self.not_imported(
                    entry,
                    "only multi-drop retrievers read an envelope recipient",
                );
            }
            return None;
        }
        let Some(entry) = entry else {
            self.report(
                section.line,
                Severity::Note,
                "",
                "a multi-drop retriever without envelope_recipient: Mailpull's default envelope \
                 headers apply",
            );
            return Some(None);
        };
        let (name, position) = match entry.value.split_once(':') {
            Some((name, position)) => (name.trim(), position.trim()),
            None => (entry.value.trim(), "1"),
        };
        if position != "1" {
            self.not_imported(
                entry,
                "Mailpull reads every header of that name, not the Nth one",
            );
        }
        self.report(
            entry.line,
            Severity::Note,
            "",
            "Mailpull delivers only addresses in distribute.local_domains (here the local \
             domain); add the domains your mail is addressed to",
        );
        Some(Some(header_case(name)))
    }

    /// `[destination]`: the local SMTP server's recipient; true when the recipient came from
    /// the envelope (`%(recipient)`).
    fn destination(&mut self, section: Option<&Section>) -> (RawLocal, bool) {
        let mut local = RawLocal {
            smtp: self.options.smtp.clone(),
            ..RawLocal::default()
        };
        let Some(section) = section else {
            self.report(
                1,
                Severity::Note,
                "",
                "no [destination]: mail goes to the local SMTP server (local.smtp)",
            );
            return (local, false);
        };
        let kind = section.get("type").map(|e| e.value.as_str()).unwrap_or("");
        let line = section.get("type").map_or(section.line, |e| e.line);
        match kind {
            "MDA_external" => {
                let path = section.get("path").map(|e| e.value.as_str()).unwrap_or("");
                let program = path.rsplit('/').next().unwrap_or(path);
                if !(program.contains("sendmail") || program.starts_with("exim")) {
                    self.report(
                        line,
                        Severity::NotImported,
                        format!("MDA_external {path}"),
                        "Mailpull delivers over SMTP to the local mail server (local.smtp); \
                         let it run the MDA (procmail, maildrop, a Sieve script)",
                    );
                    return (local, false);
                }
                let arguments = section
                    .get("arguments")
                    .map(|e| ini::tuple(&e.value))
                    .transpose()
                    .unwrap_or_default()
                    .unwrap_or_default();
                let mut envelope = false;
                let mut skip_next = false;
                for argument in &arguments {
                    if skip_next {
                        skip_next = false;
                        continue;
                    }
                    if matches!(argument.as_str(), "-f" | "-F" | "-r") {
                        skip_next = true;
                    } else if argument.contains("%(recipient)") || argument.contains("%(local)") {
                        envelope = true;
                    } else if !argument.starts_with('-') && !argument.contains("%(") {
                        match argument.split_once('@') {
                            Some((user, domain)) => {
                                local.user = Some(user.to_string());
                                local.domain = Some(domain.to_string());
                            }
                            None => local.user = Some(argument.clone()),
                        }
                    }
                }
                (local, envelope)
            }
            other => {
                let reason = match other {
                    "Maildir" | "Mboxrd" => {
                        "Mailpull delivers over SMTP to the local mail server (local.smtp), which \
                         writes the mailbox"
                    }
                    "MDA_lmtp" => {
                        "Mailpull speaks SMTP, not LMTP: point local.smtp at the mail server's \
                         SMTP port"
                    }
                    _ => "Mailpull delivers over SMTP to one local server (local.smtp)",
                };
                self.report(
                    line,
                    Severity::NotImported,
                    format!("type = {other}"),
                    reason,
                );
                (local, false)
            }
        }
    }

    /// `[options]`: after delivery, and the options with no equivalent.
    fn options(&mut self, section: Option<&Section>, remote: &mut RawRemote) -> RawAfterDelivery {
        let Some(section) = section else {
            return self.kept(None);
        };
        let flag = |key: &str| section.get(key).and_then(|e| ini::boolean(&e.value));
        let delete_after = section
            .get("delete_after")
            .and_then(|e| e.value.parse::<u32>().ok())
            .filter(|days| *days > 0);
        for entry in &section.entries {
            let reason = match entry.key.as_str() {
                "delete" | "read_all" if ini::boolean(&entry.value).is_some() => continue,
                "delete_after" if entry.value.parse::<u32>().is_ok() => continue,
                "delete" | "read_all" => "not a boolean",
                "delete_after" => "not a number of days",
                "max_message_size" => match entry.value.parse::<u64>() {
                    Ok(0) => continue,
                    Ok(bytes) => {
                        let mb = bytes.div_ceil(1_048_576).max(1);
                        remote.max_message_mb = Some(mb as i64);
                        if bytes % 1_048_576 == 0 {
                            continue;
                        }
                        self.report(
                            entry.line,
                            Severity::Note,
                            format!("max_message_size = {bytes}"),
                            format!("Mailpull's limit is in MB: rounded up to {mb} MB"),
                        );
                        continue;
                    }
                    Err(_) => "not a number of bytes",
                },
                "verbose"
                | "message_log"
                | "message_log_syslog"
                | "message_log_verbose"
                | "logfile" => "Mailpull logs to stderr and state_dir/logs ([worker] log_level)",
                "delivered_to" | "received" => {
                    "Mailpull adds its own trace header and leaves the others alone"
                }
                "max_messages_per_session" | "max_bytes_per_session" => {
                    "Mailpull fetches every new message in one poll"
                }
                "mark_read" => "Mailpull never marks messages read",
                "to_oldmail_on_each_mail" => {
                    "not needed: Mailpull records each delivery as it happens"
                }
                _ => "no equivalent in Mailpull",
            };
            self.not_imported(entry, reason);
        }
        if flag("read_all") == Some(false) {
            let line = section.get("read_all").map_or(section.line, |e| e.line);
            self.report(
                line,
                Severity::Note,
                "read_all = false",
                "Mailpull fetches every message it has not delivered itself (getmail's oldmail \
                 file is not read)",
            );
        }
        if flag("delete") == Some(true) {
            return RawAfterDelivery::Mode("delete".into());
        }
        self.kept(delete_after.map(|days| (days, section)))
    }

    fn kept(&mut self, delete_after: Option<(u32, &Section)>) -> RawAfterDelivery {
        self.out.report(
            self.file,
            None,
            Severity::Note,
            "",
            "messages stay on the server (no `delete = true`); getmail's oldmail file is not \
             read, so the first poll delivers the messages on the server once more",
        );
        match delete_after {
            Some((days, _)) => RawAfterDelivery::Table(RawKeepDays {
                keep_days: Some(i64::from(days.min(MAX_KEEP_DAYS))),
            }),
            None => RawAfterDelivery::Mode("keep".into()),
        }
    }
}

/// `delivered-to` → `Delivered-To`.
fn header_case(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first
                    .to_uppercase()
                    .chain(chars.map(|c| c.to_ascii_lowercase()))
                    .collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<String>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retriever_types() {
        let s = retriever_shape("SimpleIMAPSSLRetriever").unwrap();
        assert!(s.tls && !s.multidrop && s.protocol == "imap");
        let s = retriever_shape("MultidropPOP3Retriever").unwrap();
        assert!(!s.tls && s.multidrop && s.protocol == "pop3");
        assert!(retriever_shape("MultidropSDPSRetriever").is_none());
        assert!(retriever_shape("SimplePOP3SSLRetrieverX").is_none());
    }

    #[test]
    fn names_and_headers() {
        assert_eq!(
            name_from_file("/home/a/.getmail/getmailrc-work", "x"),
            "work"
        );
        assert_eq!(name_from_file("getmailrc", "pop.x.net"), "pop.x.net");
        assert_eq!(name_from_file("dir/gmail.getmailrc", "x"), "gmail");
        assert_eq!(header_case("delivered-to"), "Delivered-To");
        assert_eq!(header_case("X-ENVELOPE-TO"), "X-Envelope-To");
    }
}
