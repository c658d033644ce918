//! The pipe between the Pull Manager (or the CLI) and the worker: the only place that knows
//! the wire format.
//!
//! - [`protocol`]: the versioned messages (requests, responses, log events).
//! - [`hello`]: the first two frames (versions, accepted or refused).
//! - [`held`]: held messages on the wire (the list and the actions on one of them).
//! - [`history`]: a profile's delivery history on the wire (totals, per day, last deliveries).
//! - [`route`]: the routing preview on the wire (a message in, its local mailboxes out).
//! - [`find_server`]: the first-run wizard's "find my server" (candidates and findings).
//! - [`import`]: File → Import on the wire (a fetchmailrc or getmailrc's text to profiles).
//! - [`push_state`]: a push profile's IMAP IDLE state in a status row.
//! - [`signin`]: OAuth sign-in on the wire (method, what to show, state).
//! - [`frame`]: length-delimited frames (u32 big-endian length + JSON), sans-IO decoder.
//! - [`stream`]: [`FramedStream`], frames over any async stream; both ends use it.
//! - [`endpoint`]: where the worker of a configuration listens, per OS.
//! - [`client`]: the async client used by the CLI and the manager.
//! - [`owner`]: who serves the endpoint: the client's check of the socket's directory (Unix)
//!   before it sends anything.

pub mod client;
pub mod endpoint;
pub mod find_server;
pub mod frame;
pub mod held;
pub mod hello;
pub mod history;
pub mod import;
pub mod owner;
pub mod protocol;
pub mod push_state;
pub mod route;
pub mod signin;
pub mod stream;

pub use client::{ClientError, IpcClient, LogStream};
pub use endpoint::Endpoint;
pub use find_server::{ServerCandidate, ServerFinding, standard_candidates};
pub use frame::{FrameDecoder, FrameError, MAX_FRAME};
pub use held::{HeldActionKind, HeldId, HeldMessage};
pub use history::History;
pub use import::ImportFormat;
pub use protocol::*;
pub use push_state::PushState;
pub use route::RoutePreview;
pub use stream::{FramedStream, StreamError};
