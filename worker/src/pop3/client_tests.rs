//! Tests of the POP3 client against a scripted server over `tokio::io::duplex`.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, DuplexStream};
use tokio::task::JoinHandle;

use super::*;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::pop3::auth::{AuthMethod, OAuthMechanism};
use crate::pop3::command::sasl_plain_payload;
use crate::pop3::error::LimitKind;

/// One step of a server script.
enum Step {
    /// The next line the client must send (CRLF included).
    Expect(&'static str),
    /// Bytes the server sends.
    Send(Vec<u8>),
    /// Wait until the client closes its side; nothing more may arrive.
    ExpectEof,
    /// Close the connection now.
    Close,
    /// Pause (in tokio time, so paused-clock tests stay instant).
    Sleep(Duration),
}

use Step::*;

fn send(s: &str) -> Step {
    Send(s.as_bytes().to_vec())
}

/// Runs `steps` on the server half of a duplex pipe; the handle reports the first mismatch.
fn server(steps: Vec<Step>) -> (DuplexStream, JoinHandle<Result<(), String>>) {
    let (client, server) = tokio::io::duplex(1 << 20);
    let handle = tokio::spawn(async move {
        let mut server = BufReader::new(server);
        for (i, step) in steps.into_iter().enumerate() {
            match step {
                Expect(want) => {
                    let mut line = Vec::new();
                    server
                        .read_until(b'\n', &mut line)
                        .await
                        .map_err(|e| format!("step {i}: read failed: {e}"))?;
                    if line != want.as_bytes() {
                        return Err(format!(
                            "step {i}: expected {want:?}, got {:?}",
                            String::from_utf8_lossy(&line)
                        ));
                    }
                }
                Send(bytes) => server
                    .get_mut()
                    .write_all(&bytes)
                    .await
                    .map_err(|e| format!("step {i}: write failed: {e}"))?,
                ExpectEof => {
                    let mut rest = Vec::new();
                    server
                        .read_to_end(&mut rest)
                        .await
                        .map_err(|e| format!("step {i}: read failed: {e}"))?;
                    if !rest.is_empty() {
                        return Err(format!(
                            "step {i}: expected EOF, got {:?}",
                            String::from_utf8_lossy(&rest)
                        ));
                    }
                }
                Close => return Ok(()),
                Sleep(duration) => tokio::time::sleep(duration).await,
            }
        }
        Ok(())
    });
    (client, handle)
}

async fn finish(handle: JoinHandle<Result<(), String>>) {
    handle
        .await
        .expect("server task panicked")
        .expect("server script");
}

const GREETING: &str = "+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n";

async fn connected(steps: Vec<Step>) -> (Pop3Client<DuplexStream>, JoinHandle<Result<(), String>>) {
    let mut all = vec![send(GREETING)];
    all.extend(steps);
    let (stream, handle) = server(all);
    let client = Pop3Client::connect(stream, Limits::default())
        .await
        .expect("connect");
    (client, handle)
}

fn small_limits() -> Limits {
    Limits {
        read_timeout: Duration::from_secs(5),
        max_status_line: 64,
        max_data_line: 100,
        max_message_bytes: 1000,
    }
}

#[tokio::test]
async fn greeting_with_apop_timestamp() {
    let (client, handle) = connected(vec![]).await;
    let greeting = client.greeting().expect("greeting");
    assert_eq!(
        greeting.text,
        "POP3 server ready <1896.697170952@dbc.mtview.ca.us>"
    );
    assert_eq!(
        greeting.apop_timestamp.as_deref(),
        Some("<1896.697170952@dbc.mtview.ca.us>")
    );
    drop(client);
    finish(handle).await;
}

#[tokio::test]
async fn err_greeting_is_an_error() {
    let (stream, handle) = server(vec![send("-ERR [SYS/TEMP] too busy\r\n")]);
    let err = Pop3Client::connect(stream, Limits::default())
        .await
        .expect_err("must fail");
    assert!(matches!(err, Pop3Error::ServerErr { .. }), "{err:?}");
    assert_eq!(err.response_code(), Some("SYS/TEMP"));
    assert_eq!(
        err.to_string(),
        "server answered -ERR to greeting: [SYS/TEMP] too busy"
    );
    finish(handle).await;
}

#[tokio::test]
async fn capa_lists_capabilities() {
    let (mut client, handle) = connected(vec![
        Expect("CAPA\r\n"),
        send("+OK Capability list follows\r\nTOP\r\nUSER\r\nSASL PLAIN login\r\nSTLS\r\nUIDL\r\nPIPELINING\r\nIMPLEMENTATION Test server\r\n.\r\n"),
    ])
    .await;
    let caps = client.capa().await.expect("capa");
    assert!(caps.is_known());
    assert!(caps.stls() && caps.uidl() && caps.user() && caps.pipelining());
    assert_eq!(caps.sasl_mechanisms(), vec!["PLAIN", "LOGIN"]);
    assert!(caps.offers_sasl("login"));
    assert!(!caps.offers_sasl("CRAM-MD5"));
    assert_eq!(caps.get("IMPLEMENTATION"), Some(vec!["Test", "server"]));
    assert_eq!(caps.lines().len(), 7);
    drop(client);
    finish(handle).await;
}

#[tokio::test]
async fn capa_refused_gives_unknown_capabilities() {
    let (mut client, handle) = connected(vec![
        Expect("CAPA\r\n"),
        send("-ERR unknown command\r\n"),
        Expect("NOOP\r\n"),
        send("+OK\r\n"),
    ])
    .await;
    let caps = client.capa().await.expect("capa");
    assert_eq!(caps, Capabilities::default());
    assert!(!caps.is_known() && !caps.stls() && caps.sasl_mechanisms().is_empty());
    // The session is still in step.
    client.noop().await.expect("noop");
    drop(client);
    finish(handle).await;
}

#[tokio::test]
async fn login_user_pass() {
    let (mut client, handle) = connected(vec![
        Expect("USER alice\r\n"),
        send("+OK\r\n"),
        Expect("PASS open sesame\r\n"),
        send("+OK maildrop has 2 messages\r\n"),
    ])
    .await;
    client
        .login(
            "alice",
            "open sesame",
            AuthMethod::User,
            &Capabilities::default(),
        )
        .await
        .expect("login");
    drop(client);
    finish(handle).await;
}

#[tokio::test]
async fn login_apop_uses_rfc_digest() {
    let (mut client, handle) = connected(vec![
        Expect("APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n"),
        send("+OK mrose's maildrop has 2 messages (320 octets)\r\n"),
    ])
    .await;
    client
        .login(
            "mrose",
            "tanstaaf",
            AuthMethod::Apop,
            &Capabilities::default(),
        )
        .await
        .expect("login");
    drop(client);
    finish(handle).await;
}

#[tokio::test]
async fn login_apop_without_timestamp_is_unsupported() {
    let (stream, handle) = server(vec![send("+OK ready\r\n"), ExpectEof]);
    let mut client = Pop3Client::connect(stream, Limits::default())
        .await
        .expect("connect");
    let err = client
        .login("u", "p", AuthMethod::Apop, &Capabilities::default())
        .await
        .expect_err("must fail");
    assert!(matches!(err, Pop3Error::Unsupported(_)), "{err:?}");
    drop(client);
    finish(handle).await;
}

#[tokio::test]
async fn login_sasl_plain_with_initial_response() {
    let (mut client, handle) = connected(vec![
        // base64("\0user\0pass")
        Expect("AUTH PLAIN AHVzZXIAcGFzcw==\r\n"),
        send("+OK logged in\r\n"),
    ])
    .await;
    client
        .login(
            "user",
            "pass",
            AuthMethod::SaslPlain,
            &Capabilities::default(),
        )
        .await
        .expect("login");
    drop(client);
    finish(handle).await;
}

#[tokio::test]
async fn login_sasl_plain_too_long_for_initial_response() {
    let user = "u".repeat(100);
    let password = "p".repeat(100);
    let payload = sasl_plain_payload(&user, &password).expect("payload");
    let payload_line: &'static str = Box::leak(format!("{payload}\r\n").into_boxed_str());
    let (mut client, handle) = connected(vec![
        Expect("AUTH PLAIN\r\n"),
        send("+ \r\n"),
        Expect(payload_line),
        send("+OK\r\n"),
    ])
    .await;
    client
        .login(
            &user,
            &password,
            AuthMethod::SaslPlain,
            &Capabilities::default(),
        )
        .await
        .expect("login");
    drop(client);
    finish(handle).await;
}

#[tokio::test]
async fn login_sasl_login() {
    let (mut client, handle) = connected(vec![
        Expect("AUTH LOGIN\r\n"),
        send("+ VXNlcm5hbWU6\r\n"),
        Expect("dXNlcg==\r\n"),
        send("+ UGFzc3dvcmQ6\r\n"),
        Expect("cGFzcw==\r\n"),
        send("+OK\r\n"),
    ])
    .await;
    client
        .login(
            "user",
            "pass",
            AuthMethod::SaslLogin,
            &Capabilities::default(),
        )
        .await
        .expect("login");
    drop(client);
    finish(handle).await;
}

#[tokio::test]
async fn sasl_unexpected_challenge_is_cancelled() {
    let (mut client, handle) = connected(vec![
        Expect("AUTH PLAIN AHVzZXIAcGFzcw==\r\n"),
        send("+ bW9yZT8=\r\n"),
        Expect("*\r\n"),
        send("-ERR cancelled\r\n"),
    ])
    .await;
    let err = client
        .login(
            "user",
            "pass",
            AuthMethod::SaslPlain,
            &Capabilities::default(),
        )
        .await
        .expect_err("must fail");
    assert!(matches!(err, Pop3Error::Protocol { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("unexpected further SASL challenge")
    );
    drop(client);
    finish(handle).await;
}

fn caps(lines: &[&str]) -> Capabilities {
    Capabilities::from_lines(lines.iter().map(|l| l.to_string()).collect())
}

#[tokio::test]
async fn auto_login_prefers_sasl_plain() {
    let (mut client, handle) = connected(vec![
        Expect("AUTH PLAIN AHVzZXIAcGFzcw==\r\n"),
        send("+OK\r\n"),
    ])
    .await;
    client
        .login(
            "user",
            "pass",
            AuthMethod::Auto,
            &caps(&["USER", "SASL LOGIN PLAIN"]),
        )
        .await
        .expect("login");
    drop(client);
    finish(handle).await;
}

#[tokio::test]
async fn auto_login_uses_user_when_offered_or_capa_unknown() {
    for capabilities in [caps(&["USER", "SASL LOGIN"]), Capabilities::default()] {
        let (mut client, handle) = connected(vec![
            Expect("USER user\r\n"),
            send("+OK\r\n"),
            Expect("PASS pass\r\n"),
            send("+OK\r\n"),
        ])
        .await;
        client
            .login("user", "pass", AuthMethod::Auto, &capabilities)
            .await
            .expect("login");
        drop(client);
        finish(handle).await;
    }
}

#[tokio::test]
async fn auto_login_falls_back_to_apop_then_login() {
    let (mut client, handle) = connected(vec![
        Expect("APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n"),
        send("+OK\r\n"),
    ])
    .await;
    client
        .login(
            "mrose",
            "tanstaaf",
            AuthMethod::Auto,
            &caps(&["SASL LOGIN", "UIDL"]),
        )
        .await
        .expect("login");
    drop(client);
    finish(handle).await;

    let (stream, handle) = server(vec![
        send("+OK no timestamp\r\n"),
        Expect("AUTH LOGIN\r\n"),
        send("+ VXNlcm5hbWU6\r\n"),
        Expect("dXNlcg==\r\n"),
        send("+ UGFzc3dvcmQ6\r\n"),
        Expect("cGFzcw==\r\n"),
        send("+OK\r\n"),
    ]);
    let mut client = Pop3Client::connect(stream, Limits::default())
        .await
        .expect("connect");
    client
        .login(
            "user",
            "pass",
            AuthMethod::Auto,
            &caps(&["SASL LOGIN", "UIDL"]),
        )
        .await
        .expect("login");
    drop(client);
    finish(handle).await;
}

#[tokio::test]
async fn auto_login_without_any_mechanism_is_unsupported() {
    let (stream, handle) = server(vec![send("+OK no timestamp\r\n"), ExpectEof]);
    let mut client = Pop3Client::connect(stream, Limits::default())
        .await
        .expect("connect");
    let err = client
        .login(
            "user",
            "pass",
            AuthMethod::Auto,
            &caps(&["UIDL", "SASL CRAM-MD5"]),
        )
        .await
        .expect_err("must fail");
    assert_eq!(
        err.to_string(),
        "unsupported: server offers no usable authentication mechanism"
    );
    drop(client);
    finish(handle).await;
}

#[tokio::test]
async fn auth_failure_hides_the_password() {
    let password = "Tr0ub4dor&3";
    let (mut client, handle) = connected(vec![
        Expect("USER bob\r\n"),
        send("+OK\r\n"),
        Expect("PASS Tr0ub4dor&3\r\n"),
        // A careless server echoing the password.
        send("-ERR [AUTH] invalid password Tr0ub4dor&3\r\n"),
    ])
    .await;
    let err = client
        .login("bob", password, AuthMethod::User, &Capabilities::default())
        .await
        .expect_err("must fail");
    assert!(err.is_auth_failure());
    assert_eq!(err.response_code(), Some("AUTH"));
    let display = err.to_string();
    let debug = format!("{err:?}");
    assert_eq!(
        display,
        "authentication failed (USER/PASS): [AUTH] invalid password ****"
    );
    assert!(!display.contains(password) && !debug.contains(password));
    assert!(!format!("{client:?}").contains(password));
    drop(client);
    finish(handle).await;
}

#[tokio::test]
async fn sasl_failures_hide_the_payload() {
    let (mut client, handle) = connected(vec![
        Expect("AUTH PLAIN AHVzZXIAaHVudGVyMg==\r\n"),
        send("-ERR [AUTH] authentication failed\r\n"),
    ])
    .await;
    let err = client
        .login(
            "user",
            "hunter2",
            AuthMethod::SaslPlain,
            &Capabilities::default(),
        )
        .await
        .expect_err("must fail");
    assert!(err.is_auth_failure());
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains("hunter2") && !text.contains("AHVzZXIAaHVudGVyMg"));
    }
    drop(client);
    finish(handle).await;
}

#[tokio::test]
async fn locked_mailbox_is_not_an_auth_failure() {
    let (mut client, handle) = connected(vec![
        Expect("USER bob\r\n"),
        send("+OK\r\n"),
        Expect("PASS secret\r\n"),
        send("-ERR [IN-USE] mailbox locked by another session\r\n"),
    ])
    .await;
    let err = client
        .login("bob", "secret", AuthMethod::User, &Capabilities::default())
        .await
        .expect_err("must fail");
    assert!(!err.is_auth_failure());
    assert_eq!(err.response_code(), Some("IN-USE"));
    assert_eq!(
        err.to_string(),
        "server answered -ERR to PASS ****: [IN-USE] mailbox locked by another session"
    );
    drop(client);
    finish(handle).await;
}

#[tokio::test]
async fn injection_in_credentials_is_refused_before_sending() {
    let (mut client, handle) = connected(vec![ExpectEof]).await;
    for (user, password) in [
        ("bob", "x\r\nDELE 1"),
        ("bob\r\nDELE 1", "x"),
        ("bob", "a\0b"),
    ] {
        for method in [
            AuthMethod::User,
            AuthMethod::Apop,
            AuthMethod::SaslPlain,
            AuthMethod::SaslLogin,
        ] {
            let err = client
                .login(user, password, method, &Capabilities::default())
                .await
                .expect_err("must fail");
            assert!(matches!(err, Pop3Error::InvalidArgument(_)), "{err:?}");
            assert!(!err.to_string().contains("DELE"));
        }
    }
    drop(client);
    finish(handle).await;
}

#[tokio::test]
async fn stat_uidl_list() {
    let (mut client, handle) = connected(vec![
        Expect("STAT\r\n"),
        send("+OK 2 320\r\n"),
        Expect("UIDL\r\n"),
        send("+OK\r\n1 whqtswO00WBw418f9t5JxYwZ\r\n2 QhdPYR:00WBw1Ph7x7\r\n.\r\n"),
        Expect("LIST\r\n"),
        send("+OK 2 messages (320 octets)\r\n1 120\r\n2 200 extra info\r\n.\r\n"),
    ])
    .await;
    assert_eq!(client.stat().await.expect("stat"), (2, 320));
    assert_eq!(
        client.uidl_all().await.expect("uidl"),
        Some(vec![
            (1, "whqtswO00WBw418f9t5JxYwZ".to_owned()),
            (2, "QhdPYR:00WBw1Ph7x7".to_owned())
        ])
    );
    assert_eq!(
        client.list_all().await.expect("list"),
        vec![(1, 120), (2, 200)]
    );
    drop(client);
    finish(handle).await;
}

#[tokio::test]
async fn empty_mailbox_and_uidl_unsupported() {
    let (mut client, handle) = connected(vec![
        Expect("STAT\r\n"),
        send("+OK 0 0\r\n"),
        Expect("UIDL\r\n"),
        send("-ERR command not implemented\r\n"),
        Expect("LIST\r\n"),
        send("+OK\r\n.\r\n"),
    ])
    .await;
    assert_eq!(client.stat().await.expect("stat"), (0, 0));
    assert_eq!(client.uidl_all().await.expect("uidl"), None);
    assert_eq!(client.list_all().await.expect("list"), vec![]);
    drop(client);
    finish(handle).await;
}

#[tokio::test]
async fn malformed_stat_is_a_protocol_error() {
    let (mut client, handle) = connected(vec![Expect("STAT\r\n"), send("+OK lots\r\n")]).await;
    let err = client.stat().await.expect_err("must fail");
    assert_eq!(
        err.to_string(),
        "protocol error during STAT: expected \"+OK count size\", got +OK \"lots\""
    );
    drop(client);
    finish(handle).await;
}

#[tokio::test]
async fn retr_dele_quit() {
    let mut wire = b"+OK 63 octets\r\nSubject: dots\r\n\r\n..leading dot\r\n..\r\nmid.dle\r\nnul\0byte \xff\r\n.\r\n".to_vec();
    wire.extend_from_slice(b"+OK\r\n");
    let (mut client, handle) = connected(vec![
        Expect("RETR 1\r\n"),
        // The +OK to DELE arrives in the same packet: it must wait for the DELE.
        Send(wire),
        Expect("DELE 1\r\n"),
        Expect("QUIT\r\n"),
        send("+OK bye\r\n"),
        ExpectEof,
    ])
    .await;
    let message = client.retr(1).await.expect("retr");
    assert_eq!(
        message,
        b"Subject: dots\r\n\r\n.leading dot\r\n.\r\nmid.dle\r\nnul\0byte \xff\r\n"
    );
    client.dele(1).await.expect("dele");
    client.quit().await.expect("quit");
    finish(handle).await;
}

#[tokio::test]
async fn retr_sized_reads_the_message_whatever_size_was_announced() {
    let message = b"Subject: s\r\n\r\n.dot\r\nbody\r\n";
    let wire = b"+OK\r\nSubject: s\r\n\r\n..dot\r\nbody\r\n.\r\n";
    let (mut client, handle) = connected(vec![
        Expect("RETR 1\r\n"),
        Send(wire.to_vec()),
        Expect("RETR 2\r\n"),
        Send(wire.to_vec()),
        Expect("RETR 3\r\n"),
        Send(wire.to_vec()),
        Expect("RETR 4\r\n"),
        send("-ERR no such message\r\n"),
    ])
    .await;
    // Exact size plus room for a header: filled without growing.
    let exact = client
        .retr_sized(1, Some(message.len() as u64), 100)
        .await
        .expect("retr 1");
    assert_eq!(exact, message);
    assert!(
        exact.capacity() >= message.len() + 100,
        "room left in front"
    );
    // Announced too small, and absurdly large (capped; no huge allocation).
    let small = client.retr_sized(2, Some(3), 0).await.expect("retr 2");
    assert_eq!(small, message);
    let huge = client
        .retr_sized(3, Some(u64::MAX), 0)
        .await
        .expect("retr 3");
    assert_eq!(huge, message);
    assert!(huge.capacity() as u64 <= crate::pop3::reply::MAX_BODY_RESERVE);
    let err = client.retr_sized(4, Some(10), 0).await.expect_err("-ERR");
    assert!(err.to_string().contains("RETR 4"), "{err}");
    assert!(err.to_string().contains("no such message"), "{err}");
    finish(handle).await;
}

#[tokio::test]
async fn err_replies_name_the_command() {
    let (mut client, handle) = connected(vec![
        Expect("RETR 5\r\n"),
        send("-ERR no such message\r\n"),
        Expect("DELE 5\r\n"),
        send("-ERR message 5 already deleted\r\n"),
        Expect("RSET\r\n"),
        send("+OK\r\n"),
        Expect("LIST\r\n"),
        send("-ERR not now\r\n"),
        Expect("QUIT\r\n"),
        send("-ERR some deleted messages not removed\r\n"),
    ])
    .await;
    let err = client.retr(5).await.expect_err("must fail");
    assert_eq!(
        err.to_string(),
        "server answered -ERR to RETR 5: no such message"
    );
    let err = client.dele(5).await.expect_err("must fail");
    assert_eq!(
        err.to_string(),
        "server answered -ERR to DELE 5: message 5 already deleted"
    );
    assert!(!err.is_auth_failure());
    client.rset().await.expect("rset");
    let err = client.list_all().await.expect_err("must fail");
    assert!(matches!(err, Pop3Error::ServerErr { .. }));
    let err = client.quit().await.expect_err("must fail");
    assert_eq!(
        err.to_string(),
        "server answered -ERR to QUIT: some deleted messages not removed"
    );
    finish(handle).await;
}

#[tokio::test]
async fn server_closing_mid_retr() {
    let (mut client, handle) = connected(vec![
        Expect("RETR 1\r\n"),
        send("+OK\r\nSubject: cut\r\n\r\npartial bo"),
        Close,
    ])
    .await;
    let err = client.retr(1).await.expect_err("must fail");
    assert!(matches!(err, Pop3Error::ConnectionClosed { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "connection closed by the server during RETR 1"
    );
    // Nothing more can be sent on this connection.
    let err = client.noop().await.expect_err("must fail");
    assert!(matches!(err, Pop3Error::Unusable(_)), "{err:?}");
    assert!(err.to_string().contains("during RETR 1"));
    finish(handle).await;
}

#[tokio::test(start_paused = true)]
async fn greeting_timeout() {
    let (stream, handle) = server(vec![ExpectEof]);
    let limits = Limits {
        read_timeout: Duration::from_secs(7),
        ..Limits::default()
    };
    let started = tokio::time::Instant::now();
    let err = Pop3Client::connect(stream, limits)
        .await
        .expect_err("must fail");
    assert_eq!(started.elapsed(), Duration::from_secs(7));
    assert_eq!(
        err.to_string(),
        "timed out after 7s waiting for the server greeting"
    );
    finish(handle).await;
}

#[tokio::test(start_paused = true)]
async fn retr_timeout_names_the_command() {
    let (stream, handle) = server(vec![
        send("+OK hi\r\n"),
        Expect("RETR 3\r\n"),
        send("+OK\r\nfirst line\r\n"),
        ExpectEof,
    ]);
    let mut client = Pop3Client::connect(stream, Limits::default())
        .await
        .expect("connect");
    let started = tokio::time::Instant::now();
    let err = client.retr(3).await.expect_err("must fail");
    assert!(matches!(err, Pop3Error::Timeout { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "timed out after 60s waiting for reply to RETR 3"
    );
    assert_eq!(started.elapsed(), Duration::from_secs(60));
    drop(client);
    finish(handle).await;
}

#[tokio::test(start_paused = true)]
async fn timeout_is_per_read_not_per_reply() {
    // A slow server that keeps sending within the timeout is not cut off (as long as it
    // brings MIN_PROGRESS_BYTES per timeout period: see the trickle test).
    let line = format!("{}\r\n", "l".repeat(1100));
    let mut steps = vec![send("+OK hi\r\n"), Expect("RETR 1\r\n"), send("+OK\r\n")];
    let (stream, handle) = {
        for _ in 0..3 {
            steps.push(Sleep(Duration::from_secs(8)));
            steps.push(send(&line));
        }
        steps.push(send(".\r\n"));
        server(steps)
    };
    let limits = Limits {
        read_timeout: Duration::from_secs(10),
        ..Limits::default()
    };
    let mut client = Pop3Client::connect(stream, limits).await.expect("connect");
    let started = tokio::time::Instant::now();
    assert_eq!(
        client.retr(1).await.expect("retr"),
        line.repeat(3).as_bytes()
    );
    assert_eq!(started.elapsed(), Duration::from_secs(24));
    drop(client);
    finish(handle).await;
}

#[tokio::test]
async fn line_too_long() {
    let long_line = format!("+OK\r\n{}\r\n.\r\n", "x".repeat(101));
    let (stream, handle) = server(vec![
        send("+OK hi\r\n"),
        Expect("RETR 1\r\n"),
        Send(long_line.into_bytes()),
    ]);
    let mut client = Pop3Client::connect(stream, small_limits())
        .await
        .expect("connect");
    let err = client.retr(1).await.expect_err("must fail");
    assert!(
        matches!(
            err,
            Pop3Error::LimitExceeded {
                kind: LimitKind::DataLine,
                limit: 100,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "data line length limit of 100 bytes exceeded during RETR 1"
    );
    drop(client);
    finish(handle).await;
}

#[tokio::test]
async fn status_line_too_long() {
    let long_greeting = format!("+OK {}", "g".repeat(5000));
    let (stream, handle) = server(vec![Send(long_greeting.into_bytes()), ExpectEof]);
    let err = Pop3Client::connect(stream, small_limits())
        .await
        .expect_err("must fail");
    assert_eq!(
        err.to_string(),
        "status line length limit of 64 bytes exceeded during greeting"
    );
    finish(handle).await;
}

#[tokio::test]
async fn message_too_large() {
    let mut wire = b"+OK\r\n".to_vec();
    for _ in 0..20 {
        wire.extend_from_slice(&[b'm'; 98]);
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(b".\r\n");
    let (stream, handle) = server(vec![send("+OK hi\r\n"), Expect("RETR 2\r\n"), Send(wire)]);
    let mut client = Pop3Client::connect(stream, small_limits())
        .await
        .expect("connect");
    let err = client.retr(2).await.expect_err("must fail");
    assert_eq!(
        err.to_string(),
        "message size limit of 1000 bytes exceeded during RETR 2"
    );
    drop(client);
    finish(handle).await;
}

#[tokio::test]
async fn garbage_reply_is_a_protocol_error() {
    let (mut client, handle) = connected(vec![
        Expect("NOOP\r\n"),
        send("* OK [CAPABILITY IMAP4rev1] ready\r\n"),
    ])
    .await;
    let err = client.noop().await.expect_err("must fail");
    assert_eq!(
        err.to_string(),
        "protocol error during NOOP: malformed status line (expected +OK or -ERR), received \"* OK [CAPABILITY IMAP4rev1] ready\""
    );
    drop(client);
    finish(handle).await;
}

#[tokio::test]
async fn stls_returns_the_stream() {
    let (client, handle) = connected(vec![
        Expect("STLS\r\n"),
        send("+OK Begin TLS negotiation\r\n"),
        // Stands in for the TLS layer: the client resumes on the same stream.
        Expect("CAPA\r\n"),
        send("+OK\r\nUSER\r\n.\r\n"),
    ])
    .await;
    let greeting = client.greeting().cloned();
    let stream = client.stls().await.expect("stls");
    let mut client = Pop3Client::resume(stream, Limits::default()).with_greeting(greeting);
    assert_eq!(
        client.greeting().and_then(|g| g.apop_timestamp.as_deref()),
        Some("<1896.697170952@dbc.mtview.ca.us>")
    );
    assert!(client.capa().await.expect("capa").user());
    drop(client);
    finish(handle).await;
}

#[tokio::test]
async fn stls_refuses_injected_bytes() {
    let (client, handle) = connected(vec![
        Expect("STLS\r\n"),
        send("+OK Begin TLS negotiation\r\n+OK injected\r\n"),
    ])
    .await;
    let err = client.stls().await.expect_err("must fail");
    assert!(matches!(err, Pop3Error::Protocol { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "protocol error during STLS: server sent 14 bytes after +OK before the TLS handshake \
         (possible response injection): \"+OK injected\\r\\n\""
    );
    finish(handle).await;
}

#[tokio::test]
async fn stls_refused() {
    let (client, handle) =
        connected(vec![Expect("STLS\r\n"), send("-ERR TLS not available\r\n")]).await;
    let err = client.stls().await.expect_err("must fail");
    assert_eq!(
        err.to_string(),
        "server answered -ERR to STLS: TLS not available"
    );
    finish(handle).await;
}

#[tokio::test]
async fn message_number_zero_is_refused() {
    let (mut client, handle) = connected(vec![ExpectEof]).await;
    assert!(matches!(
        client.retr(0).await,
        Err(Pop3Error::InvalidArgument(_))
    ));
    assert!(matches!(
        client.dele(0).await,
        Err(Pop3Error::InvalidArgument(_))
    ));
    drop(client);
    finish(handle).await;
}

#[tokio::test]
async fn replies_split_across_reads() {
    // The server sends one byte at a time; the client must assemble replies.
    let mut steps = vec![];
    for b in GREETING.bytes() {
        steps.push(Send(vec![b]));
    }
    steps.push(Expect("RETR 1\r\n"));
    for b in b"+OK\r\n..a\r\nb\r\n.\r\n" {
        steps.push(Send(vec![*b]));
    }
    let (stream, handle) = server(steps);
    let mut client = Pop3Client::connect(stream, Limits::default())
        .await
        .expect("connect");
    assert_eq!(client.retr(1).await.expect("retr"), b".a\r\nb\r\n");
    drop(client);
    finish(handle).await;
}

#[tokio::test]
async fn garbage_echoing_the_password_is_redacted_everywhere() {
    let password = "correct horse";
    let (mut client, handle) = connected(vec![
        Expect("USER bob\r\n"),
        send("+OK\r\n"),
        Expect("PASS correct horse\r\n"),
        send("?? what is correct horse\r\n"),
    ])
    .await;
    let err = client
        .login("bob", password, AuthMethod::User, &Capabilities::default())
        .await
        .expect_err("must fail");
    assert!(matches!(err, Pop3Error::Protocol { .. }), "{err:?}");
    assert!(err.to_string().contains("what is ****"), "{err}");
    let later = client.noop().await.expect_err("must fail");
    assert!(matches!(later, Pop3Error::Unusable(_)), "{later:?}");
    for text in [
        err.to_string(),
        format!("{err:?}"),
        later.to_string(),
        format!("{later:?}"),
        format!("{client:?}"),
    ] {
        assert!(!text.contains(password), "{text}");
    }
    drop(client);
    finish(handle).await;
}

#[tokio::test(start_paused = true)]
async fn a_reply_that_trickles_fails_after_one_timeout_period() {
    // One byte every second never trips a 2 s read timeout; the progress rule does.
    let mut steps = vec![send("+OK hi\r\n"), Expect("RETR 1\r\n")];
    for byte in b"+OK\r\nSubject: slow\r\n\r\nbody\r\n.\r\n" {
        steps.push(Send(vec![*byte]));
        steps.push(Sleep(Duration::from_secs(1)));
    }
    steps.push(Close);
    let (stream, handle) = server(steps);
    let limits = Limits {
        read_timeout: Duration::from_secs(2),
        ..Limits::default()
    };
    let mut client = Pop3Client::connect(stream, limits).await.expect("connect");
    let started = tokio::time::Instant::now();
    let err = client.retr(1).await.expect_err("must fail");
    assert!(matches!(err, Pop3Error::TooSlow { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("server too slow: only 3 bytes in 2s while waiting for reply to RETR 1"),
        "{err}"
    );
    assert!(
        started.elapsed() <= Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    drop(client);
    let _ = handle.await;
}

#[tokio::test(start_paused = true)]
async fn a_slow_but_steady_reply_is_fine() {
    // 2 KB per second is slow, but progress: never cut.
    let mut steps = vec![send("+OK hi\r\n"), Expect("RETR 1\r\n"), send("+OK\r\n")];
    for _ in 0..5 {
        steps.push(Send([b"x".repeat(2046), b"\r\n".to_vec()].concat()));
        steps.push(Sleep(Duration::from_secs(1)));
    }
    steps.push(send(".\r\n"));
    let (stream, handle) = server(steps);
    let limits = Limits {
        read_timeout: Duration::from_secs(2),
        ..Limits::default()
    };
    let mut client = Pop3Client::connect(stream, limits).await.expect("connect");
    let body = client.retr(1).await.expect("slow but steady");
    assert_eq!(body.len(), 5 * 2048);
    finish(handle).await;
}

#[tokio::test]
async fn bytes_after_the_end_of_a_message_mean_broken_dot_stuffing() {
    // The server did not stuff the lone "." line: the reply "ends" early, the rest follows.
    let (mut client, handle) = connected(vec![
        Expect("RETR 1\r\n"),
        send("+OK\r\nSubject: x\r\n\r\nbefore\r\n.\r\nafter the dot\r\n.\r\n"),
        ExpectEof,
    ])
    .await;
    let err = client.retr(1).await.expect_err("must fail");
    assert!(
        err.to_string().starts_with(
            "protocol error during RETR 1: server sent 18 more bytes after the end of the message"
        ),
        "{err}"
    );
    // The connection is out of step and not used again.
    assert!(matches!(client.dele(1).await, Err(Pop3Error::Unusable(_))));
    drop(client);
    finish(handle).await;
}

fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

#[tokio::test]
async fn login_xoauth2_short_token_goes_on_the_command_line() {
    let payload = BASE64.encode(b"user=u@example.com\x01auth=Bearer tok123\x01\x01");
    let (mut client, handle) = connected(vec![
        Expect(leak(format!("AUTH XOAUTH2 {payload}\r\n"))),
        send("+OK welcome\r\n"),
    ])
    .await;
    client
        .login_oauth("u@example.com", "tok123", OAuthMechanism::XOAuth2)
        .await
        .expect("login");
    drop(client);
    finish(handle).await;
}

#[tokio::test]
async fn login_xoauth2_long_token_waits_for_the_empty_challenge() {
    // Microsoft's access tokens are ~1.5 KB: too long for a 255-byte command line.
    let token = "t".repeat(1500);
    let payload = BASE64.encode(crate::sasl::xoauth2_payload("u", &token));
    let (mut client, handle) = connected(vec![
        Expect("AUTH XOAUTH2\r\n"),
        send("+ \r\n"),
        Expect(leak(format!("{payload}\r\n"))),
        send("+OK\r\n"),
    ])
    .await;
    client
        .login_oauth("u", &token, OAuthMechanism::XOAuth2)
        .await
        .expect("login");
    drop(client);
    finish(handle).await;
}

#[tokio::test]
async fn login_oauthbearer_answers_the_error_challenge_and_never_shows_the_token() {
    let token = "s3cr3t-access-token";
    let payload = BASE64.encode(crate::sasl::oauthbearer_payload(
        "bob",
        "pop.example.com",
        995,
        token,
    ));
    let error = BASE64.encode(br#"{"status":"invalid_token","scope":"mail"}"#);
    let (mut client, handle) = connected(vec![
        Expect(leak(format!("AUTH OAUTHBEARER {payload}\r\n"))),
        Send(format!("+ {error}\r\n").into_bytes()),
        // RFC 7628 §3.2.3: the client answers the error challenge with %x01.
        Expect("AQ==\r\n"),
        Send(format!("-ERR [AUTH] rejected {token}\r\n").into_bytes()),
    ])
    .await;
    let err = client
        .login_oauth(
            "bob",
            token,
            OAuthMechanism::OAuthBearer {
                host: "pop.example.com",
                port: 995,
            },
        )
        .await
        .expect_err("refused");
    assert!(err.is_auth_failure(), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("status=invalid_token"), "{text}");
    assert!(!text.contains(token), "{text}");
    assert!(!format!("{err:?}").contains(token));
    drop(client);
    finish(handle).await;
}

#[tokio::test]
async fn login_xoauth2_error_challenge_gets_an_empty_answer() {
    let payload = BASE64.encode(crate::sasl::xoauth2_payload("u", "tok"));
    let error =
        BASE64.encode(br#"{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}"#);
    let (mut client, handle) = connected(vec![
        Expect(leak(format!("AUTH XOAUTH2 {payload}\r\n"))),
        Send(format!("+ {error}\r\n").into_bytes()),
        Expect("\r\n"),
        send("-ERR Authentication failed\r\n"),
    ])
    .await;
    let err = client
        .login_oauth("u", "tok", OAuthMechanism::XOAuth2)
        .await
        .expect_err("refused");
    assert!(matches!(err, Pop3Error::AuthFailed { .. }), "{err:?}");
    assert!(err.to_string().contains("status=401"), "{err}");
    drop(client);
    finish(handle).await;
}
