//! The Held page against a real worker: Postfix defers bob and carol, the worker holds their
//! messages at the first attempt (`hold_after_attempts = 1`), and the window shows the count
//! in the list, each message by its Subject with From, date and size and its reason in plain
//! words with its attempts, and carries out the
//! three actions through the pipe: Deliver to the fallback mailbox (the multi-drop profile;
//! disabled for the single-drop one), Delete from the server… (asks first, says it cannot be
//! undone; Keep it keeps it) and Try again now.

use std::time::{Duration, Instant};

use egui_kittest::kittest::{NodeT, Queryable};
use mailpull_shared::ipc::Endpoint;
use mailpull_tests::{
    LocalMailServer, ProfileSpec, RemoteDovecot, TestCa, WorkerSetup, message_ids,
};

use super::{Gui, WAIT, click, manager_at, shows};

fn message(id: &str, to: &str) -> Vec<u8> {
    format!(
        "Return-Path: <sender@example.org>\r\nFrom: Sender <sender@example.org>\r\nTo: {to}\r\n\
         Subject: held {id}\r\nDate: Sat, 22 Nov 2025 10:00:00 +0000\r\n\
         Message-ID: <{id}@example.org>\r\n\r\nBody of {id}.\r\n"
    )
    .into_bytes()
}

/// A multi-drop IMAP profile `catch-all` (fallback `postmaster`) holding two messages for
/// bob, and a single-drop profile `single` (to carol) holding one; the worker runs.
pub struct HeldBed {
    _tmp: tempfile::TempDir,
    pub remote: RemoteDovecot,
    pub local: LocalMailServer,
    pub setup: WorkerSetup,
    worker: Option<std::process::Child>,
}

impl HeldBed {
    pub fn start() -> HeldBed {
        let tmp = tempfile::tempdir().expect("tempdir");
        let ca = TestCa::new(tmp.path()).expect("ca");
        let remote = RemoteDovecot::start(&ca).expect("remote");
        remote.add_user("catchall", "pw").expect("user");
        remote.add_user("single", "pw").expect("user");
        let local =
            LocalMailServer::start(&["alice", "bob", "carol", "postmaster"]).expect("local");
        for raw in [
            message("a1", "alice@local.test"),
            message("bob-1", "bob@local.test"),
            message("bob-2", "bob@local.test"),
        ] {
            remote.add_message("catchall", &raw).expect("add");
        }
        remote
            .add_message("single", &message("carol-1", "carol@local.test"))
            .expect("add");
        for who in ["bob", "carol"] {
            local
                .set_reject(
                    &format!("{who}@local.test"),
                    Some(&format!("451 4.3.0 {who} is busy")),
                )
                .expect("reject");
        }
        let password = WorkerSetup::password_file(tmp.path(), "catchall", "pw").expect("pw");
        let mut multi = ProfileSpec::new(
            "catch-all",
            remote.imaps_port(),
            "catchall",
            &password,
            local.smtp_port(),
            "postmaster",
        );
        multi.protocol = "imap";
        multi.interval = "1h";
        multi.ca_file = Some(ca.ca_file().to_path_buf());
        multi.extra =
            "[profile.distribute]\nlocal_domains = [\"local.test\"]\nfallback = \"postmaster\"\n"
                .into();
        let mut single = ProfileSpec::new(
            "single",
            remote.imaps_port(),
            "single",
            &password,
            local.smtp_port(),
            "carol",
        );
        single.protocol = "imap";
        single.interval = "1h";
        single.ca_file = Some(ca.ca_file().to_path_buf());
        let setup = WorkerSetup::new(&[multi, single]).expect("setup");
        let text = std::fs::read_to_string(&setup.config).expect("config");
        std::fs::write(
            &setup.config,
            text.replacen("[worker]\n", "[worker]\nhold_after_attempts = 1\n", 1),
        )
        .expect("write config");
        let worker = Some(setup.spawn_listening().expect("worker"));
        HeldBed {
            _tmp: tmp,
            remote,
            local,
            setup,
            worker,
        }
    }

