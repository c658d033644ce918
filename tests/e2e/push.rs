//! IMAP IDLE push end to end against the real Dovecot: a `push = true` profile with an
//! interval of one hour gets new mail within seconds, survives its IDLE connection being cut
//! (a fault proxy in front of plain IMAP), and renews its IDLE (in process, with a short
//! renewal time).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mailpull_shared::config;
use mailpull_tests::proxy::{Action, FaultProxy, Trigger};
use mailpull_tests::{
    LocalMailServer, ProfileSpec, RemoteDovecot, RemoteOptions, TestCa, WorkerSetup, duplicate_ids,
    message_ids, sample_message,
};
use mailpull_worker::context::PollContext;
use mailpull_worker::deliver::Deliverer;
use mailpull_worker::push::{IdleCounts, IdleSlots, PushOptions, Watch, watch_folder};
use mailpull_worker::state::Store;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

const PASSWORD: &str = "push-secret-1";
/// New mail must be local within this time of landing in the remote Maildir.
const PUSH_LATENCY: Duration = Duration::from_secs(5);

/// A Dovecot that notices new Maildir files during IDLE within a second even when inotify is
/// out of instances (other tests on the machine may use them up).
fn remote(tmp: &Path) -> (TestCa, RemoteDovecot, PathBuf) {
    let ca = TestCa::new(tmp).expect("ca");
    let remote = RemoteDovecot::start_with(
        RemoteOptions::new(&ca).with_extra_config("mailbox_idle_check_interval = 1 secs"),
    )
    .expect("remote");
    remote.add_user("isp-user", PASSWORD).expect("user");
    let password_file = WorkerSetup::password_file(tmp, "isp-user", PASSWORD).expect("pw");
    (ca, remote, password_file)
}

fn worker_log(setup: &WorkerSetup) -> String {
    std::fs::read_to_string(setup.dir.path().join("worker.stderr")).unwrap_or_default()
}

