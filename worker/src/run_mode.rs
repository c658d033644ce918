//! How this worker was started, for the hello of the Pull Manager's pipe
//! ([`RunMode`]): the Windows service says so itself ([`RunMode::WindowsService`]); otherwise
//! [`detect`] reads the environment (pure, given the variables and `/proc/self/cgroup`).

use mailpull_shared::ipc::RunMode;
use mailpull_shared::ipc::hello::{STARTED_BY_ENV, STARTED_BY_MANAGER};

/// How `mailpull-worker run` runs, from its environment and control group: started by a
/// Pull Manager ([`STARTED_BY_ENV`]), a systemd unit (`INVOCATION_ID` or `NOTIFY_SOCKET`,
/// which systemd sets on every service it starts), else a terminal.
pub fn detect(env: impl Fn(&str) -> Option<String>, cgroup: Option<&str>, pid: u32) -> RunMode {
    if env(STARTED_BY_ENV).as_deref() == Some(STARTED_BY_MANAGER) {
        return RunMode::Manager { pid };
    }
    let set = |name: &str| env(name).is_some_and(|value| !value.is_empty());
    if set("INVOCATION_ID") || set("NOTIFY_SOCKET") {
        return RunMode::Systemd {
            unit: cgroup.and_then(unit_of_cgroup),
        };
    }
    RunMode::Foreground { pid }
}

/// This process's run mode ([`detect`] over the real environment and control group).
pub fn current() -> RunMode {
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").ok();
    detect(
        |name| std::env::var(name).ok(),
        cgroup.as_deref(),
        std::process::id(),
    )
}

/// The service unit in `/proc/self/cgroup`'s text (e.g. `0::/system.slice/mailpull.service`
/// gives `mailpull.service`): the last `.service` element of a path, so a user unit under
/// `user@1000.service/app.slice/` is found too.
pub fn unit_of_cgroup(text: &str) -> Option<String> {
    text.lines()
        .filter_map(|line| line.splitn(3, ':').nth(2))
        .filter_map(|path| {
            path.split('/')
                .rev()
                .find(|part| part.ends_with(".service"))
        })
        .find(|unit| unit.len() > ".service".len())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.to_string())
        }
    }

    #[test]
    fn a_terminal_has_none_of_the_markers() {
        assert_eq!(
            detect(env(&[("HOME", "/root")]), None, 12),
            RunMode::Foreground { pid: 12 }
        );
        // An empty NOTIFY_SOCKET (e.g. exported by a shell script) is not systemd.
        assert_eq!(
            detect(env(&[("NOTIFY_SOCKET", "")]), None, 12),
            RunMode::Foreground { pid: 12 }
        );
    }

    #[test]
    fn systemd_sets_invocation_id_or_notify_socket() {
        let cgroup = "0::/system.slice/mailpull.service\n";
        assert_eq!(
            detect(env(&[("INVOCATION_ID", "0a1b")]), Some(cgroup), 5),
            RunMode::Systemd {
                unit: Some("mailpull.service".into())
            }
        );
        assert_eq!(
            detect(env(&[("NOTIFY_SOCKET", "/run/systemd/notify")]), None, 5),
            RunMode::Systemd { unit: None }
        );
    }

    #[test]
    fn the_window_says_it_started_the_worker_and_wins_over_an_inherited_unit() {
        let vars = [
            (STARTED_BY_ENV, STARTED_BY_MANAGER),
            ("INVOCATION_ID", "0a1b"),
        ];
        assert_eq!(detect(env(&vars), None, 77), RunMode::Manager { pid: 77 });
        // Another value is not the window.
        assert_eq!(
            detect(env(&[(STARTED_BY_ENV, "cron")]), None, 77),
            RunMode::Foreground { pid: 77 }
        );
    }

    #[test]
    fn the_unit_is_the_last_service_element_of_the_cgroup_path() {
        assert_eq!(
            unit_of_cgroup("0::/system.slice/mailpull.service").as_deref(),
            Some("mailpull.service")
        );
        assert_eq!(
            unit_of_cgroup(
                "0::/user.slice/user-1000.slice/user@1000.service/app.slice/mailpull-test.service"
            )
            .as_deref(),
            Some("mailpull-test.service")
        );
        // cgroup v1: several hierarchies, the unit in the named one.
        let v1 = "12:pids:/system.slice/mailpull.service\n1:name=systemd:/system.slice/mailpull.service\n";
        assert_eq!(unit_of_cgroup(v1).as_deref(), Some("mailpull.service"));
        for none in [
            "0::/",
            "0::/user.slice/user-1000.slice/session-3.scope",
            "",
            "garbage",
        ] {
            assert_eq!(unit_of_cgroup(none), None, "{none}");
        }
    }
}
