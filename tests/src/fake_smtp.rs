//! FakeSmtp: a scripted SMTP server on 127.0.0.1 that produces the faults a real Postfix won't
//! produce on demand (a 451 at MAIL, a 552 after the data, a reply that never comes, a dropped
//! connection) and records every message it accepts, so tests can assert exactly-once delivery.
//!
//! It speaks enough ESMTP for lettre's client: EHLO (8BITMIME, SIZE, SMTPUTF8; no AUTH, no
//! PIPELINING; STARTTLS only offered while a [`Step::StartTls`] fault is queued, and never
//! carried out), HELO, MAIL FROM with parameters, RCPT TO, DATA with dot-unstuffing, RSET,
//! NOOP, VRFY, QUIT. One task per connection, any number of connections at once, all on
//! the server's own thread and tokio runtime ([`crate::scripted`]); dropping the server stops it.
//!
//! ```no_run
//! # fn demo() -> anyhow::Result<()> {
//! use mailpull_tests::fake_smtp::{FakeSmtp, Fault, Step};
//! let smtp = FakeSmtp::start()?;
//! smtp.fail_next(Step::EndOfData, Fault::Reply("451 4.3.0 try later".into()), 1);
//! // ... deliver through 127.0.0.1:smtp.port() ...
//! assert_eq!(smtp.accepted().len(), 1);
//! # Ok(()) }
//! ```

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;

use crate::scripted::{ScriptedServer, lock, read_line, trim_line_end};

/// The size the server advertises in its EHLO `SIZE` line.
pub const ADVERTISED_SIZE: u64 = 100 * 1024 * 1024;

/// A command line longer than this is refused and the connection closed.
const MAX_COMMAND_LINE: u64 = 4096;
/// A message data line longer than this ends the connection (nothing recorded).
const MAX_DATA_LINE: u64 = 1024 * 1024;

/// Where in a transaction a scripted fault strikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// The reply to `MAIL FROM`.
    Mail,
    /// The replies to the transaction's `RCPT TO` commands (all of them: the fault is taken
    /// at the transaction's first RCPT and applies to each RCPT of that transaction).
    Rcpt,
    /// The reply to the `DATA` command (instead of `354`).
    Data,
    /// The reply after the final `.` of the message data.
    EndOfData,
    /// The reply to `NOOP` (lettre's check of a pooled connection).
    Noop,
    /// The reply to `STARTTLS`. While such a fault is queued, EHLO offers STARTTLS (the
    /// server never speaks TLS: it only answers, hangs or drops).
    StartTls,
}

/// What happens at a [`Step`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Send this reply line (e.g. `"451 4.3.0 try later"`) instead of the normal one. A 2xx
    /// reply counts as success (at EndOfData the message is then recorded as accepted); a
    /// `421` reply is followed by closing the connection, as SMTP says.
    Reply(String),
    /// Never answer: read and ignore everything until the client closes.
    Hang,
    /// Send this reply line, then never answer again (e.g. `"220 Ready to start TLS"` and
    /// no TLS handshake).
    ReplyThenHang(String),
    /// Close the connection without answering.
    Drop,
}

/// A message the server answered with 2xx after its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The reverse path without angle brackets (empty for the null sender `<>`).
    pub mail_from: String,
    /// The recipients that were accepted, in order, without angle brackets.
    pub rcpt_to: Vec<String>,
    /// The message as the client meant it: dot-unstuffed, line endings as received, without
    /// the final `.` line.
    pub data: Vec<u8>,
}

/// A scripted SMTP server. See the module docs.
pub struct FakeSmtp {
    server: ScriptedServer,
    state: Arc<Mutex<State>>,
}

