//! The service's token file: the OAuth refresh tokens of a worker that runs as a Linux
//! service, in its own state directory (`/var/lib/mailpull/oauth-tokens`). The kernel keyring
//! of the service account does not survive a reboot and the service secret store is root's
//! (read-only to the service), so the worker keeps the tokens it writes itself (at sign-in and
//! at every rotation) here: owned by the worker's account, mode 0600, written atomically
//! (temporary file, fsync, rename, folder fsync). A file that group or others can access, or
//! that another account owns, is refused. Values never appear in an error message.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Secret, private_file};

/// The file's name in the worker's state directory.
pub const FILE_NAME: &str = "oauth-tokens";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFile {
    path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenFileError {
    #[error("cannot read the service's token file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "refusing the service's token file {path}: {reason}; it must be a file of the worker's account with mode 0600 (remove it and sign in again, or chown it to the worker's account and chmod 0600 {path})"
    )]
    Unsafe { path: PathBuf, reason: String },
    #[error(
        "the service's token file {path} is not valid at line {line}: expected `name = \"token\"` under [refresh_tokens]"
    )]
    Invalid { path: PathBuf, line: usize },
    #[error("cannot write the service's token file {path}: {reason}")]
    Write { path: PathBuf, reason: String },
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Contents {
    #[serde(default)]
    refresh_tokens: BTreeMap<String, String>,
}

const HEADER: &str = "# Mailpull: OAuth refresh tokens of the service's profiles, written by the worker\n\
# (sign-in, rotation at refresh; removed at sign-out). Owned by the worker's account, mode 0600.\n\n";

