//! Delivery to the local mail server over SMTP (lettre): the message bytes unchanged except one
//! prepended `Received:` trace header, MAIL FROM taken from the Return-Path, one transaction per
//! message. Replies are classified the way the rest of the worker needs them: transient (4xx,
//! connection trouble: keep the message and retry) or permanent (5xx).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use mailpull_shared::config::{Local, Security};

const SMTP_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeliveryError {
    /// 4xx, or the server could not be reached: the message stays remote and is retried.
    #[error("local server {server} answered with a temporary failure: {reply}")]
    Transient { server: String, reply: String },
    /// 5xx: the local server refuses this message or recipient.
    #[error("local server {server} refused the message: {reply}")]
    Permanent { server: String, reply: String },
    #[error("local server {server} unreachable: {reason}")]
    Unreachable { server: String, reason: String },
    #[error("\"{address}\" is not a deliverable address: {reason}")]
    BadAddress { address: String, reason: String },
    #[error("TLS set-up for local server {server}: {reason}")]
    Tls { server: String, reason: String },
}

impl DeliveryError {
    /// Retrying later may succeed (4xx, connection trouble).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            DeliveryError::Transient { .. } | DeliveryError::Unreachable { .. }
        )
    }
}

/// What the local server said when it accepted a message.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub reply: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct TransportKey {
    host: String,
    port: u16,
    security: &'static str,
    ca_file: Option<std::path::PathBuf>,
}

/// Delivers messages; keeps one pooled SMTP transport per local server.
pub struct Deliverer {
    transports: Mutex<HashMap<TransportKey, AsyncSmtpTransport<Tokio1Executor>>>,
    pool_size: u32,
}

impl Deliverer {
    pub fn new(pool_size: u32) -> Self {
        Deliverer {
            transports: Mutex::new(HashMap::new()),
            pool_size: pool_size.max(1),
        }
    }

    fn transport(
        &self,
        local: &Local,
    ) -> Result<AsyncSmtpTransport<Tokio1Executor>, DeliveryError> {
        let key = TransportKey {
            host: local.smtp_host.clone(),
            port: local.smtp_port,
            security: local.smtp_security.as_str(),
            ca_file: local.ca_file.clone(),
        };
        let mut transports = self
            .transports
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(transport) = transports.get(&key) {
            return Ok(transport.clone());
        }
        let server = format!("{}:{}", local.smtp_host, local.smtp_port);
        let tls_error = |reason: String| DeliveryError::Tls {
            server: server.clone(),
            reason,
        };
        let tls = match local.smtp_security {
            Security::Plain => Tls::None,
            Security::StartTls | Security::Tls => {
                let mut builder = TlsParameters::builder(local.smtp_host.clone());
                if let Some(path) = &local.ca_file {
                    let pem = std::fs::read(path).map_err(|err| {
                        tls_error(format!("cannot read {}: {err}", path.display()))
                    })?;
                    let cert =
                        Certificate::from_pem(&pem).map_err(|err| tls_error(err.to_string()))?;
                    builder = builder.add_root_certificate(cert);
                }
                let params = builder
                    .build_rustls()
                    .map_err(|err| tls_error(err.to_string()))?;
                if local.smtp_security == Security::Tls {
                    Tls::Wrapper(params)
                } else {
                    Tls::Required(params)
                }
            }
        };
        let transport =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(local.smtp_host.clone())
                .port(local.smtp_port)
                .tls(tls)
                .timeout(Some(SMTP_TIMEOUT))
                .pool_config(PoolConfig::new().max_size(self.pool_size))
                .build();
        transports.insert(key, transport.clone());
        Ok(transport)
    }

