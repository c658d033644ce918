//! The History page of the selected profile: what it delivered today, in the last 7 days and
//! in all, what fails now, a chart of messages per day (the last 30 days) and the last 100
//! deliveries (time, from, subject, recipient, the local server's reply), all from the
//! worker's state database. Asked for when the page opens and every few seconds while shown.

use egui::{Color32, RichText, Visuals};
use egui_plot::{Bar, BarChart, GridMark, Plot};
use mailpull_shared::ipc::History;
use mailpull_shared::ipc::history::Delivery;

use super::form::{label_colour, value_colour};
use super::held::{error_colour, held_colour};
use crate::app::{Action, ManagerApp};
use crate::history;

/// The bars' colour: the theme's selection colour, readable on either panel.
fn bar_colour(visuals: &Visuals) -> Color32 {
    if visuals.dark_mode {
        Color32::from_rgb(90, 160, 230)
    } else {
        Color32::from_rgb(30, 100, 180)
    }
}

pub fn show(app: &ManagerApp, ui: &mut egui::Ui, actions: &mut Vec<Action>) {
    let Some(name) = app.selected.as_deref() else {
        return;
    };
    if app.connection.is_connected() && app.history.due(name) {
        actions.push(Action::RefreshHistory);
    }
    ui.horizontal(|ui| {
        ui.label(
            RichText::new(format!("History of \"{name}\""))
                .strong()
                .size(16.0),
        );
        if ui
            .add_enabled(app.connection.is_connected(), egui::Button::new("Refresh"))
            .on_hover_text("Read the history from the worker again")
            .clicked()
        {
            actions.push(Action::RefreshHistory);
        }
    });
    let shown = app
        .history
        .shown
        .as_ref()
        .filter(|_| app.history.profile.as_deref() == Some(name));
    match shown {
        None => {
            ui.label("Reading the history from the worker…");
        }
        Some(Err(why)) => {
            ui.add(
                egui::Label::new(
                    RichText::new(format!("The history could not be read: {why}"))
                        .color(error_colour(ui.visuals())),
                )
                .wrap(),
            );
        }
        Some(Ok(history)) => page(ui, history),
    }
}

fn page(ui: &mut egui::Ui, history: &History) {
    let visuals = ui.visuals().clone();
    egui::Grid::new("history_totals")
        .num_columns(4)
        .spacing([24.0, 4.0])
        .show(ui, |ui| {
            for (label, tally) in [
                ("Today", history.today),
                ("Last 7 days", history.week),
                ("All", history.all),
            ] {
                ui.vertical(|ui| {
                    ui.label(RichText::new(label).color(label_colour(&visuals)));
                    ui.add(
                        egui::Label::new(
                            RichText::new(history::tally(tally))
                                .strong()
                                .color(value_colour(&visuals)),
                        )
                        .extend(),
                    );
                });
            }
            ui.vertical(|ui| {
                ui.label(RichText::new("Failing now").color(label_colour(&visuals)));
                let (text, colour) = match (history.failing, history.held) {
                    (0, _) => ("none".to_string(), value_colour(&visuals)),
                    (n, 0) => (
                        format!("{n} waiting to be tried again"),
                        held_colour(&visuals),
                    ),
                    (n, held) => (format!("{n}, of which {held} held"), error_colour(&visuals)),
                };
                ui.add(egui::Label::new(RichText::new(text).strong().color(colour)).extend());
            });
            ui.end_row();
        });
    ui.add_space(4.0);
    chart(ui, history);
    ui.add_space(4.0);
    ui.label(
        RichText::new(format!(
            "Last deliveries ({} shown, newest first)",
            history.recent.len()
        ))
        .strong(),
    );
    if history.recent.is_empty() {
        ui.label("Nothing delivered yet.");
        return;
    }
    egui::ScrollArea::vertical()
        .id_salt("history_recent")
        .auto_shrink([false, false])
        .show(ui, |ui| deliveries(ui, &history.recent));
}

