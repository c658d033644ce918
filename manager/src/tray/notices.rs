//! Pure: which desktop notifications a new status list brings, compared with the previous one.
//!
//! Rules:
//! - A profile that *starts* failing (fine, waiting or new → failing) gives one notification;
//!   while it keeps failing (each retry, each poll) nothing more; once it worked again (or
//!   was disabled), the next failure gives one again.
//! - A profile that starts needing a sign-in gives one, the same way.
//! - The first status list after the window opened gives none: what fails already is in the
//!   tray icon and the window, and opening the window is not news. The previous list is kept
//!   while the worker is away, so a profile still failing after a reconnect stays quiet.
//! - The worker going away (connected → not running or unreachable) gives one.

use mailpull_shared::ipc::ProfileStatus;

use super::state::{Link, Trouble, trouble};

/// What a notification is about (it also picks the icon or urgency where the desktop has one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    Failing,
    SignIn,
    WorkerGone,
}

/// One desktop notification, in plain words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub kind: NoticeKind,
    pub title: String,
    pub body: String,
}

/// What an error says in a sentence an administrator knows, for the title: "cannot log in",
/// "cannot reach the mail server", else "cannot fetch mail".
pub fn failure_headline(error: &str) -> &'static str {
    let lower = error.to_ascii_lowercase();
    let login = [
        "authentication failed",
        "authenticationfailed",
        "login failed",
        "invalid credentials",
        "[auth]",
    ];
    let reach = [
        "connection refused",
        "timed out",
        "unreachable",
        "no route to host",
        "failed to lookup",
        "name or service not known",
        "dns",
    ];
    if login.iter().any(|w| lower.contains(w)) {
        "cannot log in — the server refused the password"
    } else if reach.iter().any(|w| lower.contains(w)) {
        "cannot reach the mail server"
    } else {
        "cannot fetch mail"
    }
}

fn failing(status: &ProfileStatus) -> Notice {
    let error = status.last_error.as_deref().unwrap_or("").trim();
    let body = if error.is_empty() {
        "The last poll failed. Open the Pull Manager to see why.".to_string()
    } else {
        crate::held::plain_error(error)
    };
    Notice {
        kind: NoticeKind::Failing,
        title: format!("{}: {}", status.name, failure_headline(error)),
        body,
    }
}

fn sign_in(status: &ProfileStatus) -> Notice {
    Notice {
        kind: NoticeKind::SignIn,
        title: format!("{}: sign in again", status.name),
        body: "The mail provider no longer accepts Mailpull's sign-in. Open the Pull Manager, \
               select the profile and press Sign in."
            .to_string(),
    }
}

/// The notifications for going from `previous` (`None`: the first list since the window
/// opened) to `current`.
pub fn changes(previous: Option<&[ProfileStatus]>, current: &[ProfileStatus]) -> Vec<Notice> {
    let Some(previous) = previous else {
        return Vec::new();
    };
    let before = |name: &str| {
        previous
            .iter()
            .find(|p| p.name == name)
            .map_or(Trouble::None, trouble)
    };
    current
        .iter()
        .filter_map(|status| {
            let now = trouble(status);
            if now == before(&status.name) {
                return None;
            }
            match now {
                Trouble::None => None,
                Trouble::Failing => Some(failing(status)),
                Trouble::NeedsSignIn => Some(sign_in(status)),
            }
        })
        .collect()
}

/// The notification for the worker going from `previous` to `current`, if any.
pub fn link_change(previous: Link, current: Link) -> Option<Notice> {
    let gone =
        previous == Link::Connected && matches!(current, Link::NotRunning | Link::Unreachable);
    gone.then(|| Notice {
        kind: NoticeKind::WorkerGone,
        title: "Mailpull: the worker stopped".to_string(),
        body: if current == Link::NotRunning {
            "No mail is fetched until it runs again. Open the Pull Manager to start it."
        } else {
            "The Pull Manager cannot reach it any more; it tries again every second."
        }
        .to_string(),
    })
}
