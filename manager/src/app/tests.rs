use mailpull_shared::ipc::{Endpoint, SignInMethod, SignInPrompt, SignInState};

use super::*;
use crate::backend::Update;
use crate::log::Level;

/// A window whose worker is not running (nothing listens at its endpoint).
fn lonely_app(dir: &tempfile::TempDir) -> ManagerApp {
    let config = dir.path().join("mailpull.toml");
    let endpoint = Endpoint::for_config(&config);
    let mut app = ManagerApp::with_endpoint(endpoint, Settings::default()).expect("app");
    app.selected = Some("m365".into());
    app
}

fn started(app: &mut ManagerApp, method: SignInMethod, prompt: SignInPrompt) {
    app.start_sign_in(method);
    app.apply_update(Update::SignInStarted {
        name: "m365".into(),
        session: "s1".into(),
        prompt,
    });
}

#[test]
fn a_browser_sign_in_opens_the_authorization_url_and_reports_a_failed_opener() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut app = lonely_app(&dir);
    let opened = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = opened.clone();
    app.opener = Box::new(move |url: &str| {
        seen.lock().expect("lock").push(url.to_string());
        Err("no browser here".into())
    });
    let url = "https://login.example.com/authorize?client_id=x";
    started(
        &mut app,
        SignInMethod::Browser,
        SignInPrompt::Browser {
            authorization_url: url.into(),
        },
    );
    assert_eq!(*opened.lock().expect("lock"), [url.to_string()]);
    let outcome = app.sign_in.as_ref().and_then(|s| s.outcome.clone());
    assert!(
        matches!(&outcome, Some(Err(why)) if why.contains("no browser here")),
        "{outcome:?}"
    );
}

#[test]
fn a_device_sign_in_ends_when_done_failed_or_expired() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut app = lonely_app(&dir);
    let device = |expires_in_secs| SignInPrompt::Device {
        verification_uri: "https://microsoft.com/devicelogin".into(),
        verification_uri_complete: None,
        user_code: "ABCD-EFGH".into(),
        expires_in_secs,
    };
    started(&mut app, SignInMethod::Device, device(900));
    app.apply_update(Update::SignIn {
        session: "s1".into(),
        state: SignInState::Pending,
    });
    assert!(app.sign_in.as_ref().is_some_and(SignIn::pending));
    // An answer for another session changes nothing.
    app.apply_update(Update::SignIn {
        session: "other".into(),
        state: SignInState::Failed {
            message: "no".into(),
        },
    });
    assert!(app.sign_in.as_ref().is_some_and(SignIn::pending));
    app.apply_update(Update::SignIn {
        session: "s1".into(),
        state: SignInState::Done {
            message: "signed in as joe".into(),
        },
    });
    assert_eq!(
        app.sign_in.as_ref().and_then(|s| s.outcome.clone()),
        Some(Ok("signed in as joe".into()))
    );

    // A code that expired before anyone approved it ends the dialog by itself.
    started(&mut app, SignInMethod::Device, device(0));
    app.poll_updates();
    let outcome = app.sign_in.as_ref().and_then(|s| s.outcome.clone());
    assert!(
        matches!(&outcome, Some(Err(why)) if why.contains("expired")),
        "{outcome:?}"
    );

    // The worker refusing to start it is shown in the dialog.
    app.start_sign_in(SignInMethod::Device);
    app.apply_update(Update::SignInRefused {
        name: "m365".into(),
        error: "profile \"m365\" does not use OAuth".into(),
    });
    let outcome = app.sign_in.as_ref().and_then(|s| s.outcome.clone());
    assert!(
        matches!(&outcome, Some(Err(why)) if why.contains("does not use OAuth")),
        "{outcome:?}"
    );
}