impl FakeSmtp {
    /// Starts the server on 127.0.0.1 (a free port), on its own thread.
    pub fn start() -> anyhow::Result<Self> {
        let state = Arc::new(Mutex::new(State::default()));
        let server_state = Arc::clone(&state);
        let server = ScriptedServer::start("fake SMTP", move |stream, _peer| {
            lock(&server_state).connections += 1;
            let state = Arc::clone(&server_state);
            async move { session(stream, &state).await }
        })?;
        tracing::debug!(port = server.port(), "fake SMTP server started");
        Ok(Self { server, state })
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// The next `times` transactions that reach `step` get `fault`. Calls queue up per step:
    /// a second call's faults apply after the first call's are used up.
    pub fn fail_next(&self, step: Step, fault: Fault, times: usize) {
        if times > 0 {
            lock(&self.state)
                .faults
                .entry(step)
                .or_default()
                .push_back((fault, times));
        }
    }

    /// Every `RCPT TO` for `address` (compared case-insensitively) is answered with `reply`
    /// (e.g. `"550 5.1.1 no such user"`); a 2xx reply accepts it. A scripted [`Step::Rcpt`]
    /// fault takes precedence.
    pub fn fail_rcpt(&self, address: &str, reply: &str) {
        lock(&self.state)
            .rcpt_replies
            .insert(address.to_ascii_lowercase(), reply.to_owned());
    }

    /// Forgets every scripted fault (queued [`FakeSmtp::fail_next`] faults and
    /// [`FakeSmtp::fail_rcpt`] replies).
    pub fn clear_faults(&self) {
        let mut state = lock(&self.state);
        state.faults.clear();
        state.rcpt_replies.clear();
    }

    /// Every message answered with 2xx after its data, in order.
    pub fn accepted(&self) -> Vec<Accepted> {
        lock(&self.state).accepted.clone()
    }

    /// Messages whose data arrived completely but that were never answered (a [`Fault::Hang`]
    /// or [`Fault::Drop`] at [`Step::EndOfData`]): a real server might have delivered them.
    pub fn unanswered(&self) -> Vec<Accepted> {
        lock(&self.state).unanswered.clone()
    }

    /// How many transactions began: `MAIL FROM` commands received outside a transaction,
    /// whatever their reply.
    pub fn transactions(&self) -> usize {
        lock(&self.state).transactions
    }

    /// How many connections the server accepted.
    pub fn connections(&self) -> usize {
        lock(&self.state).connections
    }
}

impl std::fmt::Debug for FakeSmtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeSmtp")
            .field("port", &self.server.port())
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct State {
    faults: HashMap<Step, VecDeque<(Fault, usize)>>,
    rcpt_replies: HashMap<String, String>,
    accepted: Vec<Accepted>,
    unanswered: Vec<Accepted>,
    transactions: usize,
    connections: usize,
}

impl State {
    fn take_fault(&mut self, step: Step) -> Option<Fault> {
        let queue = self.faults.get_mut(&step)?;
        let (fault, times) = queue.front_mut()?;
        let fault = fault.clone();
        *times -= 1;
        if *times == 0 {
            queue.pop_front();
        }
        tracing::info!(?step, ?fault, "fake SMTP: scripted fault");
        Some(fault)
    }
}

struct Transaction {
    mail_from: String,
    rcpt_to: Vec<String>,
    /// The scripted RCPT fault of this transaction, taken at its first RCPT.
    rcpt_fault: Option<Option<Fault>>,
}

/// What a session does after a step.
enum Next {
    Continue,
    Close,
    Hang,
}

async fn session(stream: TcpStream, state: &Mutex<State>) -> anyhow::Result<()> {
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    reply(&mut write, "220 fake-smtp.test ESMTP FakeSmtp ready").await?;
    let mut transaction: Option<Transaction> = None;
    let mut line = Vec::new();
    loop {
        let n = read_line(&mut reader, MAX_COMMAND_LINE, &mut line).await?;
        if n == 0 {
            return Ok(());
        }
        if !line.ends_with(b"\n") {
            reply(&mut write, "500 5.5.2 line too long").await?;
            return Ok(());
        }
        let command = String::from_utf8_lossy(trim_line_end(&line)).into_owned();
        let (verb, args) = split_verb(&command);
        let next = match verb.as_str() {
            "EHLO" => {
                transaction = None;
                let starttls = lock(state)
                    .faults
                    .get(&Step::StartTls)
                    .is_some_and(|queue| !queue.is_empty());
                let reply_text = format!(
                    "250-fake-smtp.test greets {}\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n{}250 SIZE {ADVERTISED_SIZE}",
                    args.trim(),
                    if starttls { "250-STARTTLS\r\n" } else { "" }
                );
                reply(&mut write, &reply_text).await?;
                Next::Continue
            }
            "HELO" => {
                transaction = None;
                reply(&mut write, "250 fake-smtp.test").await?;
                Next::Continue
            }
            "MAIL" => on_mail(&mut write, state, &mut transaction, args).await?,
            "RCPT" => on_rcpt(&mut write, state, &mut transaction, args).await?,
            "DATA" => on_data(&mut reader, &mut write, state, &mut transaction).await?,
            "RSET" => {
                transaction = None;
                reply(&mut write, "250 2.0.0 Ok").await?;
                Next::Continue
            }
            "NOOP" => {
                let fault = lock(state).take_fault(Step::Noop);
                apply_fault(&mut write, fault, "250 2.0.0 Ok").await?.0
            }
            "STARTTLS" if lock(state).faults.contains_key(&Step::StartTls) => {
                let fault = lock(state).take_fault(Step::StartTls);
                apply_fault(&mut write, fault, "502 5.5.1 Not implemented")
                    .await?
                    .0
            }
            "VRFY" => {
                reply(&mut write, "252 2.0.0 Cannot verify, will try").await?;
                Next::Continue
            }
            "QUIT" => {
                reply(&mut write, "221 2.0.0 Bye").await?;
                Next::Close
            }
            "STARTTLS" | "AUTH" | "BDAT" => {
                reply(&mut write, "502 5.5.1 Not implemented").await?;
                Next::Continue
            }
            _ => {
                reply(&mut write, "500 5.5.2 Command not recognized").await?;
                Next::Continue
            }
        };
        match next {
            Next::Continue => {}
            Next::Close => return Ok(()),
            Next::Hang => return hang(reader).await,
        }
    }
}

async fn on_mail(
    write: &mut OwnedWriteHalf,
    state: &Mutex<State>,
    transaction: &mut Option<Transaction>,
    args: &str,
) -> anyhow::Result<Next> {
    if transaction.is_some() {
        reply(write, "503 5.5.1 Error: nested MAIL command").await?;
        return Ok(Next::Continue);
    }
    let Some(mail_from) = parse_path(args, "FROM:") else {
        reply(write, "501 5.5.4 Syntax: MAIL FROM:<address>").await?;
        return Ok(Next::Continue);
    };
    let fault = {
        let mut state = lock(state);
        state.transactions += 1;
        state.take_fault(Step::Mail)
    };
    let (next, ok) = apply_fault(write, fault, "250 2.1.0 Ok").await?;
    if ok {
        *transaction = Some(Transaction {
            mail_from,
            rcpt_to: Vec::new(),
            rcpt_fault: None,
        });
    }
    Ok(next)
}

async fn on_rcpt(
    write: &mut OwnedWriteHalf,
    state: &Mutex<State>,
    transaction: &mut Option<Transaction>,
    args: &str,
) -> anyhow::Result<Next> {
    let Some(txn) = transaction else {
        reply(write, "503 5.5.1 Error: need MAIL command").await?;
        return Ok(Next::Continue);
    };
    let Some(address) = parse_path(args, "TO:") else {
        reply(write, "501 5.5.4 Syntax: RCPT TO:<address>").await?;
        return Ok(Next::Continue);
    };
    let (fault, configured) = {
        let mut state = lock(state);
        let fault = txn
            .rcpt_fault
            .get_or_insert_with(|| state.take_fault(Step::Rcpt))
            .clone();
        let configured = state
            .rcpt_replies
            .get(&address.to_ascii_lowercase())
            .cloned();
        (fault, configured)
    };
    let fault = fault.or(configured.map(Fault::Reply));
    let (next, ok) = apply_fault(write, fault, "250 2.1.5 Ok").await?;
    if ok {
        txn.rcpt_to.push(address);
    }
    Ok(next)
}

async fn on_data<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    write: &mut OwnedWriteHalf,
    state: &Mutex<State>,
    transaction: &mut Option<Transaction>,
) -> anyhow::Result<Next> {
    let Some(txn) = transaction else {
        reply(write, "503 5.5.1 Error: need MAIL command").await?;
        return Ok(Next::Continue);
    };
    if txn.rcpt_to.is_empty() {
        reply(write, "554 5.5.1 Error: no valid recipients").await?;
        return Ok(Next::Continue);
    }
    let fault = lock(state).take_fault(Step::Data);
    if let Some(fault) = fault {
        let go_on = matches!(&fault, Fault::Reply(text) if text.starts_with("354"));
        let (next, _) = apply_fault(write, Some(fault), "").await?;
        if !go_on {
            return Ok(next);
        }
    } else {
        reply(write, "354 End data with <CR><LF>.<CR><LF>").await?;
    }

    let mut data = Vec::new();
    let mut line = Vec::new();
    loop {
        let n = read_line(reader, MAX_DATA_LINE, &mut line).await?;
        if n == 0 || !line.ends_with(b"\n") {
            // Connection lost (or an absurd line) in the middle of the data: nothing recorded.
            return Ok(Next::Close);
        }
        if trim_line_end(&line) == b"." {
            break;
        }
        let unstuffed = line.strip_prefix(b".").unwrap_or(&line);
        data.extend_from_slice(unstuffed);
    }
    let Some(txn) = transaction.take() else {
        return Ok(Next::Close);
    };
    let message = Accepted {
        mail_from: txn.mail_from,
        rcpt_to: txn.rcpt_to,
        data,
    };
    // Recorded before the reply goes out, like a real server that queues, then says 250: a
    // client that saw the reply always finds the message in accepted().
    let fault = {
        let mut state = lock(state);
        let fault = state.take_fault(Step::EndOfData);
        match &fault {
            None => state.accepted.push(message),
            Some(Fault::Reply(text) | Fault::ReplyThenHang(text)) if text.starts_with('2') => {
                state.accepted.push(message)
            }
            Some(Fault::Hang | Fault::Drop) => state.unanswered.push(message),
            Some(Fault::Reply(_) | Fault::ReplyThenHang(_)) => {}
        }
        fault
    };
    let (next, _) = apply_fault(write, fault, "250 2.0.0 Ok: queued").await?;
    Ok(next)
}

