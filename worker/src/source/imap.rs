//! The IMAP side, a thin layer over async-imap: connect (implicit TLS or STARTTLS, failing
//! closed), log in, and for each configured folder a [`Mailbox`] that lists by `UID SEARCH`,
//! fetches with `UID FETCH BODY.PEEK[]` (never setting \Seen) and deletes by flagging
//! \Deleted; [`ImapFolder::expunge`] then removes them with `UID EXPUNGE` where UIDPLUS is
//! offered, else `EXPUNGE`.
//!
//! For push, [`ImapConnection::idle`] turns a connection into an [`ImapIdle`]: the folder
//! EXAMINEd (read-only) and an IMAP IDLE (RFC 2177) running, which reports new mail and is
//! ended and re-issued ([`ImapIdle::renew`]) before the server's inactivity timeout.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use async_imap::extensions::idle::{Handle as IdleHandle, IdleResponse};
use async_imap::imap_proto::{MailboxDatum, Response, Status};
use async_imap::types::UnsolicitedResponse;
use futures::TryStreamExt;
use mailpull_shared::config::{AuthMethod, Remote, Security};
use mailpull_shared::secrets::Secret;
use rustls::ClientConfig;

use super::{Listed, Mailbox, SourceError};
use crate::net::{self, Stream};
use crate::state::MailboxKey;

type Session = async_imap::Session<Watched>;

/// The connection under async-imap, noting when the server closed it (or it failed).
/// async-imap 0.12 takes the end of the stream for the end of a command's responses: a
/// connection cut before the tagged reply makes `SELECT` look like an empty mailbox and
/// `UID SEARCH`, `UID STORE` or `EXPUNGE` look successful. Every command checks this flag
/// after its reply ([`timed`]), so a cut is an error.
#[derive(Debug)]
pub struct Watched {
    inner: Stream,
    closed: Arc<AtomicBool>,
}

impl Watched {
    fn new(inner: Stream) -> Self {
        Watched {
            inner,
            closed: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl tokio::io::AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let wanted = buf.remaining() > 0;
        let this = &mut *self;
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        match &result {
            Poll::Ready(Ok(())) if wanted && buf.filled().len() == before => {
                this.closed.store(true, Ordering::SeqCst);
            }
            Poll::Ready(Err(_)) => this.closed.store(true, Ordering::SeqCst),
            _ => {}
        }
        result
    }
}

impl tokio::io::AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        let result = Pin::new(&mut this.inner).poll_write(cx, data);
        if let Poll::Ready(Err(_)) = &result {
            this.closed.store(true, Ordering::SeqCst);
        }
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A logged-in IMAP connection.
pub struct ImapConnection {
    session: Session,
    /// Set once the server closed the connection (see [`Watched`]).
    closed: Arc<AtomicBool>,
    server: String,
    account: String,
    timeout: Duration,
    uidplus: bool,
    idle: bool,
    max_message_bytes: u64,
}

struct PlainAuth<'a> {
    user: &'a str,
    password: &'a str,
}

impl async_imap::Authenticator for PlainAuth<'_> {
    type Response = String;
    fn process(&mut self, _challenge: &[u8]) -> Self::Response {
        format!("\0{}\0{}", self.user, self.password)
    }
}

struct LoginAuth<'a> {
    user: &'a str,
    password: &'a str,
    step: u8,
}

impl async_imap::Authenticator for LoginAuth<'_> {
    type Response = String;
    fn process(&mut self, _challenge: &[u8]) -> Self::Response {
        self.step += 1;
        if self.step == 1 {
            self.user.to_string()
        } else {
            self.password.to_string()
        }
    }
}

/// XOAUTH2 / OAUTHBEARER: the payload to the first (empty) challenge; any later challenge is
/// the server's error (JSON), summarised into `refused` and answered as the mechanism wants.
struct OAuthAuth {
    payload: Vec<u8>,
    oauthbearer: bool,
    step: u8,
    refused: Arc<std::sync::Mutex<Option<String>>>,
}

impl async_imap::Authenticator for OAuthAuth {
    type Response = Vec<u8>;
    fn process(&mut self, challenge: &[u8]) -> Self::Response {
        self.step = self.step.saturating_add(1);
        if self.step == 1 {
            return std::mem::take(&mut self.payload);
        }
        let why = crate::sasl::describe_error_challenge(challenge)
            .unwrap_or_else(|| "the server refused the access token".to_string());
        if let Ok(mut refused) = self.refused.lock() {
            *refused = Some(why);
        }
        crate::sasl::error_challenge_answer(self.oauthbearer).to_vec()
    }
}

