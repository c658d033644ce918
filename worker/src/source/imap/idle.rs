//! IMAP IDLE (RFC 2177) for push: a connection turned into an [`ImapIdle`] on one folder,
//! EXAMINEd (read-only: the watcher never changes anything), which reports new mail and is
//! ended and re-issued ([`ImapIdle::renew`]) before the server's inactivity timeout.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use async_imap::extensions::idle::{Handle as IdleHandle, IdleResponse};
use async_imap::imap_proto::{MailboxDatum, Response, Status};
use async_imap::types::UnsolicitedResponse;

use super::connect::{ImapConnection, Watched, imap_err, timed};
use crate::source::SourceError;

impl ImapConnection {
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
