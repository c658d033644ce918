//! No plaintext read before STARTTLS is taken as an answer after it (response injection, the
//! STARTTLS flaw of CVE-2011-0411's kind).
//!
//! lettre reads the local server through a `BufReader`, and on STARTTLS it upgrades the stream
//! under that reader without emptying it: bytes that arrived in the same packet as the
//! server's `220` (a man in the middle can add `250 ...` lines there) would be read, after the
//! handshake, as the answers to the commands sent over TLS. [`StartTlsGuard`] sits under lettre
//! on a STARTTLS connection: while the connection is in plaintext it hands lettre at most one
//! line per read, so lettre's reader never holds more than the line it is parsing, and keeps
//! the rest itself. When the client starts the TLS handshake (its first write of a TLS
//! record) anything still unread is injected data: the write fails and the connection is given
//! up, naming the fault. Bytes that arrive later go to the TLS layer, which refuses them.
//!
//! Sans-IO core ([`Gate`]) and a thin `AsyncRead`/`AsyncWrite` wrapper.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The first byte of a TLS record carrying a handshake message (the ClientHello).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// How much the guard reads from the server at once while in plaintext.
const READ_CHUNK: usize = 4096;

/// The guard's state, without I/O.
#[derive(Debug, Default)]
pub struct Gate {
    /// Bytes read from the server and not yet handed to lettre.
    pending: Vec<u8>,
    /// The client has started TLS: bytes pass through unchanged.
    tls: bool,
}

impl Gate {
    /// Keeps `data` read from the server (plaintext phase).
    pub fn received(&mut self, data: &[u8]) {
        self.pending.extend_from_slice(data);
    }

    /// Whether bytes are waiting to be handed out.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Hands out at most one line (up to and including its `\n`, or everything if no line
    /// ends yet), at most `max` bytes.
    pub fn take_line(&mut self, max: usize) -> Vec<u8> {
        let end = self
            .pending
            .iter()
            .position(|&b| b == b'\n')
            .map_or(self.pending.len(), |i| i + 1)
            .min(max);
        self.pending.drain(..end).collect()
    }

    /// The client is about to write `data`. The first TLS handshake record ends the plaintext
    /// phase; if server bytes are still unread then, they were injected: an error.
    pub fn before_write(&mut self, data: &[u8]) -> io::Result<()> {
        if self.tls || data.first() != Some(&TLS_HANDSHAKE_RECORD) {
            return Ok(());
        }
        self.tls = true;
        if self.pending.is_empty() {
            return Ok(());
        }
        let injected = self.pending.len();
        self.pending.clear();
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "the local server sent {injected} more byte(s) in plaintext after its STARTTLS \
                 reply, before TLS began (injected data); the connection is refused"
            ),
        ))
    }

    /// Whether the connection is past STARTTLS (bytes pass through).
    pub fn is_tls(&self) -> bool {
        self.tls
    }
}

/// `S` with the STARTTLS guard in front of lettre (see the module docs).
#[derive(Debug)]
pub struct StartTlsGuard<S> {
    inner: S,
    gate: Gate,
}

impl<S> StartTlsGuard<S> {
    pub fn new(inner: S) -> Self {
        StartTlsGuard {
            inner,
            gate: Gate::default(),
        }
    }

    /// The stream under the guard.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for StartTlsGuard<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.gate.is_tls() && !this.gate.has_pending() {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        if !this.gate.has_pending() {
            let mut chunk = [0u8; READ_CHUNK];
            let mut read = ReadBuf::new(&mut chunk);
            match Pin::new(&mut this.inner).poll_read(cx, &mut read) {
                Poll::Ready(Ok(())) => {
                    if read.filled().is_empty() {
                        return Poll::Ready(Ok(())); // end of stream
                    }
                    this.gate.received(read.filled());
                }
                Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                Poll::Pending => return Poll::Pending,
            }
        }
        let line = this.gate.take_line(buf.remaining());
        buf.put_slice(&line);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for StartTlsGuard<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Err(err) = this.gate.before_write(data) {
            return Poll::Ready(Err(err));
        }
        Pin::new(&mut this.inner).poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

    #[test]
    fn lines_are_handed_out_one_at_a_time() {
        let mut gate = Gate::default();
        gate.received(b"250-one\r\n250 two\r\npart");
        assert_eq!(gate.take_line(100), b"250-one\r\n");
        assert_eq!(gate.take_line(4), b"250 ");
        assert_eq!(gate.take_line(100), b"two\r\n");
        assert_eq!(gate.take_line(100), b"part");
        assert!(!gate.has_pending());
    }

    #[test]
    fn data_left_unread_when_tls_starts_is_refused() {
        let mut gate = Gate::default();
        gate.received(b"220 ready\r\n250 injected\r\n");
        assert_eq!(gate.take_line(100), b"220 ready\r\n");
        gate.before_write(b"EHLO x\r\n").expect("plaintext write");
        let err = gate.before_write(&[0x16, 3, 1]).expect_err("injected");
        assert!(
            err.to_string().contains("plaintext after its STARTTLS"),
            "{err}"
        );
        assert!(gate.is_tls());
    }

    #[test]
    fn a_clean_starttls_passes() {
        let mut gate = Gate::default();
        gate.received(b"220 ready\r\n");
        assert_eq!(gate.take_line(100), b"220 ready\r\n");
        gate.before_write(&[0x16, 3, 1]).expect("clean");
        assert!(gate.is_tls());
        gate.before_write(&[0x16, 3, 3]).expect("later records");
    }

    /// Through a `BufReader` like lettre's: the reader never holds the injected line, so the
    /// guard still has it when the handshake starts.
    #[tokio::test]
    async fn a_buffered_reader_above_the_guard_never_holds_the_next_line() {
        let (client, mut server) = tokio::io::duplex(1024);
        server
            .write_all(b"220 Ready to start TLS\r\n250 injected\r\n")
            .await
            .expect("server write");
        let mut reader = BufReader::new(StartTlsGuard::new(client));
        let mut line = String::new();
        reader.read_line(&mut line).await.expect("read");
        assert_eq!(line, "220 Ready to start TLS\r\n");
        assert!(reader.buffer().is_empty(), "{:?}", reader.buffer());
        let err = reader
            .get_mut()
            .write_all(&[0x16, 3, 1, 0, 5])
            .await
            .expect_err("the injected line is still unread");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
