//! TLS to the shared state (PostgreSQL): a private cluster started with `ssl = on` and a
//! certificate of the test CA (`PostgresCluster::start_tls`). `sslmode=verify-full` with the
//! CA in `sslrootcert` connects (and the server sees the connections encrypted); a wrong CA,
//! a certificate for another name, and a server without TLS are refused with an error naming
//! the state URL's host and never the password; `verify-ca` accepts the other name (chain
//! only); `require` encrypts without checking; `check` says which mode it used.

use mailpull_shared::secrets::Secret;
use mailpull_tests::{PostgresCluster, TestCa};
use mailpull_worker::state::{StateError, Store};

async fn open(pg: &PostgresCluster, url: &str) -> Result<Store, StateError> {
    let dir = tempfile::tempdir().expect("tempdir");
    Store::open_shared(dir.path(), url, Some(Secret::new(pg.password()))).await
}

/// How many of the worker's connections the server sees encrypted, and how many in all.
fn encrypted(pg: &PostgresCluster, db: &str) -> (u32, u32) {
    let text = pg
        .query(
            db,
            "SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_activity a
             JOIN pg_stat_ssl s USING (pid) WHERE a.application_name = 'mailpull-worker'",
        )
        .expect("pg_stat_ssl");
    let (ssl, all) = text.trim().split_once('|').expect("two columns");
    (ssl.parse().expect("count"), all.parse().expect("count"))
}

fn refused(err: StateError, pg: &PostgresCluster, words: &[&str]) -> String {
    let text = err.to_string();
    assert!(
        text.contains(&format!("mailpull@localhost:{}/", pg.port())),
        "the error must name the state URL's host: {text}"
    );
    for word in words {
        assert!(text.contains(word), "{word:?} missing: {text}");
    }
    assert!(
        !text.contains(pg.password()),
        "the password is shown: {text}"
    );
    text
}

#[tokio::test]
async fn verify_full_connects_and_a_wrong_ca_or_name_is_refused() {
    let ca = TestCa::temporary().expect("ca");
    let pg = PostgresCluster::start_tls(&ca.server_pair())
        .expect("the private PostgreSQL cluster with TLS must start");
    pg.create_database("tls").expect("database");
    let root = ca.ca_file().display().to_string();
    let url = pg.url_with(
        "localhost",
        "tls",
        &format!("sslmode=verify-full&sslrootcert={root}"),
    );
    let store = open(&pg, &url)
        .await
        .unwrap_or_else(|err| panic!("verify-full: {err}\n{}", pg.log()));
    assert!(store.delivered_count("p").await.expect("a query") == 0);
    let (ssl, all) = encrypted(&pg, "tls");
    assert!(all >= 1 && ssl == all, "{ssl} of {all} encrypted");
    drop(store);

    // Another root: the certificate is not trusted.
    let other = ca.untrusted().expect("another root");
    let wrong = pg.url_with(
        "localhost",
        "tls",
        &format!(
            "sslmode=verify-full&sslrootcert={}",
            other.cert_file.display()
        ),
    );
    let err = open(&pg, &wrong).await.expect_err("a wrong CA");
    refused(
        err,
        &pg,
        &[
            "TLS with localhost",
            "not signed by a trusted authority",
            "sslrootcert",
        ],
    );
    // Another CA of the same name: its signature does not match.
    let twin = TestCa::temporary().expect("a CA of the same name");
    let forged = pg.url_with(
        "localhost",
        "tls",
        &format!(
            "sslmode=verify-full&sslrootcert={}",
            twin.ca_file().display()
        ),
    );
    let err = open(&pg, &forged).await.expect_err("another CA's key");
    refused(err, &pg, &["signature of a trusted authority"]);
    // The system roots do not know the test CA either (no sslrootcert: verify-full is the
    // default for a remote host; here asked for in words).
    let system = pg.url_with("localhost", "tls", "sslmode=verify-full");
    let err = open(&pg, &system).await.expect_err("not a system root");
    refused(err, &pg, &["not signed by a trusted authority"]);
    // `require` encrypts without checking the certificate.
    let store = open(&pg, &pg.url_with("localhost", "tls", "sslmode=require"))
        .await
        .unwrap_or_else(|err| panic!("require: {err}"));
    assert_eq!(store.delivered_count("p").await.expect("a query"), 0);
}

