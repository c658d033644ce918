//! History and the routing preview against a real worker: Dovecot holds two messages, Poll
//! now delivers them through Postfix, and the History page reads them back from the worker's
//! state database (From, Subject, recipient, Postfix's reply, the totals and the chart); the
//! routing preview of a pasted message names the profile's mailbox.

use egui_kittest::kittest::Queryable;
use mailpull_tests::sample_message;

use super::{Rig, WAIT, click, connected, fill, first_poll_ok, manager, shows, wait_for};

#[test]
fn delivered_mail_shows_in_history_and_the_routing_preview_names_the_mailbox() {
    let rig = Rig::start();
    let mut gui = manager(&rig);
    connected(&mut gui, &rig);
    first_poll_ok(&mut gui, &rig);
    click(&mut gui, "isp");
    click(&mut gui, "History");
    wait_for(&mut gui, &rig, "an empty history", |gui| {
        shows(gui, "Nothing delivered yet.")
    });
    for i in [41, 42] {
        rig.remote
            .add_message("isp-user", &sample_message(i, 2_000, "alice@local.test"))
            .expect("add message");
    }
    click(&mut gui, "Poll now");
    rig.local
        .wait_for_messages("alice", 2, WAIT)
        .expect("Poll now delivered the mail");
    click(&mut gui, "Refresh");
    wait_for(&mut gui, &rig, "both deliveries in History", |gui| {
        shows(gui, "Mailpull test message 41") && shows(gui, "Mailpull test message 42")
    });
    assert!(shows(&gui, "Sender 41 <sender-41@example.test>"));
    assert!(gui.query_all_by_label("alice@local.test").count() >= 2);
    // Postfix's own reply to the message's data, as the worker recorded it.
    assert!(
        shows(&gui, "250 2.0.0 Ok: queued as"),
        "{:?}",
        gui.state().history.shown
    );
    assert!(shows(&gui, "Last deliveries (2 shown, newest first)"));
    let history = match &gui.state().history.shown {
        Some(Ok(history)) => history.clone(),
        other => panic!("no history: {other:?}"),
    };
    assert_eq!(history.today.messages, 2);
    assert_eq!(history.all.messages, 2);
    assert_eq!(history.per_day.last().map(|d| d.messages), Some(2));
    assert!(history.today.bytes > 4_000, "{:?}", history.today);

    click(&mut gui, "Routing preview");
    fill(
        &mut gui,
        "Message (headers are enough)",
        "From: ann@example.com\nTo: someone@else.example\nSubject: Where to?\n\nbody",
    );
    click(&mut gui, "Preview");
    wait_for(&mut gui, &rig, "the routing preview", |gui| {
        gui.state().route.outcome.is_some()
    });
    assert!(
        shows(&gui, "would be delivered by \"isp\" to 1 mailbox:"),
        "{:?}",
        gui.state().route.outcome
    );
    assert!(shows(&gui, "alice@local.test"));
    assert!(shows(&gui, "the profile's one mailbox (single-drop)"));
    // Text that is not a message: the worker's error in words.
    fill(
        &mut gui,
        "Message (headers are enough)",
        "hello there\nnot a mail",
    );
    click(&mut gui, "Preview");
    wait_for(&mut gui, &rig, "the preview's error", |gui| {
        shows(gui, "No preview: this is not a mail message")
    });
}
