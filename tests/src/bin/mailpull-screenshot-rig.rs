//! The scene for the Pull Manager's screenshot (`scripts/screenshot.sh`): a private "ISP"
//! Dovecot and a local Postfix, and a real worker with three profiles — alice (POP3S,
//! mail keeps arriving), bob (IMAPS, a catch-all whose two messages for carol are held because
//! Postfix defers carol, `hold_after_attempts = 1`), and old-isp (a wrong password, so it
//! shows an error) —
//! polling every 10 seconds so the log is busy. Prints `READY <config file>` once the first
//! mail moved, keeps dropping new messages, and stops everything (servers included) after
//! SECONDS (default 120) or as soon as the file STOP_FILE exists.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use mailpull_tests::{
    LocalMailServer, ProfileSpec, RemoteDovecot, TestCa, WorkerSetup, sample_message, stop_worker,
    worker_binary,
};

fn main() -> anyhow::Result<()> {
    let usage = "usage: mailpull-screenshot-rig [SECONDS [STOP_FILE]]";
    let seconds: u64 = match std::env::args().nth(1) {
        Some(arg) => arg.parse().context(usage)?,
        None => 120,
    };
    let stop_file = std::env::args_os().nth(2).map(std::path::PathBuf::from);
    let stopped = || stop_file.as_ref().is_some_and(|file| file.exists());
    let tmp = tempfile::tempdir().context("tempdir")?;
    let ca = TestCa::new(tmp.path())?;
    let remote = RemoteDovecot::start(&ca).context("start the ISP's Dovecot")?;
    let local =
        LocalMailServer::start(&["alice", "bob", "carol"]).context("start the local Postfix")?;
    remote.add_user("alice@isp.example", "alice-pw")?;
    remote.add_user("bob@isp.example", "bob-pw")?;
    for i in 0..12 {
        remote.add_message(
            "alice@isp.example",
            &sample_message(i, 4_000, "alice@isp.example"),
        )?;
    }
    for i in 100..106 {
        remote.add_message(
            "bob@isp.example",
            &sample_message(i, 4_000, "bob@isp.example"),
        )?;
    }
    for i in 200..202 {
        remote.add_message(
            "bob@isp.example",
            &sample_message(i, 4_000, "carol@local.test"),
        )?;
    }
    local.set_reject(
        "carol@local.test",
        Some("452 4.2.2 carol's mailbox is full"),
    )?;
    let alice_pw = WorkerSetup::password_file(tmp.path(), "alice", "alice-pw")?;
    let bob_pw = WorkerSetup::password_file(tmp.path(), "bob", "bob-pw")?;
    let wrong_pw = WorkerSetup::password_file(tmp.path(), "old", "expired-password")?;
    let mut alice = ProfileSpec::new(
        "alice",
        remote.pop3s_port(),
        "alice@isp.example",
        &alice_pw,
        local.smtp_port(),
        "alice",
    );
    alice.ca_file = Some(ca.ca_file().to_path_buf());
    alice.interval = "10s";
    let mut bob = ProfileSpec::new(
        "bob",
        remote.imaps_port(),
        "bob@isp.example",
        &bob_pw,
        local.smtp_port(),
        "bob",
    );
    bob.protocol = "imap";
    bob.ca_file = Some(ca.ca_file().to_path_buf());
    bob.interval = "15s";
    bob.after_delivery = "{ keep_days = 14 }";
    bob.extra =
        "[profile.distribute]\nlocal_domains = [\"local.test\"]\nfallback = \"bob\"\n".into();
    let mut old = ProfileSpec::new(
        "old-isp",
        remote.pop3s_port(),
        "old@isp.example",
        &wrong_pw,
        local.smtp_port(),
        "bob",
    );
    old.ca_file = Some(ca.ca_file().to_path_buf());
    old.interval = "20s";
    let setup = WorkerSetup::new(&[alice, bob, old])?;
    let config = std::fs::read_to_string(&setup.config)?;
    std::fs::write(
        &setup.config,
        config.replacen("[worker]\n", "[worker]\nhold_after_attempts = 1\n", 1),
    )?;
    let log = std::fs::File::create(tmp.path().join("worker.log"))?;
    let mut worker = Command::new(worker_binary()?)
        .args(["run", "--config"])
        .arg(&setup.config)
        .env("RUST_LOG", "info")
        .stderr(log)
        .spawn()
        .context("start mailpull-worker")?;

    let result = (|| -> anyhow::Result<()> {
        let start = Instant::now();
        while local.messages("alice")?.len() < 12 {
            if start.elapsed() > Duration::from_secs(60) {
                bail!("the first poll did not move alice's mail");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        println!("READY {}", setup.config.display());
        let mut next = 1000;
        while start.elapsed() < Duration::from_secs(seconds) && !stopped() {
            remote.add_message(
                "alice@isp.example",
                &sample_message(next, 4_000, "alice@isp.example"),
            )?;
            next += 1;
            std::thread::sleep(Duration::from_secs(2));
        }
        Ok(())
    })();
    stop_worker(&mut worker);
    result
}
