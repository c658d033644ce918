//! Configuration loading: the sample in assets/ is valid, and every broken file under
//! tests/config/broken/ fails with the message its first line (`# expect: ...`) names,
//! prefixed by the file name.

use std::path::{Path, PathBuf};
use std::time::Duration;

use mailpull_shared::config::{
    self, AfterDelivery, AuthMethod, Credentials, OAuthProvider, Protocol, Security,
};
use mailpull_shared::secrets::PasswordSource;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn sample_config_is_valid() {
    let path = repo_root().join("assets/mailpull.sample.toml");
    let config = config::load(&path).expect("the sample config must be valid");
    assert_eq!(config.worker.max_connections, 64);
    assert_eq!(config.worker.max_connections_per_host, 4);
    assert_eq!(config.profiles.len(), 2);
    // The installer copies the sample as the first configuration: its placeholders must not
    // poll (and fail) before the administrator has made a profile of their own.
    for profile in &config.profiles {
        assert!(
            !profile.enabled,
            "sample profile {} is enabled",
            profile.name
        );
    }

    let user1 = config.profile("user1").expect("user1");
    assert_eq!(user1.interval, Duration::from_secs(600));
    assert_eq!(user1.after_delivery, AfterDelivery::Delete);
    assert_eq!(user1.remote.protocol, Protocol::Pop3);
    assert_eq!(
        (user1.remote.host.as_str(), user1.remote.port),
        ("mail.myisp.com", 995)
    );
    assert_eq!(user1.remote.security, Security::Tls);
    assert_eq!(
        user1.remote.credentials,
        Credentials::Password(PasswordSource::Keyring)
    );
    assert_eq!(user1.local.address(), "user1@mydomain.com");
    assert_eq!(user1.local.smtp_security, Security::Plain);
    assert!(user1.distribute.is_none());

    let catch_all = config.profile("catch-all").expect("catch-all");
    assert_eq!(catch_all.remote.protocol, Protocol::Imap);
    assert_eq!(
        (catch_all.remote.host.as_str(), catch_all.remote.port),
        ("imap.myisp.com", 993)
    );
    assert_eq!(catch_all.remote.security, Security::Tls);
    assert_eq!(catch_all.remote.folders, vec!["INBOX".to_string()]);
    let distribute = catch_all.distribute.as_ref().expect("distribute");
    assert_eq!(
        distribute.local_domains,
        vec!["mydomain.com", "mydomain.de"]
    );
    assert_eq!(distribute.fallback, "postmaster");
    assert_eq!(
        distribute.aliases.get("sales").map(String::as_str),
        Some("alice")
    );
}