/// Answers with the scripted fault, or `normal` when there is none. Returns what to do next
/// and whether the step succeeded (2xx).
async fn apply_fault(
    write: &mut OwnedWriteHalf,
    fault: Option<Fault>,
    normal: &str,
) -> anyhow::Result<(Next, bool)> {
    match fault {
        None => {
            reply(write, normal).await?;
            Ok((Next::Continue, true))
        }
        Some(Fault::Reply(text)) => {
            reply(write, &text).await?;
            let next = if text.starts_with("421") {
                Next::Close
            } else {
                Next::Continue
            };
            Ok((next, text.starts_with('2')))
        }
        Some(Fault::ReplyThenHang(text)) => {
            reply(write, &text).await?;
            Ok((Next::Hang, false))
        }
        Some(Fault::Hang) => Ok((Next::Hang, false)),
        Some(Fault::Drop) => Ok((Next::Close, false)),
    }
}

/// Never answers again: reads and ignores input until the client closes.
async fn hang<R: AsyncRead + Unpin>(mut reader: R) -> anyhow::Result<()> {
    let mut sink = [0u8; 4096];
    while reader.read(&mut sink).await? > 0 {}
    Ok(())
}

async fn reply(write: &mut OwnedWriteHalf, text: &str) -> anyhow::Result<()> {
    let mut bytes = text.trim_end_matches(['\r', '\n']).as_bytes().to_vec();
    bytes.extend_from_slice(b"\r\n");
    write.write_all(&bytes).await.context("writing a reply")?;
    Ok(())
}

