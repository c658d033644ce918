//! The SMTP lane: every SMTP conversation with the local server runs on a small tokio runtime
//! of its own (two threads, `mailpull-smtp`), not on the threads that run the polls.
//!
//! Why: the crash window between the local server's 250 and the record's write. On the poll
//! threads a 250 that has reached the worker's socket waits until those threads are done with
//! whatever other polls gave them (TLS, digests, parsing), milliseconds on a loaded machine with
//! many profiles; a SIGKILL then finds the message accepted and not recorded, and it is
//! delivered twice. On the lane the threads have little else to do, so the reply is read when it
//! arrives, and the caller's `on_accepted` (which queues the delivery record for the writer)
//! runs on the lane at once, without waiting for the poll task to be scheduled again.
//!
//! **Invariant:** a transaction handed to the lane runs to its end (or its timeout) even when
//! the poll that asked for it is cancelled: its `on_accepted` still runs after a 250, so an
//! accepted message is always recorded.

use std::future::Future;

use tokio::runtime::{Builder, Runtime};

/// Threads of the lane: SMTP on a local server is light; two keep one slow TLS handshake
/// from holding back another transaction's reply.
const THREADS: usize = 2;

/// The runtime of the SMTP lane, shut down (in the background) when dropped.
pub struct Lane {
    /// `None` when its threads could not be started: the work runs in the caller's task.
    runtime: Option<Runtime>,
}

/// The lane's task ended without an answer (it panicked, or the lane was shut down).
#[derive(Debug)]
pub struct LaneGone;

impl Lane {
    /// Starts the lane's threads; when that fails (no thread can be made), the transactions run
    /// on the caller's runtime instead, as they used to.
    pub fn start() -> Self {
        match Builder::new_multi_thread()
            .worker_threads(THREADS)
            .thread_name("mailpull-smtp")
            .enable_all()
            .build()
        {
            Ok(runtime) => Lane {
                runtime: Some(runtime),
            },
            Err(err) => {
                tracing::warn!(error = %err, "cannot start the SMTP threads; SMTP runs beside the polls");
                Lane { runtime: None }
            }
        }
    }

    /// Runs `work` on the lane and waits for its result.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, LaneGone> {
        let Some(runtime) = &self.runtime else {
            return Ok(work.await);
        };
        runtime.spawn(work).await.map_err(|err| {
            tracing::error!(error = %err, "an SMTP transaction ended without an answer");
            LaneGone
        })
    }
}

impl Drop for Lane {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which is refused inside another runtime.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn work_runs_on_the_lane_threads_and_its_result_comes_back() {
        let lane = Lane::start();
        let name = lane
            .run(async { std::thread::current().name().map(str::to_string) })
            .await
            .expect("lane answers");
        assert_eq!(name.as_deref(), Some("mailpull-smtp"));
        assert_ne!(
            std::thread::current().name(),
            Some("mailpull-smtp"),
            "the caller is not on the lane"
        );
        drop(lane); // inside a runtime: must not panic
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_lane_reads_while_the_callers_runtime_is_blocked() {
        // The caller's only thread is busy (blocked) while the lane's work completes: the work
        // does not need the caller's runtime to progress.
        let lane = Lane::start();
        let (tx, rx) = std::sync::mpsc::channel();
        let task = lane.run(async move {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            tx.send(std::time::Instant::now()).expect("send");
        });
        let started = std::time::Instant::now();
        // Poll once so the work is spawned, then block this runtime's one thread.
        let mut task = Box::pin(task);
        assert!(futures_poll_once(task.as_mut()).await.is_none());
        let done = rx
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("the lane finished while the caller's thread was blocked");
        assert!(done >= started);
        task.await.expect("lane answers");
    }

    /// Polls `fut` once; `Some` when it was ready.
    async fn futures_poll_once<F: Future + Unpin>(mut fut: F) -> Option<F::Output> {
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(match std::pin::Pin::new(&mut fut).poll(cx) {
                std::task::Poll::Ready(out) => Some(out),
                std::task::Poll::Pending => None,
            })
        })
        .await
    }
}
