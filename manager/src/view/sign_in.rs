//! The OAuth sign-in dialog. Device flow: the provider's page as a link (opened in the
//! browser on click) and the code to enter there, selectable and with a Copy button. Browser
//! flow: the page was opened in the default browser; a link opens it again. Both wait for the
//! worker to report the outcome, then show it. "Cancel sign-in" or Close ends the dialog.

use egui::{Color32, RichText};
use mailpull_shared::ipc::{SignInMethod, SignInPrompt};

use crate::app::{Action, SignIn};

const ERROR: Color32 = Color32::from_rgb(210, 50, 50);
const GOOD: Color32 = Color32::from_rgb(40, 150, 60);

pub fn show(ctx: &egui::Context, sign_in: &SignIn, actions: &mut Vec<Action>) {
    let modal = egui::Modal::new(egui::Id::unique("sign_in")).show(ctx, |ui| {
        ui.set_width(440.0);
        ui.heading(format!("Sign in \"{}\"", sign_in.name));
        match &sign_in.prompt {
            None if sign_in.pending() => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("Asking the worker to start the sign-in …");
                });
            }
            None => {}
            Some(SignInPrompt::Device {
                verification_uri,
                verification_uri_complete,
                user_code,
                ..
            }) => device(
                ui,
                verification_uri,
                verification_uri_complete,
                user_code,
                actions,
            ),
            Some(SignInPrompt::Browser { authorization_url }) => {
                ui.label("The provider's sign-in page was opened in your browser. Sign in there.");
                ui.horizontal(|ui| {
                    ui.label("Not opened?");
                    if ui.link("Open the sign-in page again").clicked() {
                        actions.push(Action::OpenSignInPage(authorization_url.clone()));
                    }
                });
            }
        }
        ui.add_space(8.0);
        match &sign_in.outcome {
            None => {
                if sign_in.prompt.is_some() {
                    ui.horizontal(|ui| {
                        ui.spinner();
                        ui.label(match (sign_in.method, sign_in.expires) {
                            (SignInMethod::Device, Some(at)) => format!(
                                "Waiting for you to finish (the code works for {} more) …",
                                super::relative_time_left(at)
                            ),
                            _ => "Waiting for you to finish …".to_string(),
                        });
                    });
                }
            }
            Some(Ok(message)) => {
                ui.label(RichText::new("Signed in.").strong().color(GOOD));
                ui.label(message.as_str());
            }
            Some(Err(message)) => {
                ui.label(RichText::new(format!("Sign-in failed: {message}")).color(ERROR));
            }
        }
        ui.add_space(8.0);
        let close = if sign_in.pending() {
            "Cancel sign-in"
        } else {
            "Close"
        };
        if ui.button(close).clicked() {
            actions.push(Action::CloseSignIn);
        }
    });
    if modal.should_close() {
        actions.push(Action::CloseSignIn);
    }
}

fn device(
    ui: &mut egui::Ui,
    uri: &str,
    complete: &Option<String>,
    code: &str,
    actions: &mut Vec<Action>,
) {
    ui.label("1. Open this page, on this or any other device:");
    if ui
        .link(uri)
        .on_hover_text("Opens in your browser")
        .clicked()
    {
        actions.push(Action::OpenSignInPage(uri.to_string()));
    }
    if let Some(complete) = complete {
        ui.horizontal(|ui| {
            ui.label("or, with the code filled in:");
            if ui.link("open the page with the code").clicked() {
                actions.push(Action::OpenSignInPage(complete.clone()));
            }
        });
    }
    ui.label("2. Enter this code there:");
    ui.horizontal(|ui| {
        // A selectable label: its text is its accessible name.
        ui.add(egui::Label::new(RichText::new(code).monospace().size(20.0)).selectable(true));
        if ui.button("Copy code").clicked() {
            actions.push(Action::CopyCode(code.to_string()));
        }
    });
    ui.label("3. Sign in with the mailbox's account and allow the access.");
}
