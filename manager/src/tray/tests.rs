use mailpull_shared::ipc::{ProfileState, ProfileStatus};

use super::icon::{dot_colour, picture, scaled, source, with_dot};
use super::notices::{NoticeKind, changes, failure_headline, link_change};
use super::state::{IconKind, Link, Overall, Trouble, names, summarize, trouble};
use super::watch::Watch;

const LOGIN: &str = "authentication failed (USER/PASS): [AUTH] Authentication failed.";

fn row(name: &str, state: ProfileState) -> ProfileStatus {
    ProfileStatus {
        name: name.into(),
        state,
        last_poll: None,
        next_poll: None,
        messages: 0,
        bytes: 0,
        last_error: None,
        consecutive_failures: 0,
        needs_sign_in: false,
        push: Default::default(),
        holder: None,
    }
}

fn failing(name: &str, error: &str, failures: u32) -> ProfileStatus {
    ProfileStatus {
        last_error: Some(error.into()),
        consecutive_failures: failures,
        ..row(name, ProfileState::Error)
    }
}

fn sign_in(name: &str) -> ProfileStatus {
    ProfileStatus {
        needs_sign_in: true,
        ..failing(name, "no refresh token", 1)
    }
}

#[test]
fn trouble_of_a_row() {
    assert_eq!(trouble(&row("a", ProfileState::Ok)), Trouble::None);
    assert_eq!(trouble(&row("a", ProfileState::Idle)), Trouble::None);
    assert_eq!(trouble(&row("a", ProfileState::Polling)), Trouble::None);
    assert_eq!(trouble(&failing("a", LOGIN, 1)), Trouble::Failing);
    // A retry running is still failing until it worked.
    let retry = ProfileStatus {
        state: ProfileState::Polling,
        ..failing("a", LOGIN, 2)
    };
    assert_eq!(trouble(&retry), Trouble::Failing);
    assert_eq!(trouble(&sign_in("a")), Trouble::NeedsSignIn);
    let off = ProfileStatus {
        state: ProfileState::Disabled,
        ..sign_in("a")
    };
    assert_eq!(trouble(&off), Trouble::None);
}

#[test]
fn the_worker_away_wins_over_old_statuses() {
    let rows = [failing("a", LOGIN, 1)];
    for (link, heading, overall) in [
        (
            Link::NotRunning,
            "Mailpull: the worker is not running",
            Overall::WorkerNotRunning,
        ),
        (
            Link::Unreachable,
            "Mailpull: cannot reach the worker",
            Overall::WorkerUnreachable,
        ),
        (
            Link::Connecting,
            "Mailpull: connecting to the worker",
            Overall::Connecting,
        ),
    ] {
        let summary = summarize(link, &rows);
        assert_eq!(summary.overall, overall);
        assert_eq!(summary.heading, heading);
        assert_eq!(summary.icon, IconKind::Stopped);
    }
    assert_eq!(
        summarize(Link::NotRunning, &[]).details,
        "No mail is fetched until it runs again."
    );
}

#[test]
fn all_fine_counts_the_enabled_profiles() {
    let one = summarize(Link::Connected, &[row("a", ProfileState::Ok)]);
    assert_eq!(one.heading, "Mailpull: the profile works");
    assert_eq!(one.icon, IconKind::Fine);
    let rows = [
        row("a", ProfileState::Ok),
        row("b", ProfileState::Idle),
        row("c", ProfileState::Polling),
        row("d", ProfileState::Disabled),
    ];
    let three = summarize(Link::Connected, &rows);
    assert_eq!(three.overall, Overall::AllFine { count: 3 });
    assert_eq!(three.tooltip(), "Mailpull: all 3 profiles work");
    let off = summarize(Link::Connected, &[row("d", ProfileState::Disabled)]);
    assert_eq!(off.heading, "Mailpull: every profile is turned off");
    let none = summarize(Link::Connected, &[]);
    assert_eq!(none.heading, "Mailpull: no mailboxes set up yet");
}

