//! The per-host connection cap holds across the cluster: two workers on one shared state
//! (the private PostgreSQL), `max_connections_per_host = 2`, twelve POP3S profiles on the
//! real Dovecot behind a counting TCP proxy that holds every connection half a second before
//! it connects through (so polls overlap). Once the workers split the profiles (6 / 6), every
//! profile is asked to poll at once over both pipes: each worker would open 2 connections
//! alone; together they never have more than 2 open (1 each), and every message arrives.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mailpull_shared::ipc::{Endpoint, IpcClient};
use mailpull_tests::{
    LocalMailServer, PostgresCluster, ProfileSpec, RemoteDovecot, RemoteOptions, TestCa,
    WorkerSetup, message_ids, sample_message, stop_worker,
};

const PASSWORD: &str = "cluster-caps-pw";
const DB: &str = "caps";
const PROFILES: usize = 12;
const CAP: usize = 2;
/// How long the proxy holds each new connection before it connects through.
const HOLD: Duration = Duration::from_millis(500);

/// Connections open through the proxy now, and the most at once since the last reset.
#[derive(Default)]
struct Counts {
    open: AtomicUsize,
    max: AtomicUsize,
    total: AtomicUsize,
}

/// A TCP proxy on 127.0.0.1 in front of `upstream` that counts its open connections (for
/// the life of the test process).
fn counting_proxy(upstream: u16) -> (u16, Arc<Counts>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let counts = Arc::new(Counts::default());
    let shared = counts.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let counts = shared.clone();
            std::thread::spawn(move || {
                let open = counts.open.fetch_add(1, Ordering::SeqCst) + 1;
                counts.max.fetch_max(open, Ordering::SeqCst);
                counts.total.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(HOLD);
                if let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) {
                    let pipe = |mut from: TcpStream, mut to: TcpStream| {
                        std::thread::spawn(move || {
                            let mut buf = [0u8; 16 * 1024];
                            while let Ok(n) = from.read(&mut buf) {
                                if n == 0 || to.write_all(&buf[..n]).is_err() {
                                    break;
                                }
                            }
                            let _ = to.shutdown(Shutdown::Write);
                        })
                    };
                    let up = pipe(
                        client.try_clone().expect("clone"),
                        server.try_clone().expect("clone"),
                    );
                    let down = pipe(server, client);
                    let _ = up.join();
                    let _ = down.join();
                }
                counts.open.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    (port, counts)
}

/// Live leases per holder.
fn split(pg: &PostgresCluster) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for line in pg
        .query(DB, "SELECT holder FROM leases WHERE expires_at > now()")
        .expect("leases")
        .lines()
    {
        *out.entry(line.to_string()).or_insert(0) += 1;
    }
    out
}

#[test]
fn two_workers_keep_the_per_host_cap_together() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(tmp.path()).expect("test CA");
    let remote = RemoteDovecot::start_with(RemoteOptions::new(&ca)).expect("remote dovecot");
    let local = LocalMailServer::start(&["alice"]).expect("local postfix");
    let pg = PostgresCluster::start().expect("the private PostgreSQL cluster must start");
    pg.create_database(DB).expect("database");
    let (proxy_port, counts) = counting_proxy(remote.pop3s_port());
    let password_file = WorkerSetup::password_file(tmp.path(), "isp", PASSWORD).expect("pw");
    let pg_password = WorkerSetup::password_file(tmp.path(), "pg", pg.password()).expect("pw");
    let specs: Vec<ProfileSpec> = (0..PROFILES)
        .map(|p| {
            let user = format!("caps-user-{p}");
            remote.add_user(&user, PASSWORD).expect("add user");
            let mut spec = ProfileSpec::new(
                &format!("caps-{p:02}"),
                proxy_port,
                &user,
                &password_file,
                local.smtp_port(),
                "alice",
            );
            spec.ca_file = Some(ca.ca_file().to_path_buf());
            spec.interval = "1h";
            spec
        })
        .collect();
    let setups: Vec<WorkerSetup> = (0..2)
        .map(|_| {
            let setup = WorkerSetup::with_limits(64, CAP, &specs).expect("setup");
            let text = std::fs::read_to_string(&setup.config).expect("config");
            let shared = format!(
                "[worker]\nstate = {:?}\nstate_password = {{ file = {:?} }}\nlease = \"6s\"\n",
                pg.url(DB),
                pg_password.display().to_string()
            );
            std::fs::write(&setup.config, text.replacen("[worker]\n", &shared, 1)).expect("config");
            setup
        })
        .collect();
    let mut children: Vec<_> = setups
        .iter()
        .map(|s| s.spawn_listening().expect("worker listens"))
        .collect();
    let log = |i: usize| {
        std::fs::read_to_string(setups[i].dir.path().join("worker.stderr")).unwrap_or_default()
    };

    // Both alive and the profiles split 6 / 6, each worker's share of the cap taken (1).
    let start = Instant::now();
    loop {
        let held = split(&pg);
        let shared_cap = (0..2).all(|i| log(i).contains("share of max_connections_per_host"));
        if held.len() == 2 && held.values().all(|n| *n == PROFILES / 2) && shared_cap {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no even split: {held:?}\n{}\n{}",
            log(0),
            log(1)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Let the start-up polls (of empty mailboxes) end, then count afresh.
    let idle_since = Instant::now();
    while counts.open.load(Ordering::SeqCst) > 0 || idle_since.elapsed() < Duration::from_secs(2) {
        assert!(
            idle_since.elapsed() < Duration::from_secs(60),
            "polls never ended"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    counts.max.store(0, Ordering::SeqCst);
    let before = counts.total.load(Ordering::SeqCst);

    let mut sent = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        for m in 0..2 {
            let raw = sample_message(i * 10 + m, 2_000, &format!("{}@isp.example", spec.username));
            sent.extend(message_ids(std::slice::from_ref(&raw)));
            remote
                .add_message(&spec.username, &raw)
                .expect("add message");
        }
    }
    // Every profile at once, over both pipes (the one that does not hold it ignores it).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for setup in &setups {
        let endpoint = Endpoint::for_config(&setup.config);
        rt.block_on(async {
            let mut client = IpcClient::connect(&endpoint).await?;
            for spec in &specs {
                client.poll_now(&spec.name).await?;
            }
            Ok::<_, mailpull_shared::ipc::ClientError>(())
        })
        .expect("poll-now");
    }
    let delivered = local
        .wait_for_messages("alice", sent.len(), Duration::from_secs(90))
        .expect("every message arrives");
    let got: Vec<String> = message_ids(&delivered);
    for id in &sent {
        assert!(got.contains(id), "{id} did not arrive");
    }
    let polls = counts.total.load(Ordering::SeqCst) - before;
    let max = counts.max.load(Ordering::SeqCst);
    eprintln!(
        "cluster caps: {polls} connections for {PROFILES} profiles over 2 workers, at most {max} open at once (cap {CAP})"
    );
    assert!(
        polls >= PROFILES,
        "every profile polled: {polls} connections"
    );
    assert!(
        max <= CAP,
        "{max} connections open to one server at once, over the cluster's cap {CAP}"
    );
    for child in &mut children {
        stop_worker(child);
    }
}
