//! Proves the fault-injection tools themselves: FaultProxy in front of a tiny POP3-like line
//! server started here, and FakeSmtp driven by a raw client and by lettre.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mailpull_tests::fake_smtp::{Accepted, FakeSmtp, Fault, Step};
use mailpull_tests::proxy::{Action, FaultProxy, Trigger};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

const WAIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// A tiny POP3-like upstream: greets, answers each line with "+OK <line>", answers "RETR n" with
// a multi-line body sent in two parts (100 ms apart unless told otherwise), answers QUIT and closes. It logs
// "c<conn>: <line>" for every line and "c<conn>: <eof>" when the client side closes.

type Log = Arc<Mutex<Vec<String>>>;

struct Upstream {
    addr: SocketAddr,
    log: Log,
}

impl Upstream {
    async fn start() -> Upstream {
        Self::start_with_gap(Duration::from_millis(100)).await
    }

    async fn start_with_gap(gap: Duration) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind upstream");
        let addr = listener.local_addr().expect("upstream addr");
        let log: Log = Arc::default();
        let task_log = Arc::clone(&log);
        tokio::spawn(async move {
            let mut next = 0usize;
            while let Ok((stream, _)) = listener.accept().await {
                let log = Arc::clone(&task_log);
                let conn = next;
                next += 1;
                tokio::spawn(upstream_session(stream, conn, log, gap));
            }
        });
        Upstream { addr, log }
    }

    fn lines(&self) -> Vec<String> {
        self.log.lock().expect("log").clone()
    }

    async fn wait_for(&self, entry: &str) {
        let deadline = Instant::now() + WAIT;
        while !self.lines().iter().any(|line| line == entry) {
            assert!(
                Instant::now() < deadline,
                "upstream never logged {entry:?}: {:?}",
                self.lines()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn retr_reply(n: &str) -> Vec<u8> {
    let mut reply = b"+OK message follows\r\n".to_vec();
    for i in 0..200 {
        reply.extend_from_slice(format!("line {i} of message {n}\r\n").as_bytes());
    }
    reply.extend_from_slice(b".\r\n");
    reply
}

async fn upstream_session(stream: TcpStream, conn: usize, log: Log, gap: Duration) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    if write.write_all(b"+OK ready\r\n").await.is_err() {
        return;
    }
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let text = line.trim_end().to_owned();
        log.lock().expect("log").push(format!("c{conn}: {text}"));
        let upper = text.to_ascii_uppercase();
        let result = if let Some(n) = upper.strip_prefix("RETR ") {
            let reply = retr_reply(n);
            let (first, second) = reply.split_at(reply.len() / 2);
            let sent = write.write_all(first).await;
            tokio::time::sleep(gap).await;
            match sent {
                Ok(()) => write.write_all(second).await,
                Err(error) => Err(error),
            }
        } else if upper == "QUIT" {
            let _ = write.write_all(b"+OK bye\r\n").await;
            break;
        } else {
            write.write_all(format!("+OK {text}\r\n").as_bytes()).await
        };
        if result.is_err() {
            break;
        }
    }
    log.lock().expect("log").push(format!("c{conn}: <eof>"));
}

// ---------------------------------------------------------------------------------------------
// A raw line client.

struct Client {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Client {
    async fn connect(port: u16) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        let (read, writer) = stream.into_split();
        Client {
            reader: BufReader::new(read),
            writer,
        }
    }

    async fn send(&mut self, line: &str) {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .expect("send");
    }

    async fn line(&mut self) -> String {
        let mut line = String::new();
        let n = tokio::time::timeout(WAIT, self.reader.read_line(&mut line))
            .await
            .expect("reply in time")
            .expect("read");
        assert!(n > 0, "connection closed while a line was expected");
        line
    }

    /// Reads a POP3 multi-line reply up to and including its ".\r\n".
    async fn multiline(&mut self) -> Vec<u8> {
        let mut all = Vec::new();
        loop {
            let line = self.line().await;
            all.extend_from_slice(line.as_bytes());
            if line == ".\r\n" {
                return all;
            }
        }
    }

    /// Reads everything until the proxy closes (EOF or reset), within WAIT.
    async fn rest(&mut self) -> Vec<u8> {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let read = tokio::time::timeout(WAIT, self.reader.read(&mut buf))
                .await
                .expect("connection closed in time");
            match read {
                Ok(0) | Err(_) => return all,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
    }

    async fn cmd(&mut self, line: &str) -> String {
        self.send(line).await;
        self.line().await
    }
}

// ---------------------------------------------------------------------------------------------
// FaultProxy

#[tokio::test]
async fn proxy_passes_everything_through() {
    let upstream = Upstream::start().await;
    let proxy = FaultProxy::start(upstream.addr).expect("proxy");
    let mut client = Client::connect(proxy.port()).await;
    assert_eq!(client.line().await, "+OK ready\r\n");
    assert_eq!(client.cmd("USER alice").await, "+OK USER alice\r\n");
    client.send("RETR 1").await;
    assert_eq!(client.multiline().await, retr_reply("1"));
    assert_eq!(client.cmd("QUIT").await, "+OK bye\r\n");
    assert_eq!(client.rest().await, b"");
    upstream.wait_for("c0: <eof>").await;
    assert_eq!(
        upstream.lines(),
        ["c0: USER alice", "c0: RETR 1", "c0: QUIT", "c0: <eof>"]
    );
    assert_eq!(proxy.connections(), 1);
    assert_eq!(proxy.fired(), 0);
}

#[tokio::test]
async fn proxy_cuts_before_forwarding_the_second_retr_once() {
    let upstream = Upstream::start().await;
    let proxy = FaultProxy::start(upstream.addr).expect("proxy");
    proxy.arm(Trigger::line("RETR", 2), Action::CutBeforeForwarding);

    let mut client = Client::connect(proxy.port()).await;
    client.line().await;
    client.send("RETR 1").await;
    assert_eq!(client.multiline().await, retr_reply("1"));
    client.send("retr 2").await;
    assert_eq!(client.rest().await, b"", "nothing after the cut");
    upstream.wait_for("c0: <eof>").await;
    assert_eq!(upstream.lines(), ["c0: RETR 1", "c0: <eof>"]);
    assert_eq!(proxy.fired(), 1);

    // The rule fired once and disarmed: the next connection passes both RETRs.
    let mut client = Client::connect(proxy.port()).await;
    client.line().await;
    client.send("RETR 1").await;
    assert_eq!(client.multiline().await, retr_reply("1"));
    client.send("RETR 2").await;
    assert_eq!(client.multiline().await, retr_reply("2"));
    upstream.wait_for("c1: RETR 2").await;
    assert_eq!(proxy.fired(), 1);
    assert_eq!(proxy.connections(), 2);
}

#[tokio::test]
async fn proxy_cuts_in_the_middle_of_a_reply() {
    let upstream = Upstream::start().await;
    let proxy = FaultProxy::start(upstream.addr).expect("proxy");
    proxy.arm(
        Trigger::line("RETR", 1),
        Action::CutMidReply { after_bytes: 100 },
    );
    let mut client = Client::connect(proxy.port()).await;
    client.line().await;
    client.send("RETR 7").await;
    let got = client.rest().await;
    assert_eq!(got, retr_reply("7")[..100]);
    upstream.wait_for("c0: RETR 7").await;
    assert_eq!(proxy.fired(), 1);
}

#[tokio::test]
async fn proxy_cuts_after_a_multiline_reply_and_drops_the_next_line() {
    // A pause longer than REPLY_QUIET in the middle of the body: the proxy knows a RETR reply
    // ends with its "." line and waits for it.
    let upstream = Upstream::start_with_gap(Duration::from_millis(600)).await;
    let proxy = FaultProxy::start(upstream.addr).expect("proxy");
    proxy.arm(Trigger::line("RETR", 1), Action::CutAfterReply);
    let mut client = Client::connect(proxy.port()).await;
    client.line().await;
    // DELE is pipelined right behind RETR: it must never reach the server.
    client
        .writer
        .write_all(b"RETR 3\r\nDELE 3\r\n")
        .await
        .expect("send");
    let started = Instant::now();
    assert_eq!(client.rest().await, retr_reply("3"));
    // Cut as soon as the "." line arrived, not after a quiet period.
    assert!(started.elapsed() < Duration::from_millis(600 + 1500));
    upstream.wait_for("c0: <eof>").await;
    assert_eq!(upstream.lines(), ["c0: RETR 3", "c0: <eof>"]);
}

#[tokio::test]
async fn proxy_cuts_after_an_unrecognised_reply_once_the_server_is_quiet() {
    let upstream = Upstream::start().await;
    let proxy = FaultProxy::start(upstream.addr).expect("proxy");
    // ServerBytes(0) fires on the greeting; a greeting's end is not recognisable.
    proxy.arm(Trigger::ServerBytes(0), Action::CutAfterReply);
    let mut client = Client::connect(proxy.port()).await;
    let started = Instant::now();
    assert_eq!(client.rest().await, b"+OK ready\r\n");
    assert!(started.elapsed() >= mailpull_tests::proxy::REPLY_QUIET);
    upstream.wait_for("c0: <eof>").await;
    assert_eq!(proxy.fired(), 1);
}

#[tokio::test]
async fn proxy_stalls_a_command_then_carries_on() {
    let upstream = Upstream::start().await;
    let proxy = FaultProxy::start(upstream.addr).expect("proxy");
    proxy.arm(
        Trigger::line("NOOP", 1),
        Action::Stall(Duration::from_millis(600)),
    );
    let mut client = Client::connect(proxy.port()).await;
    client.line().await;
    let started = Instant::now();
    assert_eq!(client.cmd("NOOP").await, "+OK NOOP\r\n");
    assert!(
        started.elapsed() >= Duration::from_millis(550),
        "reply came after {:?}",
        started.elapsed()
    );
    let started = Instant::now();
    assert_eq!(client.cmd("NOOP").await, "+OK NOOP\r\n");
    assert!(started.elapsed() < Duration::from_millis(550));
    assert_eq!(proxy.fired(), 1);
}

#[tokio::test]
async fn proxy_cuts_after_a_number_of_server_bytes() {
    let upstream = Upstream::start().await;
    let proxy = FaultProxy::start(upstream.addr).expect("proxy");
    proxy.arm(Trigger::ServerBytes(5), Action::CutBeforeForwarding);
    let mut client = Client::connect(proxy.port()).await;
    assert_eq!(client.rest().await, b"+OK r");
    assert_eq!(proxy.fired(), 1);
}

#[tokio::test]
async fn proxy_matches_imap_commands_after_the_tag_every_time_until_disarmed() {
    let upstream = Upstream::start().await;
    let proxy = FaultProxy::start(upstream.addr).expect("proxy");
    proxy.arm_every(
        Trigger::command("UID FETCH", 1),
        Action::CutBeforeForwarding,
    );
    for round in 0..2 {
        let mut client = Client::connect(proxy.port()).await;
        client.line().await;
        // "UID FETCH" inside another command's arguments does not match.
        assert_eq!(
            client.cmd("a1 SELECT UID FETCH").await,
            "+OK a1 SELECT UID FETCH\r\n"
        );
        client.send("a2 uid fetch 1:* (BODY.PEEK[])").await;
        assert_eq!(client.rest().await, b"", "round {round}");
    }
    assert_eq!(proxy.fired(), 2);
    proxy.disarm();
    let mut client = Client::connect(proxy.port()).await;
    client.line().await;
    assert_eq!(client.cmd("a2 UID FETCH 1").await, "+OK a2 UID FETCH 1\r\n");
    assert_eq!(proxy.fired(), 2);
}

#[tokio::test]
async fn proxy_arm_times_fires_that_many_times() {
    let upstream = Upstream::start().await;
    let proxy = FaultProxy::start(upstream.addr).expect("proxy");
    proxy.arm_times(Trigger::contains("boom", 1), Action::CutBeforeForwarding, 2);
    let mut outcomes = Vec::new();
    for _ in 0..3 {
        let mut client = Client::connect(proxy.port()).await;
        client.line().await;
        // QUIT right behind: never forwarded after a cut.
        client
            .writer
            .write_all(b"say BOOM now\r\nQUIT\r\n")
            .await
            .expect("send");
        outcomes.push(client.rest().await);
    }
    assert_eq!(
        outcomes,
        [
            b"".to_vec(),
            b"".to_vec(),
            b"+OK say BOOM now\r\n+OK bye\r\n".to_vec()
        ]
    );
    assert_eq!(proxy.fired(), 2);
}

#[tokio::test]
async fn proxy_rules_apply_to_new_connections_and_cut_all_cuts_open_ones() {
    let upstream = Upstream::start().await;
    let proxy = FaultProxy::start(upstream.addr).expect("proxy");
    let mut old = Client::connect(proxy.port()).await;
    old.line().await;
    // Make sure the proxy accepted it before arming.
    assert_eq!(old.cmd("NOOP").await, "+OK NOOP\r\n");
    proxy.arm(Trigger::line("NOOP", 1), Action::CutBeforeForwarding);
    assert_eq!(old.cmd("NOOP").await, "+OK NOOP\r\n");
    let mut new = Client::connect(proxy.port()).await;
    new.line().await;
    new.send("NOOP").await;
    assert_eq!(new.rest().await, b"");
    proxy.cut_all();
    assert_eq!(old.rest().await, b"");
    assert_eq!(proxy.fired(), 1);
}

#[tokio::test]
async fn proxy_stops_when_dropped() {
    let upstream = Upstream::start().await;
    let proxy = FaultProxy::start(upstream.addr).expect("proxy");
    let port = proxy.port();
    let mut client = Client::connect(port).await;
    client.line().await;
    drop(proxy);
    assert_eq!(client.rest().await, b"");
    assert!(TcpStream::connect(("127.0.0.1", port)).await.is_err());
}

// ---------------------------------------------------------------------------------------------
// FakeSmtp with a raw client

struct Smtp(Client);

impl Smtp {
    async fn connect(server: &FakeSmtp) -> Smtp {
        let mut client = Client::connect(server.port()).await;
        let greeting = client.line().await;
        assert!(greeting.starts_with("220 "), "{greeting}");
        Smtp(client)
    }

    /// Sends a command and returns its whole (possibly multi-line) reply.
    async fn cmd(&mut self, line: &str) -> String {
        self.0.send(line).await;
        self.reply().await
    }

    async fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let line = self.0.line().await;
            all.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return all;
            }
        }
    }

    /// EHLO, MAIL, RCPT for each recipient (asserting 250), DATA (asserting 354).
    async fn begin(&mut self, from: &str, to: &[&str]) {
        assert!(self.cmd("EHLO client.test").await.starts_with("250"));
        assert_eq!(
            self.cmd(&format!("MAIL FROM:<{from}>")).await,
            "250 2.1.0 Ok\r\n"
        );
        for rcpt in to {
            assert_eq!(
                self.cmd(&format!("RCPT TO:<{rcpt}>")).await,
                "250 2.1.5 Ok\r\n"
            );
        }
        assert!(self.cmd("DATA").await.starts_with("354 "));
    }

    /// Sends message data (already dot-stuffed, ending with CRLF) plus the final dot.
    async fn finish(&mut self, stuffed: &[u8]) -> String {
        self.0.writer.write_all(stuffed).await.expect("data");
        self.cmd(".").await
    }

    /// Asserts no reply comes within a short while.
    async fn no_reply(&mut self) {
        let mut line = String::new();
        let waited = tokio::time::timeout(
            Duration::from_millis(500),
            self.0.reader.read_line(&mut line),
        )
        .await;
        assert!(waited.is_err(), "expected silence, got {line:?}");
    }
}

