//! Linux: is the systemd unit `mailpull.service` installed for this configuration? It runs
//! the system configuration ([`paths::SYSTEM_CONFIG_FILE`]) only, so any other file has no
//! unit; the unit file is looked for where systemd reads system units.

use std::path::Path;

use mailpull_shared::ipc::hello::SYSTEMD_UNIT;
use mailpull_shared::paths;

use super::Host;

/// Where system unit files live (the administrator's, then the packages').
pub const UNIT_DIRS: &[&str] = &[
    "/etc/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];

/// [`Host::SystemdUnit`] when `config` is the system configuration and one of `dirs` holds
/// [`SYSTEMD_UNIT`], else [`Host::Nobody`].
pub fn probe(config: &Path, dirs: &[&str]) -> Host {
    if !paths::is_system_config(config) {
        return Host::Nobody;
    }
    if dirs
        .iter()
        .any(|dir| Path::new(dir).join(SYSTEMD_UNIT).exists())
    {
        Host::SystemdUnit {
            unit: SYSTEMD_UNIT.to_string(),
        }
    } else {
        Host::Nobody
    }
}
