//! [`Request::FindServer`](super::Request::FindServer): the first-run wizard's "find my
//! server". The worker tries each [`ServerCandidate`] of a host (by default
//! [`standard_candidates`]: POP3 and IMAP over TLS on 995 and 993, then STARTTLS on 110 and
//! 143) up to the encrypted connection and the server's greeting — never a login — and
//! answers one [`ServerFinding`] per candidate, in order.

use serde::{Deserialize, Serialize};

/// One way to reach a mailbox server: `protocol` is `pop3` or `imap`, `security` is `tls`
/// or `starttls` (the configuration's own names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerCandidate {
    pub protocol: String,
    pub port: u16,
    pub security: String,
}

impl ServerCandidate {
    pub fn new(protocol: &str, port: u16, security: &str) -> Self {
        ServerCandidate {
            protocol: protocol.into(),
            port,
            security: security.into(),
        }
    }
}

/// What came of trying one candidate: `works` when the encrypted connection was made and
/// the server greeted; `detail` says what was seen or why not, in plain words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerFinding {
    pub candidate: ServerCandidate,
    pub works: bool,
    pub detail: String,
}

/// The usual ports, best first: POP3 and IMAP over TLS (995, 993), then STARTTLS (110, 143).
pub fn standard_candidates() -> Vec<ServerCandidate> {
    vec![
        ServerCandidate::new("pop3", 995, "tls"),
        ServerCandidate::new("imap", 993, "tls"),
        ServerCandidate::new("pop3", 110, "starttls"),
        ServerCandidate::new("imap", 143, "starttls"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_candidates_try_tls_before_starttls() {
        let candidates = standard_candidates();
        let ports: Vec<(u16, &str)> = candidates
            .iter()
            .map(|c| (c.port, c.security.as_str()))
            .collect();
        assert_eq!(
            ports,
            [
                (995, "tls"),
                (993, "tls"),
                (110, "starttls"),
                (143, "starttls")
            ]
        );
    }
}
