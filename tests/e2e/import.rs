//! `mailpull-worker import` end to end: a `.fetchmailrc` pointing at the real Dovecot (POP3S
//! with the test CA, the password in the file) is imported; the password lands in the OS
//! keyring, not in the TOML; the worker runs once on the imported configuration and the mail
//! arrives in the real Postfix → Dovecot mailbox. Run inside a session keyring of its own:
//! `MAILPULL_REQUIRE_KEYRING=1 keyctl session - cargo test -p mailpull-tests --test e2e import::`.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use mailpull_shared::secrets::{self, PasswordSource};
use mailpull_tests::{
    LocalMailServer, RemoteDovecot, RemoteOptions, TestCa, message_ids, output_text,
    require_keyring, sample_message, worker_binary,
};

const PASSWORD: &str = "imported \"pass\" #1";

fn worker(args: &[&str], config: Option<&Path>) -> Output {
    let mut command = Command::new(worker_binary().expect("worker binary"));
    command.args(args).env("RUST_LOG", "info");
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    command.output().expect("run mailpull-worker")
}

/// The ISP (the test Dovecot with three messages for `isp-user`) and the local side.
struct Bed {
    tmp: tempfile::TempDir,
    ca: TestCa,
    remote: RemoteDovecot,
    local: LocalMailServer,
    sent: Vec<Vec<u8>>,
}

fn bed(test: &str) -> Bed {
    require_keyring(test);
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(tmp.path()).expect("test CA");
    let remote = RemoteDovecot::start_with(RemoteOptions::new(&ca)).expect("remote dovecot");
    remote.add_user("isp-user", PASSWORD).expect("add user");
    let local = LocalMailServer::start(&["alice"]).expect("local postfix");
    let sent: Vec<Vec<u8>> = (0..3)
        .map(|i| {
            let raw = sample_message(i, 4_000, "isp-user@isp.example");
            remote.add_message("isp-user", &raw).expect("add message");
            raw
        })
        .collect();
    Bed {
        tmp,
        ca,
        remote,
        local,
        sent,
    }
}

impl Bed {
    /// `mailpull-worker import KIND RC --out imported.toml EXTRA...`: the report and the TOML,
    /// after checking that the password went into the keyring of `profile` and nowhere else.
    fn import(&self, kind: &str, rc: &Path, profile: &str, extra: &[&str]) -> (String, String) {
        let toml = self.tmp.path().join("imported.toml");
        let rc_arg = rc.to_string_lossy().into_owned();
        let out_arg = toml.to_string_lossy().into_owned();
        let mut args = vec!["import", kind, &rc_arg, "--out", &out_arg];
        args.extend_from_slice(extra);
        let import = worker(&args, None);
        assert!(import.status.success(), "{}", output_text(&import));
        let report = String::from_utf8_lossy(&import.stderr).into_owned();
        assert!(
            report.contains(&format!("{profile}: password stored in the OS keyring")),
            "{report}"
        );
        assert!(!report.contains(PASSWORD), "the report shows the password");
        let text = std::fs::read_to_string(&toml).expect("imported TOML");
        assert!(
            !text.contains("pass\\\"") && !text.contains(PASSWORD),
            "{text}"
        );
        assert!(text.contains("password = { keyring = true }"), "{text}");
        let stored = PasswordSource::Keyring
            .read(profile)
            .expect("keyring entry");
        assert_eq!(stored.expose(), PASSWORD);
        (report, text)
    }

    /// Runs `check` and `run --once` on the imported TOML (state in the temp dir) and checks
    /// that every message arrived in alice's local mailbox and left the ISP.
    fn run_imported(&self, text: &str) {
        let toml = self.tmp.path().join("imported.toml");
        let state = self.tmp.path().join("state");
        std::fs::write(
            &toml,
            format!(
                "[worker]\nstate_dir = {:?}\n\n{text}",
                state.display().to_string()
            ),
        )
        .expect("add [worker]");
        let check = worker(&["check"], Some(&toml));
        assert!(check.status.success(), "{}", output_text(&check));
        let run = worker(&["run", "--once"], Some(&toml));
        assert!(run.status.success(), "{}", output_text(&run));
        let delivered = self
            .local
            .wait_for_messages("alice", self.sent.len(), Duration::from_secs(30))
            .unwrap_or_else(|err| panic!("{err:#}\n--- maillog\n{}", self.local.maillog()));
        let mut want = message_ids(&self.sent);
        let mut got = message_ids(&delivered);
        want.sort();
        got.sort();
        assert_eq!(got, want);
        assert_eq!(self.remote.message_count("isp-user").expect("count"), 0);
    }
}

