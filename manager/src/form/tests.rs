use mailpull_shared::config::raw::{RawPassword, RawPasswordSource, RawRemote};
use mailpull_shared::ipc::{FieldProblem, ProfileForm};

use super::*;

fn filled() -> FormFields {
    FormFields {
        name: "isp".into(),
        server: "pop.example.com".into(),
        username: "joe".into(),
        local_user: "joe".into(),
        local_domain: "example.org".into(),
        ..FormFields::default()
    }
}

#[test]
fn a_new_profile_polls_every_ten_minutes_and_uses_the_keyring() {
    let profile = filled().to_profile(&ProfileForm::default()).expect("valid");
    assert_eq!(profile.interval.as_deref(), Some("10m"));
    let remote = profile.remote.expect("remote");
    assert_eq!(remote.host.as_deref(), Some("pop.example.com"));
    assert_eq!(
        remote.password,
        Some(RawPassword::Source(RawPasswordSource {
            keyring: Some(true),
            ..Default::default()
        }))
    );
}

#[test]
fn bad_ports_intervals_and_notation_are_named() {
    let mut fields = filled();
    fields.port = "70000".into();
    fields.interval = "soon".into();
    let problems = fields.to_profile(&ProfileForm::default()).expect_err("bad");
    let names: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(names, ["remote.port", "interval"]);
    assert!(problems[0].message.contains("70000"), "{problems:?}");

    let mut fields = filled();
    fields.server = "pop.example.com 99999s".into();
    let problems = fields.to_profile(&ProfileForm::default()).expect_err("bad");
    assert_eq!(problems[0].field, "remote.server");
}

#[test]
fn problems_read_with_the_form_labels() {
    let problem = FieldProblem {
        profile: Some("isp".into()),
        field: "remote.port".into(),
        message: "\"70000\" is not a port (1-65535)".into(),
    };
    assert_eq!(
        describe_problem(&problem),
        "Port: \"70000\" is not a port (1-65535)"
    );
    assert_eq!(field_label("distribute.max_received"), "Max Received");
    assert_eq!(field_label("worker.log_level"), "worker.log_level");
}

