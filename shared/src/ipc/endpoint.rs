//! Where the worker of one installation listens: one endpoint per configuration file, so that
//! `--config FILE` on both sides reaches the worker running that file.
//!
//! The endpoint is derived from a hash of the configuration file's absolute path:
//! - **Unix:** a filesystem socket `<dir>/<hash>.sock`, where `<dir>` is
//!   `$MAILPULL_IPC_DIR` when set; otherwise `/run/mailpull` for root,
//!   `$XDG_RUNTIME_DIR/mailpull` for other users, or `<tmp>/mailpull-<uid>` without
//!   `XDG_RUNTIME_DIR`. The worker creates the directory with mode 0700 (refusing one that
//!   is group/other accessible or owned by someone else), so only its own user (and root)
//!   can reach the socket; it also checks each peer's uid.
//! - **Windows:** the named pipe `\\.\pipe\mailpull-<hash>`, created with a security
//!   descriptor granting SYSTEM, Administrators and the pipe's owner full access.

use std::path::{Path, PathBuf};

use interprocess::local_socket::Name;
use sha2::{Digest, Sha256};

/// The environment variable that overrides the socket directory (Unix).
pub const IPC_DIR_ENV: &str = "MAILPULL_IPC_DIR";

/// The local socket (or named pipe) of one installation's worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The configuration file it belongs to (for messages).
    pub config: PathBuf,
    /// Unix: the socket file. Windows: the pipe name without `\\.\pipe\`.
    pub address: PathBuf,
}

/// 16 hex digits of SHA-256 over the absolute path: short enough for a socket path.
fn path_hash(config: &Path) -> String {
    let digest = Sha256::digest(config.to_string_lossy().as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The absolute form of a configuration path: canonical when the file exists, otherwise
/// joined to the current directory.
pub fn absolute_config_path(config: &Path) -> PathBuf {
    if let Ok(canonical) = std::fs::canonicalize(config) {
        return canonical;
    }
    std::path::absolute(config).unwrap_or_else(|_| config.to_path_buf())
}

impl Endpoint {
    /// The endpoint of the worker that runs `config`.
    pub fn for_config(config: &Path) -> Endpoint {
        let config = absolute_config_path(config);
        let hash = path_hash(&config);
        Endpoint {
            address: Self::address_for(&hash),
            config,
        }
    }

    /// The endpoint of the installation's default configuration.
    pub fn default_installation() -> Endpoint {
        Self::for_config(&crate::paths::default_config_file())
    }

    /// An explicit socket path (Unix) or pipe name (Windows), e.g. for tests.
    pub fn at(address: impl Into<PathBuf>, config: impl Into<PathBuf>) -> Endpoint {
        Endpoint {
            config: config.into(),
            address: address.into(),
        }
    }

    #[cfg(unix)]
    fn address_for(hash: &str) -> PathBuf {
        socket_dir().join(format!("{hash}.sock"))
    }

    #[cfg(windows)]
    fn address_for(hash: &str) -> PathBuf {
        PathBuf::from(format!("mailpull-{hash}"))
    }

    /// The directory holding the socket (Unix); `None` on Windows.
    pub fn directory(&self) -> Option<&Path> {
        if cfg!(unix) {
            self.address.parent()
        } else {
            None
        }
    }

    /// The interprocess name to listen on or connect to.
    pub fn name(&self) -> std::io::Result<Name<'_>> {
        #[cfg(unix)]
        {
            use interprocess::local_socket::{GenericFilePath, ToFsName};
            self.address.as_path().to_fs_name::<GenericFilePath>()
        }
        #[cfg(windows)]
        {
            use interprocess::local_socket::{GenericNamespaced, ToNsName};
            self.address.as_os_str().to_ns_name::<GenericNamespaced>()
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if cfg!(windows) {
            write!(f, r"\\.\pipe\{}", self.address.display())
        } else {
            write!(f, "{}", self.address.display())
        }
    }
}

/// The socket directory for this process's user (see the module documentation).
#[cfg(unix)]
pub fn socket_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(IPC_DIR_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let uid = rustix::process::getuid();
    if uid.is_root() {
        return PathBuf::from("/run/mailpull");
    }
    if let Some(runtime) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(runtime).join("mailpull");
    }
    std::env::temp_dir().join(format!("mailpull-{}", uid.as_raw()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_config_same_endpoint_other_config_other_endpoint() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = dir.path().join("a.toml");
        let b = dir.path().join("b.toml");
        std::fs::write(&a, "").expect("write");
        std::fs::write(&b, "").expect("write");
        assert_eq!(Endpoint::for_config(&a), Endpoint::for_config(&a));
        assert_ne!(
            Endpoint::for_config(&a).address,
            Endpoint::for_config(&b).address
        );
        // A relative spelling of the same file reaches the same worker.
        let dotted = dir.path().join(".").join("a.toml");
        assert_eq!(
            Endpoint::for_config(&dotted).address,
            Endpoint::for_config(&a).address
        );
    }

    #[cfg(unix)]
    #[test]
    fn socket_path_is_short_enough_for_sun_path() {
        let endpoint = Endpoint::for_config(Path::new("/etc/mailpull/mailpull.toml"));
        let name = endpoint
            .address
            .file_name()
            .and_then(|n| n.to_str())
            .expect("file name");
        assert_eq!(name.len(), 16 + ".sock".len());
        assert!(endpoint.name().is_ok());
    }
}
