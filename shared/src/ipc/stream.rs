//! One async framed stream for both ends of the pipe: [`FramedStream`] wraps any
//! `AsyncRead + AsyncWrite` (the local socket, the named pipe, a test's `duplex`) and moves
//! whole frames over it, driving the sans-IO [`FrameDecoder`]. It reads no further than the
//! frame at hand (see [`FrameDecoder::wanted`]), so a declared length above the limit is
//! refused after its four length bytes and before any of its body is read.
//!
//! No timeouts here: a caller that must not wait for ever (the hello) wraps the call in
//! `tokio::time::timeout`; reading is cancel-safe (bytes read are kept in the decoder), so a
//! read can also be raced against other events in `tokio::select!`.

use std::io;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::frame::{self, FrameDecoder, FrameError};

/// The largest single read.
const READ_CHUNK: usize = 8192;

/// Why reading or writing a frame failed. After an error the stream is out of step: close it.
/// Exhaustive on purpose: a stream fails or a frame does, and callers handle both.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The underlying stream failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// A frame was refused (too large, empty, cut off, not a valid message).
    #[error(transparent)]
    Frame(#[from] FrameError),
}

/// A stream of length-delimited frames (see [`super::frame`]).
#[derive(Debug)]
pub struct FramedStream<S> {
    stream: S,
    decoder: FrameDecoder,
    buf: Box<[u8]>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> FramedStream<S> {
    /// Frames over `stream`, with the limit [`super::MAX_FRAME`].
    pub fn new(stream: S) -> Self {
        Self::with_decoder(stream, FrameDecoder::new())
    }

    /// Frames over `stream`, refusing incoming frames above `max` bytes.
    pub fn with_limit(stream: S, max: usize) -> Self {
        Self::with_decoder(stream, FrameDecoder::with_limit(max))
    }

    fn with_decoder(stream: S, decoder: FrameDecoder) -> Self {
        FramedStream {
            stream,
            decoder,
            buf: vec![0u8; READ_CHUNK].into_boxed_slice(),
        }
    }

    /// The underlying stream, e.g. to notice that the peer went away.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// The next frame's body; `Ok(None)` when the peer closed the stream between frames. A
    /// stream that ends inside a frame is [`FrameError::Truncated`].
    pub async fn read_frame(&mut self) -> Result<Option<Vec<u8>>, StreamError> {
        loop {
            if let Some(body) = self.decoder.next_frame()? {
                return Ok(Some(body));
            }
            let want = self.decoder.wanted()?.min(self.buf.len());
            let n = self.stream.read(&mut self.buf[..want]).await?;
            if n == 0 {
                self.decoder.finish()?;
                return Ok(None);
            }
            self.decoder.feed(&self.buf[..n]);
        }
    }

    /// The next frame decoded as a `T`; `Ok(None)` when the peer closed between frames.
    pub async fn read_message<T: DeserializeOwned>(&mut self) -> Result<Option<T>, StreamError> {
        match self.read_frame().await? {
            Some(body) => Ok(Some(frame::decode(&body)?)),
            None => Ok(None),
        }
    }

    /// Encodes `message` as one frame, writes and flushes it. A message above the limit is
    /// refused before anything is written.
    pub async fn write_frame<T: Serialize>(&mut self, message: &T) -> Result<(), StreamError> {
        let bytes = frame::encode(message)?;
        self.stream.write_all(&bytes).await?;
        self.stream.flush().await?;
        Ok(())
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
