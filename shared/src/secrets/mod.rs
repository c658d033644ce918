//! Where a profile's password comes from, and reading it. Secrets never live in the config
//! file: it names a source (the OS keyring, a file such as a systemd credential or Docker
//! secret, or an environment variable) and the worker reads the secret when it logs in.
//!
//! `password = { keyring = true }` looks first in the [`service_store`] (a root-owned file
//! that survives a reboot, for a worker running as a Linux service) when the process uses one
//! ([`use_service_store`]), then in the OS keyring of the account the worker runs as
//! ([`os_keyring`]: on Linux the Secret Service when the session bus has one, else the kernel
//! keyring).
//!
//! OAuth refresh tokens, which the worker writes itself, go to the [`token_file`] of a worker
//! running as a Linux service ([`use_token_file`]; in its state directory, kept across
//! reboots), else to the OS keyring.

pub mod os_keyring;
mod private_file;
pub mod service_store;
pub mod token_file;

use std::path::PathBuf;
use std::sync::RwLock;

pub use os_keyring::{OsKeyring, os_keyring};
pub use service_store::{SecretKind, ServiceStore, StoreError};
pub use token_file::{TokenFile, TokenFileError};

/// The service secret store this process reads, chosen once at start-up.
static SERVICE_STORE: RwLock<Option<ServiceStore>> = RwLock::new(None);

/// Makes `store` the service secret store that `{ keyring = true }` sources read first.
pub fn use_service_store(store: Option<ServiceStore>) {
    *SERVICE_STORE
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = store;
}

/// The service secret store in use, if any.
pub fn service_store() -> Option<ServiceStore> {
    SERVICE_STORE
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

/// The service's token file this process keeps OAuth refresh tokens in, if any.
static TOKEN_FILE: RwLock<Option<TokenFile>> = RwLock::new(None);

/// Makes `file` the place where this process reads (before the OS keyring), writes and
/// removes OAuth refresh tokens: a worker running as a Linux service (with a service secret
/// store) keeps them in its state directory, which survives a reboot.
pub fn use_token_file(file: Option<TokenFile>) {
    *TOKEN_FILE
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = file;
}

/// The service's token file in use, if any.
pub fn token_file() -> Option<TokenFile> {
    TOKEN_FILE
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

/// The keyring service name under which Mailpull stores profile secrets.
pub const KEYRING_SERVICE: &str = "mailpull";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// The OS keyring of the account the worker runs as, entry `mailpull` / `profile:<name>`.
    Keyring,
    /// The first line of a file (trailing newline removed).
    File(PathBuf),
    /// An environment variable of the worker process.
    Env(String),
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    #[error(
        "no password stored in the OS keyring for profile \"{profile}\" (set it in the Pull Manager or with `mailpull-worker set-password`)"
    )]
    KeyringMissing { profile: String },
    #[error(
        "no {what} for profile \"{profile}\" in the service secret store {store} nor in the OS keyring (set it as root with `mailpull-worker set-password {profile}`, then restart the service)"
    )]
    NotStored {
        what: &'static str,
        profile: String,
        store: PathBuf,
    },
    #[error(transparent)]
    ServiceStore(#[from] StoreError),
    #[error("OS keyring unavailable for profile \"{profile}\": {reason}")]
    Keyring { profile: String, reason: String },
    #[error("cannot read password file {path}: {source}")]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("password file {path} is empty")]
    EmptyFile { path: PathBuf },
    #[error("environment variable {var} (password of profile \"{profile}\") is not set")]
    EnvMissing { var: String, profile: String },
}

/// A password in memory. Its `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(****)")
    }
}

/// The keyring account of a profile's password (`password = { keyring = true }`).
pub fn password_account(profile: &str) -> String {
    format!("profile:{profile}")
}

/// The keyring account of a profile's OAuth 2.0 refresh token.
pub fn refresh_token_account(profile: &str) -> String {
    format!("oauth2-refresh:{profile}")
}

/// The keyring account of a profile's OAuth 2.0 client secret (`client_secret = { keyring = true }`).
pub fn client_secret_account(profile: &str) -> String {
    format!("oauth2-client-secret:{profile}")
}

/// Reads the keyring entry `account` (of `profile`); `Ok(None)` when there is none. On Linux
/// with a Secret Service also the kernel keyring (see [`os_keyring`]).
pub fn read_keyring(profile: &str, account: &str) -> Result<Option<Secret>, SecretError> {
    Ok(os_keyring::read(profile, account)?.map(|(secret, _)| secret))
}

/// Stores `secret` under the keyring entry `account` (of `profile`) in this process's OS
/// keyring ([`os_keyring::os_keyring`]); returns that keyring.
pub fn write_keyring(
    profile: &str,
    account: &str,
    secret: &Secret,
) -> Result<OsKeyring, SecretError> {
    os_keyring::write(profile, account, secret)
}

/// Removes the keyring entry `account` (of `profile`); a missing entry is not an error.
pub fn delete_keyring(profile: &str, account: &str) -> Result<(), SecretError> {
    os_keyring::delete(profile, account)
}

