//! The form's sections, and which section shows a field the worker names (so that a problem
//! found on Save opens the section that shows it).

/// A part of the form, each drawn on its own so that it fits on the screen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Section {
    /// The remote mailbox: protocol, server, security, port, login, CA file, folders.
    #[default]
    Remote,
    /// The local SMTP server (security, CA file) and the recipient.
    Delivery,
    /// Interval, push, what happens on the server after delivery.
    Schedule,
    /// Multi-drop: local domains, fallback, aliases, tag delimiter.
    Distribution,
    /// Timeout, size limit, the headers read and the loop guard.
    Advanced,
}

impl Section {
    pub const ALL: [Section; 5] = [
        Section::Remote,
        Section::Delivery,
        Section::Schedule,
        Section::Distribution,
        Section::Advanced,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Section::Remote => "Remote",
            Section::Delivery => "Delivery",
            Section::Schedule => "Schedule",
            Section::Distribution => "Distribution",
            Section::Advanced => "Advanced",
        }
    }

    /// The section that shows `field` (a dotted name as the worker uses it); `None` for the
    /// name and enabled, which sit above every section.
    pub fn of_field(field: &str) -> Option<Section> {
        Some(match field {
            "name" | "enabled" | "" => return None,
            "interval" | "after_delivery" => Section::Schedule,
            // Push needs IMAP: the problem is shown under the protocol.
            "push" => Section::Remote,
            "remote.timeout" | "remote.max_message_mb" => Section::Advanced,
            "distribute.envelope_headers"
            | "distribute.visible_headers"
            | "distribute.received_trusted"
            | "distribute.max_received" => Section::Advanced,
            f if f.starts_with("remote") => Section::Remote,
            f if f.starts_with("local") => Section::Delivery,
            f if f.starts_with("distribute") => Section::Distribution,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_field_opens_the_section_that_shows_it() {
        assert_eq!(Section::of_field("remote.port"), Some(Section::Remote));
        assert_eq!(
            Section::of_field("remote.oauth2.token_url"),
            Some(Section::Remote)
        );
        assert_eq!(
            Section::of_field("local.smtp_security"),
            Some(Section::Delivery)
        );
        assert_eq!(Section::of_field("after_delivery"), Some(Section::Schedule));
        assert_eq!(
            Section::of_field("distribute.fallback"),
            Some(Section::Distribution)
        );
        assert_eq!(
            Section::of_field("distribute.max_received"),
            Some(Section::Advanced)
        );
        assert_eq!(Section::of_field("remote.timeout"), Some(Section::Advanced));
        assert_eq!(Section::of_field("push"), Some(Section::Remote));
        assert_eq!(Section::of_field("name"), None);
    }
}
