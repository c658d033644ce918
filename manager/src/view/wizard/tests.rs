//! The wizard's steps drawn and driven by their accessible names, with no worker behind
//! the window (nothing is sent that needs an answer).

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use mailpull_shared::config::{Protocol, Security};
use mailpull_shared::ipc::Endpoint;

use crate::app::{ManagerApp, Settings};
use crate::wizard::{RemotePreset, Step, Wizard};

type Gui = Harness<'static, ManagerApp>;

fn window(dir: &tempfile::TempDir) -> Gui {
    let config = dir.path().join("mailpull.toml");
    let mut app =
        ManagerApp::with_endpoint(Endpoint::for_config(&config), Settings::default()).expect("app");
    app.wizard = Some(Wizard::default());
    Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_ui_state(|ui, app: &mut ManagerApp| crate::view::show(app, ui), app)
}

fn click(gui: &mut Gui, label: &str) {
    gui.get_by_label(label).click();
    gui.run_steps(3);
}

fn type_into(gui: &mut Gui, label: &str, text: &str) {
    gui.get_by_label(label).focus();
    gui.step();
    gui.get_by_label(label).type_text(text);
    gui.run_steps(2);
}

fn shows(gui: &Gui, text: &str) -> bool {
    gui.query_all_by_label_contains(text).next().is_some()
}

fn wizard(gui: &Gui) -> &Wizard {
    gui.state().wizard.as_ref().expect("the wizard is open")
}

#[test]
fn each_step_checks_its_answers_and_back_keeps_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut gui = window(&dir);
    gui.run_steps(2);
    assert!(shows(&gui, "step 1 of 5: Mailbox"));
    assert!(
        gui.query_by_label("Back").is_none(),
        "no Back on the first step"
    );
    click(&mut gui, "Next");
    assert!(shows(&gui, "Choose where your mail is now."));

    // A provider: its server shown in words, no search needed.
    click(&mut gui, "Microsoft 365");
    assert!(shows(
        &gui,
        "Server: outlook.office365.com (IMAP, encrypted with TLS, port 993)."
    ));
    assert!(gui.query_by_label("Mail server name").is_none());
    click(&mut gui, "Next");
    assert_eq!(wizard(&gui).step, Step::SignIn);
    assert!(
        gui.query_by_label("Password").is_none(),
        "OAuth: no password"
    );
    type_into(&mut gui, "User name", "alice@contoso.example");
    type_into(&mut gui, "Application (client) ID", "0000-1111");
    assert!(gui.query_by_label("Tenant (optional)").is_some());
    gui.check_accessibility();

    // Back to the first step and another choice: the typed user name stays.
    click(&mut gui, "Back");
    click(&mut gui, "My ISP or web host");
    assert!(gui.query_by_label("Mail server name").is_some());
    type_into(&mut gui, "Mail server name", "mail.myisp.example");
    click(&mut gui, "Next");
    assert!(
        shows(&gui, "Press \"Find my server\""),
        "the search comes first"
    );
    assert_eq!(wizard(&gui).step, Step::Mailbox);
    gui.check_accessibility();
    // What the search found, as the worker would answer (no worker here).
    {
        let w = gui.state_mut().wizard.as_mut().expect("wizard");
        let found = vec![
            mailpull_shared::ipc::ServerFinding {
                candidate: mailpull_shared::ipc::ServerCandidate::new("pop3", 995, "tls"),
                works: false,
                detail: "nothing answers on port 995 (connection refused)".into(),
            },
            mailpull_shared::ipc::ServerFinding {
                candidate: mailpull_shared::ipc::ServerCandidate::new("imap", 143, "starttls"),
                works: true,
                detail: "IMAP with STARTTLS answers on port 143".into(),
            },
        ];
        w.search
            .found("mail.myisp.example".into(), found, &mut w.fields);
    }
    gui.run_steps(2);
    assert!(shows(
        &gui,
        "POP3, port 995, encrypted (TLS): not usable — nothing answers"
    ));
    assert!(shows(
        &gui,
        "Mailpull will use IMAP, port 143, encrypted after connecting (STARTTLS)"
    ));
    assert_eq!(wizard(&gui).fields.protocol, Protocol::Imap);
    assert_eq!(wizard(&gui).fields.remote_security(), Security::StartTls);
    click(&mut gui, "Next");
    assert_eq!(wizard(&gui).step, Step::SignIn);
    assert_eq!(
        wizard(&gui).fields.username,
        "alice@contoso.example",
        "kept"
    );
    assert!(gui.query_by_label("Password").is_some(), "a password now");
    click(&mut gui, "Next");
    assert!(shows(&gui, "Type the password of the mailbox."));
    type_into(&mut gui, "Password", "secret-pw");
    click(&mut gui, "Next");

    // Your mail server: Exchange asks for encryption and offers the certificate file.
    assert_eq!(wizard(&gui).step, Step::Delivery);
    click(&mut gui, "Exchange");
    assert!(gui.query_by_label("Server certificate file").is_some());
    assert_eq!(wizard(&gui).fields.smtp_security, Some(Security::StartTls));
    click(&mut gui, "hMailServer");
    assert!(gui.query_by_label("Server certificate file").is_none());
    gui.check_accessibility();
    click(&mut gui, "Next");

    // Recipients: a catch-all asks for the domains and the mailbox for the rest.
    click(
        &mut gui,
        "A catch-all mailbox: each message goes to the local users it is addressed to",
    );
    click(&mut gui, "Next");
    assert!(shows(&gui, "Type your mail domains"));
    type_into(&mut gui, "Your mail domains", "example.com");
    type_into(
        &mut gui,
        "Mailbox for everything else",
        "postmaster@example.com",
    );
    gui.check_accessibility();
    click(&mut gui, "Next");

    // The last step: a name suggested, the summary in words, Test and Save.
    assert_eq!(wizard(&gui).step, Step::Finish);
    assert_eq!(wizard(&gui).fields.name, "alice-contoso");
    assert!(shows(
        &gui,
        "Collect the mail of alice@contoso.example at mail.myisp.example (IMAP, port 143) every 10 minutes."
    ));
    assert!(shows(
        &gui,
        "the people of example.com (everything else to postmaster@example.com)"
    ));
    assert!(gui.query_by_label("Test connection").is_some());
    assert!(gui.query_by_label("Save and start").is_some());
    gui.check_accessibility();
    assert!(wizard(&gui).remote == Some(RemotePreset::Isp));
}

#[test]
fn cancel_leaves_nothing_behind_and_the_full_form_is_one_click_away() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut gui = window(&dir);
    gui.run_steps(2);
    click(&mut gui, "My ISP or web host");
    type_into(&mut gui, "Mail server name", "mail.myisp.example");
    click(&mut gui, "Cancel");
    assert!(gui.state().wizard.is_none());
    assert!(!gui.state().editor.editing(), "no form left open");
    assert!(gui.state().selected.is_none());
    assert!(
        !dir.path().join("mailpull.toml").exists(),
        "nothing written"
    );
    assert!(shows(&gui, "Select a profile on the left, or press New."));

    // New opens it again, empty; "Use the full form instead" gives the empty form.
    click(&mut gui, "New");
    assert_eq!(wizard(&gui).fields.server, "", "a fresh wizard");
    click(&mut gui, "Use the full form instead");
    assert!(gui.state().wizard.is_none());
    assert!(gui.state().editor.editing());
    assert!(
        gui.query_by_label("Server").is_some(),
        "the form's Remote section"
    );
}
