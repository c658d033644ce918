//! The state database: which remote messages have been delivered, in SQLite (WAL,
//! `synchronous=FULL`). One thread owns the connection; records from all concurrent polls are
//! batched into one transaction ("group commit"), so durability costs one fsync per batch
//! rather than one per message. A record is durable when [`Store::record`] returns `Ok`.
//!
//! Keys: a message is `(account, folder, uidvalidity, uid)` — account is the remote identity
//! `proto://user@host:port`, folder is empty for POP3, uidvalidity 0 for POP3. Every row also
//! keeps a SHA-256 digest of the message so a message that reappears under another UID (POP3
//! without UIDL, an IMAP UIDVALIDITY change) is still recognised.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

const SCHEMA_VERSION: i64 = 1;
/// Records committed together at most.
const MAX_BATCH: usize = 256;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    #[error("cannot create the state directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("state database {path}: {source}{}", cause_suffix(.cause))]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
        /// What is wrong with the file system holding it, if anything visible.
        cause: Option<String>,
    },
    #[error(
        "state database {path} has schema version {found}, newer than this worker ({SCHEMA_VERSION}); upgrade Mailpull"
    )]
    TooNew { path: PathBuf, found: i64 },
    #[error("state database write failed (disk full or read-only?): {0}")]
    Write(#[source] rusqlite::Error),
    /// The file system holding the database cannot take writes (see [`file_system_problem`]).
    #[error("state database cannot be written: {cause}")]
    Unwritable { cause: String },
    /// A write failed and the file system says why (see [`file_system_problem`]).
    #[error("state database write failed: {cause}: {source}")]
    WriteOn {
        cause: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("state database read failed: {0}")]
    Read(#[source] rusqlite::Error),
    #[error("the state database thread has stopped")]
    Gone,
}

/// Identifies one remote mailbox (an account, and for IMAP a folder at one UIDVALIDITY).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MailboxKey {
    pub account: String,
    pub folder: String,
    pub uidvalidity: u32,
}

/// A delivered message.
#[derive(Debug, Clone)]
pub struct Record {
    pub key: MailboxKey,
    pub uid: String,
    pub profile: String,
    pub size: u64,
    pub digest: String,
    pub message_id: Option<String>,
    /// RCPT TO addresses it was delivered to (empty when it was recognised as already delivered).
    pub recipients: Vec<String>,
    /// Multi-drop: the Message-ID (or digest) under which `recipients` are remembered, so the
    /// same message reaches each local recipient once even when the ISP stored several copies.
    pub dedupe_key: Option<String>,
}

/// What the database knows of one UID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known {
    /// The remote deletion was confirmed (POP3 QUIT +OK or IMAP expunge).
    pub deleted: bool,
    /// When it was first downloaded and recorded (Unix seconds); `keep_days` counts from here.
    pub delivered_at: i64,
}

type Reply<T> = oneshot::Sender<Result<T, StateError>>;
type Query = Box<dyn FnOnce(&mut Connection) + Send>;

enum Job {
    Record(Box<Record>, Reply<()>),
    Run(Query),
}

/// A handle to the state database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    jobs: mpsc::Sender<Job>,
    installation_id: String,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

fn cause_suffix(cause: &Option<String>) -> String {
    cause
        .as_ref()
        .map(|c| format!(" ({c})"))
        .unwrap_or_default()
}

/// Why the file system holding `dir` cannot take writes: read-only, or no space left. SQLite
/// reports both as generic I/O errors in some places (the WAL index is a memory-mapped file),
/// so the error message names the cause from the file system's own figures.
#[cfg(unix)]
pub fn file_system_problem(dir: &Path) -> Option<String> {
    let stat = rustix::fs::statvfs(dir).ok()?;
    if stat.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY) {
        return Some(format!("{} is on a read-only file system", dir.display()));
    }
    // Less than 64 KiB free for unprivileged writers: disk full for SQLite's purposes. A file
    // system that reports no size at all (some FUSE or network ones) is not judged.
    if stat.f_blocks > 0 && stat.f_bavail.saturating_mul(stat.f_frsize) < 64 * 1024 {
        return Some(format!(
            "disk full: no space left on the file system holding {}",
            dir.display()
        ));
    }
    None
}

