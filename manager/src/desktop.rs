//! Desktop habits of the window: its options (title, size, minimum size), which eframe
//! remembers between runs with its `persistence` feature (`persist_window`: size and
//! position; egui's memory: panel sizes, the theme preference), and the theme, which follows
//! the system's light or dark preference (egui's `ThemePreference::System`) and switches
//! with it while the window is open, unless the person picks Light or Dark in the title bar
//! (`view::theme_choice`; remembered like the window's size).

use crate::view::TITLE;

/// The options the window opens with.
pub fn native_options() -> eframe::NativeOptions {
    eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title(TITLE)
            .with_app_id("mailpull-manager")
            .with_inner_size([1100.0, 760.0])
            .with_min_inner_size([720.0, 480.0]),
        persist_window: true,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_remembers_its_size_and_follows_the_systems_theme() {
        let options = native_options();
        assert!(options.persist_window, "size and position are remembered");
        assert_eq!(options.viewport.inner_size, Some(egui::vec2(1100.0, 760.0)));
        let ctx = egui::Context::default();
        assert_eq!(
            ctx.options(|o| o.theme_preference),
            egui::ThemePreference::System,
            "the system's theme unless the person chose one"
        );
        // The system's preference decides: light when the system is light, dark when dark.
        for (system, dark) in [(egui::Theme::Light, false), (egui::Theme::Dark, true)] {
            let input = egui::RawInput {
                system_theme: Some(system),
                ..Default::default()
            };
            let mut output = ctx.run_ui(input, |_| {});
            output.textures_delta.clear();
            assert_eq!(ctx.global_style().visuals.dark_mode, dark, "{system:?}");
        }
    }
}