fn accepted(from: &str, to: &[&str], data: &[u8]) -> Accepted {
    Accepted {
        mail_from: from.to_owned(),
        rcpt_to: to.iter().map(|s| (*s).to_owned()).collect(),
        data: data.to_vec(),
    }
}

#[tokio::test]
async fn smtp_full_transaction_records_unstuffed_data() {
    let server = FakeSmtp::start().expect("fake smtp");
    let mut smtp = Smtp::connect(&server).await;
    let ehlo = smtp.cmd("EHLO client.test").await;
    assert!(ehlo.starts_with("250-"), "{ehlo}");
    assert!(ehlo.contains("250-8BITMIME\r\n"), "{ehlo}");
    assert!(ehlo.contains("SIZE "), "{ehlo}");
    assert!(
        !ehlo.contains("STARTTLS") && !ehlo.contains("AUTH"),
        "{ehlo}"
    );
    assert_eq!(
        smtp.cmd("MAIL FROM:<a@x.test> BODY=8BITMIME SIZE=40").await,
        "250 2.1.0 Ok\r\n"
    );
    assert_eq!(smtp.cmd("rcpt to:<b@y.test>").await, "250 2.1.5 Ok\r\n");
    assert_eq!(smtp.cmd("RCPT TO: <c@y.test>").await, "250 2.1.5 Ok\r\n");
    assert!(smtp.cmd("DATA").await.starts_with("354 "));
    let reply = smtp
        .finish(b"Subject: t\r\n\r\n..leading dot\r\n...\r\nbody\r\n")
        .await;
    assert_eq!(reply, "250 2.0.0 Ok: queued\r\n");
    assert_eq!(
        server.accepted(),
        [accepted(
            "a@x.test",
            &["b@y.test", "c@y.test"],
            b"Subject: t\r\n\r\n.leading dot\r\n..\r\nbody\r\n"
        )]
    );

    // A second transaction on the same connection, with the null sender.
    assert_eq!(smtp.cmd("NOOP").await, "250 2.0.0 Ok\r\n");
    assert_eq!(smtp.cmd("MAIL FROM:<>").await, "250 2.1.0 Ok\r\n");
    assert_eq!(smtp.cmd("RSET").await, "250 2.0.0 Ok\r\n");
    smtp.begin("", &["d@y.test"]).await;
    assert!(smtp.finish(b"x\r\n").await.starts_with("250 "));
    assert_eq!(server.accepted()[1], accepted("", &["d@y.test"], b"x\r\n"));
    assert_eq!(server.transactions(), 3);
    assert_eq!(smtp.cmd("QUIT").await, "221 2.0.0 Bye\r\n");
    assert_eq!(smtp.0.rest().await, b"");
}

