//! FaultProxy: a TCP proxy in front of a real mail server (POP3, IMAP or SMTP on a plain port)
//! that passes everything through until a scripted rule makes it misbehave — cut the
//! connection before or after a client command, in the middle of a reply, or stall it.
//!
//! The proxy runs on its own thread with its own tokio runtime, so it works whether the client
//! runs in-process (on any runtime) or as a subprocess. Dropping the proxy stops it and closes
//! every connection it carries.
//!
//! Client-to-server traffic is handled line by line (lines end with `\n`), so rules can match
//! a client command; server-to-client traffic is counted in bytes.
//!
//! ```no_run
//! # fn demo(dovecot_pop3: std::net::SocketAddr) -> anyhow::Result<()> {
//! use mailpull_tests::proxy::{Action, FaultProxy, Trigger};
//! let proxy = FaultProxy::start(dovecot_pop3)?;
//! // The 2nd RETR of a connection is never forwarded: the connection drops instead.
//! proxy.arm(Trigger::line("RETR", 2), Action::CutBeforeForwarding);
//! // ... point the worker at 127.0.0.1:proxy.port() and run it ...
//! assert_eq!(proxy.fired(), 1);
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

/// How long the server must be quiet, after it sent at least one complete line, before
/// [`Action::CutAfterReply`] considers a reply it cannot recognise complete and cuts.
pub const REPLY_QUIET: Duration = Duration::from_millis(250);

/// Like [`REPLY_QUIET`], for a reply whose end [`Action::CutAfterReply`] knows how to
/// recognise but has not seen yet (a pause in the middle of a RETR body, say).
pub const REPLY_QUIET_EXPECTING_END: Duration = Duration::from_secs(2);

/// How long [`Action::CutAfterReply`] and [`Action::CutMidReply`] wait for the server's reply
/// before they cut anyway.
pub const REPLY_GIVE_UP: Duration = Duration::from_secs(30);

/// A client line longer than this without a newline is forwarded as is (it never matches).
const MAX_PENDING_LINE: usize = 64 * 1024;

const READ_BUF: usize = 16 * 1024;

/// When a rule fires.
///
/// Line triggers look at complete client lines (without the line ending), compare
/// ASCII-case-insensitively, and count per connection: `occurrence` 1 is the first matching
/// line on that connection (0 is treated as 1). Every client line counts, including SMTP
/// message bodies and IMAP literals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// The n-th client line that starts with `starts_with` (POP3 `RETR`, SMTP `DATA`).
    ClientLine {
        starts_with: String,
        occurrence: usize,
    },
    /// The n-th client line whose text after the first word (an IMAP tag such as `a3`)
    /// starts with `starts_with` (IMAP `UID FETCH`, `UID STORE`, `EXPUNGE`).
    ClientCommand {
        starts_with: String,
        occurrence: usize,
    },
    /// The n-th client line that contains `contains` anywhere.
    ClientLineContains { contains: String, occurrence: usize },
    /// The n-th client line equal to `line` (SMTP's end of data `.`).
    ClientLineExact { line: String, occurrence: usize },
    /// The moment the server has sent this many bytes in total on the connection. The bytes
    /// up to that point are forwarded; the action applies to what follows. `ServerBytes(0)`
    /// fires when the server's first data (usually its greeting) arrives.
    ServerBytes(u64),
}

impl Trigger {
    /// [`Trigger::ClientLine`]: the `occurrence`-th client line starting with `starts_with`.
    pub fn line(starts_with: impl Into<String>, occurrence: usize) -> Self {
        Self::ClientLine {
            starts_with: starts_with.into(),
            occurrence,
        }
    }

    /// [`Trigger::ClientCommand`]: the `occurrence`-th tagged IMAP command starting with
    /// `starts_with` after its tag.
    pub fn command(starts_with: impl Into<String>, occurrence: usize) -> Self {
        Self::ClientCommand {
            starts_with: starts_with.into(),
            occurrence,
        }
    }

    /// [`Trigger::ClientLineContains`]: the `occurrence`-th client line containing `contains`.
    pub fn contains(contains: impl Into<String>, occurrence: usize) -> Self {
        Self::ClientLineContains {
            contains: contains.into(),
            occurrence,
        }
    }

