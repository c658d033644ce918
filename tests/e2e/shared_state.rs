//! The shared state (PostgreSQL) on a private cluster started here (`initdb` + `pg_ctl`, see
//! `mailpull_tests::postgres`): the same state suite the SQLite store passes
//! (`mailpull_worker::state::suite`), the password from its source and never in an error,
//! and a cluster that cannot be reached named in the error.

use mailpull_shared::secrets::Secret;
use mailpull_tests::PostgresCluster;
use mailpull_worker::state::{Store, suite};

fn cluster(db: &str) -> PostgresCluster {
    let pg = PostgresCluster::start().expect("the private PostgreSQL cluster must start");
    pg.create_database(db).expect("create database");
    pg
}

#[tokio::test]
async fn the_state_suite_passes_on_postgres() {
    let pg = cluster("suite");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_shared(
        dir.path(),
        &pg.url("suite"),
        Some(Secret::new(pg.password())),
    )
    .await
    .unwrap_or_else(|err| panic!("open_shared: {err}\n{}", pg.log()));
    assert!(store.is_shared());
    suite::run_all(&store).await;
    // A second worker of the same state shares the installation id (delivery ids, loops).
    let other = tempfile::tempdir().expect("tempdir");
    let second = Store::open_shared(
        other.path(),
        &pg.url("suite"),
        Some(Secret::new(pg.password())),
    )
    .await
    .expect("second worker");
    assert_eq!(second.installation_id(), store.installation_id());
    // ... and sees the first one's records.
    assert_eq!(
        second.delivered_count("p").await.expect("count"),
        store.delivered_count("p").await.expect("count")
    );
    assert!(second.has_records("u@new").await.expect("records"));
}

#[tokio::test]
async fn a_wrong_password_is_refused_without_showing_it() {
    let pg = cluster("pw");
    let dir = tempfile::tempdir().expect("tempdir");
    let err = Store::open_shared(
        dir.path(),
        &pg.url("pw"),
        Some(Secret::new("wrong-secret-xyz")),
    )
    .await
    .expect_err("a wrong password must be refused");
    let text = err.to_string();
    assert!(text.contains("password authentication failed"), "{text}");
    assert!(
        text.contains(&format!("mailpull@127.0.0.1:{}/pw", pg.port())),
        "{text}"
    );
    assert!(
        !text.contains("wrong-secret-xyz") && !text.contains(pg.password()),
        "{text}"
    );
}
