//! One look at the D-Bus session bus: does it answer, and does it have a Secret Service
//! (`org.freedesktop.secrets`, running or startable on demand)? Which program serves it is
//! read from `/proc/PID/comm` of the name's owner.

use std::time::Duration;

use dbus::blocking::Connection;

const SECRETS: &str = "org.freedesktop.secrets";
const BUS: &str = "org.freedesktop.DBus";
const TIMEOUT: Duration = Duration::from_secs(3);

/// `None`: no session bus, or no Secret Service on it. `Some(provider)`: there is one;
/// `provider` names the program serving it when it is running.
pub fn secret_service() -> Option<Option<String>> {
    let conn = Connection::new_session().ok()?;
    let bus = conn.with_proxy(BUS, "/org/freedesktop/DBus", TIMEOUT);
    let (owned,): (bool,) = bus.method_call(BUS, "NameHasOwner", (SECRETS,)).ok()?;
    if owned {
        let pid: Option<(u32,)> = bus
            .method_call(BUS, "GetConnectionUnixProcessID", (SECRETS,))
            .ok();
        let comm = pid.and_then(|(pid,)| std::fs::read_to_string(format!("/proc/{pid}/comm")).ok());
        return Some(Some(
            comm.map_or_else(|| "running".to_string(), |c| provider_name(c.trim())),
        ));
    }
    let (names,): (Vec<String>,) = bus.method_call(BUS, "ListActivatableNames", ()).ok()?;
    names.iter().any(|n| n == SECRETS).then_some(None)
}

/// The usual name of the program `comm` (the kernel's 15-character process name).
fn provider_name(comm: &str) -> String {
    if comm.starts_with("gnome-keyring") {
        "GNOME Keyring".into()
    } else if comm.starts_with("kwalletd") || comm.starts_with("ksecretd") {
        "KWallet".into()
    } else if comm.starts_with("keepassxc") {
        "KeePassXC".into()
    } else {
        comm.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::provider_name;

    #[test]
    fn known_providers_get_their_usual_names() {
        assert_eq!(provider_name("gnome-keyring-d"), "GNOME Keyring");
        assert_eq!(provider_name("kwalletd6"), "KWallet");
        assert_eq!(provider_name("keepassxc"), "KeePassXC");
        assert_eq!(provider_name("oo7-daemon"), "oo7-daemon");
    }
}