impl TokenFile {
    /// The token file of a worker whose state directory is `state_dir`.
    pub fn in_state_dir(state_dir: &Path) -> Self {
        TokenFile {
            path: state_dir.join(FILE_NAME),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// "the service's token file PATH, kept across reboots".
    pub fn describe(&self) -> String {
        format!(
            "the service's token file {}, kept across reboots",
            self.path.display()
        )
    }

    /// The refresh token of `profile`, if the file holds one. A missing file is empty.
    pub fn get(&self, profile: &str) -> Result<Option<Secret>, TokenFileError> {
        Ok(self.load()?.refresh_tokens.remove(profile).map(Secret::new))
    }

    /// Checks that the file (if there is one) can be read and is safe.
    pub fn verify(&self) -> Result<(), TokenFileError> {
        self.load().map(|_| ())
    }

    /// Stores `token` as the refresh token of `profile` (the whole file written anew).
    pub fn set(&self, profile: &str, token: &Secret) -> Result<(), TokenFileError> {
        let _lock = self.lock()?;
        let mut contents = self.load()?;
        contents
            .refresh_tokens
            .insert(profile.to_string(), token.expose().to_string());
        self.write(&contents)
    }

    /// Removes the refresh token of `profile`; true when there was one.
    pub fn remove(&self, profile: &str) -> Result<bool, TokenFileError> {
        let _lock = self.lock()?;
        let mut contents = self.load()?;
        if contents.refresh_tokens.remove(profile).is_none() {
            return Ok(false);
        }
        self.write(&contents)?;
        Ok(true)
    }

    fn write_error(&self, reason: String) -> TokenFileError {
        TokenFileError::Write {
            path: self.path.clone(),
            reason,
        }
    }

    /// Holds `.oauth-tokens.lock` beside the file until dropped (a sign-in and a rotation of
    /// two profiles at once each rewrite the whole file).
    fn lock(&self) -> Result<std::fs::File, TokenFileError> {
        private_file::lock_beside(&self.path).map_err(|reason| self.write_error(reason))
    }

    fn load(&self) -> Result<Contents, TokenFileError> {
        let read_err = |source| TokenFileError::Read {
            path: self.path.clone(),
            source,
        };
        let mut file = match std::fs::File::open(&self.path) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Contents::default());
            }
            Err(source) => return Err(read_err(source)),
        };
        let meta = file.metadata().map_err(read_err)?;
        self.check_private(&meta)?;
        let mut text = String::new();
        std::io::Read::read_to_string(&mut file, &mut text).map_err(read_err)?;
        toml::from_str(&text).map_err(|err: toml::de::Error| TokenFileError::Invalid {
            path: self.path.clone(),
            line: private_file::error_line(&err, &text),
        })
    }

    /// A regular file of this process's account (or, for root, of the folder's owner) that
    /// neither group nor others may access.
    #[cfg(unix)]
    fn check_private(&self, meta: &std::fs::Metadata) -> Result<(), TokenFileError> {
        use std::os::unix::fs::MetadataExt;
        let unsafe_because = |reason: String| TokenFileError::Unsafe {
            path: self.path.clone(),
            reason,
        };
        let me = rustix::process::geteuid().as_raw();
        // Root (`sudo mailpull-worker check`) may read the file of the state directory's
        // owner, the service account.
        let folder_owner = || {
            self.path
                .parent()
                .and_then(|dir| std::fs::metadata(dir).ok())
                .map(|dir| dir.uid())
        };
        if meta.uid() != me && !(me == 0 && folder_owner() == Some(meta.uid())) {
            return Err(unsafe_because(format!(
                "it is owned by uid {}, not by the worker's account (uid {me})",
                meta.uid()
            )));
        }
        private_file::not_private(meta).map_or(Ok(()), |reason| Err(unsafe_because(reason)))
    }

    #[cfg(not(unix))]
    fn check_private(&self, _meta: &std::fs::Metadata) -> Result<(), TokenFileError> {
        Err(TokenFileError::Unsafe {
            path: self.path.clone(),
            reason: "the service's token file exists on Linux only".into(),
        })
    }

    fn write(&self, contents: &Contents) -> Result<(), TokenFileError> {
        let text = format!(
            "{HEADER}{}",
            toml::to_string(contents).map_err(|err| self.write_error(err.to_string()))?
        );
        private_file::replace(&self.path, text.as_bytes(), |_| Ok(()))
            .map_err(|reason| self.write_error(reason))
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::io::Write as _;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn a_missing_file_holds_no_token() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = TokenFile::in_state_dir(dir.path());
        assert!(file.get("p").expect("get").is_none());
        file.verify().expect("verify");
        assert!(!file.remove("p").expect("remove"));
    }

    #[test]
    fn set_get_remove_round_trip_0600_without_leftovers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = TokenFile::in_state_dir(dir.path());
        let tricky = "1//0g\"tok = \\ en#x";
        file.set("user 1", &Secret::new(tricky)).expect("set");
        file.set("other", &Secret::new("o")).expect("set");
        file.set("other", &Secret::new("rotated")).expect("rotate");
        assert_eq!(
            file.get("user 1").expect("get").expect("stored").expose(),
            tricky
        );
        assert_eq!(
            file.get("other").expect("get").expect("stored").expose(),
            "rotated"
        );
        let meta = std::fs::metadata(file.path()).expect("meta");
        assert_eq!(meta.mode() & 0o777, 0o600);
        assert_eq!(meta.uid(), rustix::process::geteuid().as_raw());
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names.len(), 2, "temporary files left: {names:?}");
        assert!(file.remove("other").expect("remove"));
        assert!(file.get("other").expect("get").is_none());
        assert!(file.get("user 1").expect("get").is_some());
    }

    #[test]
    fn a_file_others_can_read_is_refused_without_showing_a_token() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = TokenFile::in_state_dir(dir.path());
        file.set("p", &Secret::new("hunter2")).expect("set");
        for mode in [0o640, 0o604, 0o660] {
            std::fs::set_permissions(file.path(), std::fs::Permissions::from_mode(mode))
                .expect("chmod");
            let err = file.get("p").unwrap_err();
            let text = err.to_string();
            assert!(
                text.contains("refusing")
                    && text.contains(&file.path().display().to_string())
                    && text.contains(&format!("{mode:04o}")),
                "{text}"
            );
            assert!(!text.contains("hunter2"), "{text}");
            // A write refuses it too instead of replacing it silently.
            assert!(file.set("p", &Secret::new("x")).is_err());
        }
    }

    #[test]
    fn a_file_of_another_account_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = TokenFile::in_state_dir(dir.path());
        file.set("p", &Secret::new("t")).expect("set");
        if rustix::process::geteuid().is_root() {
            std::os::unix::fs::chown(file.path(), Some(65534), Some(65534)).expect("chown");
            let err = file.get("p").unwrap_err();
            assert!(err.to_string().contains("owned by uid 65534"), "{err}");
            // Root reads the file of the state directory's owner (`sudo ... check`).
            std::os::unix::fs::chown(dir.path(), Some(65534), Some(65534)).expect("chown");
            file.get("p")
                .expect("root reads the service account's file");
        } else {
            // Without root no file of another account can be made; the check is the same
            // comparison, shown here against a file of this account that passes.
            file.get("p").expect("own file");
        }
    }

    #[test]
    fn a_broken_file_names_the_line_not_the_token() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = TokenFile::in_state_dir(dir.path());
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options
            .open(file.path())
            .and_then(|mut f| f.write_all(b"[refresh_tokens]\np = \"hunter2\nq = 1\n"))
            .expect("write");
        let text = file.get("p").unwrap_err().to_string();
        assert!(text.contains("line 2"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}
