//! Alert mail (`[worker] alerts`) on the real Dovecot → Postfix bed: a profile that keeps
//! failing gets exactly one alert mail once it has failed for `after`, also across restarts
//! of the worker (each `run --once` is a new process), and exactly one recovery mail when it
//! works again; a message that becomes held gets an alert at once and a recovery once it is
//! delivered. The mails go through the profile's own local server (Postfix) to
//! postmaster@local.test, and never carry the password.

use std::time::Duration;

use mailpull_tests::{
    LocalMailServer, ProfileSpec, RemoteDovecot, TestCa, WorkerSetup, output_text,
};

const WAIT: Duration = Duration::from_secs(30);
const WRONG: &str = "Wr0ng-Secret-7431";
const RIGHT: &str = "Right-Secret-9902";

fn message(id: &str, to: &str) -> Vec<u8> {
    format!(
        "Return-Path: <sender@example.org>\r\nFrom: Sender <sender@example.org>\r\nTo: {to}\r\n\
         Subject: alert test {id}\r\nDate: Sat, 22 Nov 2025 10:00:00 +0000\r\n\
         Message-ID: <{id}@example.org>\r\n\r\nBody of {id}.\r\n"
    )
    .into_bytes()
}

/// The alert mails postmaster has, as text.
fn alerts(local: &LocalMailServer) -> Vec<String> {
    local
        .messages("postmaster")
        .expect("postmaster's mail")
        .into_iter()
        .map(|raw| String::from_utf8_lossy(&raw).into_owned())
        .collect()
}

/// Waits until postmaster has `n` mails, then a little longer to see that no more come.
fn exactly(local: &LocalMailServer, n: usize, context: &str) -> Vec<String> {
    local
        .wait_for_messages("postmaster", n, WAIT)
        .unwrap_or_else(|err| panic!("{err:#}\n{context}"));
    std::thread::sleep(Duration::from_secs(2));
    let got = alerts(local);
    assert_eq!(got.len(), n, "{got:#?}\n{context}");
    got
}

struct Bed {
    _tmp: tempfile::TempDir,
    remote: RemoteDovecot,
    local: LocalMailServer,
    setup: WorkerSetup,
    password: std::path::PathBuf,
}

fn bed(local_user: &str, password: &str, worker_extra: &str) -> Bed {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(tmp.path()).expect("ca");
    let remote = RemoteDovecot::start(&ca).expect("remote");
    remote.add_user("isp", RIGHT).expect("user");
    let local = LocalMailServer::start(&["alice", "bob", "postmaster"]).expect("local");
    let password = WorkerSetup::password_file(tmp.path(), "isp", password).expect("pw");
    let mut profile = ProfileSpec::new(
        "isp",
        remote.pop3s_port(),
        "isp",
        &password,
        local.smtp_port(),
        local_user,
    );
    profile.ca_file = Some(ca.ca_file().to_path_buf());
    let setup = WorkerSetup::new(&[profile]).expect("setup");
    let text = std::fs::read_to_string(&setup.config).expect("config");
    std::fs::write(
        &setup.config,
        text.replacen(
            "[worker]\n",
            &format!(
                "[worker]\nalerts = {{ to = \"postmaster@local.test\", after = \"2s\" }}\n{worker_extra}\n"
            ),
            1,
        ),
    )
    .expect("write config");
    Bed {
        _tmp: tmp,
        remote,
        local,
        setup,
        password,
    }
}

