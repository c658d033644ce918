//! The README's Sieve recipe for dropping copies by `X-Mailpull-Delivery-Id` (issue #12, item
//! 3), on the real Postfix → Dovecot LMTP with Pigeonhole: the recipe and the Dovecot settings
//! are read from README.md ("Delivery ids and dropping the copies"), so this proves what the
//! README tells an administrator to install. A copy with a delivery id already delivered is
//! dropped, also when both copies arrive at once; anything else lands: other ids, the same
//! message under another id, a message without the header.

use std::collections::HashMap;
use std::time::Duration;

use mailpull_tests::{
    LineClient, LocalMailServer, LocalOptions, SIEVE_PLUGIN_CONFIG, SIEVE_POSTFIX_CONFIG,
    message_ids, sample_message, smtp_data, smtp_send,
};

const DELIVERY_ID: &str = "X-Mailpull-Delivery-Id";
const WAIT: Duration = Duration::from_secs(30);
/// Where the README puts the script.
const README_SCRIPT_PATH: &str = "/etc/dovecot/sieve/mailpull-duplicates.sieve";

fn readme() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// The README's recipe: the one fenced block marked `sieve`.
pub fn readme_recipe() -> String {
    let text = readme();
    let blocks: Vec<&str> = text
        .split("```sieve\n")
        .skip(1)
        .map(|rest| rest.split("```").next().unwrap_or_default())
        .collect();
    assert_eq!(
        blocks.len(),
        1,
        "README.md should hold exactly one ```sieve block (the recipe), found {}",
        blocks.len()
    );
    blocks[0].to_string()
}

/// A local server for alice whose LMTP Dovecot runs the README's recipe, Postfix logging
/// each message's delivery id.
pub fn local_with_recipe() -> LocalMailServer {
    LocalMailServer::start_with(LocalOptions {
        users: vec!["alice".into()],
        sieve_before: Some(readme_recipe()),
        log_headers: vec![DELIVERY_ID.into()],
        ..LocalOptions::default()
    })
    .expect("local Postfix and Dovecot with Sieve")
}

/// Sample message `i` with `X-Mailpull-Delivery-Id: id` on top (none for `None`), as the
/// worker sends it.
fn message(i: usize, id: Option<&str>) -> Vec<u8> {
    let raw = sample_message(i, 1_500, "alice@local.test");
    match id {
        Some(id) => [format!("{DELIVERY_ID}: {id}\r\n").into_bytes(), raw].concat(),
        None => raw,
    }
}

fn send(local: &LocalMailServer, raw: &[u8]) {
    smtp_send(
        local.smtp_port(),
        "isp-user@isp.example",
        &["alice@local.test"],
        raw,
    )
    .expect("Postfix takes the message");
}

#[test]
fn the_readme_settings_are_the_ones_tested() {
    let expected = SIEVE_PLUGIN_CONFIG.replace("{script}", README_SCRIPT_PATH);
    assert!(
        readme().contains(&expected),
        "README.md should give the Dovecot settings the tests use:\n{expected}"
    );
    assert!(
        readme().contains(SIEVE_POSTFIX_CONFIG),
        "README.md should give the Postfix settings the tests use:\n{SIEVE_POSTFIX_CONFIG}"
    );
    let recipe = readme_recipe();
    assert!(
        recipe.contains(&format!("duplicate :header \"{DELIVERY_ID}\"")),
        "{recipe}"
    );
}

