//! A profile's delivery history on the wire: [`crate::ipc::Request::History`] asks for it and
//! [`crate::ipc::Response::History`] carries a [`History`], read from the worker's state
//! database: totals (today, the last 7 days, all), the failing messages, messages per day and
//! the last [`RECENT`] deliveries. Days are the client's: it sends its offset from UTC.
//! Added within protocol version 1: an older worker answers with a bad-request error.

use serde::{Deserialize, Serialize};

/// How many of the last deliveries a [`History`] lists.
pub const RECENT: usize = 100;

/// How many days [`History::per_day`] covers, today included.
pub const DAYS: i64 = 30;

/// Messages and bytes delivered in a period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub messages: u64,
    pub bytes: u64,
}

/// Messages delivered on one day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayCount {
    /// Days since 1970-01-01 in the client's time zone.
    pub day: i64,
    pub messages: u64,
}

/// One delivered message. Header values are as the worker recorded them: decoded, control
/// characters removed, cut to a bounded length; empty for deliveries recorded before it kept
/// them (state schema version 7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// Seconds since the Unix epoch (UTC).
    pub at: i64,
    pub from: String,
    pub subject: String,
    /// The local recipients (RCPT TO), comma-separated.
    pub recipients: String,
    /// The local server's reply to the message's data, e.g. `250 2.0.0 Ok: queued as 4Xk`.
    pub reply: String,
    pub bytes: u64,
}

/// A profile's history (see the module doc).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    pub profile: String,
    pub today: Tally,
    pub week: Tally,
    pub all: Tally,
    /// Messages on the server that failed and wait for another attempt or are held.
    pub failing: u64,
    /// Of those, the held ones (see `held`).
    pub held: u64,
    /// The last [`DAYS`] days, oldest first, each day present (0 when nothing came).
    pub per_day: Vec<DayCount>,
    /// The last [`RECENT`] deliveries, newest first.
    pub recent: Vec<Delivery>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::{Request, Response};

    #[test]
    fn history_requests_and_replies_round_trip() {
        let request = Request::History {
            profile: "isp".into(),
            utc_offset: 3600,
        };
        let json = serde_json::to_string(&request).expect("json");
        assert_eq!(
            json,
            r#"{"request":"history","profile":"isp","utc_offset":3600}"#
        );
        assert_eq!(
            serde_json::from_str::<Request>(&json).expect("parse"),
            request
        );
        assert_eq!(request.kind(), "history");
        let response = Response::History {
            history: Box::new(History {
                profile: "isp".into(),
                today: Tally {
                    messages: 2,
                    bytes: 300,
                },
                week: Tally {
                    messages: 3,
                    bytes: 400,
                },
                all: Tally {
                    messages: 9,
                    bytes: 900,
                },
                failing: 1,
                held: 0,
                per_day: vec![DayCount {
                    day: 20_426,
                    messages: 2,
                }],
                recent: vec![Delivery {
                    at: 1_764_840_000,
                    from: "Ann <ann@example.com>".into(),
                    subject: "Grüße".into(),
                    recipients: "bob@local.test".into(),
                    reply: "250 2.0.0 Ok: queued as 4Xk".into(),
                    bytes: 150,
                }],
            }),
        };
        let json = serde_json::to_string(&response).expect("json");
        assert_eq!(
            serde_json::from_str::<Response>(&json).expect("parse"),
            response
        );
    }
}
