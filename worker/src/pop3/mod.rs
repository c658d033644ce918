//! POP3 client (RFC 1939, 2449, 2595, 5034).
//!
//! - [`reply`]: sans-IO parser for server replies (single-line and multi-line).
//! - [`command`]: command encoding with injection checks and redacted descriptions.
//! - [`client`]: the async client driving both over any tokio stream.

pub mod client;
pub mod command;
pub mod error;
pub mod reply;

pub use client::{AuthMethod, Capabilities, Greeting, Limits, OAuthMechanism, Pop3Client};
pub use error::{LimitKind, Pop3Error};
