//! The Held page of the selected profile: each message the worker stopped trying (it stays on
//! the remote server), titled by its Subject with From, date and size beneath and where the
//! server keeps it on a smaller line (or, when the worker never downloaded it, titled by
//! that place), with its reason in plain words, first and last attempt in local time and
//! the number of attempts, and the three actions the worker offers as buttons: Try again now,
//! Deliver to the fallback mailbox (only a profile with a fallback has one), Delete from the
//! server… (asks first). What an action came to is shown over the list. The list is refreshed
//! by the pipe thread every few seconds and after each action.

use egui::{Color32, RichText, Visuals};
use mailpull_shared::ipc::{HeldActionKind, HeldId, HeldMessage};

use super::form::{label_colour, value_colour};
use crate::app::{Action, ManagerApp, Notice};
use crate::held;

/// Red that reads on either theme's panel (contrast ≥ 4.5:1).
pub fn error_colour(visuals: &Visuals) -> Color32 {
    if visuals.dark_mode {
        Color32::from_rgb(255, 120, 120)
    } else {
        Color32::from_rgb(180, 30, 30)
    }
}

/// Green that reads on either theme's panel.
pub fn good_colour(visuals: &Visuals) -> Color32 {
    if visuals.dark_mode {
        Color32::from_rgb(110, 210, 120)
    } else {
        Color32::from_rgb(25, 115, 40)
    }
}

/// Orange for "held" marks, readable on either theme's panel.
pub fn held_colour(visuals: &Visuals) -> Color32 {
    if visuals.dark_mode {
        Color32::from_rgb(245, 165, 70)
    } else {
        Color32::from_rgb(160, 80, 0)
    }
}

pub fn show(app: &ManagerApp, ui: &mut egui::Ui, actions: &mut Vec<Action>) {
    let Some(name) = app.selected.as_deref() else {
        return;
    };
    let profile = app.profiles.iter().find(|p| p.name == name);
    let messages: Vec<&HeldMessage> = app.held.iter().filter(|m| m.profile == name).collect();
    ui.label(
        RichText::new(format!("Held messages of \"{name}\""))
            .strong()
            .size(16.0),
    );
    ui.add(
        egui::Label::new(
            "A held message failed on its own too many times, so the worker stopped trying it. \
             It stays on the remote server until you choose what to do with it.",
        )
        .wrap(),
    );
    if let Some(Notice { text, error }) = &app.held_result {
        let colour = if *error {
            error_colour(ui.visuals())
        } else {
            good_colour(ui.visuals())
        };
        ui.add(egui::Label::new(RichText::new(text).color(colour)).wrap());
    }
    ui.separator();
    if messages.is_empty() {
        ui.label("No held messages: every message of this profile was delivered or is still being tried.");
        return;
    }
    let connected = app.connection.is_connected();
    let fallback = profile
        .filter(|p| p.multi_drop)
        .map(|p| p.local_address.as_str());
    egui::ScrollArea::vertical()
        .id_salt("held")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            for message in messages {
                ui.group(|ui| {
                    ui.set_width(ui.available_width());
                    entry(ui, message, connected, fallback, actions);
                });
                ui.add_space(6.0);
            }
        });
}

