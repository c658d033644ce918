//! Delivery to the local mail server over SMTP (lettre): the message bytes unchanged except one
//! prepended `Received:` trace header and bare LF/CR made CRLF ([`crlf`], against SMTP
//! smuggling), MAIL FROM taken from the Return-Path, one transaction per
//! message (a Return-Path the server cannot take goes out in an ASCII form or as the null
//! sender, see [`sender`]); under STARTTLS no plaintext that came before the handshake is read
//! as an answer after it ([`starttls_guard`]). Replies are classified the way the rest of the worker needs them: transient (4xx,
//! connection trouble: keep the message and retry) or permanent (5xx).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lettre::Address;
use lettre::address::Envelope;
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters,
};
use lettre::transport::smtp::extension::ClientId;
use mailpull_shared::config::{Local, Security};

pub mod crlf;
pub mod lane;
pub mod sender;
pub mod starttls_guard;

pub use sender::{MailFrom, ORIGINAL_SENDER_HEADER, mail_from};

use crate::metrics::SmtpClass;
use crate::net::{self, Stream};
use crate::tls;
use lane::{Lane, LaneGone};
use starttls_guard::StartTlsGuard;

/// The SMTP timeout is this many times the profile's `timeout` (60 s by default, giving
/// 120 s): the local server may need a while to answer after the data of a large message.
const SMTP_TIMEOUT_FACTOR: u32 = 2;

/// The SMTP command timeout for a profile whose remote `timeout` is `remote_timeout`.
pub fn smtp_timeout(remote_timeout: Duration) -> Duration {
    remote_timeout.saturating_mul(SMTP_TIMEOUT_FACTOR)
}

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
    /// lettre refused to send this message before sending it (e.g. 8-bit content to a server
    /// without 8BITMIME): the message's, not the server's; the connection stays in step.
    #[error("the message cannot be sent to local server {server}: {reason}")]
    NotSendable { server: String, reason: String },
}

impl DeliveryError {
    /// The local server cannot take mail now (4xx, unreachable, TLS trouble): the message
    /// stays remote and the poll stops, to be retried later. Not a judgement on the message.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            DeliveryError::Transient { .. }
                | DeliveryError::Unreachable { .. }
                | DeliveryError::Tls { .. }
        )
    }
}

/// The class of the local server's final reply to a message, when it gave one (not when it
/// could not be reached or lettre refused the message before sending it).
pub fn reply_class<T>(result: &Result<T, DeliveryError>) -> Option<SmtpClass> {
    match result {
        Ok(_) => Some(SmtpClass::Success),
        Err(DeliveryError::Transient { .. }) => Some(SmtpClass::Transient),
        Err(DeliveryError::Permanent { .. }) => Some(SmtpClass::Permanent),
        Err(_) => None,
    }
}

/// What the local server said when it accepted a message.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub reply: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ServerKey {
    host: String,
    port: u16,
    security: &'static str,
    ca_file: Option<std::path::PathBuf>,
}

/// Delivers messages; keeps idle SMTP connections per local server for reuse. Every SMTP
/// conversation runs on the SMTP lane ([`lane`]), its own threads, so that a 250 is read and
/// handed on when it arrives, whatever the polls' threads are doing.
pub struct Deliverer {
    pool: Arc<Pool>,
    lane: Lane,
}

/// The SMTP connections and what opens them.
///
/// Connections are our own sockets with TCP_NODELAY, handed to lettre's single-connection
/// client: lettre writes a message's data and the closing dot separately, and without
/// TCP_NODELAY the dot waits for the server's delayed ACK (~40 ms per message).
struct Pool {
    idle: Mutex<HashMap<ServerKey, Vec<AsyncSmtpConnection>>>,
    max_idle: usize,
    hello: ClientId,
}

