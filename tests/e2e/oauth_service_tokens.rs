//! The Linux service's OAuth refresh tokens survive a reboot: a worker with a service secret
//! store (`[worker] secrets`, as the service has) runs as another account and signs in through
//! its pipe (the test authorization server, the real Dovecot with the oauth2 passdb, the real
//! Postfix). The refresh tokens land in its state directory's token file (that account's,
//! 0600), not in the kernel keyring; after a "reboot" — the worker stopped, its account's
//! persistent kernel keyring cleared, a new session keyring — it refreshes with the stored
//! token, stores the rotated one there, and delivers again, twice. Sign-out removes the token
//! from the file; a token file that others can read is refused with a clear error.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use mailpull_tests::{output_text, require_keyctl_session, require_keyring};

use crate::oauth::{fill, rig};
use crate::oauth_pipe::{
    OtherUserWorker, browser_sign_in, caller_holds_nothing, make_service_config,
};

const WAIT: Duration = Duration::from_secs(30);

fn token_file(worker: &OtherUserWorker) -> PathBuf {
    worker.setup.state_dir().join("oauth-tokens")
}

/// The profiles that hold a refresh token in the file (the tokens are never shown).
fn profiles_in(file: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(file).expect("read the token file");
    let mut section = "";
    let mut names = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line;
        } else if section == "[refresh_tokens]"
            && let Some((key, _)) = line.split_once(" = ")
        {
            names.push(key.trim_matches('"').to_string());
        }
    }
    names.sort();
    names
}

/// What a reboot leaves of the kernel keyring: the account's persistent keyring emptied (the
/// worker then starts in a new session keyring of its own).
fn clear_kernel_keyring(worker: &OtherUserWorker) {
    let out = worker
        .as_user()
        .args([
            "sh",
            "-c",
            "k=$(keyctl get_persistent @s) && keyctl clear \"$k\" && keyctl rlist \"$k\"",
        ])
        .output()
        .expect("keyctl clear as the worker's account");
    assert!(out.status.success(), "{}", output_text(&out));
    // `rlist` of the emptied keyring prints nothing.
    let left = String::from_utf8_lossy(&out.stdout);
    assert!(left.trim().is_empty(), "keys left: {left}");
}

#[test]
fn a_services_refresh_tokens_survive_a_restart_and_a_fresh_kernel_keyring() {
    let test = "oauth_service_tokens::a_services_refresh_tokens_survive_a_restart_and_a_fresh_kernel_keyring";
    require_keyring(test);
    require_keyctl_session(test);
    let rig = rig("t");
    let mut worker = OtherUserWorker::new(&rig);
    make_service_config(&worker.setup);
    let (pop, imap) = (rig.pop.name.clone(), rig.imap.name.clone());
    let file = token_file(&worker);
    worker.start();

    // Sign-in through the pipe (device code, then browser): the worker says where it went.
    let out = worker
        .cli(&["oauth", "sign-in", "--device", "--profile", &pop])
        .output()
        .expect("sign-in");
    let text = output_text(&out);
    assert!(out.status.success(), "{text}\n{}", worker.stderr());
    assert!(
        text.contains(&format!(
            "the service's token file {}, kept across reboots",
            file.display()
        )),
        "{text}"
    );
    let text = browser_sign_in(&worker, &imap);
    assert!(text.contains("kept across reboots"), "{text}");
    let meta = std::fs::metadata(&file).expect("the token file exists");
    assert_eq!(
        (meta.mode() & 0o777, meta.uid()),
        (0o600, worker.user.uid),
        "the token file is not the worker account's 0600"
    );
    let mut both = vec![pop.clone(), imap.clone()];
    both.sort();
    assert_eq!(profiles_in(&file), both);
    for profile in [&pop, &imap] {
        assert!(
            !worker.holds_refresh_token(profile),
            "{profile}'s refresh token also went to the kernel keyring"
        );
        caller_holds_nothing(profile);
    }
    // `check`, run by root as an administrator would, says where the tokens are.
    let out = worker.cli(&["check"]).output().expect("check");
    let text = output_text(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(&format!(
            "OAuth refresh tokens: the service's token file {}, kept across reboots",
            file.display()
        )),
        "{text}"
    );
    assert!(!text.contains("tok_"), "{text}");
    fill(&rig, &rig.pop.username, 0, 1);
    worker.poll_now(&pop);
    worker.wait_delivered(&pop, 1);

    // Two reboots: each time the worker refreshes with the token in the file (the test
    // server rotates it and forgets the old one, so the second proves the rotated one was
    // stored there) and delivers.
    let mut before = std::fs::read(&file).expect("read");
    for (round, first) in [(1u64, 10usize), (2, 20)] {
        worker.stop();
        clear_kernel_keyring(&worker);
        fill(&rig, &rig.pop.username, first, 1);
        fill(&rig, &rig.imap.username, first, 1);
        worker.start();
        worker.poll_now(&pop);
        worker.poll_now(&imap);
        worker.wait_delivered(&pop, 1);
        worker.wait_delivered(&imap, 1);
        let after = std::fs::read(&file).expect("read");
        assert_ne!(after, before, "round {round}: no rotated token stored");
        before = after;
        let meta = std::fs::metadata(&file).expect("stat");
        assert_eq!((meta.mode() & 0o777, meta.uid()), (0o600, worker.user.uid));
        let counters = rig.oauth.counters();
        assert!(counters.refresh_grants >= 2 * round, "{counters:?}");
        assert_eq!(counters.refresh_refused, 0, "{counters:?}");
    }
    rig.local
        .wait_for_messages("alice", 3, WAIT)
        .unwrap_or_else(|e| panic!("{e:#}\n{}", rig.local.maillog()));
    rig.local
        .wait_for_messages("bob", 2, WAIT)
        .unwrap_or_else(|e| panic!("{e:#}\n{}", rig.local.maillog()));
    let names: Vec<_> = std::fs::read_dir(file.parent().expect("state dir"))
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.contains(".tmp-")),
        "temporary files left: {names:?}"
    );

    // Sign-out through the worker removes the token from the file.
    let out = worker
        .cli(&["oauth", "sign-out", "--profile", &pop])
        .output()
        .expect("sign-out");
    let text = output_text(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("the service's token file"), "{text}");
    assert_eq!(profiles_in(&file), vec![imap.clone()]);
    // Deleting a profile (the Pull Manager) removes its token from the file too.
    crate::oauth_pipe::rt()
        .block_on(async {
            let mut client = mailpull_shared::ipc::IpcClient::connect(&worker.endpoint).await?;
            client.delete_profile(&imap).await
        })
        .expect("delete profile");
    assert_eq!(profiles_in(&file), Vec::<String>::new());
    worker.stop();
    let logs = worker.stderr();
    assert!(!logs.contains("tok_"), "a token leaked:\n{logs}");

    // A token file that group or others can read is refused, naming the file and its mode.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = worker
        .as_user()
        .arg(mailpull_tests::worker_binary().expect("worker"))
        .args(["run", "--once", "--config"])
        .arg(&worker.setup.config)
        .output()
        .expect("run --once");
    let text = output_text(&out);
    assert!(!out.status.success(), "a 0644 token file was used: {text}");
    assert!(
        text.contains(&format!(
            "refusing the service's token file {}",
            file.display()
        )) && text.contains("0644"),
        "{text}"
    );
    assert!(!text.contains("tok_"), "{text}");
}
