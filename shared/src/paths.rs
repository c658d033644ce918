//! Default locations per OS: where the config file and the state directory live when the
//! user names none.

use std::path::PathBuf;

/// The system-wide data directory of an installed service: under systemd the unit's
/// `StateDirectory=` (systemd passes it as `$STATE_DIRECTORY`), else per OS.
pub fn default_state_dir() -> PathBuf {
    if let Some(dir) = systemd_state_directory() {
        dir
    } else if cfg!(windows) {
        program_data().join("Mailpull")
    } else if is_root() {
        PathBuf::from("/var/lib/mailpull")
    } else {
        dirs::data_local_dir()
            .unwrap_or_else(std::env::temp_dir)
            .join("mailpull")
    }
}

/// The first folder of systemd's `$STATE_DIRECTORY`, if set.
fn systemd_state_directory() -> Option<PathBuf> {
    if cfg!(windows) {
        return None;
    }
    first_state_directory(&std::env::var_os("STATE_DIRECTORY")?)
}

/// `$STATE_DIRECTORY` is a colon-separated list (one entry per `StateDirectory=` folder).
fn first_state_directory(value: &std::ffi::OsStr) -> Option<PathBuf> {
    let first = value.to_str()?.split(':').next()?;
    (!first.is_empty()).then(|| PathBuf::from(first))
}

/// The configuration of the Linux service (the Debian package's unit runs this one).
pub const SYSTEM_CONFIG_FILE: &str = "/etc/mailpull/mailpull.toml";

/// True when `path` is the Linux service's configuration ([`SYSTEM_CONFIG_FILE`]), also when
/// named through a symbolic link or a relative path.
pub fn is_system_config(path: &std::path::Path) -> bool {
    if cfg!(windows) {
        return false;
    }
    let system = std::path::Path::new(SYSTEM_CONFIG_FILE);
    path == system
        || std::fs::canonicalize(path)
            .ok()
            .is_some_and(|real| std::fs::canonicalize(system).ok() == Some(real))
}

/// The config file used when `--config` is not given.
pub fn default_config_file() -> PathBuf {
    if cfg!(windows) {
        program_data().join("Mailpull").join("mailpull.toml")
    } else if is_root() {
        PathBuf::from(SYSTEM_CONFIG_FILE)
    } else {
        dirs::config_dir()
            .unwrap_or_else(std::env::temp_dir)
            .join("mailpull")
            .join("mailpull.toml")
    }
}

/// %ProgramData%, asked of the Known Folders API on Windows: a service's environment need
/// not carry the variable (wine's does not), and the installer uses the same API.
#[cfg(windows)]
fn program_data() -> PathBuf {
    known_folders::get_known_folder_path(known_folders::KnownFolder::ProgramData)
        .or_else(|| std::env::var_os("ProgramData").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(r"C:\ProgramData"))
}

#[cfg(not(windows))]
fn program_data() -> PathBuf {
    std::env::var_os("ProgramData")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(r"C:\ProgramData"))
}

#[cfg(unix)]
fn is_root() -> bool {
    // Root's home is "/root" and `dirs` would point there; a service wants /var/lib instead.
    std::env::var_os("USER").is_some_and(|user| user == "root")
        || dirs::home_dir().is_some_and(|home| home == std::path::Path::new("/root"))
}

#[cfg(not(unix))]
fn is_root() -> bool {
    false
}

/// `path` as people write it: without the `\\?\` prefix that canonical Windows paths carry
/// (`\\?\C:\ProgramData\…` → `C:\ProgramData\…`, `\\?\UNC\server\share` →
/// `\\server\share`). It names the same file; other paths come back unchanged.
pub fn plain(path: &std::path::Path) -> PathBuf {
    let text = path.to_string_lossy();
    if let Some(rest) = text.strip_prefix(r"\\?\UNC\") {
        return PathBuf::from(format!(r"\\{rest}"));
    }
    match text.strip_prefix(r"\\?\") {
        Some(rest) if rest.as_bytes().get(1) == Some(&b':') => PathBuf::from(rest),
        _ => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn plain_paths_lose_the_verbatim_prefix_only() {
        let plain_of = |p: &str| {
            plain(std::path::Path::new(p))
                .to_string_lossy()
                .into_owned()
        };
        assert_eq!(
            plain_of(r"\\?\C:\ProgramData\Mailpull\mailpull.toml"),
            r"C:\ProgramData\Mailpull\mailpull.toml"
        );
        assert_eq!(plain_of(r"\\?\UNC\srv\share\m.toml"), r"\\srv\share\m.toml");
        assert_eq!(
            plain_of(r"\\?\Volume{1234}\m.toml"),
            r"\\?\Volume{1234}\m.toml"
        );
        assert_eq!(
            plain_of("/etc/mailpull/mailpull.toml"),
            "/etc/mailpull/mailpull.toml"
        );
    }

    #[test]
    #[cfg(unix)]
    fn only_the_services_configuration_is_the_system_config() {
        assert!(is_system_config(std::path::Path::new(SYSTEM_CONFIG_FILE)));
        assert!(!is_system_config(std::path::Path::new(
            "/tmp/elsewhere/mailpull.toml"
        )));
        assert!(!is_system_config(std::path::Path::new("mailpull.toml")));
    }

    #[test]
    fn state_directory_takes_the_first_of_systemds_list() {
        assert_eq!(
            first_state_directory(OsStr::new("/var/lib/mailpull")),
            Some(PathBuf::from("/var/lib/mailpull"))
        );
        assert_eq!(
            first_state_directory(OsStr::new("/var/lib/mailpull:/var/lib/other")),
            Some(PathBuf::from("/var/lib/mailpull"))
        );
        assert_eq!(first_state_directory(OsStr::new("")), None);
    }
}
