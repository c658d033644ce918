//! Alert mail and History on the shared state (PostgreSQL), end to end: two
//! `mailpull-worker` processes share one private PostgreSQL state and two profiles, pulling
//! from the real Dovecot into the real Postfix. One profile's password is wrong: ONE alert mail
//! reaches postmaster, not one per worker, also after the worker that sent it stops and the
//! other takes the profile over (the alert row is shared); once the password is fixed, ONE
//! recovery mail. The other profile's delivery is in the History over either worker's pipe.

use std::process::Child;
use std::time::{Duration, Instant};

use mailpull_shared::ipc::{Endpoint, IpcClient};
use mailpull_tests::{
    LocalMailServer, PostgresCluster, ProfileSpec, RemoteDovecot, TestCa, WorkerSetup, stop_worker,
};

const WAIT: Duration = Duration::from_secs(40);
const WRONG: &str = "Wr0ng-Shared-5521";
const RIGHT: &str = "Right-Shared-8830";
const DB: &str = "alerts";

fn postmaster(local: &LocalMailServer) -> Vec<String> {
    local
        .messages("postmaster")
        .expect("postmaster's mail")
        .into_iter()
        .map(|raw| String::from_utf8_lossy(&raw).into_owned())
        .collect()
}

/// Waits until postmaster has `n` mails, then a little longer to see that no more come.
fn exactly(local: &LocalMailServer, n: usize, context: &dyn Fn() -> String) -> Vec<String> {
    local
        .wait_for_messages("postmaster", n, WAIT)
        .unwrap_or_else(|err| panic!("{err:#}\n{}", context()));
    std::thread::sleep(Duration::from_secs(3));
    let got = postmaster(local);
    assert_eq!(got.len(), n, "{got:#?}\n{}", context());
    got
}

