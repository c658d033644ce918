//! A local SMTP server that goes silent where lettre used to wait for ever (issue #13 §2):
//! after answering STARTTLS (no TLS handshake follows), and on the NOOP with which a pooled
//! connection is checked before it is reused. The remote is the real Dovecot (POP3S); the
//! local server is the scripted [`FakeSmtp`], since Postfix does not stall on demand. The
//! profile's `timeout = "2s"` gives SMTP timeouts of 4 s.

use std::process::{Child, Output};
use std::time::{Duration, Instant};

use mailpull_tests::fake_smtp::{FakeSmtp, Fault, Step};
use mailpull_tests::{
    ProfileSpec, RemoteDovecot, TestCa, WorkerSetup, message_ids, output_text, sample_message,
};

const PASSWORD: &str = "stall-secret";
/// Far beyond the 4 s SMTP timeout: a run still going by then hangs.
const DEADLINE: Duration = Duration::from_secs(60);

struct Rig {
    _tmp: tempfile::TempDir,
    _ca: TestCa,
    remote: RemoteDovecot,
    smtp: FakeSmtp,
    setup: WorkerSetup,
}

fn rig(messages: usize, local_extra: &str) -> (Rig, Vec<Vec<u8>>) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(tmp.path()).expect("ca");
    let remote = RemoteDovecot::start(&ca).expect("dovecot");
    remote.add_user("isp-user", PASSWORD).expect("user");
    let sent: Vec<Vec<u8>> = (0..messages)
        .map(|i| sample_message(7000 + i, 2_000, "isp-user@isp.example"))
        .collect();
    for raw in &sent {
        remote.add_message("isp-user", raw).expect("add");
    }
    let smtp = FakeSmtp::start().expect("fake smtp");
    let password_file = WorkerSetup::password_file(tmp.path(), "pw", PASSWORD).expect("pw");
    let mut spec = ProfileSpec::new(
        "stall",
        remote.pop3s_port(),
        "isp-user",
        &password_file,
        smtp.port(),
        "alice",
    );
    spec.ca_file = Some(ca.ca_file().to_path_buf());
    spec.remote_extra = "timeout = \"2s\"".into();
    spec.extra = local_extra.into();
    let setup = WorkerSetup::new(&[spec]).expect("setup");
    let rig = Rig {
        _tmp: tmp,
        _ca: ca,
        remote,
        smtp,
        setup,
    };
    (rig, sent)
}

/// `run --once`, killed at [`DEADLINE`]: its output, or a panic naming the hang.
fn run_once_within_deadline(setup: &WorkerSetup) -> (Output, Duration) {
    let started = Instant::now();
    let child: Child = setup.spawn(true).expect("spawn");
    let pid = child.id();
    let watchdog = std::thread::spawn(move || {
        while started.elapsed() < DEADLINE {
            std::thread::sleep(Duration::from_millis(200));
            // The child is reaped by wait_with_output; a gone pid ends the watch.
            if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                return false;
            }
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            if state.contains(") Z ") {
                return false;
            }
        }
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status();
        true
    });
    let out = child.wait_with_output().expect("wait");
    let elapsed = started.elapsed();
    let killed = watchdog.join().expect("watchdog");
    let stdout =
        std::fs::read_to_string(setup.dir.path().join("worker.stdout")).unwrap_or_default();
    let stderr =
        std::fs::read_to_string(setup.dir.path().join("worker.stderr")).unwrap_or_default();
    assert!(
        !killed,
        "the poll hung: still running after {} s\n{stdout}\n{stderr}",
        DEADLINE.as_secs()
    );
    let mut out = out;
    out.stdout = stdout.into_bytes();
    out.stderr = stderr.into_bytes();
    (out, elapsed)
}

#[test]
fn a_local_server_silent_after_starttls_does_not_hang_the_poll() {
    let (rig, _sent) = rig(2, "smtp_security = \"starttls\"");
    rig.smtp.fail_next(
        Step::StartTls,
        Fault::ReplyThenHang("220 2.0.0 Ready to start TLS".into()),
        1,
    );
    let (out, elapsed) = run_once_within_deadline(&rig.setup);
    let text = output_text(&out);
    assert!(!out.status.success(), "the poll cannot succeed:\n{text}");
    assert!(
        text.contains("STARTTLS") && text.contains("within 4 s"),
        "the error names STARTTLS and the timeout:\n{text}"
    );
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
    assert_eq!(
        rig.remote.message_count("isp-user").expect("count"),
        2,
        "nothing deleted without delivery"
    );
    assert!(rig.smtp.accepted().is_empty());
}

#[test]
fn a_pooled_connection_silent_on_noop_does_not_hang_the_poll() {
    let (rig, sent) = rig(3, "");
    // The first message opens a connection; the second finds it in the pool and checks it
    // with NOOP, which is never answered.
    rig.smtp.fail_next(Step::Noop, Fault::Hang, 1);
    let (out, elapsed) = run_once_within_deadline(&rig.setup);
    let text = output_text(&out);
    assert!(out.status.success(), "the poll failed:\n{text}");
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
    let delivered = message_ids(
        &rig.smtp
            .accepted()
            .into_iter()
            .map(|m| m.data)
            .collect::<Vec<_>>(),
    );
    let mut want = message_ids(&sent);
    let mut got = delivered.clone();
    want.sort();
    got.sort();
    assert_eq!(got, want, "every message once");
    assert!(
        rig.smtp.connections() >= 2,
        "a fresh connection replaced the silent one"
    );
    assert_eq!(rig.remote.message_count("isp-user").expect("count"), 0);
}
