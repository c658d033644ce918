//! Smoke tests of the test harness itself: the private servers answer real protocol talk.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{Context, ensure};
use mailpull_tests::{
    LineClient, LocalMailServer, RemoteDovecot, RemoteOptions, SmtpSink, TestCa, added_headers,
    crlf_to_lf, headers, message_ids, port_is_open, sample_message, smtp_rcpt_reply, smtp_send,
};

/// A TLS stream to localhost:`port` trusting only the test CA.
fn tls_connect(
    ca: &TestCa,
    port: u16,
) -> anyhow::Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>> {
    let name = rustls::pki_types::ServerName::try_from("localhost")?;
    let conn = rustls::ClientConnection::new(ca.rustls_client_config()?, name)?;
    let tcp = TcpStream::connect(("127.0.0.1", port))?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    Ok(tls)
}

fn read_line(reader: &mut impl BufRead) -> anyhow::Result<String> {
    let mut line = String::new();
    ensure!(reader.read_line(&mut line)? > 0, "connection closed");
    Ok(line.trim_end().to_owned())
}

#[test]
fn harness_remote_pop3_login_stat_retr_dele() -> anyhow::Result<()> {
    let ca = TestCa::temporary()?;
    let remote = RemoteDovecot::start(&ca)?;
    remote.add_user("bob", "bob-pw")?;
    let msgs: Vec<Vec<u8>> = (0..3)
        .map(|i| sample_message(i, 4000, "bob@example.test"))
        .collect();
    for m in &msgs {
        remote.add_message("bob", m)?;
    }
    assert_eq!(remote.message_count("bob")?, 3);

    let mut c = LineClient::connect(remote.pop3_port())?;
    let greeting = c.read_line()?;
    assert!(greeting.starts_with("+OK"), "greeting {greeting:?}");
    assert!(c.command("CAPA")?.starts_with("+OK"));
    let capa = c.read_multiline()?;
    assert!(capa.iter().any(|l| l == "STLS"), "CAPA {capa:?}");
    assert!(c.command("USER bob")?.starts_with("+OK"));
    let pass = c.command("PASS bob-pw")?;
    assert!(pass.starts_with("+OK"), "PASS answered {pass:?}");
    let stat = c.command("STAT")?;
    assert!(stat.starts_with("+OK 3 "), "STAT answered {stat:?}");

    // Message 1 comes back byte for byte (POP3 undoes the dot-stuffing, CRLF is kept).
    assert!(c.command("RETR 1")?.starts_with("+OK"));
    let body: Vec<u8> = c
        .read_multiline()?
        .iter()
        .flat_map(|l| format!("{l}\r\n").into_bytes())
        .collect();
    assert_eq!(body, msgs[0]);

    assert!(c.command("DELE 1")?.starts_with("+OK"));
    assert!(c.command("QUIT")?.starts_with("+OK"));
    assert_eq!(remote.message_count("bob")?, 2);

    // A wrong password is refused at once (no auth failure delay).
    let mut c = LineClient::connect(remote.pop3_port())?;
    c.read_line()?;
    c.command("USER bob")?;
    let started = std::time::Instant::now();
    assert!(c.command("PASS wrong")?.starts_with("-ERR"));
    assert!(started.elapsed() < Duration::from_secs(1));
    Ok(())
}

#[test]
fn harness_remote_tls_ports_and_folders() -> anyhow::Result<()> {
    let ca = TestCa::temporary()?;
    let remote = RemoteDovecot::start(&ca)?;
    remote.add_user("carol", "pw")?;
    remote.add_message("carol", &sample_message(1, 2000, "carol@example.test"))?;
    remote.add_message_to(
        "carol",
        "Archive/2024",
        &sample_message(2, 2000, "carol@example.test"),
    )?;
    assert_eq!(remote.message_count_in("carol", "Archive/2024")?, 1);

    // IMAPS: TLS handshake with the test CA, then log in and look at the folders.
    let mut tls = tls_connect(&ca, remote.imaps_port())?;
    let mut reader = BufReader::new(&mut tls);
    assert!(read_line(&mut reader)?.starts_with("* OK"));
    drop(reader);
    tls.write_all(b"a1 LOGIN carol pw\r\na2 LIST \"\" \"*\"\r\na3 SELECT INBOX\r\na4 LOGOUT\r\n")?;
    let mut transcript = String::new();
    tls.read_to_string(&mut transcript).or_else(|e| {
        // Dovecot may close without close_notify after LOGOUT.
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            Ok(0)
        } else {
            Err(e)
        }
    })?;
    assert!(transcript.contains("a1 OK"), "{transcript}");
    assert!(transcript.contains("Archive.2024"), "{transcript}");
    assert!(transcript.contains("* 1 EXISTS"), "{transcript}");

    // POP3S.
    let mut tls = tls_connect(&ca, remote.pop3s_port())?;
    let mut reader = BufReader::new(&mut tls);
    assert!(read_line(&mut reader)?.starts_with("+OK"));

    // Plain IMAP offers STARTTLS.
    let mut c = LineClient::connect(remote.imap_port())?;
    let greeting = c.read_line()?;
    assert!(greeting.contains("STARTTLS"), "IMAP greeting {greeting:?}");
    Ok(())
}

