//! The service's entries in the Windows Event Log (Application log, source `MailpullWorker`):
//! every error and warning the worker logs (failing profiles, held messages, a sign-in that
//! is needed), and why the service stopped. The installer registers the source with
//! `%SystemRoot%\System32\EventCreate.exe` as its message file, whose messages 1–1000 are
//! just the text given, as `eventcreate` does for its own sources; the uninstaller removes it.
#![allow(unsafe_code)] // RegisterEventSourceW / ReportEventW.

use std::fmt::Write as _;
use std::os::windows::ffi::OsStrExt as _;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use windows_sys::Win32::System::EventLog::{
    DeregisterEventSource, EVENTLOG_ERROR_TYPE, EVENTLOG_WARNING_TYPE, REPORT_EVENT_TYPE,
    RegisterEventSourceW, ReportEventW,
};

/// The event source (a key under `HKLM\SYSTEM\CurrentControlSet\Services\EventLog\Application`).
pub const SOURCE: &str = "MailpullWorker";
/// Event id of an error the worker logged.
pub const ID_ERROR: u32 = 1;
/// Event id of a warning (held messages, sign-in needed, a failing profile).
pub const ID_WARNING: u32 = 2;
/// Event id of "the service stopped": a refused configuration or an error while running.
pub const ID_STOPPED: u32 = 3;

/// Writes one entry; failures are ignored (the log file has the same text).
pub fn report(error: bool, id: u32, text: &str) {
    let source: Vec<u16> = std::ffi::OsStr::new(SOURCE)
        .encode_wide()
        .chain(Some(0))
        .collect();
    // The Event Log caps one string at 31,839 characters.
    let text: String = text.chars().take(30_000).collect();
    let text: Vec<u16> = std::ffi::OsStr::new(&text)
        .encode_wide()
        .chain(Some(0))
        .collect();
    let kind: REPORT_EVENT_TYPE = if error {
        EVENTLOG_ERROR_TYPE
    } else {
        EVENTLOG_WARNING_TYPE
    };
    // SAFETY: NUL-terminated strings that outlive the calls; the handle is closed below.
    unsafe {
        let handle = RegisterEventSourceW(std::ptr::null(), source.as_ptr());
        if handle.is_null() {
            return;
        }
        let strings = [text.as_ptr()];
        ReportEventW(
            handle,
            kind,
            0,
            id,
            std::ptr::null_mut(),
            1,
            0,
            strings.as_ptr(),
            std::ptr::null(),
        );
        DeregisterEventSource(handle);
    }
}

/// The tracing layer: errors and warnings into the Event Log, with their fields.
pub struct EventLogLayer;

struct Text(String);

impl Visit for Text {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}

impl<S: Subscriber> tracing_subscriber::Layer<S> for EventLogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let level = *event.metadata().level();
        if level != Level::ERROR && level != Level::WARN {
            return;
        }
        let mut text = Text(String::new());
        event.record(&mut text);
        let error = level == Level::ERROR;
        report(error, if error { ID_ERROR } else { ID_WARNING }, &text.0);
    }
}