#[tokio::test]
async fn verify_ca_accepts_another_name_that_verify_full_refuses() {
    let ca = TestCa::temporary().expect("ca");
    let pg = PostgresCluster::start_tls(&ca.wrong_host().expect("cert"))
        .expect("the private PostgreSQL cluster with TLS must start");
    pg.create_database("name").expect("database");
    let root = ca.ca_file().display().to_string();
    let full = pg.url_with(
        "localhost",
        "name",
        &format!("sslmode=verify-full&sslrootcert={root}"),
    );
    let err = open(&pg, &full)
        .await
        .expect_err("another host's certificate");
    refused(err, &pg, &["for another host name"]);
    let chain = pg.url_with(
        "localhost",
        "name",
        &format!("sslmode=verify-ca&sslrootcert={root}"),
    );
    let store = open(&pg, &chain)
        .await
        .unwrap_or_else(|err| panic!("verify-ca: {err}"));
    assert_eq!(store.delivered_count("p").await.expect("a query"), 0);
}

#[tokio::test]
async fn a_server_without_tls_is_refused_when_tls_is_required() {
    let ca = TestCa::temporary().expect("ca");
    let pg = PostgresCluster::start().expect("the private PostgreSQL cluster must start");
    pg.create_database("plain").expect("database");
    for query in [
        format!("sslmode=verify-full&sslrootcert={}", ca.ca_file().display()),
        "sslmode=require".to_string(),
    ] {
        let err = open(&pg, &pg.url_with("localhost", "plain", &query))
            .await
            .expect_err("no TLS on the server");
        refused(err, &pg, &["does not support TLS"]);
    }
    // Plain text only when asked for (or on the loopback by default).
    let store = open(&pg, &pg.url_with("localhost", "plain", "sslmode=disable"))
        .await
        .expect("disable");
    assert_eq!(store.delivered_count("p").await.expect("a query"), 0);
    let (ssl, all) = encrypted(&pg, "plain");
    assert!(all >= 1 && ssl == 0, "{ssl} of {all} encrypted");
}

/// `check` names the TLS mode it connected with.
#[test]
fn check_says_which_tls_mode_it_used() {
    let ca = TestCa::temporary().expect("ca");
    let pg = PostgresCluster::start_tls(&ca.server_pair())
        .expect("the private PostgreSQL cluster with TLS must start");
    pg.create_database("checked").expect("database");
    let tmp = tempfile::tempdir().expect("tempdir");
    let pw = mailpull_tests::WorkerSetup::password_file(tmp.path(), "pg", pg.password())
        .expect("password file");
    let url = pg.url_with(
        "localhost",
        "checked",
        &format!("sslmode=verify-full&sslrootcert={}", ca.ca_file().display()),
    );
    let config = tmp.path().join("mailpull.toml");
    std::fs::write(
        &config,
        format!(
            "[worker]\nstate_dir = {:?}\nstate = {url:?}\nstate_password = {{ file = {:?} }}\n\n[[profile]]\nname = \"p\"\n[profile.remote]\nhost = \"mail.example.com\"\nusername = \"u\"\npassword = {{ env = \"PW\" }}\n[profile.local]\nuser = \"alice\"\ndomain = \"example.com\"\n",
            tmp.path().join("state").display().to_string(),
            pw.display().to_string()
        ),
    )
    .expect("config");
    let out = std::process::Command::new(mailpull_tests::worker_binary().expect("binary"))
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .expect("check");
    let shown = mailpull_tests::output_text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(
        shown.contains(&format!(
            "state: shared in PostgreSQL mailpull@localhost:{}/checked (password from file), reachable; lease 30s; TLS: verify-full",
            pg.port()
        )),
        "{shown}"
    );
    assert!(!shown.contains(pg.password()), "{shown}");
}