/// Elsewhere (Windows) the file system's figures are not read: errors keep SQLite's own text.
#[cfg(not(unix))]
pub fn file_system_problem(_dir: &Path) -> Option<String> {
    None
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

impl Store {
    /// Opens (creating if needed) `state.sqlite3` in `dir` and starts the writer thread.
    pub fn open(dir: &Path) -> Result<Store, StateError> {
        std::fs::create_dir_all(dir).map_err(|source| StateError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join("state.sqlite3");
        let open_err = |source| StateError::Open {
            path: path.clone(),
            source,
            cause: file_system_problem(dir),
        };
        let conn = Connection::open(&path).map_err(open_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(open_err)?;
        let installation_id = migrate(&conn, &path)?;
        let (jobs, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("mailpull-state".into())
            .spawn(move || writer(conn, rx))
            .map_err(|source| StateError::CreateDir {
                path: path.clone(),
                source,
            })?;
        Ok(Store {
            jobs,
            installation_id,
            path,
        })
    }

    /// A random id made when the database was created; the trace header carries it so that a
    /// message that comes back to this installation is recognised as a loop.
    pub fn installation_id(&self) -> &str {
        &self.installation_id
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn run<T: Send + 'static>(
        &self,
        query: impl FnOnce(&mut Connection) -> Result<T, StateError> + Send + 'static,
    ) -> Result<T, StateError> {
        let (tx, rx) = oneshot::channel();
        let job = Job::Run(Box::new(move |conn| {
            let _ = tx.send(query(conn));
        }));
        self.jobs.send(job).map_err(|_| StateError::Gone)?;
        rx.await
            .map_err(|_| StateError::Gone)?
            .map_err(|err| self.explain(err))
    }

    /// A failed write with the file system's reason, when it has one.
    fn explain(&self, err: StateError) -> StateError {
        match err {
            StateError::Write(source) => match self.path.parent().and_then(file_system_problem) {
                Some(cause) => StateError::WriteOn { cause, source },
                None => StateError::Write(source),
            },
            other => other,
        }
    }

    /// The UIDs recorded for a mailbox.
    pub async fn known(&self, key: &MailboxKey) -> Result<HashMap<String, Known>, StateError> {
        let key = key.clone();
        self.run(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT uid, deleted, delivered_at FROM delivered WHERE account = ?1 AND folder = ?2 AND uidvalidity = ?3",
                )
                .map_err(StateError::Read)?;
            let rows = stmt
                .query_map(params![key.account, key.folder, key.uidvalidity], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        Known {
                            deleted: row.get(1)?,
                            delivered_at: row.get(2)?,
                        },
                    ))
                })
                .map_err(StateError::Read)?;
            rows.collect::<Result<HashMap<_, _>, _>>()
                .map_err(StateError::Read)
        })
        .await
    }

    /// Whether a message with this digest was already delivered from this account.
    pub async fn digest_known(&self, account: &str, digest: &str) -> Result<bool, StateError> {
        let (account, digest) = (account.to_string(), digest.to_string());
        self.run(move |conn| {
            conn.prepare_cached(
                "SELECT 1 FROM delivered WHERE account = ?1 AND digest = ?2 LIMIT 1",
            )
            .and_then(|mut stmt| {
                stmt.query_row(params![account, digest], |_| Ok(()))
                    .optional()
            })
            .map(|found| found.is_some())
            .map_err(StateError::Read)
        })
        .await
    }

    /// Records a delivery; durable on disk when this returns `Ok`.
    pub async fn record(&self, record: Record) -> Result<(), StateError> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Job::Record(Box::new(record), tx))
            .map_err(|_| StateError::Gone)?;
        rx.await
            .map_err(|_| StateError::Gone)?
            .map_err(|err| self.explain(err))
    }

    /// Of `recipients`, those that already received the message known as `dedupe_key`.
    pub async fn already_sent(
        &self,
        dedupe_key: &str,
        recipients: &[String],
    ) -> Result<Vec<String>, StateError> {
        let (key, recipients) = (dedupe_key.to_string(), recipients.to_vec());
        self.run(move |conn| {
            let mut stmt = conn
                .prepare_cached("SELECT 1 FROM sent WHERE dedupe_key = ?1 AND recipient = ?2")
                .map_err(StateError::Read)?;
            let mut found = Vec::new();
            for recipient in recipients {
                if stmt
                    .exists(params![key, recipient])
                    .map_err(StateError::Read)?
                {
                    found.push(recipient);
                }
            }
            Ok(found)
        })
        .await
    }

    /// Remembers that `recipients` received the message known as `dedupe_key` (multi-drop
    /// progress when the recipients are delivered one by one).
    pub async fn record_sent(
        &self,
        dedupe_key: &str,
        profile: &str,
        recipients: &[String],
    ) -> Result<(), StateError> {
        let (key, profile, recipients) = (
            dedupe_key.to_string(),
            profile.to_string(),
            recipients.to_vec(),
        );
        self.run(move |conn| {
            let tx = conn.transaction().map_err(StateError::Write)?;
            insert_sent(&tx, &key, &profile, &recipients).map_err(StateError::Write)?;
            tx.commit().map_err(StateError::Write)
        })
        .await
    }

    /// Notes that the server confirmed the deletion of these UIDs.
    pub async fn mark_deleted(
        &self,
        key: &MailboxKey,
        uids: Vec<String>,
    ) -> Result<(), StateError> {
        if uids.is_empty() {
            return Ok(());
        }
        let key = key.clone();
        self.run(move |conn| {
            let tx = conn.transaction().map_err(StateError::Write)?;
            {
                let mut stmt = tx
                    .prepare_cached(
                        "UPDATE delivered SET deleted = 1 WHERE account = ?1 AND folder = ?2 AND uidvalidity = ?3 AND uid = ?4",
                    )
                    .map_err(StateError::Write)?;
                for uid in &uids {
                    stmt.execute(params![key.account, key.folder, key.uidvalidity, uid])
                        .map_err(StateError::Write)?;
                }
            }
            tx.commit().map_err(StateError::Write)
        })
        .await
    }

    /// Drops the rows of deleted messages that the server no longer lists, so the database
    /// does not grow without end. Rows of kept messages stay.
    pub async fn forget_deleted_missing(
        &self,
        key: &MailboxKey,
        present: HashSet<String>,
    ) -> Result<usize, StateError> {
        let key = key.clone();
        self.run(move |conn| {
            let gone: Vec<String> = {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT uid FROM delivered WHERE account = ?1 AND folder = ?2 AND uidvalidity = ?3 AND deleted = 1",
                    )
                    .map_err(StateError::Read)?;
                let rows = stmt
                    .query_map(params![key.account, key.folder, key.uidvalidity], |row| row.get::<_, String>(0))
                    .map_err(StateError::Read)?;
                rows.filter_map(Result::ok)
                    .filter(|uid| !present.contains(uid))
                    .collect()
            };
            let tx = conn.transaction().map_err(StateError::Write)?;
            {
                let mut stmt = tx
                    .prepare_cached(
                        "DELETE FROM delivered WHERE account = ?1 AND folder = ?2 AND uidvalidity = ?3 AND uid = ?4",
                    )
                    .map_err(StateError::Write)?;
                for uid in &gone {
                    stmt.execute(params![key.account, key.folder, key.uidvalidity, uid])
                        .map_err(StateError::Write)?;
                }
            }
            tx.commit().map_err(StateError::Write)?;
            Ok(gone.len())
        })
        .await
    }

    /// A write at the start of each poll: when the disk is full or the database read-only,
    /// the poll stops here, before anything is fetched or delivered. The file system is asked
    /// first: SQLite may still fit a small write into WAL pages it reuses, and the poll would
    /// then deliver a message whose record no longer fits (a duplicate on the next poll).
    pub async fn begin_poll(&self, profile: &str) -> Result<(), StateError> {
        if let Some(cause) = self.path.parent().and_then(file_system_problem) {
            return Err(StateError::Unwritable { cause });
        }
        let profile = profile.to_string();
        self.run(move |conn| {
            conn.execute(
                "INSERT INTO polls (profile, started_at) VALUES (?1, ?2)
                 ON CONFLICT(profile) DO UPDATE SET started_at = excluded.started_at",
                params![profile, now_secs()],
            )
            .map(|_| ())
            .map_err(StateError::Write)
        })
        .await
    }

    /// Number of delivered messages recorded for a profile.
    pub async fn delivered_count(&self, profile: &str) -> Result<u64, StateError> {
        let profile = profile.to_string();
        self.run(move |conn| {
            conn.query_row(
                "SELECT COUNT(*) FROM delivered WHERE profile = ?1",
                params![profile],
                |row| row.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(StateError::Read)
        })
        .await
    }
}

