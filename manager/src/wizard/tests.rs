use mailpull_shared::config::{AuthMethod, OAuthProvider, Protocol, Security};
use mailpull_shared::ipc::{ProfileForm, ServerCandidate, ServerFinding};

use super::*;
use crate::form::PasswordFrom;

fn finding(protocol: &str, port: u16, security: &str, works: bool) -> ServerFinding {
    ServerFinding {
        candidate: ServerCandidate::new(protocol, port, security),
        works,
        detail: if works { "answers" } else { "nothing answers" }.into(),
    }
}

/// A wizard filled through step 4 for "my ISP", the server found on POP3 over TLS.
fn filled() -> Wizard {
    let mut w = Wizard::default();
    w.choose_remote(RemotePreset::Isp);
    w.fields.server = "mail.myisp.example".into();
    w.search.found(
        "mail.myisp.example".into(),
        vec![
            finding("pop3", 995, "tls", true),
            finding("imap", 993, "tls", true),
        ],
        &mut w.fields,
    );
    w.next();
    w.fields.username = "alice@myisp.example".into();
    w.fields.password = "pw".into();
    w.next();
    w.choose_local(LocalPreset::HMailServer);
    w.next();
    w.fields.local_user = "alice".into();
    w.fields.local_domain = "example.com".into();
    w.next();
    w
}

#[test]
fn the_remote_presets_fill_the_server_and_login_the_oauth_support_expects() {
    let mut w = Wizard::default();
    w.choose_remote(RemotePreset::Microsoft365);
    let f = &w.fields;
    assert_eq!(f.server, "outlook.office365.com");
    assert_eq!(
        (f.protocol, f.remote_security()),
        (Protocol::Imap, Security::Tls)
    );
    assert_eq!(f.default_port(), 993);
    assert_eq!(f.auth, AuthMethod::XOAuth2);
    assert_eq!(f.provider, OAuthProvider::Microsoft);
    assert_eq!(
        f.secret_from,
        crate::form::SecretFrom::None,
        "a public client"
    );

    w.choose_remote(RemotePreset::Google);
    assert_eq!(w.fields.server, "imap.gmail.com");
    assert_eq!(w.fields.provider, OAuthProvider::Google);
    assert_eq!(
        w.fields.secret_from,
        crate::form::SecretFrom::Keyring,
        "Google's clients have a secret"
    );

    w.choose_remote(RemotePreset::OutlookCom);
    assert_eq!(w.fields.server, "outlook.office365.com");
    assert_eq!(w.fields.tenant, "consumers", "personal accounts");

    w.choose_remote(RemotePreset::Isp);
    assert_eq!(w.fields.server, "", "typed by the person");
    assert_eq!(w.fields.auth, AuthMethod::Auto);
    assert_eq!(w.fields.password_from, PasswordFrom::Keyring);
}

#[test]
fn the_local_presets_fill_the_server_and_its_encryption() {
    let mut w = Wizard::default();
    w.choose_local(LocalPreset::Exchange);
    assert_eq!(w.fields.smtp, "", "its name is typed");
    w.set_local_starttls(true);
    assert!(w.local_starttls(), "Exchange: STARTTLS");
    assert!(w.problems(Step::Delivery)[0].contains("Type your mail server"));
    w.choose_local(LocalPreset::HMailServer);
    assert_eq!(w.fields.smtp, "127.0.0.1:25");
    assert!(!w.local_starttls(), "on this computer: plain");
    assert_eq!(w.fields.smtp_security, None, "the default, not written");
    w.set_local_starttls(true);
    assert_eq!(w.fields.smtp_security, Some(Security::StartTls));
    w.set_local_starttls(false);
    assert_eq!(w.fields.smtp_security, None);
    w.choose_local(LocalPreset::Postfix);
    assert_eq!(w.fields.smtp, "127.0.0.1:25");
}

