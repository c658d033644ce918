//! The service secret store: one root-owned TOML file of mode 0600 holding the passwords (and
//! OAuth client secrets) of a worker that runs as a system service on Linux. Unlike the
//! kernel keyring it survives a reboot. Root writes it (`mailpull-worker set-password`, with
//! a temporary file and a rename); systemd hands the service a copy (`LoadCredential=`), so
//! the service account reads it but can never rewrite it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Secret, private_file};

/// Where the Debian package keeps the store: systemd's folder for credentials (root, 0700).
pub const DEFAULT_PATH: &str = "/etc/credstore/mailpull-secrets.toml";

/// The credential name under which the unit hands the store in
/// (`LoadCredential=mailpull-secrets:...`), found as `$CREDENTIALS_DIRECTORY/mailpull-secrets`.
pub const CREDENTIAL: &str = "mailpull-secrets";

/// A profile's password or its OAuth client secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    Password,
    ClientSecret,
}

impl SecretKind {
    /// "password" or "OAuth client secret".
    pub fn label(self) -> &'static str {
        match self {
            SecretKind::Password => "password",
            SecretKind::ClientSecret => "OAuth client secret",
        }
    }
}

/// How the worker reaches the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The root-owned file itself (root reads and writes it).
    File,
    /// systemd's copy in `$CREDENTIALS_DIRECTORY` (read-only; systemd checked the original).
    Credential,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceStore {
    path: PathBuf,
    origin: Origin,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error(
        "cannot read the service secret store {path}: {source} (it is root's: the service reads it through systemd's LoadCredential=, anything else must run as root)"
    )]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "refusing the service secret store {path}: {reason}; it must be a file owned by root with mode 0600 (chown root:root {path} && chmod 0600 {path})"
    )]
    Unsafe { path: PathBuf, reason: String },
    #[error(
        "the service secret store {path} is not valid at line {line}: expected `name = \"secret\"` under [passwords] or [client_secrets]"
    )]
    Invalid { path: PathBuf, line: usize },
    #[error("cannot write the service secret store {path}: {reason}")]
    Write { path: PathBuf, reason: String },
    #[error(
        "the service secret store {path} is systemd's read-only copy; change the original as root with `mailpull-worker set-password`"
    )]
    ReadOnly { path: PathBuf },
}

/// The file's content. Values never appear in an error message.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Contents {
    #[serde(default)]
    passwords: BTreeMap<String, String>,
    #[serde(default)]
    client_secrets: BTreeMap<String, String>,
}

impl Contents {
    fn table(&mut self, kind: SecretKind) -> &mut BTreeMap<String, String> {
        match kind {
            SecretKind::Password => &mut self.passwords,
            SecretKind::ClientSecret => &mut self.client_secrets,
        }
    }
}

const HEADER: &str = "# Mailpull: secrets of the service's profiles. Owned by root, mode 0600.\n\
# Written by `mailpull-worker set-password NAME` (as root); systemd hands it to the\n\
# service (LoadCredential=mailpull-secrets:...). Restart the service after a change.\n\n";