fn migrate(conn: &Connection, path: &Path) -> Result<String, StateError> {
    let open_err = |source| StateError::Open {
        path: path.to_path_buf(),
        source,
        cause: path.parent().and_then(file_system_problem),
    };
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(open_err)?;
    if version > SCHEMA_VERSION {
        return Err(StateError::TooNew {
            path: path.to_path_buf(),
            found: version,
        });
    }
    if version < 1 {
        conn.execute_batch(
            "BEGIN;
             CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS delivered (
                 account TEXT NOT NULL,
                 folder TEXT NOT NULL,
                 uidvalidity INTEGER NOT NULL,
                 uid TEXT NOT NULL,
                 profile TEXT NOT NULL,
                 size INTEGER NOT NULL,
                 digest TEXT NOT NULL,
                 message_id TEXT,
                 recipients TEXT NOT NULL,
                 delivered_at INTEGER NOT NULL,
                 deleted INTEGER NOT NULL DEFAULT 0,
                 PRIMARY KEY (account, folder, uidvalidity, uid)
             ) WITHOUT ROWID;
             CREATE INDEX IF NOT EXISTS delivered_digest ON delivered (account, digest);
             CREATE INDEX IF NOT EXISTS delivered_profile ON delivered (profile);
             CREATE TABLE IF NOT EXISTS polls (profile TEXT PRIMARY KEY, started_at INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS sent (
                 dedupe_key TEXT NOT NULL,
                 recipient TEXT NOT NULL,
                 profile TEXT NOT NULL,
                 sent_at INTEGER NOT NULL,
                 PRIMARY KEY (dedupe_key, recipient)
             ) WITHOUT ROWID;
             PRAGMA user_version = 1;
             COMMIT;",
        )
        .map_err(open_err)?;
    }
    let existing: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'installation_id'",
            [],
            |row| row.get(0),
        )
        .optional()
        .map_err(open_err)?;
    if let Some(id) = existing {
        return Ok(id);
    }
    let id = format!("{:016x}", fastrand::u64(..));
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('installation_id', ?1)",
        params![id],
    )
    .map_err(open_err)?;
    Ok(id)
}

