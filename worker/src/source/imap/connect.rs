//! Connecting to an IMAP server and logging in: the stream wrapper that notices a connection
//! the server closed ([`Watched`]), the SASL authenticators, implicit TLS or STARTTLS (failing
//! closed), and `timed`, the timeout and closed-connection check of every exchange.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use mailpull_shared::config::{AuthMethod, Remote, Security};
use mailpull_shared::secrets::Secret;
use rustls::ClientConfig;

use crate::net::{self, Stream};
use crate::source::SourceError;

pub use super::cap::ReadCap;

pub(super) type Session = async_imap::Session<Watched>;

/// The connection under async-imap, noting when the server closed it (or it failed).
/// async-imap 0.12 takes the end of the stream for the end of a command's responses: a
/// connection cut before the tagged reply makes `SELECT` look like an empty mailbox and
/// `UID SEARCH`, `UID STORE` or `EXPUNGE` look successful. Every command checks this flag
/// after its reply (`timed`), so a cut is an error.
#[derive(Debug)]
pub struct Watched {
    inner: Stream,
    closed: Arc<AtomicBool>,
    cap: Arc<ReadCap>,
}

impl Watched {
    fn new(inner: Stream) -> Self {
        Watched {
            inner,
            closed: Arc::new(AtomicBool::new(false)),
            cap: Arc::new(ReadCap::default()),
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
            Poll::Ready(Ok(())) if !this.cap.take(&buf.filled()[before..]) => {
                this.closed.store(true, Ordering::SeqCst);
                return Poll::Ready(Err(std::io::Error::other(
                    "the message body is larger than max_message_mb",
                )));
            }
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
    pub(super) session: Session,
    /// Set once the server closed the connection (see [`Watched`]).
    pub(super) closed: Arc<AtomicBool>,
    /// The limit on bytes read while a body is fetched (see [`ReadCap`]).
    pub(super) cap: Arc<ReadCap>,
    pub(super) server: String,
    pub(super) account: String,
    pub(super) timeout: Duration,
    /// TLS protects the session (implicit or STARTTLS).
    tls: bool,
    pub(super) uidplus: bool,
    pub(super) idle: bool,
    pub(super) max_message_bytes: u64,
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

pub(super) fn imap_err(server: &str, context: &str, err: impl std::fmt::Display) -> SourceError {
    SourceError::Imap {
        server: server.to_string(),
        context: context.to_string(),
        message: err.to_string(),
    }
}

/// Runs one IMAP exchange with a timeout; a connection that closed before the exchange
/// completed is an error even when async-imap reported success (see [`Watched`]).
pub(super) async fn timed<T, E: std::fmt::Display>(
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
    let mut cap = stream.cap.clone();
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
        cap = stream.cap.clone();
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
        cap,
        server,
        account: remote.mailbox_identity(),
        timeout,
        tls: remote.security != Security::Plain,
        uidplus,
        idle,
        max_message_bytes: remote.max_message_bytes,
    })
}

impl ImapConnection {
    /// LOGOUT; errors are ignored, the work is done by then.
    pub async fn logout(mut self) {
        let _ = tokio::time::timeout(self.timeout, self.session.logout()).await;
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    /// "IMAPS" when TLS protects the session, for the trace header.
    pub fn with_label(&self) -> &'static str {
        if self.tls { "IMAPS" } else { "IMAP" }
    }
}

#[cfg(test)]
mod tests {
    use super::OAuthAuth;
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

    /// A peer that sends 5000 bytes at once and a connection that may read 1000: the read
    /// fails once past the limit (well before the 5000), the cap says so and the connection is
    /// closed; with the cap lifted everything is read.
    #[tokio::test]
    async fn the_read_cap_stops_reading_at_the_limit() {
        use super::{Stream, Watched};
        use std::sync::atomic::Ordering;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        async fn pair() -> (Watched, tokio::net::TcpStream) {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let addr = listener.local_addr().expect("addr");
            let client = tokio::net::TcpStream::connect(addr).await.expect("connect");
            let (server, _) = listener.accept().await.expect("accept");
            (Watched::new(Stream::Plain(client)), server)
        }

        let (mut capped, mut server) = pair().await;
        capped.cap.set(1000);
        server.write_all(&[b'x'; 5000]).await.expect("write");
        drop(server);
        let mut read = 0;
        let mut buf = [0u8; 300];
        let err = loop {
            match capped.read(&mut buf).await {
                Ok(0) => panic!("read to the end: {read} bytes"),
                Ok(n) => read += n,
                Err(err) => break err,
            }
        };
        assert!(read <= 1000, "{read} bytes passed the limit");
        assert!(err.to_string().contains("max_message_mb"), "{err}");
        assert!(capped.cap.went_over());
        assert!(capped.closed.load(Ordering::SeqCst));

        let (mut lifted, mut server) = pair().await;
        lifted.cap.set(1000);
        lifted.cap.lift();
        server.write_all(&[b'x'; 5000]).await.expect("write");
        drop(server);
        let mut all = Vec::new();
        lifted.read_to_end(&mut all).await.expect("read");
        assert_eq!(all.len(), 5000);
        assert!(!lifted.cap.went_over());
    }
}
