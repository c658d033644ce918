//! Mailpull's Pull Manager: the desktop window for profiles, their status and the live log.
//! It talks only to the worker, over the local pipe ([`mailpull_shared::ipc`]); it opens no
//! network connection of its own and never reads a secret back (a typed password goes one way,
//! to the worker's keyring; so does the text of a file imported with File → Import, which may
//! hold passwords and is not kept).
//!
//! Layout:
//! - [`app`]: the window's state and logic, the [`app::Action`]s views return, the persisted
//!   [`app::Settings`].
//! - [`backend`]: the pipe on its own thread (tokio), reconnecting by itself.
//! - [`desktop`]: the window's options (size remembered by eframe) and the theme following
//!   the system's.
//! - [`form`]: the profile form's fields, to and from the configuration's profile table, and
//!   the local checks.
//! - [`held`]: held messages in plain words (which message, why, when, what an action did).
//! - [`history`]: the History page and routing preview in words (totals, dates, the header
//!   section of a message to preview).
//! - [`log`]: the live log buffer, its filter and pause.
//! - [`launch`]: starting the worker and opening the log file.
//! - [`service`]: who serves the configuration in words ("Served by the Mailpull service"),
//!   the installed service or systemd unit that replaces "Start worker", and the Windows
//!   service's Start / Stop / Restart (elevated).
//! - [`tray`]: the tray icon with the overall state, desktop notifications when a profile
//!   starts failing or needs a sign-in (pure rules, and the Linux and Windows glue).
//! - [`view`]: drawing, one module per part of the window.
//! - [`wizard`]: the first-run wizard's steps, presets and checks (drawn by `view::wizard`).

pub mod app;
pub mod backend;
pub mod desktop;
pub mod form;
pub mod held;
pub mod history;
pub mod launch;
pub mod log;
pub mod service;
pub mod tray;
pub mod view;
pub mod wizard;

pub use app::{ManagerApp, Settings};
pub use view::TITLE;
