//! `mailpull-worker import` end to end: a `.fetchmailrc` pointing at the real Dovecot (POP3S
//! with the test CA, the password in the file) is imported; the password lands in the OS
//! keyring, not in the TOML; the worker runs once on the imported configuration and the mail
//! arrives in the real Postfix → Dovecot mailbox. Run inside a session keyring of its own:
//! `MAILPULL_REQUIRE_KEYRING=1 keyctl session - cargo test -p mailpull-tests --test e2e import::`.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use mailpull_shared::secrets::{self, PasswordSource};
use mailpull_tests::{
    LocalMailServer, RemoteDovecot, RemoteOptions, TestCa, message_ids, output_text,
    require_keyring, sample_message, worker_binary,
};

const PASSWORD: &str = "imported \"pass\" #1";

fn worker(args: &[&str], config: Option<&Path>) -> Output {
    let mut command = Command::new(worker_binary().expect("worker binary"));
    command.args(args).env("RUST_LOG", "info");
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    command.output().expect("run mailpull-worker")
}

/// The ISP (the test Dovecot with three messages for `isp-user`) and the local side.
struct Bed {
    tmp: tempfile::TempDir,
    ca: TestCa,
    remote: RemoteDovecot,
    local: LocalMailServer,
    sent: Vec<Vec<u8>>,
}

fn bed(test: &str) -> Bed {
    require_keyring(test);
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(tmp.path()).expect("test CA");
    let remote = RemoteDovecot::start_with(RemoteOptions::new(&ca)).expect("remote dovecot");
    remote.add_user("isp-user", PASSWORD).expect("add user");
    let local = LocalMailServer::start(&["alice"]).expect("local postfix");
    let sent: Vec<Vec<u8>> = (0..3)
        .map(|i| {
            let raw = sample_message(i, 4_000, "isp-user@isp.example");
            remote.add_message("isp-user", &raw).expect("add message");
            raw
        })
        .collect();
    Bed {
        tmp,
        ca,
        remote,
        local,
        sent,
    }
}

impl Bed {
    /// `mailpull-worker import KIND RC --out imported.toml EXTRA...`: the report and the TOML,
    /// after checking that the password went into the keyring of `profile` and nowhere else.
    fn import(&self, kind: &str, rc: &Path, profile: &str, extra: &[&str]) -> (String, String) {
        let toml = self.tmp.path().join("imported.toml");
        let rc_arg = rc.to_string_lossy().into_owned();
        let out_arg = toml.to_string_lossy().into_owned();
        let mut args = vec!["import", kind, &rc_arg, "--out", &out_arg];
        args.extend_from_slice(extra);
        let import = worker(&args, None);
        assert!(import.status.success(), "{}", output_text(&import));
        let report = String::from_utf8_lossy(&import.stderr).into_owned();
        assert!(
            report.contains(&format!("{profile}: password stored in the OS keyring")),
            "{report}"
        );
        assert!(!report.contains(PASSWORD), "the report shows the password");
        let text = std::fs::read_to_string(&toml).expect("imported TOML");
        assert!(
            !text.contains("pass\\\"") && !text.contains(PASSWORD),
            "{text}"
        );
        assert!(text.contains("password = { keyring = true }"), "{text}");
        let stored = PasswordSource::Keyring
            .read(profile)
            .expect("keyring entry");
        assert_eq!(stored.expose(), PASSWORD);
        (report, text)
    }

    /// Runs `check` and `run --once` on the imported TOML (state in the temp dir) and checks
    /// that every message arrived in alice's local mailbox and left the ISP.
    fn run_imported(&self, text: &str) {
        let toml = self.tmp.path().join("imported.toml");
        let state = self.tmp.path().join("state");
        std::fs::write(
            &toml,
            format!(
                "[worker]\nstate_dir = {:?}\n\n{text}",
                state.display().to_string()
            ),
        )
        .expect("add [worker]");
        let check = worker(&["check"], Some(&toml));
        assert!(check.status.success(), "{}", output_text(&check));
        let run = worker(&["run", "--once"], Some(&toml));
        assert!(run.status.success(), "{}", output_text(&run));
        let delivered = self
            .local
            .wait_for_messages("alice", self.sent.len(), Duration::from_secs(30))
            .unwrap_or_else(|err| panic!("{err:#}\n--- maillog\n{}", self.local.maillog()));
        let mut want = message_ids(&self.sent);
        let mut got = message_ids(&delivered);
        want.sort();
        got.sort();
        assert_eq!(got, want);
        assert_eq!(self.remote.message_count("isp-user").expect("count"), 0);
    }
}