#[test]
fn harness_remote_bad_certificates_fail_the_handshake() -> anyhow::Result<()> {
    let ca = TestCa::temporary()?;
    for (what, cert) in [
        ("untrusted", ca.untrusted()?),
        ("wrong host", ca.wrong_host()?),
        ("expired", ca.expired()?),
    ] {
        let remote = RemoteDovecot::start_with(RemoteOptions::new(&ca).with_cert(cert))?;
        let err = match tls_connect(&ca, remote.pop3s_port()) {
            Ok(_) => anyhow::bail!("{what} certificate was accepted"),
            Err(e) => format!("{e:#}"),
        };
        let want = match what {
            "untrusted" => "UnknownIssuer",
            "wrong host" => "not valid for name",
            _ => "certificate expired",
        };
        assert!(err.contains(want), "{what}: {err}");
    }
    Ok(())
}

#[test]
fn harness_remote_without_starttls() -> anyhow::Result<()> {
    let ca = TestCa::temporary()?;
    let remote = RemoteDovecot::start_with(RemoteOptions::new(&ca).without_starttls())?;
    remote.add_user("dave", "pw")?;
    remote.add_message("dave", &sample_message(1, 1000, "dave@example.test"))?;

    let mut c = LineClient::connect(remote.pop3_port())?;
    c.read_line()?;
    c.command("CAPA")?;
    let capa = c.read_multiline()?;
    assert!(!capa.iter().any(|l| l == "STLS"), "CAPA {capa:?}");
    assert!(c.command("STLS")?.starts_with("-ERR"));

    let mut c = LineClient::connect(remote.imap_port())?;
    let greeting = c.read_line()?;
    assert!(!greeting.contains("STARTTLS"), "IMAP greeting {greeting:?}");

    // Implicit TLS still serves the same mailbox.
    let mut tls = tls_connect(&ca, remote.pop3s_port())?;
    let mut reader = BufReader::new(&mut tls);
    assert!(read_line(&mut reader)?.starts_with("+OK"));
    drop(reader);
    tls.write_all(b"USER dave\r\nPASS pw\r\nSTAT\r\n")?;
    let mut reader = BufReader::new(&mut tls);
    assert!(read_line(&mut reader)?.starts_with("+OK"));
    assert!(read_line(&mut reader)?.starts_with("+OK"));
    let stat = read_line(&mut reader)?;
    assert!(stat.starts_with("+OK 1 "), "STAT {stat:?}");
    Ok(())
}

#[test]
fn harness_remote_stops_on_drop() -> anyhow::Result<()> {
    let ca = TestCa::temporary()?;
    let remote = RemoteDovecot::start(&ca)?;
    let ports = [
        remote.pop3_port(),
        remote.pop3s_port(),
        remote.imap_port(),
        remote.imaps_port(),
    ];
    assert!(ports.iter().all(|&p| port_is_open(p)));
    drop(remote);
    assert!(
        ports.iter().all(|&p| !port_is_open(p)),
        "a port still answers after drop"
    );
    Ok(())
}

#[test]
fn harness_local_postfix_delivers_to_maildir() -> anyhow::Result<()> {
    let local = LocalMailServer::start(&["alice", "bob"])?;
    assert_eq!(local.domain(), "local.test");
    let msg = sample_message(42, 30_000, "alice@local.test");
    smtp_send(
        local.smtp_port(),
        "sender@example.test",
        &["alice@local.test"],
        &msg,
    )?;
    let got = local.wait_for_messages("alice", 1, Duration::from_secs(10))?;
    assert_eq!(got.len(), 1);
    assert_eq!(message_ids(&got), vec!["<mailpull-test-42@example.test>"]);

    // Byte for byte apart from LF line ends, the dropped Return-Path and four trace headers.
    let added =
        added_headers(&msg, &got[0]).context("delivered message differs from the sent one")?;
    let names: Vec<String> = headers(added.as_bytes())
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        names,
        ["Return-Path", "Delivered-To", "Received", "Received"],
        "{added}"
    );
    assert!(
        added.starts_with("Return-Path: <sender@example.test>\nDelivered-To: alice@local.test\n")
    );
    assert!(crlf_to_lf(&msg).len() > got[0].len() - added.len());
    assert!(local.messages("bob")?.is_empty());
    local.wait_for_maillog("status=sent", Duration::from_secs(5))?;

    // Unknown users are refused by Postfix itself.
    let reply = smtp_rcpt_reply(
        local.smtp_port(),
        "sender@example.test",
        "nobody@local.test",
    )?;
    assert_eq!(reply.code, 550, "{}", reply.text());
    Ok(())
}