    /// [`Trigger::ClientLineExact`]: the `occurrence`-th client line equal to `line`.
    pub fn exact(line: impl Into<String>, occurrence: usize) -> Self {
        Self::ClientLineExact {
            line: line.into(),
            occurrence,
        }
    }

    /// SMTP's end-of-data line `.` of the `occurrence`-th message on a connection
    /// (dot-stuffed body lines never equal `.`).
    pub fn smtp_end_of_data(occurrence: usize) -> Self {
        Self::exact(".", occurrence)
    }

    /// Whether a client line (line ending included or not) matches this trigger's pattern;
    /// always false for [`Trigger::ServerBytes`].
    pub fn matches_line(&self, line: &[u8]) -> bool {
        let line = trim_line_end(line);
        match self {
            Self::ClientLine { starts_with, .. } => starts_with_ci(line, starts_with.as_bytes()),
            Self::ClientCommand { starts_with, .. } => {
                starts_with_ci(after_tag(line), starts_with.as_bytes())
            }
            Self::ClientLineContains { contains, .. } => contains_ci(line, contains.as_bytes()),
            Self::ClientLineExact { line: want, .. } => line.eq_ignore_ascii_case(want.as_bytes()),
            Self::ServerBytes(_) => false,
        }
    }

    fn occurrence(&self) -> usize {
        match self {
            Self::ClientLine { occurrence, .. }
            | Self::ClientCommand { occurrence, .. }
            | Self::ClientLineContains { occurrence, .. }
            | Self::ClientLineExact { occurrence, .. } => (*occurrence).max(1),
            Self::ServerBytes(_) => 1,
        }
    }
}

/// What the proxy does when a rule fires. After a cut both sides are closed; client data that
/// arrives after the trigger is never forwarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Close both sides without forwarding the triggering client line. With
    /// [`Trigger::ServerBytes`]: the client gets exactly that many bytes, then the cut.
    CutBeforeForwarding,
    /// Forward the triggering line, then forward the server's whole reply, then close.
    ///
    /// The end of the reply is recognised from the triggering command: a POP3 multi-line
    /// reply (RETR, TOP, CAPA, LIST/UIDL without argument) ends with its `.` line or a
    /// `-ERR`; other POP3 and SMTP commands (and SMTP's end of data `.`) end with a `+OK`,
    /// `-ERR`, `+ ` or final `NNN ` line; an IMAP command `TAG ...` ends with the line
    /// `TAG OK|NO|BAD ...` or a `+` continuation. Otherwise (or if that end never comes) the
    /// reply is taken as complete once at least one complete line arrived and the server has
    /// been quiet for [`REPLY_QUIET`] ([`REPLY_QUIET_EXPECTING_END`] when an end was
    /// expected). Cuts anyway after [`REPLY_GIVE_UP`] or when the server closes.
    CutAfterReply,
    /// Forward the triggering line, then forward only `after_bytes` bytes of what the server
    /// sends next, then close. With `after_bytes: 0` the cut waits until the server starts to
    /// answer (so the server has processed the line) and forwards none of it. Cuts anyway
    /// after [`REPLY_GIVE_UP`].
    CutMidReply { after_bytes: usize },
    /// Stop forwarding in both directions for this long, then carry on normally (the held
    /// client line is forwarded after the stall). If the client closes during the stall, the
    /// proxy closes the server side at once.
    Stall(Duration),
}

