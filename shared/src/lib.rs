//! What the Mailpull worker and manager share.
//!
//! # Layout
//! - [`config`]: the TOML configuration in two stages: [`config::raw`] mirrors the file as
//!   written, [`config::check`] turns it into a validated [`config::Config`] whose types leave
//!   no invalid profile representable, naming file, profile and field of every error.
//! - [`secrets`]: where a profile's password comes from (OS keyring, a file, an environment
//!   variable); reading it is the only way a secret enters the process.
//! - [`ipc`]: the versioned protocol, endpoint and client of the manager ⇄ worker pipe.
//! - [`paths`]: default locations of the config file and the state directory per OS.
//! - `winsec` (Windows): owners of files, the account of a process, a folder created with
//!   its access list.

pub mod config;
pub mod ipc;
pub mod paths;
pub mod secrets;
#[cfg(windows)]
pub mod winsec;
