//! The History page and the routing preview on the pipe thread: a profile's history
//! ([`History`]) and where a message would go ([`RoutePreview`]), each asked for by one
//! [`HistoryCommand`] and answered by one [`HistoryUpdate`]. A worker that refuses (e.g. one
//! older than these requests) is an error on the page, not a lost connection.

use mailpull_shared::ipc::{ClientError, History, IpcClient, RoutePreview};

use super::{Outbox, Update, fatal};

/// What the History page or the routing preview asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryCommand {
    /// The history of this profile, its days in this computer's time zone (offset from UTC
    /// in seconds).
    History { profile: String, utc_offset: i32 },
    /// Where this message (its header section, as text) would go under this profile.
    Route { profile: String, message: String },
}

impl HistoryCommand {
    pub(super) fn describe(&self) -> String {
        match self {
            HistoryCommand::History { profile, .. } => format!("read the history of \"{profile}\""),
            HistoryCommand::Route { profile, .. } => {
                format!("preview the routing of \"{profile}\"")
            }
        }
    }
}

/// The worker's answer, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryUpdate {
    History {
        profile: String,
        result: Result<History, String>,
    },
    Route(Result<RoutePreview, String>),
}

impl HistoryUpdate {
    /// The answer to `command` when there is no connection to ask on.
    pub(super) fn not_connected(command: HistoryCommand) -> HistoryUpdate {
        let why = "not connected to the worker".to_string();
        match command {
            HistoryCommand::History { profile, .. } => HistoryUpdate::History {
                profile,
                result: Err(why),
            },
            HistoryCommand::Route { .. } => HistoryUpdate::Route(Err(why)),
        }
    }
}

/// Asks the worker; `Err` only when the connection broke.
pub(super) async fn execute(
    client: &mut IpcClient,
    command: HistoryCommand,
    out: &Outbox,
) -> Result<(), ClientError> {
    let update = match command {
        HistoryCommand::History {
            profile,
            utc_offset,
        } => HistoryUpdate::History {
            result: answer(client.history(&profile, utc_offset).await)?,
            profile,
        },
        HistoryCommand::Route { profile, message } => {
            HistoryUpdate::Route(answer(client.route(&profile, message).await)?)
        }
    };
    out.send(Update::History(update));
    Ok(())
}

fn answer<T>(outcome: Result<T, ClientError>) -> Result<Result<T, String>, ClientError> {
    match outcome {
        Ok(value) => Ok(Ok(value)),
        Err(err) if !fatal(&err) => Ok(Err(err.to_string())),
        Err(err) => Err(err),
    }
}
