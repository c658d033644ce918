//! The metrics endpoint: a TCP listener on `[worker] metrics` serving `/metrics` (the
//! Prometheus text format) and `/healthz` (200 while the worker runs and its state database
//! answers, 503 otherwise). One request per connection, answered with `Connection: close`;
//! only the request line is read ([`super::http`]), the head is bounded, every read and write
//! has a timeout, and at most [`MAX_CONNECTIONS`] connections are served at once.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::http::{Head, parse_head};
use super::{CONTENT_TYPE, Metrics};
use crate::state::Store;

/// Connections served at once; more wait in the listen queue.
pub const MAX_CONNECTIONS: usize = 16;
/// The whole request head must arrive within this.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// The response must be taken within this.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// The state database must answer a scrape's or a health check's query within this.
pub const DATABASE_TIMEOUT: Duration = Duration::from_secs(5);

/// The names of the configured profiles, asked at every scrape (they change on a reload).
pub type ProfileNames = Arc<dyn Fn() -> Vec<String> + Send + Sync>;

/// The endpoint could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen for metrics on {addr} (worker.metrics): {source}")]
pub struct MetricsSetupError {
    pub addr: SocketAddr,
    #[source]
    pub source: std::io::Error,
}

/// What every connection shares.
struct Shared {
    metrics: Arc<Metrics>,
    store: Store,
    profiles: ProfileNames,
    cancel: CancellationToken,
    /// One scrape at a time: the scrape-time values are set, then encoded.
    scrape: tokio::sync::Mutex<()>,
}

/// A bound endpoint, ready to [`serve`](MetricsServer::serve).
pub struct MetricsServer {
    listener: TcpListener,
    shared: Arc<Shared>,
}

impl MetricsServer {
    /// Listens on `addr`. `cancel` is the worker's shutdown: `/healthz` says 503 from then
    /// on, and [`serve`](Self::serve) returns.
    pub async fn bind(
        addr: SocketAddr,
        metrics: Arc<Metrics>,
        store: Store,
        profiles: ProfileNames,
        cancel: CancellationToken,
    ) -> Result<Self, MetricsSetupError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| MetricsSetupError { addr, source })?;
        Ok(MetricsServer {
            listener,
            shared: Arc::new(Shared {
                metrics,
                store,
                profiles,
                cancel,
                scrape: tokio::sync::Mutex::new(()),
            }),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until the shutdown.
    pub async fn serve(self) {
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let cancel = self.shared.cancel.clone();
        if let Ok(addr) = self.listener.local_addr() {
            info!(%addr, "metrics endpoint listening (/metrics, /healthz)");
        }
        loop {
            let permit = tokio::select! {
                _ = cancel.cancelled() => return,
                permit = slots.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => return,
                },
            };
            let stream = tokio::select! {
                _ = cancel.cancelled() => return,
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(err) => {
                        // Out of file descriptors and the like: try again shortly.
                        warn!(error = %err, "metrics endpoint: accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let shared = self.shared.clone();
            tokio::spawn(async move {
                answer(stream, &shared).await;
                drop(permit);
            });
        }
    }
}

/// Reads one request from `stream` and answers it.
async fn answer(mut stream: TcpStream, shared: &Shared) {
    let response = match tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream)).await {
        Err(_) => Response::text(408, "Request Timeout", "request timeout\n"),
        Ok(Err(_)) => return,
        Ok(Ok(head)) => respond(head, shared).await,
    };
    let _ = tokio::time::timeout(WRITE_TIMEOUT, async {
        stream.write_all(&response.bytes).await?;
        stream.shutdown().await
    })
    .await;
}

/// Reads until the request's head is complete, refused, or the peer stops sending.
async fn read_head(stream: &mut TcpStream) -> std::io::Result<Head> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(match parse_head(&buf) {
                Head::Incomplete => Head::Bad("the connection ended inside the request"),
                decided => decided,
            });
        }
        buf.extend_from_slice(&chunk[..n]);
        match parse_head(&buf) {
            Head::Incomplete => continue,
            decided => return Ok(decided),
        }
    }
}

async fn respond(head: Head, shared: &Shared) -> Response {
    let request = match head {
        Head::Request(request) => request,
        Head::Bad(reason) => return Response::text(400, "Bad Request", &format!("{reason}\n")),
        Head::TooLarge => {
            return Response::text(
                431,
                "Request Header Fields Too Large",
                "request head too large\n",
            );
        }
        Head::Incomplete => return Response::text(400, "Bad Request", "incomplete request\n"),
    };
    let head_only = request.method == "HEAD";
    if !head_only && request.method != "GET" {
        return Response::text(405, "Method Not Allowed", "only GET and HEAD\n")
            .with_header("Allow: GET, HEAD");
    }
    let response = match request.path.as_str() {
        "/metrics" => scrape(shared).await,
        "/healthz" => health(shared).await,
        _ => Response::text(404, "Not Found", "not found; try /metrics or /healthz\n"),
    };
    if head_only {
        response.without_body()
    } else {
        response
    }
}

