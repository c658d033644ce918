//! The import corpus under `tests/corpus/import/`: real-shaped `.fetchmailrc` and getmailrc
//! files (the manuals' examples and variants), each with the TOML and the report it must
//! give, compared exactly; every TOML passes the worker's own check and holds no password;
//! every file under `broken/` fails with the file, line and what was expected.
//!
//! `MAILPULL_BLESS=1 cargo test -p mailpull-worker --test it import` rewrites the expected
//! files from the current output (review the diff before committing it).

use std::path::{Path, PathBuf};

use mailpull_worker::import::run::{Format, checked_text, import_texts, report};
use mailpull_worker::import::{Import, Options};
use mailpull_worker::validate;

fn corpus_dir(tool: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus/import")
        .join(tool)
}

/// The input files of `dir` with `extension`, sorted.
fn inputs(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == extension))
        .collect();
    files.sort();
    files
}

fn bless() -> bool {
    std::env::var_os("MAILPULL_BLESS").is_some()
}

/// Compares `actual` with the file `expected` (or writes it when blessing).
fn compare(expected: &Path, actual: &str) {
    if bless() {
        std::fs::write(expected, actual).expect("bless");
        return;
    }
    let want = std::fs::read_to_string(expected)
        .unwrap_or_else(|err| panic!("{}: {err} (MAILPULL_BLESS=1 writes it)", expected.display()));
    assert!(
        want == actual,
        "{} differs from the import's output:\n--- expected\n{want}\n--- actual\n{actual}",
        expected.display()
    );
}

/// Imports one corpus file the way the command does, without the keyring.
fn import_one(format: Format, path: &Path) -> (Import, String, String) {
    let name = path
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let text = std::fs::read_to_string(path).expect("read");
    let options = Options::default();
    let mut import = import_texts(format, &[(name.clone(), text)], &options)
        .unwrap_or_else(|err| panic!("{name} does not parse: {err}"));
    let before = import.profiles.len();
    let toml = checked_text(
        format,
        std::slice::from_ref(&name),
        &mut import,
        "imported.toml",
    )
    .unwrap_or_else(|err| panic!("{name}: {err:#}"));
    assert_eq!(
        import.profiles.len(),
        before,
        "{name}: the check dropped a profile: {:?}",
        import.findings
    );
    let passwords: Vec<String> = import
        .profiles
        .iter()
        .map(|p| match &p.password {
            Some(_) => format!("  {}: password found in the file", p.name()),
            None => format!("  {}: no password in the file", p.name()),
        })
        .collect();
    let report = report(&import, "imported.toml", &passwords);
    (import, toml, report)
}

