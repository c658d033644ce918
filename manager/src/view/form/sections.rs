//! The Delivery, Schedule, Distribution and Advanced sections of the form.

use mailpull_shared::config::{
    DEFAULT_ENVELOPE_HEADERS, DEFAULT_INTERVAL_TEXT, DEFAULT_KEEP_DAYS, DEFAULT_MAX_MESSAGE_MB,
    DEFAULT_MAX_RECEIVED, DEFAULT_RECEIVED_TRUSTED, DEFAULT_RECIPIENT_DELIMITER, DEFAULT_SMTP,
    DEFAULT_TIMEOUT, DEFAULT_VISIBLE_HEADERS,
};

use super::remote::SECURITY_CHOICES;
use super::rows::Rows;
use crate::form::{AfterDelivery, FormFields, Protocol};

/// Where the mail goes: the local SMTP server, its security and CA, and the recipient.
pub fn delivery(rows: &Rows, ui: &mut egui::Ui, f: &mut FormFields) {
    rows.text(
        ui,
        "SMTP server",
        &["local.smtp", "local"],
        &mut f.smtp,
        DEFAULT_SMTP,
        DEFAULT_SMTP,
    );
    let keys = ["local.smtp_security"];
    if let Some(security) = rows.choice(
        ui,
        "SMTP security",
        &keys,
        f.local_security(),
        &SECURITY_CHOICES,
    ) {
        f.smtp_security = Some(security);
    }
    if rows.editing && f.smtp_security.is_none() {
        rows.note(
            ui,
            "Not chosen: plain to a server on this computer, STARTTLS to any other.",
        );
    }
    rows.text(
        ui,
        "SMTP CA file",
        &["local.ca_file"],
        &mut f.local_ca_file,
        "e.g. the CA of a self-signed Exchange certificate",
        "the system's trusted certificates",
    );
    rows.text(
        ui,
        "Local user",
        &["local.user"],
        &mut f.local_user,
        "e.g. alice",
        "not set",
    );
    rows.text(
        ui,
        "Local domain",
        &["local.domain"],
        &mut f.local_domain,
        "e.g. example.org",
        "not set",
    );
}

/// When it polls, push, and what happens on the server after delivery.
pub fn schedule(rows: &Rows, ui: &mut egui::Ui, f: &mut FormFields) {
    rows.text(
        ui,
        "Interval",
        &["interval"],
        &mut f.interval,
        DEFAULT_INTERVAL_TEXT,
        DEFAULT_INTERVAL_TEXT,
    );
    if f.protocol == Protocol::Imap {
        rows.check(
            ui,
            "Push",
            "Push (IMAP IDLE): new mail at once",
            &mut f.push,
            "off, polls on the interval",
        );
    }
    let choices = [
        (AfterDelivery::Delete, "No, delete after delivery"),
        (AfterDelivery::Keep, "Yes, keep"),
        (AfterDelivery::KeepDays, "Keep for days"),
    ];
    let keys = ["after_delivery"];
    if let Some(after) = rows.choice(ui, "Leave on server", &keys, f.after_delivery, &choices) {
        f.after_delivery = after;
    }
    if f.after_delivery == AfterDelivery::KeepDays {
        let hint = DEFAULT_KEEP_DAYS.to_string();
        rows.text(ui, "Days to keep", &[], &mut f.keep_days, &hint, &hint);
    }
}

/// Multi-drop: one catch-all mailbox split over local users by its headers.
pub fn distribution(rows: &Rows, ui: &mut egui::Ui, f: &mut FormFields) {
    rows.check(
        ui,
        "Distribute",
        "Distribute to local users by the headers",
        &mut f.distribute,
        "no, everything goes to the local user",
    );
    if !f.distribute {
        return;
    }
    rows.text(
        ui,
        "Local domains",
        &["distribute.local_domains", "distribute"],
        &mut f.local_domains,
        "e.g. example.org, example.net",
        "the local domain",
    );
    rows.text(
        ui,
        "Fallback",
        &["distribute.fallback"],
        &mut f.fallback,
        "e.g. postmaster",
        "the local user",
    );
    rows.multiline(
        ui,
        "Aliases",
        &["distribute.aliases"],
        &mut f.aliases,
        "sales = bob\ninfo = alice",
        "none",
    );
    let delimiter = format!("{DEFAULT_RECIPIENT_DELIMITER}  (none: keep tags)");
    rows.text(
        ui,
        "Tag delimiter",
        &["distribute.recipient_delimiter"],
        &mut f.recipient_delimiter,
        &delimiter,
        &DEFAULT_RECIPIENT_DELIMITER.to_string(),
    );
}

/// Limits, and for multi-drop the headers read and the loop guard.
pub fn advanced(rows: &Rows, ui: &mut egui::Ui, f: &mut FormFields) {
    let timeout = format!("{}s", DEFAULT_TIMEOUT.as_secs());
    rows.text(
        ui,
        "Timeout",
        &["remote.timeout"],
        &mut f.timeout,
        &timeout,
        &timeout,
    );
    let size = format!("{DEFAULT_MAX_MESSAGE_MB} MB");
    let hint = format!("{DEFAULT_MAX_MESSAGE_MB} (MB; larger messages are left on the server)");
    rows.text(
        ui,
        "Max message size",
        &["remote.max_message_mb"],
        &mut f.max_message_mb,
        &hint,
        &size,
    );
    if !f.distribute {
        rows.note(
            ui,
            "The headers read and the loop guard apply to distribution (off for this profile).",
        );
        return;
    }
    let envelope = DEFAULT_ENVELOPE_HEADERS.join(", ");
    rows.text(
        ui,
        "Envelope headers",
        &["distribute.envelope_headers"],
        &mut f.envelope_headers,
        &envelope,
        &envelope,
    );
    let visible = DEFAULT_VISIBLE_HEADERS.join(", ");
    rows.text(
        ui,
        "Visible headers",
        &["distribute.visible_headers"],
        &mut f.visible_headers,
        &visible,
        &visible,
    );
    let trusted = DEFAULT_RECEIVED_TRUSTED.to_string();
    rows.text(
        ui,
        "Trusted Received",
        &["distribute.received_trusted"],
        &mut f.received_trusted,
        &trusted,
        &trusted,
    );
    let max = DEFAULT_MAX_RECEIVED.to_string();
    rows.text(
        ui,
        "Max Received",
        &["distribute.max_received"],
        &mut f.max_received,
        &max,
        &max,
    );
}
