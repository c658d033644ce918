//! The configuration file: raw TOML model, validation, and the checked result.

pub mod duration;
pub mod server;
