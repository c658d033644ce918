//! The `import` command around the pure parts: read the files, map them, drop any profile
//! the worker's own check refuses (reported, never written broken), store the passwords in
//! the OS keyring (the entry `set-password` writes), write the TOML and print the report.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use mailpull_shared::secrets::{self, Secret, SecretError};

use super::{Import, ImportError, Options, Severity, emit, fetchmail, getmail};
use crate::validate;

/// Which tool's configuration is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Fetchmail,
    Getmail,
}

impl Format {
    /// The word after `import` on the command line.
    pub fn command(self) -> &'static str {
        match self {
            Format::Fetchmail => "fetchmailrc",
            Format::Getmail => "getmailrc",
        }
    }
}

/// Maps `files` (already read, with the names to show) into one [`Import`].
pub fn import_texts(
    format: Format,
    files: &[(String, String)],
    options: &Options,
) -> Result<Import, ImportError> {
    let mut all = Import::default();
    for (name, text) in files {
        let one = match format {
            Format::Fetchmail => fetchmail::import(text, name, options)?,
            Format::Getmail => getmail::import(text, name, options)?,
        };
        all.extend(one);
    }
    Ok(all)
}

/// The configuration text of `import`, after dropping (and reporting) every profile the
/// worker's check refuses; `target` names the file in check messages.
pub fn checked_text(
    format: Format,
    sources: &[String],
    import: &mut Import,
    target: &str,
) -> anyhow::Result<String> {
    loop {
        let text = emit::config_text(format.command(), sources, &import.profiles);
        let errors = match validate::check_text(&text, target) {
            Ok(_) => return Ok(text),
            Err(err) => err.errors,
        };
        let before = import.profiles.len();
        let mut refused: Vec<(String, Vec<String>)> = Vec::new();
        for error in errors {
            let Some(name) = error.profile.clone() else {
                anyhow::bail!("the imported configuration does not pass the check: {error}");
            };
            let problem = format!("{}: {}", error.field, error.message);
            match refused.iter_mut().find(|(n, _)| *n == name) {
                Some((_, problems)) => problems.push(problem),
                None => refused.push((name, vec![problem])),
            }
        }
        for (name, problems) in refused {
            let Some(index) = import.profiles.iter().position(|p| p.name() == name) else {
                anyhow::bail!(
                    "the imported configuration does not pass the check: profile \"{name}\": {}",
                    problems.join("; ")
                );
            };
            let dropped = import.profiles.remove(index);
            import.report(
                &dropped.file,
                Some(dropped.line),
                Severity::NotImported,
                format!("profile \"{name}\""),
                format!("not written: {}", problems.join("; ")),
            );
        }
        if import.profiles.len() == before {
            anyhow::bail!("the imported configuration does not pass the check");
        }
    }
}