    /// Connects to the local server of `local` and checks it answers (EHLO, NOOP): for the
    /// connection test.
    pub async fn test_connection(&self, local: &Local) -> Result<(), DeliveryError> {
        let transport = self.transport(local)?;
        let server = format!("{}:{}", local.smtp_host, local.smtp_port);
        match transport.test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => Err(DeliveryError::Unreachable {
                server,
                reason: "the server did not answer NOOP".into(),
            }),
            Err(err) => Err(DeliveryError::Unreachable {
                server,
                reason: err.to_string(),
            }),
        }
    }

    /// Sends `message` (already carrying its trace header) from `from` (None: the null sender)
    /// to `recipients` in one SMTP transaction.
    pub async fn send(
        &self,
        local: &Local,
        from: Option<&str>,
        recipients: &[String],
        message: &[u8],
    ) -> Result<Accepted, DeliveryError> {
        let server = format!("{}:{}", local.smtp_host, local.smtp_port);
        let to = recipients
            .iter()
            .map(|rcpt| {
                rcpt.parse::<Address>()
                    .map_err(|err| DeliveryError::BadAddress {
                        address: rcpt.clone(),
                        reason: err.to_string(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let from = from.and_then(|from| from.parse::<Address>().ok());
        let envelope = Envelope::new(from, to).map_err(|err| DeliveryError::BadAddress {
            address: recipients.join(", "),
            reason: err.to_string(),
        })?;
        let transport = self.transport(local)?;
        // lettre ends DATA with CRLF "." CRLF itself: without this, a message ending in CRLF
        // (they all do) would gain an empty last line.
        let message = message.strip_suffix(b"\r\n").unwrap_or(message);
        match transport.send_raw(&envelope, message).await {
            Ok(response) => Ok(Accepted {
                reply: format!(
                    "{} {}",
                    response.code(),
                    response.message().collect::<Vec<_>>().join(" ")
                ),
            }),
            Err(err) => Err(classify(err, server)),
        }
    }
}

fn classify(err: lettre::transport::smtp::Error, server: String) -> DeliveryError {
    let reply = one_line(&err.to_string());
    if err.is_permanent() {
        DeliveryError::Permanent { server, reply }
    } else if err.is_transient() {
        DeliveryError::Transient { server, reply }
    } else {
        DeliveryError::Unreachable {
            server,
            reason: error_chain(&err),
        }
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    one_line(&text)
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The header section of a message: everything before the first empty line.
fn header_section(message: &[u8]) -> &[u8] {
    let mut start = 0;
    while start < message.len() {
        let end = message[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(message.len(), |i| start + i + 1);
        let line = &message[start..end];
        if line == b"\r\n" || line == b"\n" {
            return &message[..start];
        }
        start = end;
    }
    message
}

/// The first occurrence of a header, unfolded, or `None`.
pub fn header_value(message: &[u8], name: &str) -> Option<String> {
    let headers = header_section(message);
    let mut value: Option<Vec<u8>> = None;
    for line in headers.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(current) = value.as_mut() {
            if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
                current.push(b' ');
                current.extend_from_slice(line.trim_ascii());
                continue;
            }
            break;
        }
        if line.len() > name.len()
            && line[name.len()] == b':'
            && line[..name.len()].eq_ignore_ascii_case(name.as_bytes())
        {
            value = Some(line[name.len() + 1..].trim_ascii().to_vec());
        }
    }
    value.map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

/// MAIL FROM for a message: the address in its Return-Path, or `None` (the null sender) when
/// it has none, an empty one, or one SMTP cannot carry.
pub fn envelope_sender(message: &[u8]) -> Option<String> {
    let value = header_value(message, "Return-Path")?;
    let inner = match (value.find('<'), value.rfind('>')) {
        (Some(start), Some(end)) if start < end => &value[start + 1..end],
        _ => value.as_str(),
    };
    let inner = inner.trim();
    // A source route ("<@a,@b:user@host>") keeps only the mailbox.
    let inner = inner.rsplit_once(':').map_or(inner, |(_, mailbox)| mailbox);
    (!inner.is_empty() && inner.parse::<Address>().is_ok()).then(|| inner.to_string())
}

/// What the trace header says about where a message came from.
#[derive(Debug, Clone)]
pub struct TraceInfo<'a> {
    /// The remote server's host name.
    pub remote_host: &'a str,
    /// "POP3", "POP3S", "IMAP", "IMAPS" (S when TLS protected the connection).
    pub with: &'a str,
    pub uid: &'a str,
    /// This machine's name.
    pub local_host: &'a str,
    pub installation_id: &'a str,
    /// A single recipient is named in the header (`for <...>`); several are not, to keep Bcc.
    pub recipients: &'a [String],
    pub unix_time: i64,
}

/// The `Received:` header Mailpull prepends (RFC 5321 section 4.4 form). It carries this
/// installation's id, which loop detection looks for.
pub fn trace_header(info: &TraceInfo<'_>) -> String {
    let date = mail_parser::DateTime::from_timestamp(info.unix_time).to_rfc822();
    let uid: String = info
        .uid
        .chars()
        .filter(|c| c.is_ascii_graphic() && *c != ';')
        .take(70)
        .collect();
    let for_clause = match info.recipients {
        [one] => format!(" for <{one}>"),
        _ => String::new(),
    };
    format!(
        "Received: from {} by {} (Mailpull, mailpull-id={})\r\n\twith {} id {}{};\r\n\t{}\r\n",
        info.remote_host, info.local_host, info.installation_id, info.with, uid, for_clause, date
    )
}

/// `trace` followed by `message`.
pub fn with_trace(trace: &str, message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(trace.len() + message.len());
    out.extend_from_slice(trace.as_bytes());
    out.extend_from_slice(message);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_path_gives_the_envelope_sender() {
        let msg = b"Received: x\r\nReturn-Path: <Bob@Example.org>\r\nSubject: s\r\n\r\nReturn-Path: <body@x.y>\r\n";
        assert_eq!(envelope_sender(msg).as_deref(), Some("Bob@Example.org"));
        assert_eq!(envelope_sender(b"Return-Path: <>\r\n\r\nbody"), None);
        assert_eq!(
            envelope_sender(b"Subject: none\r\n\r\nReturn-Path: <a@b.c>\r\n"),
            None
        );
        assert_eq!(
            envelope_sender(b"Return-Path: <@relay.example:me@x.example>\r\n\r\n").as_deref(),
            Some("me@x.example")
        );
        assert_eq!(
            envelope_sender(b"Return-Path: <not an address>\r\n\r\n"),
            None
        );
        assert_eq!(
            envelope_sender(b"return-path:\r\n <folded@x.example>\r\n\r\n").as_deref(),
            Some("folded@x.example")
        );
    }

    #[test]
    fn header_value_unfolds_and_stops_at_the_body() {
        let msg = b"Subject: a\r\n b\r\nTo: x@y.z\r\n\r\nSubject: body\r\n";
        assert_eq!(header_value(msg, "subject").as_deref(), Some("a b"));
        assert_eq!(header_value(msg, "Cc"), None);
        assert_eq!(header_value(b"", "To"), None);
        assert_eq!(header_value(b"\xff\xfe: \x00\r\n", "To"), None);
    }

    #[test]
    fn trace_header_names_source_installation_and_single_recipient() {
        let rcpt = vec!["alice@local.test".to_string()];
        let header = trace_header(&TraceInfo {
            remote_host: "pop.isp.example",
            with: "POP3S",
            uid: "UID-1;x",
            local_host: "gateway",
            installation_id: "abc123",
            recipients: &rcpt,
            unix_time: 0,
        });
        assert!(
            header.starts_with(
                "Received: from pop.isp.example by gateway (Mailpull, mailpull-id=abc123)\r\n"
            ),
            "{header}"
        );
        assert!(
            header.contains("with POP3S id UID-1x for <alice@local.test>;"),
            "{header}"
        );
        assert!(header.contains("1970"), "{header}");
        assert!(header.ends_with("\r\n"));
        let two = vec!["a@x.y".to_string(), "b@x.y".to_string()];
        let header = trace_header(&TraceInfo {
            recipients: &two,
            ..TraceInfo {
                remote_host: "h",
                with: "IMAPS",
                uid: "1",
                local_host: "g",
                installation_id: "i",
                recipients: &rcpt,
                unix_time: 0,
            }
        });
        assert!(!header.contains(" for <"), "{header}");
    }
}
