//! Why a fetchmail option has no place in a Mailpull profile, one sentence per option; and
//! how an option is shown in the report (never with a password).

use super::parse::{Global, Opt};

/// The reason `name` is not imported; `None` when it needs no report (an off switch that
/// Mailpull's behaviour already matches).
pub fn option_reason(name: &str, on: bool) -> Option<&'static str> {
    let reason = match name {
        "qvirtual" => "Mailpull strips no Qmail virtual-domain prefix",
        "interface" | "monitor" => "Mailpull polls whatever the state of the network interfaces",
        "plugin" | "plugout" => {
            "Mailpull connects over TCP itself; no command (such as ssh) carries the connection"
        }
        "dns" | "checkalias" if on => {
            "Mailpull recognises recipients by distribute.local_domains, not by DNS lookups"
        }
        "uidl" if on => "not needed: Mailpull always remembers by UIDL or UID what it delivered",
        "tracepolls" if on => "Mailpull writes its own trace header",
        "principal" => "Kerberos is not supported",
        "esmtpname" | "esmtppassword" => "Mailpull does not log in to the local SMTP server",
        "bad-header" => "Mailpull delivers messages with broken headers unchanged",
        "sslcert" | "sslkey" => "TLS client certificates are not supported",
        "sslcertpath" => {
            "only one extra CA file besides the system's roots: put the CA into a PEM file and \
             set remote.ca_file"
        }
        "sslcommonname" => "Mailpull checks the certificate against the host name it connects to",
        "sslfingerprint" => {
            "Mailpull verifies certificates against trusted CAs and pins no fingerprints"
        }
        "fetchdomains" => "Mailpull delivers every message of the mailbox",
        "antispam" => {
            "Mailpull never drops what the local server refuses: a refused recipient's copy goes \
             to the fallback mailbox"
        }
        "mda" => {
            "Mailpull delivers over SMTP only; let the local mail server run the MDA (procmail, \
             maildrop, a Sieve script)"
        }
        "bsmtp" => "Mailpull delivers over SMTP only",
        "lmtp" if on => {
            "Mailpull speaks SMTP to the local server, not LMTP; point smtphost at its SMTP port"
        }
        "preconnect" | "postconnect" => "Mailpull runs no command around a connection",
        "flush" if on => "Mailpull never deletes a message it has not delivered",
        "limitflush" if on => {
            "Mailpull never deletes a message it has not delivered; oversized messages stay on \
             the server and are reported on every poll"
        }
        "rewrite" if on => "Mailpull never rewrites the addresses in headers",
        "stripcr" | "forcecr" | "pass8bits" if on => "Mailpull delivers the bytes unchanged",
        "dropstatus" | "dropdelivered" | "mimedecode" if on => {
            "Mailpull delivers the message unchanged except its trace header"
        }
        "showdots" if on => "no progress output",
        "warnings" => "oversized messages are reported on every poll",
        "batchlimit" | "fetchsizelimit" | "fastuidl" => "Mailpull batches its own way",
        "fetchlimit" => "Mailpull fetches every new message in one poll",
        "expunge" => "Mailpull expunges at the end of each poll",
        "properties" => "ignored by fetchmail too",
        _ => return None,
    };
    Some(reason)
}

/// The reason a `set` global is not imported.
pub fn global_reason(name: &str, on: bool) -> Option<&'static str> {
    Some(match name {
        "logfile" => "Mailpull logs to stderr and to state_dir/logs",
        "syslog" if on => {
            "Mailpull logs to stderr (the journal under systemd) and to state_dir/logs"
        }
        "idfile" => {
            "Mailpull keeps what it delivered in its own state database and does not read \
             fetchmail's; a mailbox kept on the server is delivered once more on the first poll"
        }
        "pidfile" => "Mailpull's state database lock allows one worker per configuration",
        "bouncemail" | "spambounce" if on => {
            "Mailpull never bounces: what matches nobody or is refused goes to the fallback mailbox"
        }
        "softbounce" if !on => {
            "Mailpull never deletes what the local server refused: it goes to the fallback mailbox"
        }
        "invisible" if on => "Mailpull always adds its trace header",
        "showdots" if on => "no progress output",
        "properties" => "ignored by fetchmail too",
        _ => return None,
    })
}

fn quote(value: &str) -> String {
    if !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '"' | '\'' | ',' | ';' | ':' | '='))
    {
        value.to_string()
    } else {
        format!("{value:?}")
    }
}

/// An option as the report shows it: `no keep`, `mda "/usr/bin/procmail -d %T"`.
pub fn show(opt: &Opt) -> String {
    let mut out = String::new();
    if !opt.on {
        out.push_str("no ");
    }
    out.push_str(opt.name);
    if let Some(count) = &opt.count {
        out.push(' ');
        out.push_str(count);
    }
    for value in &opt.values {
        out.push(' ');
        if opt.name.contains("password") {
            out.push_str("\"****\"");
        } else {
            out.push_str(&quote(value));
        }
    }
    for (remote, local) in &opt.mappings {
        out.push_str(&format!(" {}={}", quote(remote), quote(local)));
    }
    out
}

/// A global as the report shows it: `set logfile "/var/log/fetchmail"`.
pub fn show_global(global: &Global) -> String {
    let mut out = String::from("set ");
    if !global.on {
        out.push_str("no ");
    }
    out.push_str(&global.name);
    if let Some(value) = &global.value {
        out.push(' ');
        out.push_str(&quote(value));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        let opt = Opt {
            name: "esmtppassword",
            on: true,
            values: vec!["hunter2".into()],
            ..Opt::default()
        };
        assert_eq!(show(&opt), "esmtppassword \"****\"");
        let mda = Opt {
            name: "mda",
            on: true,
            values: vec!["/usr/bin/procmail -d %T".into()],
            ..Opt::default()
        };
        assert_eq!(show(&mda), "mda \"/usr/bin/procmail -d %T\"");
    }

    #[test]
    fn off_switches_mailpull_matches_need_no_report() {
        assert!(option_reason("rewrite", false).is_none());
        assert!(option_reason("rewrite", true).is_some());
        assert!(option_reason("mda", true).is_some());
        assert!(global_reason("bouncemail", false).is_none());
    }
}
