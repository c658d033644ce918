//! The demo: a private "ISP" Dovecot filled with sample mail, a local Postfix delivering into a
//! local Dovecot, and the real `mailpull-worker` moving the mail across while you watch.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use mailpull_tests::{
    LocalMailServer, ProfileSpec, RemoteDovecot, TestCa, WorkerSetup, headers, sample_message,
    worker_binary,
};

fn wait_for(
    local: &LocalMailServer,
    user: &str,
    n: usize,
    timeout: Duration,
) -> anyhow::Result<()> {
    let start = Instant::now();
    while local.messages(user)?.len() < n {
        if start.elapsed() > timeout {
            bail!(
                "{user} has {} of {n} messages after {timeout:?}",
                local.messages(user)?.len()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

fn show_mailbox(local: &LocalMailServer, user: &str) -> anyhow::Result<()> {
    let messages = local.messages(user)?;
    println!("\n  {user}@local.test — {} message(s)", messages.len());
    for raw in messages.iter().take(5) {
        let hdrs = headers(raw);
        let get = |name: &str| {
            hdrs.iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let trace = hdrs
            .iter()
            .find(|(n, v)| n.eq_ignore_ascii_case("Received") && v.contains("mailpull-id="))
            .map(|(_, v)| v.split(';').next().unwrap_or_default().to_string())
            .unwrap_or_default();
        println!("    {:<42} {}", get("Subject"), get("From"));
        println!("      {trace}");
    }
    if messages.len() > 5 {
        println!("    ... and {} more", messages.len() - 5);
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir().context("tempdir")?;
    println!("== Mailpull demo ==");
    let ca = TestCa::new(tmp.path())?;
    let remote = RemoteDovecot::start(&ca).context("start the ISP's Dovecot")?;
    let local = LocalMailServer::start(&["alice", "bob"]).context("start the local Postfix")?;
    println!(
        "ISP (Dovecot):        POP3S 127.0.0.1:{}, IMAPS 127.0.0.1:{}",
        remote.pop3s_port(),
        remote.imaps_port()
    );
    println!("Local (Postfix→LMTP): SMTP 127.0.0.1:{}", local.smtp_port());

    remote.add_user("alice@isp.example", "alice-pw")?;
    remote.add_user("bob@isp.example", "bob-pw")?;
    for i in 0..20 {
        remote.add_message(
            "alice@isp.example",
            &sample_message(i, 3_000, "alice@isp.example"),
        )?;
    }
    for i in 100..110 {
        remote.add_message(
            "bob@isp.example",
            &sample_message(i, 3_000, "bob@isp.example"),
        )?;
    }
    println!(
        "Filled the ISP mailboxes: alice@isp.example 20 messages (POP3S), bob@isp.example 10 (IMAPS)"
    );

    let alice_pw = WorkerSetup::password_file(tmp.path(), "alice", "alice-pw")?;
    let bob_pw = WorkerSetup::password_file(tmp.path(), "bob", "bob-pw")?;
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
    bob.interval = "10s";
    let setup = WorkerSetup::new(&[alice, bob])?;
    println!("\nConfiguration ({}):\n", setup.config.display());
    println!("{}", std::fs::read_to_string(&setup.config)?);

    let status = Command::new(worker_binary()?)
        .args(["check", "--config"])
        .arg(&setup.config)
        .status()?;
    if !status.success() {
        bail!("the generated configuration does not check");
    }

    println!("\nStarting mailpull-worker (its log follows):\n");
    let mut worker = Command::new(worker_binary()?)
        .args(["run", "--config"])
        .arg(&setup.config)
        .spawn()
        .context("start mailpull-worker")?;
    let result = (|| -> anyhow::Result<()> {
        wait_for(&local, "alice", 20, Duration::from_secs(60))?;
        wait_for(&local, "bob", 10, Duration::from_secs(60))?;
        println!(
            "\n-- First poll done: 30 messages moved. Dropping 5 new messages at the ISP; the next poll (every 10 s) picks them up.\n"
        );
        for i in 200..205 {
            remote.add_message(
                "alice@isp.example",
                &sample_message(i, 3_000, "alice@isp.example"),
            )?;
        }
        wait_for(&local, "alice", 25, Duration::from_secs(60))?;
        Ok(())
    })();
    // SIGTERM: the worker finishes the message in hand and logs out.
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(worker.id().to_string())
        .status();
    let _ = worker.wait();
    result?;

    println!("\n== Local mailboxes ==");
    show_mailbox(&local, "alice")?;
    show_mailbox(&local, "bob")?;
    println!(
        "\nISP mailboxes now: alice@isp.example {} message(s), bob@isp.example {} — pulled, delivered, recorded, then deleted.",
        remote.message_count("alice@isp.example")?,
        remote.message_count("bob@isp.example")?
    );
    Ok(())
}
