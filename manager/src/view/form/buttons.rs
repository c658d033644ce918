//! The bar of buttons over the form: New, Duplicate, Edit, Delete, Save, Cancel, Test
//! connection, Poll now, and the sign-in buttons of an OAuth profile.

use mailpull_shared::ipc::SignInMethod;

use crate::app::{Action, ManagerApp};

pub fn show(app: &ManagerApp, ui: &mut egui::Ui, actions: &mut Vec<Action>) {
    let connected = app.connection.is_connected();
    let editing = app.editor.editing();
    let selected = app.selected.is_some();
    ui.horizontal_wrapped(|ui| {
        if ui.add_enabled(!editing, egui::Button::new("New")).clicked() {
            actions.push(Action::New);
        }
        if ui
            .add_enabled(!editing && selected, egui::Button::new("Edit"))
            .clicked()
        {
            actions.push(Action::Edit);
        }
        if ui
            .add_enabled(!editing && selected, egui::Button::new("Duplicate"))
            .on_hover_text("A new profile with these settings (its password is typed again)")
            .clicked()
        {
            actions.push(Action::Duplicate);
        }
        if ui
            .add_enabled(
                !editing && selected && connected,
                egui::Button::new("Delete"),
            )
            .clicked()
        {
            actions.push(Action::AskDelete);
        }
        ui.separator();
        if ui
            .add_enabled(editing && connected, egui::Button::new("Save"))
            .clicked()
        {
            actions.push(Action::Save);
        }
        if ui
            .add_enabled(editing, egui::Button::new("Cancel"))
            .clicked()
        {
            actions.push(Action::Cancel);
        }
        ui.separator();
        if ui
            .add_enabled(
                connected && (editing || selected),
                egui::Button::new("Test connection"),
            )
            .clicked()
        {
            actions.push(Action::Test);
        }
        if ui
            .add_enabled(
                connected && selected && !editing,
                egui::Button::new("Poll now"),
            )
            .clicked()
        {
            actions.push(Action::PollNow);
        }
        if app.editor.fields.auth.is_oauth() && selected && !editing {
            ui.separator();
            let ready = connected && app.sign_in.is_none();
            if ui
                .add_enabled(ready, egui::Button::new("Sign in …"))
                .on_hover_text("Sign in with a code entered on the provider's page, on any device")
                .clicked()
            {
                actions.push(Action::SignIn(SignInMethod::Device));
            }
            if ui
                .add_enabled(ready, egui::Button::new("Sign in with browser …"))
                .on_hover_text("Open the provider's sign-in page in this computer's browser")
                .clicked()
            {
                actions.push(Action::SignIn(SignInMethod::Browser));
            }
        }
    });
}
