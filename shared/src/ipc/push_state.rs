//! A push profile's IMAP IDLE state as `status` reports it: whether every folder holds an IDLE
//! connection, or some wait for a slot of the worker's `max_idle_connections` cap (and the
//! profile is polled at the short no-slot interval meanwhile).

use serde::{Deserialize, Serialize};

/// The IDLE side of one profile in a status row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PushState {
    /// Not a push profile (or disabled). Also what a worker before this field sends.
    #[default]
    Off,
    /// Every folder holds an IDLE connection.
    Idling,
    /// Every folder has a slot; at least one is (re)connecting.
    Connecting,
    /// At least one folder found the IDLE cap full and waits for a slot; the profile is polled
    /// at the short no-slot interval until it gets one.
    NoSlot,
    /// Several workers on a shared state: another worker holds the profile, and its IDLE
    /// connections (this worker opens none for it).
    Elsewhere,
}

impl PushState {
    /// The word the CLI's status table shows.
    pub fn as_str(self) -> &'static str {
        match self {
            PushState::Off => "-",
            PushState::Idling => "idle",
            PushState::Connecting => "connecting",
            PushState::NoSlot => "no slot",
            PushState::Elsewhere => "elsewhere",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::ProfileStatus;

    #[test]
    fn the_push_state_is_snake_case_and_absent_means_off() {
        assert_eq!(
            serde_json::to_string(&PushState::NoSlot).expect("json"),
            r#""no_slot""#
        );
        let old = r#"{"name":"a","state":"ok","last_poll":null,"next_poll":null,"messages":0,"bytes":0,"last_error":null,"consecutive_failures":0}"#;
        let status: ProfileStatus = serde_json::from_str(old).expect("old status");
        assert_eq!(status.push, PushState::Off);
    }
}