/// Every string value in `value`.
fn strings(value: &toml::Value, out: &mut Vec<String>) {
    match value {
        toml::Value::String(text) => out.push(text.clone()),
        toml::Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        toml::Value::Table(table) => table.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

fn run_corpus(format: Format, tool: &str, extension: &str) -> usize {
    let dir = corpus_dir(tool);
    let files = inputs(&dir, extension);
    assert!(
        !files.is_empty(),
        "no {extension} files in {}",
        dir.display()
    );
    for path in &files {
        let (import, toml, report) = import_one(format, path);
        // The worker's own check, as `mailpull-worker check` runs it.
        if let Err(err) = validate::check_text(&toml, "imported.toml") {
            panic!(
                "{}: the TOML does not pass the check:\n{err}",
                path.display()
            );
        }
        let table: toml::Table = toml.parse().expect("TOML");
        let mut values = Vec::new();
        strings(&toml::Value::Table(table), &mut values);
        for profile in &import.profiles {
            if let Some(secret) = &profile.password {
                assert!(
                    !values.iter().any(|v| v.contains(secret.expose())),
                    "{}: a password is in the TOML",
                    path.display()
                );
                if secret.expose().len() >= 6 {
                    assert!(!toml.contains(secret.expose()));
                    assert!(!report.contains(secret.expose()));
                }
            }
        }
        compare(&path.with_extension("toml"), &toml);
        compare(&path.with_extension("report"), &report);
    }
    files.len()
}

#[test]
fn fetchmailrc_corpus_gives_the_expected_toml_and_report() {
    let count = run_corpus(Format::Fetchmail, "fetchmail", "fetchmailrc");
    assert!(count >= 8, "only {count} fetchmailrc files");
}

#[test]
fn getmailrc_corpus_gives_the_expected_toml_and_report() {
    let count = run_corpus(Format::Getmail, "getmail", "getmailrc");
    assert!(count >= 4, "only {count} getmailrc files");
}

/// The passwords of `quoting.fetchmailrc`, escapes resolved, go to the keyring as fetchmail
/// 6.4 reads them (its `--configdump` shows the same strings).
#[test]
fn quoted_passwords_are_read_as_fetchmail_reads_them() {
    let path = corpus_dir("fetchmail").join("quoting.fetchmailrc");
    let (import, _, _) = import_one(Format::Fetchmail, &path);
    let secrets: Vec<&str> = import
        .profiles
        .iter()
        .map(|p| p.password.as_ref().expect("password").expose())
        .collect();
    assert_eq!(
        secrets,
        vec![
            "tab\there \"quoted\" back\\slash Ae:",
            "ab#cd",
            "a very long password",
            "with",
        ]
    );
}

/// Each broken file's error is pinned in its `.error` file: `FILE:LINE: expected ...`.
#[test]
fn broken_files_name_the_line_and_what_was_expected() {
    let mut count = 0;
    for (format, tool, extension) in [
        (Format::Fetchmail, "fetchmail", "fetchmailrc"),
        (Format::Getmail, "getmail", "getmailrc"),
    ] {
        let dir = corpus_dir(tool).join("broken");
        for path in inputs(&dir, extension) {
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            let text = std::fs::read_to_string(&path).expect("read");
            let err = match import_texts(format, &[(name.clone(), text)], &Options::default()) {
                Ok(_) => panic!("{name} parsed, but it is broken"),
                Err(err) => err,
            };
            compare(&path.with_extension("error"), &format!("{err}\n"));
            count += 1;
        }
    }
    assert!(count >= 4, "only {count} broken files");
}

/// Several getmailrc files in one import: one profile each, names kept unique.
#[test]
fn several_getmailrc_files_make_one_configuration() {
    let dir = corpus_dir("getmail");
    let files: Vec<(String, String)> = inputs(&dir, "getmailrc")
        .iter()
        .map(|p| {
            (
                p.file_name().expect("name").to_string_lossy().into_owned(),
                std::fs::read_to_string(p).expect("read"),
            )
        })
        .collect();
    let mut import = import_texts(Format::Getmail, &files, &Options::default()).expect("import");
    let count = import.profiles.len();
    let sources: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
    let toml = checked_text(Format::Getmail, &sources, &mut import, "all.toml").expect("check");
    let config = validate::check_text(&toml, "all.toml").expect("passes check");
    assert_eq!(config.profiles.len(), count);
    assert_eq!(count, files.len());
}

/// Random files built from fetchmail's entries and options (valid, unmappable, contradictory,
/// with noise words, comments and a bit of junk) and getmail's sections and parameters: the
/// import never panics, what it writes passes the check and holds no inline password, and an
/// error names a line of the file. (The `import` fuzz target checks the same on arbitrary
/// bytes.)
mod random {
    use super::*;
    use proptest::prelude::*;

    const GLOBALS: &[&str] = &[
        "set daemon 300",
        "set daemon 3",
        "set postmaster \"pm\"",
        "set no bouncemail",
        "set logfile /x",
        "set syslog",
        "",
    ];
    const SERVER: &[&str] = &[
        "via localhost",
        "proto pop3",
        "proto imap",
        "proto auto",
        "proto APOP",
        "proto kpop",
        "port 995",
        "service imaps",
        "service nosuch",
        "localdomains a.example b.example",
        "aka isp.example",
        "envelope X-Envelope-To",
        "envelope 2 \"Received\"",
        "no envelope",
        "interval 3",
        "interval 0",
        "timeout 30",
        "auth password",
        "auth cram-md5",
        "uidl",
        "no dns",
        "plugin \"ssh x\"",
        "qvirtual \"v-\"",
        "and",
        "with",
        ";",
    ];
    const USER: &[&str] = &[
        "pass \"p w\"",
        "password 'a\\tb'",
        "is alice here",
        "to a b=c * here",
        "to \"x@y.example\"=\"y\" here",
        "is \"*\"",
        "ssl",
        "sslproto ''",
        "sslproto tls1",
        "sslcertck",
        "no sslcertck",
        "sslcertfile /etc/ssl/certs/ca-certificates.crt",
        "sslcertfile /nonexistent/ca.pem",
        "keep",
        "no keep",
        "fetchall",
        "no fetchall",
        "folder INBOX \"A/B\"",
        "smtphost localhost/2525",
        "smtphost /var/run/lmtp mx.lan",
        "smtphost ::1/25",
        "smtpname joe@home.example",
        "smtpaddress home.example",
        "idle",
        "limit 1000",
        "limit 0",
        "mda \"/bin/mail\"",
        "antispam -1",
        "lmtp",
        "flush",
        "and",
        "wants",
        ",",
        "# comment\n",
    ];
    const USERS: &[&str] = &["joe", "\"a@b.example\"", "1234", "'x y'", "u"];
    const JUNK: &[&str] = &["", "", "", "", "oops", "\"unterminated", "=", "no poll"];

    prop_compose! {
        fn fetchmailrc()(
            globals in proptest::collection::vec(proptest::sample::select(GLOBALS), 0..3),
            entries in proptest::collection::vec((
                proptest::sample::select(&["poll", "skip", "defaults", "server"][..]),
                proptest::sample::select(&["pop.x.example", "imap.y.example", "\"m z\""][..]),
                proptest::collection::vec(proptest::sample::select(SERVER), 0..4),
                proptest::collection::vec(proptest::sample::select(USER), 0..4),
                proptest::collection::vec((
                    proptest::sample::select(USERS),
                    proptest::collection::vec(proptest::sample::select(USER), 0..6),
                ), 0..3),
            ), 0..4),
            junk in proptest::sample::select(JUNK),
        ) -> String {
            let mut out = globals.join("\n");
            for (verb, name, server, shared, users) in entries {
                let name = if verb == "defaults" { "" } else { name };
                out.push_str(&format!("\n{verb} {name} {} {}", server.join(" "), shared.join(" ")));
                for (user, opts) in users {
                    out.push_str(&format!("\n  user {user} {}", opts.join(" ")));
                }
            }
            out.push(' ');
            out.push_str(junk);
            out
        }
    }

    const RETRIEVER: &[&str] = &[
        "type = SimplePOP3SSLRetriever",
        "type = SimpleIMAPRetriever",
        "type = MultidropIMAPSSLRetriever",
        "type = MultidropSDPSRetriever",
        "server = pop.x.example",
        "username = joe",
        "password = p w",
        "port = 0",
        "port = 995",
        "envelope_recipient = delivered-to:2",
        "envelope_recipient = X-Original-To",
        "mailboxes = (\"INBOX\", 'A')",
        "mailboxes = (\"",
        "mailboxes = ALL",
        "ca_certs = /nonexistent.pem",
        "timeout = -1",
        "use_apop = true",
        "password_command = (\"pass\",)",
        "  continued",
        "# comment",
    ];
    const DESTINATION: &[&str] = &[
        "type = MDA_external",
        "type = Maildir",
        "type = MDA_lmtp",
        "path = /usr/sbin/sendmail",
        "path = /usr/bin/procmail",
        "arguments = (\"-f\", \"%(sender)\", \"a@b.example\")",
        "arguments = (\"%(recipient)\",)",
        "arguments = (\"x\"",
        "user = fred",
    ];
    const OPTIONS: &[&str] = &[
        "delete = maybe",
        "delete = true",
        "delete_after = 99999",
        "delete_after = 3",
        "read_all = false",
        "max_message_size = 1",
        "verbose = 2",
        "mark_read = true",
    ];

    prop_compose! {
        fn getmailrc()(
            retriever in proptest::collection::vec(proptest::sample::select(RETRIEVER), 0..8),
            destination in proptest::option::of(proptest::collection::vec(proptest::sample::select(DESTINATION), 0..4)),
            options in proptest::option::of(proptest::collection::vec(proptest::sample::select(OPTIONS), 0..4)),
            junk in proptest::sample::select(JUNK),
        ) -> String {
            let mut out = format!("[retriever]\n{}\n", retriever.join("\n"));
            if let Some(lines) = destination {
                out.push_str(&format!("[destination]\n{}\n", lines.join("\n")));
            }
            if let Some(lines) = options {
                out.push_str(&format!("[options]\n{}\n", lines.join("\n")));
            }
            out.push_str(junk);
            out
        }
    }

    fn check(format: Format, text: &str) -> Result<(), TestCaseError> {
        let files = [("random.rc".to_string(), text.to_string())];
        match import_texts(format, &files, &Options::default()) {
            Ok(mut import) => {
                let toml = checked_text(format, &["random.rc".into()], &mut import, "r.toml")
                    .map_err(|err| TestCaseError::fail(format!("{err:#}\n{text}")))?;
                prop_assert!(validate::check_text(&toml, "r.toml").is_ok());
                prop_assert!(!toml.lines().any(|l| l.starts_with("password = \"")));
            }
            Err(err) => {
                prop_assert_eq!(err.file.as_str(), "random.rc");
                prop_assert!(err.line >= 1 && err.line <= text.lines().count() + 1);
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn random_fetchmailrc(text in fetchmailrc()) {
            check(Format::Fetchmail, &text)?;
        }

        #[test]
        fn random_getmailrc(text in getmailrc()) {
            check(Format::Getmail, &text)?;
        }
    }
}