#[test]
fn the_readme_recipe_drops_a_copy_with_a_known_delivery_id_and_nothing_else() {
    let local = local_with_recipe();
    let ids = |i: usize| format!("<mailpull-test-{i}@example.test>");
    let once = message(1, Some("test-installation.0001"));
    send(&local, &once);
    local
        .wait_for_messages("alice", 1, WAIT)
        .expect("the first copy lands");
    // The same copy again, after the first landed: dropped.
    send(&local, &once);
    // Two messages with their own ids: both land.
    send(&local, &message(2, Some("test-installation.0002")));
    send(&local, &message(3, Some("test-installation.0003")));
    // No delivery id: never dropped, not even an identical second copy.
    let plain = message(4, None);
    send(&local, &plain);
    send(&local, &plain);
    // The same message under another delivery id (a new delivery, not a copy): both land.
    send(&local, &message(6, Some("test-installation.0006a")));
    send(&local, &message(6, Some("test-installation.0006b")));

    let sent = 8;
    let taken = local
        .wait_for_taken(sent, |t| t.message_id.is_some(), WAIT)
        .expect("every copy crossed SMTP and was handed to Dovecot");
    let delivered = local.messages("alice").expect("mailbox");
    let mut landed: HashMap<String, usize> = HashMap::new();
    for id in message_ids(&delivered) {
        *landed.entry(id).or_default() += 1;
    }
    let expected: HashMap<String, usize> = [(1, 1), (2, 1), (3, 1), (4, 2), (6, 2)]
        .into_iter()
        .map(|(i, n)| (ids(i), n))
        .collect();
    assert_eq!(
        landed,
        expected,
        "copies per Message-ID in the mailbox\n--- dovecot ---\n{}",
        local.dovecot_log()
    );
    // Postfix took all 8 and Dovecot answered 250 to each: the copy was dropped by the
    // recipe's discard, after crossing SMTP.
    let crossed: usize = taken.iter().map(|t| t.sent).sum();
    assert_eq!(crossed, sent, "{taken:#?}");
    let discards = local
        .dovecot_log()
        .lines()
        .filter(|l| l.contains("sieve") && l.contains("discard"))
        .count();
    assert_eq!(discards, 1, "{}", local.dovecot_log());
}

/// One LMTP session to the local Dovecot, up to the end of the data less its final dot.
fn lmtp_before_the_dot(port: u16, raw: &[u8]) -> LineClient {
    let mut c = LineClient::connect(port).expect("LMTP connect");
    let expect = |reply: anyhow::Result<mailpull_tests::SmtpReply>, code: u16, what: &str| {
        let reply = reply.unwrap_or_else(|e| panic!("LMTP {what}: {e:#}"));
        assert_eq!(reply.code, code, "LMTP {what}: {}", reply.text());
    };
    expect(c.smtp_reply(), 220, "greeting");
    expect(c.smtp_command("LHLO mailpull-tests.localhost"), 250, "LHLO");
    expect(
        c.smtp_command("MAIL FROM:<isp-user@isp.example>"),
        250,
        "MAIL",
    );
    expect(c.smtp_command("RCPT TO:<alice@local.test>"), 250, "RCPT");
    expect(c.smtp_command("DATA"), 354, "DATA");
    let data = smtp_data(raw);
    c.send_raw(&data[..data.len() - 3]).expect("LMTP data");
    c
}

#[test]
fn two_copies_reaching_dovecot_at_the_same_moment_land_once() {
    // Pairs of copies over two LMTP sessions each, both final dots sent together: Dovecot
    // locks the id from the check to the commit, so the second copy waits for the first and
    // sees it. Twenty pairs, so that some of them overlap whatever the scheduler does.
    let local = local_with_recipe();
    const PAIRS: usize = 20;
    for pair in 0..PAIRS {
        let raw = message(
            100 + pair,
            Some(&format!("test-installation.pair{pair:02}")),
        );
        let sessions = [
            lmtp_before_the_dot(local.lmtp_port(), &raw),
            lmtp_before_the_dot(local.lmtp_port(), &raw),
        ];
        let barrier = std::sync::Barrier::new(2);
        std::thread::scope(|scope| {
            for mut session in sessions {
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    session.send_raw(b".\r\n").expect("final dot");
                    let reply = session.smtp_reply().expect("LMTP reply to the data");
                    assert_eq!(reply.code, 250, "{}", reply.text());
                });
            }
        });
    }
    let delivered = local.messages("alice").expect("mailbox");
    let mut landed = message_ids(&delivered);
    landed.sort();
    let expected: Vec<String> = (0..PAIRS)
        .map(|pair| format!("<mailpull-test-{}@example.test>", 100 + pair))
        .collect();
    assert_eq!(
        landed,
        expected,
        "\n--- dovecot ---\n{}",
        local.dovecot_log()
    );
}
