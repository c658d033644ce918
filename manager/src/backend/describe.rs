//! What a [`Command`] asked, in words, for the message when it fails ("Could not save
//! profile \"isp\": ...").

use mailpull_shared::ipc::TestTarget;

use super::Command;

/// A short description of a command for messages.
pub(super) fn describe(command: &Command) -> String {
    match command {
        Command::Refresh => "refresh".into(),
        Command::ReadProfile(name) => format!("read profile \"{name}\""),
        Command::Save { profile, .. } => format!(
            "save profile \"{}\"",
            profile.name.as_deref().unwrap_or_default()
        ),
        Command::Delete(name) => format!("delete profile \"{name}\""),
        Command::Test {
            target: TestTarget::Saved(name),
            ..
        } => format!("test profile \"{name}\""),
        Command::Test {
            target: TestTarget::Form(form),
            ..
        } => format!(
            "test profile \"{}\"",
            form.name.as_deref().unwrap_or_default()
        ),
        Command::PollNow(name) => format!("poll profile \"{name}\" now"),
        Command::PollAll(_) => "poll every enabled profile now".into(),
        Command::SetEnabled {
            name,
            enabled: true,
        } => format!("enable profile \"{name}\""),
        Command::SetEnabled { name, .. } => format!("disable profile \"{name}\""),
        Command::StartSignIn { name, .. } => format!("start the sign-in of \"{name}\""),
        Command::SignInResult(_) => "ask how the sign-in goes".into(),
        Command::HeldAction { id, .. } => format!("act on the held message {id}"),
        Command::Import { file, .. } => format!("import {file}"),
        Command::FindServer { host, .. } => format!("look for the mail server {host}"),
        Command::History(command) => command.describe(),
    }
}
