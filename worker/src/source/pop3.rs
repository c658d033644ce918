//! A POP3 mailbox for one poll: connect (implicit TLS, or STLS failing closed when the server
//! does not offer it), log in, list by UIDL (LIST when the server has no UIDL), RETR, DELE;
//! [`Pop3Mailbox::quit`] ([`Mailbox::commit`]) commits the deletions — a session that ends any other way rolls them
//! back on the server, which the state database makes harmless.

use std::collections::HashMap;
use std::sync::Arc;

use mailpull_shared::config::{AuthMethod, Remote, Security};
use mailpull_shared::secrets::Secret;
use rustls::ClientConfig;

use super::{Committed, Listed, Mailbox, SourceError};
use crate::net::{self, Stream};
use crate::pop3::{self, Pop3Client, Pop3Error};
use crate::state::MailboxKey;

pub struct Pop3Mailbox {
    client: Pop3Client<Stream>,
    key: MailboxKey,
    server: String,
    tls: bool,
}

fn auth_method(method: AuthMethod) -> pop3::AuthMethod {
    match method {
        // OAuth logins go through `login_oauth`; never reached.
        AuthMethod::Auto | AuthMethod::XOAuth2 | AuthMethod::OAuthBearer => pop3::AuthMethod::Auto,
        AuthMethod::Login => pop3::AuthMethod::User,
        AuthMethod::Plain => pop3::AuthMethod::SaslPlain,
        AuthMethod::Apop => pop3::AuthMethod::Apop,
        AuthMethod::SaslLogin => pop3::AuthMethod::SaslLogin,
    }
}

impl Pop3Mailbox {
    /// Connects and logs in; `password` is the access token for an OAuth profile.
    pub async fn connect(
        remote: &Remote,
        password: &Secret,
        tls: Arc<ClientConfig>,
    ) -> Result<Self, SourceError> {
        let server = format!("{}:{}", remote.host, remote.port);
        let wrap = |source: Pop3Error| SourceError::Pop3 {
            server: server.clone(),
            source,
        };
        let limits = pop3::Limits {
            read_timeout: remote.timeout,
            max_message_bytes: remote.max_message_bytes,
            ..pop3::Limits::default()
        };
        let tcp = net::connect_tcp(&remote.host, remote.port, remote.timeout).await?;
        let stream = match remote.security {
            Security::Tls => {
                net::tls_handshake(tcp, &remote.host, remote.port, tls.clone(), remote.timeout)
                    .await?
            }
            Security::StartTls | Security::Plain => Stream::Plain(tcp),
        };
        let mut client = Pop3Client::connect(stream, limits).await.map_err(wrap)?;
        let mut caps = client.capa().await.map_err(wrap)?;
        if remote.security == Security::StartTls {
            if !caps.stls() {
                return Err(SourceError::StartTlsUnavailable {
                    server,
                    command: "STLS",
                });
            }
            let greeting = client.greeting().cloned();
            let Stream::Plain(tcp) = client.stls().await.map_err(wrap)? else {
                return Err(wrap(Pop3Error::Unsupported(
                    "STLS on an encrypted connection".into(),
                )));
            };
            let stream =
                net::tls_handshake(tcp, &remote.host, remote.port, tls, remote.timeout).await?;
            client = Pop3Client::resume(stream, limits).with_greeting(greeting);
            caps = client.capa().await.map_err(wrap)?;
        }
        let tls_on = remote.security != Security::Plain;
        let login = match remote.auth {
            AuthMethod::XOAuth2 => {
                client
                    .login_oauth(
                        &remote.username,
                        password.expose(),
                        pop3::OAuthMechanism::XOAuth2,
                    )
                    .await
            }
            AuthMethod::OAuthBearer => {
                client
                    .login_oauth(
                        &remote.username,
                        password.expose(),
                        pop3::OAuthMechanism::OAuthBearer {
                            host: &remote.host,
                            port: remote.port,
                        },
                    )
                    .await
            }
            other => {
                client
                    .login(
                        &remote.username,
                        password.expose(),
                        auth_method(other),
                        &caps,
                    )
                    .await
            }
        };
        match login {
            Ok(()) => {}
            Err(err) if err.is_auth_failure() => {
                return Err(SourceError::Auth {
                    server,
                    user: remote.username.clone(),
                    message: err.to_string(),
                });
            }
            Err(err) => return Err(wrap(err)),
        }
        Ok(Pop3Mailbox {
            client,
            key: MailboxKey {
                account: remote.mailbox_identity(),
                folder: String::new(),
                uidvalidity: 0,
            },
            server,
            tls: tls_on,
        })
    }

    /// "POP3S" when TLS protects the session, for the trace header.
    pub fn with_label(&self) -> &'static str {
        if self.tls { "POP3S" } else { "POP3" }
    }

    /// QUIT: on `Ok` the server has committed every DELE of this session.
    pub async fn quit(self) -> Result<(), SourceError> {
        let server = self.server;
        self.client
            .quit()
            .await
            .map_err(|source| SourceError::Pop3 { server, source })
    }

    fn wrap(&self, source: Pop3Error) -> SourceError {
        SourceError::Pop3 {
            server: self.server.clone(),
            source,
        }
    }
}

impl Mailbox for Pop3Mailbox {
    /// The body, read into a buffer sized from the announced size, and lettre's dot-stuffed
    /// copy while it is sent.
    const COPIES: u64 = 2;

    fn key(&self) -> &MailboxKey {
        &self.key
    }

    async fn list(&mut self) -> Result<Vec<Listed>, SourceError> {
        let uids = self.client.uidl_all().await.map_err(|e| self.wrap(e))?;
        let sizes: HashMap<u32, u64> = self
            .client
            .list_all()
            .await
            .map_err(|e| self.wrap(e))?
            .into_iter()
            .collect();
        let listed = match uids {
            Some(uids) => uids
                .into_iter()
                .map(|(number, uid)| Listed {
                    number,
                    uid: Some(uid),
                    size: sizes.get(&number).copied(),
                })
                .collect(),
            None => {
                let mut numbers: Vec<_> = sizes.into_iter().collect();
                numbers.sort_unstable();
                numbers
                    .into_iter()
                    .map(|(number, size)| Listed {
                        number,
                        uid: None,
                        size: Some(size),
                    })
                    .collect()
            }
        };
        Ok(listed)
    }

    /// RETR; a `-ERR` for this message leaves the session in step: [`SourceError::Message`].
    async fn fetch(&mut self, message: &Listed) -> Result<Vec<u8>, SourceError> {
        self.client
            .retr_sized(message.number, message.size, super::FETCH_SPARE)
            .await
            .map_err(|err| match err {
                Pop3Error::ServerErr { command, text } => SourceError::Message {
                    server: self.server.clone(),
                    number: message.number,
                    reason: format!("the server answered -ERR to {command}: {text}"),
                },
                other => self.wrap(other),
            })
    }

    async fn delete(&mut self, message: &Listed) -> Result<(), SourceError> {
        self.client
            .dele(message.number)
            .await
            .map_err(|e| self.wrap(e))
    }

    /// QUIT: POP3 commits exactly this session's DELEs, clean poll or not.
    async fn commit(self, _clean: bool) -> Result<Committed, SourceError> {
        self.quit().await.map(|()| Committed::All)
    }
}