#[test]
fn trouble_names_the_profiles_in_words() {
    let rows = [
        failing("alice@isp", LOGIN, 3),
        row("b", ProfileState::Ok),
        sign_in("work"),
    ];
    let summary = summarize(Link::Connected, &rows);
    assert_eq!(summary.icon, IconKind::Failing);
    assert_eq!(
        summary.tooltip(),
        "Mailpull: 1 profile failing, 1 profile needs sign-in\nFailing: alice@isp.\n\
         Sign in again: work."
    );
    let only_sign_in = summarize(Link::Connected, &[sign_in("x"), sign_in("y")]);
    assert_eq!(only_sign_in.icon, IconKind::Attention);
    assert_eq!(only_sign_in.heading, "Mailpull: 2 profiles need sign-in");
    assert_eq!(only_sign_in.details, "Sign in again: x and y.");
    // No developer words in any tooltip.
    for text in [summary.tooltip(), only_sign_in.tooltip()] {
        for word in [
            "Error",
            "state",
            "consecutive",
            "IPC",
            "pipe",
            "ProfileStatus",
        ] {
            assert!(!text.contains(word), "{text:?} contains {word}");
        }
    }
    // Windows shows at most 127 characters: the heading always fits.
    let many: Vec<ProfileStatus> = (0..40)
        .map(|i| failing(&format!("profile-number-{i}"), LOGIN, 1))
        .collect();
    let big = summarize(Link::Connected, &many);
    assert_eq!(big.heading, "Mailpull: 40 profiles failing");
    assert!(big.heading.chars().count() < 64);
    assert!(big.details.ends_with("and 37 more."), "{}", big.details);
}

#[test]
fn names_in_a_sentence() {
    let list = |n: usize| (0..n).map(|i| format!("p{i}")).collect::<Vec<_>>();
    assert_eq!(names(&list(0)), "");
    assert_eq!(names(&list(1)), "p0");
    assert_eq!(names(&list(2)), "p0 and p1");
    assert_eq!(names(&list(3)), "p0, p1 and p2");
    assert_eq!(names(&list(5)), "p0, p1, p2 and 2 more");
}

#[test]
fn the_first_list_after_opening_gives_no_notification() {
    assert!(changes(None, &[failing("a", LOGIN, 4), sign_in("b")]).is_empty());
}

#[test]
fn a_profile_that_starts_failing_is_told_once_until_it_recovers() {
    let ok = [row("alice@isp", ProfileState::Ok)];
    let bad = [failing("alice@isp", LOGIN, 1)];
    let worse = [failing("alice@isp", LOGIN, 2)];
    let retrying = [ProfileStatus {
        state: ProfileState::Polling,
        ..failing("alice@isp", LOGIN, 2)
    }];
    let told = changes(Some(&ok), &bad);
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].kind, NoticeKind::Failing);
    assert_eq!(
        told[0].title,
        "alice@isp: cannot log in — the server refused the password"
    );
    assert_eq!(
        told[0].body,
        "Authentication failed (USER/PASS): [AUTH] Authentication failed."
    );
    // Still failing, retrying, failing again: nothing new.
    assert!(changes(Some(&bad), &worse).is_empty());
    assert!(changes(Some(&worse), &retrying).is_empty());
    assert!(changes(Some(&retrying), &worse).is_empty());
    // Recovered: nothing; failing after that: told again.
    assert!(changes(Some(&worse), &ok).is_empty());
    assert_eq!(changes(Some(&ok), &bad).len(), 1);
    // Waiting for the first poll, then failing: told.
    assert_eq!(
        changes(Some(&[row("alice@isp", ProfileState::Idle)]), &bad).len(),
        1
    );
    // Disabled while failing, enabled, failing again: told again.
    let off = [ProfileStatus {
        state: ProfileState::Disabled,
        ..failing("alice@isp", LOGIN, 2)
    }];
    assert!(changes(Some(&bad), &off).is_empty());
    assert_eq!(changes(Some(&off), &bad).len(), 1);
}

#[test]
fn a_new_profile_that_fails_is_told_and_others_are_not() {
    let before = [row("a", ProfileState::Ok)];
    let after = [
        row("a", ProfileState::Ok),
        failing("new", "connection refused", 1),
    ];
    let told = changes(Some(&before), &after);
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].title, "new: cannot reach the mail server");
}

#[test]
fn needing_a_sign_in_is_told_once() {
    let ok = [row("work", ProfileState::Ok)];
    let told = changes(Some(&ok), &[sign_in("work")]);
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].kind, NoticeKind::SignIn);
    assert_eq!(told[0].title, "work: sign in again");
    assert!(told[0].body.contains("press Sign in"));
    assert!(changes(Some(&[sign_in("work")]), &[sign_in("work")]).is_empty());
    // From failing to needing a sign-in is news; and back.
    assert_eq!(
        changes(Some(&[failing("work", LOGIN, 1)]), &[sign_in("work")])[0].kind,
        NoticeKind::SignIn
    );
    assert_eq!(
        changes(Some(&[sign_in("work")]), &[failing("work", LOGIN, 1)])[0].kind,
        NoticeKind::Failing
    );
}