/// A TCP proxy on 127.0.0.1 that misbehaves on a script. See the module docs.
pub struct FaultProxy {
    port: u16,
    upstream: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy on 127.0.0.1 (a free port) in front of `upstream`, on its own thread.
    /// It passes everything through until a rule is armed.
    pub fn start(upstream: SocketAddr) -> anyhow::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .context("fault proxy: cannot bind a listening port on 127.0.0.1")?;
        listener
            .set_nonblocking(true)
            .context("fault proxy: cannot make the listener non-blocking")?;
        let port = listener
            .local_addr()
            .context("fault proxy: listener has no local address")?
            .port();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("fault proxy: cannot build its tokio runtime")?;
        let listener = {
            let _guard = runtime.enter();
            TcpListener::from_std(listener).context("fault proxy: cannot register the listener")?
        };
        let (cut_tx, _) = watch::channel(0u64);
        let shared = Arc::new(Shared {
            upstream,
            rules: Mutex::new(Rules::default()),
            fired: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
            cut_all: cut_tx,
        });
        let (shutdown, shutdown_rx) = oneshot::channel();
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(format!("fault-proxy-{port}"))
            .spawn(move || {
                runtime.block_on(accept_loop(listener, thread_shared, shutdown_rx));
                // Dropping the runtime here cancels every connection task and closes its sockets.
            })
            .context("fault proxy: cannot spawn its thread")?;
        tracing::debug!(port, %upstream, "fault proxy started");
        Ok(Self {
            port,
            upstream,
            shared,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// The proxy's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The proxy's address, `127.0.0.1:port`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The server the proxy forwards to.
    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// Arms a rule that fires once, then disarms. Rules apply to connections accepted from
    /// now on (connections already open, such as pooled SMTP connections, are not affected;
    /// see [`FaultProxy::cut_all`]). Several rules may be armed at once; when one event
    /// matches several, the earliest armed fires.
    pub fn arm(&self, trigger: Trigger, action: Action) {
        self.arm_times(trigger, action, 1);
    }

    /// Arms a rule that fires `times` times (on any connections), then disarms.
    /// `times == 0` arms nothing.
    pub fn arm_times(&self, trigger: Trigger, action: Action, times: usize) {
        if times > 0 {
            self.push_rule(trigger, action, Some(times));
        }
    }

    /// Arms a rule that fires every time it matches until [`FaultProxy::disarm`].
    pub fn arm_every(&self, trigger: Trigger, action: Action) {
        self.push_rule(trigger, action, None);
    }

    /// Removes every armed rule; traffic passes through again (a stall already in progress
    /// runs to its end).
    pub fn disarm(&self) {
        self.shared.lock_rules().rules.clear();
    }

    /// How many times a rule fired, in total.
    pub fn fired(&self) -> usize {
        self.shared.fired.load(Ordering::SeqCst)
    }

    /// How many connections the proxy accepted, in total.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Cuts every connection open right now (both sides closed, nothing more forwarded).
    /// Does not count as a rule firing.
    pub fn cut_all(&self) {
        self.shared
            .cut_all
            .send_modify(|generation| *generation += 1);
    }

    fn push_rule(&self, trigger: Trigger, action: Action, remaining: Option<usize>) {
        let first_conn = self.connections();
        let mut rules = self.shared.lock_rules();
        let id = rules.next_id;
        rules.next_id += 1;
        tracing::debug!(
            port = self.port,
            ?trigger,
            ?action,
            ?remaining,
            "fault proxy: rule armed"
        );
        rules.rules.push(Rule {
            id,
            trigger,
            action,
            remaining,
            first_conn,
        });
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("port", &self.port)
            .field("upstream", &self.upstream)
            .field("fired", &self.fired())
            .field("connections", &self.connections())
            .finish()
    }
}

struct Rule {
    id: u64,
    trigger: Trigger,
    action: Action,
    /// `None`: fires every time.
    remaining: Option<usize>,
    /// The rule applies to connections with this index or later.
    first_conn: usize,
}

#[derive(Default)]
struct Rules {
    next_id: u64,
    rules: Vec<Rule>,
}

struct Shared {
    upstream: SocketAddr,
    rules: Mutex<Rules>,
    fired: AtomicUsize,
    connections: AtomicUsize,
    cut_all: watch::Sender<u64>,
}

impl Shared {
    fn lock_rules(&self) -> MutexGuard<'_, Rules> {
        // A panic while holding this lock cannot leave the rules inconsistent: recover.
        self.rules
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Counts `line` against the line rules that apply to connection `conn` and returns the
    /// action of the rule that fires, if any.
    fn on_client_line(
        &self,
        conn: usize,
        counts: &mut HashMap<u64, usize>,
        line: &[u8],
    ) -> Option<Action> {
        let mut rules = self.lock_rules();
        let mut firing = None;
        for (index, rule) in rules.rules.iter().enumerate() {
            if rule.first_conn > conn || !rule.trigger.matches_line(line) {
                continue;
            }
            let seen = counts.entry(rule.id).or_insert(0);
            *seen += 1;
            if firing.is_none() && *seen == rule.trigger.occurrence() {
                firing = Some(index);
            }
        }
        firing.map(|index| self.consume(&mut rules, index))
    }

    /// For `len` more server bytes after `before` already sent: the byte-count rule that fires
    /// within them (the lowest threshold), as (bytes to forward before acting, action).
    fn on_server_bytes(&self, conn: usize, before: u64, len: usize) -> Option<(usize, Action)> {
        let mut rules = self.lock_rules();
        let after = before + len as u64;
        let mut firing: Option<(usize, u64)> = None;
        for (index, rule) in rules.rules.iter().enumerate() {
            let Trigger::ServerBytes(threshold) = rule.trigger else {
                continue;
            };
            if rule.first_conn > conn {
                continue;
            }
            let hit = (before < threshold && threshold <= after) || (threshold == 0 && before == 0);
            if hit && firing.is_none_or(|(_, lowest)| threshold < lowest) {
                firing = Some((index, threshold));
            }
        }
        let (index, threshold) = firing?;
        let split = usize::try_from(threshold.saturating_sub(before)).unwrap_or(len);
        Some((split.min(len), self.consume(&mut rules, index)))
    }

    fn consume(&self, rules: &mut Rules, index: usize) -> Action {
        let rule = &mut rules.rules[index];
        let action = rule.action.clone();
        tracing::info!(trigger = ?rule.trigger, ?action, "fault proxy: rule fired");
        if let Some(remaining) = &mut rule.remaining {
            *remaining = remaining.saturating_sub(1);
            if *remaining == 0 {
                rules.rules.remove(index);
            }
        }
        self.fired.fetch_add(1, Ordering::SeqCst);
        action
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: oneshot::Receiver<()>,
) {
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((client, peer)) => {
                    let index = shared.connections.fetch_add(1, Ordering::SeqCst);
                    let cut = shared.cut_all.subscribe();
                    let shared = Arc::clone(&shared);
                    tokio::spawn(async move {
                        if let Err(error) = run_connection(&shared, index, client, cut).await {
                            tracing::debug!(%peer, index, "fault proxy: connection ended: {error:#}");
                        }
                    });
                }
                Err(error) => {
                    tracing::warn!("fault proxy: accept failed: {error}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
        }
    }
}

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
}

async fn run_connection(
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
            Mode::Limited { give_up, .. } => Some(*give_up),
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
            Mode::Draining { .. } | Mode::Limited { .. } | Mode::Close => self.mode = Mode::Close,
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
            Mode::Normal => {
                self.pending.extend_from_slice(data);
                self.process_pending().await
            }
            // Held until the stall ends.
            Mode::Stalled { .. } => {
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
                Mode::Close => return Ok(()),
            }
        }
        // A rule that fired exactly at the end of the data acts on the server's next data
        // (CutMidReply with 0 bytes waits for it, see the Action docs).
        Ok(())
    }
}

