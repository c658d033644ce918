//! Where a fetchmail user's mail goes: the local SMTP server (`smtphost`), the recipient
//! (`is NAME here`, `smtpname`, `smtpaddress`) and, for a multi-drop mailbox, the
//! `[profile.distribute]` table (`localdomains`, `aka`, `envelope`, `remote=local` aliases).

use std::collections::BTreeMap;

use mailpull_shared::config::raw::{RawDistribute, RawLocal};

use super::map::{Context, is_domain_name, smtp_address};
use super::settings::Settings;
use crate::import::{DEFAULT_DOMAIN, Import, Severity};

/// Whether `host` is this machine (`localhost`, 127.x, ::1).
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The local part of `address` (all of it when it has no `@`).
fn local_part(address: &str) -> &str {
    address.split_once('@').map_or(address, |(local, _)| local)
}

impl Context<'_> {
    /// The `[profile.local]` table and, for a multi-drop mailbox, `[profile.distribute]`.
    pub(super) fn local(
        &self,
        s: &Settings,
        user: &str,
        out: &mut Import,
    ) -> (RawLocal, Option<RawDistribute>) {
        let mut local = RawLocal {
            smtp: self.options.smtp.clone(),
            ..RawLocal::default()
        };
        let mut smtp_host = None;
        if let Some((hosts, line)) = &s.smtphost {
            match hosts.first().and_then(|h| smtp_address(h)) {
                Some((address, host)) => {
                    if !is_loopback(&host) {
                        self.report(
                            out,
                            *line,
                            Severity::Note,
                            format!("smtphost {}", hosts[0]),
                            "Mailpull uses STARTTLS to a local server that is not on the loopback \
                             (write local.smtp_security = \"plain\" for one without it)",
                        );
                    }
                    local.smtp = Some(address);
                    smtp_host = Some(host);
                }
                None => self.report(
                    out,
                    *line,
                    Severity::NotImported,
                    format!("smtphost {}", hosts.first().cloned().unwrap_or_default()),
                    "a socket path means LMTP; Mailpull delivers over SMTP to HOST:PORT \
                     (local.smtp; --smtp chooses it)",
                ),
            }
            if hosts.len() > 1 {
                self.report(
                    out,
                    *line,
                    Severity::NotImported,
                    format!("smtphost {}", hosts[1..].join(" ")),
                    "Mailpull delivers to one local server; these were fetchmail's fallbacks",
                );
            }
        }
        let (names, mappings) = s.names.clone().map(|(n, _)| n).unwrap_or_default();
        let multidrop = names.len() > 1 || names.iter().any(|n| n == "*") || !mappings.is_empty();
        let smtpname = s.smtpname.as_ref().filter(|_| !multidrop);
        let domain = smtpname
            .and_then(|(name, _)| name.split_once('@').map(|(_, d)| d.to_string()))
            .or_else(|| s.smtpaddress.as_ref().map(|(d, _)| d.clone()))
            .or_else(|| self.options.domain.clone())
            .or_else(|| smtp_host.filter(|h| is_domain_name(h)));
        let domain = match domain {
            Some(domain) => domain,
            None => {
                let line = s.remote_user().map_or(1, |(_, l)| l);
                self.report(
                    out,
                    line,
                    Severity::Note,
                    "no smtpaddress",
                    "mail goes to NAME@localhost, as fetchmail's RCPT TO did; import with \
                     --domain DOMAIN to choose the local domain",
                );
                DEFAULT_DOMAIN.to_string()
            }
        };
        local.domain = Some(domain);
        if !multidrop {
            local.user = Some(self.single_recipient(s, &names, user, out));
            return (local, None);
        }
        if let Some((name, line)) = &s.smtpname {
            self.report(
                out,
                *line,
                Severity::NotImported,
                format!("smtpname {name}"),
                "a multi-drop mailbox is distributed by its headers, not to one name",
            );
        }
        local.user = Some(self.postmaster.unwrap_or("postmaster").to_string());
        (local, Some(self.distribute(s, &names, &mappings, out)))
    }

    fn single_recipient(
        &self,
        s: &Settings,
        names: &[String],
        user: &str,
        out: &mut Import,
    ) -> String {
        if let Some((name, _)) = &s.smtpname {
            return local_part(name).to_string();
        }
        if let Some(name) = names.first() {
            return name.clone();
        }
        if let Some((name, _)) = &s.user_here {
            return name.clone();
        }
        let line = s.remote_user().map_or(1, |(_, l)| l);
        let name = local_part(user).to_string();
        self.report(
            out,
            line,
            Severity::Note,
            format!("user {user}"),
            format!(
                "no local name (`is NAME here`): fetchmail delivered to the account running it; \
                 imported as local user \"{name}\""
            ),
        );
        name
    }

    fn distribute(
        &self,
        s: &Settings,
        names: &[String],
        mappings: &[(String, String)],
        out: &mut Import,
    ) -> RawDistribute {
        let line = s.names.as_ref().map_or(1, |(_, l)| *l);
        let mut distribute = RawDistribute {
            enabled: Some(true),
            ..RawDistribute::default()
        };
        let mut domains: Vec<String> = Vec::new();
        for (list, _) in [&s.localdomains, &s.aka].into_iter().flatten() {
            for domain in list {
                if !domains.contains(domain) {
                    domains.push(domain.clone());
                }
            }
        }
        if domains.is_empty() {
            self.report(
                out,
                line,
                Severity::Note,
                "no localdomains",
                "fetchmail recognised addresses at the mail server's own names (poll name, via, \
                 aka, DNS); Mailpull only at distribute.local_domains, here the local domain: \
                 add the domains your mail is addressed to",
            );
        } else {
            distribute.local_domains = Some(domains);
        }
        if !mappings.is_empty() {
            let aliases: BTreeMap<String, String> = mappings.iter().cloned().collect();
            distribute.aliases = Some(aliases);
        }
        if let Some((envelope, env_line)) = &s.envelope {
            match envelope {
                None => distribute.envelope_headers = Some(Vec::new()),
                Some((count, header)) => {
                    distribute.envelope_headers = Some(vec![header.clone()]);
                    if count
                        .as_deref()
                        .is_some_and(|c| !c.trim_start_matches('0').is_empty())
                    {
                        self.report(
                            out,
                            *env_line,
                            Severity::NotImported,
                            format!("envelope {} {header}", count.as_deref().unwrap_or_default()),
                            format!("Mailpull reads every {header} header, it skips none"),
                        );
                    }
                }
            }
        }
        if !names.iter().any(|n| n == "*") {
            self.report(
                out,
                line,
                Severity::Note,
                "is/to without *",
                "fetchmail delivered only the listed names; Mailpull delivers every address in \
                 the local domains (the local server refuses unknown users, whose copies go to \
                 the fallback)",
            );
        }
        if self.postmaster.is_none() {
            self.report(
                out,
                line,
                Severity::Note,
                "no set postmaster",
                "mail that matches nobody goes to the local user \"postmaster\" \
                 (local.user, the fallback)",
            );
        }
        distribute
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_parts() {
        assert_eq!(local_part("joe@x.net"), "joe");
        assert_eq!(local_part("joe"), "joe");
        assert!(is_loopback("127.0.0.1") && is_loopback("LOCALHOST") && is_loopback("::1"));
        assert!(!is_loopback("mail.lan") && !is_loopback("192.168.1.10"));
    }
}
