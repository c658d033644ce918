//! SMTP smuggling (issue #13 §2): a message with bare LF line ends and a bare `\n.\n` inside
//! reaches the local Postfix as one message with its content intact, never as a message cut
//! short at the bare dot followed by a second, forged one.
//!
//! Dovecot hands out CRLF only, so a hostile IMAP server is stood in for by a proxy in front
//! of the real Dovecot that turns each `\x01` byte of the server's stream into `\n` (one byte
//! for one: the IMAP literal's length stays true). Postfix 3.7 takes a bare LF as a line end
//! (`smtpd_forbid_bare_newline = no`), as many servers do.

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Duration;

use mailpull_tests::{
    LocalMailServer, ProfileSpec, RemoteDovecot, TestCa, WorkerSetup, output_text,
};

const PASSWORD: &str = "smuggling-secret";
const WAIT: Duration = Duration::from_secs(30);

/// Forwards 127.0.0.1:port to `upstream`, rewriting `\x01` to `\n` in what the server sends.
fn lf_restoring_proxy(upstream: u16) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                continue;
            };
            let (mut c_read, mut s_write) = (
                client.try_clone().expect("clone"),
                server.try_clone().expect("clone"),
            );
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c_read, &mut s_write);
                let _ = s_write.shutdown(Shutdown::Write);
            });
            let (mut s_read, mut c_write) = (server, client);
            std::thread::spawn(move || {
                let mut buf = [0u8; 16 * 1024];
                loop {
                    let n = match s_read.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    for byte in &mut buf[..n] {
                        if *byte == 0x01 {
                            *byte = b'\n';
                        }
                    }
                    if c_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = c_write.shutdown(Shutdown::Both);
            });
        }
    });
    port
}

#[test]
fn a_bare_lf_dot_inside_a_message_reaches_postfix_as_one_intact_message() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(tmp.path()).expect("ca");
    let remote = RemoteDovecot::start(&ca).expect("remote");
    remote.add_user("isp-user", PASSWORD).expect("user");
    let local = LocalMailServer::start(&["alice", "mallory"]).expect("local");
    let forged_to = local.address("mallory");
    // \x01 becomes a bare LF on the way to the worker.
    let raw = format!(
        "Return-Path: <sender@isp.example>\r\nMessage-ID: <smuggle-1@isp.example>\r\n\
         Subject: line ends\r\n\r\nfirst line\x01second line\x01.\x01\
         MAIL FROM:<forged@isp.example>\x01RCPT TO:<{forged_to}>\x01DATA\x01\
         Subject: forged\x01\x01smuggled body\x01.\x01after the dot\r\nlast line\r\n"
    );
    remote.add_message("isp-user", raw.as_bytes()).expect("add");
    let proxy = lf_restoring_proxy(remote.imap_port());
    let password_file =
        WorkerSetup::password_file(tmp.path(), "isp-user", PASSWORD).expect("password file");
    let mut spec = ProfileSpec::new(
        "smuggling",
        proxy,
        "isp-user",
        &password_file,
        local.smtp_port(),
        "alice",
    );
    spec.protocol = "imap";
    spec.security = "plain";
    let setup = WorkerSetup::new(&[spec]).expect("setup");

    let out = setup.run_once().expect("run");
    assert!(
        out.status.success(),
        "the poll failed:\n{}\n--- maillog ---\n{}",
        output_text(&out),
        local.maillog()
    );
    let copies = local
        .wait_for_messages("alice", 1, WAIT)
        .unwrap_or_else(|e| panic!("{e:#}\n{}", output_text(&out)));
    // Give a forged second message time to arrive, had one been smuggled.
    std::thread::sleep(Duration::from_secs(2));
    let copies_now = local.messages("alice").expect("alice");
    assert_eq!(copies_now.len(), 1, "one message, not two");
    assert!(
        local.messages("mallory").expect("mallory").is_empty(),
        "a forged message was smuggled through:\n{}",
        local.maillog()
    );
    let text = String::from_utf8_lossy(&copies[0]).replace("\r\n", "\n");
    let body = "first line\nsecond line\n.\nMAIL FROM:<forged@isp.example>\n";
    assert!(text.contains(body), "content cut or changed:\n{text}");
    assert!(
        text.contains("smuggled body\n.\nafter the dot\nlast line\n"),
        "content cut or changed:\n{text}"
    );
    assert_eq!(remote.message_count("isp-user").expect("count"), 0);
}
