//! What a parsed `.fetchmailrc` means as Mailpull profiles: one profile per user of every
//! `poll` (enabled) or `skip` (disabled) entry, after the `defaults` entry. Single-drop
//! (one local name) delivers to that user; multi-drop (several local names, `*`, or
//! `remote=local` mappings) becomes a `[profile.distribute]` table. What has no equivalent is
//! reported with its line. Pure.

use mailpull_shared::config::duration::format_duration;
use mailpull_shared::config::raw::{
    RawAfterDelivery, RawPassword, RawPasswordSource, RawProfile, RawRemote,
};
use mailpull_shared::secrets::Secret;

use super::parse::{EntryKind, RcFile, UserDesc};
use super::reasons::{global_reason, option_reason, show, show_global};
use super::settings::Settings;
use crate::import::{Import, ImportedProfile, Options, Severity, profile_name};

/// The profiles of `rc`, read from `file`.
pub fn map(file: &str, rc: &RcFile, options: &Options) -> Import {
    let mut out = Import::default();
    let mut daemon = None;
    let mut postmaster = None;
    for global in &rc.globals {
        match (global.name.as_str(), &global.value) {
            ("daemon", Some(value)) => match value.parse::<u64>() {
                Ok(secs) => daemon = Some(secs),
                Err(_) => out.report(
                    file,
                    Some(global.line),
                    Severity::NotImported,
                    show_global(global),
                    "not a number of seconds",
                ),
            },
            ("postmaster", Some(value)) => postmaster = Some(value.clone()),
            (name, _) => {
                if let Some(reason) = global_reason(name, global.on) {
                    out.report(
                        file,
                        Some(global.line),
                        Severity::NotImported,
                        show_global(global),
                        reason,
                    );
                }
            }
        }
    }
    let has_polls = rc.entries.iter().any(|e| e.kind != EntryKind::Defaults);
    if daemon.is_none() && has_polls {
        out.report(
            file,
            None,
            Severity::Note,
            "",
            "no `set daemon`: fetchmail ran from cron or by hand; the profiles poll every 10m \
             (Mailpull's default interval)",
        );
    }
    let context = Context {
        file,
        options,
        daemon,
        postmaster: postmaster.as_deref(),
    };
    // A `defaults` entry applies to the entries after it.
    let mut defaults = None;
    for entry in &rc.entries {
        if entry.kind == EntryKind::Defaults {
            defaults = Some(entry);
            continue;
        }
        let implicit = [UserDesc {
            line: entry.line,
            opts: Vec::new(),
        }];
        let users: &[UserDesc] = if entry.users.is_empty() {
            &implicit
        } else {
            &entry.users
        };
        for user in users {
            let settings = Settings::resolve(defaults, entry, &user.opts);
            let label = entry.label.as_deref().unwrap_or_default();
            let several = users.len() > 1;
            if let Some(mut profile) = context.profile(&settings, label, several, &mut out) {
                profile.profile.enabled = Some(entry.kind == EntryKind::Poll);
                profile.line = user.line;
                out.extend(Import {
                    profiles: vec![profile],
                    findings: Vec::new(),
                });
            }
        }
    }
    out
}

/// What every profile of one file shares.
pub(super) struct Context<'a> {
    pub(super) file: &'a str,
    pub(super) options: &'a Options,
    pub(super) daemon: Option<u64>,
    pub(super) postmaster: Option<&'a str>,
}

/// POP3 or IMAP (and `apop` as POP3 with APOP), or why the protocol cannot be pulled.
fn protocol(
    settings: &Settings,
    label: &str,
) -> Result<(&'static str, Option<&'static str>), &'static str> {
    let name = settings
        .protocol
        .as_ref()
        .map(|(p, _)| p.to_ascii_lowercase())
        .unwrap_or_else(|| "auto".into());
    match name.as_str() {
        "pop3" | "sdps" => Ok(("pop3", None)),
        "apop" => Ok(("pop3", Some("apop"))),
        "imap" => Ok(("imap", None)),
        "auto" => Ok((auto_protocol(settings, label), None)),
        "pop2" => Err("POP2 is not supported"),
        "rpop" => Err("RPOP (login by privileged port) is not supported"),
        "kpop" => Err("Kerberos POP is not supported"),
        "etrn" | "odmr" => Err("ETRN and ODMR make the server push by SMTP: nothing to pull"),
        _ => Err("not a protocol fetchmail knows"),
    }
}

