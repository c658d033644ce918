//! Which OS keyring holds the `{ keyring = true }` secrets, and reading, writing and removing
//! its entries (service `mailpull`, account `profile:NAME` and the like).
//!
//! On Linux the store is chosen once per process ([`os_keyring`]): the **Secret Service**
//! (GNOME Keyring, KWallet, KeePassXC: on disk, it survives a reboot) when the session bus
//! answers and has `org.freedesktop.secrets` (running or startable on demand), else the
//! **kernel keyring** (keyutils: in memory, lost at reboot). Reading with the Secret Service in
//! use looks there first, then in the kernel keyring, so a secret stored before the upgrade is
//! still found; storing into the Secret Service removes the kernel keyring's copy (it moves at
//! the next `set-password`); removing removes both. Windows uses the Credential Manager, macOS
//! the Keychain. Values are never logged nor part of an error.

use std::sync::OnceLock;

use super::{KEYRING_SERVICE, Secret, SecretError};

#[cfg(target_os = "linux")]
mod session_bus;

/// The OS keyring of this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OsKeyring {
    /// The Secret Service on the session bus; `provider` names the program serving it (e.g.
    /// "GNOME Keyring"), `None` when it is not running yet (D-Bus starts it on demand).
    SecretService { provider: Option<String> },
    /// The Linux kernel keyring (keyutils) of the login session: lost at reboot.
    Kernel,
    /// The Windows Credential Manager or the macOS Keychain.
    Native,
}

impl OsKeyring {
    /// Whether a secret stored here is still there after a reboot.
    pub fn survives_reboot(&self) -> bool {
        !matches!(self, OsKeyring::Kernel)
    }

    /// "Secret Service (GNOME Keyring)", "kernel keyring", "Windows Credential Manager", ...
    pub fn name(&self) -> String {
        match self {
            OsKeyring::SecretService {
                provider: Some(provider),
            } => format!("Secret Service ({provider})"),
            OsKeyring::SecretService { provider: None } => "Secret Service".into(),
            OsKeyring::Kernel => "kernel keyring".into(),
            OsKeyring::Native if cfg!(windows) => "Windows Credential Manager".into(),
            OsKeyring::Native if cfg!(target_os = "macos") => "macOS Keychain".into(),
            OsKeyring::Native => "OS keyring".into(),
        }
    }

    /// [`Self::name`] and whether a reboot keeps what it holds, for `check` and replies:
    /// "Secret Service (GNOME Keyring) — survives a reboot", "kernel keyring — lost at reboot;
    /// use ...".
    pub fn describe(&self) -> String {
        self.describe_with("")
    }

    /// [`Self::describe`] with `detail` (e.g. ", entry mailpull / profile:x") after the name.
    pub fn describe_with(&self, detail: &str) -> String {
        if self.survives_reboot() {
            format!("{}{detail} — survives a reboot", self.name())
        } else {
            format!("{}{detail} — lost at reboot; {KERNEL_ADVICE}", self.name())
        }
    }
}

/// What to do instead of the kernel keyring, for a secret that should survive a reboot.
const KERNEL_ADVICE: &str = "use a desktop session with a Secret Service (GNOME Keyring, \
    KWallet, KeePassXC), a `{ file = ... }` source, or as a system service the service secret \
    store (`sudo mailpull-worker set-password NAME`)";

static CHOSEN: OnceLock<OsKeyring> = OnceLock::new();

/// The OS keyring this process stores secrets in, found out at the first call (on Linux one
/// look at the session bus; no bus, or no Secret Service on it, is the kernel keyring).
pub fn os_keyring() -> &'static OsKeyring {
    CHOSEN.get_or_init(detect)
}

#[cfg(target_os = "linux")]
fn detect() -> OsKeyring {
    match session_bus::secret_service() {
        Some(provider) => OsKeyring::SecretService { provider },
        None => OsKeyring::Kernel,
    }
}

#[cfg(not(target_os = "linux"))]
fn detect() -> OsKeyring {
    OsKeyring::Native
}

/// The entry `account` in `store`.
fn entry(store: &OsKeyring, account: &str) -> keyring::Result<keyring::Entry> {
    #[cfg(target_os = "linux")]
    {
        let credential: Box<keyring::credential::Credential> = match store {
            OsKeyring::SecretService { .. } => {
                Box::new(keyring::secret_service::SsCredential::new_with_target(
                    None,
                    KEYRING_SERVICE,
                    account,
                )?)
            }
            OsKeyring::Kernel | OsKeyring::Native => {
                Box::new(keyring::keyutils::KeyutilsCredential::new_with_target(
                    None,
                    KEYRING_SERVICE,
                    account,
                )?)
            }
        };
        Ok(keyring::Entry::new_with_credential(credential))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = store;
        keyring::Entry::new(KEYRING_SERVICE, account)
    }
}

