//! FaultProxy: a TCP proxy in front of a real mail server (POP3, IMAP or SMTP on a plain port)
//! that passes everything through until a scripted rule makes it misbehave — cut the
//! connection before or after a client command, in the middle of a reply, or stall it.
//!
//! The proxy runs on its own thread with its own tokio runtime ([`crate::scripted`]), so it
//! works whether the client runs in-process (on any runtime) or as a subprocess. Dropping the
//! proxy stops it and closes every connection it carries.
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
//!
//! Layout: `script` (the public [`Trigger`] and [`Action`], the reply timeouts), `rules` (the
//! armed rules every connection consults), `conn` (one proxied connection), `reply` (seeing the
//! end of a server reply for [`Action::CutAfterReply`]).

mod conn;
mod reply;
mod rules;
mod script;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::Context as _;

use crate::scripted::ScriptedServer;
use conn::run_connection;
use rules::Shared;

pub use script::{Action, REPLY_GIVE_UP, REPLY_QUIET, REPLY_QUIET_EXPECTING_END, Trigger};

/// A TCP proxy on 127.0.0.1 that misbehaves on a script. See the module docs.
pub struct FaultProxy {
    server: ScriptedServer,
    shared: Arc<Shared>,
}

impl FaultProxy {
    /// Starts a proxy on 127.0.0.1 (a free port) in front of `upstream`, on its own thread.
    /// It passes everything through until a rule is armed.
    pub fn start(upstream: SocketAddr) -> anyhow::Result<Self> {
        let shared = Arc::new(Shared::new(upstream));
        let server_shared = Arc::clone(&shared);
        let server = ScriptedServer::start("fault proxy", move |client, _peer| {
            let index = server_shared.connections.fetch_add(1, Ordering::SeqCst);
            let cut = server_shared.cut_all.subscribe();
            let shared = Arc::clone(&server_shared);
            async move {
                run_connection(&shared, index, client, cut)
                    .await
                    .with_context(|| format!("connection {index}"))
            }
        })?;
        tracing::debug!(port = server.port(), %upstream, "fault proxy started");
        Ok(Self { server, shared })
    }

    /// The proxy's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// The proxy's address, `127.0.0.1:port`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port()))
    }

    /// The server the proxy forwards to.
    pub fn upstream(&self) -> SocketAddr {
        self.shared.upstream
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
        self.shared.disarm();
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
        tracing::debug!(
            port = self.port(),
            ?trigger,
            ?action,
            ?remaining,
            "fault proxy: rule armed"
        );
        self.shared
            .push_rule(trigger, action, remaining, first_conn);
    }
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("port", &self.port())
            .field("upstream", &self.upstream())
            .field("fired", &self.fired())
            .field("connections", &self.connections())
            .finish()
    }
}
