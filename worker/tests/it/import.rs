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
        for profile in &import.profiles {
            if let Some(secret) = &profile.password {
                assert!(
                    !toml.contains(secret.expose()),
                    "{}: a password is in the TOML",
                    path.display()
                );
                assert!(!report.contains(secret.expose()));
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

/// The passwords of `quoting.fetchmailrc`, escapes resolved, go to the keyring as written.
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
            "tab\there \"quoted\" back\\slash AeA",
            "ab#cd",
            "a very long password",
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