fn imap_err(server: &str, context: &str, err: impl std::fmt::Display) -> SourceError {
    SourceError::Imap {
        server: server.to_string(),
        context: context.to_string(),
        message: err.to_string(),
    }
}

/// Runs one IMAP exchange with a timeout; a connection that closed before the exchange
/// completed is an error even when async-imap reported success (see [`Watched`]).
async fn timed<T, E: std::fmt::Display>(
    (server, closed): (&str, &AtomicBool),
    timeout: Duration,
    context: &str,
    fut: impl Future<Output = Result<T, E>>,
) -> Result<T, SourceError> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(Ok(_)) if closed.load(Ordering::SeqCst) => Err(imap_err(
            server,
            context,
            "connection closed by the server before the command completed",
        )),
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(imap_err(server, context, err)),
        Err(_) => Err(SourceError::ImapTimeout {
            server: server.to_string(),
            context: context.to_string(),
            secs: timeout.as_secs(),
        }),
    }
}

/// Connects, secures and logs in.
pub async fn connect(
    remote: &Remote,
    password: &Secret,
    tls: Arc<ClientConfig>,
) -> Result<ImapConnection, SourceError> {
    let server = format!("{}:{}", remote.host, remote.port);
    let timeout = remote.timeout;
    let tcp = net::connect_tcp(&remote.host, remote.port, timeout).await?;
    let stream = match remote.security {
        Security::Tls => {
            net::tls_handshake(tcp, &remote.host, remote.port, tls.clone(), timeout).await?
        }
        Security::StartTls | Security::Plain => Stream::Plain(tcp),
    };
    let stream = Watched::new(stream);
    let mut closed = stream.closed.clone();
    let mut client = async_imap::Client::new(stream);
    let greeting = timed(
        (&server, &closed),
        timeout,
        "greeting",
        client.read_response(),
    )
    .await?;
    if greeting.is_none() {
        return Err(imap_err(
            &server,
            "greeting",
            "connection closed before the greeting",
        ));
    }
    if remote.security == Security::StartTls {
        if timed(
            (&server, &closed),
            timeout,
            "STARTTLS",
            client.run_command_and_check_ok("STARTTLS", None),
        )
        .await
        .is_err()
        {
            return Err(SourceError::StartTlsUnavailable {
                server,
                command: "STARTTLS",
            });
        }
        let Stream::Plain(tcp) = client.into_inner().inner else {
            return Err(imap_err(
                &server,
                "STARTTLS",
                "connection already encrypted",
            ));
        };
        let stream = net::tls_handshake(tcp, &remote.host, remote.port, tls, timeout).await?;
        let stream = Watched::new(stream);
        closed = stream.closed.clone();
        client = async_imap::Client::new(stream);
    }
    let user = remote.username.as_str();
    let pass = password.expose();
    let refused = Arc::new(std::sync::Mutex::new(None));
    let login = async {
        match remote.auth {
            AuthMethod::XOAuth2 | AuthMethod::OAuthBearer => {
                let oauthbearer = remote.auth == AuthMethod::OAuthBearer;
                let (mechanism, payload) = if oauthbearer {
                    (
                        "OAUTHBEARER",
                        crate::sasl::oauthbearer_payload(user, &remote.host, remote.port, pass),
                    )
                } else {
                    ("XOAUTH2", crate::sasl::xoauth2_payload(user, pass))
                };
                client
                    .authenticate(
                        mechanism,
                        OAuthAuth {
                            payload,
                            oauthbearer,
                            step: 0,
                            refused: refused.clone(),
                        },
                    )
                    .await
            }
            AuthMethod::Plain => {
                client
                    .authenticate(
                        "PLAIN",
                        PlainAuth {
                            user,
                            password: pass,
                        },
                    )
                    .await
            }
            AuthMethod::SaslLogin => {
                client
                    .authenticate(
                        "LOGIN",
                        LoginAuth {
                            user,
                            password: pass,
                            step: 0,
                        },
                    )
                    .await
            }
            AuthMethod::Auto | AuthMethod::Login | AuthMethod::Apop => {
                client.login(user, pass).await
            }
        }
    };
    let mut session = match tokio::time::timeout(timeout, login).await {
        Ok(Ok(session)) => session,
        Ok(Err((err, _client))) => {
            let mut message = err.to_string();
            if pass.chars().count() >= 3 {
                message = message.replace(pass, "****");
            }
            if let Some(why) = refused.lock().ok().and_then(|mut why| why.take()) {
                message = format!("{message} ({why})");
            }
            return Err(SourceError::Auth {
                server,
                user: user.to_string(),
                message,
            });
        }
        Err(_) => {
            return Err(SourceError::ImapTimeout {
                server,
                context: "login".into(),
                secs: timeout.as_secs(),
            });
        }
    };
    let caps = timed(
        (&server, &closed),
        timeout,
        "CAPABILITY",
        session.capabilities(),
    )
    .await?;
    let uidplus = caps.has_str("UIDPLUS");
    let idle = caps.has_str("IDLE");
    Ok(ImapConnection {
        session,
        closed,
        server,
        account: remote.identity(),
        timeout,
        uidplus,
        idle,
        max_message_bytes: remote.max_message_bytes,
    })
}

