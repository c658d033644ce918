//! A small tmpfs mounted over a directory, for state-directory faults: a full disk (fill it)
//! and a read-only file system (remount it `ro`). Needs root; unmounted on drop.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// A tmpfs of a fixed size mounted on `path` until dropped.
#[derive(Debug)]
pub struct Tmpfs {
    path: PathBuf,
}

fn mount(args: &[&str], path: &Path) -> anyhow::Result<()> {
    let out = Command::new("mount")
        .args(args)
        .arg(path)
        .output()
        .context("run mount")?;
    if !out.status.success() {
        bail!(
            "mount {} {}: {}",
            args.join(" "),
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

impl Tmpfs {
    /// Mounts a tmpfs of `size_kib` KiB on `path` (created if missing).
    pub fn mount(path: &Path, size_kib: u64) -> anyhow::Result<Self> {
        std::fs::create_dir_all(path).with_context(|| format!("create {}", path.display()))?;
        mount(
            &[
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size_kib}k,mode=0755"),
                "tmpfs",
            ],
            path,
        )?;
        Ok(Tmpfs {
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Remounts read-only (`true`) or read-write (`false`); the files stay.
    pub fn set_read_only(&self, read_only: bool) -> anyhow::Result<()> {
        let mode = if read_only {
            "remount,ro"
        } else {
            "remount,rw"
        };
        mount(&["-o", mode], &self.path)
    }

    /// Writes a file `name` until the file system is full; returns the bytes written.
    pub fn fill(&self, name: &str) -> anyhow::Result<u64> {
        use std::io::Write as _;
        let path = self.path.join(name);
        let mut file =
            std::fs::File::create(&path).with_context(|| format!("create {}", path.display()))?;
        let chunk = vec![0xA5u8; 4096];
        let mut written = 0u64;
        loop {
            match file.write(&chunk) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(err) if err.raw_os_error() == Some(28) => break, // ENOSPC
                Err(err) => return Err(err).context("fill tmpfs"),
            }
        }
        // Whatever is left below one block.
        loop {
            match file.write(&chunk[..1]) {
                Ok(0) | Err(_) => break,
                Ok(n) => written += n as u64,
            }
        }
        Ok(written)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}
