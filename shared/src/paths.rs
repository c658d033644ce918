//! Default locations per OS: where the config file and the state directory live when the
//! user names none.

use std::path::PathBuf;

/// The system-wide data directory of an installed service.
pub fn default_state_dir() -> PathBuf {
    if cfg!(windows) {
        program_data().join("Mailpull")
    } else if is_root() {
        PathBuf::from("/var/lib/mailpull")
    } else {
        dirs::data_local_dir()
            .unwrap_or_else(std::env::temp_dir)
            .join("mailpull")
    }
}

/// The config file used when `--config` is not given.
pub fn default_config_file() -> PathBuf {
    if cfg!(windows) {
        program_data().join("Mailpull").join("mailpull.toml")
    } else if is_root() {
        PathBuf::from("/etc/mailpull/mailpull.toml")
    } else {
        dirs::config_dir()
            .unwrap_or_else(std::env::temp_dir)
            .join("mailpull")
            .join("mailpull.toml")
    }
}

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
