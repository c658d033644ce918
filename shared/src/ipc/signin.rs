//! OAuth sign-in on the wire: how a person signs in, what the window shows for a started
//! sign-in, and its state ([`super::protocol::Request::StartSignIn`] and its answers).

use serde::{Deserialize, Serialize};

/// How a person signs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignInMethod {
    /// OAuth 2.0 device authorization grant (RFC 8628): a code entered on any device.
    Device,
    /// Authorization code with PKCE: the browser on this machine, redirected to the worker.
    Browser,
}

/// What the manager shows for a started sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum SignInPrompt {
    /// Open `verification_uri` anywhere and enter `user_code`.
    Device {
        verification_uri: String,
        /// The URI with the code already in it, when the provider gives one.
        verification_uri_complete: Option<String>,
        user_code: String,
        expires_in_secs: u64,
    },
    /// Open `authorization_url` in a browser on the worker's machine.
    Browser { authorization_url: String },
}

/// The state of a sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SignInState {
    /// Waiting for the person.
    Pending,
    /// Signed in; the refresh token is stored and the profile polls again.
    Done { message: String },
    /// Declined, expired, or the provider refused; `message` says which.
    Failed { message: String },
}
