//! The scaffold the scripted test servers share ([`crate::fake_pop3::FakePop3`],
//! [`crate::fake_smtp::FakeSmtp`], [`crate::proxy::FaultProxy`]): a listener on 127.0.0.1 (a
//! free port), a thread of its own with a current-thread tokio runtime, so the server works
//! whether its client runs in-process (on any runtime) or as a subprocess, an accept loop that
//! hands every connection to the server's handler as a task of its own, and a stop on drop
//! that closes every connection. Plus the small helpers they all use. Each server keeps only
//! its protocol.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncBufRead, AsyncBufReadExt as _, AsyncReadExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// A running scripted server; dropping it stops the accept loop, cancels every connection's
/// task (closing its sockets) and joins the thread.
pub(crate) struct ScriptedServer {
    port: u16,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ScriptedServer {
    /// Binds 127.0.0.1 on a free port and starts serving on a thread of its own. For every
    /// accepted connection `handler` is called at once (on the server's thread, in accept
    /// order: count the connection there) and the future it returns runs as a task of its own;
    /// its error ends only that connection and is logged. `name` ("fake POP3") names the
    /// server in errors and logs; its thread is `name` in kebab case plus the port.
    pub(crate) fn start<H, F>(name: &'static str, mut handler: H) -> anyhow::Result<Self>
    where
        H: FnMut(TcpStream, SocketAddr) -> F + Send + 'static,
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .with_context(|| format!("{name}: cannot bind a listening port on 127.0.0.1"))?;
        listener
            .set_nonblocking(true)
            .with_context(|| format!("{name}: cannot make the listener non-blocking"))?;
        let port = listener
            .local_addr()
            .with_context(|| format!("{name}: listener has no local address"))?
            .port();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .with_context(|| format!("{name}: cannot build its tokio runtime"))?;
        let listener = {
            let _guard = runtime.enter();
            TcpListener::from_std(listener)
                .with_context(|| format!("{name}: cannot register the listener"))?
        };
        let (shutdown, mut shutdown_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("{}-{port}", name.to_ascii_lowercase().replace(' ', "-")))
            .spawn(move || {
                runtime.block_on(async move {
                    loop {
                        tokio::select! {
                            _ = &mut shutdown_rx => break,
                            accepted = listener.accept() => match accepted {
                                Ok((stream, peer)) => {
                                    let connection = handler(stream, peer);
                                    tokio::spawn(async move {
                                        if let Err(error) = connection.await {
                                            tracing::debug!(%peer, "{name}: connection ended: {error:#}");
                                        }
                                    });
                                }
                                Err(error) => {
                                    tracing::warn!("{name}: accept failed: {error}");
                                    tokio::time::sleep(Duration::from_millis(10)).await;
                                }
                            },
                        }
                    }
                });
                // Dropping the runtime here cancels every connection task and closes its sockets.
            })
            .with_context(|| format!("{name}: cannot spawn its thread"))?;
        Ok(Self {
            port,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// The server's port on 127.0.0.1.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Locks a server's state; a task that panicked while holding it cannot leave it
/// inconsistent, so a poisoned lock is recovered.
pub(crate) fn lock<T>(state: &Mutex<T>) -> MutexGuard<'_, T> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Reads one line (up to and including `\n`) into `line` (cleared first), but no more than
/// `max` bytes: a line that does not end in `\n` was cut at `max` or by the end of the stream.
/// Returns the number of bytes read (0 at the end of the stream).
pub(crate) async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    max: u64,
    line: &mut Vec<u8>,
) -> std::io::Result<usize> {
    line.clear();
    (&mut *reader).take(max).read_until(b'\n', line).await
}

/// `line` without its line ending (`\r\n` or `\n`).
pub(crate) fn trim_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}
