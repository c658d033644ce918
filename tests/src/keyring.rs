//! The OS keyring as the tests need it: a probe that writes, reads back and deletes an entry,
//! and a check that `keyctl session` works (for tests that start a worker in a session keyring
//! of its own). A test that needs a keyring and finds none fails, naming what is missing and
//! how to run it; it never skips and passes.

use std::process::{Command, Stdio};

use mailpull_shared::secrets;

/// How the keyring tests are meant to run; part of every failure message here.
pub const HOW_TO_RUN: &str = "run the tests inside a session keyring of their own: \
    `MAILPULL_REQUIRE_KEYRING=1 keyctl session - cargo test ...` (keyctl is in the keyutils \
    package, see scripts/setup-deps.sh; scripts/test.sh runs every test this way)";

/// Fails `test` unless the OS keyring works here: a probe entry is written, read back and
/// deleted.
pub fn require_keyring(test: &str) {
    let profile = format!("oauth-probe-{}", std::process::id());
    let account = secrets::refresh_token_account(&profile);
    let works = secrets::write_keyring(&profile, &account, &secrets::Secret::new("probe"))
        .and_then(|_| secrets::read_keyring(&profile, &account));
    let _ = secrets::delete_keyring(&profile, &account);
    match works {
        Ok(Some(_)) => {}
        Ok(None) => panic!(
            "{test} needs the OS keyring, but an entry written to it cannot be read back \
             (no session keyring?); {HOW_TO_RUN}"
        ),
        Err(err) => {
            panic!("{test} needs the OS keyring, which does not work here: {err}; {HOW_TO_RUN}")
        }
    }
}

/// Kept for callers written as `if !keyring_usable(test) { return; }`: never returns `false`,
/// it fails the test instead (see [`require_keyring`]).
pub fn keyring_usable(test: &str) -> bool {
    require_keyring(test);
    true
}

/// Fails `test` unless `keyctl session - true` runs here (a test that starts the worker in a
/// session keyring of its own).
pub fn require_keyctl_session(test: &str) {
    match Command::new("keyctl")
        .args(["session", "-", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(status) if status.success() => {}
        Ok(status) => panic!(
            "{test} starts the worker in a session keyring of its own, but `keyctl session - true` \
             failed ({status}): the kernel refuses a new session keyring here; {HOW_TO_RUN}"
        ),
        Err(err) => panic!(
            "{test} starts the worker in a session keyring of its own, but `keyctl` cannot be \
             run ({err}): install keyutils; {HOW_TO_RUN}"
        ),
    }
}
