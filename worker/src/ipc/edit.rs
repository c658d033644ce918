//! Changes to the configuration file asked for over IPC: pure edits of the `[[profile]]`
//! tables (text in, TOML tree or text out), and the atomic write (temp file in the same
//! directory, same permissions and owner, fsync, rename). Validation is the caller's: it
//! checks the edited tree with [`crate::validate::check_table`] before anything is written.
//!
//! The file is re-serialised from its TOML tree, so comments in it are not kept.

use std::io::Write;
use std::path::Path;

use mailpull_shared::config::raw::{RawPassword, RawProfile};
use mailpull_shared::ipc::{ErrorKind, FieldProblem, IpcError, ProfileForm};

/// One change to the profiles.
#[derive(Debug, Clone)]
pub enum Edit {
    /// Replace `original` (or the profile of the same name) or append a new profile.
    Save {
        original: Option<String>,
        profile: Box<ProfileForm>,
    },
    SetEnabled {
        name: String,
        enabled: bool,
    },
    Delete {
        name: String,
    },
}

fn invalid(message: impl Into<String>) -> IpcError {
    IpcError::new(ErrorKind::Invalid, message)
}

fn parse_table(text: &str) -> Result<toml::Table, IpcError> {
    text.parse::<toml::Table>().map_err(|err| {
        IpcError::new(
            ErrorKind::Io,
            format!(
                "the configuration file is not valid TOML: {}",
                err.to_string().lines().next().unwrap_or_default()
            ),
        )
    })
}

fn profile_name(value: &toml::Value) -> Option<&str> {
    value.get("name").and_then(toml::Value::as_str)
}

/// The profile `name` as written in the file, without any inline password.
pub fn read_profile(text: &str, name: &str) -> Result<ProfileForm, IpcError> {
    let table = parse_table(text)?;
    let value = table
        .get("profile")
        .and_then(toml::Value::as_array)
        .and_then(|profiles| profiles.iter().find(|p| profile_name(p) == Some(name)))
        .ok_or_else(|| IpcError::no_such_profile(name))?;
    let mut raw: RawProfile = value.clone().try_into().map_err(|err: toml::de::Error| {
        invalid(format!(
            "profile \"{name}\" cannot be read: {}",
            err.message()
        ))
    })?;
    strip_inline_password(&mut raw);
    Ok(raw)
}

/// Removes a password or OAuth client secret written inline (the checker refuses them; a
/// reply must never carry one).
pub fn strip_inline_password(raw: &mut RawProfile) {
    if let Some(remote) = raw.remote.as_mut() {
        if matches!(remote.password, Some(RawPassword::Inline(_))) {
            remote.password = None;
        }
        if let Some(oauth2) = remote.oauth2.as_mut()
            && matches!(oauth2.client_secret, Some(RawPassword::Inline(_)))
        {
            oauth2.client_secret = None;
        }
    }
}

/// Refuses a profile that carries a password or OAuth client secret itself (they go to the
/// keyring; the file names only their source).
pub fn refuse_inline_secrets(profile: &ProfileForm) -> Result<(), IpcError> {
    if matches!(
        profile.remote.as_ref().and_then(|r| r.password.as_ref()),
        Some(RawPassword::Inline(_))
    ) {
        return Err(IpcError {
            kind: ErrorKind::Invalid,
            message: "a password cannot be stored in the configuration file".into(),
            fields: vec![FieldProblem {
                profile: profile.name.clone(),
                field: "remote.password".into(),
                message: "use { keyring = true } and set the password separately, or { file = \"...\" } / { env = \"...\" }".into(),
            }],
        });
    }
    if matches!(
        profile
            .remote
            .as_ref()
            .and_then(|r| r.oauth2.as_ref())
            .and_then(|o| o.client_secret.as_ref()),
        Some(RawPassword::Inline(_))
    ) {
        return Err(IpcError {
            kind: ErrorKind::Invalid,
            message: "a client secret cannot be stored in the configuration file".into(),
            fields: vec![FieldProblem {
                profile: profile.name.clone(),
                field: "remote.oauth2.client_secret".into(),
                message: "use { keyring = true }, { file = \"...\" } or { env = \"...\" }".into(),
            }],
        });
    }
    Ok(())
}

