//! File → Import on the wire: [`crate::ipc::Request::Import`] carries the text of a
//! fetchmailrc or getmailrc (`file` names it in the report) as a [`crate::ipc::WirePassword`],
//! since it may hold passwords (`Debug` never shows it). The worker maps it as
//! `mailpull-worker import` does, numbers names the configuration has already, stores the
//! passwords in its keyring and answers [`crate::ipc::Response::Imported`] with the profiles
//! and the command's report; it writes nothing (the window saves each profile with
//! `save_profile`). Added within protocol version 1: an older worker answers with a bad-request
//! error.

use serde::{Deserialize, Serialize};

/// Which tool's configuration is imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportFormat {
    Fetchmailrc,
    Getmailrc,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::{Request, WirePassword};

    #[test]
    fn the_import_request_round_trips_and_debug_hides_the_text() {
        let request = Request::Import {
            format: ImportFormat::Fetchmailrc,
            file: "/home/me/.fetchmailrc".into(),
            text: WirePassword::new("poll isp user u password hunter2"),
        };
        let json = serde_json::to_string(&request).expect("json");
        assert_eq!(
            json,
            r#"{"request":"import","format":"fetchmailrc","file":"/home/me/.fetchmailrc","text":"poll isp user u password hunter2"}"#
        );
        assert_eq!(
            serde_json::from_str::<Request>(&json).expect("parse"),
            request
        );
        assert!(!format!("{request:?}").contains("hunter2"));
        assert_eq!(request.kind(), "import");
    }
}
