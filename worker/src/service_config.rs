//! Whose configuration a command works on: a service's (Windows' installed one, the Linux
//! system one, or one with a service secret store), where secrets and sign-ins must reach
//! the service's own store through its pipe; and the account this process runs as, for
//! saying whose OS keyring a secret went to.

use std::path::Path;

use mailpull_shared::ipc::Endpoint;
use mailpull_shared::paths;

/// Exit code when no worker runs for the configuration (or it cannot be reached).
pub const EXIT_NO_WORKER: u8 = 3;

/// A configuration that a service runs: what to call it and how to start the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceConfig {
    pub what: &'static str,
    pub start: &'static str,
}

/// Whether `path` is a service's configuration: on Windows the installation's
/// (`%ProgramData%\Mailpull\mailpull.toml`, which the Mailpull Worker service runs); on Linux
/// the system configuration (`/etc/mailpull/mailpull.toml`) or one that names a service
/// secret store (`secrets_store`: `[worker] secrets`).
pub fn service_config(path: &Path, secrets_store: bool) -> Option<ServiceConfig> {
    if cfg!(windows) {
        let installed = Endpoint::for_config(&paths::default_config_file()).config;
        let this = Endpoint::for_config(path).config;
        same_windows_path(&this, &installed).then_some(ServiceConfig {
            what: "the configuration of the Mailpull Worker service",
            start: "`mailpull-worker service start` from an administrator's prompt",
        })
    } else if paths::is_system_config(path) || secrets_store {
        Some(ServiceConfig {
            what: "the configuration of the Linux service",
            start: "`systemctl start mailpull`",
        })
    } else {
        None
    }
}

/// Two absolute Windows paths name the same file: letters compared regardless of case (NTFS
/// and the Known Folders API may differ in it), `/` taken as `\\`.
fn same_windows_path(a: &Path, b: &Path) -> bool {
    let norm = |p: &Path| p.to_string_lossy().replace('/', "\\").to_lowercase();
    norm(a) == norm(b)
}

/// The account this process runs as, for "the OS keyring of this account (...)": its uid on
/// Unix (`USER` may be inherited from another account, e.g. through `setpriv`), the user name
/// on Windows.
pub fn this_account() -> String {
    #[cfg(unix)]
    {
        format!("uid {}", rustix::process::geteuid().as_raw())
    }
    #[cfg(not(unix))]
    {
        std::env::var("USERNAME")
            .ok()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "the account running this program".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_installed_configuration_is_recognised_whatever_its_letter_case() {
        assert!(same_windows_path(
            Path::new(r"C:\ProgramData\Mailpull\mailpull.toml"),
            Path::new(r"c:\programdata\MAILPULL\mailpull.toml"),
        ));
        assert!(same_windows_path(
            Path::new("C:/ProgramData/Mailpull/mailpull.toml"),
            Path::new(r"C:\ProgramData\Mailpull\mailpull.toml"),
        ));
        assert!(!same_windows_path(
            Path::new(r"C:\Users\eve\mailpull.toml"),
            Path::new(r"C:\ProgramData\Mailpull\mailpull.toml"),
        ));
    }

    #[test]
    #[cfg(unix)]
    fn a_service_configuration_is_the_system_one_or_one_with_a_secret_store() {
        let system = service_config(Path::new(paths::SYSTEM_CONFIG_FILE), false)
            .expect("the system configuration is the service's");
        assert!(system.start.contains("systemctl start mailpull"));
        let with_store = service_config(Path::new("/tmp/elsewhere/mailpull.toml"), true);
        assert_eq!(with_store, Some(system));
        assert_eq!(
            service_config(Path::new("/tmp/elsewhere/mailpull.toml"), false),
            None
        );
    }

    #[test]
    #[cfg(unix)]
    fn the_account_names_the_uid() {
        let uid = rustix::process::geteuid().as_raw();
        assert!(
            this_account().contains(&format!("uid {uid}")),
            "{}",
            this_account()
        );
    }
}