#[test]
fn next_refuses_an_incomplete_step_in_plain_words() {
    let mut w = Wizard::default();
    w.next();
    assert_eq!(w.step, Step::Mailbox);
    assert_eq!(w.problems, ["Choose where your mail is now."]);
    w.choose_remote(RemotePreset::Isp);
    w.next();
    assert!(w.problems[0].contains("server"), "{:?}", w.problems);
    w.fields.server = "mail.myisp.example".into();
    w.next();
    assert!(w.problems[0].contains("Find my server"), "{:?}", w.problems);
    // Nothing works with encryption: still refused.
    w.search.found(
        "mail.myisp.example".into(),
        vec![finding("pop3", 995, "tls", false)],
        &mut w.fields,
    );
    w.next();
    assert_eq!(w.step, Step::Mailbox);
    let summary = w.search.summary(&w.fields).expect("summary");
    assert!(summary.contains("none of the usual ports"), "{summary}");

    let mut w = Wizard::default();
    w.choose_remote(RemotePreset::Microsoft365);
    w.next();
    assert_eq!(w.step, Step::SignIn, "a provider needs no search");
    w.next();
    assert_eq!(
        w.problems,
        [
            "Type the user name (usually the e-mail address).",
            "Type the application (client) ID."
        ]
    );

    let mut w = filled();
    assert_eq!(w.step, Step::Finish);
    w.back();
    w.back();
    w.fields.smtp = "no port".into();
    w.next();
    assert!(
        w.problems[0].contains("is not a server name and port"),
        "{:?}",
        w.problems
    );
    w.fields.smtp = "127.0.0.1:25".into();
    w.next();
    w.choose_recipients(Recipients::CatchAll);
    w.next();
    assert_eq!(
        w.problems.len(),
        2,
        "domains and fallback: {:?}",
        w.problems
    );
    w.fields.local_domains = "example.com".into();
    w.fields.fallback = "postmaster@example.com".into();
    w.next();
    assert_eq!(w.step, Step::Finish);
    assert!(w.fields.distribute, "catch-all distributes");
}

#[test]
fn back_keeps_every_value_and_the_search_chooses_the_first_that_works() {
    let mut w = filled();
    assert_eq!(w.fields.name, "alice-myisp", "suggested from the user name");
    let before = w.fields.clone();
    for _ in 0..4 {
        w.back();
    }
    assert_eq!(w.step, Step::Mailbox);
    w.back();
    assert_eq!(w.step, Step::Mailbox, "nothing before the first step");
    assert_eq!(w.fields, before, "Back keeps the values");
    // Choosing the same preset again keeps what was typed and found.
    w.choose_remote(RemotePreset::Isp);
    assert_eq!(w.fields.server, "mail.myisp.example");
    assert!(w.search.chosen(&w.fields), "POP3 over TLS chosen");
    assert_eq!(w.fields.protocol, Protocol::Pop3);
    assert_eq!(w.fields.port, "", "995 is POP3's TLS default: not written");
    // The person picks IMAP instead.
    choose(&ServerCandidate::new("imap", 993, "tls"), &mut w.fields);
    assert_eq!(w.fields.protocol, Protocol::Imap);
    assert!(w.search.chosen(&w.fields));
    // A host typed after the search needs a new one.
    w.fields.server = "other.example".into();
    assert!(!w.search.chosen(&w.fields));
}

#[test]
fn the_filled_wizard_writes_the_profile_the_form_would() {
    let w = filled();
    let profile = w
        .fields
        .to_profile(&ProfileForm::default())
        .expect("a valid profile");
    let text = toml::to_string(&profile).expect("toml");
    for line in [
        "name = \"alice-myisp\"",
        "protocol = \"pop3\"",
        "host = \"mail.myisp.example\"",
        "keyring = true",
        "smtp = \"127.0.0.1:25\"",
        "user = \"alice\"",
        "domain = \"example.com\"",
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
    assert!(!text.contains("pw"), "no password in the profile: {text}");
    assert!(
        w.fields.password_to_send().is_some(),
        "sent one way on Save"
    );
}

#[test]
fn suggested_names_are_plain() {
    assert_eq!(
        suggested_name("Bob.Smith@Mail.Example.com"),
        "bob-smith-mail"
    );
    assert_eq!(suggested_name("isp-user"), "isp-user");
    assert_eq!(suggested_name(""), "mailbox");
}