impl PasswordSource {
    /// `keyring`, `file` or `env`.
    pub fn kind(&self) -> &'static str {
        match self {
            PasswordSource::Keyring => "keyring",
            PasswordSource::File(_) => "file",
            PasswordSource::Env(_) => "env",
        }
    }

    /// Reads the OAuth 2.0 client secret of `profile` from this source (keyring entry
    /// [`client_secret_account`]).
    pub fn read_client_secret(&self, profile: &str) -> Result<Secret, SecretError> {
        match self {
            PasswordSource::Keyring => {
                let store = service_store();
                if let Some(secret) = from_store(store.as_ref(), SecretKind::ClientSecret, profile)?
                {
                    return Ok(secret);
                }
                read_keyring(profile, &client_secret_account(profile))?.ok_or_else(|| match store {
                    Some(store) => SecretError::NotStored {
                        what: SecretKind::ClientSecret.label(),
                        profile: profile.to_string(),
                        store: store.path().to_path_buf(),
                    },
                    None => SecretError::Keyring {
                        profile: profile.to_string(),
                        reason: format!(
                            "no OAuth client secret stored (entry {KEYRING_SERVICE} / {})",
                            client_secret_account(profile)
                        ),
                    },
                })
            }
            other => other.read(profile),
        }
    }

    /// Reads the secret of `profile` from this source.
    pub fn read(&self, profile: &str) -> Result<Secret, SecretError> {
        match self {
            PasswordSource::Keyring => {
                let store = service_store();
                if let Some(secret) = from_store(store.as_ref(), SecretKind::Password, profile)? {
                    return Ok(secret);
                }
                read_keyring(profile, &password_account(profile))?.ok_or_else(|| match store {
                    Some(store) => SecretError::NotStored {
                        what: SecretKind::Password.label(),
                        profile: profile.to_string(),
                        store: store.path().to_path_buf(),
                    },
                    None => SecretError::KeyringMissing {
                        profile: profile.to_string(),
                    },
                })
            }
            PasswordSource::File(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| SecretError::File {
                    path: path.clone(),
                    source,
                })?;
                let first = text.lines().next().unwrap_or_default();
                if first.is_empty() {
                    return Err(SecretError::EmptyFile { path: path.clone() });
                }
                Ok(Secret(first.to_string()))
            }
            PasswordSource::Env(var) => {
                std::env::var(var)
                    .map(Secret)
                    .map_err(|_| SecretError::EnvMissing {
                        var: var.clone(),
                        profile: profile.to_string(),
                    })
            }
        }
    }
}

/// The secret of `profile` in `store`, if there is a store and it holds one.
fn from_store(
    store: Option<&ServiceStore>,
    kind: SecretKind,
    profile: &str,
) -> Result<Option<Secret>, SecretError> {
    match store {
        Some(store) => Ok(store.get(kind, profile)?),
        None => Ok(None),
    }
}

impl PasswordSource {
    /// Where the `kind` secret of `profile` comes from now, for `mailpull-worker check`:
    /// "file PATH", "environment variable VAR", "service secret store PATH", the OS keyring
    /// holding it and whether it survives a reboot ("Secret Service (GNOME Keyring), entry
    /// mailpull / profile:x — survives a reboot", "kernel keyring, ... — lost at reboot; use
    /// ...") or "NONE: ..." with the command that sets it. Reads the store and the keyring but never shows a value. A service
    /// store that is unsafe or broken is an error.
    pub fn origin(&self, kind: SecretKind, profile: &str) -> Result<String, SecretError> {
        let account = match kind {
            SecretKind::Password => password_account(profile),
            SecretKind::ClientSecret => client_secret_account(profile),
        };
        match self {
            PasswordSource::File(path) => Ok(format!("file {}", path.display())),
            PasswordSource::Env(var) => Ok(format!("environment variable {var}")),
            PasswordSource::Keyring => {
                let store = service_store();
                if let Some(store) = &store
                    && store.get(kind, profile)?.is_some()
                {
                    return Ok(store.describe());
                }
                let before = store.as_ref().map(ServiceStore::describe);
                Ok(os_keyring::origin(profile, &account, before.as_deref()))
            }
        }
    }
}

/// Stores `secret` as the keyring password of `profile`.
pub fn store_in_keyring(profile: &str, secret: &Secret) -> Result<(), SecretError> {
    write_keyring(profile, &password_account(profile), secret).map(|_| ())
}

/// Removes the keyring password of `profile`; a missing entry is not an error.
pub fn delete_from_keyring(profile: &str) -> Result<(), SecretError> {
    delete_keyring(profile, &password_account(profile))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_source_reads_first_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pw");
        std::fs::write(&path, "s3cret\nignored\n").expect("write");
        let secret = PasswordSource::File(path).read("p").expect("read");
        assert_eq!(secret.expose(), "s3cret");
    }

    #[test]
    fn file_source_errors_name_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("missing");
        let err = PasswordSource::File(missing.clone()).read("p").unwrap_err();
        assert!(err.to_string().contains(&missing.display().to_string()));
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").expect("write");
        let err = PasswordSource::File(empty).read("p").unwrap_err();
        assert!(err.to_string().contains("is empty"));
    }

    #[test]
    fn env_source_names_variable_when_missing() {
        let err = PasswordSource::Env("MAILPULL_TEST_SURELY_UNSET".into())
            .read("user1")
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("MAILPULL_TEST_SURELY_UNSET") && text.contains("user1"));
    }

    #[test]
    fn debug_hides_the_secret() {
        let secret = Secret::new("hunter2");
        assert!(!format!("{secret:?}").contains("hunter2"));
    }
}
