//! The form's own cheap checks (a port is 1–65535, an interval reads as a duration, ...),
//! each naming its field as the worker does, and the form's label of a field the worker names.

use mailpull_shared::config::duration::parse_duration;
use mailpull_shared::config::{MAX_KEEP_DAYS, OAuthProvider};
use mailpull_shared::ipc::FieldProblem;

use super::fields::{AfterDelivery, FormFields, PasswordFrom, SecretFrom, list};

/// The form's label for a field as the worker names it (`remote.port` is "Port"), or the
/// worker's name when the form does not show that field.
pub fn field_label(field: &str) -> &str {
    match field {
        "name" => "Name",
        "enabled" => "Enabled",
        "interval" => "Interval",
        "after_delivery" => "Leave on server",
        "push" => "Push",
        "remote.protocol" => "Protocol",
        "remote.server" | "remote.host" => "Server",
        "remote.port" => "Port",
        "remote.security" => "Security",
        "remote.username" => "User",
        "remote.password" => "Password",
        "remote.auth" => "Authentication",
        "remote.oauth2" | "remote.oauth2.provider" => "Provider",
        "remote.oauth2.client_id" => "Client ID",
        "remote.oauth2.tenant" => "Tenant",
        "remote.oauth2.client_secret" => "Client secret",
        "remote.oauth2.scopes" => "Scopes",
        "remote.oauth2.device_authorization_url" => "Device code URL",
        "remote.oauth2.authorization_url" => "Authorization URL",
        "remote.oauth2.token_url" => "Token URL",
        "remote.ca_file" => "CA file",
        "remote.folders" => "Folders",
        "remote.timeout" => "Timeout",
        "remote.max_message_mb" => "Max message size",
        "local.smtp" => "SMTP server",
        "local.smtp_security" => "SMTP security",
        "local.ca_file" => "SMTP CA file",
        "local.user" => "Local user",
        "local.domain" => "Local domain",
        "distribute.local_domains" => "Local domains",
        "distribute.fallback" => "Fallback",
        "distribute.aliases" => "Aliases",
        "distribute.envelope_headers" => "Envelope headers",
        "distribute.visible_headers" => "Visible headers",
        "distribute.received_trusted" => "Trusted Received",
        "distribute.max_received" => "Max Received",
        "distribute.recipient_delimiter" => "Tag delimiter",
        other => other,
    }
}

/// One problem for a message: `Port: "70000" is not a port (1-65535)`.
pub fn describe_problem(problem: &FieldProblem) -> String {
    if problem.field.is_empty() {
        problem.message.clone()
    } else {
        format!("{}: {}", field_label(&problem.field), problem.message)
    }
}

fn problem(field: &str, message: impl Into<String>) -> FieldProblem {
    FieldProblem {
        profile: None,
        field: field.into(),
        message: message.into(),
    }
}

impl FormFields {
    /// The local checks: each problem names its field as the worker would.
    pub fn local_problems(&self) -> Vec<FieldProblem> {
        let mut problems = Vec::new();
        if self.name.trim().is_empty() {
            problems.push(problem("name", "a profile needs a name"));
        }
        let port = self.port.trim();
        if !port.is_empty() && !matches!(port.parse::<u32>(), Ok(1..=65535)) {
            problems.push(problem(
                "remote.port",
                format!("\"{port}\" is not a port (1-65535)"),
            ));
        }
        let server = self.server.trim();
        if server.is_empty() {
            problems.push(problem(
                "remote.server",
                "missing; write a host such as mail.myisp.com, or \"mail.myisp.com 995s\"",
            ));
        } else if server.contains(char::is_whitespace) {
            problems.push(problem(
                "remote.server",
                "write the host name only; the port and the security have their own fields",
            ));
        }
        if !self.timeout.trim().is_empty() {
            match parse_duration(self.timeout.trim()) {
                Ok(timeout) if timeout.as_secs() >= 1 => {}
                Ok(_) => problems.push(problem("remote.timeout", "must be at least 1s")),
                Err(why) => problems.push(problem("remote.timeout", why)),
            }
        }
        for (field, value) in [
            ("remote.max_message_mb", &self.max_message_mb),
            ("distribute.received_trusted", &self.received_trusted),
            ("distribute.max_received", &self.max_received),
        ] {
            let value = value.trim();
            if !value.is_empty() && value.parse::<u32>().is_err() {
                problems.push(problem(field, format!("\"{value}\" is not a number")));
            }
        }
        if let Err(why) = parse_duration(self.interval.trim()) {
            problems.push(problem("interval", why));
        }
        if self.after_delivery == AfterDelivery::KeepDays
            && !matches!(self.keep_days.trim().parse::<u32>(), Ok(1..=MAX_KEEP_DAYS))
        {
            problems.push(problem(
                "after_delivery",
                format!(
                    "keep days \"{}\" is not a number of days (1-{MAX_KEEP_DAYS})",
                    self.keep_days.trim()
                ),
            ));
        }
        if !self.auth.is_available(self.protocol) {
            problems.push(problem("remote.auth", "APOP is for POP3 only"));
        }
        if self.auth.is_oauth() {
            problems.extend(self.oauth_problems());
        } else if self.password_from != PasswordFrom::Keyring && self.password_ref.trim().is_empty()
        {
            problems.push(problem(
                "remote.password",
                match self.password_from {
                    PasswordFrom::File => "name the file that holds the password",
                    _ => "name the environment variable that holds the password",
                },
            ));
        }
        for line in self.aliases.lines().filter(|l| !l.trim().is_empty()) {
            if !line.contains('=') {
                problems.push(problem(
                    "distribute.aliases",
                    format!("\"{}\" is not of the form alias = user", line.trim()),
                ));
            }
        }
        problems
    }

    pub(super) fn oauth_problems(&self) -> Vec<FieldProblem> {
        let mut problems = Vec::new();
        if self.client_id.trim().is_empty() {
            problems.push(problem(
                "remote.oauth2.client_id",
                "missing; the application (client) id from the provider's app registration",
            ));
        }
        if matches!(self.secret_from, SecretFrom::File | SecretFrom::Env)
            && self.secret_ref.trim().is_empty()
        {
            problems.push(problem(
                "remote.oauth2.client_secret",
                match self.secret_from {
                    SecretFrom::File => "name the file that holds the client secret",
                    _ => "name the environment variable that holds the client secret",
                },
            ));
        }
        if self.provider == OAuthProvider::Custom {
            if list(&self.scopes).is_empty() {
                problems.push(problem(
                    "remote.oauth2.scopes",
                    "a custom provider needs the scopes to ask for",
                ));
            }
            if self.token_url.trim().is_empty() {
                problems.push(problem(
                    "remote.oauth2.token_url",
                    "a custom provider needs its token endpoint",
                ));
            }
            if self.device_url.trim().is_empty() && self.authorization_url.trim().is_empty() {
                problems.push(problem(
                    "remote.oauth2.device_authorization_url",
                    "a custom provider needs a device code URL, an authorization URL, or both",
                ));
            }
        }
        problems
    }
}