#[tokio::test]
async fn smtp_sequence_errors_are_refused() {
    let server = FakeSmtp::start().expect("fake smtp");
    let mut smtp = Smtp::connect(&server).await;
    assert!(smtp.cmd("RCPT TO:<b@y.test>").await.starts_with("503 "));
    assert!(smtp.cmd("DATA").await.starts_with("503 "));
    assert!(smtp.cmd("MAIL TO:<a@x.test>").await.starts_with("501 "));
    assert!(
        smtp.cmd("MAIL FROM:nobrackets@x.test")
            .await
            .starts_with("250 ")
    );
    assert!(smtp.cmd("MAIL FROM:<a@x.test>").await.starts_with("503 "));
    assert!(smtp.cmd("DATA").await.starts_with("554 "), "no recipients");
    assert!(smtp.cmd("STARTTLS").await.starts_with("502 "));
    assert!(smtp.cmd("FOO").await.starts_with("500 "));
    assert!(server.accepted().is_empty());
}

#[tokio::test]
async fn smtp_scripted_replies_at_each_step() {
    let server = FakeSmtp::start().expect("fake smtp");
    let mut smtp = Smtp::connect(&server).await;
    assert!(smtp.cmd("EHLO c").await.starts_with("250"));

    // MAIL: 451 once, then accepted.
    server.fail_next(Step::Mail, Fault::Reply("451 4.3.0 try later".into()), 1);
    assert_eq!(
        smtp.cmd("MAIL FROM:<a@x.test>").await,
        "451 4.3.0 try later\r\n"
    );
    assert!(smtp.cmd("MAIL FROM:<a@x.test>").await.starts_with("250 "));
    assert!(smtp.cmd("RSET").await.starts_with("250 "));

    // RCPT: 452 for every recipient of the next transaction; DATA then has no recipients.
    server.fail_next(Step::Rcpt, Fault::Reply("452 4.2.2 mailbox full".into()), 1);
    assert!(smtp.cmd("MAIL FROM:<a@x.test>").await.starts_with("250 "));
    assert_eq!(
        smtp.cmd("RCPT TO:<b@y.test>").await,
        "452 4.2.2 mailbox full\r\n"
    );
    assert_eq!(
        smtp.cmd("RCPT TO:<c@y.test>").await,
        "452 4.2.2 mailbox full\r\n"
    );
    assert!(smtp.cmd("DATA").await.starts_with("554 "));
    assert!(smtp.cmd("RSET").await.starts_with("250 "));

    // DATA command: 554.
    server.fail_next(Step::Data, Fault::Reply("554 5.3.4 nope".into()), 1);
    assert!(smtp.cmd("MAIL FROM:<a@x.test>").await.starts_with("250 "));
    assert!(smtp.cmd("RCPT TO:<b@y.test>").await.starts_with("250 "));
    assert_eq!(smtp.cmd("DATA").await, "554 5.3.4 nope\r\n");
    assert!(smtp.cmd("RSET").await.starts_with("250 "));

    // End of data: 552 twice, then accepted; rejected messages are not recorded.
    server.fail_next(
        Step::EndOfData,
        Fault::Reply("552 5.3.4 message too big".into()),
        2,
    );
    for attempt in 0..3 {
        smtp.begin("a@x.test", &["b@y.test"]).await;
        let reply = smtp
            .finish(format!("attempt {attempt}\r\n").as_bytes())
            .await;
        if attempt < 2 {
            assert_eq!(reply, "552 5.3.4 message too big\r\n");
        } else {
            assert!(reply.starts_with("250 "), "{reply}");
        }
    }
    assert_eq!(
        server.accepted(),
        [accepted("a@x.test", &["b@y.test"], b"attempt 2\r\n")]
    );
    assert!(server.unanswered().is_empty());
    assert_eq!(server.transactions(), 7);
}

