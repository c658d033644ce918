//! Pure: the tray's memory between frames. It is told the link and each new status list as
//! the pipe's updates arrive, and [`Watch::take`] hands out what changed since it was asked
//! last: the summary to show (only when it differs from the one shown) and the notifications
//! due (see [`super::notices`] for when).

use mailpull_shared::ipc::ProfileStatus;

use super::notices::{Notice, changes, link_change};
use super::state::{Link, Summary, summarize};

/// What the tray knows and has shown.
#[derive(Debug, Clone)]
pub struct Watch {
    link: Link,
    /// The last status list; `None` until the first one came.
    statuses: Option<Vec<ProfileStatus>>,
    shown: Option<Summary>,
    due: Vec<Notice>,
}

impl Default for Watch {
    fn default() -> Self {
        Watch {
            link: Link::Connecting,
            statuses: None,
            shown: None,
            due: Vec::new(),
        }
    }
}

/// What to do after some updates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Step {
    /// A new summary to show, when it changed.
    pub summary: Option<Summary>,
    pub notices: Vec<Notice>,
}

impl Watch {
    pub fn link(&self) -> Link {
        self.link
    }

    /// The pipe's state changed (or was said again).
    pub fn set_link(&mut self, link: Link) {
        self.due.extend(link_change(self.link, link));
        self.link = link;
    }

    /// A status list came.
    pub fn set_statuses(&mut self, rows: &[ProfileStatus]) {
        self.due.extend(changes(self.statuses.as_deref(), rows));
        self.statuses = Some(rows.to_vec());
    }

    /// The summary now (whether shown or not).
    pub fn summary(&self) -> Summary {
        match (self.link, self.statuses.as_deref()) {
            // Connected, the first list not here yet: still "connecting", not "no profiles".
            (Link::Connected, None) => summarize(Link::Connecting, &[]),
            (link, statuses) => summarize(link, statuses.unwrap_or(&[])),
        }
    }

    /// What changed since the last call; the summary counts as shown from now on.
    pub fn take(&mut self) -> Step {
        let summary = self.summary();
        let changed = self.shown.as_ref() != Some(&summary);
        if changed {
            self.shown = Some(summary.clone());
        }
        Step {
            summary: changed.then_some(summary),
            notices: std::mem::take(&mut self.due),
        }
    }
}