/// Messages per day, the last 30 days, as bars; dates on the axis.
fn chart(ui: &mut egui::Ui, history: &History) {
    let colour = bar_colour(ui.visuals());
    let bars: Vec<Bar> = history
        .per_day
        .iter()
        .map(|day| {
            Bar::new(day.day as f64, day.messages as f64)
                .width(0.7)
                .fill(colour)
                .name(format!(
                    "{}: {} delivered",
                    history::day_label(day.day),
                    day.messages
                ))
        })
        .collect();
    let first = history.per_day.first().map_or(0, |d| d.day) as f64;
    let last = history.per_day.last().map_or(0, |d| d.day) as f64;
    let most = history
        .per_day
        .iter()
        .map(|d| d.messages)
        .max()
        .unwrap_or(0);
    let busiest = history
        .per_day
        .iter()
        .filter(|d| d.messages > 0)
        .max_by_key(|d| (d.messages, d.day));
    let title = match busiest {
        Some(day) => format!(
            "Messages delivered per day, last 30 days (most: {} on {})",
            day.messages,
            history::day_label(day.day)
        ),
        None => "Messages delivered per day, last 30 days (none)".to_string(),
    };
    ui.label(RichText::new(title).color(label_colour(ui.visuals())));
    Plot::new("history_per_day")
        .height(120.0)
        .allow_zoom(false)
        .allow_drag(false)
        .allow_scroll(false)
        .allow_boxed_zoom(false)
        .allow_double_click_reset(false)
        .show_x(false)
        .show_y(false)
        .default_x_bounds(first - 0.7, last + 0.7)
        .default_y_bounds(0.0, (most.max(4) as f64) * 1.15)
        .x_axis_formatter(|mark: GridMark, _range| {
            if mark.value.fract() == 0.0 {
                history::day_label(mark.value as i64)
            } else {
                String::new()
            }
        })
        .y_axis_formatter(|mark: GridMark, _range| {
            if mark.value.fract() == 0.0 && mark.value >= 0.0 {
                format!("{}", mark.value as i64)
            } else {
                String::new()
            }
        })
        .show(ui, |plot| {
            plot.bar_chart(BarChart::new("Delivered", bars));
        });
}

/// The last deliveries: one row each; long values cut, whole in the hover text.
fn deliveries(ui: &mut egui::Ui, recent: &[Delivery]) {
    let visuals = ui.visuals().clone();
    // The time's width, then the rest shared out; the grid's spacing and the scroll bar aside.
    let time = 96.0;
    let rest = (ui.available_width() - time - 4.0 * 14.0 - 20.0).max(400.0);
    let widths = [time, rest * 0.24, rest * 0.28, rest * 0.18, rest * 0.30];
    egui::Grid::new("history_deliveries")
        .num_columns(5)
        .striped(true)
        .spacing([14.0, 4.0])
        .show(ui, |ui| {
            for (head, width) in ["Time", "From", "Subject", "To", "Local server's reply"]
                .into_iter()
                .zip(widths)
            {
                ui.add_sized(
                    [width, 18.0],
                    egui::Label::new(RichText::new(head).strong().color(label_colour(&visuals))),
                );
            }
            ui.end_row();
            for delivery in recent {
                let cell = |ui: &mut egui::Ui, text: &str, width: f32| {
                    let shown = if text.is_empty() { "—" } else { text };
                    ui.add_sized(
                        [width, 18.0],
                        egui::Label::new(RichText::new(shown).color(value_colour(&visuals)))
                            .truncate(),
                    )
                    .on_hover_text(shown);
                };
                cell(ui, &history::when(delivery.at), widths[0]);
                cell(ui, &delivery.from, widths[1]);
                cell(ui, &delivery.subject, widths[2]);
                cell(ui, &delivery.recipients, widths[3]);
                cell(ui, &delivery.reply, widths[4]);
                ui.end_row();
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::contrast_ratio;

    #[test]
    fn the_pages_colours_read_on_both_themes() {
        for visuals in [Visuals::dark(), Visuals::light()] {
            // The striped rows' faint background is a translucent overlay of a few levels.
            let background = visuals.panel_fill;
            for colour in [
                label_colour(&visuals),
                value_colour(&visuals),
                error_colour(&visuals),
                held_colour(&visuals),
                super::super::held::good_colour(&visuals),
            ] {
                let ratio = contrast_ratio(colour, background);
                assert!(ratio >= 4.5, "{colour:?} on {background:?}: {ratio:.2}:1");
            }
            // Bars are graphics: 3:1 against the plot's background.
            let ratio = contrast_ratio(bar_colour(&visuals), visuals.extreme_bg_color);
            assert!(ratio >= 3.0, "bars: {ratio:.2}:1");
        }
    }
}