impl ImapConnection {
    /// SELECTs `folder` (read-write, so that \Deleted can be set).
    pub async fn open_folder(&mut self, folder: &str) -> Result<ImapFolder<'_>, SourceError> {
        let mailbox = timed(
            (&self.server, &self.closed),
            self.timeout,
            &format!("SELECT {folder}"),
            self.session.select(folder),
        )
        .await?;
        let uidvalidity = mailbox.uid_validity.unwrap_or(0);
        Ok(ImapFolder {
            key: MailboxKey {
                account: self.account.clone(),
                folder: folder.to_string(),
                uidvalidity,
            },
            exists: mailbox.exists,
            flagged: Vec::new(),
            conn: self,
        })
    }

    /// LOGOUT; errors are ignored, the work is done by then.
    pub async fn logout(mut self) {
        let _ = tokio::time::timeout(self.timeout, self.session.logout()).await;
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    /// EXAMINEs `folder` (read-only: the watcher never changes anything) and starts IDLE.
    pub async fn idle(mut self, folder: &str) -> Result<ImapIdle, SourceError> {
        if !self.idle {
            return Err(SourceError::IdleUnsupported {
                server: self.server,
            });
        }
        let (server, timeout, closed) = (self.server.clone(), self.timeout, self.closed.clone());
        timed(
            (&server, &closed),
            timeout,
            &format!("EXAMINE {folder}"),
            self.session.examine(folder),
        )
        .await?;
        while self.session.unsolicited_responses.try_recv().is_ok() {}
        let mut handle = self.session.idle();
        timed((&server, &closed), timeout, "IDLE", handle.init()).await?;
        Ok(ImapIdle {
            handle: Some(handle),
            server,
            timeout,
            closed,
        })
    }
}

/// What an IDLE wait ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleEvent {
    /// The server announced a message count (`* N EXISTS`): new mail, most likely.
    NewMail,
    /// The renewal time passed: end the IDLE and re-issue it ([`ImapIdle::renew`]).
    Renew,
}

/// A connection idling on one folder.
pub struct ImapIdle {
    /// `None` only after a failed renewal, when the connection is unusable.
    handle: Option<IdleHandle<Watched>>,
    server: String,
    timeout: Duration,
    /// Set once the server closed the connection (see [`Watched`]).
    closed: Arc<AtomicBool>,
}

impl ImapIdle {
    fn handle(&mut self) -> Result<&mut IdleHandle<Watched>, SourceError> {
        self.handle
            .as_mut()
            .ok_or_else(|| imap_err(&self.server, "IDLE", "the connection was lost"))
    }

