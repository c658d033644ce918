//! The routing preview on the wire: [`crate::ipc::Request::Route`] carries a message (as
//! text; at most [`MAX_PREVIEW`] bytes, the header section is what routing reads) and a
//! profile, and [`crate::ipc::Response::Route`] says which local mailboxes the worker's
//! routing would deliver it to, from which header each came, and why. Nothing is delivered.
//! Added within protocol version 1: an older worker answers with a bad-request error.

use serde::{Deserialize, Serialize};

/// The largest message text a preview takes (the window sends the header section only).
pub const MAX_PREVIEW: usize = 256 * 1024;

/// One local mailbox the message would reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteTarget {
    /// The RCPT TO address.
    pub address: String,
    /// The header it came from (e.g. `Delivered-To`, `To`), `fallback`, or `profile` for a
    /// single-drop profile.
    pub source: String,
}

/// The routing decision for one message and profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutePreview {
    pub profile: String,
    /// Empty when nothing matched and there is no fallback: the message would stay on the
    /// server.
    pub targets: Vec<RouteTarget>,
    /// The fallback was used.
    pub fallback: bool,
    /// Why, in plain words.
    pub reason: String,
    /// The message's Subject and From, to confirm which message was read.
    pub subject: String,
    pub from: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::{Request, Response};

    #[test]
    fn route_requests_and_replies_round_trip() {
        let request = Request::Route {
            profile: "catch-all".into(),
            message: "To: a@b\r\n\r\nhi".into(),
        };
        let json = serde_json::to_string(&request).expect("json");
        assert_eq!(
            serde_json::from_str::<Request>(&json).expect("parse"),
            request
        );
        assert_eq!(request.kind(), "route");
        let response = Response::Route {
            preview: RoutePreview {
                profile: "catch-all".into(),
                targets: vec![RouteTarget {
                    address: "bob@local.test".into(),
                    source: "To".into(),
                }],
                fallback: false,
                reason: "To names bob@local.test".into(),
                subject: "hi".into(),
                from: "ann@example.com".into(),
            },
        };
        let json = serde_json::to_string(&response).expect("json");
        assert_eq!(
            serde_json::from_str::<Response>(&json).expect("parse"),
            response
        );
    }
}
