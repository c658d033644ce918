//! The open-file limit and the IMAP IDLE cap that follows from it. Every IDLE connection is a
//! socket held for as long as the worker runs, so the number of them a worker can keep is
//! bounded by its file descriptors (Unix) — not by memory or by a fixed number.
//!
//! - [`raise`]: at start the soft `RLIMIT_NOFILE` is raised to the hard limit (Unix); the
//!   soft limit is often 1024 while the hard one is far higher (systemd: 524288).
//! - [`default_max_idle`]: the cap when `[worker] max_idle_connections` is not written:
//!   three quarters of what the limit leaves after a reserve for polls, SMTP, the state
//!   database, the pipe and logs ([`reserved_fds`]).
//! - Windows has no such limit worth the name (16 million handles per process):
//!   [`WINDOWS_DEFAULT_MAX_IDLE`] instead.
//! - [`idle_cap`]: the cap that applies: the setting, else the default.

use mailpull_shared::config::{Config, WorkerSettings};

use crate::push::NO_SLOT_POLL_INTERVAL;

/// File descriptors kept apart besides two per poll: the state database with its WAL and
/// shared-memory files, the pipe's listener and its clients, the log file, the runtime's
/// epoll and event descriptors, stdio, and certificate files read at connect.
pub const RESERVED_FDS: u64 = 64;
/// The IDLE cap on Windows when `max_idle_connections` is not written: handle limits are far
/// above it, so it bounds memory (about this many TLS sessions) rather than handles.
pub const WINDOWS_DEFAULT_MAX_IDLE: usize = 10_000;

/// The open-file limit after [`raise`]: what the worker can use, and what it started with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimit {
    /// The soft limit now in force (`None`: unlimited).
    pub soft: Option<u64>,
    /// The soft limit before the raise.
    pub before: Option<u64>,
    /// The hard limit (`None`: unlimited).
    pub hard: Option<u64>,
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns the limits. An unlimited hard
/// limit is not a valid soft value for open files on Linux, so the soft limit then stays.
/// `None` if the limit cannot be read (never on Linux).
#[cfg(unix)]
pub fn raise() -> Option<FdLimit> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let before = limit.current;
    let mut soft = before;
    if let Some(hard) = limit.maximum
        && before.is_some_and(|soft| soft < hard)
    {
        let raised = Rlimit {
            current: Some(hard),
            maximum: Some(hard),
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => soft = Some(hard),
            Err(err) => tracing::warn!(
                soft = before,
                hard,
                error = %err,
                "cannot raise the open-file limit to the hard limit"
            ),
        }
    }
    Some(FdLimit {
        soft,
        before,
        hard: limit.maximum,
    })
}

/// Windows: no open-file limit to raise.
#[cfg(not(unix))]
pub fn raise() -> Option<FdLimit> {
    None
}

/// The soft limit the worker would run with after [`raise`], without raising anything: what
/// `check` judges a configuration against.
#[cfg(unix)]
pub fn would_raise_to() -> Option<u64> {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    match (limit.current, limit.maximum) {
        (Some(soft), Some(hard)) => Some(soft.max(hard)),
        (soft, _) => soft,
    }
}

#[cfg(not(unix))]
pub fn would_raise_to() -> Option<u64> {
    None
}

/// Descriptors kept for everything but IDLE: a remote and an SMTP socket per concurrent poll
/// (`max_connections`), plus [`RESERVED_FDS`].
pub fn reserved_fds(max_connections: usize) -> u64 {
    (max_connections as u64)
        .saturating_mul(2)
        .saturating_add(RESERVED_FDS)
}

/// The IDLE cap for an open-file limit of `limit` (`None`: unlimited or unknown, as on
/// Windows): three quarters of `limit - reserved_fds(max_connections)`, at least 1. The
/// quarter left over covers connections in flight (a reconnecting watcher, an OAuth token
/// request, DNS).
pub fn default_max_idle(limit: Option<u64>, max_connections: usize) -> usize {
    match limit {
        None => WINDOWS_DEFAULT_MAX_IDLE,
        Some(limit) => {
            let free = limit.saturating_sub(reserved_fds(max_connections));
            usize::try_from(free / 4 * 3 + free % 4 * 3 / 4)
                .unwrap_or(usize::MAX)
                .max(1)
        }
    }
}

/// Where the IDLE cap in force came from, for the start-up log and `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapSource {
    /// `[worker] max_idle_connections`.
    Setting,
    /// [`default_max_idle`] of the open-file limit.
    FdLimit,
    /// [`WINDOWS_DEFAULT_MAX_IDLE`].
    Fixed,
}

impl CapSource {
    pub fn as_str(self) -> &'static str {
        match self {
            CapSource::Setting => "worker.max_idle_connections",
            CapSource::FdLimit => "open-file limit",
            CapSource::Fixed => "fixed default",
        }
    }
}

/// The IDLE cap that applies with `settings` and an open-file limit of `limit`.
pub fn idle_cap(settings: &WorkerSettings, limit: Option<u64>) -> (usize, CapSource) {
    match (settings.max_idle_connections, limit) {
        (Some(cap), _) => (cap, CapSource::Setting),
        (None, Some(_)) => (
            default_max_idle(limit, settings.max_connections),
            CapSource::FdLimit,
        ),
        (None, None) => (WINDOWS_DEFAULT_MAX_IDLE, CapSource::Fixed),
    }
}