    pub fn endpoint(&self) -> Endpoint {
        Endpoint::for_config(&self.setup.config)
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.setup.dir.path().join("worker.stderr")).unwrap_or_default()
    }

    /// Steps the window until `check` holds.
    pub fn wait(&self, gui: &mut Gui, what: &str, check: impl Fn(&Gui) -> bool) {
        let deadline = Instant::now() + WAIT;
        loop {
            gui.step();
            if check(gui) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; held result: {:?}; held: {:?}\nworker:\n{}",
                gui.state().held_result,
                gui.state().held,
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    /// The window on the Held page of `profile`, with `count` messages listed.
    pub fn open_held(&self, gui: &mut Gui, profile: &str, count: usize) {
        click(gui, profile);
        self.wait(gui, "the profile's form", |gui| {
            gui.state().editor.fields.name == profile
        });
        let tab = format!("Held messages ({count})");
        click(gui, &tab);
        self.wait(gui, "the Held page", |gui| {
            shows(gui, &format!("Held messages of \"{profile}\""))
        });
    }
}

impl Drop for HeldBed {
    fn drop(&mut self) {
        if let Some(mut child) = self.worker.take() {
            mailpull_tests::stop_worker(&mut child);
        }
    }
}

fn remote_ids(bed: &HeldBed, user: &str) -> Vec<String> {
    message_ids(&bed.remote.messages_in(user, "INBOX").expect("remote"))
}

#[test]
fn held_messages_are_shown_in_plain_words_and_each_action_is_carried_out() {
    let bed = HeldBed::start();
    let mut gui = manager_at(bed.endpoint());
    // The first poll delivers alice's message and holds the other three; the list counts them.
    bed.wait(&mut gui, "the held counts in the list", |gui| {
        shows(gui, "2 held") && shows(gui, "1 held")
    });
    bed.local
        .wait_for_messages("alice", 1, WAIT)
        .expect("alice");
    // The list's last error in words too.
    assert!(
        shows(&gui, "2 messages wait on the server, not delivered"),
        "{:?}",
        gui.state().status
    );

    bed.open_held(&mut gui, "catch-all", 2);
    // Each titled by its Subject, with From, its date and size beneath and where the server
    // keeps it on a smaller line.
    for subject in ["held bob-1", "held bob-2"] {
        assert!(shows(&gui, subject), "{subject}: {:?}", gui.state().held);
    }
    assert_eq!(
        gui.query_all_by_label_contains("From Sender <sender@example.org> · sent ")
            .count(),
        2,
        "{:?}",
        gui.state().held
    );
    assert!(shows(&gui, "Message 2 in INBOX"), "the place line");
    // The reason in words with Postfix's own text, and no lettre words (the live log below
    // keeps the worker's own lines; the list's last error says it within its own sentence).
    let reasons: Vec<String> = gui
        .query_all_by_label_contains("The local mail server asked to try again later")
        .filter_map(|n| n.accesskit_node().value())
        .filter(|value| value.starts_with("The local mail server"))
        .collect();
    assert_eq!(reasons.len(), 2, "{:?}", gui.state().held);
    for reason in &reasons {
        assert!(reason.contains("bob is busy (451 4.3.0)"), "{reason}");
        assert!(
            !reason.contains("transient error"),
            "developer words: {reason}"
        );
    }
    assert_eq!(gui.query_all_by_label("once").count(), 2, "tried once each");
    assert_eq!(gui.query_all_by_label("Try again now").count(), 2);
    let first = gui.state().held[0].first_attempt;
    assert!(!shows(&gui, &first.to_string()), "raw seconds shown");

    // Deliver the first one to the fallback mailbox: postmaster gets it, the list shrinks.
    gui.query_all_by_label("Deliver to the fallback mailbox")
        .next()
        .expect("fallback button")
        .click();
    gui.run_steps(3);
    bed.wait(&mut gui, "the fallback's result", |gui| {
        shows(gui, "is being delivered to the fallback mailbox")
    });
    let got = bed
        .local
        .wait_for_messages("postmaster", 1, WAIT)
        .unwrap_or_else(|err| panic!("{err:#}\n{}", bed.stderr()));
    assert_eq!(got.len(), 1);
    bed.wait(&mut gui, "one held message left", |gui| {
        shows(gui, "Held messages (1)") && gui.query_all_by_label("Try again now").count() == 1
    });

    // Try the other again once bob takes mail: bob gets it, nothing is held any more.
    bed.local
        .set_reject("bob@local.test", None)
        .expect("accept bob");
    click(&mut gui, "Try again now");
    bed.wait(&mut gui, "the retry's result", |gui| {
        shows(gui, "is being tried again")
    });
    bed.local
        .wait_for_messages("bob", 1, WAIT)
        .unwrap_or_else(|err| panic!("{err:#}\n{}", bed.stderr()));
    bed.wait(&mut gui, "no held message of catch-all", |gui| {
        shows(gui, "No held messages")
    });
    assert!(!shows(&gui, "2 held"));

    // The single-drop profile has no fallback: that button is disabled.
    bed.open_held(&mut gui, "single", 1);
    assert!(shows(&gui, "carol is busy"));
    let fallback = gui.get_by_label("Deliver to the fallback mailbox");
    assert!(
        fallback.accesskit_node().is_disabled(),
        "single-drop has no fallback"
    );
    // Delete asks first and says it cannot be undone; Keep it keeps the message.
    click(&mut gui, "Delete from the server…");
    assert!(shows(&gui, "This cannot be undone."), "the confirmation");
    click(&mut gui, "Keep it");
    assert!(!shows(&gui, "This cannot be undone."));
    assert_eq!(remote_ids(&bed, "single"), ["<carol-1@example.org>"]);
    assert!(gui.state().held.iter().any(|m| m.profile == "single"));
    // Yes: deleted on the server without delivery.
    click(&mut gui, "Delete from the server…");
    click(&mut gui, "Yes, delete it from the server");
    bed.wait(&mut gui, "the delete's result", |gui| {
        shows(gui, "is being deleted from the server")
    });
    let deadline = Instant::now() + WAIT;
    while !remote_ids(&bed, "single").is_empty() {
        assert!(
            Instant::now() < deadline,
            "never deleted:\n{}",
            bed.stderr()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    bed.wait(&mut gui, "no held message of single", |gui| {
        shows(gui, "No held messages") && !shows(gui, "1 held")
    });
    assert!(bed.local.messages("carol").expect("carol").is_empty());
}
