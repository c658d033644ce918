//! The metrics endpoint on the real Dovecot → Postfix bed: a worker with `[worker] metrics` on
//! a free loopback port delivers mail, and its `/metrics` says so — messages and bytes per
//! profile (the bytes the state database recorded), a message the local server refuses as a
//! failure, a 5xx reply and, with `hold_after_attempts = 1`, a held message; the last poll's
//! time; an open IDLE connection of a `push = true` profile. `/healthz` answers 200, and
//! Prometheus' own `promtool check metrics` (Debian's `prometheus` package, installed by
//! `scripts/setup-deps.sh`) accepts the scraped text.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mailpull_tests::{
    LocalMailServer, ProfileSpec, RemoteDovecot, TestCa, WorkerSetup, free_port, http_get,
    stop_worker,
};

const WAIT: Duration = Duration::from_secs(40);

fn message(id: &str, to: &str) -> Vec<u8> {
    format!(
        "Return-Path: <sender@example.org>\r\nFrom: Sender <sender@example.org>\r\nTo: {to}\r\n\
         Subject: metrics {id}\r\nDate: Sat, 22 Nov 2025 10:00:00 +0000\r\n\
         Message-ID: <{id}@example.org>\r\n\r\nBody of {id}.\r\n"
    )
    .into_bytes()
}

/// The value of the sample `series` (name and labels as exposed) in `text`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

/// The body of a 200 answer to `GET path`, or the whole answer as the error.
fn get(port: u16, path: &str) -> Result<String, String> {
    let answer = http_get(&format!("http://127.0.0.1:{port}{path}"));
    match answer.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.1 200 ") => Ok(body.to_string()),
        _ => Err(answer),
    }
}

/// `promtool check metrics` over `text`: its exit status and output. A missing promtool is a
/// failure, not a skip.
fn promtool_check(text: &str) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| {
            panic!("promtool not found ({err}): install Debian's `prometheus` package (scripts/setup-deps.sh)")
        });
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool");
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), output)
}

