//! Stage two of the configuration: validates a [`RawProfile`] tree and builds the
//! [`Config`]. Every problem is collected (not only the first) and names the file, the profile
//! and the field, e.g. `mailpull.toml: profile "user1": remote.port: 70000 is not a port`.
//!
//! Layout: [`fields`] is the leaf (the [`FieldError`] accumulator and the small validators);
//! one module per section of the file checks it: `worker` (`[worker]`, and `metrics`: its
//! `metrics`/`metrics_public` pair, and `alerts`: its `alerts` table; `shared_state`: `state`,
//! `state_password` and `lease`), `profile` (one
//! `[[profile]]`: name, enabled, push and its sections), `schedule` (`interval`,
//! `after_delivery`), `remote` (`[profile.remote]`), `credentials` (`auth` and the password
//! source or the OAuth client), `oauth2` (`[profile.remote.oauth2]`), `local`
//! (`[profile.local]`), `distribute` (`[profile.distribute]`) and `filter` (a profile's
//! `filter`). Section modules use
//! `fields` and the sections nested in theirs, never this module. Checks across profiles are
//! file-level: unique names (here) and `mailboxes` (no two enabled profiles pull one remote
//! mailbox). `types` reads the raw tables and words their type errors (the dotted field,
//! what was expected and what was found).

mod alerts;
mod credentials;
mod distribute;
mod fields;
mod filter;
mod local;
mod mailboxes;
mod metrics;
mod oauth2;
mod profile;
mod remote;
mod schedule;
mod shared_state;
mod types;
mod worker;

use std::collections::HashSet;
use std::fmt;
use std::path::Path;

use super::model::{Config, Profile};
use super::raw::{RawProfile, RawWorker};
use fields::{Errors, one_line};

pub use fields::FieldError;
pub use oauth2::check_url as check_oauth_url;

/// Everything wrong with one configuration file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub file: String,
    pub errors: Vec<FieldError>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}: {error}", self.file)?;
        }
        Ok(())
    }
}

/// Reads and checks a configuration file.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|err| ConfigError {
        file: file.clone(),
        errors: vec![FieldError {
            profile: None,
            field: String::new(),
            message: format!("cannot read the file: {err}"),
        }],
    })?;
    let mut config = parse(&text, &file)?;
    config.source = Some(path.to_path_buf());
    Ok(config)
}

/// Checks configuration text; `file` names it in error messages.
pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
    let mut errors = Errors::default();
    let config = match text.parse::<toml::Table>() {
        Ok(table) => check_into(&table, &mut errors),
        Err(err) => {
            errors.push(
                None,
                "",
                format!("not valid TOML: {}", one_line(&err.to_string())),
            );
            None
        }
    };
    finish(config, errors, file)
}

/// Checks a configuration already read as a TOML tree (such as a file being edited before it
/// is written); `file` names it in error messages.
pub fn check_table(table: &toml::Table, file: &str) -> Result<Config, ConfigError> {
    let mut errors = Errors::default();
    let config = check_into(table, &mut errors);
    finish(config, errors, file)
}

/// Checks one profile as it would be saved into `config` (replacing the profile of the same
/// name, or added after the others): the same checks, in the same words, as a `[[profile]]`
/// table of the file. `config`'s other profiles are not checked again.
pub fn check_profile(raw: &RawProfile, config: &Config) -> Result<Profile, Vec<FieldError>> {
    let label = label(raw.name.as_deref(), config.profiles.len());
    let mut errors = Errors::default();
    match profile::check_profile_table(raw, &label, &mut errors) {
        Some(profile) if errors.is_empty() => Ok(profile),
        _ => Err(errors.into_vec()),
    }
}

fn finish(config: Option<Config>, errors: Errors, file: &str) -> Result<Config, ConfigError> {
    match config {
        Some(config) if errors.is_empty() => Ok(config),
        _ => Err(ConfigError {
            file: file.to_string(),
            errors: errors.into_vec(),
        }),
    }
}

/// How errors name profile number `index` (from 0): its name, or `#N` when it has none.
fn label(name: Option<&str>, index: usize) -> String {
    name.filter(|name| !name.trim().is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| format!("#{}", index + 1))
}

/// `field` inside the table `table` (the table itself when `field` is empty).
fn field_in(table: &str, field: &str) -> String {
    if field.is_empty() {
        table.to_string()
    } else {
        format!("{table}.{field}")
    }
}

fn check_into(table: &toml::Table, errors: &mut Errors) -> Option<Config> {
    for key in table.keys() {
        if key != "worker" && key != "profile" {
            errors.push(
                None,
                key,
                "unknown section; expected [worker] or [[profile]]",
            );
        }
    }
    let raw_worker: RawWorker = match table.get("worker") {
        None => RawWorker::default(),
        Some(value) => match types::deserialize(value) {
            Ok(worker) => worker,
            Err(err) => {
                errors.push(None, &field_in("worker", &err.field), err.message);
                RawWorker::default()
            }
        },
    };
    let worker = worker::check_worker(&raw_worker, errors);

    let mut profiles = Vec::new();
    let raw_profiles = match table.get("profile") {
        None => Vec::new(),
        Some(toml::Value::Array(items)) => items.clone(),
        Some(_) => {
            errors.push(None, "profile", "must be written as [[profile]] tables");
            Vec::new()
        }
    };
    let mut names = HashSet::new();
    for (index, value) in raw_profiles.into_iter().enumerate() {
        let label = label(value.get("name").and_then(toml::Value::as_str), index);
        let raw: RawProfile = match types::deserialize(&value) {
            Ok(raw) => raw,
            Err(err) => {
                errors.push(Some(&label), &err.field, err.message);
                continue;
            }
        };
        if let Some(profile) = profile::check_profile_table(&raw, &label, errors) {
            if !names.insert(profile.name.clone()) {
                errors.push(
                    Some(&label),
                    "name",
                    "another profile has the same name; names must be unique",
                );
            }
            profiles.push(profile);
        }
    }
    mailboxes::check_distinct_mailboxes(&profiles, errors);
    Some(Config {
        source: None,
        worker: worker?,
        profiles,
    })
}