#[tokio::test]
async fn smtp_421_closes_the_connection() {
    let server = FakeSmtp::start().expect("fake smtp");
    server.fail_next(
        Step::EndOfData,
        Fault::Reply("421 4.3.2 shutting down".into()),
        1,
    );
    let mut smtp = Smtp::connect(&server).await;
    smtp.begin("a@x.test", &["b@y.test"]).await;
    assert_eq!(smtp.finish(b"hi\r\n").await, "421 4.3.2 shutting down\r\n");
    assert_eq!(smtp.0.rest().await, b"");
    assert!(server.accepted().is_empty());
}

#[tokio::test]
async fn smtp_hang_and_drop_faults() {
    let server = FakeSmtp::start().expect("fake smtp");

    // Hang after the data: no reply ever; the message counts as unanswered, not accepted.
    server.fail_next(Step::EndOfData, Fault::Hang, 1);
    let mut smtp = Smtp::connect(&server).await;
    smtp.begin("a@x.test", &["b@y.test"]).await;
    smtp.0
        .writer
        .write_all(b"hung\r\n.\r\n")
        .await
        .expect("data");
    smtp.no_reply().await;
    assert!(server.accepted().is_empty());
    assert_eq!(
        server.unanswered(),
        [accepted("a@x.test", &["b@y.test"], b"hung\r\n")]
    );
    drop(smtp);

    // Hang at the DATA command.
    server.fail_next(Step::Data, Fault::Hang, 1);
    let mut smtp = Smtp::connect(&server).await;
    assert!(smtp.cmd("HELO c").await.starts_with("250 "));
    assert!(smtp.cmd("MAIL FROM:<a@x.test>").await.starts_with("250 "));
    assert!(smtp.cmd("RCPT TO:<b@y.test>").await.starts_with("250 "));
    smtp.0.send("DATA").await;
    smtp.no_reply().await;
    drop(smtp);

    // Drop at MAIL, at RCPT and after the data.
    server.fail_next(Step::Mail, Fault::Drop, 1);
    server.fail_next(Step::Rcpt, Fault::Drop, 1);
    server.fail_next(Step::EndOfData, Fault::Drop, 1);
    let mut smtp = Smtp::connect(&server).await;
    smtp.0.send("MAIL FROM:<a@x.test>").await;
    assert_eq!(smtp.0.rest().await, b"");
    let mut smtp = Smtp::connect(&server).await;
    assert!(smtp.cmd("MAIL FROM:<a@x.test>").await.starts_with("250 "));
    smtp.0.send("RCPT TO:<b@y.test>").await;
    assert_eq!(smtp.0.rest().await, b"");
    let mut smtp = Smtp::connect(&server).await;
    smtp.begin("a@x.test", &["b@y.test"]).await;
    smtp.0
        .writer
        .write_all(b"dropped\r\n.\r\n")
        .await
        .expect("data");
    assert_eq!(smtp.0.rest().await, b"");
    assert!(server.accepted().is_empty());
    assert_eq!(server.unanswered().len(), 2);

    // Faults are used up: a normal delivery works.
    let mut smtp = Smtp::connect(&server).await;
    smtp.begin("a@x.test", &["b@y.test"]).await;
    assert!(smtp.finish(b"ok\r\n").await.starts_with("250 "));
    assert_eq!(server.accepted().len(), 1);
    assert_eq!(server.connections(), 6);
}