/// `mailpull-worker import fetchmailrc|getmailrc FILE... [--out NEW.toml] [--domain D]`.
pub fn run(
    format: Format,
    files: &[PathBuf],
    out: Option<&Path>,
    options: &Options,
) -> anyhow::Result<ExitCode> {
    if let Some(out) = out
        && out.exists()
    {
        anyhow::bail!(
            "{} exists already; the import writes a new file (merge its profiles into your configuration by hand)",
            out.display()
        );
    }
    let mut texts = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        texts.push((file.display().to_string(), text));
    }
    let mut import = match import_texts(format, &texts, options) {
        Ok(import) => import,
        Err(err) => {
            eprintln!("mailpull-worker: {err}");
            eprintln!("mailpull-worker: nothing was imported");
            return Ok(ExitCode::FAILURE);
        }
    };
    let sources: Vec<String> = texts.iter().map(|(name, _)| name.clone()).collect();
    let target = out.map_or_else(
        || "(standard output)".to_string(),
        |p| p.display().to_string(),
    );
    let text = checked_text(format, &sources, &mut import, &target)?;
    // The file first: when it cannot be written, no password has been stored either.
    match out {
        Some(path) => {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            file.write_all(text.as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        None => print!("{text}"),
    }
    let config_hint = out.map_or_else(String::new, |p| format!(" --config {}", p.display()));
    let passwords = store_passwords(&import, &config_hint, &mut OsKeyring);
    eprint!("{}", report(&import, &target, &passwords));
    Ok(ExitCode::SUCCESS)
}

/// Where the passwords go: the OS keyring ([`OsKeyring`]), or a stand-in in tests.
pub trait PasswordStore {
    /// The password stored for profile `name`, if any.
    fn read(&mut self, name: &str) -> Result<Option<Secret>, SecretError>;
    /// Stores `secret` as the password of profile `name`.
    fn write(&mut self, name: &str, secret: &Secret) -> Result<(), SecretError>;
}

/// The OS keyring entry `set-password` writes (`mailpull` / `profile:NAME`).
pub struct OsKeyring;

impl PasswordStore for OsKeyring {
    fn read(&mut self, name: &str) -> Result<Option<Secret>, SecretError> {
        secrets::read_keyring(name, &secrets::password_account(name))
    }

    fn write(&mut self, name: &str, secret: &Secret) -> Result<(), SecretError> {
        secrets::store_in_keyring(name, secret)
    }
}

/// Stores each profile's password in `store`; one report line per profile, naming the
/// `set-password` command (with `config_hint`, e.g. ` --config new.toml`) for a password that
/// could not be stored or was not in the file. A different password already stored under the
/// same profile name (a profile of another configuration) is never replaced.
pub fn store_passwords(
    import: &Import,
    config_hint: &str,
    store: &mut impl PasswordStore,
) -> Vec<String> {
    import
        .profiles
        .iter()
        .map(|profile| {
            let name = profile.name();
            let set = format!("`mailpull-worker set-password {name}{config_hint}`");
            let Some(secret) = &profile.password else {
                return format!("  {name}: no password in the file; set it with {set}");
            };
            match store.read(name) {
                Ok(Some(existing)) if existing == *secret => {
                    return format!("  {name}: password already in the OS keyring");
                }
                Ok(Some(_)) => {
                    return format!(
                        "  {name}: NOT stored: the OS keyring holds another password for a \
                         profile of this name (another configuration?); rename the profile, \
                         then set it with {set}"
                    );
                }
                Ok(None) | Err(_) => {}
            }
            match store.write(name, secret) {
                Ok(()) => format!("  {name}: password stored in the OS keyring"),
                Err(err) => format!("  {name}: password NOT stored ({err}); set it with {set}"),
            }
        })
        .collect()
}

/// The report printed after an import.
pub fn report(import: &Import, target: &str, passwords: &[String]) -> String {
    let mut out = format!(
        "imported {} profile{} into {target}\n",
        import.profiles.len(),
        if import.profiles.len() == 1 { "" } else { "s" }
    );
    for line in passwords {
        out.push_str(line);
        out.push('\n');
    }
    let mut findings = import.findings.clone();
    findings.sort_by(|a, b| (&a.file, a.line, b.severity).cmp(&(&b.file, b.line, a.severity)));
    for severity in [Severity::NotImported, Severity::Note] {
        let listed: Vec<_> = findings.iter().filter(|f| f.severity == severity).collect();
        if listed.is_empty() {
            continue;
        }
        out.push_str(match severity {
            Severity::NotImported => "not imported (no equivalent in Mailpull):\n",
            Severity::Note => "notes:\n",
        });
        for finding in listed {
            out.push_str(&format!("  {finding}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::ImportedProfile;
    use mailpull_shared::config::raw::RawProfile;

    fn profile(name: &str, password: Option<&str>) -> ImportedProfile {
        ImportedProfile {
            profile: RawProfile {
                name: Some(name.into()),
                ..RawProfile::default()
            },
            password: password.map(Secret::new),
            file: "rc".into(),
            line: 1,
        }
    }

    /// A keyring in memory; `broken` makes every call fail.
    #[derive(Default)]
    struct Memory {
        entries: Vec<(String, String)>,
        broken: bool,
    }

    impl PasswordStore for Memory {
        fn read(&mut self, name: &str) -> Result<Option<Secret>, SecretError> {
            if self.broken {
                return Err(SecretError::Keyring {
                    profile: name.to_string(),
                    reason: "no session keyring".into(),
                });
            }
            Ok(self
                .entries
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| Secret::new(v.clone())))
        }

        fn write(&mut self, name: &str, secret: &Secret) -> Result<(), SecretError> {
            self.read(name)?;
            self.entries.retain(|(n, _)| n != name);
            self.entries
                .push((name.to_string(), secret.expose().to_string()));
            Ok(())
        }
    }

    #[test]
    fn passwords_go_to_the_keyring_or_are_reported_with_the_set_password_command() {
        let import = Import {
            profiles: vec![profile("a", Some("pw-a")), profile("b", None)],
            findings: Vec::new(),
        };
        let mut keyring = Memory::default();
        let lines = store_passwords(&import, " --config new.toml", &mut keyring);
        assert_eq!(keyring.entries, vec![("a".to_string(), "pw-a".to_string())]);
        assert_eq!(lines[0], "  a: password stored in the OS keyring");
        assert_eq!(
            lines[1],
            "  b: no password in the file; set it with `mailpull-worker set-password b --config new.toml`"
        );
        let again = store_passwords(&import, "", &mut keyring);
        assert_eq!(again[0], "  a: password already in the OS keyring");

        let mut broken = Memory {
            broken: true,
            ..Memory::default()
        };
        let lines = store_passwords(&import, "", &mut broken);
        assert!(
            lines[0].starts_with("  a: password NOT stored (OS keyring unavailable")
                && lines[0].ends_with("set it with `mailpull-worker set-password a`"),
            "{}",
            lines[0]
        );
        assert!(!lines.concat().contains("pw-a"));
    }

    #[test]
    fn another_profiles_password_under_the_same_name_is_not_replaced() {
        let import = Import {
            profiles: vec![profile("a", Some("new"))],
            findings: Vec::new(),
        };
        let mut keyring = Memory {
            entries: vec![("a".into(), "old".into())],
            broken: false,
        };
        let lines = store_passwords(&import, "", &mut keyring);
        assert_eq!(keyring.entries, vec![("a".to_string(), "old".to_string())]);
        assert!(lines[0].contains("NOT stored") && lines[0].contains("another password"));
    }

    #[test]
    fn the_report_lists_what_was_not_imported_before_the_notes() {
        let mut import = Import {
            profiles: vec![profile("a", None)],
            findings: Vec::new(),
        };
        import.report("rc", Some(9), Severity::Note, "", "later note");
        import.report("rc", Some(2), Severity::NotImported, "mda x", "why");
        let text = report(&import, "new.toml", &[]);
        assert_eq!(
            text,
            "imported 1 profile into new.toml\nnot imported (no equivalent in Mailpull):\n  rc:2: not imported: mda x: why\nnotes:\n  rc:9: note: later note\n"
        );
    }
}
