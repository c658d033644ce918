//! Which owners of the data folder (and of anything already in it) the service trusts.
//!
//! `%ProgramData%` lets every user create folders: a standard user who creates
//! `%ProgramData%\Mailpull` (and a `mailpull.toml` in it) before the first installation would
//! otherwise have the service run their configuration. Only folders and files owned by
//! Administrators, SYSTEM, TrustedInstaller, the service's own account or the administrator
//! who runs the installation are taken over; anything else is refused with what to do.

use std::path::Path;

use mailpull_shared::ipc::owner::SERVICE_SID;

/// BUILTIN\Administrators.
pub const ADMINISTRATORS: &str = "S-1-5-32-544";
/// NT AUTHORITY\SYSTEM.
pub const SYSTEM: &str = "S-1-5-18";
/// NT SERVICE\TrustedInstaller.
pub const TRUSTED_INSTALLER: &str =
    "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464";

/// Whether an owner SID is trusted, `installer` being the SID of the (elevated) account that
/// runs `service install`.
pub fn is_trusted(owner_sid: &str, installer: Option<&str>) -> bool {
    [ADMINISTRATORS, SYSTEM, TRUSTED_INSTALLER, SERVICE_SID].contains(&owner_sid)
        || installer == Some(owner_sid)
}

/// The refusal of `path`, owned by `owner` (a name and SID), inside the data folder `root`.
pub fn refusal(root: &Path, path: &Path, owner: &str) -> String {
    let what = if path == root {
        format!("the data folder {} belongs to {owner}", root.display())
    } else {
        format!(
            "{} in the data folder {} belongs to {owner}",
            path.display(),
            root.display()
        )
    };
    format!(
        "refusing to use {}: {what}, not to Administrators, SYSTEM or the service; another user \
         may have created it so that the service runs their configuration. Look at what it \
         holds, delete it (or take it over: takeown /F \"{}\" /R /A) and install again",
        root.display(),
        root.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn administrators_system_trustedinstaller_the_service_and_the_installer_are_trusted() {
        for sid in [ADMINISTRATORS, SYSTEM, TRUSTED_INSTALLER, SERVICE_SID] {
            assert!(is_trusted(sid, None), "{sid}");
        }
        let admin = "S-1-5-21-1-2-3-500";
        assert!(is_trusted(admin, Some(admin)));
        // A standard user (or Users, or Everyone) is not.
        for sid in ["S-1-5-21-1-2-3-1001", "S-1-5-32-545", "S-1-1-0", "S-1-5-11"] {
            assert!(!is_trusted(sid, Some(admin)), "{sid}");
        }
    }

    #[test]
    fn the_refusal_names_the_file_its_owner_and_what_to_do() {
        let root = Path::new(r"C:\ProgramData\Mailpull");
        let file = root.join("mailpull.toml");
        let text = refusal(root, &file, r"PC\eve (S-1-5-21-1-2-3-1001)");
        assert!(text.contains("mailpull.toml"), "{text}");
        assert!(text.contains(r"PC\eve (S-1-5-21-1-2-3-1001)"), "{text}");
        assert!(text.contains("takeown"), "{text}");
        let text = refusal(root, root, "eve");
        assert!(text.contains("the data folder"), "{text}");
    }
}
