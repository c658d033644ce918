//! One proxied connection: forwards client lines and server bytes, asks the rules at every
//! line and byte count, and carries out the action of a rule that fires (cut, drain the reply
//! then cut, forward a few bytes then cut, stall, answer a line in the server's place, add bytes
//! behind a reply).

use std::collections::HashMap;

use anyhow::Context as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::watch;
use tokio::time::Instant;

use super::reply::{ReplyEnd, ReplyWatch};
use super::rules::Shared;
use super::script::{Action, REPLY_GIVE_UP, answer_for};

/// A client line longer than this without a newline is forwarded as is (it never matches).
const MAX_PENDING_LINE: usize = 64 * 1024;

const READ_BUF: usize = 16 * 1024;

enum Mode {
    Normal,
    /// [`Action::CutAfterReply`]: forwarding the reply, then cut.
    Draining {
        reply: ReplyWatch,
        last_data: Instant,
        give_up: Instant,
    },
    /// [`Action::CutMidReply`]: forwarding `left` more server bytes, then cut.
    Limited {
        left: usize,
        give_up: Instant,
    },
    /// [`Action::Stall`]: nothing forwarded until `until`; then `held_client` goes to the
    /// server and `held_server` to the client.
    Stalled {
        until: Instant,
        held_client: Vec<u8>,
        held_server: Vec<u8>,
    },
    /// [`Action::InjectAfterReply`]: forwarding the reply, then `inject` behind it, then raw.
    Injecting {
        reply: ReplyWatch,
        inject: Vec<u8>,
        give_up: Instant,
    },
    Close,
}

struct Conn<'a> {
    shared: &'a Shared,
    index: usize,
    client_w: OwnedWriteHalf,
    server_w: OwnedWriteHalf,
    /// Client bytes not yet forwarded (an incomplete line, or lines held during a stall).
    pending: Vec<u8>,
    counts: HashMap<u64, usize>,
    server_total: u64,
    client_eof: bool,
    server_eof: bool,
    mode: Mode,
    /// After [`Action::InjectAfterReply`]: client bytes pass through without line handling.
    raw: bool,
}