    /// Waits for new mail, at most `renew_in`. Server keep-alives (`* OK Still here`),
    /// EXPUNGE and flag changes are passed over; BYE or a closed connection is an error.
    pub async fn wait(&mut self, renew_in: Duration) -> Result<IdleEvent, SourceError> {
        let deadline = tokio::time::Instant::now() + renew_in;
        let server = self.server.clone();
        loop {
            let handle = self.handle()?;
            // The inner timeout restarts at every response; the outer one bounds the total.
            let (wait, _interrupt) = handle.wait_with_timeout(renew_in);
            let response = match tokio::time::timeout_at(deadline, wait).await {
                Err(_) | Ok(Ok(IdleResponse::Timeout)) => return Ok(IdleEvent::Renew),
                Ok(Err(err)) => return Err(imap_err(&server, "IDLE", err)),
                // `_interrupt` is still held: only the end of the stream gets here.
                Ok(Ok(IdleResponse::ManualInterrupt)) => {
                    return Err(imap_err(
                        &server,
                        "IDLE",
                        "the server closed the connection",
                    ));
                }
                Ok(Ok(IdleResponse::NewData(data))) => data,
            };
            match response.parsed() {
                Response::MailboxData(MailboxDatum::Exists(_)) => return Ok(IdleEvent::NewMail),
                Response::Data {
                    status: Status::Bye,
                    outcome,
                } => {
                    let why = outcome.information.as_deref().unwrap_or("BYE").to_string();
                    return Err(imap_err(&server, "IDLE", format!("server said BYE: {why}")));
                }
                _ => {}
            }
        }
    }

    /// Ends the IDLE (DONE) and starts a new one. True when the server announced new mail
    /// in between.
    pub async fn renew(&mut self) -> Result<bool, SourceError> {
        let (server, timeout) = (self.server.clone(), self.timeout);
        let handle = self
            .handle
            .take()
            .ok_or_else(|| imap_err(&server, "IDLE", "the connection was lost"))?;
        let closed = self.closed.clone();
        let session = timed((&server, &closed), timeout, "DONE", handle.done()).await?;
        let mut new_mail = false;
        while let Ok(response) = session.unsolicited_responses.try_recv() {
            new_mail |= matches!(response, UnsolicitedResponse::Exists(_));
        }
        let mut handle = session.idle();
        timed((&server, &closed), timeout, "IDLE", handle.init()).await?;
        self.handle = Some(handle);
        Ok(new_mail)
    }

    /// DONE and LOGOUT; errors are ignored, nothing is left to do on this connection.
    pub async fn logout(mut self) {
        if let Some(handle) = self.handle.take()
            && let Ok(Ok(mut session)) = tokio::time::timeout(self.timeout, handle.done()).await
        {
            let _ = tokio::time::timeout(self.timeout, session.logout()).await;
        }
    }
}

/// One selected folder.
pub struct ImapFolder<'a> {
    conn: &'a mut ImapConnection,
    key: MailboxKey,
    exists: u32,
    /// UIDs flagged \Deleted in this session, expunged by [`ImapFolder::expunge`].
    flagged: Vec<u32>,
}

/// `1:3,7,9:10` for a sorted list of UIDs.
pub fn uid_set(uids: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end + 1 {
            i += 1;
            end = uids[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            let _ = write!(out, "{start}");
        } else {
            let _ = write!(out, "{start}:{end}");
        }
        i += 1;
    }
    out
}

impl ImapFolder<'_> {
    /// Removes the messages flagged in this session and returns their UIDs.
    pub async fn expunge(self) -> Result<Vec<String>, SourceError> {
        if self.flagged.is_empty() {
            return Ok(Vec::new());
        }
        let mut uids = self.flagged.clone();
        uids.sort_unstable();
        let conn = self.conn;
        let (server, timeout, closed) = (conn.server.clone(), conn.timeout, conn.closed.clone());
        if conn.uidplus {
            let set = uid_set(&uids);
            let stream = timed(
                (&server, &closed),
                timeout,
                "UID EXPUNGE",
                conn.session.uid_expunge(set),
            )
            .await?;
            timed(
                (&server, &closed),
                timeout,
                "UID EXPUNGE",
                stream.try_collect::<Vec<_>>(),
            )
            .await?;
        } else {
            let stream = timed(
                (&server, &closed),
                timeout,
                "EXPUNGE",
                conn.session.expunge(),
            )
            .await?;
            timed(
                (&server, &closed),
                timeout,
                "EXPUNGE",
                stream.try_collect::<Vec<_>>(),
            )
            .await?;
        }
        while conn.session.unsolicited_responses.try_recv().is_ok() {}
        Ok(uids.iter().map(u32::to_string).collect())
    }
}