#[test]
fn headlines_in_plain_words() {
    assert_eq!(
        failure_headline(LOGIN),
        "cannot log in — the server refused the password"
    );
    assert_eq!(
        failure_headline("IMAP login: NO [AUTHENTICATIONFAILED] Authentication failed."),
        "cannot log in — the server refused the password"
    );
    assert_eq!(
        failure_headline("connect to mail.isp:995: Connection refused (os error 111)"),
        "cannot reach the mail server"
    );
    assert_eq!(
        failure_headline("timed out after 30s waiting for greeting"),
        "cannot reach the mail server"
    );
    assert_eq!(
        failure_headline("1 message(s) left on the server: 7: x"),
        "cannot fetch mail"
    );
    let no_text = changes(
        Some(&[row("a", ProfileState::Ok)]),
        &[ProfileStatus {
            last_error: None,
            ..failing("a", "", 1)
        }],
    );
    assert_eq!(no_text[0].title, "a: cannot fetch mail");
    assert!(no_text[0].body.contains("Open the Pull Manager"));
}

#[test]
fn the_worker_going_away_is_told_only_when_it_was_there() {
    let gone = link_change(Link::Connected, Link::NotRunning).expect("told");
    assert_eq!(gone.kind, NoticeKind::WorkerGone);
    assert_eq!(gone.title, "Mailpull: the worker stopped");
    assert!(link_change(Link::Connected, Link::Unreachable).is_some());
    assert!(link_change(Link::Connecting, Link::NotRunning).is_none());
    assert!(link_change(Link::NotRunning, Link::NotRunning).is_none());
    assert!(link_change(Link::NotRunning, Link::Connected).is_none());
    assert!(link_change(Link::Connected, Link::Connected).is_none());
}

#[test]
fn the_watch_shows_changes_once_and_remembers_across_a_reconnect() {
    let mut watch = Watch::default();
    let first = watch.take();
    assert_eq!(
        first.summary.map(|s| s.heading),
        Some("Mailpull: connecting to the worker".into())
    );
    assert!(watch.take().summary.is_none(), "unchanged: not shown again");
    watch.set_link(Link::Connected);
    // Connected but no list yet: still connecting.
    assert!(watch.take().summary.is_none());
    watch.set_statuses(&[failing("a", LOGIN, 1)]);
    let step = watch.take();
    assert!(step.notices.is_empty(), "first list: quiet");
    assert_eq!(step.summary.map(|s| s.icon), Some(IconKind::Failing));
    watch.set_statuses(&[row("a", ProfileState::Ok)]);
    watch.set_statuses(&[failing("a", LOGIN, 1)]);
    let step = watch.take();
    assert_eq!(step.notices.len(), 1);
    assert!(step.summary.is_none(), "failing again looks as before");
    // The worker goes away and comes back with "a" still failing: one notice, for the worker.
    watch.set_link(Link::NotRunning);
    let step = watch.take();
    assert_eq!(step.notices.len(), 1);
    assert_eq!(step.notices[0].kind, NoticeKind::WorkerGone);
    assert_eq!(step.summary.map(|s| s.icon), Some(IconKind::Stopped));
    watch.set_link(Link::Connected);
    watch.set_statuses(&[failing("a", LOGIN, 1)]);
    let step = watch.take();
    assert!(step.notices.is_empty());
    assert_eq!(step.summary.map(|s| s.icon), Some(IconKind::Failing));
}

#[test]
fn pictures_are_the_icon_with_a_dot() {
    let big = source().expect("the icon decodes");
    assert_eq!(big.size, 256);
    assert_eq!(big.pixels.len(), 256 * 256 * 4);
    let small = scaled(&big, 32);
    assert_eq!((small.size, small.pixels.len()), (32, 32 * 32 * 4));
    // The middle of the icon is opaque; a corner of the rounded square is transparent.
    assert_eq!(small.at(16, 16)[3], 255);
    assert!(small.at(0, 0)[3] < 128);
    let fine = picture(IconKind::Fine, 32).expect("fine");
    assert_eq!(fine, small);
    for kind in [IconKind::Attention, IconKind::Failing, IconKind::Stopped] {
        let dotted = with_dot(&small, kind);
        let [r, g, b] = dot_colour(kind).expect("a dot");
        // The dot's centre is at about 3/4 of the way to the lower right corner.
        assert_eq!(dotted.at(24, 24), [r, g, b, 255], "{kind:?}");
        // The top left is untouched.
        assert_eq!(dotted.at(8, 8), small.at(8, 8));
    }
    // ARGB in network order for StatusNotifierItem.
    let argb = fine.to_argb();
    let [r, g, b, a] = fine.at(16, 16);
    let i = (16 * 32 + 16) * 4;
    assert_eq!(&argb[i..i + 4], &[a, r, g, b]);
}
