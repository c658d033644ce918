//! FakePop3: a scripted POP3 server on 127.0.0.1 for the faults a real server will not produce
//! on demand — a reply that trickles in one byte at a time, a 10 MB line, invalid UTF-8 and
//! NUL bytes in replies, a message sent without dot-stuffing, a message larger than LIST
//! said, the same UIDL for two messages, a RETR answered -ERR.
//!
//! It holds one mailbox (any user name and password log in) and speaks enough POP3 for the
//! worker: CAPA (USER, UIDL, TOP), USER/PASS, STAT, UIDL, LIST, RETR, DELE, RSET, NOOP, QUIT.
//! Deletions are committed only by QUIT, as RFC 1939 says; a session that ends otherwise
//! rolls them back. One task per connection, all on the server's own thread and tokio
//! runtime ([`crate::scripted`]); dropping the server stops it.
//!
//! ```no_run
//! # fn demo() -> anyhow::Result<()> {
//! use mailpull_tests::fake_pop3::{FakePop3, Pop3Fault};
//! let pop3 = FakePop3::start(vec![b"Subject: x\r\n\r\nhi\r\n".to_vec()])?;
//! pop3.set_faults(vec![Pop3Fault::NoDotStuffing { message: 1 }]);
//! // ... point a POP3 client at 127.0.0.1:pop3.port() ...
//! pop3.clear_faults();
//! assert_eq!(pop3.message_count(), 1);
//! # Ok(()) }
//! ```

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;

use crate::scripted::{ScriptedServer, lock, read_line};

/// A command line longer than this ends the session.
const MAX_COMMAND_LINE: u64 = 1024;

/// A misbehaviour of the server. Message numbers count from 1, in the mailbox's order at the
/// start of the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pop3Fault {
    /// The whole reply to `RETR message` is sent one byte every `every` (slowloris).
    Trickle { message: u32, every: Duration },
    /// The reply to `RETR message` is `+OK`, then one line of `bytes` bytes (no line end for
    /// that long), then the message.
    HugeLine { message: u32, bytes: usize },
    /// The greeting, CAPA and the replies to USER, PASS, DELE and QUIT carry invalid UTF-8
    /// and NUL bytes in their texts (the status indicators stay valid).
    GarbageText,
    /// `RETR message` sends the message without dot-stuffing: its lone "." line ends the
    /// reply early and the rest follows as unrequested bytes.
    NoDotStuffing { message: u32 },
    /// LIST announces `size` octets for `message` whatever its real size.
    ListSize { message: u32, size: u64 },
    /// UIDL gives `message` the same unique id as message 1.
    RepeatedUidl { message: u32 },
    /// `RETR message` is answered `-ERR` (the session goes on).
    RetrErr { message: u32 },
}

/// A scripted POP3 server. See the module docs.
pub struct FakePop3 {
    server: ScriptedServer,
    state: Arc<Mutex<State>>,
}

struct Stored {
    uid: String,
    data: Vec<u8>,
}

#[derive(Default)]
struct State {
    messages: Vec<Stored>,
    next_uid: u64,
    faults: Vec<Pop3Fault>,
    connections: usize,
    retrs: usize,
}

impl FakePop3 {
    /// Starts the server on 127.0.0.1 (a free port), holding `messages` (CRLF line ends).
    pub fn start(messages: Vec<Vec<u8>>) -> anyhow::Result<Self> {
        let state = Arc::new(Mutex::new(State::default()));
        let server_state = Arc::clone(&state);
        let server = ScriptedServer::start("fake POP3", move |stream, _peer| {
            lock(&server_state).connections += 1;
            let state = Arc::clone(&server_state);
            async move { session(stream, &state).await }
        })?;
        let server = FakePop3 { server, state };
        for message in messages {
            server.add(message);
        }
        Ok(server)
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// Adds a message (with a fresh unique id) at the end of the mailbox.
    pub fn add(&self, data: Vec<u8>) {
        let mut state = lock(&self.state);
        state.next_uid += 1;
        let uid = format!("fake-uid-{}", state.next_uid);
        state.messages.push(Stored { uid, data });
    }

    /// Adds a message under the unique id `uid`, as a server does that reuses a UIDL (after
    /// its index was rebuilt, or by a bug): the id may be one a client already saw.
    pub fn add_with_uid(&self, uid: &str, data: Vec<u8>) {
        lock(&self.state).messages.push(Stored {
            uid: uid.to_string(),
            data,
        });
    }

    /// Replaces the faults; they apply to sessions that start from now on.
    pub fn set_faults(&self, faults: Vec<Pop3Fault>) {
        lock(&self.state).faults = faults;
    }

    /// The server behaves from now on.
    pub fn clear_faults(&self) {
        lock(&self.state).faults.clear();
    }

    /// How many messages the mailbox holds (deletions count once a QUIT committed them).
    pub fn message_count(&self) -> usize {
        lock(&self.state).messages.len()
    }

    /// The messages the mailbox holds.
    pub fn messages(&self) -> Vec<Vec<u8>> {
        lock(&self.state)
            .messages
            .iter()
            .map(|m| m.data.clone())
            .collect()
    }

    /// How many sessions the server accepted.
    pub fn connections(&self) -> usize {
        lock(&self.state).connections
    }

    /// How many RETR commands it answered (or began to).
    pub fn retrs(&self) -> usize {
        lock(&self.state).retrs
    }
}

impl std::fmt::Debug for FakePop3 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakePop3")
            .field("port", &self.server.port())
            .finish_non_exhaustive()
    }
}