#[test]
fn a_failing_profile_gets_one_alert_and_one_recovery_across_restarts() {
    let bed = bed("alice", WRONG, "");
    // First failure: remembered, not mailed (it has not lasted 2 s yet).
    let first = bed.setup.run_once().expect("run");
    std::thread::sleep(Duration::from_secs(3));
    assert!(alerts(&bed.local).is_empty(), "{}", output_text(&first));

    // Still failing after 2 s, in a new process: one alert.
    let second = bed.setup.run_once().expect("run");
    let got = exactly(&bed.local, 1, &output_text(&second));
    let alert = &got[0];
    assert!(
        alert.contains("Subject: Mailpull: profile \"isp\" is failing"),
        "{alert}"
    );
    assert!(alert.contains("Auto-Submitted: auto-generated"), "{alert}");
    assert!(alert.contains("Last error:"), "{alert}");
    assert!(alert.contains("isp@localhost (POP3)"), "{alert}");
    assert!(alert.contains("What to do:"), "{alert}");
    assert!(
        !alert.contains(WRONG),
        "the alert carries the password:\n{alert}"
    );

    // Failing on, restarted twice: no second alert.
    for _ in 0..2 {
        let again = bed.setup.run_once().expect("run");
        assert!(
            !output_text(&again).contains("alert sent"),
            "{}",
            output_text(&again)
        );
    }
    exactly(&bed.local, 1, "a second alert while still failing");

    // The password fixed: the mail is delivered and one recovery mail goes out.
    std::fs::write(&bed.password, format!("{RIGHT}\n")).expect("fix password");
    bed.remote
        .add_message("isp", &message("r1", "alice@local.test"))
        .expect("add");
    let fixed = bed.setup.run_once().expect("run");
    assert!(fixed.status.success(), "{}", output_text(&fixed));
    let got = exactly(&bed.local, 2, &output_text(&fixed));
    let recovery = got
        .iter()
        .find(|mail| mail.contains("Subject: Mailpull: profile \"isp\" works again"))
        .unwrap_or_else(|| panic!("no recovery mail: {got:#?}"));
    assert!(recovery.contains("that is over as of"), "{recovery}");
    assert!(!recovery.contains(WRONG) && !recovery.contains(RIGHT));
    bed.local
        .wait_for_messages("alice", 1, WAIT)
        .expect("the mail itself");
    // Working on: nothing more.
    let calm = bed.setup.run_once().expect("run");
    assert!(calm.status.success(), "{}", output_text(&calm));
    exactly(&bed.local, 2, &output_text(&calm));
}

#[test]
fn a_held_message_gets_an_alert_and_its_delivery_a_recovery() {
    let bed = bed("bob", RIGHT, "hold_after_attempts = 1");
    bed.local
        .set_reject("bob@local.test", Some("451 4.3.0 bob is busy"))
        .expect("reject");
    bed.remote
        .add_message("isp", &message("h1", "bob@local.test"))
        .expect("add");
    let first = bed.setup.run_once().expect("run");
    let got = exactly(&bed.local, 1, &output_text(&first));
    let alert = &got[0];
    assert!(
        alert.contains("Subject: Mailpull: profile \"isp\" has held messages"),
        "{alert}"
    );
    assert!(alert.contains("1 message(s) held"), "{alert}");
    assert!(alert.contains("bob is busy"), "{alert}");
    assert!(
        alert.contains("mailpull-worker held --profile isp"),
        "{alert}"
    );

    // Held on, polled again: no second alert.
    let again = bed.setup.run_once().expect("run");
    exactly(&bed.local, 1, &output_text(&again));

    // Retried (the row forgotten, as the pipe's retry does) and delivered: one recovery.
    bed.local.set_reject("bob@local.test", None).expect("allow");
    let db = rusqlite::Connection::open(bed.setup.state_dir().join("state.sqlite3")).expect("db");
    assert_eq!(db.execute("DELETE FROM attempts", []).expect("retry"), 1);
    drop(db);
    let delivered = bed.setup.run_once().expect("run");
    bed.local
        .wait_for_messages("bob", 1, WAIT)
        .unwrap_or_else(|err| panic!("{err:#}\n{}", output_text(&delivered)));
    let got = exactly(&bed.local, 2, &output_text(&delivered));
    assert!(
        got.iter().any(|mail| mail
            .contains("Subject: Mailpull: profile \"isp\" has no held messages any more")),
        "{got:#?}"
    );
}