/// The held messages per profile, or `None` when the database does not answer in time.
async fn held_counts(store: &Store) -> Option<Vec<(String, u64)>> {
    match tokio::time::timeout(DATABASE_TIMEOUT, store.held_counts()).await {
        Ok(Ok(counts)) => Some(counts),
        Ok(Err(err)) => {
            warn!(error = %err, "metrics endpoint: the state database did not answer");
            None
        }
        Err(_) => {
            warn!(
                timeout_secs = DATABASE_TIMEOUT.as_secs(),
                "metrics endpoint: the state database did not answer in time"
            );
            None
        }
    }
}

async fn scrape(shared: &Shared) -> Response {
    let _one_at_a_time = shared.scrape.lock().await;
    let held = held_counts(&shared.store).await;
    let profiles = (shared.profiles)();
    shared
        .metrics
        .refresh(&profiles, held.as_deref(), database_bytes(&shared.store));
    Response::new(
        200,
        "OK",
        CONTENT_TYPE,
        shared.metrics.encode().into_bytes(),
    )
}

async fn health(shared: &Shared) -> Response {
    if shared.cancel.is_cancelled() {
        return Response::text(503, "Service Unavailable", "stopping\n");
    }
    match held_counts(&shared.store).await {
        Some(_) => Response::text(200, "OK", "ok\n"),
        None => Response::text(503, "Service Unavailable", "state database not answering\n"),
    }
}

/// The state database's file and its write-ahead log, in bytes on disk.
fn database_bytes(store: &Store) -> u64 {
    let db = store.path();
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    [db.to_path_buf(), wal.into()]
        .iter()
        .filter_map(|path| std::fs::metadata(path).ok())
        .map(|meta| meta.len())
        .sum()
}

/// A whole HTTP/1.1 response, head and body.
struct Response {
    bytes: Vec<u8>,
    body_at: usize,
}

impl Response {
    fn new(status: u16, reason: &str, content_type: &str, body: Vec<u8>) -> Self {
        let head = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let body_at = head.len();
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&body);
        Response { bytes, body_at }
    }

    fn text(status: u16, reason: &str, body: &str) -> Self {
        Self::new(
            status,
            reason,
            "text/plain; charset=utf-8",
            body.as_bytes().to_vec(),
        )
    }

    /// Adds a header line (without its CRLF) to the head.
    fn with_header(mut self, line: &str) -> Self {
        let at = self.body_at - 2;
        let insert = format!("{line}\r\n");
        self.bytes.splice(at..at, insert.bytes());
        self.body_at += insert.len();
        self
    }

    /// The head alone (the answer to HEAD).
    fn without_body(mut self) -> Self {
        self.bytes.truncate(self.body_at);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(dir: &std::path::Path, cancel: CancellationToken) -> Shared {
        Shared {
            metrics: Arc::new(Metrics::new()),
            store: Store::open(dir).expect("store"),
            profiles: Arc::new(Vec::new),
            cancel,
            scrape: tokio::sync::Mutex::new(()),
        }
    }

    fn status_line(response: &Response) -> String {
        let text = String::from_utf8_lossy(&response.bytes);
        text.lines().next().unwrap_or_default().to_string()
    }

    #[tokio::test]
    async fn health_is_200_while_running_and_503_once_stopping() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cancel = CancellationToken::new();
        let shared = shared(dir.path(), cancel.clone());
        assert_eq!(status_line(&health(&shared).await), "HTTP/1.1 200 OK");
        cancel.cancel();
        let response = health(&shared).await;
        assert_eq!(status_line(&response), "HTTP/1.1 503 Service Unavailable");
        assert!(response.bytes.ends_with(b"\r\n\r\nstopping\n"));
    }

    #[tokio::test]
    async fn health_is_503_when_the_state_database_does_not_answer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let shared = shared(dir.path(), CancellationToken::new());
        // The query fails (as on a broken database): taken from under the worker.
        let db = rusqlite::Connection::open(shared.store.path()).expect("db");
        db.execute_batch("DROP TABLE attempts").expect("drop");
        let response = health(&shared).await;
        assert_eq!(status_line(&response), "HTTP/1.1 503 Service Unavailable");
        assert!(
            response
                .bytes
                .ends_with(b"\r\n\r\nstate database not answering\n")
        );
        // A scrape still answers, without the held gauge.
        let text = String::from_utf8_lossy(&scrape(&shared).await.bytes).into_owned();
        assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
        assert!(!text.contains("mailpull_held_messages{"), "{text}");
        assert!(text.contains("mailpull_state_database_bytes "), "{text}");
    }
}