#[tokio::test]
async fn smtp_fail_rcpt_rejects_one_recipient_always() {
    let server = FakeSmtp::start().expect("fake smtp");
    server.fail_rcpt("Bad@Y.test", "550 5.1.1 no such user");
    let mut smtp = Smtp::connect(&server).await;
    for round in 0..2 {
        assert!(smtp.cmd("MAIL FROM:<a@x.test>").await.starts_with("250 "));
        assert!(smtp.cmd("RCPT TO:<good@y.test>").await.starts_with("250 "));
        assert_eq!(
            smtp.cmd("RCPT TO:<bad@y.test>").await,
            "550 5.1.1 no such user\r\n",
            "round {round}"
        );
        assert!(smtp.cmd("DATA").await.starts_with("354 "));
        assert!(smtp.finish(b"m\r\n").await.starts_with("250 "));
    }
    // Only the bad recipient: DATA refused.
    assert!(smtp.cmd("MAIL FROM:<a@x.test>").await.starts_with("250 "));
    assert!(smtp.cmd("RCPT TO:<bad@y.test>").await.starts_with("550 "));
    assert!(smtp.cmd("DATA").await.starts_with("554 "));
    let want = accepted("a@x.test", &["good@y.test"], b"m\r\n");
    assert_eq!(server.accepted(), [want.clone(), want]);
}