/// The writer thread: runs queries in order; consecutive records are committed together.
fn writer(mut conn: Connection, jobs: mpsc::Receiver<Job>) {
    let mut pending: Option<Job> = None;
    loop {
        let job = match pending.take() {
            Some(job) => job,
            None => match jobs.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
        };
        match job {
            Job::Run(query) => query(&mut conn),
            Job::Record(first, reply) => {
                let mut batch = vec![(first, reply)];
                while batch.len() < MAX_BATCH {
                    match jobs.try_recv() {
                        Ok(Job::Record(record, reply)) => batch.push((record, reply)),
                        Ok(other) => {
                            pending = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                let result =
                    commit_records(&mut conn, batch.iter().map(|(record, _)| record.as_ref()));
                for (_, reply) in batch {
                    let _ = reply.send(match &result {
                        Ok(()) => Ok(()),
                        Err(err) => Err(StateError::Write(clone_sqlite_error(err))),
                    });
                }
            }
        }
    }
}

fn clone_sqlite_error(err: &rusqlite::Error) -> rusqlite::Error {
    match err {
        rusqlite::Error::SqliteFailure(code, message) => {
            rusqlite::Error::SqliteFailure(*code, message.clone())
        }
        other => rusqlite::Error::ToSqlConversionFailure(other.to_string().into()),
    }
}

fn commit_records<'a>(
    conn: &mut Connection,
    records: impl Iterator<Item = &'a Record>,
) -> Result<(), rusqlite::Error> {
    let tx = conn.transaction()?;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT OR REPLACE INTO delivered
             (account, folder, uidvalidity, uid, profile, size, digest, message_id, recipients, delivered_at, deleted)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 0)",
        )?;
        let now = now_secs();
        for record in records {
            stmt.execute(params![
                record.key.account,
                record.key.folder,
                record.key.uidvalidity,
                record.uid,
                record.profile,
                record.size as i64,
                record.digest,
                record.message_id,
                record.recipients.join(","),
                now,
            ])?;
            if let Some(key) = &record.dedupe_key {
                insert_sent(&tx, key, &record.profile, &record.recipients)?;
            }
        }
    }
    tx.commit()
}

fn insert_sent(
    tx: &rusqlite::Transaction<'_>,
    key: &str,
    profile: &str,
    recipients: &[String],
) -> Result<(), rusqlite::Error> {
    let mut stmt = tx.prepare_cached(
        "INSERT OR IGNORE INTO sent (dedupe_key, recipient, profile, sent_at) VALUES (?1, ?2, ?3, ?4)",
    )?;
    let now = now_secs();
    for recipient in recipients {
        stmt.execute(params![key, recipient, profile, now])?;
    }
    Ok(())
}