impl Mailbox for ImapFolder<'_> {
    fn key(&self) -> &MailboxKey {
        &self.key
    }

    async fn list(&mut self) -> Result<Vec<Listed>, SourceError> {
        if self.exists == 0 {
            return Ok(Vec::new());
        }
        let conn = &mut *self.conn;
        let (server, timeout, closed) = (conn.server.clone(), conn.timeout, conn.closed.clone());
        let mut uids: Vec<u32> = timed(
            (&server, &closed),
            timeout,
            "UID SEARCH ALL",
            conn.session.uid_search("ALL"),
        )
        .await?
        .into_iter()
        .collect();
        uids.sort_unstable();
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        let stream = timed(
            (&server, &closed),
            timeout,
            "UID FETCH RFC822.SIZE",
            conn.session.uid_fetch(uid_set(&uids), "RFC822.SIZE"),
        )
        .await?;
        let fetches: Vec<_> = timed(
            (&server, &closed),
            timeout,
            "UID FETCH RFC822.SIZE",
            stream.try_collect::<Vec<_>>(),
        )
        .await?;
        let sizes: HashMap<u32, u64> = fetches
            .iter()
            .filter_map(|fetch| Some((fetch.uid?, u64::from(fetch.size?))))
            .collect();
        while conn.session.unsolicited_responses.try_recv().is_ok() {}
        Ok(uids
            .into_iter()
            .map(|uid| Listed {
                number: uid,
                uid: Some(uid.to_string()),
                size: sizes.get(&uid).copied(),
            })
            .collect())
    }

    async fn fetch(&mut self, message: &Listed) -> Result<Vec<u8>, SourceError> {
        let conn = &mut *self.conn;
        let (server, timeout, closed) = (conn.server.clone(), conn.timeout, conn.closed.clone());
        let context = format!("UID FETCH {} BODY.PEEK[]", message.number);
        let stream = timed(
            (&server, &closed),
            timeout,
            &context,
            conn.session
                .uid_fetch(message.number.to_string(), "BODY.PEEK[]"),
        )
        .await?;
        let fetches: Vec<_> = timed(
            (&server, &closed),
            timeout,
            &context,
            stream.try_collect::<Vec<_>>(),
        )
        .await?;
        let body = fetches
            .iter()
            .find(|fetch| fetch.uid == Some(message.number))
            .and_then(|fetch| fetch.body())
            .ok_or_else(|| {
                imap_err(
                    &server,
                    &context,
                    "the server returned no message body (message gone?)",
                )
            })?;
        if body.len() as u64 > conn.max_message_bytes {
            return Err(imap_err(
                &server,
                &context,
                format!("message of {} bytes exceeds max_message_mb", body.len()),
            ));
        }
        // Room for the trace header, which is prepended in place.
        let mut message = Vec::with_capacity(body.len() + 1024);
        message.extend_from_slice(body);
        Ok(message)
    }

    async fn delete(&mut self, message: &Listed) -> Result<(), SourceError> {
        let conn = &mut *self.conn;
        let (server, timeout, closed) = (conn.server.clone(), conn.timeout, conn.closed.clone());
        let context = format!("UID STORE {} +FLAGS (\\Deleted)", message.number);
        let stream = timed(
            (&server, &closed),
            timeout,
            &context,
            conn.session
                .uid_store(message.number.to_string(), "+FLAGS.SILENT (\\Deleted)"),
        )
        .await?;
        timed(
            (&server, &closed),
            timeout,
            &context,
            stream.try_collect::<Vec<_>>(),
        )
        .await?;
        self.flagged.push(message.number);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{OAuthAuth, uid_set};
    use async_imap::Authenticator;
    use std::sync::{Arc, Mutex};

    #[test]
    fn oauth_authenticator_sends_the_payload_then_answers_the_error_challenge() {
        for (oauthbearer, answer) in [(false, &b""[..]), (true, &b"\x01"[..])] {
            let refused = Arc::new(Mutex::new(None));
            let mut auth = OAuthAuth {
                payload: b"user=u\x01auth=Bearer t\x01\x01".to_vec(),
                oauthbearer,
                step: 0,
                refused: refused.clone(),
            };
            assert_eq!(auth.process(b""), b"user=u\x01auth=Bearer t\x01\x01");
            assert_eq!(auth.process(br#"{"status":"invalid_token"}"#), answer);
            assert_eq!(
                refused.lock().expect("lock").as_deref(),
                Some("status=invalid_token")
            );
        }
    }

    #[test]
    fn uid_sets_compress_runs() {
        assert_eq!(uid_set(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(uid_set(&[5]), "5");
        assert_eq!(uid_set(&[]), "");
    }
}