/// How [`Action::CutAfterReply`] recognises the end of the reply to the triggering line.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ReplyEnd {
    /// POP3 multi-line: `-ERR` first line, or the `.` line.
    Pop3Multi,
    /// One final line: `+OK`, `-ERR`, `+ ` (SASL continuation) or SMTP `NNN ` / `NNN`.
    SingleLine,
    /// IMAP: the tagged completion `TAG ...` or a `+` continuation request.
    ImapTagged(Vec<u8>),
    /// Not recognisable: rely on the server going quiet.
    Unknown,
}

impl ReplyEnd {
    fn for_command(line: &[u8]) -> Self {
        let line = trim_line_end(line);
        if line == b"." {
            return Self::SingleLine;
        }
        let mut words = line.split(|&b| b == b' ').filter(|word| !word.is_empty());
        let Some(first) = words.next() else {
            return Self::Unknown;
        };
        let verb = first.to_ascii_uppercase();
        let has_argument = words.next().is_some();
        match verb.as_slice() {
            b"RETR" | b"TOP" | b"CAPA" => Self::Pop3Multi,
            b"LIST" | b"UIDL" if !has_argument => Self::Pop3Multi,
            b"LIST" | b"UIDL" | b"USER" | b"PASS" | b"APOP" | b"STAT" | b"DELE" | b"NOOP"
            | b"RSET" | b"QUIT" | b"STLS" | b"UTF8" | b"AUTH" | b"HELO" | b"EHLO" | b"LHLO"
            | b"MAIL" | b"RCPT" | b"DATA" | b"VRFY" | b"STARTTLS" => Self::SingleLine,
            _ if has_argument => Self::ImapTagged(first.to_vec()),
            _ => Self::Unknown,
        }
    }