#[test]
fn settings_from_an_older_or_empty_store_take_defaults() {
    let settings: Settings = serde_json::from_str("{}").expect("empty");
    assert_eq!(settings, Settings::default());
    let settings: Settings =
        serde_json::from_str(r#"{"log_filter":{"level":"Debug"}}"#).expect("partial");
    assert_eq!(settings.log_filter.level, Level::Debug);
    assert_eq!(settings.log_filter.profile, None);
}

fn summary(name: &str, enabled: bool) -> mailpull_shared::ipc::ProfileSummary {
    mailpull_shared::ipc::ProfileSummary {
        name: name.into(),
        enabled,
        protocol: "pop3".into(),
        host: "mail.myisp.com".into(),
        port: 995,
        username: "alice".into(),
        local_address: "alice@example.com".into(),
        multi_drop: false,
        password_source: "keyring".into(),
    }
}

#[test]
fn the_first_list_without_an_enabled_profile_opens_the_wizard_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The installed sample: two placeholders, both disabled.
    let mut app = lonely_app(&dir);
    app.selected = None;
    app.apply_update(Update::Profiles(vec![
        summary("isp", false),
        summary("office", false),
    ]));
    assert!(app.wizard.is_some(), "no enabled profile: the wizard");
    app.wizard_action(crate::wizard::WizardAction::Cancel);
    app.apply_update(Update::Profiles(vec![summary("isp", false)]));
    assert!(app.wizard.is_none(), "once per window, not after Cancel");

    let mut app = lonely_app(&dir);
    app.apply_update(Update::Profiles(vec![summary("isp", true)]));
    assert!(app.wizard.is_none(), "an enabled profile: no wizard");
    app.apply_update(Update::Profiles(Vec::new()));
    assert!(app.wizard.is_none(), "only the first list counts");

    let mut app = lonely_app(&dir);
    app.apply_update(Update::Profiles(Vec::new()));
    assert!(app.wizard.is_some(), "an empty configuration: the wizard");
}

#[test]
fn another_profile_is_not_shown_over_an_open_wizard() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut app = lonely_app(&dir);
    app.selected = None;
    app.wizard_action(crate::wizard::WizardAction::Open);
    app.wizard.as_mut().expect("wizard").fields.server = "typed".into();
    app.apply(
        vec![Action::Select("isp".into())],
        &egui::Context::default(),
    );
    assert!(app.selected.is_none(), "not selected");
    assert_eq!(
        app.wizard.as_ref().map(|w| w.fields.server.as_str()),
        Some("typed"),
        "what was typed stays"
    );
    assert!(app.notice.as_ref().is_some_and(|n| n.error));
    app.apply(
        vec![Action::DuplicateOf("isp".into())],
        &egui::Context::default(),
    );
    assert!(
        app.selected.is_none(),
        "nothing read for a copy under the wizard"
    );
    assert!(!app.editor.editing(), "no copy started under the wizard");
    assert!(app.wizard.is_some());
}

#[test]
fn a_providers_profile_saved_by_the_wizard_signs_in_then_polls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut app = lonely_app(&dir);
    app.selected = None;
    app.wizard_action(crate::wizard::WizardAction::Open);
    {
        let wizard = app.wizard.as_mut().expect("wizard");
        wizard.choose_remote(crate::wizard::RemotePreset::Microsoft365);
        wizard.fields.name = "m365".into();
        wizard.saving = true;
    }
    app.apply_update(Update::Saved {
        name: "m365".into(),
        secret: None,
        client_secret: None,
    });
    assert!(app.wizard.is_none(), "the wizard closed");
    assert_eq!(app.selected.as_deref(), Some("m365"));
    let sign_in = app.sign_in.as_ref().expect("the sign-in dialog opened");
    assert_eq!(
        (sign_in.name.as_str(), sign_in.method),
        ("m365", SignInMethod::Device)
    );
    assert_eq!(app.poll_after_sign_in.as_deref(), Some("m365"));
    app.apply_update(Update::SignInStarted {
        name: "m365".into(),
        session: "s1".into(),
        prompt: SignInPrompt::Device {
            verification_uri: "https://microsoft.com/devicelogin".into(),
            verification_uri_complete: None,
            user_code: "ABCD-EFGH".into(),
            expires_in_secs: 900,
        },
    });
    app.apply_update(Update::SignIn {
        session: "s1".into(),
        state: SignInState::Done {
            message: "signed in".into(),
        },
    });
    assert_eq!(app.poll_after_sign_in, None, "the first poll was asked for");
}
