//! "Find my server": the state of the worker's search of the usual ports of a host, what it
//! found in plain words, and choosing a working way to reach it (it fills protocol, port and
//! security of the form).

use mailpull_shared::config::{Protocol, Security};
use mailpull_shared::ipc::{ServerCandidate, ServerFinding};

use crate::form::FormFields;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Search {
    NotYet,
    /// Asked the worker about this host.
    Looking {
        host: String,
    },
    /// What answered on `host`, one finding per port tried.
    Done {
        host: String,
        findings: Vec<ServerFinding>,
    },
}

/// "POP3, port 995, encrypted (TLS)".
pub fn describe_candidate(candidate: &ServerCandidate) -> String {
    let protocol = match candidate.protocol.as_str() {
        "imap" => "IMAP",
        _ => "POP3",
    };
    let security = match candidate.security.as_str() {
        "starttls" => "encrypted after connecting (STARTTLS)",
        _ => "encrypted (TLS)",
    };
    format!("{protocol}, port {}, {security}", candidate.port)
}

impl Search {
    /// The findings for `host` (what the person typed now), if the search for it is done.
    pub fn findings_for(&self, host: &str) -> Option<&[ServerFinding]> {
        match self {
            Search::Done { host: h, findings } if h == host.trim() => Some(findings),
            _ => None,
        }
    }

    /// A working finding for the typed server is chosen in `fields`.
    pub fn chosen(&self, fields: &FormFields) -> bool {
        self.findings_for(&fields.server).is_some_and(|findings| {
            findings
                .iter()
                .any(|f| f.works && is_chosen(&f.candidate, fields))
        })
    }

    /// Takes in the worker's answer: chooses the first working finding (they come best
    /// first) when it is for the host still typed.
    pub fn found(&mut self, host: String, findings: Vec<ServerFinding>, fields: &mut FormFields) {
        if host.trim() == fields.server.trim()
            && let Some(best) = findings.iter().find(|f| f.works)
        {
            choose(&best.candidate, fields);
        }
        *self = Search::Done { host, findings };
    }

    /// In plain words: what the search found, for the line over the list.
    pub fn summary(&self, fields: &FormFields) -> Option<String> {
        match self {
            Search::NotYet => None,
            Search::Looking { host } => Some(format!(
                "Looking for {host} on the usual ports, encrypted ..."
            )),
            Search::Done { host, findings } => {
                let working: Vec<&ServerFinding> = findings.iter().filter(|f| f.works).collect();
                Some(match working.first() {
                    None => format!(
                        "{host} answers on none of the usual ports with encryption. Check the \
                         name with your provider; Mailpull does not send a password unencrypted."
                    ),
                    Some(_) if self.chosen(fields) => format!(
                        "Found {host}: {} working way(s). Mailpull will use {}.",
                        working.len(),
                        working
                            .iter()
                            .find(|f| is_chosen(&f.candidate, fields))
                            .map_or(String::new(), |f| describe_candidate(&f.candidate)),
                    ),
                    Some(_) => format!("Found {host}: choose one of the working ways below."),
                })
            }
        }
    }
}

/// Sets protocol, port and security of `fields` to `candidate`'s.
pub fn choose(candidate: &ServerCandidate, fields: &mut FormFields) {
    let protocol = match candidate.protocol.as_str() {
        "imap" => Protocol::Imap,
        _ => Protocol::Pop3,
    };
    let security = match candidate.security.as_str() {
        "starttls" => Security::StartTls,
        _ => Security::Tls,
    };
    fields.choose_transport(protocol, security);
    fields.port = if fields.default_port() == candidate.port {
        String::new()
    } else {
        candidate.port.to_string()
    };
}

/// `fields` reach the server the way `candidate` does.
pub fn is_chosen(candidate: &ServerCandidate, fields: &FormFields) -> bool {
    let port = fields.port.trim().parse().unwrap_or(fields.default_port());
    fields.protocol.as_str() == candidate.protocol
        && fields.remote_security().as_str() == candidate.security
        && port == candidate.port
}
