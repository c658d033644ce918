//! STARTTLS response injection against the local server (issue #13 §2): a man in the middle
//! adds a plaintext line behind Postfix's `220 Ready to start TLS`. lettre reads through a
//! buffer that survives its TLS upgrade, so that line used to be read, after the handshake, as
//! Postfix's answer to the EHLO sent over TLS, and every later reply came one command late.
//! The worker must refuse the connection instead (nothing delivered, nothing deleted), and
//! deliver normally on the next poll. Real Dovecot (POP3S) and real Postfix with STARTTLS; the
//! fault proxy in front of Postfix adds the line.

use std::time::Duration;

use mailpull_tests::proxy::{Action, FaultProxy, Trigger};
use mailpull_tests::{
    LocalMailServer, LocalOptions, ProfileSpec, RemoteDovecot, TestCa, WorkerSetup, message_ids,
    output_text, sample_message,
};

const PASSWORD: &str = "inject-secret";
const WAIT: Duration = Duration::from_secs(30);

#[test]
fn a_line_injected_behind_the_starttls_reply_is_refused_not_read_as_an_answer() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(tmp.path()).expect("ca");
    let remote = RemoteDovecot::start(&ca).expect("remote");
    remote.add_user("isp-user", PASSWORD).expect("user");
    let local = LocalMailServer::start_with(LocalOptions {
        users: vec!["alice".into()],
        tls: Some(ca.server_pair()),
        ..Default::default()
    })
    .expect("local with STARTTLS");
    let proxy = FaultProxy::start(([127, 0, 0, 1], local.smtp_port()).into()).expect("proxy");
    let sent: Vec<Vec<u8>> = (0..2)
        .map(|i| {
            let raw = sample_message(i, 2_000, "isp-user@isp.example");
            remote.add_message("isp-user", &raw).expect("add");
            raw
        })
        .collect();
    let password = WorkerSetup::password_file(tmp.path(), "isp", PASSWORD).expect("pw");
    let spec = |port: u16| {
        let mut spec = ProfileSpec::new(
            "isp",
            remote.pop3s_port(),
            "isp-user",
            &password,
            port,
            "alice",
        );
        spec.ca_file = Some(ca.ca_file().to_path_buf());
        spec.extra = format!(
            "smtp_security = \"starttls\"\nca_file = {:?}\n",
            ca.ca_file().display().to_string()
        );
        spec
    };
    let setup = WorkerSetup::new(&[spec(proxy.port())]).expect("setup");

    proxy.arm(
        Trigger::line("STARTTLS", 1),
        Action::InjectAfterReply("250 2.0.0 Ok: injected by a man in the middle\r\n".into()),
    );
    let out = setup.run_once().expect("run");
    let text = output_text(&out);
    assert_eq!(proxy.fired(), 1, "{text}");
    assert!(
        !out.status.success(),
        "the injected line must not pass:\n{text}"
    );
    assert!(
        text.contains("plaintext after its STARTTLS reply"),
        "the error names the injection:\n{text}"
    );
    assert_eq!(
        remote.message_count("isp-user").expect("count"),
        2,
        "nothing deleted:\n{text}"
    );
    assert!(local.messages("alice").expect("alice").is_empty(), "{text}");

    // Without the man in the middle (straight to Postfix: the proxy handles client lines and
    // cannot carry a TLS handshake it did not set raw) the next poll delivers both, once each.
    let setup = WorkerSetup::new(&[spec(local.smtp_port())]).expect("setup");
    let out = setup.run_once().expect("run");
    let text = output_text(&out);
    assert!(out.status.success(), "{text}");
    let got = local
        .wait_for_messages("alice", 2, WAIT)
        .expect("delivered");
    let mut got = message_ids(&got);
    got.sort();
    let mut want = message_ids(&sent);
    want.sort();
    assert_eq!(got, want, "{text}");
    assert_eq!(remote.message_count("isp-user").expect("count"), 0);
}