fn entry(
    ui: &mut egui::Ui,
    message: &HeldMessage,
    connected: bool,
    fallback: Option<&str>,
    actions: &mut Vec<Action>,
) {
    let visuals = ui.visuals().clone();
    let ids = format!(
        "{} UID {} (UIDVALIDITY {})",
        message.mailbox, message.uid, message.uidvalidity
    );
    ui.horizontal_wrapped(|ui| {
        ui.add(
            egui::Label::new(
                RichText::new(held::title(message))
                    .strong()
                    .size(15.0)
                    .color(value_colour(&visuals)),
            )
            .wrap(),
        )
        .on_hover_text(&ids);
        if let Some(pending) = &message.pending_action {
            let what = if pending == "delete" {
                "deleting it from the server"
            } else {
                "delivering it to the fallback mailbox"
            };
            ui.label(
                RichText::new(format!("(waiting for a poll: {what})")).color(held_colour(&visuals)),
            );
        }
    });
    if let Some(about) = held::about(message) {
        ui.add(egui::Label::new(RichText::new(about).color(value_colour(&visuals))).wrap());
        ui.label(
            RichText::new(held::place(message))
                .size(11.5)
                .color(label_colour(&visuals)),
        )
        .on_hover_text(&ids);
    }
    egui::Grid::new(("held", &message.folder, message.uidvalidity, &message.uid))
        .num_columns(2)
        .spacing([12.0, 4.0])
        .show(ui, |ui| {
            let row = |ui: &mut egui::Ui, label: &str, value: String| {
                ui.label(RichText::new(label).color(label_colour(&visuals)));
                ui.add(egui::Label::new(RichText::new(value).color(value_colour(&visuals))).wrap());
                ui.end_row();
            };
            ui.label(RichText::new("Why").color(label_colour(&visuals)));
            ui.add(
                egui::Label::new(
                    RichText::new(held::plain_reason(&message.reason))
                        .color(error_colour(&visuals)),
                )
                .wrap(),
            )
            .on_hover_text(&message.reason);
            ui.end_row();
            row(ui, "First attempt", held::local_time(message.first_attempt));
            row(ui, "Last attempt", held::local_time(message.last_attempt));
            row(ui, "Tried", held::attempts(message.attempts));
        });
    let id = HeldId::of(message);
    ui.horizontal_wrapped(|ui| {
        if ui
            .add_enabled(
                connected,
                egui::Button::new(held::action_label(HeldActionKind::Retry)),
            )
            .on_hover_text("Clear the hold and try to deliver it again, at once")
            .clicked()
        {
            actions.push(Action::Held(id.clone(), HeldActionKind::Retry));
        }
        let to_fallback = ui
            .add_enabled(
                connected && fallback.is_some(),
                egui::Button::new(held::action_label(HeldActionKind::DeliverToFallback)),
            )
            .on_hover_text(match fallback {
                Some(address) => {
                    format!("Deliver it to {address} with a header that says why it was held")
                }
                None => {
                    "Only a profile that distributes to several local users has a fallback mailbox"
                        .into()
                }
            })
            .on_disabled_hover_text(match fallback {
                Some(_) => "Not connected to the worker".to_string(),
                None => "This profile has no fallback mailbox: it delivers to one local user"
                    .to_string(),
            });
        if to_fallback.clicked() {
            actions.push(Action::Held(id.clone(), HeldActionKind::DeliverToFallback));
        }
        if ui
            .add_enabled(
                connected,
                egui::Button::new(held::action_label(HeldActionKind::Delete)),
            )
            .on_hover_text("Delete it on the remote server without delivering it (asks first)")
            .clicked()
        {
            actions.push(Action::AskHeldDelete(id));
        }
    });
}

/// "Delete from the server?": the message is gone for good.
pub fn confirm_delete(
    ctx: &egui::Context,
    app: &ManagerApp,
    id: &HeldId,
    actions: &mut Vec<Action>,
) {
    let title = app
        .held
        .iter()
        .find(|m| HeldId::of(m) == *id)
        .map_or_else(|| format!("The message {}", id.uid), held::named);
    let modal = egui::Modal::new(egui::Id::unique("confirm_held_delete")).show(ctx, |ui| {
        ui.set_width(400.0);
        ui.heading("Delete from the server?");
        ui.add(
            egui::Label::new(format!(
                "{title} of \"{}\" will be deleted on the remote server without being \
                 delivered. This cannot be undone.",
                id.profile
            ))
            .wrap(),
        );
        ui.add_space(8.0);
        ui.horizontal(|ui| {
            if ui.button("Yes, delete it from the server").clicked() {
                actions.push(Action::ConfirmHeldDelete);
            }
            if ui.button("Keep it").clicked() {
                actions.push(Action::CancelHeldDelete);
            }
        });
    });
    if modal.should_close() {
        actions.push(Action::CancelHeldDelete);
    }
}

#[cfg(test)]
mod tests {
    use super::super::form::contrast_ratio;
    use super::*;

    #[test]
    fn the_held_colours_are_readable_in_both_themes() {
        for visuals in [Visuals::light(), Visuals::dark()] {
            // The entry's title, its From/date/size line and the smaller place line too.
            for colour in [
                error_colour(&visuals),
                good_colour(&visuals),
                held_colour(&visuals),
                value_colour(&visuals),
                label_colour(&visuals),
            ] {
                let ratio = contrast_ratio(colour, visuals.panel_fill);
                assert!(
                    ratio >= 4.5,
                    "{colour:?} on {:?}: {ratio:.2}",
                    visuals.panel_fill
                );
            }
        }
    }
}