/// fetchmail's `auto` tries IMAP, then POP3: a POP3 port or a server named `pop...` says
/// POP3, anything else IMAP.
fn auto_protocol(settings: &Settings, label: &str) -> &'static str {
    let pop3_port = settings
        .port
        .as_ref()
        .is_some_and(|(port, _)| matches!(port.as_str(), "110" | "995" | "pop3" | "pop3s"));
    let host = settings.via.as_ref().map_or(label, |(via, _)| via.as_str());
    if pop3_port || host.to_ascii_lowercase().starts_with("pop") {
        "pop3"
    } else {
        "imap"
    }
}

fn port(text: &str) -> Option<i64> {
    match text.to_ascii_lowercase().as_str() {
        "pop3" => Some(110),
        "pop3s" => Some(995),
        "imap" | "imap2" => Some(143),
        "imaps" => Some(993),
        digits => digits
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .map(i64::from),
    }
}

/// `host/port` (or a bare host, port 25) as `HOST:PORT`; `None` for a socket path.
pub(super) fn smtp_address(text: &str) -> Option<(String, String)> {
    if text.starts_with('/') {
        return None;
    }
    let (host, port) = match text.rsplit_once('/') {
        Some((host, port)) => (host, port),
        None => (text, "25"),
    };
    let shown = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    Some((shown, host.to_string()))
}

pub(super) fn is_domain_name(host: &str) -> bool {
    host.parse::<std::net::IpAddr>().is_err()
        && !host.is_empty()
        && host
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_alphanumeric() || c == '-'))
}