#[test]
fn an_imported_fetchmailrc_pulls_into_the_local_mailbox_with_the_password_in_the_keyring() {
    let bed = bed("an_imported_fetchmailrc_pulls_into_the_local_mailbox");
    let profile = format!("import-e2e-{}", std::process::id());
    let rc = bed.tmp.path().join("fetchmailrc");
    std::fs::write(
        &rc,
        format!(
            "# written like a user's ~/.fetchmailrc\n\
             set daemon 60\n\
             set logfile /var/log/fetchmail.log\n\
             poll \"{profile}\" via localhost proto pop3 port {port}\n\
             \tuser \"isp-user\" there with password \"imported \\x22pass\\x22 #1\" is alice here\n\
             \tssl sslcertck sslcertfile \"{ca}\"\n\
             \tsmtphost 127.0.0.1/{smtp} smtpaddress {domain}\n\
             \tmda \"/usr/bin/procmail -d %T\"\n",
            port = bed.remote.pop3s_port(),
            ca = bed.ca.ca_file().display(),
            smtp = bed.local.smtp_port(),
            domain = mailpull_tests::LOCAL_DOMAIN,
        ),
    )
    .expect("write fetchmailrc");
    let (report, text) = bed.import("fetchmailrc", &rc, &profile, &[]);
    assert!(
        report.contains("fetchmailrc:8: not imported: mda \"/usr/bin/procmail -d %T\""),
        "{report}"
    );
    assert!(
        report.contains("fetchmailrc:3: not imported: set logfile"),
        "{report}"
    );
    bed.run_imported(&text);
    secrets::delete_from_keyring(&profile).expect("delete");
}

/// A getmailrc (IMAP over SSL, sendmail with a fixed recipient, delete) with `--smtp`
/// naming the local server its sendmail handed the mail to.
#[test]
fn an_imported_getmailrc_pulls_over_imaps_into_the_local_mailbox() {
    let bed = bed("an_imported_getmailrc_pulls_over_imaps_into_the_local_mailbox");
    let profile = format!("getmail-e2e-{}", std::process::id());
    let rc = bed.tmp.path().join(format!("getmailrc-{profile}"));
    std::fs::write(
        &rc,
        format!(
            "[retriever]\n\
             type = SimpleIMAPSSLRetriever\n\
             server = localhost\n\
             port = {port}\n\
             username = isp-user\n\
             password = {PASSWORD}\n\
             ca_certs = {ca}\n\
             mailboxes = (\"INBOX\",)\n\
             \n\
             [destination]\n\
             type = MDA_external\n\
             path = /usr/sbin/sendmail\n\
             arguments = (\"-oi\", \"-f\", \"%(sender)\", \"alice@{domain}\")\n\
             \n\
             [options]\n\
             verbose = 0\n\
             delete = true\n",
            port = bed.remote.imaps_port(),
            ca = bed.ca.ca_file().display(),
            domain = mailpull_tests::LOCAL_DOMAIN,
        ),
    )
    .expect("write getmailrc");
    let smtp = format!("127.0.0.1:{}", bed.local.smtp_port());
    let (report, text) = bed.import("getmailrc", &rc, &profile, &["--smtp", &smtp]);
    assert!(
        report.contains(&format!(
            "getmailrc-{profile}:16: not imported: verbose = 0"
        )),
        "{report}"
    );
    assert!(text.contains("protocol = \"imap\""), "{text}");
    bed.run_imported(&text);
    secrets::delete_from_keyring(&profile).expect("delete");
}

/// A file that cannot be parsed: exit 1, the file, line and what was expected, and nothing
/// written.
#[test]
fn a_fetchmailrc_that_does_not_parse_fails_naming_the_line() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let rc = tmp.path().join("fetchmailrc");
    std::fs::write(
        &rc,
        "poll pop.x.example proto pop3\n  user joe pass my secret\n",
    )
    .expect("write");
    let toml = tmp.path().join("new.toml");
    let rc_arg = rc.to_string_lossy().into_owned();
    let out_arg = toml.to_string_lossy().into_owned();
    let import = worker(&["import", "fetchmailrc", &rc_arg, "--out", &out_arg], None);
    assert_eq!(import.status.code(), Some(1), "{}", output_text(&import));
    let stderr = String::from_utf8_lossy(&import.stderr);
    assert!(
        stderr.contains(&format!(
            "{rc_arg}:2: expected an option keyword, found `secret`"
        )),
        "{stderr}"
    );
    assert!(!toml.exists());
}