#[test]
fn broken_configs_fail_with_their_expected_message() {
    let dir = repo_root().join("shared/tests/config/broken");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("broken config dir")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "at least ten broken configs, found {}",
        files.len()
    );
    let mut failures = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).expect("read");
        let expected = text
            .lines()
            .next()
            .and_then(|line| line.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} lacks a '# expect: ' first line", path.display()));
        match config::load(path) {
            Ok(_) => failures.push(format!(
                "{}: accepted, expected error {expected:?}",
                path.display()
            )),
            Err(err) => {
                let message = err.to_string();
                let wanted = format!("{}: {expected}", path.display());
                if !message.lines().any(|line| line.starts_with(&wanted)) {
                    failures.push(format!(
                        "{}:\n  expected: {wanted}\n  got:      {message}",
                        path.display()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn all_errors_are_reported_at_once() {
    let text = r#"
[[profile]]
name = "a"
interval = "1s"
[profile.remote]
host = "h"
port = 0
username = "u"
password = { env = "X" }
[profile.local]
user = "u"
domain = "d.example"
"#;
    let err = config::parse(text, "f.toml").unwrap_err();
    assert_eq!(err.errors.len(), 2, "{err}");
    assert!(err.to_string().contains("f.toml: profile \"a\": interval:"));
    assert!(
        err.to_string()
            .contains("f.toml: profile \"a\": remote.port:")
    );
}

#[test]
fn server_notation_without_s_upgrades_with_starttls() {
    let text = r#"
[[profile]]
name = "a"
[profile.remote]
server = "pop.example.com 110"
username = "u"
password = { env = "X" }
[profile.local]
user = "u"
domain = "d.example"
"#;
    let config = config::parse(text, "f.toml").expect("valid");
    let remote = &config.profiles[0].remote;
    assert_eq!(
        (remote.host.as_str(), remote.port, remote.security),
        ("pop.example.com", 110, Security::StartTls)
    );
}

#[test]
fn plain_and_defaults() {
    let text = r#"
[[profile]]
name = "a"
[profile.remote]
protocol = "imap"
host = "imap.example.com"
security = "plain"
username = "u"
password = { file = "/run/secrets/a" }
[profile.local]
smtp = "mail.internal:587"
user = "bob@other.example"
domain = "d.example"
"#;
    let config = config::parse(text, "f.toml").expect("valid");
    let profile = &config.profiles[0];
    assert_eq!(profile.remote.port, 143);
    assert_eq!(profile.remote.security, Security::Plain);
    assert!(profile.enabled);
    // A non-loopback local server is not spoken to in plaintext unless the profile says so.
    assert_eq!(profile.local.smtp_security, Security::StartTls);
    assert_eq!(profile.local.address(), "bob@other.example");
    // A failing message is held after 10 attempts or a day, whichever comes first.
    assert_eq!(config.worker.hold_after_attempts, 10);
    assert_eq!(config.worker.hold_after, Duration::from_secs(86_400));
    let set = text.replacen(
        "[[profile]]",
        "[worker]\nhold_after_attempts = 3\nhold_after = \"12h\"\n[[profile]]",
        1,
    );
    let config = config::parse(&set, "f.toml").expect("valid");
    assert_eq!(config.worker.hold_after_attempts, 3);
    assert_eq!(config.worker.hold_after, Duration::from_secs(12 * 3600));
    // The service secret store: none unless named; an absolute path only.
    assert_eq!(config.worker.secrets, None);
    let store = text.replacen(
        "[[profile]]",
        "[worker]\nsecrets = \"/etc/credstore/mailpull-secrets.toml\"\n[[profile]]",
        1,
    );
    let config = config::parse(&store, "f.toml").expect("valid");
    assert_eq!(
        config.worker.secrets.as_deref(),
        Some(std::path::Path::new("/etc/credstore/mailpull-secrets.toml"))
    );
    let relative = text.replacen(
        "[[profile]]",
        "[worker]\nsecrets = \"s.toml\"\n[[profile]]",
        1,
    );
    let err = config::parse(&relative, "f.toml").unwrap_err().to_string();
    assert!(
        err.contains("worker.secrets") && err.contains("not an absolute path"),
        "{err}"
    );
}

#[test]
fn the_memory_budget_defaults_to_256_mb_and_is_read() {
    let text = r#"
[[profile]]
name = "p"
[profile.remote]
host = "mail.example.com"
username = "u"
password = { env = "PW" }
[profile.local]
user = "alice"
domain = "example.com"
"#;
    let config = config::parse(text, "f.toml").expect("valid");
    assert_eq!(config.worker.memory_budget_bytes, 256 * 1024 * 1024);
    let set = format!("[worker]\nmemory_budget_mb = 64\n{text}");
    let config = config::parse(&set, "f.toml").expect("valid");
    assert_eq!(config.worker.memory_budget_bytes, 64 * 1024 * 1024);
}

#[test]
fn keep_days_and_push_are_read() {
    let text = r#"
[[profile]]
name = "kept"
after_delivery = { keep_days = 14 }
push = true
[profile.remote]
protocol = "imap"
host = "h.example"
username = "u"
password = { env = "X" }
[profile.local]
user = "u"
domain = "d.example"

[[profile]]
name = "plain"
after_delivery = "keep"
[profile.remote]
host = "h.example"
username = "v"
password = { env = "X" }
[profile.local]
user = "u"
domain = "d.example"
"#;
    let config = config::parse(text, "f.toml").expect("valid");
    let kept = config.profile("kept").expect("kept");
    assert_eq!(kept.after_delivery, AfterDelivery::KeepDays(14));
    assert!(kept.push);
    let plain = config.profile("plain").expect("plain");
    assert_eq!(plain.after_delivery, AfterDelivery::Keep);
    assert!(!plain.push);

    let too_long = text.replace("keep_days = 14", "keep_days = 3651");
    let err = config::parse(&too_long, "f.toml").unwrap_err();
    assert!(
        err.to_string()
            .contains("profile \"kept\": after_delivery.keep_days: 3651 is out of range"),
        "{err}"
    );
    let empty = text.replace("{ keep_days = 14 }", "{}");
    let err = config::parse(&empty, "f.toml").unwrap_err();
    assert!(
        err.to_string()
            .contains("profile \"kept\": after_delivery.keep_days: missing"),
        "{err}"
    );
}

#[test]
fn oauth2_presets_fill_in_endpoints_and_scopes() {
    let text = r#"
[[profile]]
name = "m365"
[profile.remote]
protocol = "pop3"
host = "outlook.office365.com"
username = "alice@contoso.com"
auth = "xoauth2"
[profile.remote.oauth2]
provider = "microsoft"
tenant = "contoso.onmicrosoft.com"
client_id = "11111111-2222-3333-4444-555555555555"
[profile.local]
user = "alice"
domain = "d.example"

[[profile]]
name = "gmail"
[profile.remote]
protocol = "imap"
host = "imap.gmail.com"
username = "alice@gmail.com"
auth = "oauthbearer"
[profile.remote.oauth2]
provider = "google"
client_id = "123.apps.googleusercontent.com"
client_secret = { env = "GOOGLE_SECRET" }
[profile.local]
user = "alice"
domain = "d.example"

[[profile]]
name = "lab"
[profile.remote]
protocol = "imap"
host = "127.0.0.1"
username = "alice"
auth = "xoauth2"
[profile.remote.oauth2]
provider = "custom"
client_id = "mailpull"
scopes = ["mail", "offline"]
device_authorization_url = "http://127.0.0.1:8080/device"
token_url = "http://127.0.0.1:8080/token"
[profile.local]
user = "alice"
domain = "d.example"
"#;
    let config = config::parse(text, "f.toml").expect("valid");
    let m365 = config.profile("m365").expect("m365");
    assert_eq!(m365.remote.auth, AuthMethod::XOAuth2);
    let Credentials::OAuth2(oauth) = &m365.remote.credentials else {
        panic!("an OAuth profile has its client and no password");
    };
    assert_eq!(oauth.provider, OAuthProvider::Microsoft);
    assert_eq!(
        oauth.token_url,
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
    );
    assert_eq!(
        oauth.device_authorization_url.as_deref(),
        Some("https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/devicecode")
    );
    assert_eq!(
        oauth.scopes,
        vec![
            "https://outlook.office.com/POP.AccessAsUser.All",
            "offline_access"
        ]
    );

    let gmail = config.profile("gmail").expect("gmail");
    assert_eq!(gmail.remote.auth, AuthMethod::OAuthBearer);
    let oauth = gmail.remote.credentials.oauth2().expect("oauth2");
    assert_eq!(oauth.token_url, "https://oauth2.googleapis.com/token");
    assert_eq!(
        oauth.authorization_url.as_deref(),
        Some("https://accounts.google.com/o/oauth2/v2/auth")
    );
    assert_eq!(oauth.scopes, vec!["https://mail.google.com/"]);
    assert_eq!(
        oauth.client_secret,
        Some(PasswordSource::Env("GOOGLE_SECRET".into()))
    );

    let lab = config.profile("lab").expect("lab");
    let oauth = lab.remote.credentials.oauth2().expect("oauth2");
    assert_eq!(oauth.provider, OAuthProvider::Custom);
    assert_eq!(oauth.authorization_url, None);
    assert_eq!(oauth.token_url, "http://127.0.0.1:8080/token");
}

/// The model's enums own their names: every value reads back from the name it writes, the
/// aliases the checker accepts read too, and a refusal lists every name.
#[test]
fn config_enums_read_back_their_names() {
    use std::str::FromStr;

    fn round_trip<T>(all: &[T])
    where
        T: FromStr<Err = String> + std::fmt::Display + PartialEq + std::fmt::Debug + Copy,
    {
        for value in all {
            assert_eq!(value.to_string().parse::<T>(), Ok(*value));
        }
    }
    round_trip(Protocol::ALL);
    round_trip(Security::ALL);
    round_trip(AuthMethod::ALL);
    round_trip(OAuthProvider::ALL);
    assert_eq!("ssl".parse::<Security>(), Ok(Security::Tls));
    assert_eq!("user".parse::<AuthMethod>(), Ok(AuthMethod::Login));
    assert_eq!(
        "tcp".parse::<Security>(),
        Err("\"tcp\" is not one of: tls, starttls, plain".to_string())
    );
    assert_eq!(
        AuthMethod::parse_for("apop", Protocol::Imap),
        Err(
            "\"apop\" is not one of: auto, login, plain, sasl-login, xoauth2, oauthbearer"
                .to_string()
        )
    );
    assert_eq!(
        AuthMethod::Login.name_for(Protocol::Pop3).parse(),
        Ok(AuthMethod::Login)
    );
    for mode in AfterDelivery::MODES {
        assert_eq!(AfterDelivery::from_mode(&mode.to_string()), Ok(mode));
    }
    assert_eq!(Security::default(), Security::Tls);
    assert_eq!(Protocol::default(), Protocol::Pop3);
    assert_eq!(AuthMethod::default(), AuthMethod::Auto);
    assert_eq!(AfterDelivery::default(), AfterDelivery::Delete);
}

/// The defaults as a profile writes them say what the checker assumes.
#[test]
fn written_defaults_match_the_checked_defaults() {
    use mailpull_shared::config::duration::parse_duration;
    use mailpull_shared::config::raw::{RawLocal, RawProfile, RawRemote};

    assert_eq!(
        parse_duration(config::DEFAULT_INTERVAL_TEXT),
        Ok(config::DEFAULT_INTERVAL)
    );
    let raw = RawProfile {
        name: Some("p".into()),
        remote: Some(RawRemote {
            host: Some("pop.example.com".into()),
            protocol: Some("imap".into()),
            username: Some("u".into()),
            password: Some(mailpull_shared::config::raw::RawPassword::Source(
                mailpull_shared::config::raw::RawPasswordSource {
                    keyring: Some(true),
                    ..Default::default()
                },
            )),
            ..Default::default()
        }),
        local: Some(RawLocal {
            user: Some("alice".into()),
            domain: Some("example.org".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let running = config::parse("", "f.toml").expect("an empty file is valid");
    let profile = config::check_profile(&raw, &running).expect("valid");
    assert_eq!(
        format!("{}:{}", profile.local.smtp_host, profile.local.smtp_port),
        config::DEFAULT_SMTP
    );
    assert_eq!(profile.remote.folders, [config::DEFAULT_FOLDER]);
    assert_eq!(profile.remote.security, Security::default());

    // A profile without a name is labelled by the number it would have.
    let unnamed = RawProfile { name: None, ..raw };
    let errors = config::check_profile(&unnamed, &running).expect_err("no name");
    assert_eq!(errors[0].profile.as_deref(), Some("#1"));
    assert_eq!(errors[0].field, "name");
}
