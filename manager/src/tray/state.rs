//! Pure: the tray icon's overall state from what the window knows — the connection to the
//! worker and the status rows — and its tooltip in an administrator's words.
//!
//! A profile is *failing* while its last poll failed (`Error`, or `Polling` again with
//! `consecutive_failures > 0`: a retry does not count as recovered), *needs sign-in* while
//! the worker says so (counted there only, not also as failing), and never either while
//! disabled.

use mailpull_shared::ipc::{ProfileState, ProfileStatus};

/// The pipe to the worker, as far as the tray cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// The window just opened and has not heard from the worker yet.
    Connecting,
    Connected,
    /// Nothing listens for this configuration.
    NotRunning,
    /// Something listens but the window cannot talk to it (refused, busy, broken).
    Unreachable,
}

/// What is wrong with one profile, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trouble {
    None,
    Failing,
    NeedsSignIn,
}

/// The trouble of one status row (see the module's rules).
pub fn trouble(status: &ProfileStatus) -> Trouble {
    if status.state == ProfileState::Disabled {
        Trouble::None
    } else if status.needs_sign_in {
        Trouble::NeedsSignIn
    } else if status.state == ProfileState::Error
        || (status.state == ProfileState::Polling && status.consecutive_failures > 0)
    {
        Trouble::Failing
    } else {
        Trouble::None
    }
}

/// Which picture the tray shows: the Mailpull icon, with a coloured dot unless all is well.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IconKind {
    /// All enabled profiles fine (or none set up): the plain icon.
    Fine,
    /// Something needs a person but nothing fails: an orange dot.
    Attention,
    /// At least one profile fails: a red dot.
    Failing,
    /// No worker (or not yet): a grey dot.
    Stopped,
}

/// The overall state, counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overall {
    Connecting,
    WorkerNotRunning,
    WorkerUnreachable,
    NoProfiles,
    /// Every profile is disabled.
    AllOff,
    /// `count` enabled profiles, all fine.
    AllFine {
        count: usize,
    },
    /// The names of the failing profiles and of those that need a sign-in.
    Trouble {
        failing: Vec<String>,
        sign_in: Vec<String>,
    },
}

/// What the tray shows: the picture, a one-line heading and the lines under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub overall: Overall,
    pub icon: IconKind,
    /// "Mailpull: all 3 profiles fine"; Windows shows at most 127 characters of the whole
    /// tooltip, so the heading comes first and is short.
    pub heading: String,
    /// Details under the heading (names of the profiles in trouble, what to do), may be empty.
    pub details: String,
}

impl Summary {
    /// The tooltip as one text: heading, then the details on the next line.
    pub fn tooltip(&self) -> String {
        if self.details.is_empty() {
            self.heading.clone()
        } else {
            format!("{}\n{}", self.heading, self.details)
        }
    }
}

/// The overall state of `statuses` behind `link`.
pub fn overall(link: Link, statuses: &[ProfileStatus]) -> Overall {
    match link {
        Link::Connecting => return Overall::Connecting,
        Link::NotRunning => return Overall::WorkerNotRunning,
        Link::Unreachable => return Overall::WorkerUnreachable,
        Link::Connected => {}
    }
    if statuses.is_empty() {
        return Overall::NoProfiles;
    }
    let mut failing = Vec::new();
    let mut sign_in = Vec::new();
    for status in statuses {
        match trouble(status) {
            Trouble::Failing => failing.push(status.name.clone()),
            Trouble::NeedsSignIn => sign_in.push(status.name.clone()),
            Trouble::None => {}
        }
    }
    if !failing.is_empty() || !sign_in.is_empty() {
        return Overall::Trouble { failing, sign_in };
    }
    let count = statuses
        .iter()
        .filter(|s| s.state != ProfileState::Disabled)
        .count();
    if count == 0 {
        Overall::AllOff
    } else {
        Overall::AllFine { count }
    }
}

/// "1 profile", "3 profiles".
pub fn profiles(n: usize) -> String {
    if n == 1 {
        "1 profile".into()
    } else {
        format!("{n} profiles")
    }
}

/// The names as a person lists them: "a", "a and b", "a, b and c", "a, b, c and 2 more".
pub fn names(names: &[String]) -> String {
    const SHOWN: usize = 3;
    match names {
        [] => String::new(),
        [one] => one.clone(),
        _ if names.len() <= SHOWN => {
            let (last, rest) = names.split_last().unwrap_or((&names[0], &[]));
            format!("{} and {last}", rest.join(", "))
        }
        _ => format!(
            "{} and {} more",
            names[..SHOWN].join(", "),
            names.len() - SHOWN
        ),
    }
}

/// What the tray shows for `link` and `statuses`.
pub fn summarize(link: Link, statuses: &[ProfileStatus]) -> Summary {
    let overall = overall(link, statuses);
    let (icon, heading, details) = match &overall {
        Overall::Connecting => (
            IconKind::Stopped,
            "Mailpull: connecting to the worker".to_string(),
            String::new(),
        ),
        Overall::WorkerNotRunning => (
            IconKind::Stopped,
            "Mailpull: the worker is not running".to_string(),
            "No mail is fetched until it runs again.".to_string(),
        ),
        Overall::WorkerUnreachable => (
            IconKind::Stopped,
            "Mailpull: cannot reach the worker".to_string(),
            "Open the Pull Manager to see why.".to_string(),
        ),
        Overall::NoProfiles => (
            IconKind::Fine,
            "Mailpull: no mailboxes set up yet".to_string(),
            String::new(),
        ),
        Overall::AllOff => (
            IconKind::Fine,
            "Mailpull: every profile is turned off".to_string(),
            String::new(),
        ),
        Overall::AllFine { count: 1 } => (
            IconKind::Fine,
            "Mailpull: the profile works".to_string(),
            String::new(),
        ),
        Overall::AllFine { count } => (
            IconKind::Fine,
            format!("Mailpull: all {count} profiles work"),
            String::new(),
        ),
        Overall::Trouble { failing, sign_in } => {
            let mut parts = Vec::new();
            let mut lines = Vec::new();
            if !failing.is_empty() {
                parts.push(format!("{} failing", profiles(failing.len())));
                lines.push(format!("Failing: {}.", names(failing)));
            }
            if !sign_in.is_empty() {
                let verb = if sign_in.len() == 1 { "needs" } else { "need" };
                parts.push(format!("{} {verb} sign-in", profiles(sign_in.len())));
                lines.push(format!("Sign in again: {}.", names(sign_in)));
            }
            let icon = if failing.is_empty() {
                IconKind::Attention
            } else {
                IconKind::Failing
            };
            (
                icon,
                format!("Mailpull: {}", parts.join(", ")),
                lines.join("\n"),
            )
        }
    };
    Summary {
        overall,
        icon,
        heading,
        details,
    }
}
