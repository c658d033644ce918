//! The one configuration check of the worker: [`mailpull_shared::config`]'s checks plus each
//! multi-drop profile's routing rules. `mailpull-worker check`, `run` and a profile saved over
//! IPC all go through here, so they accept and refuse exactly the same files.

use std::path::Path;

use mailpull_shared::config::raw::RawProfile;
use mailpull_shared::config::{self, Config, ConfigError, FieldError, Profile};

use crate::routing;

/// The routing-rule problems of `config`, one per multi-drop profile with invalid rules.
pub fn routing_problems(config: &Config) -> Vec<FieldError> {
    config.profiles.iter().filter_map(routing_problem).collect()
}

/// The routing-rule problem of one multi-drop profile, if its rules are invalid.
fn routing_problem(profile: &Profile) -> Option<FieldError> {
    let distribute = profile.distribute.as_ref()?;
    let err = routing::rules_for(profile, distribute, "check")
        .validate()
        .err()?;
    Some(FieldError {
        profile: Some(profile.name.clone()),
        field: "distribute".into(),
        message: err.to_string(),
    })
}

fn with_routing(config: Config, file: &str) -> Result<Config, ConfigError> {
    let errors = routing_problems(&config);
    if errors.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError {
            file: file.to_string(),
            errors,
        })
    }
}

/// Checks configuration text; `file` names it in errors.
pub fn check_text(text: &str, file: &str) -> Result<Config, ConfigError> {
    with_routing(config::parse(text, file)?, file)
}

/// Reads and checks a configuration file.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let config = config::load(path)?;
    with_routing(config, &path.display().to_string())
}

/// Checks a configuration read as a TOML tree (a file being edited, before it is written).
pub fn check_table(table: &toml::Table, file: &str) -> Result<Config, ConfigError> {
    with_routing(config::check_table(table, file)?, file)
}

/// Checks one profile as it would be saved into `config` (see
/// [`mailpull_shared::config::check_profile`]), its routing rules included.
pub fn check_profile(raw: &RawProfile, config: &Config) -> Result<Profile, Vec<FieldError>> {
    let profile = config::check_profile(raw, config)?;
    match routing_problem(&profile) {
        Some(problem) => Err(vec![problem]),
        None => Ok(profile),
    }
}