/// One user of fetchmail's own reading of a file (`fetchmail --configdump`).
#[derive(Debug, Default, PartialEq)]
struct Dumped {
    poll: String,
    remote: String,
    password: Option<String>,
    localnames: Vec<String>,
    keep: bool,
    fetchall: bool,
    ssl: bool,
    idle: bool,
    folders: Vec<String>,
    smtpaddress: Option<String>,
}

/// The value of `"key":VALUE,` in a configdump line: a C-escaped string, `None`, or the
/// word (`TRUE`, a number).
fn dumped_value(line: &str) -> Option<(String, String)> {
    let line = line.trim().trim_end_matches(',');
    let (key, value) = line.split_once(':')?;
    let key = key.trim_matches(['"', '\'']).to_string();
    Some((key, value.to_string()))
}

fn dumped_string(value: &str) -> Option<String> {
    let inner = value.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('t') => out.push('\t'),
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// `["a", ("b", "c"), "d"]` → `["a", "b=c", "d"]` (a tuple is a `remote=local` mapping).
fn dumped_list(value: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut pair: Option<Vec<String>> = None;
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '(' => pair = Some(Vec::new()),
            ')' => {
                if let Some(parts) = pair.take() {
                    items.push(parts.join("="));
                }
            }
            '"' | '\'' => {
                let quote = c;
                let mut item = String::new();
                for c in chars.by_ref() {
                    if c == quote {
                        break;
                    }
                    item.push(c);
                }
                match pair.as_mut() {
                    Some(parts) => parts.push(item),
                    None => items.push(item),
                }
            }
            _ => {}
        }
    }
    items
}

/// Runs the installed fetchmail on `rc` and reads its users back.
fn fetchmail_reading(rc: &Path) -> Vec<Dumped> {
    let home = tempfile::tempdir().expect("tempdir");
    let copy = home.path().join("fetchmailrc");
    std::fs::copy(rc, &copy).expect("copy");
    std::fs::set_permissions(&copy, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    let output = Command::new("fetchmail")
        .arg("-f")
        .arg(&copy)
        .arg("--configdump")
        .env("HOME", home.path())
        .output()
        .unwrap_or_else(|err| {
            panic!("fetchmail cannot be run ({err}); scripts/setup-deps.sh installs it")
        });
    assert!(output.status.success(), "{}", output_text(&output));
    let mut users = Vec::new();
    let mut poll = String::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Some((key, value)) = dumped_value(line) else {
            continue;
        };
        let user: Option<&mut Dumped> = users.last_mut();
        match (key.as_str(), user) {
            ("pollname", _) => poll = dumped_string(&value).unwrap_or_default(),
            ("remote", _) => users.push(Dumped {
                poll: poll.clone(),
                remote: dumped_string(&value).unwrap_or_default(),
                ..Dumped::default()
            }),
            ("password", Some(u)) => u.password = dumped_string(&value),
            ("localnames", Some(u)) => u.localnames = dumped_list(&value),
            ("keep", Some(u)) => u.keep = value == "TRUE",
            ("fetchall", Some(u)) => u.fetchall = value == "TRUE",
            ("ssl", Some(u)) => u.ssl = value == "TRUE",
            ("idle", Some(u)) => u.idle = value == "TRUE",
            ("mailboxes", Some(u)) => u.folders = dumped_list(&value),
            ("smtpaddress", Some(u)) => u.smtpaddress = dumped_string(&value),
            _ => {}
        }
    }
    users
}

