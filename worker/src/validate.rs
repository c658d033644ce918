//! The one configuration check of the worker: [`mailpull_shared::config`]'s checks plus each
//! multi-drop profile's routing rules. `mailpull-worker check`, `run` and a profile saved over
//! IPC all go through here, so they accept and refuse exactly the same files.

use std::path::Path;

use mailpull_shared::config::{self, Config, ConfigError, FieldError};

use crate::routing;

/// The routing-rule problems of `config`, one per multi-drop profile with invalid rules.
pub fn routing_problems(config: &Config) -> Vec<FieldError> {
    config
        .profiles
        .iter()
        .filter_map(|profile| {
            let distribute = profile.distribute.as_ref()?;
            let err = routing::rules_for(profile, distribute, "check")
                .validate()
                .err()?;
            Some(FieldError {
                profile: Some(profile.name.clone()),
                field: "distribute".into(),
                message: err.to_string(),
            })
        })
        .collect()
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