impl ServiceStore {
    /// The root-owned file at `path`.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        ServiceStore {
            path: path.into(),
            origin: Origin::File,
        }
    }

    /// systemd's copy `dir/mailpull-secrets` (`dir` is `$CREDENTIALS_DIRECTORY`).
    pub fn credential(dir: &Path) -> Self {
        ServiceStore {
            path: dir.join(CREDENTIAL),
            origin: Origin::Credential,
        }
    }

    /// The store a worker uses: systemd's copy when the unit hands one in, else `configured`
    /// (`[worker] secrets`), else [`DEFAULT_PATH`] when the configuration is the service's;
    /// `None` otherwise (the OS keyring alone).
    pub fn locate(configured: Option<&Path>, service_config: bool) -> Option<Self> {
        if let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY") {
            let store = ServiceStore::credential(Path::new(&dir));
            if store.path.is_file() {
                return Some(store);
            }
        }
        match configured {
            Some(path) => Some(ServiceStore::file(path)),
            None if service_config && cfg!(unix) => Some(ServiceStore::file(DEFAULT_PATH)),
            None => None,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// "service secret store PATH" (with "systemd credential" for the copy).
    pub fn describe(&self) -> String {
        match self.origin {
            Origin::File => format!("service secret store {}", self.path.display()),
            Origin::Credential => format!(
                "service secret store (systemd credential {})",
                self.path.display()
            ),
        }
    }

    /// The secret of `profile`, if the store holds one. A missing file is an empty store.
    pub fn get(&self, kind: SecretKind, profile: &str) -> Result<Option<Secret>, StoreError> {
        Ok(self.load()?.table(kind).remove(profile).map(Secret::new))
    }

    /// Checks that the store can be read and is safe (what `check` and start-up do).
    pub fn verify(&self) -> Result<(), StoreError> {
        self.load().map(|_| ())
    }

    /// Stores `secret` for `profile`: the whole file is written anew (temporary file of mode
    /// 0600 in the same folder, fsync, rename). Only root can: the new file must be root's.
    pub fn set(&self, kind: SecretKind, profile: &str, secret: &Secret) -> Result<(), StoreError> {
        let _lock = self.lock()?;
        let mut contents = self.load()?;
        contents
            .table(kind)
            .insert(profile.to_string(), secret.expose().to_string());
        self.write(&contents)
    }

    /// Removes the secret of `profile`; true when there was one.
    pub fn remove(&self, kind: SecretKind, profile: &str) -> Result<bool, StoreError> {
        let _lock = self.lock()?;
        let mut contents = self.load()?;
        if contents.table(kind).remove(profile).is_none() {
            return Ok(false);
        }
        self.write(&contents)?;
        Ok(true)
    }

    /// Holds the store's lock file (`.NAME.lock` beside it) until dropped: two `set-password`
    /// at once each rewrite the whole file, and without it one would undo the other.
    fn lock(&self) -> Result<std::fs::File, StoreError> {
        if self.origin == Origin::Credential {
            return Err(StoreError::ReadOnly {
                path: self.path.clone(),
            });
        }
        let fail = |reason: String| StoreError::Write {
            path: self.path.clone(),
            reason,
        };
        let (dir, _) = private_file::folder_and_name(&self.path).map_err(fail)?;
        prepare_folder(dir).map_err(fail)?;
        private_file::lock_beside(&self.path).map_err(fail)
    }

    fn load(&self) -> Result<Contents, StoreError> {
        let mut file = match std::fs::File::open(&self.path) {
            Ok(file) => file,
            Err(err)
                if err.kind() == std::io::ErrorKind::NotFound && self.origin == Origin::File =>
            {
                return Ok(Contents::default());
            }
            Err(source) => {
                return Err(StoreError::Read {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        let read_err = |source| StoreError::Read {
            path: self.path.clone(),
            source,
        };
        if self.origin == Origin::File {
            let meta = file.metadata().map_err(read_err)?;
            self.check_private(&meta)?;
        }
        let mut text = String::new();
        std::io::Read::read_to_string(&mut file, &mut text).map_err(read_err)?;
        parse(&self.path, &text)
    }

    /// A regular file, owned by root, neither group nor others may read or write it.
    #[cfg(unix)]
    fn check_private(&self, meta: &std::fs::Metadata) -> Result<(), StoreError> {
        use std::os::unix::fs::MetadataExt;
        let unsafe_because = |reason: String| StoreError::Unsafe {
            path: self.path.clone(),
            reason,
        };
        if let Some(reason) = private_file::not_private(meta) {
            return Err(unsafe_because(reason));
        }
        if meta.uid() != 0 {
            return Err(unsafe_because(format!(
                "it is owned by uid {}, not root",
                meta.uid()
            )));
        }
        Ok(())
    }

    #[cfg(not(unix))]
    fn check_private(&self, _meta: &std::fs::Metadata) -> Result<(), StoreError> {
        Err(StoreError::Unsafe {
            path: self.path.clone(),
            reason: "the service secret store exists on Linux only".into(),
        })
    }

    fn write(&self, contents: &Contents) -> Result<(), StoreError> {
        let fail = |reason: String| StoreError::Write {
            path: self.path.clone(),
            reason,
        };
        let text = format!(
            "{HEADER}{}",
            toml::to_string(contents).map_err(|err| fail(err.to_string()))?
        );
        private_file::replace(&self.path, text.as_bytes(), owned_by_root).map_err(fail)
    }
}

/// The store's text; an error names the line, never the value (a TOML error message may
/// quote the line it stopped at).
fn parse(path: &Path, text: &str) -> Result<Contents, StoreError> {
    toml::from_str(text).map_err(|err: toml::de::Error| StoreError::Invalid {
        path: path.to_path_buf(),
        line: private_file::error_line(&err, text),
    })
}

/// Creates the folder (mode 0700) if missing; refuses one that is not root's or that group
/// or others may write (they could swap the file).
#[cfg(unix)]
fn prepare_folder(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|err| format!("cannot create the folder {}: {err}", dir.display()))?;
    }
    let meta = std::fs::metadata(dir)
        .map_err(|err| format!("cannot read the folder {}: {err}", dir.display()))?;
    if meta.uid() != 0 {
        return Err(format!(
            "the folder {} is owned by uid {}, not root (run set-password as root; the folder must be root's)",
            dir.display(),
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "the folder {} can be written by group or others (mode {:04o})",
            dir.display(),
            meta.mode() & 0o777
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn prepare_folder(_dir: &Path) -> Result<(), String> {
    Err("the service secret store exists on Linux only".into())
}

/// The new file must be root's: only root may write the store.
fn owned_by_root(file: &std::fs::File) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let uid = file
            .metadata()
            .map_err(|err| format!("cannot read the new file: {err}"))?
            .uid();
        if uid != 0 {
            return Err(format!(
                "only root may write it (this runs as uid {uid}): run `sudo mailpull-worker set-password ...`"
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn is_root() -> bool {
        let probe = tempfile::tempfile().expect("tempfile");
        probe.metadata().expect("meta").uid() == 0
    }

    fn store_in(dir: &Path) -> ServiceStore {
        ServiceStore::file(dir.join("creds").join("mailpull-secrets.toml"))
    }

    #[test]
    fn a_missing_file_is_an_empty_store() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store_in(dir.path());
        assert!(store.get(SecretKind::Password, "p").expect("get").is_none());
        store.verify().expect("verify");
    }

    #[test]
    fn set_then_get_round_trips_atomically_as_root_0600() {
        if !is_root() {
            // A non-root writer is refused: that is the other half of this test.
            let dir = tempfile::tempdir().expect("tempdir");
            let err = store_in(dir.path())
                .set(SecretKind::Password, "p", &Secret::new("pw"))
                .unwrap_err();
            assert!(err.to_string().contains("not root"), "{err}");
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store_in(dir.path());
        let tricky = "pä\"ss = \\ word#1";
        store
            .set(SecretKind::Password, "user 1", &Secret::new(tricky))
            .expect("set");
        store
            .set(SecretKind::ClientSecret, "user 1", &Secret::new("cs"))
            .expect("set");
        store
            .set(SecretKind::Password, "other", &Secret::new("o"))
            .expect("set");
        let got = store.get(SecretKind::Password, "user 1").expect("get");
        assert_eq!(got.expect("stored").expose(), tricky);
        let cs = store.get(SecretKind::ClientSecret, "user 1").expect("get");
        assert_eq!(cs.expect("stored").expose(), "cs");
        let meta = std::fs::metadata(store.path()).expect("meta");
        assert_eq!((meta.uid(), meta.mode() & 0o777), (0, 0o600));
        let folder = std::fs::metadata(store.path().parent().expect("dir")).expect("meta");
        assert_eq!(folder.mode() & 0o777, 0o700);
        let leftovers: Vec<_> = std::fs::read_dir(store.path().parent().expect("dir"))
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        // The store and its lock file, no temporary file.
        assert_eq!(leftovers.len(), 2, "temporary files left: {leftovers:?}");
        assert!(store.remove(SecretKind::Password, "other").expect("remove"));
        assert!(
            store
                .get(SecretKind::Password, "other")
                .expect("get")
                .is_none()
        );
        assert!(!store.remove(SecretKind::Password, "other").expect("remove"));
    }

    #[test]
    fn concurrent_writers_lose_no_update() {
        if !is_root() {
            return set_then_get_round_trips_atomically_as_root_0600();
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store_in(dir.path());
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for i in 0..25 {
                        let name = format!("w{w}-p{i}");
                        store
                            .set(SecretKind::Password, &name, &Secret::new(&name))
                            .expect("set");
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().expect("writer");
        }
        for w in 0..4 {
            for i in 0..25 {
                let name = format!("w{w}-p{i}");
                let got = store.get(SecretKind::Password, &name).expect("get");
                assert_eq!(
                    got.map(|s| s.expose().to_string()),
                    Some(name.clone()),
                    "{name} lost"
                );
            }
        }
    }

    #[test]
    fn a_group_or_world_readable_store_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("secrets.toml");
        std::fs::write(&path, "[passwords]\np = \"pw\"\n").expect("write");
        for mode in [0o640, 0o604, 0o660] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
            let err = ServiceStore::file(&path)
                .get(SecretKind::Password, "p")
                .unwrap_err();
            let text = err.to_string();
            assert!(
                text.contains("refusing") && text.contains(&path.display().to_string()),
                "{text}"
            );
            if is_root() {
                assert!(text.contains(&format!("{mode:04o}")), "{text}");
            }
            assert!(!text.contains("pw\""), "{text}");
        }
    }

    #[test]
    fn a_store_not_owned_by_root_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("secrets.toml");
        std::fs::write(&path, "[passwords]\np = \"pw\"\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        if is_root() {
            std::os::unix::fs::chown(&path, Some(65534), Some(65534)).expect("chown");
        }
        let err = ServiceStore::file(&path)
            .get(SecretKind::Password, "p")
            .unwrap_err();
        assert!(err.to_string().contains("not root"), "{err}");
    }

    #[test]
    fn a_broken_store_names_the_line_not_the_secret() {
        let path = Path::new("/etc/credstore/mailpull-secrets.toml");
        let err = parse(path, "[passwords]\np = \"hunter2\nq = 1\n").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("line 2") && text.contains("/etc/credstore"),
            "{text}"
        );
        assert!(!text.contains("hunter2"), "{text}");
        let err = parse(path, "[passwords]\np = \"a\"\n[other]\nq = \"hunter2\"\n").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let ok = parse(path, "[passwords]\np = \"a\"\n").expect("parse");
        assert_eq!(ok.passwords.get("p").map(String::as_str), Some("a"));
    }

    #[test]
    fn systemds_copy_is_read_without_the_owner_check_and_never_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(CREDENTIAL);
        std::fs::write(&path, "[passwords]\np = \"pw\"\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o440)).expect("chmod");
        let store = ServiceStore::credential(dir.path());
        let got = store.get(SecretKind::Password, "p").expect("get");
        assert_eq!(got.expect("stored").expose(), "pw");
        let err = store
            .set(SecretKind::Password, "p", &Secret::new("x"))
            .unwrap_err();
        assert!(matches!(err, StoreError::ReadOnly { .. }), "{err}");
    }
}