#[test]
fn an_imported_fetchmailrc_pulls_into_the_local_mailbox_with_the_password_in_the_keyring() {
    let bed = bed("an_imported_fetchmailrc_pulls_into_the_local_mailbox");
    let profile = format!("import-e2e-{}", std::process::id());
    let rc = bed.tmp.path().join("fetchmailrc");
    std::fs::write(
        &rc,
        format!(
            "# written like a user's ~/.fetchmailrc\n\
             set daemon 60\n\
             set logfile /var/log/fetchmail.log\n\
             poll \"{profile}\" via localhost proto pop3 port {port}\n\
             \tuser \"isp-user\" there with password \"imported \\\"pass\\\" #1\" is alice here\n\
             \tssl sslcertck sslcertfile \"{ca}\"\n\
             \tsmtphost 127.0.0.1/{smtp} smtpaddress {domain}\n\
             \tmda \"/usr/bin/procmail -d %T\"\n",
            port = bed.remote.pop3s_port(),
            ca = bed.ca.ca_file().display(),
            smtp = bed.local.smtp_port(),
            domain = mailpull_tests::LOCAL_DOMAIN,
        ),
    )
    .expect("write fetchmailrc");
    let (report, text) = bed.import("fetchmailrc", &rc, &profile, &[]);
    assert!(
        report.contains("fetchmailrc:8: not imported: mda \"/usr/bin/procmail -d %T\""),
        "{report}"
    );
    assert!(
        report.contains("fetchmailrc:3: not imported: set logfile"),
        "{report}"
    );
    bed.run_imported(&text);
    secrets::delete_from_keyring(&profile).expect("delete");
}

/// A getmailrc (IMAP over SSL, sendmail with a fixed recipient, delete) with `--smtp`
/// naming the local server its sendmail handed the mail to.
#[test]
fn an_imported_getmailrc_pulls_over_imaps_into_the_local_mailbox() {
    let bed = bed("an_imported_getmailrc_pulls_over_imaps_into_the_local_mailbox");
    let profile = format!("getmail-e2e-{}", std::process::id());
    let rc = bed.tmp.path().join(format!("getmailrc-{profile}"));
    std::fs::write(
        &rc,
        format!(
            "[retriever]\n\
             type = SimpleIMAPSSLRetriever\n\
             server = localhost\n\
             port = {port}\n\
             username = isp-user\n\
             password = {PASSWORD}\n\
             ca_certs = {ca}\n\
             mailboxes = (\"INBOX\",)\n\
             \n\
             [destination]\n\
             type = MDA_external\n\
             path = /usr/sbin/sendmail\n\
             arguments = (\"-oi\", \"-f\", \"%(sender)\", \"alice@{domain}\")\n\
             \n\
             [options]\n\
             verbose = 0\n\
             delete = true\n",
            port = bed.remote.imaps_port(),
            ca = bed.ca.ca_file().display(),
            domain = mailpull_tests::LOCAL_DOMAIN,
        ),
    )
    .expect("write getmailrc");
    let smtp = format!("127.0.0.1:{}", bed.local.smtp_port());
    let (report, text) = bed.import("getmailrc", &rc, &profile, &["--smtp", &smtp]);
    assert!(
        report.contains(&format!(
            "getmailrc-{profile}:16: not imported: verbose = 0"
        )),
        "{report}"
    );
    assert!(text.contains("protocol = \"imap\""), "{text}");
    bed.run_imported(&text);
    secrets::delete_from_keyring(&profile).expect("delete");
}

/// A file that cannot be parsed: exit 1, the file, line and what was expected, and nothing
/// written.
#[test]
fn a_fetchmailrc_that_does_not_parse_fails_naming_the_line() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let rc = tmp.path().join("fetchmailrc");
    std::fs::write(
        &rc,
        "poll pop.x.example proto pop3\n  user joe pass my secret\n",
    )
    .expect("write");
    let toml = tmp.path().join("new.toml");
    let rc_arg = rc.to_string_lossy().into_owned();
    let out_arg = toml.to_string_lossy().into_owned();
    let import = worker(&["import", "fetchmailrc", &rc_arg, "--out", &out_arg], None);
    assert_eq!(import.status.code(), Some(1), "{}", output_text(&import));
    let stderr = String::from_utf8_lossy(&import.stderr);
    assert!(
        stderr.contains(&format!(
            "{rc_arg}:2: expected an option keyword, found `secret`"
        )),
        "{stderr}"
    );
    assert!(!toml.exists());
}