#[tokio::test]
async fn smtp_serves_connections_concurrently() {
    let server = FakeSmtp::start().expect("fake smtp");
    let mut first = Smtp::connect(&server).await;
    let mut second = Smtp::connect(&server).await;
    first.begin("one@x.test", &["r@y.test"]).await;
    second.begin("two@x.test", &["r@y.test"]).await;
    assert!(second.finish(b"2\r\n").await.starts_with("250 "));
    assert!(first.finish(b"1\r\n").await.starts_with("250 "));
    let from: Vec<String> = server.accepted().into_iter().map(|a| a.mail_from).collect();
    assert_eq!(from, ["two@x.test", "one@x.test"]);
}

// ---------------------------------------------------------------------------------------------
// FaultProxy in front of FakeSmtp: cuts around SMTP's end of data.

#[tokio::test]
async fn proxy_cut_around_smtp_end_of_data() {
    let server = FakeSmtp::start().expect("fake smtp");
    let proxy =
        FaultProxy::start(SocketAddr::from(([127, 0, 0, 1], server.port()))).expect("proxy");

    // Cut before the final dot: the server never completes the message.
    proxy.arm(Trigger::smtp_end_of_data(1), Action::CutBeforeForwarding);
    let mut client = Client::connect(proxy.port()).await;
    client.line().await;
    for line in ["EHLO c", "MAIL FROM:<a@x.test>", "RCPT TO:<b@y.test>"] {
        client.send(line).await;
    }
    // EHLO has 4 reply lines, then MAIL and RCPT one each.
    for _ in 0..6 {
        client.line().await;
    }
    assert!(client.cmd("DATA").await.starts_with("354 "));
    client
        .writer
        .write_all(b"..not the end\r\n.\r\n")
        .await
        .expect("data");
    assert_eq!(client.rest().await, b"");
    assert!(server.accepted().is_empty());

    // Cut after the reply to the final dot: the server accepted, the client saw the 250.
    proxy.arm(Trigger::smtp_end_of_data(1), Action::CutAfterReply);
    let mut client = Client::connect(proxy.port()).await;
    client.line().await;
    for line in [
        "HELO c",
        "MAIL FROM:<a@x.test>",
        "RCPT TO:<b@y.test>",
        "DATA",
    ] {
        client.cmd(line).await;
    }
    client
        .writer
        .write_all(b"..not the end\r\n.\r\nQUIT\r\n")
        .await
        .expect("data");
    assert_eq!(client.rest().await, b"250 2.0.0 Ok: queued\r\n");
    assert_eq!(
        server.accepted(),
        [accepted("a@x.test", &["b@y.test"], b".not the end\r\n")]
    );
    assert_eq!(proxy.fired(), 2);
}