    /// Whether complete reply line number `index` (0-based, line ending removed; only its
    /// first bytes are kept) ends the reply.
    fn is_last_line(&self, index: usize, line: &[u8]) -> bool {
        match self {
            Self::Pop3Multi => {
                (index == 0 && starts_with_ci(line, b"-ERR")) || (index > 0 && line == b".")
            }
            Self::SingleLine => {
                starts_with_ci(line, b"+OK")
                    || starts_with_ci(line, b"-ERR")
                    || is_continuation(line)
                    || is_final_smtp_line(line)
            }
            Self::ImapTagged(tag) => {
                is_continuation(line)
                    || (starts_with_ci(line, tag) && line.get(tag.len()) == Some(&b' '))
            }
            Self::Unknown => false,
        }
    }
}

fn is_continuation(line: &[u8]) -> bool {
    line == b"+" || line.starts_with(b"+ ")
}

fn is_final_smtp_line(line: &[u8]) -> bool {
    line.len() >= 3
        && line[..3].iter().all(u8::is_ascii_digit)
        && matches!(line.get(3), None | Some(b' '))
}

/// Watches the server's reply for [`Action::CutAfterReply`].
struct ReplyWatch {
    end: ReplyEnd,
    /// The start of the current incomplete line (enough to recognise a last line).
    partial: Vec<u8>,
    /// The last bytes of the current line (enough to see an IMAP literal `{N}`).
    tail: Vec<u8>,
    /// Bytes of an IMAP literal still to pass without looking at them.
    literal_left: usize,
    lines: usize,
    complete: bool,
}

