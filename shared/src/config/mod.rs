//! The configuration file: raw TOML model, validation, and the checked result.

pub mod check;
pub mod duration;
pub mod model;
mod oauth2;
pub mod raw;
pub mod server;

pub use check::{ConfigError, FieldError, load, parse};
pub use model::*;