fn wait_for_log(setup: &WorkerSetup, needle: &str, count: usize, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while worker_log(setup).matches(needle).count() < count {
        assert!(
            Instant::now() < deadline,
            "{needle:?} not logged {count} time(s) within {timeout:?}:\n{}",
            worker_log(setup)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Adds message `i` remotely and returns how long it took to arrive locally as message `n`.
fn push_one(remote: &RemoteDovecot, local: &LocalMailServer, i: usize, n: usize) -> Duration {
    let raw = sample_message(i, 3_000, "isp-user@isp.example");
    remote.add_message("isp-user", &raw).expect("add");
    let dropped = Instant::now();
    local
        .wait_for_messages("alice", n, PUSH_LATENCY * 4)
        .unwrap_or_else(|e| panic!("message {i}: {e:#}"));
    dropped.elapsed()
}

#[test]
fn push_delivers_at_once_and_survives_a_cut_connection() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (_ca, remote, password_file) = remote(tmp.path());
    let local = LocalMailServer::start(&["alice"]).expect("local");
    let proxy = FaultProxy::start(([127, 0, 0, 1], remote.imap_port()).into()).expect("proxy");
    let mut spec = ProfileSpec::new(
        "pushed",
        proxy.port(),
        "isp-user",
        &password_file,
        local.smtp_port(),
        "alice",
    );
    spec.protocol = "imap";
    spec.security = "plain";
    spec.interval = "1h";
    spec.push = true;
    let setup = WorkerSetup::new(&[spec]).expect("setup");
    let mut worker = setup.spawn(false).expect("spawn");
    wait_for_log(&setup, "IDLE started", 1, Duration::from_secs(15));
    // Let the start-up polls (timer and push) finish.
    wait_for_log(&setup, "poll done", 1, Duration::from_secs(15));
    std::thread::sleep(Duration::from_millis(500));

    let first = push_one(&remote, &local, 1, 1);
    assert!(first < PUSH_LATENCY, "first message took {first:?}");

    // Cut every connection (the IDLE one): the worker reconnects and catches up.
    proxy.cut_all();
    let second = push_one(&remote, &local, 2, 2);
    assert!(
        second < PUSH_LATENCY * 2,
        "after the cut the message took {second:?}\n{}",
        worker_log(&setup)
    );
    wait_for_log(&setup, "IDLE connection lost", 1, Duration::from_secs(10));
    wait_for_log(&setup, "IDLE started", 2, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(500));
    // And IDLE works again on the new connection.
    let third = push_one(&remote, &local, 3, 3);
    assert!(third < PUSH_LATENCY, "third message took {third:?}");

    std::thread::sleep(Duration::from_millis(500));
    let _ = worker.kill();
    let _ = worker.wait();
    let delivered = local.messages("alice").expect("local");
    assert_eq!(delivered.len(), 3, "{}", worker_log(&setup));
    assert!(duplicate_ids(&delivered).is_empty());
    assert_eq!(
        message_ids(&delivered).len(),
        3,
        "every message has its Message-ID"
    );
    assert_eq!(remote.message_count("isp-user").expect("count"), 0);
    eprintln!("push latency: {first:?}, after a cut {second:?}, after reconnect {third:?}");
}

#[test]
fn idle_is_renewed_and_still_reports_new_mail() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (_ca, remote, password_file) = remote(tmp.path());
    let proxy = FaultProxy::start(([127, 0, 0, 1], remote.imap_port()).into()).expect("proxy");
    // The second DONE on the connection proves two renewals; a 1 ms stall changes nothing.
    proxy.arm(
        Trigger::exact("DONE", 2),
        Action::Stall(Duration::from_millis(1)),
    );
    let text = format!(
        "[[profile]]\nname = \"p\"\npush = true\ninterval = \"1h\"\n\
         [profile.remote]\nprotocol = \"imap\"\nhost = \"localhost\"\nport = {}\nsecurity = \"plain\"\n\
         username = \"isp-user\"\npassword = {{ file = {:?} }}\n\
         [profile.local]\nuser = \"alice\"\ndomain = \"local.test\"\n",
        proxy.port(),
        password_file.display().to_string()
    );
    let profile = config::parse(&text, "push.toml").expect("config").profiles[0].clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let store = Store::open(&tmp.path().join("state")).expect("store");
        let cancel = CancellationToken::new();
        let ctx = Arc::new(PollContext::new(store, Deliverer::new(1), cancel.clone()));
        let wake = Arc::new(Notify::new());
        let options = PushOptions {
            renew: Duration::from_millis(700),
            ..PushOptions::default()
        };
        let slots = IdleSlots::new(1);
        let counts = Arc::new(IdleCounts::default());
        let watch = Watch {
            profile: Arc::new(profile),
            folder: "INBOX".to_string(),
            wake: wake.clone(),
            counts: counts.clone(),
        };
        let first = slots.try_take(&counts);
        let watcher = tokio::spawn(watch_folder(
            ctx,
            options,
            slots,
            first,
            watch,
            cancel.clone(),
        ));
        // The wake after IDLE started.
        tokio::time::timeout(Duration::from_secs(15), wake.notified())
            .await
            .expect("woken once IDLE runs");
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        assert_eq!(proxy.fired(), 1, "IDLE was renewed at least twice");
        assert_eq!(proxy.connections(), 1, "renewal keeps the connection");

        let raw = sample_message(7, 2_000, "isp-user@isp.example");
        remote.add_message("isp-user", &raw).expect("add");
        let started = Instant::now();
        tokio::time::timeout(PUSH_LATENCY, wake.notified())
            .await
            .unwrap_or_else(|_| panic!("no wake within {PUSH_LATENCY:?}\n{}", remote.log()));
        eprintln!("new mail announced after {:?}", started.elapsed());

        cancel.cancel();
        tokio::time::timeout(Duration::from_secs(10), watcher)
            .await
            .expect("the watcher ends on cancellation")
            .expect("join");
    });
    // Nothing was fetched or changed by the watcher (EXAMINE is read-only).
    assert_eq!(remote.message_count("isp-user").expect("count"), 1);
}