/// The size N of an IMAP literal announced at the end of a line (`{N}` or `{N+}`).
fn literal_size(line_end: &[u8]) -> Option<usize> {
    let inner = line_end.strip_suffix(b"}")?;
    let inner = inner.strip_suffix(b"+").unwrap_or(inner);
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let digits = &inner[open + 1..];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// How much of a reply line's start [`ReplyWatch`] keeps: longer than any tag or status it
/// looks for.
const KEEP_OF_LINE: usize = 256;
/// How much of a reply line's end [`ReplyWatch`] keeps: longer than any literal marker.
const KEEP_OF_LINE_END: usize = 32;

impl ReplyWatch {
    fn new(end: ReplyEnd) -> Self {
        Self {
            end,
            partial: Vec::new(),
            tail: Vec::new(),
            literal_left: 0,
            lines: 0,
            complete: false,
        }
    }

    fn keep(&mut self, piece: &[u8]) {
        let room = KEEP_OF_LINE.saturating_sub(self.partial.len());
        self.partial
            .extend_from_slice(&piece[..piece.len().min(room)]);
        self.tail.extend_from_slice(piece);
        if self.tail.len() > KEEP_OF_LINE_END {
            self.tail.drain(..self.tail.len() - KEEP_OF_LINE_END);
        }
    }

    /// Scans server data; returns how many bytes belong to the reply (all of them, or up to
    /// and including the reply's last line).
    fn feed(&mut self, data: &[u8]) -> usize {
        let mut start = 0;
        while start < data.len() {
            if self.literal_left > 0 {
                // Literal bytes are part of the current line; only their length matters.
                let skip = self.literal_left.min(data.len() - start);
                self.literal_left -= skip;
                self.tail.clear();
                start += skip;
                continue;
            }
            let Some(offset) = data[start..].iter().position(|&b| b == b'\n') else {
                self.keep(&data[start..]);
                return data.len();
            };
            let end = start + offset + 1;
            self.keep(&data[start..end]);
            let line = std::mem::take(&mut self.partial);
            let tail = std::mem::take(&mut self.tail);
            if matches!(self.end, ReplyEnd::ImapTagged(_))
                && let Some(size) = literal_size(trim_line_end(&tail))
            {
                // `* 1 FETCH (BODY[] {N}`: the line goes on after N bytes of literal data.
                self.literal_left = size;
                self.partial = line;
                start = end;
                continue;
            }
            let last = self.end.is_last_line(self.lines, trim_line_end(&line));
            self.lines += 1;
            start = end;
            if last {
                self.complete = true;
                return end;
            }
        }
        data.len()
    }

    /// How long a quiet server means the reply is over, once a complete line arrived.
    fn quiet(&self) -> Option<Duration> {
        match (self.lines, &self.end) {
            (0, _) => None,
            (_, ReplyEnd::Unknown) => Some(REPLY_QUIET),
            _ => Some(REPLY_QUIET_EXPECTING_END),
        }
    }
}

fn trim_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn starts_with_ci(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.len() >= needle.len() && haystack[..needle.len()].eq_ignore_ascii_case(needle)
}

fn contains_ci(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty()
        || haystack
            .windows(needle.len())
            .any(|window| window.eq_ignore_ascii_case(needle))
}

/// The text after the first word and the spaces that follow it (an IMAP command after its tag).
fn after_tag(line: &[u8]) -> &[u8] {
    match line.iter().position(|&b| b == b' ') {
        Some(space) => {
            let rest = &line[space..];
            let start = rest.iter().position(|&b| b != b' ').unwrap_or(rest.len());
            &rest[start..]
        }
        None => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_triggers_match_case_insensitively() {
        assert!(Trigger::line("RETR", 1).matches_line(b"retr 3\r\n"));
        assert!(!Trigger::line("RETR", 1).matches_line(b"LIST\r\n"));
        assert!(Trigger::command("UID FETCH", 1).matches_line(b"a3 uid fetch 1:* BODY[]\r\n"));
        assert!(!Trigger::command("UID FETCH", 1).matches_line(b"UID FETCH 1\r\n"));
        assert!(Trigger::contains("body[]", 1).matches_line(b"a3 UID FETCH 7 (BODY[])\r\n"));
        assert!(Trigger::smtp_end_of_data(1).matches_line(b".\r\n"));
        assert!(Trigger::smtp_end_of_data(1).matches_line(b".\n"));
        assert!(!Trigger::smtp_end_of_data(1).matches_line(b"..\r\n"));
        assert!(!Trigger::ServerBytes(3).matches_line(b"RETR 1\r\n"));
    }

    fn watch(command: &[u8], reply: &[u8]) -> (bool, usize) {
        let mut watch = ReplyWatch::new(ReplyEnd::for_command(command));
        let mut taken = 0;
        // Byte by byte, to prove lines split across reads are recognised.
        for byte in reply {
            if watch.complete {
                break;
            }
            taken += watch.feed(std::slice::from_ref(byte));
        }
        (watch.complete, taken)
    }

    #[test]
    fn recognises_the_end_of_replies() {
        let retr = b"+OK\r\n250 looks like smtp\r\n..stuffed\r\n.\r\nNEXT";
        assert_eq!(watch(b"RETR 1\r\n", retr), (true, retr.len() - 4));
        assert_eq!(
            watch(b"retr 1\r\n", b"-ERR no such message\r\n"),
            (true, 22)
        );
        assert_eq!(watch(b"LIST\r\n", b"+OK\r\n1 10\r\n"), (false, 11));
        assert_eq!(watch(b"LIST 1\r\n", b"+OK 1 10\r\n"), (true, 10));
        assert_eq!(watch(b"DELE 1\r\n", b"+OK\r\n"), (true, 5));
        assert_eq!(watch(b".\r\n", b"250 2.0.0 queued\r\n"), (true, 18));
        assert_eq!(watch(b"EHLO x\r\n", b"250-a\r\n250 b\r\n"), (true, 14));
        // Literal contents that look like the end are skipped.
        let fetch = b"* 1 FETCH (BODY[] {18}\r\na3 OK no\r\n+ diff\r\n)\r\na3 OK done\r\nX";
        assert_eq!(
            watch(b"a3 UID FETCH 1 BODY[]\r\n", fetch),
            (true, fetch.len() - 1)
        );
        assert_eq!(literal_size(b"* 1 FETCH (BODY[] {123}"), Some(123));
        assert_eq!(literal_size(b"a1 APPEND x {5+}"), Some(5));
        assert_eq!(literal_size(b"{}"), None);
        assert_eq!(literal_size(b"{1a}"), None);
        assert_eq!(watch(b"a4 IDLE\r\n", b"+ idling\r\n"), (true, 10));
        assert_eq!(watch(b"DONE\r\n", b"a4 OK\r\n"), (false, 7));
        assert_eq!(
            ReplyEnd::for_command(b"a4 OK\r\n"),
            ReplyEnd::ImapTagged(b"a4".to_vec())
        );
    }

    #[test]
    fn after_tag_skips_the_first_word() {
        assert_eq!(after_tag(b"a1  LOGIN x y"), b"LOGIN x y");
        assert_eq!(after_tag(b"NOOP"), b"");
    }

    fn shared() -> Shared {
        Shared {
            upstream: SocketAddr::from(([127, 0, 0, 1], 1)),
            rules: Mutex::new(Rules::default()),
            fired: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
            cut_all: watch::channel(0).0,
        }
    }

    fn push(shared: &Shared, trigger: Trigger, remaining: Option<usize>, first_conn: usize) {
        let mut rules = shared.lock_rules();
        let id = rules.next_id;
        rules.next_id += 1;
        rules.rules.push(Rule {
            id,
            trigger,
            action: Action::CutBeforeForwarding,
            remaining,
            first_conn,
        });
    }

    #[test]
    fn occurrence_counts_per_connection_and_rule_fires_once() {
        let shared = shared();
        push(&shared, Trigger::line("RETR", 2), Some(1), 0);
        let mut a = HashMap::new();
        let mut b = HashMap::new();
        assert!(shared.on_client_line(0, &mut a, b"RETR 1\r\n").is_none());
        assert!(shared.on_client_line(1, &mut b, b"RETR 1\r\n").is_none());
        assert!(shared.on_client_line(0, &mut a, b"RETR 2\r\n").is_some());
        assert!(shared.on_client_line(1, &mut b, b"RETR 2\r\n").is_none());
        assert_eq!(shared.fired.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn rules_skip_connections_accepted_before_arming() {
        let shared = shared();
        push(&shared, Trigger::line("QUIT", 1), None, 3);
        assert!(
            shared
                .on_client_line(2, &mut HashMap::new(), b"QUIT\r\n")
                .is_none()
        );
        assert!(
            shared
                .on_client_line(3, &mut HashMap::new(), b"QUIT\r\n")
                .is_some()
        );
        assert!(
            shared
                .on_client_line(4, &mut HashMap::new(), b"QUIT\r\n")
                .is_some()
        );
    }

    #[test]
    fn server_bytes_split_at_the_threshold() {
        let shared = shared();
        push(&shared, Trigger::ServerBytes(10), Some(1), 0);
        assert!(shared.on_server_bytes(0, 0, 4).is_none());
        let (split, _) = shared.on_server_bytes(0, 4, 20).expect("fires");
        assert_eq!(split, 6);
        assert!(shared.on_server_bytes(0, 24, 20).is_none());

        push(&shared, Trigger::ServerBytes(0), Some(1), 0);
        let (split, _) = shared
            .on_server_bytes(0, 0, 5)
            .expect("fires at first data");
        assert_eq!(split, 0);
    }
}