/// What `check` says about IMAP IDLE for `config` under an open-file limit of `limit`
/// ([`would_raise_to`]): the connections its enabled push profiles need (one per folder) and
/// the cap, and a warning when they need more than the cap. `None` without push profiles.
pub fn check_report(config: &Config, limit: Option<u64>) -> Option<String> {
    let push: Vec<_> = config
        .profiles
        .iter()
        .filter(|p| p.enabled && p.push)
        .collect();
    if push.is_empty() {
        return None;
    }
    let needed: usize = push.iter().map(|p| p.remote.folders.len()).sum();
    let (cap, source) = idle_cap(&config.worker, limit);
    let limit_text = limit.map_or_else(
        || "no open-file limit".to_string(),
        |l| format!("open-file limit {l}"),
    );
    let mut out = format!(
        "IMAP IDLE: {needed} connection(s) for {} push profile(s); cap {cap} (from {}, {limit_text})",
        push.len(),
        source.as_str()
    );
    if needed > cap {
        out.push_str(&format!(
            "\nwarning: worker.max_idle_connections: {} IDLE connection(s) beyond the cap of {cap}: \
             their push profiles get no IDLE slot and are polled every {}s instead until one frees \
             (raise max_idle_connections or the open-file limit)",
            needed - cap,
            NO_SLOT_POLL_INTERVAL.as_secs()
        ));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_three_quarters_of_the_limit_after_the_reserve() {
        // The usual soft limit: 1024 - (2 × 64 + 64) = 832, three quarters 624.
        assert_eq!(default_max_idle(Some(1024), 64), 624);
        // systemd's hard limit leaves room for hundreds of thousands.
        assert_eq!(default_max_idle(Some(524_288), 64), 393_072);
        // This machine's 20000.
        assert_eq!(default_max_idle(Some(20_000), 64), 14_856);
        // More polls leave less for IDLE.
        assert_eq!(default_max_idle(Some(1024), 256), 336);
        // A limit smaller than the reserve still allows one.
        assert_eq!(default_max_idle(Some(100), 64), 1);
        assert_eq!(default_max_idle(Some(0), 64), 1);
        // No limit (Windows): the fixed default.
        assert_eq!(default_max_idle(None, 64), WINDOWS_DEFAULT_MAX_IDLE);
        // No overflow at the extremes.
        assert!(default_max_idle(Some(u64::MAX), usize::MAX) >= 1);
        assert!(default_max_idle(Some(u64::MAX), 1) > 1 << 40);
    }

    #[test]
    fn the_setting_wins_over_the_limit() {
        let mut settings = mailpull_shared::config::parse(
            "[[profile]]\nname = \"p\"\n[profile.remote]\nhost = \"h\"\nusername = \"u\"\npassword = { env = \"PW\" }\n[profile.local]\nuser = \"a\"\ndomain = \"example.com\"\n",
            "test.toml",
        )
        .expect("config")
        .worker;
        assert_eq!(idle_cap(&settings, Some(1024)), (624, CapSource::FdLimit));
        assert_eq!(
            idle_cap(&settings, None),
            (WINDOWS_DEFAULT_MAX_IDLE, CapSource::Fixed)
        );
        settings.max_idle_connections = Some(2);
        assert_eq!(idle_cap(&settings, Some(1024)), (2, CapSource::Setting));
        assert_eq!(idle_cap(&settings, None), (2, CapSource::Setting));
    }

    #[test]
    fn check_warns_when_the_push_folders_exceed_the_cap() {
        let profile = |name: &str, push: bool| {
            format!(
                "[[profile]]\nname = \"{name}\"\npush = {push}\n[profile.remote]\nprotocol = \"imap\"\nhost = \"h\"\nusername = \"{name}\"\npassword = {{ env = \"PW\" }}\nfolders = [\"INBOX\", \"Lists\"]\n[profile.local]\nuser = \"a\"\ndomain = \"example.com\"\n"
            )
        };
        let text = format!(
            "[worker]\nmax_idle_connections = 3\n{}{}{}",
            profile("a", true),
            profile("b", true),
            profile("c", false)
        );
        let mut config = mailpull_shared::config::parse(&text, "t.toml").expect("config");
        let report = check_report(&config, Some(1024)).expect("push profiles");
        assert!(
            report.starts_with("IMAP IDLE: 4 connection(s) for 2 push profile(s); cap 3 (from worker.max_idle_connections, open-file limit 1024)"),
            "{report}"
        );
        assert!(
            report.contains(
                "\nwarning: worker.max_idle_connections: 1 IDLE connection(s) beyond the cap of 3"
            ),
            "{report}"
        );
        assert!(report.contains("polled every 60s"), "{report}");
        config.worker.max_idle_connections = None;
        let report = check_report(&config, Some(1024)).expect("push profiles");
        assert!(
            report.ends_with("cap 624 (from open-file limit, open-file limit 1024)"),
            "{report}"
        );
        config.profiles.retain(|p| !p.push);
        assert_eq!(check_report(&config, Some(1024)), None);
    }

    #[cfg(unix)]
    #[test]
    fn the_limit_after_raising_is_the_hard_limit() {
        let limit = raise().expect("getrlimit");
        assert_eq!(limit.soft, limit.hard.or(limit.before));
        assert_eq!(would_raise_to(), limit.soft);
    }
}