/// The pid in the live lease of `profile`, from the `leases` table.
fn holder(pg: &PostgresCluster, profile: &str) -> Option<u32> {
    pg.query(
        DB,
        &format!("SELECT holder FROM leases WHERE profile = '{profile}' AND expires_at > now()"),
    )
    .expect("leases")
    .trim()
    .split(':')
    .nth(1)?
    .parse()
    .ok()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn two_workers_send_one_alert_and_one_recovery_and_share_the_history() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(tmp.path()).expect("ca");
    let remote = RemoteDovecot::start(&ca).expect("remote");
    remote.add_user("bad", RIGHT).expect("user");
    remote.add_user("good", RIGHT).expect("user");
    let local = LocalMailServer::start(&["alice", "postmaster"]).expect("local");
    let pg = PostgresCluster::start().expect("the private PostgreSQL cluster must start");
    pg.create_database(DB).expect("database");
    let pg_password = WorkerSetup::password_file(tmp.path(), "pg", pg.password()).expect("pw");
    let bad_password = WorkerSetup::password_file(tmp.path(), "bad", WRONG).expect("pw");
    let good_password = WorkerSetup::password_file(tmp.path(), "good", RIGHT).expect("pw");
    remote
        .add_message(
            "good",
            b"From: Ann <ann@example.org>\r\nTo: alice@local.test\r\nSubject: shared history g1\r\n\
              Message-ID: <g1@example.org>\r\n\r\nBody.\r\n",
        )
        .expect("message");
    let spec = |name: &str, password: &std::path::Path| {
        let mut spec = ProfileSpec::new(
            name,
            remote.pop3s_port(),
            name,
            password,
            local.smtp_port(),
            "alice",
        );
        spec.ca_file = Some(ca.ca_file().to_path_buf());
        spec.interval = "10s";
        spec
    };
    let mut good = spec("good", &good_password);
    // Kept on the server, so its record stays (the rows of deleted messages go once the
    // server no longer lists them, with either state).
    good.after_delivery = "keep";
    let specs = [spec("bad", &bad_password), good];
    let setups: Vec<WorkerSetup> = (0..2)
        .map(|_| {
            let setup = WorkerSetup::new(&specs).expect("setup");
            let text = std::fs::read_to_string(&setup.config).expect("config");
            let worker = format!(
                "[worker]\nstate = {:?}\nstate_password = {{ file = {:?} }}\nlease = \"3s\"\n\
                 alerts = {{ to = \"postmaster@local.test\", after = \"2s\" }}\n",
                pg.url(DB),
                pg_password.display().to_string()
            );
            std::fs::write(&setup.config, text.replacen("[worker]\n", &worker, 1)).expect("config");
            setup
        })
        .collect();
    let mut children: Vec<Option<Child>> = setups
        .iter()
        .map(|s| Some(s.spawn_listening().expect("worker listens")))
        .collect();
    let logs = || {
        (0..2)
            .map(|i| {
                let text = std::fs::read_to_string(setups[i].dir.path().join("worker.stderr"))
                    .unwrap_or_default();
                format!("--- worker {i}\n{text}")
            })
            .collect::<String>()
    };

    // The failing profile: one alert, whichever worker holds it.
    let got = exactly(&local, 1, &logs);
    assert!(
        got[0].contains("Subject: Mailpull: profile \"bad\" is failing"),
        "{}",
        got[0]
    );
    assert!(!got[0].contains(WRONG), "the alert carries the password");
    local
        .wait_for_messages("alice", 1, WAIT)
        .unwrap_or_else(|err| panic!("{err:#}\n{}", logs()));

    // History over either worker's pipe: the shared rows, whoever delivered.
    let rt = runtime();
    for setup in &setups {
        let endpoint = Endpoint::for_config(&setup.config);
        let history = rt
            .block_on(async {
                IpcClient::connect(&endpoint)
                    .await?
                    .history("good", 0)
                    .await
            })
            .unwrap_or_else(|err| panic!("history: {err}\n{}", logs()));
        assert_eq!(
            history.all.messages,
            1,
            "{history:?}\n{:?}\n{}",
            pg.query(
                DB,
                "SELECT profile, uid, recipients, subject, delivered_at FROM delivered"
            ),
            logs()
        );
        assert_eq!(history.today.messages, 1, "{history:?}");
        let delivery = history.recent.first().expect("the delivery");
        assert_eq!(delivery.subject, "shared history g1");
        assert_eq!(delivery.from, "Ann <ann@example.org>");
        assert!(delivery.reply.starts_with("250"), "{delivery:?}");
    }

    // The worker holding the failing profile stops; the other takes it over, fails too, and
    // sends nothing: the row says the alert went out.
    let first = holder(&pg, "bad").unwrap_or_else(|| panic!("nobody holds bad\n{}", logs()));
    let (gone, survivor) = if children[0].as_ref().map(Child::id) == Some(first) {
        (0, 1)
    } else {
        (1, 0)
    };
    assert_eq!(children[gone].as_ref().map(Child::id), Some(first));
    let failed_polls = || {
        std::fs::read_to_string(setups[survivor].dir.path().join("worker.stderr"))
            .unwrap_or_default()
            .lines()
            .filter(|line| line.contains("poll failed") && line.contains("bad"))
            .count()
    };
    let failed_before = failed_polls();
    let mut stopping = children[gone].take().expect("worker");
    stop_worker(&mut stopping);
    let survivor_pid = children[survivor].as_ref().expect("survivor").id();
    let start = Instant::now();
    while holder(&pg, "bad") != Some(survivor_pid) {
        assert!(start.elapsed() < WAIT, "bad not taken over\n{}", logs());
        std::thread::sleep(Duration::from_millis(200));
    }
    // The survivor polls it at once on the claim, and fails.
    while failed_polls() == failed_before {
        assert!(
            start.elapsed() < WAIT,
            "the survivor did not poll bad\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    exactly(&local, 1, &logs);

    // Fixed: the survivor's next poll works and one recovery mail follows.
    std::fs::write(&bad_password, format!("{RIGHT}\n")).expect("fix password");
    let endpoint = Endpoint::for_config(&setups[survivor].config);
    rt.block_on(async { IpcClient::connect(&endpoint).await?.poll_now("bad").await })
        .unwrap_or_else(|err| panic!("poll-now: {err}\n{}", logs()));
    let got = exactly(&local, 2, &logs);
    let recovery = got
        .iter()
        .find(|mail| mail.contains("Subject: Mailpull: profile \"bad\" works again"))
        .unwrap_or_else(|| panic!("no recovery mail: {got:#?}"));
    assert!(!recovery.contains(WRONG) && !recovery.contains(RIGHT));
    assert!(
        pg.query(DB, "SELECT count(*) FROM alerts")
            .expect("alerts")
            .trim()
            == "0",
        "the trouble is over: no alert row left"
    );
    for child in children.iter_mut().flatten() {
        stop_worker(child);
    }
}