#[test]
fn a_running_worker_serves_its_deliveries_failures_and_health_to_prometheus() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(tmp.path()).expect("ca");
    let remote = RemoteDovecot::start(&ca).expect("remote");
    for user in ["metricsin", "metricsrefused", "metricspush"] {
        remote.add_user(user, "pw").expect("user");
    }
    let local = LocalMailServer::start(&["alice", "bob", "carol"]).expect("local");
    let sent = [
        message("m1", "alice@local.test"),
        message("m2", "alice@local.test"),
        message("m3", "alice@local.test"),
    ];
    for raw in &sent {
        remote.add_message("metricsin", raw).expect("add");
    }
    remote
        .add_message("metricsrefused", &message("r1", "bob@local.test"))
        .expect("add");
    local
        .set_reject("bob@local.test", Some("550 5.1.1 bob is gone"))
        .expect("reject");

    let password = WorkerSetup::password_file(tmp.path(), "pw", "pw").expect("pw");
    let mut inbound = ProfileSpec::new(
        "mail-in",
        remote.pop3s_port(),
        "metricsin",
        &password,
        local.smtp_port(),
        "alice",
    );
    inbound.ca_file = Some(ca.ca_file().to_path_buf());
    let mut refused = ProfileSpec::new(
        "refused",
        remote.pop3s_port(),
        "metricsrefused",
        &password,
        local.smtp_port(),
        "bob",
    );
    refused.ca_file = Some(ca.ca_file().to_path_buf());
    let mut pushed = ProfileSpec::new(
        "pushed",
        remote.imaps_port(),
        "metricspush",
        &password,
        local.smtp_port(),
        "carol",
    );
    pushed.protocol = "imap";
    pushed.push = true;
    pushed.interval = "1h";
    pushed.ca_file = Some(ca.ca_file().to_path_buf());
    let setup = WorkerSetup::new(&[inbound, refused, pushed]).expect("setup");
    let port = free_port().expect("port");
    let text = std::fs::read_to_string(&setup.config).expect("config");
    std::fs::write(
        &setup.config,
        text.replacen(
            "[worker]\n",
            &format!("[worker]\nhold_after_attempts = 1\nmetrics = \"127.0.0.1:{port}\"\n"),
            1,
        ),
    )
    .expect("write config");

    let mut worker = setup.spawn_listening().expect("worker");
    let stderr =
        || std::fs::read_to_string(setup.dir.path().join("worker.stderr")).unwrap_or_default();
    local
        .wait_for_messages("alice", 3, WAIT)
        .unwrap_or_else(|err| panic!("{err:#}\n{}", stderr()));

    // Scrape until everything the polls did shows (the refused profile's poll and the IDLE
    // connection run beside the first profile's).
    let deadline = Instant::now() + WAIT;
    let scraped = loop {
        let body = get(port, "/metrics").unwrap_or_else(|answer| panic!("{answer}\n{}", stderr()));
        let done = sample(
            &body,
            "mailpull_delivered_messages_total{profile=\"mail-in\"}",
        ) == Some(3.0)
            && sample(&body, "mailpull_held_messages{profile=\"refused\"}") == Some(1.0)
            && sample(&body, "mailpull_idle_connections{profile=\"pushed\"}") == Some(1.0)
            && sample(
                &body,
                "mailpull_last_successful_poll_timestamp_seconds{profile=\"mail-in\"}",
            )
            .is_some();
        if done {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "the metrics never showed the polls:\n{body}\n{}",
            stderr()
        );
        std::thread::sleep(Duration::from_millis(200));
    };

    let value = |series: &str| {
        sample(&scraped, series).unwrap_or_else(|| panic!("no {series} in\n{scraped}"))
    };
    let db = rusqlite::Connection::open(setup.state_dir().join("state.sqlite3")).expect("db");
    let recorded: i64 = db
        .query_row(
            "SELECT sum(size) FROM delivered WHERE profile = 'mail-in'",
            [],
            |row| row.get(0),
        )
        .expect("recorded bytes");
    let fetched: usize = sent.iter().map(Vec::len).sum();
    assert!(recorded as usize >= fetched, "{recorded} < {fetched}");
    assert_eq!(
        value("mailpull_delivered_bytes_total{profile=\"mail-in\"}"),
        recorded as f64
    );
    assert_eq!(
        value("mailpull_delivered_messages_total{profile=\"refused\"}"),
        0.0
    );
    assert_eq!(
        value("mailpull_smtp_replies_total{profile=\"mail-in\",class=\"2xx\"}"),
        3.0
    );
    assert!(value("mailpull_smtp_replies_total{profile=\"refused\",class=\"5xx\"}") >= 1.0);
    assert!(value("mailpull_failures_total{profile=\"refused\",kind=\"message\"}") >= 1.0);
    assert_eq!(
        value("mailpull_failures_total{profile=\"mail-in\",kind=\"remote\"}"),
        0.0
    );
    assert_eq!(value("mailpull_held_messages{profile=\"mail-in\"}"), 0.0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    let last = value("mailpull_last_successful_poll_timestamp_seconds{profile=\"mail-in\"}");
    assert!(
        last > 0.0 && last <= now + 1.0 && now - last < 120.0,
        "{last} vs {now}"
    );
    assert!(value("mailpull_poll_duration_seconds_count{profile=\"mail-in\"}") >= 1.0);
    assert!(value("mailpull_state_database_bytes") > 0.0);

    let health = get(port, "/healthz").unwrap_or_else(|answer| panic!("{answer}"));
    assert_eq!(health, "ok\n");

    let (ok, output) = promtool_check(&scraped);
    assert!(
        ok,
        "promtool check metrics refused the scrape:\n{output}\n--- scraped\n{scraped}"
    );

    stop_worker(&mut worker);
}

#[test]
fn a_metrics_port_in_use_stops_the_start_naming_the_setting() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let password = WorkerSetup::password_file(tmp.path(), "pw", "pw").expect("pw");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr");
    let profile = ProfileSpec::new("p", free_port().expect("port"), "u", &password, 25, "alice");
    let setup = WorkerSetup::new(&[profile]).expect("setup");
    let text = std::fs::read_to_string(&setup.config).expect("config");
    std::fs::write(
        &setup.config,
        text.replacen(
            "[worker]\n",
            &format!("[worker]\nmetrics = \"{addr}\"\n"),
            1,
        ),
    )
    .expect("write config");
    let mut worker = setup.spawn(false).expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = worker.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            stop_worker(&mut worker);
            panic!("the worker started although {addr} is taken");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::fs::read_to_string(setup.dir.path().join("worker.stderr")).expect("stderr");
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot listen for metrics on {addr} (worker.metrics)"
        )),
        "{stderr}"
    );
    drop(taken);
}
