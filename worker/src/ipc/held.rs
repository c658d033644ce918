//! The held-message requests of the pipe: the list, and the three actions on one held message
//! (retry now, deliver to the fallback, delete on the server). An action is written to the
//! state database and carried out by a poll of the profile, started at once.

use mailpull_shared::ipc::{ErrorKind, HeldActionKind, HeldId, IpcError, Response};
use tracing::info;

use super::handler::WorkerState;
use crate::held::wire;
use crate::state::HeldAction;

fn internal(err: impl std::fmt::Display) -> IpcError {
    IpcError::new(ErrorKind::Internal, err.to_string())
}

impl WorkerState {
    /// [`mailpull_shared::ipc::Request::ListHeld`].
    pub(super) async fn list_held(&self, profile: Option<String>) -> Result<Response, IpcError> {
        if let Some(name) = &profile {
            self.profile(name)?;
        }
        let rows = self.ctx.store.held(profile).await.map_err(internal)?;
        Ok(Response::Held {
            messages: rows.into_iter().map(wire).collect(),
        })
    }

    /// [`mailpull_shared::ipc::Request::HeldAction`].
    pub(super) async fn held_action(
        &self,
        id: HeldId,
        action: HeldActionKind,
    ) -> Result<Response, IpcError> {
        let profile = self.profile(&id.profile)?;
        let stored = match action {
            HeldActionKind::Retry => None,
            HeldActionKind::DeliverToFallback => {
                if profile.distribute.is_none() {
                    return Err(IpcError::new(
                        ErrorKind::Invalid,
                        format!(
                            "profile \"{}\" has no fallback mailbox (only a multi-drop profile, with [profile.distribute] fallback, has one); retry the message or delete it instead",
                            id.profile
                        ),
                    ));
                }
                Some(HeldAction::Fallback)
            }
            HeldActionKind::Delete => Some(HeldAction::Delete),
        };
        let found = self
            .ctx
            .store
            .ask_held((&id.profile, &id.folder, id.uidvalidity, &id.uid), stored)
            .await
            .map_err(internal)?;
        if !found {
            return Err(IpcError::new(
                ErrorKind::Invalid,
                format!("no held message {id} (already done, or not held)"),
            ));
        }
        info!(profile = %id.profile, uid = %id.uid, folder = %id.folder, ?action, "held message action requested over IPC");
        // Shared state, another worker's profile: its holder is asked (NOTIFY) to poll it.
        let started = profile.enabled
            && if self.ctx.store.holds(&id.profile) {
                self.scheduler.poll_now(&id.profile)
            } else {
                self.ctx.store.ask_poll_now(&id.profile).await.is_ok()
            };
        let what = match action {
            HeldActionKind::Retry => "will be retried",
            HeldActionKind::DeliverToFallback => "will be delivered to the fallback",
            HeldActionKind::Delete => "will be deleted on the server",
        };
        let when = if started {
            "by the poll started now"
        } else {
            "by the next poll (the profile is not polling now)"
        };
        Ok(Response::Done {
            message: format!("held message {id} {what} {when}"),
        })
    }
}
