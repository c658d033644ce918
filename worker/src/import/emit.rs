//! Imported profiles as a configuration file in the project's format: one `[[profile]]` per
//! profile with its `remote`, `local` and `distribute` tables, each preceded by a comment
//! naming where it came from. A password is never written: every profile says
//! `password = { keyring = true }`. Pure and deterministic (the import corpus compares the
//! text exactly).

use std::fmt::Write as _;

use mailpull_shared::config::raw::{RawAfterDelivery, RawPassword, RawProfile};

use super::ImportedProfile;

/// A TOML basic string (double quotes, escapes for `"`, backslash and control characters).
fn string(text: &str) -> String {
    let mut out = String::from('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn strings(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| string(s)).collect();
    format!("[{}]", quoted.join(", "))
}

/// `key = value` lines of the fields that are set.
struct Table {
    out: String,
}

impl Table {
    fn new(header: &str) -> Table {
        Table {
            out: format!("{header}\n"),
        }
    }

    fn text(&mut self, key: &str, value: &Option<String>) {
        if let Some(value) = value {
            let _ = writeln!(self.out, "{key} = {}", string(value));
        }
    }

    fn raw(&mut self, key: &str, value: Option<String>) {
        if let Some(value) = value {
            let _ = writeln!(self.out, "{key} = {value}");
        }
    }
}

/// The whole file: `command` and `sources` name what produced it in its heading comment.
pub fn config_text(command: &str, sources: &[String], profiles: &[ImportedProfile]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Imported by `mailpull-worker import {command}` from:"
    );
    for source in sources {
        let _ = writeln!(out, "#   {source}");
    }
    out.push_str(
        "# No password is written here: each profile reads its password from the OS keyring\n\
         # (`mailpull-worker set-password NAME` stores one). Check with `mailpull-worker check`.\n",
    );
    if profiles.is_empty() {
        out.push_str("# (no profile could be imported)\n");
    }
    for imported in profiles {
        out.push('\n');
        let _ = writeln!(out, "# {} line {}", imported.file, imported.line);
        out.push_str(&profile_text(&imported.profile));
    }
    out
}

/// One `[[profile]]` and its tables.
pub fn profile_text(p: &RawProfile) -> String {
    let mut top = Table::new("[[profile]]");
    top.text("name", &p.name);
    top.raw("enabled", p.enabled.map(|b| b.to_string()));
    top.text("interval", &p.interval);
    top.raw(
        "after_delivery",
        p.after_delivery.as_ref().map(|a| match a {
            RawAfterDelivery::Mode(mode) => string(mode),
            RawAfterDelivery::Table(days) => {
                format!("{{ keep_days = {} }}", days.keep_days.unwrap_or_default())
            }
            RawAfterDelivery::Other(value) => value.to_string(),
        }),
    );
    top.raw("push", p.push.map(|b| b.to_string()));
    let mut out = top.out;
    if let Some(r) = &p.remote {
        let mut t = Table::new("[profile.remote]");
        t.text("protocol", &r.protocol);
        t.text("host", &r.host);
        t.raw("port", r.port.map(|n| n.to_string()));
        t.text("security", &r.security);
        t.text("username", &r.username);
        t.raw(
            "password",
            r.password.as_ref().map(|p| match p {
                // Never the secret itself: an inline password is written as the keyring.
                RawPassword::Inline(_) => "{ keyring = true }".to_string(),
                RawPassword::Source(source) => match (&source.file, &source.env) {
                    (Some(file), _) => format!("{{ file = {} }}", string(file)),
                    (None, Some(env)) => format!("{{ env = {} }}", string(env)),
                    (None, None) => "{ keyring = true }".to_string(),
                },
            }),
        );
        t.text("auth", &r.auth);
        t.text("ca_file", &r.ca_file);
        t.raw("folders", r.folders.as_deref().map(strings));
        t.text("timeout", &r.timeout);
        t.raw("max_message_mb", r.max_message_mb.map(|n| n.to_string()));
        out.push('\n');
        out.push_str(&t.out);
    }
    if let Some(l) = &p.local {
        let mut t = Table::new("[profile.local]");
        t.text("smtp", &l.smtp);
        t.text("smtp_security", &l.smtp_security);
        t.text("user", &l.user);
        t.text("domain", &l.domain);
        out.push('\n');
        out.push_str(&t.out);
    }
    if let Some(d) = &p.distribute {
        let mut t = Table::new("[profile.distribute]");
        t.raw("enabled", d.enabled.map(|b| b.to_string()));
        t.raw("local_domains", d.local_domains.as_deref().map(strings));
        t.text("fallback", &d.fallback);
        t.raw(
            "aliases",
            d.aliases.as_ref().map(|aliases| {
                let pairs: Vec<String> = aliases
                    .iter()
                    .map(|(from, to)| format!("{} = {}", string(from), string(to)))
                    .collect();
                format!("{{ {} }}", pairs.join(", "))
            }),
        );
        t.raw(
            "envelope_headers",
            d.envelope_headers.as_deref().map(strings),
        );
        out.push('\n');
        out.push_str(&t.out);
    }
    out
}

#[cfg(test)]
mod tests {
    use mailpull_shared::config::raw::{RawPasswordSource, RawRemote};

    use super::*;

    #[test]
    fn an_inline_password_is_never_written() {
        let profile = RawProfile {
            name: Some("p".into()),
            remote: Some(RawRemote {
                password: Some(RawPassword::Inline("hunter2".into())),
                ..RawRemote::default()
            }),
            ..RawProfile::default()
        };
        let text = profile_text(&profile);
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("password = { keyring = true }"), "{text}");
        let profile = RawProfile {
            remote: Some(RawRemote {
                password: Some(RawPassword::Source(RawPasswordSource {
                    env: Some("PW".into()),
                    ..RawPasswordSource::default()
                })),
                ..RawRemote::default()
            }),
            ..RawProfile::default()
        };
        assert!(profile_text(&profile).contains("password = { env = \"PW\" }"));
    }

    #[test]
    fn strings_are_toml_strings() {
        assert_eq!(string("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(strings(&["a".into(), "b c".into()]), r#"["a", "b c"]"#);
        let text = "x\u{1}\n\t\"é";
        let parsed: toml::Table = format!("k = {}", string(text)).parse().expect("toml");
        assert_eq!(parsed["k"].as_str(), Some(text));
    }
}