#[test]
fn harness_local_set_reject_changes_rcpt_replies() -> anyhow::Result<()> {
    let local = LocalMailServer::start(&["alice", "bob"])?;
    let port = local.smtp_port();
    // A session opened before the change sees it on its next RCPT.
    let mut open = LineClient::connect(port)?;
    open.smtp_reply()?;
    assert_eq!(open.smtp_command("EHLO test.localhost")?.code, 250);
    assert_eq!(open.smtp_command("MAIL FROM:<s@example.test>")?.code, 250);
    assert_eq!(open.smtp_command("RCPT TO:<bob@local.test>")?.code, 250);

    local.set_reject("bob@local.test", Some("451 4.3.0 try again later"))?;
    assert_eq!(open.smtp_command("RCPT TO:<bob@local.test>")?.code, 451);
    let reply = smtp_rcpt_reply(port, "s@example.test", "bob@local.test")?;
    assert_eq!(reply.code, 451);
    assert!(reply.text().contains("try again later"), "{}", reply.text());
    assert_eq!(
        smtp_rcpt_reply(port, "s@example.test", "alice@local.test")?.code,
        250
    );

    local.set_reject("bob@local.test", Some("550 5.1.1 no such user"))?;
    assert_eq!(
        smtp_rcpt_reply(port, "s@example.test", "bob@local.test")?.code,
        550
    );

    local.set_reject("bob@local.test", None)?;
    assert_eq!(
        smtp_rcpt_reply(port, "s@example.test", "bob@local.test")?.code,
        250
    );

    // A whole domain, and an address that is not a mailbox at all.
    local.set_reject("local.test", Some("421 4.7.0 closing"))?;
    assert_eq!(
        smtp_rcpt_reply(port, "s@example.test", "alice@local.test")?.code,
        421
    );
    local.set_reject("local.test", None)?;
    let err = local.set_reject("bob@local.test", Some("250 fine")).err();
    assert!(err.is_some(), "a 2xx reject reply must be refused");
    Ok(())
}

#[test]
fn harness_smtp_sink_counts_and_dumps() -> anyhow::Result<()> {
    let sink = SmtpSink::start_dumping()?;
    let msgs: Vec<Vec<u8>> = (0..3)
        .map(|i| sample_message(i, 3000, "x@local.test"))
        .collect();
    for m in &msgs {
        smtp_send(sink.port(), "from@example.test", &["x@local.test"], m)?;
    }
    assert_eq!(sink.wait_for(3, Duration::from_secs(5))?, 3);
    let dumped = sink.messages()?;
    assert_eq!(dumped.len(), 3);
    let mut datas: Vec<String> = dumped
        .iter()
        .map(|d| String::from_utf8_lossy(&d.data).into_owned())
        .collect();
    datas.sort();
    let mut expected: Vec<String> = msgs
        .iter()
        .map(|m| String::from_utf8_lossy(&crlf_to_lf(m)).into_owned())
        .collect();
    expected.sort();
    assert_eq!(datas, expected);
    assert_eq!(dumped[0].mail_from, "<from@example.test>");
    assert_eq!(dumped[0].rcpt_to, vec!["<x@local.test>".to_owned()]);

    let counting = SmtpSink::start()?;
    smtp_send(
        counting.port(),
        "a@example.test",
        &["b@example.test"],
        &msgs[0],
    )?;
    assert_eq!(counting.wait_for(1, Duration::from_secs(5))?, 1);
    assert!(counting.messages().is_err());
    Ok(())
}