// ---------------------------------------------------------------------------------------------
// FakeSmtp through lettre, the worker's SMTP client.

#[tokio::test]
async fn lettre_sees_transient_and_permanent_errors() {
    use lettre::address::{Address, Envelope};
    use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

    let server = FakeSmtp::start().expect("fake smtp");
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(server.port())
        .timeout(Some(Duration::from_secs(10)))
        .build();
    let from: Address = "sender@x.test".parse().expect("address");
    let to: Address = "rcpt@y.test".parse().expect("address");
    let envelope = Envelope::new(Some(from), vec![to]).expect("envelope");
    // No trailing CRLF: lettre always appends "\r\n.\r\n" itself.
    let message = b"Subject: hi\r\n\r\n.dot line\r\nb\xc3\xa9";

    server.fail_next(Step::Mail, Fault::Reply("451 4.3.0 try later".into()), 1);
    let error = transport
        .send_raw(&envelope, message)
        .await
        .expect_err("451 at MAIL");
    assert!(error.is_transient(), "{error}");

    server.fail_next(
        Step::EndOfData,
        Fault::Reply("550 5.7.1 rejected".into()),
        1,
    );
    let error = transport
        .send_raw(&envelope, message)
        .await
        .expect_err("550 after data");
    assert!(error.is_permanent(), "{error}");

    transport
        .send_raw(&envelope, message)
        .await
        .expect("accepted");
    let mut want = message.to_vec();
    want.extend_from_slice(b"\r\n");
    assert_eq!(
        server.accepted(),
        [accepted("sender@x.test", &["rcpt@y.test"], &want)]
    );

    // Known lettre behaviour worth knowing: a message that already ends with CRLF gets an
    // extra empty line, because lettre sends "\r\n.\r\n" after the data whatever it ends with.
    transport
        .send_raw(&envelope, b"Subject: x\r\n\r\nbody\r\n")
        .await
        .expect("accepted");
    assert_eq!(server.accepted()[1].data, b"Subject: x\r\n\r\nbody\r\n\r\n");
    assert_eq!(server.transactions(), 4);
}