/// A transaction that ended without an answer (see [`LaneGone`]): taken as the local server
/// being unreachable, which stops the poll.
fn lane_gone(local: &Local) -> DeliveryError {
    DeliveryError::Unreachable {
        server: format!("{}:{}", local.smtp_host, local.smtp_port),
        reason: "the SMTP transaction ended without an answer".into(),
    }
}

impl AsyncTokioStream for Stream {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        match self {
            Stream::Plain(tcp) => tcp.peer_addr(),
            Stream::Tls(tls) => tls.get_ref().0.peer_addr(),
        }
    }
}

impl AsyncTokioStream for StartTlsGuard<Stream> {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.get_ref().peer_addr()
    }
}

impl Deliverer {
    /// Keeps at most `pool_size` idle connections per local server; starts the SMTP lane.
    pub fn new(pool_size: u32) -> Self {
        Deliverer {
            pool: Arc::new(Pool::new(pool_size)),
            lane: Lane::start(),
        }
    }

    /// Connects to the local server of `local` and checks it answers (greeting, EHLO,
    /// STARTTLS where configured, NOOP): for the connection test.
    pub async fn test_connection(
        &self,
        local: &Local,
        timeout: Duration,
    ) -> Result<(), DeliveryError> {
        let (pool, owned) = (self.pool.clone(), local.clone());
        let work = async move { pool.test_connection(&owned, timeout).await };
        self.lane
            .run(work)
            .await
            .map_err(|LaneGone| lane_gone(local))?
    }

    /// Sends `message` (already carrying its trace header) from `from` (the Return-Path's
    /// address as written, see [`envelope_sender`]; None: the null sender) to `recipients` in
    /// one SMTP transaction on the SMTP lane; every SMTP reply must come within `timeout` (see
    /// [`smtp_timeout`]). MAIL FROM is [`mail_from`]'s choice (always ASCII): where it is
    /// not `from` itself, its header goes in after the trace header.
    ///
    /// `on_accepted` runs on the lane the moment the local server's 250 is read (before this
    /// returns, and even when the caller is cancelled meanwhile): the place to queue the
    /// delivery's record. The message comes back with the result (empty only when the
    /// transaction ended without an answer).
    pub async fn send<T: Send + 'static>(
        &self,
        local: &Local,
        timeout: Duration,
        from: Option<&str>,
        recipients: &[String],
        message: Vec<u8>,
        on_accepted: impl FnOnce(&Accepted) -> T + Send + 'static,
    ) -> (Vec<u8>, Result<(Accepted, T), DeliveryError>) {
        let pool = self.pool.clone();
        let (owned, from, recipients) =
            (local.clone(), from.map(str::to_string), recipients.to_vec());
        let work = async move {
            let result = pool
                .send(&owned, timeout, from.as_deref(), &recipients, &message)
                .await
                .map(|accepted| {
                    let done = on_accepted(&accepted);
                    (accepted, done)
                });
            (message, result)
        };
        match self.lane.run(work).await {
            Ok(answer) => answer,
            Err(LaneGone) => (Vec::new(), Err(lane_gone(local))),
        }
    }
}

impl Pool {
    fn new(pool_size: u32) -> Self {
        let hello = hostname::get()
            .ok()
            .and_then(|name| name.into_string().ok())
            .filter(|name| !name.is_empty() && name.contains('.'))
            .map(ClientId::Domain)
            .unwrap_or_default();
        Pool {
            idle: Mutex::new(HashMap::new()),
            max_idle: pool_size.max(1) as usize,
            hello,
        }
    }

    fn key(local: &Local) -> ServerKey {
        ServerKey {
            host: local.smtp_host.clone(),
            port: local.smtp_port,
            security: local.smtp_security.as_str(),
            ca_file: local.ca_file.clone(),
        }
    }

    fn take_idle(&self, key: &ServerKey) -> Option<AsyncSmtpConnection> {
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get_mut(key)
            .and_then(Vec::pop)
    }

