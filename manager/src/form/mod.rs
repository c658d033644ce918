//! The profile form as the window edits it: plain strings and choices, read from and written
//! to the configuration's [`ProfileForm`](mailpull_shared::ipc::ProfileForm) (the
//! `[[profile]]` table as written). Every field of a profile is in the form; writing back
//! starts from the profile as it was read, so a saved profile that was not changed is
//! written exactly as it was read (a `ssl` stays `ssl`, the `host 995s` notation stays while
//! it means the same). The
//! authentication choice and, for OAuth 2.0 (`xoauth2`/`oauthbearer`), the
//! `[profile.remote.oauth2]` client are part of the form; an OAuth profile has no password
//! (its refresh token comes from the sign-in). [`FormFields::to_profile`] also runs the cheap
//! local checks (a port is 1–65535, an interval reads as a duration, ...); everything else is
//! checked by the worker, which names the field of each problem.
//!
//! The form speaks the configuration model's vocabulary (its enums, their names and its
//! defaults); it has no list of config values of its own.
//!
//! Layout: `fields` (the fields and choices, the leaf), `read` (a profile into the form),
//! `write` (the form into the profile to save, the secrets to send), `problems` (the local
//! checks and the labels of the worker's field names), `section` (the form's sections and
//! which one shows a field).

mod fields;
mod problems;
mod read;
mod section;
mod write;

pub use fields::{
    AUTH_CHOICES, AfterDelivery, FormFields, PasswordFrom, SecretFrom, SecretText, auth_label,
};
pub use mailpull_shared::config::{AuthMethod, OAuthProvider, Protocol, Security};
pub use problems::{describe_problem, field_label};
pub use section::Section;

#[cfg(test)]
mod tests;
