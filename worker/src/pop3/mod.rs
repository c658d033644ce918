//! POP3 client (RFC 1939, 2449, 2595, 5034).
//!
//! Pure, sans-IO (bytes or text in, values out; no socket, never panics):
//! - [`reply`]: the reply parser (single-line and multi-line, fed in any chunks).
//! - [`command`]: command encoding with injection checks and redacted descriptions.
//! - [`greeting`]: the greeting text and its APOP timestamp.
//! - [`capa`]: the CAPA capabilities.
//! - [`listing`]: the STAT answer and the UIDL/LIST scan listings.
//! - [`auth`]: the choice of login mechanism and the reading of a refusal.
//! - [`error`]: the error type.
//!
//! Over a stream:
//! - [`client`]: the I/O engine ([`Pop3Client`]): socket, buffer, timeouts, commands.
//! - [`login`]: the login exchanges (USER/PASS, APOP, SASL, OAuth) as command sequences.

pub mod auth;
pub mod capa;
pub mod client;
pub mod command;
pub mod error;
pub mod greeting;
pub mod listing;
pub mod login;
pub mod reply;

pub use auth::{AuthMethod, OAuthMechanism};
pub use capa::Capabilities;
pub use client::{Limits, Pop3Client};
pub use error::{LimitKind, Pop3Error};
pub use greeting::Greeting;