    fn give_back(&self, key: ServerKey, conn: AsyncSmtpConnection) {
        if conn.has_broken() {
            return;
        }
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let list = idle.entry(key).or_default();
        if list.len() < self.max_idle {
            list.push(conn);
        }
    }

    /// A connection to the local server: an idle one that still answers NOOP, or a new one.
    async fn connection(
        &self,
        local: &Local,
        key: &ServerKey,
        timeout: Duration,
    ) -> Result<AsyncSmtpConnection, DeliveryError> {
        while let Some(mut conn) = self.take_idle(key) {
            // A pooled connection whose server does not answer NOOP in time is dropped.
            if answers_noop(&mut conn, timeout).await {
                return Ok(conn);
            }
        }
        let server = format!("{}:{}", local.smtp_host, local.smtp_port);
        let unreachable = |reason: String| DeliveryError::Unreachable {
            server: server.clone(),
            reason,
        };
        let tls_error = |reason: String| DeliveryError::Tls {
            server: server.clone(),
            reason,
        };
        let tcp = net::connect_tcp(&local.smtp_host, local.smtp_port, timeout)
            .await
            .map_err(|err| unreachable(err.to_string()))?;
        let stream = match local.smtp_security {
            Security::Tls => {
                let config = tls::client_config(local.ca_file.as_deref())
                    .map_err(|err| tls_error(err.to_string()))?;
                net::tls_handshake(tcp, &local.smtp_host, local.smtp_port, config, timeout)
                    .await
                    .map_err(|err| tls_error(err.to_string()))?
            }
            Security::StartTls | Security::Plain => Stream::Plain(tcp),
        };
        // Under STARTTLS, no plaintext read before the handshake is taken as an answer after it.
        let transport: Box<dyn AsyncTokioStream> = if local.smtp_security == Security::StartTls {
            Box::new(StartTlsGuard::new(stream))
        } else {
            Box::new(stream)
        };
        let greet = AsyncSmtpConnection::connect_with_transport(transport, &self.hello);
        let mut conn = tokio::time::timeout(timeout, greet)
            .await
            .map_err(|_| unreachable(format!("no greeting within {} s", timeout.as_secs())))?
            .map_err(|err| classify(err, server.clone()))?;
        if local.smtp_security == Security::StartTls {
            if !conn.can_starttls() {
                return Err(tls_error("the server does not offer STARTTLS (set smtp_security = \"plain\" only if you accept that)".into()));
            }
            let mut builder = TlsParameters::builder(local.smtp_host.clone());
            if let Some(path) = &local.ca_file {
                let pem = std::fs::read(path)
                    .map_err(|err| tls_error(format!("cannot read {}: {err}", path.display())))?;
                let cert = Certificate::from_pem(&pem).map_err(|err| tls_error(err.to_string()))?;
                builder = builder.add_root_certificate(cert);
            }
            let params = builder
                .build_rustls()
                .map_err(|err| tls_error(err.to_string()))?;
            // STARTTLS, the handshake and the second EHLO: lettre waits for ever on a server
            // that goes silent after its 220.
            tokio::time::timeout(timeout, conn.starttls(params, &self.hello))
                .await
                .map_err(|_| {
                    tls_error(format!(
                        "no TLS handshake or EHLO reply within {} s after STARTTLS",
                        timeout.as_secs()
                    ))
                })?
                .map_err(|err| tls_error(error_chain(&err)))?;
        }
        Ok(conn)
    }

    async fn test_connection(&self, local: &Local, timeout: Duration) -> Result<(), DeliveryError> {
        let key = Self::key(local);
        let mut conn = self.connection(local, &key, timeout).await?;
        if answers_noop(&mut conn, timeout).await {
            self.give_back(key, conn);
            Ok(())
        } else {
            Err(DeliveryError::Unreachable {
                server: format!("{}:{}", local.smtp_host, local.smtp_port),
                reason: "the server did not answer NOOP".into(),
            })
        }
    }