/// The installation id of the state database in `dir`, if one exists (read-only).
pub fn read_installation_id(dir: &Path) -> Option<String> {
    let path = dir.join("state.sqlite3");
    if !path.is_file() {
        return None;
    }
    let conn =
        Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).ok()?;
    conn.query_row(
        "SELECT value FROM meta WHERE key = 'installation_id'",
        [],
        |row| row.get(0),
    )
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_roomy_writable_directory_has_no_file_system_problem() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(file_system_problem(dir.path()), None);
        // A directory that does not exist has nothing to report either (open says why).
        assert_eq!(file_system_problem(&dir.path().join("missing")), None);
    }

    fn key() -> MailboxKey {
        MailboxKey {
            account: "pop3://u@h:995".into(),
            folder: String::new(),
            uidvalidity: 0,
        }
    }

    fn record(uid: &str) -> Record {
        Record {
            key: key(),
            uid: uid.into(),
            profile: "p".into(),
            size: 10,
            digest: format!("digest-{uid}"),
            message_id: Some(format!("<{uid}@x>")),
            recipients: vec!["a@b.c".into()],
            dedupe_key: None,
        }
    }

    #[tokio::test]
    async fn records_survive_reopen_and_keep_the_installation_id() {
        let dir = tempfile::tempdir().expect("tempdir");
        let id = {
            let store = Store::open(dir.path()).expect("open");
            store.record(record("1")).await.expect("record");
            store.installation_id().to_string()
        };
        let store = Store::open(dir.path()).expect("reopen");
        assert_eq!(store.installation_id(), id);
        let known = store.known(&key()).await.expect("known");
        let first = known.get("1").expect("recorded");
        assert!(!first.deleted);
        assert!((now_secs() - first.delivered_at).abs() < 60);
        assert!(
            store
                .digest_known("pop3://u@h:995", "digest-1")
                .await
                .expect("digest")
        );
        assert!(
            !store
                .digest_known("pop3://u@h:995", "digest-2")
                .await
                .expect("digest")
        );
        assert_eq!(store.delivered_count("p").await.expect("count"), 1);
    }

    #[tokio::test]
    async fn concurrent_records_are_all_committed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move { store.record(record(&i.to_string())).await })
            })
            .collect();
        for task in tasks {
            task.await.expect("join").expect("record");
        }
        assert_eq!(store.known(&key()).await.expect("known").len(), 200);
    }

    #[tokio::test]
    async fn sent_recipients_are_remembered_by_dedupe_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let mut first = record("1");
        first.recipients = vec!["alice@x.y".into(), "bob@x.y".into()];
        first.dedupe_key = Some("<m1@x>".into());
        store.record(first).await.expect("record");
        store
            .record_sent("<m2@x>", "p", &["carol@x.y".to_string()])
            .await
            .expect("sent");
        let asked = vec!["alice@x.y".to_string(), "carol@x.y".to_string()];
        assert_eq!(
            store.already_sent("<m1@x>", &asked).await.expect("q"),
            vec!["alice@x.y".to_string()]
        );
        assert_eq!(
            store.already_sent("<m2@x>", &asked).await.expect("q"),
            vec!["carol@x.y".to_string()]
        );
        assert!(
            store
                .already_sent("<m3@x>", &asked)
                .await
                .expect("q")
                .is_empty()
        );
        drop(store);
        assert!(read_installation_id(dir.path()).is_some_and(|id| id.len() == 16));
        assert_eq!(read_installation_id(&dir.path().join("nothing")), None);
    }

    #[tokio::test]
    async fn deleted_rows_are_forgotten_once_the_server_no_longer_lists_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        for uid in ["1", "2", "3"] {
            store.record(record(uid)).await.expect("record");
        }
        store
            .mark_deleted(&key(), vec!["1".into(), "2".into()])
            .await
            .expect("mark");
        // "2" is still listed (its deletion was rolled back): it must stay known.
        let present: HashSet<String> = ["2".to_string(), "3".to_string()].into();
        assert_eq!(
            store
                .forget_deleted_missing(&key(), present)
                .await
                .expect("forget"),
            1
        );
        let known = store.known(&key()).await.expect("known");
        assert_eq!(known.len(), 2);
        assert!(known.get("2").is_some_and(|k| k.deleted));
        assert!(known.get("3").is_some_and(|k| !k.deleted));
    }

    #[tokio::test]
    async fn a_read_only_database_refuses_to_begin_a_poll() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        // A read-only database, through SQLite's own switch on the writer connection.
        store
            .run(|conn| {
                conn.execute_batch("PRAGMA query_only = 1;")
                    .map_err(StateError::Write)
            })
            .await
            .expect("pragma");
        let err = store.begin_poll("p").await.unwrap_err();
        assert!(
            err.to_string().contains("state database write failed"),
            "{err}"
        );
    }
}
