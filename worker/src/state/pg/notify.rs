//! `poll-now` across workers: PostgreSQL LISTEN/NOTIFY on [`POLL_NOW_CHANNEL`], no table (the
//! shared schema is unchanged). Every worker on the shared state listens on a connection of
//! its own (outside the pool: a pooled connection is shared and recycled, a LISTEN belongs to
//! one session); a worker asked for a poll of a profile it does not hold sends
//! `NOTIFY mailpull_poll_now, 'profile'` and the holder polls it. A notification is a wake-up
//! only: one sent while no worker listened (a reconnection) is lost, and the timed poll stays
//! the safety net.

use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, NoTls};

use super::{PgStore, pg_err};
use crate::state::error::StateError;

/// The channel of poll requests; the payload is the profile name.
pub const POLL_NOW_CHANNEL: &str = "mailpull_poll_now";

/// A LISTEN on [`POLL_NOW_CHANNEL`]: the profiles other workers asked a poll of.
pub struct PollNowListener {
    /// Kept so the session stays open (the connection closes when the client is dropped).
    _client: tokio_postgres::Client,
    profiles: mpsc::UnboundedReceiver<String>,
}

impl PollNowListener {
    /// The next profile asked for; `None` once the connection is gone (listen again).
    pub async fn next(&mut self) -> Option<String> {
        self.profiles.recv().await
    }
}

impl PgStore {
    /// Asks every worker listening for a poll of `profile` now (the holder polls it).
    pub(crate) async fn ask_poll_now(&self, profile: &str) -> Result<(), StateError> {
        let client = self.client().await?;
        client
            .execute("SELECT pg_notify($1, $2)", &[&POLL_NOW_CHANNEL, &profile])
            .await
            .map_err(pg_err)?;
        Ok(())
    }

    /// Opens a connection of its own and listens on [`POLL_NOW_CHANNEL`].
    pub(crate) async fn listen_poll_now(&self) -> Result<PollNowListener, StateError> {
        let (tx, profiles) = mpsc::unbounded_channel();
        let client = match &self.tls {
            Some(tls) => {
                let (client, connection) =
                    self.config.connect(tls.clone()).await.map_err(pg_err)?;
                tokio::spawn(forward(connection, tx));
                client
            }
            None => {
                let (client, connection) = self.config.connect(NoTls).await.map_err(pg_err)?;
                tokio::spawn(forward(connection, tx));
                client
            }
        };
        client
            .batch_execute(&format!("LISTEN {POLL_NOW_CHANNEL}"))
            .await
            .map_err(pg_err)?;
        Ok(PollNowListener {
            _client: client,
            profiles,
        })
    }
}

/// Hands the notifications of `connection` on [`POLL_NOW_CHANNEL`] to `tx` until the
/// connection ends (or nobody listens any more).
async fn forward<S, T>(
    mut connection: tokio_postgres::Connection<S, T>,
    tx: mpsc::UnboundedSender<String>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            Some(Ok(AsyncMessage::Notification(note))) => {
                if note.channel() == POLL_NOW_CHANNEL
                    && tx.send(note.payload().to_string()).is_err()
                {
                    return;
                }
            }
            Some(Ok(_)) => {}
            Some(Err(err)) => {
                tracing::warn!(error = %pg_err(err), "shared state: the poll-now listener's connection failed");
                return;
            }
            None => return,
        }
    }
}
