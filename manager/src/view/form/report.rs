//! The connection test report in plain words: each step under a name a person knows ("Local
//! mail server", not `local_smtp`) and its detail as a sentence ("3 messages, 9.0 KB", "TLS
//! 1.3 …"). The worker's [`TestStep`]s keep their wire names; only this presentation changes.

use egui::RichText;
use mailpull_shared::ipc::{StepOutcome, TestStep};

use super::GOOD;
use super::rows::ERROR;
use crate::app::{Action, ManagerApp};

pub fn show(app: &ManagerApp, ui: &mut egui::Ui, actions: &mut Vec<Action>) {
    let Some((name, steps)) = &app.test_report else {
        return;
    };
    ui.group(|ui| {
        ui.horizontal(|ui| {
            ui.strong(format!("Connection test of \"{name}\""));
            if ui.small_button("Close report").clicked() {
                actions.push(Action::CloseReport);
            }
        });
        for step in steps {
            let colour = match step.outcome {
                StepOutcome::Passed => GOOD,
                StepOutcome::Failed => ERROR,
                StepOutcome::Skipped => ui.visuals().text_color(),
            };
            ui.add(egui::Label::new(RichText::new(line(step)).color(colour)).wrap());
        }
    });
}

/// One step as shown: "Local mail server: OK — 127.0.0.1:25 answers (STARTTLS)".
pub fn line(step: &TestStep) -> String {
    let mark = match step.outcome {
        StepOutcome::Passed => "OK",
        StepOutcome::Failed => "FAILED",
        StepOutcome::Skipped => "not tried",
    };
    format!(
        "{}: {mark} — {}",
        step_title(&step.step),
        detail(&step.step, &step.detail)
    )
}

/// The step's name for a person.
pub fn step_title(step: &str) -> String {
    match step {
        "connect" => "Remote server".into(),
        "tls" => "Encryption".into(),
        "login" => "Sign-in".into(),
        "messages" => "Mailbox".into(),
        "local_smtp" => "Local mail server".into(),
        other => capitalised(&other.replace('_', " ")),
    }
}

/// The step's detail as a sentence.
pub fn detail(step: &str, detail: &str) -> String {
    let detail = detail.trim();
    let text = match step {
        "messages" => messages(detail),
        "tls" => tls(detail),
        "local_smtp" => local_smtp(detail),
        _ => detail.to_string(),
    };
    capitalised(&text)
}

/// POP3's `3 message(s), 9216 bytes` and IMAP's `INBOX: 3, Archive: 0`.
fn messages(detail: &str) -> String {
    if let Some((count, rest)) = detail.split_once(" message(s), ")
        && let Ok(count) = count.parse::<u64>()
    {
        let bytes = rest.trim_end_matches(" bytes");
        return if count == 0 {
            "0 messages".into()
        } else {
            format!("{}, {}", messages_word(count), crate::log::size(bytes))
        };
    }
    let folders: Option<Vec<String>> = detail
        .split(", ")
        .map(|part| {
            let (folder, count) = part.rsplit_once(": ")?;
            let count = count.parse::<u64>().ok()?;
            Some(format!("{folder}: {}", messages_word(count)))
        })
        .collect();
    match folders {
        Some(folders) if !detail.is_empty() => folders.join(", "),
        _ => detail.to_string(),
    }
}

fn messages_word(count: u64) -> String {
    if count == 1 {
        "1 message".into()
    } else {
        format!("{count} messages")
    }
}

/// `TLSv1_3 with …` as `TLS 1.3 with …`; the profile's `security = "plain"` in words.
fn tls(detail: &str) -> String {
    if detail.starts_with("security = \"plain\"") {
        return "not used: the profile connects without encryption".into();
    }
    let mut text = detail.to_string();
    for (wire, plain) in [
        ("TLSv1_3", "TLS 1.3"),
        ("TLSv1_2", "TLS 1.2"),
        ("TLSv1_1", "TLS 1.1"),
        ("TLSv1_0", "TLS 1.0"),
    ] {
        text = text.replace(wire, plain);
    }
    text
}

/// `host:25 answers (starttls)` with the security in words.
fn local_smtp(detail: &str) -> String {
    let mut text = detail.to_string();
    for (wire, plain) in [
        ("(plain)", "(no encryption)"),
        ("(starttls)", "(STARTTLS)"),
        ("(tls)", "(TLS)"),
    ] {
        if let Some(head) = text.strip_suffix(wire) {
            text = format!("{head}{plain}");
        }
    }
    text
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(name: &str, outcome: StepOutcome, detail: &str) -> TestStep {
        TestStep {
            step: name.into(),
            outcome,
            detail: detail.into(),
        }
    }

    #[test]
    fn every_step_reads_in_plain_words() {
        let cases = [
            (
                step("connect", StepOutcome::Passed, "connected to localhost:995"),
                "Remote server: OK — Connected to localhost:995",
            ),
            (
                step(
                    "tls",
                    StepOutcome::Passed,
                    "TLSv1_3 with a certificate valid for localhost",
                ),
                "Encryption: OK — TLS 1.3 with a certificate valid for localhost",
            ),
            (
                step(
                    "tls",
                    StepOutcome::Skipped,
                    "security = \"plain\": no encryption",
                ),
                "Encryption: not tried — Not used: the profile connects without encryption",
            ),
            (
                step("login", StepOutcome::Passed, "logged in as isp-user"),
                "Sign-in: OK — Logged in as isp-user",
            ),
            (
                step("messages", StepOutcome::Passed, "0 message(s), 0 bytes"),
                "Mailbox: OK — 0 messages",
            ),
            (
                step("messages", StepOutcome::Passed, "3 message(s), 9216 bytes"),
                "Mailbox: OK — 3 messages, 9.0 KB",
            ),
            (
                step("messages", StepOutcome::Passed, "INBOX: 1, Archive: 0"),
                "Mailbox: OK — INBOX: 1 message, Archive: 0 messages",
            ),
            (
                step(
                    "messages",
                    StepOutcome::Skipped,
                    "not run: an earlier step failed",
                ),
                "Mailbox: not tried — Not run: an earlier step failed",
            ),
            (
                step(
                    "local_smtp",
                    StepOutcome::Passed,
                    "127.0.0.1:25 answers (starttls)",
                ),
                "Local mail server: OK — 127.0.0.1:25 answers (STARTTLS)",
            ),
            (
                step(
                    "local_smtp",
                    StepOutcome::Failed,
                    "local server x unreachable",
                ),
                "Local mail server: FAILED — Local server x unreachable",
            ),
            (
                step("new_step", StepOutcome::Passed, "fine"),
                "New step: OK — Fine",
            ),
        ];
        for (step, shown) in cases {
            assert_eq!(line(&step), shown);
        }
    }
}