/// Applies `edit` to the configuration text and returns the new text (not yet validated).
pub fn apply(text: &str, edit: &Edit) -> Result<String, IpcError> {
    to_text(&apply_to_table(text, edit)?)
}

/// The configuration file's text of `table`.
pub fn to_text(table: &toml::Table) -> Result<String, IpcError> {
    toml::to_string(table)
        .map_err(|err| IpcError::new(ErrorKind::Internal, format!("cannot write TOML: {err}")))
}

/// Applies `edit` to the configuration text and returns the new TOML tree (not yet
/// validated).
pub fn apply_to_table(text: &str, edit: &Edit) -> Result<toml::Table, IpcError> {
    let mut table = parse_table(text)?;
    let profiles = table
        .entry("profile")
        .or_insert_with(|| toml::Value::Array(Vec::new()));
    let toml::Value::Array(profiles) = profiles else {
        return Err(invalid("\"profile\" must be written as [[profile]] tables"));
    };
    let find = |profiles: &[toml::Value], name: &str| {
        profiles.iter().position(|p| profile_name(p) == Some(name))
    };
    match edit {
        Edit::Save { original, profile } => {
            refuse_inline_secrets(profile)?;
            let value = toml::Value::try_from(profile.as_ref())
                .map_err(|err| invalid(format!("the profile cannot be written: {err}")))?;
            let target = match original {
                Some(original) => Some(
                    find(profiles, original).ok_or_else(|| IpcError::no_such_profile(original))?,
                ),
                None => profile
                    .name
                    .as_deref()
                    .and_then(|name| find(profiles, name)),
            };
            match target {
                Some(index) => profiles[index] = value,
                None => profiles.push(value),
            }
        }
        Edit::SetEnabled { name, enabled } => {
            let index = find(profiles, name).ok_or_else(|| IpcError::no_such_profile(name))?;
            let Some(entry) = profiles[index].as_table_mut() else {
                return Err(invalid(format!("profile \"{name}\" is not a table")));
            };
            entry.insert("enabled".into(), toml::Value::Boolean(*enabled));
        }
        Edit::Delete { name } => {
            let index = find(profiles, name).ok_or_else(|| IpcError::no_such_profile(name))?;
            profiles.remove(index);
        }
    }
    Ok(table)
}