#[test]
fn harness_remote_serves_100_concurrent_logins() -> anyhow::Result<()> {
    let ca = TestCa::temporary()?;
    let t0 = std::time::Instant::now();
    let remote = RemoteDovecot::start(&ca)?;
    for i in 0..100 {
        remote.add_user(&format!("user{i}"), "pw")?;
        remote.add_message(
            &format!("user{i}"),
            &sample_message(i, 1000, "x@example.test"),
        )?;
    }
    eprintln!("setup {:?}", t0.elapsed());
    let port = remote.pop3_port();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(100));
    let handles: Vec<_> = (0..100)
        .map(|i| {
            let barrier = std::sync::Arc::clone(&barrier);
            std::thread::spawn(move || -> anyhow::Result<String> {
                let mut c = LineClient::connect(port)?;
                c.read_line()?;
                c.command(&format!("USER user{i}"))?;
                let pass = c.command("PASS pw")?;
                ensure!(pass.starts_with("+OK"), "user{i}: PASS answered {pass:?}");
                // Hold every session open at the same time.
                barrier.wait();
                let stat = c.command("STAT")?;
                c.command("QUIT")?;
                Ok(stat)
            })
        })
        .collect();
    for h in handles {
        let stat = h
            .join()
            .map_err(|_| anyhow::anyhow!("login thread panicked"))??;
        assert!(stat.starts_with("+OK 1 "), "STAT {stat:?}");
    }
    eprintln!("logins {:?}", t0.elapsed());
    let log = remote.log();
    assert!(
        !log.contains("Warning: service"),
        "limit warnings in the log:\n{log}"
    );
    assert!(!log.contains("Error"), "errors in the log:\n{log}");
    let t1 = std::time::Instant::now();
    drop(remote);
    eprintln!("drop {:?}", t1.elapsed());
    Ok(())
}

#[test]
fn harness_start_failures_carry_the_server_log() -> anyhow::Result<()> {
    let ca = TestCa::temporary()?;
    let err =
        RemoteDovecot::start_with(RemoteOptions::new(&ca).with_extra_config("no_such_setting = 1"))
            .err()
            .context("a broken Dovecot config started")?;
    assert!(format!("{err:#}").contains("no_such_setting"), "{err:#}");

    let err = LocalMailServer::start_with(mailpull_tests::LocalOptions {
        users: vec!["alice".into()],
        extra_main_cf: "queue_directory = /nonexistent/mailpull-queue".into(),
        ..Default::default()
    })
    .err()
    .context("a broken Postfix config started")?;
    assert!(
        format!("{err:#}").contains("/nonexistent/mailpull-queue"),
        "{err:#}"
    );

    // A Sieve script that does not compile: sievec's complaint, naming the line.
    let err = LocalMailServer::start_with(mailpull_tests::LocalOptions {
        users: vec!["alice".into()],
        sieve_before: Some(
            "require \"duplicate\";\nif duplicat :header \"X\" { discard; }\n".into(),
        ),
        ..Default::default()
    })
    .err()
    .context("a broken Sieve script started")?;
    let text = format!("{err:#}");
    assert!(
        text.contains("sieve_before") && text.contains("line 2"),
        "{text}"
    );

    // A header name that is none: refused before Postfix starts.
    let err = LocalMailServer::start_with(mailpull_tests::LocalOptions {
        users: vec!["alice".into()],
        log_headers: vec!["X-Bad: name".into()],
        ..Default::default()
    })
    .err()
    .context("a bad log_headers name was taken")?;
    assert!(format!("{err:#}").contains("\"X-Bad: name\""), "{err:#}");
    Ok(())
}

#[test]
fn harness_local_offers_starttls_when_asked() -> anyhow::Result<()> {
    let ca = TestCa::temporary()?;
    let local = LocalMailServer::start_with(mailpull_tests::LocalOptions {
        users: vec!["alice".into()],
        tls: Some(ca.server_pair()),
        ..Default::default()
    })?;
    let mut c = LineClient::connect(local.smtp_port())?;
    c.smtp_reply()?;
    let ehlo = c.smtp_command("EHLO test.localhost")?;
    assert!(ehlo.lines.iter().any(|l| l == "STARTTLS"), "EHLO {ehlo:?}");
    assert_eq!(c.smtp_command("STARTTLS")?.code, 220);

    // Finish the handshake on the same socket with the test CA.
    let name = rustls::pki_types::ServerName::try_from("localhost")?;
    let conn = rustls::ClientConnection::new(ca.rustls_client_config()?, name)?;
    let tcp = TcpStream::connect(("127.0.0.1", local.smtp_port()))?;
    drop(c);
    // A fresh session: greeting, EHLO, STARTTLS, then TLS.
    let mut plain = BufReader::new(tcp.try_clone()?);
    let mut tcp_w = tcp.try_clone()?;
    read_line(&mut plain)?;
    tcp_w.write_all(b"EHLO test.localhost\r\n")?;
    while !read_line(&mut plain)?.starts_with("250 ") {}
    tcp_w.write_all(b"STARTTLS\r\n")?;
    assert!(read_line(&mut plain)?.starts_with("220"));
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    tls.write_all(b"EHLO test.localhost\r\n")?;
    let mut reader = BufReader::new(&mut tls);
    assert!(read_line(&mut reader)?.starts_with("250"));
    Ok(())
}
