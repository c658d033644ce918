//! A server that reuses a unique id: a scripted POP3 server lists message A under UIDL "x",
//! and after A was delivered and deleted, lists a different message B under the same "x" (as a
//! server does whose UIDL index was rebuilt). The worker must see from the size that B is not
//! the message it recorded, deliver B and only then delete it; and must not deliver A twice.

use std::collections::HashMap;

use mailpull_tests::fake_pop3::FakePop3;
use mailpull_tests::fake_smtp::FakeSmtp;
use mailpull_tests::{ProfileSpec, WorkerSetup, message_ids, output_text, sample_message};

const PASSWORD: &str = "remote-secret-reuse";
const RCPT: &str = "alice@local.test";

/// The Message-ID of each message the fake SMTP server accepted, with its count.
fn accepted_ids(smtp: &FakeSmtp) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for message in smtp.accepted() {
        if message.rcpt_to.iter().any(|r| r == RCPT) {
            let id = message_ids(&[message.data]).remove(0);
            *counts.entry(id).or_insert(0) += 1;
        }
    }
    counts
}

#[test]
fn a_reused_uidl_with_another_message_is_delivered_before_it_is_deleted() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let pw = WorkerSetup::password_file(tmp.path(), "pw", PASSWORD).expect("pw");
    let smtp = FakeSmtp::start().expect("fake smtp");
    let pop3 = FakePop3::start(Vec::new()).expect("fake pop3");
    let a = sample_message(1, 2_000, "isp-user@isp.example");
    let b = sample_message(2, 5_000, "isp-user@isp.example");
    assert_ne!(a.len(), b.len());
    let mut spec = ProfileSpec::new("isp", pop3.port(), "isp-user", &pw, smtp.port(), "alice");
    spec.security = "plain";
    spec.remote_extra = "timeout = \"5s\"".into();
    let setup = WorkerSetup::new(&[spec]).expect("setup");

    pop3.add_with_uid("x", a.clone());
    let out = setup.run_once().expect("run");
    assert!(out.status.success(), "{}", output_text(&out));
    assert_eq!(pop3.message_count(), 0, "A was deleted after its delivery");

    pop3.add_with_uid("x", b.clone());
    let out = setup.run_once().expect("run");
    let log = output_text(&out);
    assert!(out.status.success(), "{log}");
    let counts = accepted_ids(&smtp);
    let [id_a, id_b] = [message_ids(&[a]).remove(0), message_ids(&[b]).remove(0)];
    assert_eq!(
        counts.get(&id_a),
        Some(&1),
        "A delivered once: {counts:?}\n{log}"
    );
    assert_eq!(
        counts.get(&id_b),
        Some(&1),
        "B, listed under A's reused UIDL, must be delivered (remote now holds {} message(s)): \
         {counts:?}\n{log}",
        pop3.message_count()
    );
    assert_eq!(pop3.message_count(), 0, "B deleted after its delivery");
    assert!(
        log.contains("reused"),
        "the reuse is logged as a warning:\n{log}"
    );

    // A third poll with B's UIDL listed again (its deletion rolled back, say): recorded now,
    // so not delivered again.
    pop3.add_with_uid("x", sample_message(2, 5_000, "isp-user@isp.example"));
    let out = setup.run_once().expect("run");
    assert!(out.status.success(), "{}", output_text(&out));
    assert_eq!(
        accepted_ids(&smtp).get(&id_b),
        Some(&1),
        "B not delivered twice"
    );
    assert_eq!(pop3.message_count(), 0);
}