/// The stores to look in, in order: the chosen one, then (Secret Service in use) the kernel
/// keyring, which held the secrets before.
fn stores() -> Vec<OsKeyring> {
    let chosen = os_keyring().clone();
    match chosen {
        OsKeyring::SecretService { .. } => vec![chosen, OsKeyring::Kernel],
        other => vec![other],
    }
}

fn failure(profile: &str, store: &OsKeyring, err: &keyring::Error) -> SecretError {
    SecretError::Keyring {
        profile: profile.to_string(),
        reason: format!("{}: {err}", store.name()),
    }
}

/// The secret under `account` (of `profile`) and the store that holds it; `Ok(None)` when no
/// store has one. The kernel keyring behind the Secret Service is looked in also when the
/// Secret Service fails (its error is returned when neither has the secret); a failure of that
/// fallback itself counts as "not there".
pub fn read(profile: &str, account: &str) -> Result<Option<(Secret, OsKeyring)>, SecretError> {
    let mut chosen_error = None;
    for (n, store) in stores().into_iter().enumerate() {
        match entry(&store, account).and_then(|e| e.get_password()) {
            Ok(value) => return Ok(Some((Secret::new(value), store))),
            Err(keyring::Error::NoEntry) => {}
            Err(err) if n == 0 => chosen_error = Some(failure(profile, &store, &err)),
            Err(_) => {}
        }
    }
    chosen_error.map_or(Ok(None), Err)
}

/// Stores `secret` under `account` (of `profile`) in the chosen store; with the Secret Service
/// the kernel keyring's copy, if any, is removed (moved). Returns the store written.
pub fn write(profile: &str, account: &str, secret: &Secret) -> Result<OsKeyring, SecretError> {
    let mut stores = stores().into_iter();
    let chosen = stores.next().unwrap_or(OsKeyring::Kernel);
    entry(&chosen, account)
        .and_then(|e| e.set_password(secret.expose()))
        .map_err(|err| failure(profile, &chosen, &err))?;
    for older in stores {
        // A copy that cannot be removed is never read: the Secret Service is read first.
        let _ = entry(&older, account).and_then(|e| e.delete_credential());
    }
    Ok(chosen)
}

/// Removes `account` (of `profile`) from every store it may be in; a missing entry is not an
/// error, nor is a kernel keyring behind the Secret Service that cannot be reached.
pub fn delete(profile: &str, account: &str) -> Result<(), SecretError> {
    let mut chosen_error = None;
    for (n, store) in stores().into_iter().enumerate() {
        match entry(&store, account).and_then(|e| e.delete_credential()) {
            Ok(()) | Err(keyring::Error::NoEntry) => {}
            Err(err) if n == 0 => chosen_error = Some(failure(profile, &store, &err)),
            Err(_) => {}
        }
    }
    chosen_error.map_or(Ok(()), Err)
}

/// For `check`: where the entry `account` of `profile` is, and what a reboot does to it; or
/// `NONE: ...` with the command that sets it (`before`: a place looked in first, named there).
pub fn origin(profile: &str, account: &str, before: Option<&str>) -> String {
    let chosen = os_keyring();
    match read(profile, account) {
        Ok(Some((_, held))) if held == *chosen => {
            held.describe_with(&format!(", entry {KEYRING_SERVICE} / {account}"))
        }
        Ok(Some((_, held))) => format!(
            "{}, entry {KEYRING_SERVICE} / {account} — lost at reboot; `mailpull-worker set-password {profile}` moves it to the {}, which survives a reboot",
            held.name(),
            chosen.name()
        ),
        Ok(None) => {
            let places: Vec<String> = before
                .map(str::to_string)
                .into_iter()
                .chain(stores().iter().map(OsKeyring::name))
                .collect();
            format!(
                "NONE: not in the {} (set it with `mailpull-worker set-password {profile}`)",
                places.join(" nor in the ")
            )
        }
        Err(err) => format!("the {}, which cannot be read: {err}", chosen.name()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_say_whether_a_reboot_keeps_the_secret() {
        let gnome = OsKeyring::SecretService {
            provider: Some("GNOME Keyring".into()),
        };
        assert_eq!(
            gnome.describe(),
            "Secret Service (GNOME Keyring) — survives a reboot"
        );
        let kernel = OsKeyring::Kernel.describe();
        assert!(
            kernel.starts_with("kernel keyring — lost at reboot; use "),
            "{kernel}"
        );
        assert_eq!(
            OsKeyring::SecretService { provider: None }.name(),
            "Secret Service"
        );
    }
}