/// `host 995s` is read into the one host, port and security of the form, saved back as
/// written while it means the same, and as host/port/security once changed.
#[test]
fn the_server_notation_reads_into_one_tls_choice() {
    let read = ProfileForm {
        name: Some("isp".into()),
        remote: Some(RawRemote {
            server: Some("pop.example.com 995s".into()),
            username: Some("joe".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut fields = FormFields::from_profile(&read);
    assert_eq!(fields.server, "pop.example.com");
    assert_eq!(fields.port, "995");
    assert_eq!(fields.security, Some(Security::Tls));
    let saved = fields.to_profile(&read).expect("valid");
    let remote = saved.remote.expect("remote");
    assert_eq!(remote.server.as_deref(), Some("pop.example.com 995s"));
    assert_eq!(
        (remote.host, remote.port, remote.security),
        (None, None, None)
    );

    // STARTTLS: the port that was the default follows the choice; the notation goes.
    fields.choose_transport(Protocol::Pop3, Security::StartTls);
    assert_eq!(fields.port, "", "995 was TLS's default: it follows");
    assert_eq!(fields.default_port(), 110);
    let remote = fields
        .to_profile(&read)
        .expect("valid")
        .remote
        .expect("remote");
    assert_eq!(remote.server, None);
    assert_eq!(remote.host.as_deref(), Some("pop.example.com"));
    assert_eq!(remote.port, None);
    assert_eq!(remote.security.as_deref(), Some("starttls"));

    // A typed port stays whatever the choice.
    fields.port = "1995".into();
    fields.choose_transport(Protocol::Imap, Security::Tls);
    assert_eq!(fields.port, "1995");

    // Another protocol keeps an unwritten security unwritten.
    let mut fields = filled();
    fields.choose_transport(Protocol::Imap, fields.remote_security());
    assert_eq!((fields.protocol, fields.security), (Protocol::Imap, None));

    // The notation is refused in the host field, with a plain reason.
    fields.server = "pop.example.com 995s".into();
    let problems = fields.to_profile(&read).expect_err("notation");
    assert_eq!(problems[0].field, "remote.server");
    assert!(
        problems[0].message.contains("host name only"),
        "{problems:?}"
    );
}

/// Every field of a `[[profile]]` table the form shows.
fn everything() -> ProfileForm {
    let toml = r#"
        name = "all"
        enabled = false
        interval = "5m"
        after_delivery = { keep_days = 30 }
        push = true
        [remote]
        protocol = "imap"
        host = "imap.example.com"
        port = 1993
        security = "ssl"
        username = "joe"
        password = { env = "JOE_PW" }
        auth = "plain"
        ca_file = "/etc/ca.pem"
        folders = ["INBOX", "Spam"]
        timeout = "90s"
        max_message_mb = 25
        [local]
        smtp = "exchange.example.org:587"
        smtp_security = "tls"
        ca_file = "/etc/exchange-ca.pem"
        user = "joe"
        domain = "example.org"
        [distribute]
        enabled = true
        local_domains = ["example.org", "example.net"]
        fallback = "postmaster"
        aliases = { info = "alice", sales = "bob" }
        envelope_headers = ["X-Original-To", "Delivered-To"]
        visible_headers = ["To"]
        received_trusted = 2
        max_received = 40
        recipient_delimiter = "-"
    "#;
    toml::from_str(toml).expect("profile")
}

#[test]
fn every_field_of_a_profile_round_trips_unchanged() {
    let read = everything();
    let fields = FormFields::from_profile(&read);
    assert_eq!(fields.timeout, "90s");
    assert_eq!(fields.max_message_mb, "25");
    assert_eq!(fields.smtp_security, Some(Security::Tls));
    assert_eq!(fields.local_ca_file, "/etc/exchange-ca.pem");
    assert_eq!(fields.envelope_headers, "X-Original-To, Delivered-To");
    assert_eq!(fields.visible_headers, "To");
    assert_eq!(
        (
            fields.received_trusted.as_str(),
            fields.max_received.as_str()
        ),
        ("2", "40")
    );
    assert_eq!(fields.recipient_delimiter, "-");
    let saved = fields.to_profile(&read).expect("valid");
    assert_eq!(saved, read, "saved exactly as read");
    // Saved onto an empty base (a duplicate), it is the same profile too.
    let copy = fields.to_profile(&ProfileForm::default()).expect("valid");
    assert_eq!(FormFields::from_profile(&copy), fields);
}

#[test]
fn the_new_fields_are_written_and_checked() {
    let mut fields = FormFields::from_profile(&everything());
    fields.timeout = "2m".into();
    fields.max_message_mb = "50".into();
    fields.smtp_security = Some(Security::StartTls);
    fields.local_ca_file.clear();
    fields.envelope_headers = "Envelope-To".into();
    fields.recipient_delimiter = "none".into();
    let saved = fields.to_profile(&everything()).expect("valid");
    let (remote, local, distribute) = (
        saved.remote.expect("remote"),
        saved.local.expect("local"),
        saved.distribute.expect("distribute"),
    );
    assert_eq!(remote.timeout.as_deref(), Some("2m"));
    assert_eq!(remote.max_message_mb, Some(50));
    assert_eq!(local.smtp_security.as_deref(), Some("starttls"));
    assert_eq!(local.ca_file, None);
    assert_eq!(
        distribute.envelope_headers,
        Some(vec!["Envelope-To".into()])
    );
    assert_eq!(distribute.recipient_delimiter.as_deref(), Some(""), "none");

    fields.timeout = "0s".into();
    fields.max_message_mb = "lots".into();
    fields.max_received = "-1".into();
    let problems = fields.to_profile(&everything()).expect_err("bad");
    let names: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        names,
        [
            "remote.timeout",
            "remote.max_message_mb",
            "distribute.max_received"
        ]
    );
    assert_eq!(
        describe_problem(&problems[1]).split(':').next(),
        Some("Max message size")
    );
}

#[test]
fn the_local_security_shown_is_the_one_in_effect() {
    let mut fields = filled();
    assert_eq!(fields.local_security(), Security::Plain, "127.0.0.1:25");
    fields.smtp = "exchange.example.org:25".into();
    assert_eq!(fields.local_security(), Security::StartTls);
    let local = fields
        .to_profile(&ProfileForm::default())
        .expect("valid")
        .local
        .expect("local");
    assert_eq!(
        local.smtp_security, None,
        "not chosen: the default stays unwritten"
    );
}

#[test]
fn an_edit_keeps_what_the_form_does_not_show_and_round_trips() {
    let mut fields = filled();
    fields.protocol = Protocol::Imap;
    fields.folders = "INBOX, Spam".into();
    fields.after_delivery = AfterDelivery::KeepDays;
    fields.keep_days = "30".into();
    fields.distribute = true;
    fields.local_domains = "example.org, example.net".into();
    fields.fallback = "postmaster".into();
    fields.aliases = "info = alice\nsales = bob".into();
    let base = ProfileForm {
        remote: Some(RawRemote {
            timeout: Some("30s".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    fields.timeout = "30s".into();
    let profile = fields.to_profile(&base).expect("valid");
    assert_eq!(
        profile.remote.as_ref().and_then(|r| r.timeout.as_deref()),
        Some("30s")
    );
    let back = FormFields::from_profile(&profile);
    assert_eq!(back, fields);
}

fn oauth() -> FormFields {
    FormFields {
        protocol: Protocol::Imap,
        auth: AuthMethod::XOAuth2,
        provider: OAuthProvider::Microsoft,
        client_id: "9e5f94bc-e8a4-4e73-b8be-63364c29d753".into(),
        tenant: "contoso.onmicrosoft.com".into(),
        password: "typed before switching".into(),
        ..filled()
    }
}

#[test]
fn an_oauth_profile_writes_its_client_and_no_password() {
    let fields = oauth();
    let base = ProfileForm {
        remote: Some(RawRemote {
            password: Some(RawPassword::Source(RawPasswordSource {
                keyring: Some(true),
                ..Default::default()
            })),
            ..Default::default()
        }),
        ..Default::default()
    };
    let profile = fields.to_profile(&base).expect("valid");
    let remote = profile.remote.clone().expect("remote");
    assert_eq!(remote.auth.as_deref(), Some("xoauth2"));
    assert_eq!(remote.password, None, "an OAuth profile has no password");
    let oauth2 = remote.oauth2.expect("oauth2 table");
    assert_eq!(oauth2.provider.as_deref(), Some("microsoft"));
    assert_eq!(oauth2.tenant.as_deref(), Some("contoso.onmicrosoft.com"));
    assert_eq!(oauth2.client_secret, None);
    assert_eq!(oauth2.scopes, None, "the preset's scopes");
    assert_eq!(fields.password_to_send(), None);
    assert_eq!(fields.client_secret_to_send(), None, "no secret typed");

    let mut back = FormFields::from_profile(&profile);
    back.password = fields.password.clone();
    assert_eq!(back, fields);
}

/// The `[profile.remote.oauth2]` table the form wrote.
fn oauth2_of(profile: &ProfileForm) -> mailpull_shared::config::raw::RawOAuth2 {
    profile
        .remote
        .as_ref()
        .and_then(|r| r.oauth2.clone())
        .expect("oauth2")
}

#[test]
fn a_custom_provider_round_trips_with_a_secret_source() {
    let mut fields = oauth();
    fields.password.clear();
    fields.auth = AuthMethod::OAuthBearer;
    fields.provider = OAuthProvider::Custom;
    fields.tenant.clear();
    fields.secret_from = SecretFrom::File;
    fields.secret_ref = "/etc/mailpull/client.secret".into();
    fields.scopes = "mail, offline_access".into();
    fields.device_url = "https://id.example.com/device".into();
    fields.token_url = "https://id.example.com/token".into();
    let profile = fields.to_profile(&ProfileForm::default()).expect("valid");
    let oauth2 = oauth2_of(&profile);
    assert_eq!(
        oauth2.client_secret,
        Some(RawPassword::Source(RawPasswordSource {
            file: Some("/etc/mailpull/client.secret".into()),
            ..Default::default()
        }))
    );
    assert_eq!(
        oauth2.scopes,
        Some(vec!["mail".to_string(), "offline_access".to_string()])
    );
    assert_eq!(FormFields::from_profile(&profile), fields);

    // Back to a password: the oauth2 table goes, the password source comes back.
    fields.auth = AuthMethod::Login;
    let profile = fields.to_profile(&profile).expect("valid");
    let remote = profile.remote.expect("remote");
    assert_eq!(remote.auth.as_deref(), Some("login"), "IMAP says login");
    assert_eq!(remote.oauth2, None);
    assert!(remote.password.is_some());
}

#[test]
fn a_typed_client_secret_is_sent_only_for_a_keyring_source_and_never_written() {
    let mut fields = oauth();
    fields.password.clear();
    fields.secret_from = SecretFrom::Keyring;
    fields.client_secret = "GOCSPX-typed".into();
    assert_eq!(
        fields
            .client_secret_to_send()
            .as_ref()
            .map(mailpull_shared::ipc::WirePassword::expose),
        Some("GOCSPX-typed")
    );
    let profile = fields.to_profile(&ProfileForm::default()).expect("valid");
    let written = serde_json::to_string(&profile).expect("json");
    assert!(!written.contains("GOCSPX"), "{written}");
    let oauth2 = oauth2_of(&profile);
    assert_eq!(
        oauth2.client_secret,
        Some(RawPassword::Source(RawPasswordSource {
            keyring: Some(true),
            ..Default::default()
        }))
    );
    // Read back, the form never shows it.
    assert_eq!(FormFields::from_profile(&profile).client_secret, "");
    assert!(
        !format!("{fields:?}").contains("GOCSPX-typed"),
        "Debug shows it"
    );

    fields.secret_from = SecretFrom::File;
    assert_eq!(fields.client_secret_to_send(), None, "a file holds it");
    fields.secret_from = SecretFrom::Keyring;
    fields.auth = AuthMethod::Login;
    assert_eq!(fields.client_secret_to_send(), None, "not an OAuth profile");
}

#[test]
fn oauth_and_auth_problems_are_named() {
    let mut fields = oauth();
    fields.client_id.clear();
    fields.provider = OAuthProvider::Custom;
    fields.secret_from = SecretFrom::Env;
    let problems = fields.to_profile(&ProfileForm::default()).expect_err("bad");
    let names: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        names,
        [
            "remote.oauth2.client_id",
            "remote.oauth2.client_secret",
            "remote.oauth2.scopes",
            "remote.oauth2.token_url",
            "remote.oauth2.device_authorization_url",
        ]
    );
    assert_eq!(
        describe_problem(&problems[0]).split(':').next(),
        Some("Client ID")
    );

    let mut fields = filled();
    fields.protocol = Protocol::Imap;
    fields.auth = AuthMethod::Apop;
    let problems = fields.to_profile(&ProfileForm::default()).expect_err("bad");
    assert_eq!(problems[0].field, "remote.auth");
}

#[test]
fn every_auth_choice_reads_back() {
    assert_eq!(
        AUTH_CHOICES.len(),
        AuthMethod::ALL.len(),
        "a choice per login"
    );
    for (auth, label) in AUTH_CHOICES {
        assert_eq!(auth_label(auth), label);
        for protocol in [Protocol::Pop3, Protocol::Imap] {
            if !auth.is_available(protocol) {
                continue;
            }
            let fields = FormFields {
                protocol,
                auth,
                ..oauth()
            };
            let profile = fields.to_profile(&ProfileForm::default()).expect("valid");
            let written = profile.remote.as_ref().and_then(|r| r.auth.clone());
            assert_eq!(FormFields::from_profile(&profile).auth, auth, "{written:?}");
        }
    }
}

/// `security = "ssl"` is what the checker reads as TLS; the window must not drop it.
#[test]
fn a_profile_with_security_ssl_saves_it_back_unchanged() {
    let read = ProfileForm {
        name: Some("isp".into()),
        remote: Some(RawRemote {
            protocol: Some("pop3".into()),
            host: Some("pop.example.com".into()),
            port: Some(110),
            security: Some("ssl".into()),
            username: Some("joe".into()),
            password: Some(RawPassword::Source(RawPasswordSource {
                keyring: Some(true),
                ..Default::default()
            })),
            ..Default::default()
        }),
        ..Default::default()
    };
    let fields = FormFields::from_profile(&read);
    let saved = fields.to_profile(&read).expect("a valid profile saves");
    assert_eq!(saved.remote, read.remote);
}

#[test]
fn the_password_is_sent_only_for_keyring_profiles() {
    let mut fields = filled();
    fields.password = "hunter2".into();
    assert_eq!(
        fields
            .password_to_send()
            .as_ref()
            .map(mailpull_shared::ipc::WirePassword::expose),
        Some("hunter2")
    );
    let shown = format!("{fields:?} {:?}", fields.password_to_send());
    assert!(
        !shown.contains("hunter2"),
        "Debug shows the password: {shown}"
    );
    fields.password_from = PasswordFrom::File;
    fields.password_ref = "/etc/pw".into();
    assert_eq!(fields.password_to_send(), None);
}
