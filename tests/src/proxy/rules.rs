//! The armed rules and the state every connection of one proxy shares: counting client lines
//! and server bytes against the rules, and firing (then disarming) the one that matches.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use tokio::sync::watch;

use super::script::{Action, Trigger};
use crate::scripted::lock;

struct Rule {
    id: u64,
    trigger: Trigger,
    action: Action,
    /// `None`: fires every time.
    remaining: Option<usize>,
    /// The rule applies to connections with this index or later.
    first_conn: usize,
}

#[derive(Default)]
struct Rules {
    next_id: u64,
    rules: Vec<Rule>,
}

/// What the proxy handle and all its connections share.
pub(super) struct Shared {
    /// The server the proxy forwards to.
    pub(super) upstream: SocketAddr,
    rules: Mutex<Rules>,
    /// How many times a rule fired, in total.
    pub(super) fired: AtomicUsize,
    /// How many connections the proxy accepted, in total (also the next one's index).
    pub(super) connections: AtomicUsize,
    /// Bumped by `FaultProxy::cut_all`: every open connection watches it.
    pub(super) cut_all: watch::Sender<u64>,
}

impl Shared {
    /// No rules armed, nothing counted yet.
    pub(super) fn new(upstream: SocketAddr) -> Self {
        Shared {
            upstream,
            rules: Mutex::new(Rules::default()),
            fired: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
            cut_all: watch::channel(0u64).0,
        }
    }

    fn lock_rules(&self) -> MutexGuard<'_, Rules> {
        lock(&self.rules)
    }

    /// Arms a rule for connections with index `first_conn` or later; `remaining: None` fires
    /// every time.
    pub(super) fn push_rule(
        &self,
        trigger: Trigger,
        action: Action,
        remaining: Option<usize>,
        first_conn: usize,
    ) {
        let mut rules = self.lock_rules();
        let id = rules.next_id;
        rules.next_id += 1;
        rules.rules.push(Rule {
            id,
            trigger,
            action,
            remaining,
            first_conn,
        });
    }

    /// Removes every armed rule.
    pub(super) fn disarm(&self) {
        self.lock_rules().rules.clear();
    }

    /// Counts `line` against the line rules that apply to connection `conn` and returns the
    /// action of the rule that fires, if any.
    pub(super) fn on_client_line(
        &self,
        conn: usize,
        counts: &mut HashMap<u64, usize>,
        line: &[u8],
    ) -> Option<Action> {
        let mut rules = self.lock_rules();
        let mut firing = None;
        for (index, rule) in rules.rules.iter().enumerate() {
            if rule.first_conn > conn || !rule.trigger.matches_line(line) {
                continue;
            }
            let seen = counts.entry(rule.id).or_insert(0);
            *seen += 1;
            if firing.is_none() && *seen == rule.trigger.occurrence() {
                firing = Some(index);
            }
        }
        firing.map(|index| self.consume(&mut rules, index))
    }

    /// For `len` more server bytes after `before` already sent: the byte-count rule that fires
    /// within them (the lowest threshold), as (bytes to forward before acting, action).
    pub(super) fn on_server_bytes(
        &self,
        conn: usize,
        before: u64,
        len: usize,
    ) -> Option<(usize, Action)> {
        let mut rules = self.lock_rules();
        let after = before + len as u64;
        let mut firing: Option<(usize, u64)> = None;
        for (index, rule) in rules.rules.iter().enumerate() {
            let Trigger::ServerBytes(threshold) = rule.trigger else {
                continue;
            };
            if rule.first_conn > conn {
                continue;
            }
            let hit = (before < threshold && threshold <= after) || (threshold == 0 && before == 0);
            if hit && firing.is_none_or(|(_, lowest)| threshold < lowest) {
                firing = Some((index, threshold));
            }
        }
        let (index, threshold) = firing?;
        let split = usize::try_from(threshold.saturating_sub(before)).unwrap_or(len);
        Some((split.min(len), self.consume(&mut rules, index)))
    }

    fn consume(&self, rules: &mut Rules, index: usize) -> Action {
        let rule = &mut rules.rules[index];
        let action = rule.action.clone();
        tracing::info!(trigger = ?rule.trigger, ?action, "fault proxy: rule fired");
        if let Some(remaining) = &mut rule.remaining {
            *remaining = remaining.saturating_sub(1);
            if *remaining == 0 {
                rules.rules.remove(index);
            }
        }
        self.fired.fetch_add(1, Ordering::SeqCst);
        action
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared() -> Shared {
        Shared::new(SocketAddr::from(([127, 0, 0, 1], 1)))
    }

    fn push(shared: &Shared, trigger: Trigger, remaining: Option<usize>, first_conn: usize) {
        shared.push_rule(trigger, Action::CutBeforeForwarding, remaining, first_conn);
    }

    #[test]
    fn occurrence_counts_per_connection_and_rule_fires_once() {
        let shared = shared();
        push(&shared, Trigger::line("RETR", 2), Some(1), 0);
        let mut a = HashMap::new();
        let mut b = HashMap::new();
        assert!(shared.on_client_line(0, &mut a, b"RETR 1\r\n").is_none());
        assert!(shared.on_client_line(1, &mut b, b"RETR 1\r\n").is_none());
        assert!(shared.on_client_line(0, &mut a, b"RETR 2\r\n").is_some());
        assert!(shared.on_client_line(1, &mut b, b"RETR 2\r\n").is_none());
        assert_eq!(shared.fired.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn rules_skip_connections_accepted_before_arming() {
        let shared = shared();
        push(&shared, Trigger::line("QUIT", 1), None, 3);
        assert!(
            shared
                .on_client_line(2, &mut HashMap::new(), b"QUIT\r\n")
                .is_none()
        );
        assert!(
            shared
                .on_client_line(3, &mut HashMap::new(), b"QUIT\r\n")
                .is_some()
        );
        assert!(
            shared
                .on_client_line(4, &mut HashMap::new(), b"QUIT\r\n")
                .is_some()
        );
    }

    #[test]
    fn server_bytes_split_at_the_threshold() {
        let shared = shared();
        push(&shared, Trigger::ServerBytes(10), Some(1), 0);
        assert!(shared.on_server_bytes(0, 0, 4).is_none());
        let (split, _) = shared.on_server_bytes(0, 4, 20).expect("fires");
        assert_eq!(split, 6);
        assert!(shared.on_server_bytes(0, 24, 20).is_none());

        push(&shared, Trigger::ServerBytes(0), Some(1), 0);
        let (split, _) = shared
            .on_server_bytes(0, 0, 5)
            .expect("fires at first data");
        assert_eq!(split, 0);
    }
}
