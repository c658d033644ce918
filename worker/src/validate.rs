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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use mailpull_shared::config::raw::RawProfile;

    use super::*;

    const GOOD: &str = r#"
[worker]
state_dir = "/tmp/mailpull-validate-test"

[[profile]]
name = "catch-all"
[profile.remote]
host = "imap.example.com"
protocol = "imap"
username = "all"
password = { env = "MAILPULL_TEST_PASSWORD" }
[profile.local]
user = "postmaster"
domain = "example.com"
[profile.distribute]
local_domains = ["example.com"]
"#;

    fn profiles(text: &str) -> Vec<RawProfile> {
        let Ok(table) = text.parse::<toml::Table>() else {
            return Vec::new();
        };
        table
            .get("profile")
            .and_then(toml::Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| item.clone().try_into().ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn running() -> Config {
        check_text(GOOD, "good.toml").expect("the running config is valid")
    }

    /// A profile checked over the pipe (test or save of a form) is refused with exactly the
    /// problems `mailpull-worker check` names for it in a file.
    #[test]
    fn a_form_is_refused_exactly_as_the_file_check_refuses_it() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/tests/config/broken");
        let mut compared = 0;
        for entry in std::fs::read_dir(&dir).expect("broken configs") {
            let path = entry.expect("entry").path();
            let text = std::fs::read_to_string(&path).expect("read");
            let Err(file_errors) = check_text(&text, "f.toml") else {
                panic!("{} should be refused", path.display());
            };
            let raws = profiles(&text);
            // Only files whose every problem is inside their one profile.
            if raws.len() != 1 || file_errors.errors.iter().any(|e| e.profile.is_none()) {
                continue;
            }
            let form_errors = check_profile(
                &raws[0],
                &Config {
                    profiles: Vec::new(),
                    ..running()
                },
            )
            .expect_err("the form is refused too");
            assert_eq!(form_errors, file_errors.errors, "{}", path.display());
            compared += 1;
        }
        assert!(compared >= 10, "only {compared} broken files compared");
    }

    #[test]
    fn a_form_passes_the_routing_rules_check_like_the_file() {
        let config = running();
        let raw = profiles(GOOD).remove(0);
        assert_eq!(check_profile(&raw, &config), Ok(config.profiles[0].clone()));

        // A label longer than 63 characters: a domain to the config check, not to routing.
        let long_label = format!("local_domains = [\"{}.example.com\"]", "a".repeat(64));
        let bad = GOOD.replace("local_domains = [\"example.com\"]", &long_label);
        let file_errors = check_text(&bad, "f.toml").expect_err("routing refuses it");
        assert_eq!(file_errors.errors[0].field, "distribute");
        let form_errors =
            check_profile(&profiles(&bad).remove(0), &config).expect_err("refused over IPC");
        assert_eq!(form_errors, file_errors.errors);
    }
}
