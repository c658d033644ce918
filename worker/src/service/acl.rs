//! The data directory (%ProgramData%\Mailpull: config, state database, logs) belongs to the
//! Administrators group and is readable only by the service's own virtual account
//! `NT SERVICE\MailpullWorker` (the account the service runs as), Administrators and SYSTEM.
//!
//! Nobody else can seed it: a missing folder is created with its owner and access list in
//! place (no moment in which another user could write into it); an existing one is taken
//! over only when it and everything in it belong to a trusted account ([`super::trust`]),
//! then its owner is set to Administrators and its list replaced with `icacls` (part of every
//! Windows since Vista), inherited entries (which let every user read %ProgramData%) removed.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};
use mailpull_shared::ipc::owner::SERVICE_SID;
use mailpull_shared::winsec;

use super::trust;

/// SIDs, not names, so that localised Windows versions ("Administratoren") work too, and so
/// that the service account is named before the service is registered. The group "Mailpull
/// Administrators" (`group`, its SID, when the installer made it) may read: the Pull Manager's
/// "Open log file" opens the logs unelevated; every change goes through the worker.
fn grants(group: Option<&str>) -> Vec<String> {
    let mut grants = vec![
        format!("*{SERVICE_SID}:(OI)(CI)F"), // NT SERVICE\MailpullWorker: the service
        "*S-1-5-18:(OI)(CI)F".to_string(),   // NT AUTHORITY\SYSTEM
        "*S-1-5-32-544:(OI)(CI)F".to_string(), // BUILTIN\Administrators
    ];
    if let Some(group) = group {
        grants.push(format!("*{group}:(OI)(CI)RX")); // Mailpull Administrators: read
    }
    grants
}

/// The security descriptor a new data folder is created with: owner Administrators, the
/// same entries as [`grants`], protected from inheritance.
pub fn new_dir_sddl(group: Option<&str>) -> String {
    let mut sddl =
        format!("O:BAG:SYD:PAI(A;OICI;FA;;;{SERVICE_SID})(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)");
    if let Some(group) = group {
        sddl.push_str(&format!("(A;OICI;FRFX;;;{group})"));
    }
    sddl
}

/// The arguments of `icacls` that give `dir` exactly [`grants`].
pub fn icacls_args(dir: &Path, group: Option<&str>) -> Vec<String> {
    let mut args = vec![
        dir.display().to_string(),
        "/inheritance:r".to_string(),
        "/grant:r".to_string(),
    ];
    args.extend(grants(group));
    args
}

/// The SID of the group "Mailpull Administrators", `None` when it does not exist (or cannot
/// be looked up, which is said).
fn admin_group() -> Option<String> {
    use mailpull_shared::ipc::owner::ADMIN_GROUP;
    winsec::account_sid(ADMIN_GROUP).unwrap_or_else(|err| {
        eprintln!("mailpull-worker: warning: cannot look up the group {ADMIN_GROUP}: {err}");
        None
    })
}

/// The arguments of `icacls` that make Administrators the owner of `dir`.
pub fn setowner_args(dir: &Path) -> Vec<String> {
    vec![
        dir.display().to_string(),
        "/setowner".to_string(),
        "*S-1-5-32-544".to_string(),
    ]
}

fn icacls(args: Vec<String>, what: &str) -> anyhow::Result<()> {
    let output = Command::new("icacls")
        .args(&args)
        .output()
        .context("cannot run icacls to protect the data folder")?;
    if !output.status.success() {
        bail!(
            "icacls could not {what} {}: {}",
            args[0],
            String::from_utf8_lossy(&output.stdout).trim()
        );
    }
    Ok(())
}

/// Refuses `dir` when it or anything in it belongs to an account that is not trusted.
fn check_owners(root: &Path, installer: Option<&str>) -> anyhow::Result<()> {
    let mut pending = vec![root.to_path_buf()];
    while let Some(path) = pending.pop() {
        let owner = winsec::owner_of(&path)
            .with_context(|| format!("cannot read the owner of {}", path.display()))?;
        if !trust::is_trusted(&owner.sid, installer) {
            bail!(trust::refusal(root, &path, &owner.to_string()));
        }
        let meta = std::fs::symlink_metadata(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if meta.is_dir() && !meta.file_type().is_symlink() {
            for entry in std::fs::read_dir(&path)
                .with_context(|| format!("cannot list {}", path.display()))?
            {
                pending.push(entry.context("cannot list the data folder")?.path());
            }
        }
    }
    Ok(())
}

/// Creates `dir` (owner and access list set from the start) or takes over an existing one
/// that only trusted accounts own, and restricts it to the service account, administrators
/// and SYSTEM.
pub fn protect(dir: &Path) -> anyhow::Result<()> {
    let group = admin_group();
    if !dir.exists() {
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        match winsec::create_dir_with_sddl(dir, &new_dir_sddl(group.as_deref())) {
            Ok(()) => {}
            // Someone made it in between: the owner check below decides.
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(err) => {
                return Err(err)
                    .with_context(|| format!("cannot create the data folder {}", dir.display()));
            }
        }
    }
    if !dir.is_dir() {
        bail!("the data folder {} is not a folder", dir.display());
    }
    let installer = winsec::current_user().ok().map(|account| account.sid);
    check_owners(dir, installer.as_deref())?;
    icacls(setowner_args(dir), "make Administrators the owner of")?;
    icacls(
        icacls_args(dir, group.as_deref()),
        "restrict to the service account, administrators, Mailpull Administrators and SYSTEM",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_only_the_service_system_and_administrators_and_drops_inheritance() {
        let args = icacls_args(Path::new(r"C:\ProgramData\Mailpull"), None);
        assert_eq!(
            args,
            [
                r"C:\ProgramData\Mailpull",
                "/inheritance:r",
                "/grant:r",
                "*S-1-5-80-1205134927-3800904582-4225447824-998588982-1088651656:(OI)(CI)F",
                "*S-1-5-18:(OI)(CI)F",
                "*S-1-5-32-544:(OI)(CI)F"
            ]
        );
        assert_eq!(
            new_dir_sddl(None),
            "O:BAG:SYD:PAI(A;OICI;FA;;;S-1-5-80-1205134927-3800904582-4225447824-998588982-\
             1088651656)(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"
        );
    }

    #[test]
    fn the_group_mailpull_administrators_may_read_when_it_exists() {
        let group = "S-1-5-21-1-2-3-1005";
        let args = icacls_args(Path::new(r"C:\ProgramData\Mailpull"), Some(group));
        assert_eq!(
            args.last().map(String::as_str),
            Some("*S-1-5-21-1-2-3-1005:(OI)(CI)RX")
        );
        assert!(new_dir_sddl(Some(group)).ends_with("(A;OICI;FRFX;;;S-1-5-21-1-2-3-1005)"));
    }
}