impl Context<'_> {
    pub(super) fn report(
        &self,
        out: &mut Import,
        line: usize,
        severity: Severity,
        what: impl Into<String>,
        reason: impl Into<String>,
    ) {
        out.report(self.file, Some(line), severity, what, reason);
    }

    fn profile(
        &self,
        s: &Settings,
        label: &str,
        several: bool,
        out: &mut Import,
    ) -> Option<ImportedProfile> {
        let Some((user, user_line)) = s.remote_user() else {
            let line = s.password.as_ref().map_or(0, |(_, l)| *l);
            self.report(
                out,
                line.max(1),
                Severity::NotImported,
                format!("poll {label}"),
                "no `user`: fetchmail logs in with the name of the account running it; add \
                 `user NAME` and import again",
            );
            return None;
        };
        let (protocol, auth) = match protocol(s, label) {
            Ok(found) => found,
            Err(reason) => {
                let (name, line) = s.protocol.clone().unwrap_or_default();
                self.report(
                    out,
                    line,
                    Severity::NotImported,
                    format!("protocol {name}"),
                    format!("{reason}; no profile for {user} at {label}"),
                );
                return None;
            }
        };
        let mut remote = RawRemote {
            protocol: Some(protocol.into()),
            host: Some(s.via.as_ref().map_or(label, |(via, _)| via).to_string()),
            username: Some(user.to_string()),
            password: Some(RawPassword::Source(RawPasswordSource {
                keyring: Some(true),
                ..RawPasswordSource::default()
            })),
            auth: auth.map(str::to_string),
            ..RawRemote::default()
        };
        if let Some((name, line)) = &s.protocol {
            if name.eq_ignore_ascii_case("auto") || name.eq_ignore_ascii_case("sdps") {
                self.report(
                    out,
                    *line,
                    Severity::Note,
                    format!("protocol {name}"),
                    format!("imported as {protocol}"),
                );
            }
        } else {
            self.report(
                out,
                user_line,
                Severity::Note,
                format!("user {user}"),
                format!(
                    "no protocol: fetchmail tried IMAP, then POP3; imported as {protocol} (by \
                     the server's name and port)"
                ),
            );
        }
        self.remote_options(s, protocol, &mut remote, out);
        let mut profile = RawProfile {
            name: Some(if several {
                profile_name(&[label, user])
            } else {
                profile_name(&[label])
            }),
            interval: self.interval(s, out),
            after_delivery: Some(RawAfterDelivery::Mode(
                if Settings::on(&s.keep) {
                    "keep"
                } else {
                    "delete"
                }
                .into(),
            )),
            push: None,
            remote: None,
            local: None,
            distribute: None,
            enabled: None,
            filter: None,
        };
        if let Some((on, line)) = s.idle {
            if on && protocol == "imap" {
                profile.push = Some(true);
            } else if on {
                self.report(
                    out,
                    line,
                    Severity::NotImported,
                    "idle",
                    "IDLE is IMAP only",
                );
            }
        }
        if !Settings::on(&s.fetchall) && (Settings::on(&s.keep) || protocol == "imap") {
            self.report(
                out,
                user_line,
                Severity::Note,
                format!("user {user}"),
                "fetchmail fetched only new messages (no `fetchall`); Mailpull's first poll \
                 delivers every message in the mailbox it has not delivered itself",
            );
        }
        let (local, distribute) = self.local(s, user, out);
        profile.remote = Some(remote);
        profile.local = Some(local);
        profile.distribute = distribute;
        self.report_others(s, out);
        if s.password.as_ref().is_none_or(|(p, _)| p.is_empty()) {
            self.report(
                out,
                user_line,
                Severity::Note,
                format!("user {user}"),
                "no password in the file (fetchmail read ~/.netrc or asked): set it with \
                 `mailpull-worker set-password NAME`",
            );
        }
        Some(ImportedProfile {
            profile,
            password: s
                .password
                .as_ref()
                .filter(|(p, _)| !p.is_empty())
                .map(|(p, _)| Secret::new(p.clone())),
            file: self.file.to_string(),
            line: user_line,
        })
    }

    fn remote_options(
        &self,
        s: &Settings,
        protocol: &str,
        remote: &mut RawRemote,
        out: &mut Import,
    ) {
        if let Some((text, line)) = &s.port {
            match port(text) {
                Some(number) => remote.port = Some(number),
                None => self.report(
                    out,
                    *line,
                    Severity::NotImported,
                    format!("service {text}"),
                    "not a port number or a known service (pop3, pop3s, imap, imaps)",
                ),
            }
        }
        let sslproto = s.sslproto.as_ref().map(|(p, _)| p.to_ascii_lowercase());
        remote.security = Some(
            if Settings::on(&s.ssl) {
                "tls"
            } else if sslproto.as_deref() == Some("") {
                "plain"
            } else {
                if sslproto.is_none() {
                    let line = s.remote_user().map_or(1, |(_, l)| l);
                    self.report(
                        out,
                        line,
                        Severity::Note,
                        "no ssl",
                        "fetchmail used STARTTLS when offered and went on unencrypted \
                         otherwise; Mailpull requires STARTTLS (write security = \"plain\" \
                         for a server without it)",
                    );
                }
                "starttls"
            }
            .into(),
        );
        if let (Some(proto), Some((_, line))) = (&sslproto, &s.sslproto)
            && matches!(proto.as_str(), "ssl2" | "ssl3" | "tls1" | "tls1.1")
        {
            self.report(
                out,
                *line,
                Severity::NotImported,
                format!("sslproto {proto}"),
                "Mailpull speaks TLS 1.2 and 1.3 only",
            );
        }
        if let Some((false, line)) = s.sslcertck {
            self.report(
                out,
                line,
                Severity::NotImported,
                "no sslcertck",
                "Mailpull always verifies certificates; trust a private CA or a self-signed \
                 certificate with sslcertfile (remote.ca_file)",
            );
        }
        if let Some((path, _)) = &s.sslcertfile {
            remote.ca_file = Some(path.clone());
        }
        if let Some((folders, line)) = &s.folders {
            if protocol == "imap" {
                remote.folders = Some(folders.clone());
            } else {
                self.report(
                    out,
                    *line,
                    Severity::NotImported,
                    format!("folder {}", folders.join(" ")),
                    "a POP3 mailbox has no folders",
                );
            }
        }
        if let Some((auth, line)) = &s.auth {
            match auth.to_ascii_lowercase().as_str() {
                "any" | "password" => {}
                "xoauth2" | "oauthbearer" => self.report(
                    out,
                    *line,
                    Severity::NotImported,
                    format!("auth {auth}"),
                    "OAuth 2.0 needs an app registration: add [profile.remote.oauth2] and run \
                     `mailpull-worker oauth sign-in`",
                ),
                _ => self.report(
                    out,
                    *line,
                    Severity::NotImported,
                    format!("auth {auth}"),
                    "Mailpull logs in with USER/PASS, LOGIN, PLAIN, APOP or OAuth 2.0; imported \
                     as auth = \"auto\"",
                ),
            }
        }
        if let Some((secs, line)) = &s.timeout {
            match secs.parse::<u64>() {
                Ok(secs) if secs >= 1 => remote.timeout = Some(format!("{secs}s")),
                _ => self.report(
                    out,
                    *line,
                    Severity::NotImported,
                    format!("timeout {secs}"),
                    "not a number of seconds",
                ),
            }
        }
        if let Some((bytes, line)) = &s.limit {
            match bytes.parse::<u64>() {
                Ok(0) => {}
                Ok(bytes) => {
                    let mb = bytes.div_ceil(1_048_576).max(1);
                    remote.max_message_mb = Some(mb as i64);
                    if bytes % 1_048_576 != 0 {
                        self.report(
                            out,
                            *line,
                            Severity::Note,
                            format!("limit {bytes}"),
                            format!("Mailpull's limit is in MB: rounded up to {mb} MB"),
                        );
                    }
                }
                Err(_) => self.report(
                    out,
                    *line,
                    Severity::NotImported,
                    format!("limit {bytes}"),
                    "not a number of bytes",
                ),
            }
        }
    }

    fn interval(&self, s: &Settings, out: &mut Import) -> Option<String> {
        let every = match &s.interval {
            Some((n, line)) => match n.parse::<u64>() {
                Ok(n) if n >= 1 => n,
                _ => {
                    self.report(
                        out,
                        *line,
                        Severity::NotImported,
                        format!("interval {n}"),
                        "not a count of poll cycles",
                    );
                    1
                }
            },
            None => 1,
        };
        let Some(daemon) = self.daemon else {
            if let Some((n, line)) = &s.interval {
                self.report(
                    out,
                    *line,
                    Severity::NotImported,
                    format!("interval {n}"),
                    "counts the cycles of `set daemon`, and there is none",
                );
            }
            return None;
        };
        let secs = daemon.saturating_mul(every);
        Some(format_duration(std::time::Duration::from_secs(
            secs.max(10),
        )))
    }

    fn report_others(&self, s: &Settings, out: &mut Import) {
        for opt in &s.others {
            if let Some(reason) = option_reason(opt.name, opt.on) {
                self.report(out, opt.line, Severity::NotImported, show(opt), reason);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_and_ports() {
        let mut s = Settings::default();
        assert_eq!(protocol(&s, "mail.x.net"), Ok(("imap", None)));
        assert_eq!(protocol(&s, "POP.x.net"), Ok(("pop3", None)));
        s.port = Some(("995".into(), 1));
        assert_eq!(protocol(&s, "mail.x.net"), Ok(("pop3", None)));
        s.protocol = Some(("APOP".into(), 1));
        assert_eq!(protocol(&s, "x"), Ok(("pop3", Some("apop"))));
        s.protocol = Some(("odmr".into(), 1));
        assert!(protocol(&s, "x").is_err());
        assert_eq!(port("pop3s"), Some(995));
        assert_eq!(port("0"), None);
        assert_eq!(
            smtp_address("localhost/2525"),
            Some(("localhost:2525".into(), "localhost".into()))
        );
        assert_eq!(smtp_address("::1/25").map(|a| a.0), Some("[::1]:25".into()));
        assert_eq!(smtp_address("/var/run/lmtp"), None);
        assert!(is_domain_name("mail.lan") && !is_domain_name("127.0.0.1"));
    }
}