/// `data` dot-stuffed, ending in CRLF, followed by the terminating `.` line.
fn stuffed(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 64);
    for line in data.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b".") {
            out.push(b'.');
        }
        out.extend_from_slice(line);
    }
    if !out.is_empty() && !out.ends_with(b"\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

const GARBAGE: &[u8] = b"\xff\xfe\x00caf\xe9\x00\xc3\x28";

async fn send(write: &mut OwnedWriteHalf, bytes: &[u8]) -> anyhow::Result<()> {
    write.write_all(bytes).await?;
    write.flush().await?;
    Ok(())
}

/// A status line: `+OK text` (with garbage bytes when `garbage`).
fn status(ok: bool, text: &str, garbage: bool) -> Vec<u8> {
    let mut line = if ok {
        b"+OK ".to_vec()
    } else {
        b"-ERR ".to_vec()
    };
    line.extend_from_slice(text.as_bytes());
    if garbage {
        line.push(b' ');
        line.extend_from_slice(GARBAGE);
    }
    line.extend_from_slice(b"\r\n");
    line
}

async fn session(stream: TcpStream, state: &Mutex<State>) -> anyhow::Result<()> {
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    // The session's view of the mailbox: (uid, data), fixed at login.
    let (snapshot, faults) = {
        let state = lock(state);
        let snapshot: Vec<(String, Vec<u8>)> = state
            .messages
            .iter()
            .map(|m| (m.uid.clone(), m.data.clone()))
            .collect();
        (snapshot, state.faults.clone())
    };
    let fault = |wanted: &dyn Fn(&Pop3Fault) -> bool| faults.iter().find(|f| wanted(f)).cloned();
    let garbage = faults.contains(&Pop3Fault::GarbageText);
    let mut deleted = vec![false; snapshot.len()];
    send(
        &mut write,
        &status(true, "FakePop3 ready <1.2@fake-pop3.test>", garbage),
    )
    .await?;
    let mut line = Vec::new();
    loop {
        let n = read_line(&mut reader, MAX_COMMAND_LINE, &mut line).await?;
        if n == 0 || !line.ends_with(b"\n") {
            // Closed (or garbage): no QUIT, so the deletions are rolled back.
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line).trim().to_owned();
        let (verb, arg) = match text.split_once(' ') {
            Some((verb, arg)) => (verb.to_ascii_uppercase(), arg.trim().to_owned()),
            None => (text.to_ascii_uppercase(), String::new()),
        };
        let number: Option<usize> = arg
            .parse::<usize>()
            .ok()
            .filter(|&n| n >= 1 && n <= snapshot.len() && !deleted[n - 1]);
        match verb.as_str() {
            "CAPA" => {
                let mut reply = status(true, "Capability list follows", false);
                reply.extend_from_slice(b"USER\r\nUIDL\r\nTOP\r\n");
                if garbage {
                    reply.extend_from_slice(b"X-GARBAGE ");
                    reply.extend_from_slice(GARBAGE);
                    reply.extend_from_slice(b"\r\n");
                }
                reply.extend_from_slice(b".\r\n");
                send(&mut write, &reply).await?;
            }
            "USER" | "PASS" | "NOOP" | "RSET" => {
                if verb == "RSET" {
                    deleted.iter_mut().for_each(|d| *d = false);
                }
                send(&mut write, &status(true, "fine", garbage)).await?;
            }
            "STAT" => {
                let (count, size) = snapshot
                    .iter()
                    .zip(&deleted)
                    .filter(|(_, d)| !**d)
                    .fold((0, 0), |(c, s), ((_, data), _)| (c + 1, s + data.len()));
                send(&mut write, &status(true, &format!("{count} {size}"), false)).await?;
            }
            "UIDL" | "LIST" => {
                let mut reply = status(true, "listing follows", false);
                for (index, (uid, data)) in snapshot.iter().enumerate() {
                    if deleted[index] {
                        continue;
                    }
                    let n = index as u32 + 1;
                    let value = if verb == "UIDL" {
                        match fault(
                            &|f| matches!(f, Pop3Fault::RepeatedUidl { message } if *message == n),
                        ) {
                            Some(_) => snapshot[0].0.clone(),
                            None => uid.clone(),
                        }
                    } else {
                        match fault(
                            &|f| matches!(f, Pop3Fault::ListSize { message, .. } if *message == n),
                        ) {
                            Some(Pop3Fault::ListSize { size, .. }) => size.to_string(),
                            _ => data.len().to_string(),
                        }
                    };
                    reply.extend_from_slice(format!("{n} {value}\r\n").as_bytes());
                }
                reply.extend_from_slice(b".\r\n");
                send(&mut write, &reply).await?;
            }
            "RETR" => {
                let Some(index) = number.map(|n| n - 1) else {
                    send(&mut write, &status(false, "no such message", false)).await?;
                    continue;
                };
                lock(state).retrs += 1;
                let n = index as u32 + 1;
                if fault(&|f| matches!(f, Pop3Fault::RetrErr { message } if *message == n))
                    .is_some()
                {
                    send(&mut write, &status(false, "message unavailable", false)).await?;
                    continue;
                }
                let data = &snapshot[index].1;
                let mut reply = status(true, &format!("{} octets", data.len()), false);
                if let Some(Pop3Fault::HugeLine { bytes, .. }) =
                    fault(&|f| matches!(f, Pop3Fault::HugeLine { message, .. } if *message == n))
                {
                    send(&mut write, &reply).await?;
                    let chunk = vec![b'x'; 64 * 1024];
                    let mut left = bytes;
                    while left > 0 {
                        let take = left.min(chunk.len());
                        send(&mut write, &chunk[..take]).await?;
                        left -= take;
                    }
                    reply = b"\r\n".to_vec();
                    reply.extend_from_slice(&stuffed(data));
                    send(&mut write, &reply).await?;
                    continue;
                }
                if fault(&|f| matches!(f, Pop3Fault::NoDotStuffing { message } if *message == n))
                    .is_some()
                {
                    reply.extend_from_slice(data);
                    if !data.ends_with(b"\n") {
                        reply.extend_from_slice(b"\r\n");
                    }
                    reply.extend_from_slice(b".\r\n");
                } else {
                    reply.extend_from_slice(&stuffed(data));
                }
                if let Some(Pop3Fault::Trickle { every, .. }) =
                    fault(&|f| matches!(f, Pop3Fault::Trickle { message, .. } if *message == n))
                {
                    for byte in reply {
                        send(&mut write, &[byte]).await?;
                        tokio::time::sleep(every).await;
                    }
                    continue;
                }
                send(&mut write, &reply).await?;
            }
            "DELE" => match number {
                Some(n) => {
                    deleted[n - 1] = true;
                    send(&mut write, &status(true, "marked", garbage)).await?;
                }
                None => send(&mut write, &status(false, "no such message", false)).await?,
            },
            "QUIT" => {
                {
                    let mut state = lock(state);
                    let gone: Vec<&String> = snapshot
                        .iter()
                        .zip(&deleted)
                        .filter(|(_, d)| **d)
                        .map(|((uid, _), _)| uid)
                        .collect();
                    state.messages.retain(|m| !gone.contains(&&m.uid));
                }
                send(&mut write, &status(true, "bye", garbage)).await?;
                return Ok(());
            }
            _ => send(&mut write, &status(false, "unknown command", false)).await?,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stuffing_doubles_leading_dots_and_terminates() {
        assert_eq!(stuffed(b"a\r\n.\r\n..b\r\n"), b"a\r\n..\r\n...b\r\n.\r\n");
        assert_eq!(stuffed(b"no end"), b"no end\r\n.\r\n");
        assert_eq!(stuffed(b""), b".\r\n");
    }
}