/// Our reading of `rc`, in the same shape.
fn our_reading(rc: &Path) -> Vec<Dumped> {
    use mailpull_worker::import::fetchmail::parse::{EntryKind, UserDesc, parse};
    use mailpull_worker::import::fetchmail::{lex::tokenize, settings::Settings};
    let text = std::fs::read_to_string(rc).expect("read");
    let file = parse(&tokenize(&text).expect("tokens")).expect("parse");
    let defaults = file.entries.iter().find(|e| e.kind == EntryKind::Defaults);
    let mut users = Vec::new();
    for entry in file
        .entries
        .iter()
        .filter(|e| e.kind != EntryKind::Defaults)
    {
        let implicit = [UserDesc::default()];
        let descs: &[UserDesc] = if entry.users.is_empty() {
            &implicit
        } else {
            &entry.users
        };
        for desc in descs {
            let s = Settings::resolve(defaults, entry, &desc.opts);
            let (mut names, mappings) = s.names.clone().map(|(n, _)| n).unwrap_or_default();
            names.extend(
                mappings
                    .iter()
                    .map(|(remote, local)| format!("{remote}={local}")),
            );
            names.sort();
            users.push(Dumped {
                poll: entry.label.clone().unwrap_or_default(),
                remote: s
                    .remote_user()
                    .map(|(u, _)| u.to_string())
                    .unwrap_or_default(),
                password: s.password.clone().map(|(p, _)| p),
                localnames: names,
                keep: Settings::on(&s.keep),
                fetchall: Settings::on(&s.fetchall),
                ssl: Settings::on(&s.ssl),
                idle: Settings::on(&s.idle),
                folders: s.folders.clone().map(|(f, _)| f).unwrap_or_default(),
                smtpaddress: s.smtpaddress.clone().map(|(a, _)| a),
            });
        }
    }
    users
}

/// Every valid file of the import corpus reads the same to our parser as to the real
/// fetchmail (Debian's 6.4): poll names, users, passwords (escapes and all), local names,
/// keep/fetchall/ssl/idle, folders, smtpaddress, local names and `remote=local` mappings
/// (without `is`, fetchmail names the account running it).
#[test]
fn the_fetchmailrc_corpus_reads_as_fetchmail_reads_it() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../worker/tests/corpus/import/fetchmail");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "fetchmailrc"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "{} files", files.len());
    for rc in files {
        let theirs = fetchmail_reading(&rc);
        let mut ours = our_reading(&rc);
        assert_eq!(ours.len(), theirs.len(), "{}: {theirs:#?}", rc.display());
        for (our, their) in ours.iter_mut().zip(theirs) {
            let mut their = their;
            their.localnames.sort();
            if our.password.is_none() {
                // No password in the file: fetchmail fills in its own (`auth ssh`: a dummy).
                their.password = None;
            }
            if our.localnames.iter().all(|name| name == "*") {
                // No `is` (or only `*`): fetchmail adds the account running it.
                our.localnames = their.localnames.clone();
            }
            assert_eq!(*our, their, "{}", rc.display());
        }
    }
}

/// Every getmailrc of the import corpus reads the same to our INI reader as to Python's
/// `configparser.RawConfigParser`, which getmail uses: sections, option names (lowercased),
/// values (continuation lines joined with a line feed).
#[test]
fn the_getmailrc_corpus_reads_as_pythons_configparser_reads_it() {
    use mailpull_worker::import::getmail::ini;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../worker/tests/corpus/import/getmail");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "getmailrc"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "{} files", files.len());
    const READ: &str = "import configparser, json, sys\n\
        c = configparser.RawConfigParser()\n\
        c.read(sys.argv[1])\n\
        print(json.dumps({s: dict(c.items(s)) for s in c.sections()}))\n";
    for rc in files {
        let output = Command::new("python3")
            .args(["-c", READ])
            .arg(&rc)
            .output()
            .unwrap_or_else(|err| panic!("python3 cannot be run: {err}"));
        assert!(output.status.success(), "{}", output_text(&output));
        let theirs: serde_json::Value =
            serde_json::from_slice(&output.stdout).expect("configparser's JSON");
        let text = std::fs::read_to_string(&rc).expect("read");
        let sections = ini::parse(&text).expect("ini");
        let ours: serde_json::Map<String, serde_json::Value> = sections
            .iter()
            .map(|section| {
                let entries: serde_json::Map<String, serde_json::Value> = section
                    .entries
                    .iter()
                    .map(|e| (e.key.clone(), serde_json::Value::String(e.value.clone())))
                    .collect();
                (section.name.clone(), serde_json::Value::Object(entries))
            })
            .collect();
        assert_eq!(serde_json::Value::Object(ours), theirs, "{}", rc.display());
    }
}
