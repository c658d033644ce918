//! TLS refusals beyond the untrusted and wrong-host certificates of `worker.rs`: an expired
//! certificate, a self-signed one with no `ca_file`, a server speaking only TLS 1.0 or 1.1,
//! and STARTTLS stripped by a man in the middle. Each must be refused with a message naming
//! the cause, the password must never cross in plain text, and nothing may move.

use std::path::PathBuf;

use mailpull_tests::old_tls::{OldTls, OldTlsServer};
use mailpull_tests::strip_proxy::StripTlsProxy;
use mailpull_tests::{
    LocalMailServer, ProfileSpec, RemoteDovecot, RemoteOptions, TestCa, WorkerSetup, output_text,
    sample_message,
};

const PASSWORD: &str = "remote-secret-tls-4";
const USER: &str = "isp-user";

struct Rig {
    tmp: tempfile::TempDir,
    ca: TestCa,
    remote: RemoteDovecot,
    local: LocalMailServer,
    password_file: PathBuf,
}

fn rig_with(options: impl FnOnce(&TestCa) -> anyhow::Result<RemoteOptions>) -> Rig {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(tmp.path()).expect("test CA");
    let remote = RemoteDovecot::start_with(options(&ca).expect("options")).expect("remote dovecot");
    remote.add_user(USER, PASSWORD).expect("add user");
    remote
        .add_message(USER, &sample_message(1, 2_000, "isp-user@isp.example"))
        .expect("add message");
    let local = LocalMailServer::start(&["alice"]).expect("local postfix");
    let password_file = WorkerSetup::password_file(tmp.path(), USER, PASSWORD).expect("pw");
    Rig {
        tmp,
        ca,
        remote,
        local,
        password_file,
    }
}

impl Rig {
    fn spec(&self, protocol: &'static str, security: &'static str, port: u16) -> ProfileSpec {
        let mut spec = ProfileSpec::new(
            "isp",
            port,
            USER,
            &self.password_file,
            self.local.smtp_port(),
            "alice",
        );
        spec.protocol = protocol;
        spec.security = security;
        spec.ca_file = Some(self.ca.ca_file().to_path_buf());
        spec
    }

    /// Runs the worker once on `spec`: it must fail naming `cause`; nothing moved.
    fn expect_refused(&self, spec: ProfileSpec, cause: &str) -> String {
        let setup = WorkerSetup::new(&[spec]).expect("setup");
        let out = setup.run_once().expect("run");
        let text = output_text(&out);
        assert!(!out.status.success(), "{text}");
        assert!(text.contains(cause), "expected {cause:?} in:\n{text}");
        assert!(!text.contains(PASSWORD), "password in the output:\n{text}");
        assert_eq!(self.remote.message_count(USER).expect("count"), 1);
        assert!(self.local.messages("alice").expect("local").is_empty());
        text
    }
}

#[test]
fn an_expired_certificate_is_refused() {
    let rig = rig_with(|ca| Ok(RemoteOptions::new(ca).with_cert(ca.expired()?)));
    for (protocol, port) in [
        ("pop3", rig.remote.pop3s_port()),
        ("imap", rig.remote.imaps_port()),
    ] {
        rig.expect_refused(
            rig.spec(protocol, "tls", port),
            "the server's certificate has expired",
        );
    }
    // The same over STARTTLS: refused after STLS, before any login.
    rig.expect_refused(
        rig.spec("pop3", "starttls", rig.remote.pop3_port()),
        "has expired",
    );
}

#[test]
fn a_self_signed_certificate_without_ca_file_is_refused() {
    let rig = rig_with(|ca| Ok(RemoteOptions::new(ca).with_cert(ca.untrusted()?)));
    for (protocol, port) in [
        ("pop3", rig.remote.pop3s_port()),
        ("imap", rig.remote.imaps_port()),
    ] {
        let mut spec = rig.spec(protocol, "tls", port);
        spec.ca_file = None;
        rig.expect_refused(spec, "not signed by a trusted authority");
    }
}

#[test]
fn a_server_speaking_only_tls_1_0_or_1_1_is_refused() {
    let rig = rig_with(|ca| Ok(RemoteOptions::new(ca)));
    let cert = rig.ca.server_pair();
    for version in [OldTls::V1_0, OldTls::V1_1] {
        let server = OldTlsServer::start(version, &cert).expect("openssl s_server");
        for protocol in ["pop3", "imap"] {
            let text = rig.expect_refused(rig.spec(protocol, "tls", server.port()), "TLS version");
            eprintln!(
                "{version:?} {protocol}: {}",
                text.lines()
                    .find(|l| l.contains("TLS version"))
                    .unwrap_or_default()
            );
        }
    }
}

#[test]
fn starttls_stripped_by_a_man_in_the_middle_fails_closed() {
    let rig = rig_with(|ca| Ok(RemoteOptions::new(ca)));
    for (protocol, port, command) in [
        ("pop3", rig.remote.pop3_port(), "STLS"),
        ("imap", rig.remote.imap_port(), "STARTTLS"),
    ] {
        let proxy = StripTlsProxy::start(([127, 0, 0, 1], port).into()).expect("stripping proxy");
        rig.expect_refused(
            rig.spec(protocol, "starttls", proxy.port()),
            &format!("does not offer {command}"),
        );
        let sent = String::from_utf8_lossy(&proxy.client_sent()).to_ascii_uppercase();
        assert!(
            !sent.contains("PASS") && !sent.contains("LOGIN") && !sent.contains("AUTHENTICATE"),
            "{protocol}: credentials sent in plain text: {sent}"
        );
    }
    let _ = &rig.tmp;
}
