//! [`ReadCap`]: how many more bytes an IMAP connection may read while a message body is
//! fetched, and the literals it announces.
//!
//! async-imap reads a whole response into memory (up to 512 MiB), whatever size the server
//! announced, so a body over `max_message_mb` — the server announced a smaller size, or none —
//! is stopped here, at the limit, instead. Counting the bytes read is not enough: when a
//! response announces a literal (`BODY[] {33554432}`), async-imap at once grows its buffer to
//! hold all of it, zero-filled, before one byte of it has arrived. So the bytes read are also
//! scanned for literal announcements ([`LiteralScan`], sans-IO), and one larger than what is
//! left is refused as soon as its `}` CRLF is read, before async-imap sees it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The limit on bytes read while a body is fetched; going over fails the read, which ends the
/// connection (it is out of step) and marks it `over`.
#[derive(Debug)]
pub struct ReadCap {
    /// Bytes left; `u64::MAX` when no fetch is under way.
    left: AtomicU64,
    over: AtomicBool,
    scan: Mutex<LiteralScan>,
}

impl Default for ReadCap {
    fn default() -> Self {
        ReadCap {
            left: AtomicU64::new(u64::MAX),
            over: AtomicBool::new(false),
            scan: Mutex::new(LiteralScan::default()),
        }
    }
}

impl ReadCap {
    /// Allows `bytes` more bytes, until [`ReadCap::lift`]. The scan for literals starts
    /// afresh: the fetch's response is read from its beginning (the connection is in step).
    pub fn set(&self, bytes: u64) {
        self.over.store(false, Ordering::SeqCst);
        *self.scan.lock().unwrap_or_else(|p| p.into_inner()) = LiteralScan::default();
        self.left.store(bytes.min(u64::MAX - 1), Ordering::SeqCst);
    }

    /// No limit (beyond async-imap's own).
    pub fn lift(&self) {
        self.left.store(u64::MAX, Ordering::SeqCst);
    }

    /// A read went over the limit since the last [`ReadCap::set`].
    pub fn went_over(&self) -> bool {
        self.over.load(Ordering::SeqCst)
    }

    /// Counts `bytes` just read; false when they go over the limit, or announce a literal
    /// longer than what is left.
    pub(super) fn take(&self, bytes: &[u8]) -> bool {
        let left = self.left.load(Ordering::SeqCst);
        if left == u64::MAX {
            return true;
        }
        let Some(rest) = left.checked_sub(bytes.len() as u64) else {
            self.over.store(true, Ordering::SeqCst);
            return false;
        };
        let longest = self
            .scan
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .feed(bytes);
        if longest.is_some_and(|literal| literal > rest) {
            self.over.store(true, Ordering::SeqCst);
            return false;
        }
        self.left.store(rest, Ordering::SeqCst);
        true
    }
}

/// Where the scan is in the server's byte stream.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Outside any literal, not in an announcement.
    #[default]
    Text,
    /// After `{`: the digits so far (saturating).
    Digits(u64),
    /// After `{N` and `+` (a non-synchronizing literal's form; servers do not send it, but it
    /// costs nothing to read).
    Plus(u64),
    /// After `{N}`: a CR must follow.
    Close(u64),
    /// After `{N}` CR: an LF must follow.
    Cr(u64),
    /// Inside a literal: this many of its bytes still to come (their content is not looked at).
    Literal(u64),
}

/// Finds the literal announcements (`{N}` CRLF) in a server's response stream fed in chunks
/// of any size, skipping the literals' own bytes (a message may contain `{99}` CRLF).
/// Quoted strings cannot hold a CR or LF, so `{N}` CRLF outside a literal is always an
/// announcement.
#[derive(Debug, Default)]
pub struct LiteralScan {
    state: State,
}

impl LiteralScan {
    /// Reads `bytes`; the largest literal announced in them, if any.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Option<u64> {
        let mut largest: Option<u64> = None;
        while let Some((&byte, rest)) = bytes.split_first() {
            if let State::Literal(left) = self.state {
                let skip = usize::try_from(left).unwrap_or(usize::MAX).min(bytes.len());
                bytes = &bytes[skip..];
                let left = left - skip as u64;
                self.state = if left == 0 {
                    State::Text
                } else {
                    State::Literal(left)
                };
                continue;
            }
            bytes = rest;
            self.state = match (self.state, byte) {
                (_, b'{') => State::Digits(0),
                (State::Digits(n), b'0'..=b'9') => {
                    State::Digits(n.saturating_mul(10).saturating_add(u64::from(byte - b'0')))
                }
                (State::Digits(n), b'+') => State::Plus(n),
                (State::Digits(n) | State::Plus(n), b'}') => State::Close(n),
                (State::Close(n), b'\r') => State::Cr(n),
                (State::Cr(n), b'\n') => {
                    largest = Some(largest.map_or(n, |l| l.max(n)));
                    if n == 0 {
                        State::Text
                    } else {
                        State::Literal(n)
                    }
                }
                _ => State::Text,
            };
        }
        largest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESPONSE: &[u8] =
        b"* 2 FETCH (UID 2 BODY[] {26}\r\nSubject: {99}\r\n\r\nbody{7}\r\n)\r\n\
        a5 OK Fetch completed.\r\n* 3 FETCH (UID 3 BODY[] {40000000}\r\nxyz";

    #[test]
    fn literals_are_found_in_chunks_of_any_size_and_their_content_is_skipped() {
        for size in 1..=RESPONSE.len() {
            let mut scan = LiteralScan::default();
            let found: Vec<u64> = RESPONSE.chunks(size).filter_map(|c| scan.feed(c)).collect();
            // `{99}` and `{7}` inside the first literal are its content, not announcements.
            assert_eq!(
                found.iter().copied().max(),
                Some(40_000_000),
                "chunks of {size}"
            );
            assert!(
                !found.contains(&99) && !found.contains(&7),
                "chunks of {size}"
            );
        }
    }

    #[test]
    fn the_cap_refuses_a_literal_longer_than_what_is_left_before_reading_it() {
        let cap = ReadCap::default();
        cap.set(1_000);
        assert!(cap.take(b"* 1 FETCH (UID 1 BODY[] {900}\r\n"));
        cap.set(1_000);
        assert!(!cap.take(b"* 2 FETCH (UID 2 BODY[] {40000000}\r\n"));
        assert!(cap.went_over());
        // Without a fetch under way, nothing is counted or refused.
        cap.lift();
        assert!(cap.take(b"* 3 FETCH (BODY[] {40000000}\r\n"));
        // A non-synchronizing literal's form and a huge number are read too.
        cap.set(1_000);
        assert!(!cap.take(b"{99999999999999999999999+}\r\n"));
        // Text that only looks like an announcement is not one.
        cap.set(1_000);
        assert!(cap.take(b"* OK {40000000} is not followed by CRLF\r\n"));
    }
}