    /// One SMTP transaction (see [`Deliverer::send`]), on the lane.
    async fn send(
        &self,
        local: &Local,
        timeout: Duration,
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
        let MailFrom { address, header } = mail_from(from);
        let envelope =
            Envelope::new(address.clone(), to).map_err(|err| DeliveryError::BadAddress {
                address: recipients.join(", "),
                reason: err.to_string(),
            })?;
        let with_header;
        let message = match &header {
            Some(header) => {
                tracing::info!(
                    original = from.unwrap_or_default(),
                    mail_from = address.as_ref().map_or("<>", |a| a.as_ref()),
                    "the Return-Path cannot go out as it is; the original goes in {ORIGINAL_SENDER_HEADER}"
                );
                let at = sender::after_first_field(message);
                with_header = [&message[..at], header.as_bytes(), &message[at..]].concat();
                &with_header[..]
            }
            None => message,
        };
        // No bare LF or CR reaches the local server (SMTP smuggling): lettre dot-stuffs only
        // after CRLF. A clean message is not copied.
        let normalized = crlf::normalize_line_ends(message);
        let message = normalized.as_ref();
        // lettre ends DATA with CRLF "." CRLF itself: without this, a message ending in CRLF
        // (they all do) would gain an empty last line.
        let message = message.strip_suffix(b"\r\n").unwrap_or(message);
        // The whole transaction is bounded: the timeout, plus a second per 64 KiB of data so a
        // large message on a slow link is not cut off.
        let budget = timeout.saturating_add(Duration::from_secs(message.len() as u64 / 65_536));
        let key = Self::key(local);
        let mut conn = self.connection(local, &key, timeout).await?;
        match tokio::time::timeout(budget, conn.send(&envelope, message)).await {
            Ok(Ok(response)) => {
                self.give_back(key, conn);
                Ok(Accepted {
                    reply: format!(
                        "{} {}",
                        response.code(),
                        response.message().collect::<Vec<_>>().join(" ")
                    ),
                })
            }
            Ok(Err(err)) if err.is_client() => Err(DeliveryError::NotSendable {
                server,
                reason: error_chain(&err),
            }),
            Ok(Err(err)) => Err(classify(err, server)),
            Err(_) => Err(DeliveryError::Unreachable {
                server,
                reason: format!("no reply within {} s", budget.as_secs()),
            }),
        }
    }
}

/// The server answers NOOP on `conn` within `timeout` (lettre has no timeout of its own).
async fn answers_noop(conn: &mut AsyncSmtpConnection, timeout: Duration) -> bool {
    tokio::time::timeout(timeout, conn.test_connected())
        .await
        .unwrap_or(false)
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

/// The error and its sources, each source only when the text so far does not already say it
/// (lettre's messages often include their source).
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        let part = inner.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = inner.source();
    }
    // "Connection error: Connection error: ..." (lettre nests its own kinds): say it once.
    let mut parts: Vec<&str> = text.split(": ").collect();
    parts.dedup();
    one_line(&parts.join(": "))
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The first occurrence of a header, unfolded, or `None` (the one header reader, shared with
/// routing).
pub use crate::routing::parse::header_value;

/// The sender for a message: the address in its Return-Path as written, or `None` (the null
/// sender) when it has none or an empty one. Whether and how it can go out as MAIL FROM is
/// [`mail_from`]'s decision.
pub fn envelope_sender(message: &[u8]) -> Option<String> {
    let value = header_value(message, "Return-Path")?;
    let inner = match (value.find('<'), value.rfind('>')) {
        (Some(start), Some(end)) if start < end => &value[start + 1..end],
        _ => value.as_str(),
    };
    let inner = inner.trim();
    // A source route ("<@a,@b:user@host>") keeps only the mailbox.
    let inner = inner.rsplit_once(':').map_or(inner, |(_, mailbox)| mailbox);
    let inner = inner.trim();
    (!inner.is_empty()).then(|| inner.to_string())
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

#[cfg(test)]
mod tests;