/// Replaces `path` with `text` atomically: a temp file in the same directory with the same
/// permissions (and, on Unix, owner), flushed to disk, then renamed over the original.
pub fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "mailpull.toml".into());
    let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    let original = std::fs::metadata(path).ok();
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        if let Some(meta) = &original {
            file.set_permissions(meta.permissions())?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::MetadataExt;
                // Keep the owner when the worker runs as root; not being allowed is fine.
                let _ = rustix::fs::fchown(
                    &file,
                    Some(rustix::fs::Uid::from_raw(meta.uid())),
                    Some(rustix::fs::Gid::from_raw(meta.gid())),
                );
            }
        }
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)?;
        // Make the rename itself durable (not possible on every platform).
        if let Ok(dir) = std::fs::File::open(dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailpull_shared::config::raw::RawRemote;

    const TEXT: &str = r#"
[worker]
state_dir = "/tmp/x"

[[profile]]
name = "a"
interval = "5m"

[profile.remote]
server = "pop3s://pop.example.com"
username = "u"
password = { keyring = true }

[profile.local]
user = "alice"
domain = "example.org"

[[profile]]
name = "b"
[profile.remote]
server = "imaps://imap.example.com"
username = "v"
password = "inline-should-never-be-returned"
[profile.local]
user = "bob"
domain = "example.org"
"#;

    #[test]
    fn read_returns_the_profile_and_never_an_inline_password() {
        let a = read_profile(TEXT, "a").expect("a");
        assert_eq!(a.interval.as_deref(), Some("5m"));
        let b = read_profile(TEXT, "b").expect("b");
        assert_eq!(b.remote.as_ref().and_then(|r| r.password.clone()), None);
        let err = read_profile(TEXT, "zz").unwrap_err();
        assert_eq!(err.kind, ErrorKind::NoSuchProfile);
        assert!(err.message.contains("zz"));
    }

    #[test]
    fn save_replaces_renames_or_appends() {
        let mut a = read_profile(TEXT, "a").expect("a");
        a.interval = Some("7m".into());
        let text = apply(
            TEXT,
            &Edit::Save {
                original: None,
                profile: Box::new(a.clone()),
            },
        )
        .expect("save");
        assert_eq!(
            read_profile(&text, "a").expect("a").interval.as_deref(),
            Some("7m")
        );
        assert!(read_profile(&text, "b").is_ok());

        a.name = Some("renamed".into());
        let text = apply(
            &text,
            &Edit::Save {
                original: Some("a".into()),
                profile: Box::new(a.clone()),
            },
        )
        .expect("rename");
        assert!(read_profile(&text, "a").is_err());
        assert!(read_profile(&text, "renamed").is_ok());

        a.name = Some("c".into());
        let text = apply(
            &text,
            &Edit::Save {
                original: None,
                profile: Box::new(a),
            },
        )
        .expect("append");
        let table: toml::Table = text.parse().expect("toml");
        assert_eq!(table["profile"].as_array().map(Vec::len), Some(3));
        assert!(table.contains_key("worker"));
    }

    #[test]
    fn an_inline_password_is_refused_naming_the_field() {
        let profile = RawProfile {
            name: Some("x".into()),
            remote: Some(RawRemote {
                password: Some(RawPassword::Inline("pw".into())),
                ..RawRemote::default()
            }),
            ..RawProfile::default()
        };
        let err = apply(
            TEXT,
            &Edit::Save {
                original: None,
                profile: Box::new(profile),
            },
        )
        .unwrap_err();
        assert_eq!(err.fields[0].field, "remote.password");
        assert!(!err.to_string().contains("\"pw\""));
    }

    #[test]
    fn an_inline_client_secret_is_refused_and_never_read_back() {
        let mut profile = RawProfile {
            name: Some("x".into()),
            remote: Some(RawRemote {
                auth: Some("xoauth2".into()),
                oauth2: Some(mailpull_shared::config::raw::RawOAuth2 {
                    provider: Some("google".into()),
                    client_id: Some("id".into()),
                    client_secret: Some(RawPassword::Inline("GOCSPX-s3cret".into())),
                    ..Default::default()
                }),
                ..RawRemote::default()
            }),
            ..RawProfile::default()
        };
        let err = apply(
            TEXT,
            &Edit::Save {
                original: None,
                profile: Box::new(profile.clone()),
            },
        )
        .unwrap_err();
        assert_eq!(err.fields[0].field, "remote.oauth2.client_secret");
        assert!(!err.to_string().contains("GOCSPX"));
        strip_inline_password(&mut profile);
        let oauth2 = profile.remote.and_then(|r| r.oauth2).expect("oauth2");
        assert_eq!(oauth2.client_secret, None);
        assert_eq!(oauth2.client_id.as_deref(), Some("id"));
    }

    #[test]
    fn enable_and_delete() {
        let text = apply(
            TEXT,
            &Edit::SetEnabled {
                name: "a".into(),
                enabled: false,
            },
        )
        .expect("disable");
        assert_eq!(read_profile(&text, "a").expect("a").enabled, Some(false));
        let text = apply(&text, &Edit::Delete { name: "a".into() }).expect("delete");
        assert!(read_profile(&text, "a").is_err());
        let err = apply(&text, &Edit::Delete { name: "a".into() }).unwrap_err();
        assert_eq!(err.kind, ErrorKind::NoSuchProfile);
    }

    #[cfg(unix)]
    #[test]
    fn atomic_write_keeps_the_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("mailpull.toml");
        std::fs::write(&path, "old").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        write_atomic(&path, "new").expect("atomic write");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "new");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .expect("dir")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty());
    }
}