pub(super) async fn run_connection(
    shared: &Shared,
    index: usize,
    client: TcpStream,
    mut cut: watch::Receiver<u64>,
) -> anyhow::Result<()> {
    let server = TcpStream::connect(shared.upstream)
        .await
        .with_context(|| format!("cannot connect to upstream {}", shared.upstream))?;
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut client_r, client_w) = client.into_split();
    let (mut server_r, server_w) = server.into_split();
    let mut conn = Conn {
        shared,
        index,
        client_w,
        server_w,
        pending: Vec::new(),
        counts: HashMap::new(),
        server_total: 0,
        client_eof: false,
        server_eof: false,
        mode: Mode::Normal,
        raw: false,
    };
    let mut client_buf = vec![0u8; READ_BUF];
    let mut server_buf = vec![0u8; READ_BUF];
    loop {
        if matches!(conn.mode, Mode::Close) || (conn.client_eof && conn.server_eof) {
            return Ok(());
        }
        let deadline = conn.deadline();
        let read_client = !conn.client_eof;
        let read_server = !conn.server_eof && !matches!(conn.mode, Mode::Stalled { .. });
        tokio::select! {
            read = client_r.read(&mut client_buf), if read_client => {
                let n = read.context("reading from the client")?;
                conn.on_client_data(&client_buf[..n]).await?;
            }
            read = server_r.read(&mut server_buf), if read_server => {
                let n = read.context("reading from the server")?;
                conn.on_server_data(&server_buf[..n]).await?;
            }
            () = sleep_until_opt(deadline), if deadline.is_some() => {
                conn.on_deadline().await?;
            }
            changed = cut.changed() => {
                if changed.is_ok() {
                    tracing::debug!(index, "fault proxy: connection cut by cut_all");
                }
                return Ok(());
            }
        }
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

impl Conn<'_> {
    fn deadline(&self) -> Option<Instant> {
        match &self.mode {
            Mode::Normal | Mode::Close => None,
            Mode::Draining {
                reply,
                last_data,
                give_up,
            } => Some(match reply.quiet() {
                Some(quiet) => (*last_data + quiet).min(*give_up),
                None => *give_up,
            }),
            Mode::Limited { give_up, .. } | Mode::Injecting { give_up, .. } => Some(*give_up),
            Mode::Stalled { until, .. } => Some(*until),
        }
    }

    async fn on_deadline(&mut self) -> anyhow::Result<()> {
        match std::mem::replace(&mut self.mode, Mode::Normal) {
            Mode::Stalled {
                held_client,
                held_server,
                ..
            } => {
                if !held_client.is_empty() {
                    self.server_w.write_all(&held_client).await?;
                }
                if !held_server.is_empty() {
                    self.forward_server(&held_server).await?;
                }
                // (A client EOF during the stall already turned the mode into Close.)
                if matches!(self.mode, Mode::Normal) {
                    self.process_pending().await?;
                }
            }
            Mode::Normal => {}
            Mode::Draining { .. } | Mode::Limited { .. } | Mode::Injecting { .. } | Mode::Close => {
                self.mode = Mode::Close
            }
        }
        Ok(())
    }

    async fn on_client_data(&mut self, data: &[u8]) -> anyhow::Result<()> {
        if data.is_empty() {
            self.client_eof = true;
            match self.mode {
                Mode::Normal => self.finish_client_eof().await?,
                // The client went away: nothing left to do for the fault.
                _ => self.mode = Mode::Close,
            }
            return Ok(());
        }
        match self.mode {
            Mode::Normal if self.raw => {
                self.server_w.write_all(data).await?;
                Ok(())
            }
            Mode::Normal => {
                self.pending.extend_from_slice(data);
                self.process_pending().await
            }
            // Held until the stall ends, or until the injection is sent.
            Mode::Stalled { .. } | Mode::Injecting { .. } => {
                self.pending.extend_from_slice(data);
                Ok(())
            }
            // After a cut is decided, client data is dropped.
            Mode::Draining { .. } | Mode::Limited { .. } | Mode::Close => Ok(()),
        }
    }

    /// Client EOF in normal mode: forward any incomplete last line and half-close upstream.
    async fn finish_client_eof(&mut self) -> anyhow::Result<()> {
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            self.server_w.write_all(&rest).await?;
        }
        let _ = self.server_w.shutdown().await;
        Ok(())
    }

    /// Forwards the complete lines in `pending`, stopping at a line that fires a rule.
    async fn process_pending(&mut self) -> anyhow::Result<()> {
        let mut out = Vec::new();
        let mut start = 0;
        let mut fired = None;
        while let Some(offset) = self.pending[start..].iter().position(|&b| b == b'\n') {
            let end = start + offset + 1;
            let line = &self.pending[start..end];
            if let Some(action) = self
                .shared
                .on_client_line(self.index, &mut self.counts, line)
            {
                fired = Some((action, line.to_vec()));
                start = end;
                break;
            }
            out.extend_from_slice(line);
            start = end;
        }
        self.pending.drain(..start);
        if fired.is_none() && self.pending.len() > MAX_PENDING_LINE {
            out.append(&mut self.pending);
        }
        if !out.is_empty() {
            self.server_w.write_all(&out).await?;
        }
        if let Some((action, line)) = fired {
            self.apply_client_action(action, line).await?;
        }
        Ok(())
    }

    async fn apply_client_action(&mut self, action: Action, line: Vec<u8>) -> anyhow::Result<()> {
        let now = Instant::now();
        match action {
            Action::CutBeforeForwarding => self.mode = Mode::Close,
            Action::CutAfterReply => {
                self.server_w.write_all(&line).await?;
                self.mode = Mode::Draining {
                    reply: ReplyWatch::new(ReplyEnd::for_command(&line)),
                    last_data: now,
                    give_up: now + REPLY_GIVE_UP,
                };
            }
            Action::CutMidReply { after_bytes } => {
                self.server_w.write_all(&line).await?;
                self.mode = Mode::Limited {
                    left: after_bytes,
                    give_up: now + REPLY_GIVE_UP,
                };
            }
            Action::Stall(duration) => {
                self.mode = Mode::Stalled {
                    until: now + duration,
                    held_client: line,
                    held_server: Vec::new(),
                };
            }
            Action::InjectAfterReply(inject) => {
                self.server_w.write_all(&line).await?;
                self.mode = Mode::Injecting {
                    reply: ReplyWatch::new(ReplyEnd::for_command(&line)),
                    inject: inject.into_bytes(),
                    give_up: now + REPLY_GIVE_UP,
                };
            }
            Action::AnswerInstead(template) => {
                self.client_w
                    .write_all(answer_for(&template, &line).as_bytes())
                    .await?;
            }
        }
        Ok(())
    }

    async fn on_server_data(&mut self, data: &[u8]) -> anyhow::Result<()> {
        if data.is_empty() {
            self.server_eof = true;
            match self.mode {
                Mode::Normal => {
                    let _ = self.client_w.shutdown().await;
                }
                _ => self.mode = Mode::Close,
            }
            return Ok(());
        }
        self.forward_server(data).await
    }

    /// Forwards server bytes to the client according to the mode, firing byte-count rules.
    async fn forward_server(&mut self, mut data: &[u8]) -> anyhow::Result<()> {
        while !data.is_empty() {
            match &mut self.mode {
                Mode::Normal => {
                    let Some((split, action)) =
                        self.shared
                            .on_server_bytes(self.index, self.server_total, data.len())
                    else {
                        self.server_total += data.len() as u64;
                        self.client_w.write_all(data).await?;
                        return Ok(());
                    };
                    let (now_part, rest) = data.split_at(split);
                    self.server_total += now_part.len() as u64;
                    if !now_part.is_empty() {
                        self.client_w.write_all(now_part).await?;
                    }
                    data = rest;
                    let now = Instant::now();
                    self.mode = match action {
                        Action::CutBeforeForwarding => Mode::Close,
                        Action::CutAfterReply => Mode::Draining {
                            reply: ReplyWatch::new(ReplyEnd::Unknown),
                            last_data: now,
                            give_up: now + REPLY_GIVE_UP,
                        },
                        Action::CutMidReply { after_bytes } => Mode::Limited {
                            left: after_bytes,
                            give_up: now + REPLY_GIVE_UP,
                        },
                        Action::Stall(duration) => Mode::Stalled {
                            until: now + duration,
                            held_client: Vec::new(),
                            held_server: Vec::new(),
                        },
                        // No client line to answer: the connection is cut.
                        Action::AnswerInstead(_) => Mode::Close,
                        Action::InjectAfterReply(inject) => {
                            self.client_w.write_all(inject.as_bytes()).await?;
                            self.raw = true;
                            Mode::Normal
                        }
                    };
                }
                Mode::Draining {
                    reply, last_data, ..
                } => {
                    let take = reply.feed(data);
                    *last_data = Instant::now();
                    let complete = reply.complete;
                    self.server_total += take as u64;
                    self.client_w.write_all(&data[..take]).await?;
                    if complete {
                        self.mode = Mode::Close;
                    }
                    return Ok(());
                }
                Mode::Limited { left, .. } => {
                    let take = (*left).min(data.len());
                    *left -= take;
                    let done = *left == 0;
                    self.server_total += take as u64;
                    if take > 0 {
                        self.client_w.write_all(&data[..take]).await?;
                    }
                    if done {
                        self.mode = Mode::Close;
                    }
                    return Ok(());
                }
                Mode::Stalled { held_server, .. } => {
                    held_server.extend_from_slice(data);
                    return Ok(());
                }
                Mode::Injecting { reply, inject, .. } => {
                    let take = reply.feed(data);
                    self.server_total += take as u64;
                    if !reply.complete {
                        self.client_w.write_all(&data[..take]).await?;
                        return Ok(());
                    }
                    let mut out = data[..take].to_vec();
                    out.extend_from_slice(inject);
                    self.client_w.write_all(&out).await?;
                    self.mode = Mode::Normal;
                    self.raw = true;
                    let held = std::mem::take(&mut self.pending);
                    if !held.is_empty() {
                        self.server_w.write_all(&held).await?;
                    }
                    data = &data[take..];
                }
                Mode::Close => return Ok(()),
            }
        }
        // A rule that fired exactly at the end of the data acts on the server's next data
        // (CutMidReply with 0 bytes waits for it, see the Action docs).
        Ok(())
    }
}
