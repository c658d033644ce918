//! The delivery record belongs to the remote mailbox, not to the route to it (issue #12, 3):
//! a profile that keeps mail on the server and then changes its port and security (POP3S on
//! 995 ↔ POP3 with STARTTLS on 110, IMAPS ↔ IMAP with STARTTLS), the case of its host name, or
//! the host name itself for another name of the same server, must not deliver the kept mail a
//! second time.

use std::path::PathBuf;
use std::time::Duration;

use mailpull_tests::{
    LocalMailServer, ProfileSpec, RemoteDovecot, TestCa, WorkerSetup, config_text, duplicate_ids,
    output_text, sample_message,
};

const PASSWORD: &str = "mailbox-key-secret";
const WAIT: Duration = Duration::from_secs(30);

fn run_ok(setup: &WorkerSetup, what: &str) {
    let out = setup.run_once().expect("run");
    assert!(out.status.success(), "{what}: {}", output_text(&out));
}

/// Polls the same kept mailbox over several routes; only the first poll delivers.
fn same_mailbox_other_routes(protocol: &'static str) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(tmp.path()).expect("ca");
    let remote = RemoteDovecot::start(&ca).expect("remote");
    remote.add_user("isp-user", PASSWORD).expect("user");
    let local = LocalMailServer::start(&["alice"]).expect("local");
    let password_file: PathBuf =
        WorkerSetup::password_file(tmp.path(), "isp-user", PASSWORD).expect("pw");
    for i in 0..5 {
        let raw = sample_message(i, 2_000, "isp-user@isp.example");
        remote.add_message("isp-user", &raw).expect("add");
    }
    let (tls_port, plain_port) = match protocol {
        "pop3" => (remote.pop3s_port(), remote.pop3_port()),
        _ => (remote.imaps_port(), remote.imap_port()),
    };
    let mut spec = ProfileSpec::new(
        "kept",
        tls_port,
        "isp-user",
        &password_file,
        local.smtp_port(),
        "alice",
    );
    spec.protocol = protocol;
    spec.ca_file = Some(ca.ca_file().to_path_buf());
    spec.after_delivery = "keep";
    let setup = WorkerSetup::new(&[spec.clone()]).expect("setup");
    run_ok(&setup, "first poll");
    let first = local
        .wait_for_messages("alice", 5, WAIT)
        .unwrap_or_else(|e| panic!("{e:#}\n{}", local.maillog()));
    assert_eq!(first.len(), 5);

    // The same mailbox, other routes: STARTTLS on the plain port, the host in capitals, and
    // 127.0.0.1 (the test certificate names both localhost and 127.0.0.1).
    let routes: [(&str, u16, &str); 3] = [
        ("localhost", plain_port, "starttls"),
        ("LOCALHOST", tls_port, "tls"),
        ("127.0.0.1", plain_port, "starttls"),
    ];
    for (host, port, security) in routes {
        let mut changed = spec.clone();
        changed.host = host.to_string();
        changed.port = port;
        changed.security = security;
        std::fs::write(
            &setup.config,
            config_text(&setup.state_dir(), 64, 4, &[changed]),
        )
        .expect("rewrite config");
        run_ok(&setup, &format!("{protocol} via {host}:{port} {security}"));
        std::thread::sleep(Duration::from_millis(500));
        let now = local.messages("alice").expect("local");
        assert_eq!(
            now.len(),
            5,
            "{protocol} via {host}:{port} ({security}) delivered the kept mail again: {:?}",
            duplicate_ids(&now)
        );
    }
    assert_eq!(remote.message_count("isp-user").expect("count"), 5);
}

#[test]
fn pop3_kept_mail_is_not_delivered_again_over_another_route() {
    same_mailbox_other_routes("pop3");
}

#[test]
fn imap_kept_mail_is_not_delivered_again_over_another_route() {
    same_mailbox_other_routes("imap");
}
