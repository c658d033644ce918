//! The data directory (%ProgramData%\Mailpull: config, state database, logs) is readable
//! only by the service's own virtual account `NT SERVICE\MailpullWorker` (the account the
//! service runs as), the local Administrators group and SYSTEM. Inherited entries (which let
//! every user read %ProgramData%) are removed; `icacls`, part of every Windows since Vista,
//! sets the list.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};
use mailpull_shared::ipc::owner::SERVICE_SID;

/// SIDs, not names, so that localised Windows versions ("Administratoren") work too, and so
/// that the service account is named before the service is registered.
fn grants() -> [String; 3] {
    [
        format!("*{SERVICE_SID}:(OI)(CI)F"), // NT SERVICE\MailpullWorker: the service
        "*S-1-5-18:(OI)(CI)F".to_string(),   // NT AUTHORITY\SYSTEM
        "*S-1-5-32-544:(OI)(CI)F".to_string(), // BUILTIN\Administrators
    ]
}

/// The arguments of `icacls` that give `dir` exactly [`grants`].
pub fn icacls_args(dir: &Path) -> Vec<String> {
    let mut args = vec![
        dir.display().to_string(),
        "/inheritance:r".to_string(),
        "/grant:r".to_string(),
    ];
    args.extend(grants());
    args
}

/// Creates `dir` if needed and restricts it to the service account, administrators and SYSTEM.
pub fn protect(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the data folder {}", dir.display()))?;
    let output = Command::new("icacls")
        .args(icacls_args(dir))
        .output()
        .context("cannot run icacls to protect the data folder")?;
    if !output.status.success() {
        bail!(
            "icacls could not restrict {} to the service account, administrators and SYSTEM: {}",
            dir.display(),
            String::from_utf8_lossy(&output.stdout).trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_only_the_service_system_and_administrators_and_drops_inheritance() {
        let args = icacls_args(Path::new(r"C:\ProgramData\Mailpull"));
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
    }
}
