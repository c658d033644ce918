//! The configuration file: raw TOML model, validation, and the checked result.

pub mod check;
pub mod duration;
pub mod model;
pub mod raw;
pub mod server;

pub use check::{
    ConfigError, FieldError, check_oauth_url, check_profile, check_table, load, parse,
};
pub use model::*;
