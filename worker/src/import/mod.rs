//! `mailpull-worker import fetchmailrc|getmailrc`: turns the configurations of the tools
//! Mailpull replaces into Mailpull profiles.
//!
//! Layout:
//! - `fetchmail`: a `.fetchmailrc` — `fetchmail::lex` (tokens), `fetchmail::syntax` (the
//!   keyword table), `fetchmail::parse` (entries and options), `fetchmail::map` and
//!   `fetchmail::settings` (what each option means for a profile). All pure.
//! - `getmail`: a getmailrc — `getmail::ini` (the INI dialect with Python tuples) and
//!   `getmail::map`. Pure.
//! - `emit`: the profiles as TOML in the project's configuration format, passwords never
//!   written (always `password = { keyring = true }`).
//! - `run`: the command: reads the files, stores the passwords in the OS keyring, checks
//!   the result with the worker's own check, writes it and prints the report.
//!
//! Invariants: a password read from a file goes to the keyring or is reported as to be set
//! with `set-password`, never into the TOML or the report; every option that has no
//! equivalent is reported with its file, line and reason; only a file that cannot be parsed
//! stops the import.

pub mod emit;
pub mod fetchmail;
pub mod getmail;
pub mod run;

use std::fmt;

use mailpull_shared::config::raw::RawProfile;
use mailpull_shared::secrets::Secret;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Mapped, but behaves differently in a way the administrator should know.
    Note,
    /// Has no equivalent: left out of the profile.
    NotImported,
}

/// Something the import could not carry over, or a difference worth knowing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub file: String,
    /// The line (from 1) in `file`; `None` for the file as a whole.
    pub line: Option<usize>,
    pub severity: Severity,
    /// The option as written (`mda "/usr/bin/procmail"`), never with a password in it.
    pub what: String,
    pub reason: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: ", self.file)?,
            None => write!(f, "{}: ", self.file)?,
        }
        let label = match self.severity {
            Severity::Note => "note",
            Severity::NotImported => "not imported",
        };
        if self.what.is_empty() {
            write!(f, "{label}: {}", self.reason)
        } else {
            write!(f, "{label}: {}: {}", self.what, self.reason)
        }
    }
}

/// One profile made from a file, with the password the file held for it.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedProfile {
    pub profile: RawProfile,
    pub password: Option<Secret>,
    /// Where it came from: file and line of its entry.
    pub file: String,
    pub line: usize,
}

impl ImportedProfile {
    /// The profile's name (every imported profile has one).
    pub fn name(&self) -> &str {
        self.profile.name.as_deref().unwrap_or_default()
    }
}

/// What one or more files became.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Import {
    pub profiles: Vec<ImportedProfile>,
    pub findings: Vec<Finding>,
}

impl Import {
    /// Appends `other`, renaming its profiles where a name is taken already.
    pub fn extend(&mut self, other: Import) {
        for mut imported in other.profiles {
            let base = imported.name().to_string();
            let mut name = base.clone();
            let mut n = 2;
            while self.profiles.iter().any(|p| p.name() == name) {
                name = numbered(&base, n);
                n += 1;
            }
            imported.profile.name = Some(name);
            self.profiles.push(imported);
        }
        self.findings.extend(other.findings);
    }

    /// Adds a finding.
    pub fn report(
        &mut self,
        file: &str,
        line: Option<usize>,
        severity: Severity,
        what: impl Into<String>,
        reason: impl Into<String>,
    ) {
        let finding = Finding {
            file: file.to_string(),
            line,
            severity,
            what: what.into(),
            reason: reason.into(),
        };
        if !self.findings.contains(&finding) {
            self.findings.push(finding);
        }
    }
}

/// `base-n`, kept within the 64 characters of a profile name.
fn numbered(base: &str, n: usize) -> String {
    let suffix = format!("-{n}");
    let keep: String = base.chars().take(MAX_NAME - suffix.len()).collect();
    format!("{keep}{suffix}")
}

/// The longest profile name.
pub const MAX_NAME: usize = 64;

/// A profile name from `parts` joined by `-`, at most [`MAX_NAME`] characters.
pub fn profile_name(parts: &[&str]) -> String {
    let joined = parts
        .iter()
        .filter(|part| !part.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("-");
    let clean: String = joined
        .chars()
        .map(|c| if c.is_control() { '_' } else { c })
        .take(MAX_NAME)
        .collect();
    if clean.trim().is_empty() {
        "imported".to_string()
    } else {
        clean
    }
}

/// What the import needs beyond the files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// The local domain where the file names none (`--domain`).
    pub domain: Option<String>,
    /// The local SMTP server (`HOST:PORT`) where the file names none (`--smtp`): fetchmail
    /// without `smtphost`, getmail's sendmail.
    pub smtp: Option<String>,
}

/// The local domain fetchmail and sendmail fall back on.
pub const DEFAULT_DOMAIN: &str = "localhost";

/// A file that cannot be read as its format: names the file, the line and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: expected {expected}")]
pub struct ImportError {
    pub file: String,
    pub line: usize,
    pub expected: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn imported(name: &str) -> ImportedProfile {
        ImportedProfile {
            profile: RawProfile {
                name: Some(name.into()),
                ..RawProfile::default()
            },
            password: None,
            file: "f".into(),
            line: 1,
        }
    }

    #[test]
    fn names_stay_unique_across_files() {
        let mut all = Import::default();
        for _ in 0..3 {
            all.extend(Import {
                profiles: vec![imported("pop.x.net")],
                findings: Vec::new(),
            });
        }
        let names: Vec<&str> = all.profiles.iter().map(ImportedProfile::name).collect();
        assert_eq!(names, vec!["pop.x.net", "pop.x.net-2", "pop.x.net-3"]);
        let long = "a".repeat(70);
        assert_eq!(numbered(&long, 12).len(), MAX_NAME);
    }

    #[test]
    fn findings_read_as_file_line_and_reason() {
        let mut import = Import::default();
        import.report(
            "rc",
            Some(3),
            Severity::NotImported,
            "mda \"procmail\"",
            "why",
        );
        import.report("rc", None, Severity::Note, "", "whole file");
        import.report("rc", None, Severity::Note, "", "whole file");
        let lines: Vec<String> = import.findings.iter().map(|f| f.to_string()).collect();
        assert_eq!(
            lines,
            vec![
                "rc:3: not imported: mda \"procmail\": why",
                "rc: note: whole file"
            ]
        );
        assert_eq!(profile_name(&["a", "", "b"]), "a-b");
        assert_eq!(profile_name(&[""]), "imported");
    }
}