/// Splits a command line into its upper-cased verb and the rest.
fn split_verb(command: &str) -> (String, &str) {
    let command = command.trim_start();
    match command.split_once(' ') {
        Some((verb, rest)) => (verb.to_ascii_uppercase(), rest),
        None => (command.to_ascii_uppercase(), ""),
    }
}

/// Parses `FROM:<a@b> PARAMS` (or `TO:`) into the address without brackets; tolerates a space
/// after the colon and a missing pair of brackets.
fn parse_path(args: &str, keyword: &str) -> Option<String> {
    let args = args.trim_start();
    let head = args.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = args.get(keyword.len()..)?.trim_start();
    if let Some(inner) = rest.strip_prefix('<') {
        let end = inner.find('>')?;
        Some(inner[..end].to_owned())
    } else {
        let address = rest.split_whitespace().next()?;
        Some(address.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_paths_with_parameters_and_sloppy_spacing() {
        assert_eq!(
            parse_path("FROM:<a@b.test> BODY=8BITMIME SIZE=12", "FROM:").as_deref(),
            Some("a@b.test")
        );
        assert_eq!(parse_path("from: <>", "FROM:").as_deref(), Some(""));
        assert_eq!(
            parse_path("TO:c@d.test", "TO:").as_deref(),
            Some("c@d.test")
        );
        assert_eq!(parse_path("TO:<c@d.test", "TO:"), None);
        assert_eq!(parse_path("FROM:<a@b>", "TO:"), None);
        assert_eq!(parse_path("", "TO:"), None);
        assert_eq!(parse_path("TÖ:x", "TO:"), None);
    }

    #[test]
    fn splits_verbs_case_insensitively() {
        assert_eq!(split_verb("mail FROM:<a>"), ("MAIL".to_owned(), "FROM:<a>"));
        assert_eq!(split_verb("quit"), ("QUIT".to_owned(), ""));
    }

    #[test]
    fn faults_queue_per_step() {
        let mut state = State::default();
        state
            .faults
            .entry(Step::Mail)
            .or_default()
            .push_back((Fault::Drop, 2));
        state
            .faults
            .entry(Step::Mail)
            .or_default()
            .push_back((Fault::Hang, 1));
        assert_eq!(state.take_fault(Step::Rcpt), None);
        assert_eq!(state.take_fault(Step::Mail), Some(Fault::Drop));
        assert_eq!(state.take_fault(Step::Mail), Some(Fault::Drop));
        assert_eq!(state.take_fault(Step::Mail), Some(Fault::Hang));
        assert_eq!(state.take_fault(Step::Mail), None);
    }
}
