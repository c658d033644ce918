//! Which remote mailbox each profile polls (`profile_mailboxes`), and moving a profile's
//! records when the same mailbox is reached under another name. Records are keyed by the
//! mailbox (`username@host`), so a change of port, security or case never makes kept mail
//! look new; a change of host name is for the poll to judge (is it the same server?), and
//! [`Store::move_mailbox`] carries the records over when it is.

use rusqlite::{Connection, OptionalExtension, params};

use mailpull_shared::config::mailbox_identity;

use super::error::StateError;
use super::store::Store;

/// The mailbox identity of a version 1 account, `proto://user@host:port`; `None` when the
/// text is not of that form (already an identity, or foreign).
pub(super) fn identity_of_v1_account(account: &str) -> Option<String> {
    let (_proto, rest) = account.split_once("://")?;
    let (user, host_port) = rest.rsplit_once('@')?;
    let (host, port) = host_port.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    Some(mailbox_identity(user, host))
}

/// Version 2 → 3: rewrites every `proto://user@host:port` account to `user@host` (lower
/// case). Records that two routes to one mailbox both hold (the same UID recorded over 995
/// and over 110) are merged: the first row stays, the other is dropped. Then each profile's
/// mailbox is the one of its newest record.
pub(super) fn migrate_accounts(conn: &Connection) -> rusqlite::Result<()> {
    let accounts: Vec<String> = {
        let mut stmt = conn.prepare("SELECT DISTINCT account FROM delivered")?;
        let rows = stmt.query_map([], |row| row.get::<_, String>(0))?;
        rows.collect::<Result<_, _>>()?
    };
    for old in accounts {
        let Some(new) = identity_of_v1_account(&old) else {
            continue;
        };
        conn.execute(
            "UPDATE OR IGNORE delivered SET account = ?2 WHERE account = ?1",
            params![old, new],
        )?;
        conn.execute("DELETE FROM delivered WHERE account = ?1", params![old])?;
    }
    conn.execute(
        "INSERT OR REPLACE INTO profile_mailboxes (profile, account)
         SELECT profile, account FROM delivered AS d
         WHERE delivered_at = (SELECT MAX(delivered_at) FROM delivered WHERE profile = d.profile)
         GROUP BY profile",
        [],
    )?;
    Ok(())
}

impl Store {
    /// The mailbox `profile` polled last, if it polled one.
    pub async fn mailbox_of(&self, profile: &str) -> Result<Option<String>, StateError> {
        let profile = profile.to_string();
        self.run(move |conn| {
            conn.query_row(
                "SELECT account FROM profile_mailboxes WHERE profile = ?1",
                params![profile],
                |row| row.get::<_, String>(0),
            )
            .optional()
            .map_err(StateError::Read)
        })
        .await
    }

    /// Whether any record is kept under `account`.
    pub async fn has_records(&self, account: &str) -> Result<bool, StateError> {
        let account = account.to_string();
        self.run(move |conn| {
            conn.query_row(
                "SELECT 1 FROM delivered WHERE account = ?1 LIMIT 1",
                params![account],
                |_| Ok(()),
            )
            .optional()
            .map(|found| found.is_some())
            .map_err(StateError::Read)
        })
        .await
    }

    /// Whether a profile other than `profile` polls `account`.
    pub async fn polled_by_another(
        &self,
        account: &str,
        profile: &str,
    ) -> Result<bool, StateError> {
        let (account, profile) = (account.to_string(), profile.to_string());
        self.run(move |conn| {
            conn.query_row(
                "SELECT 1 FROM profile_mailboxes WHERE account = ?1 AND profile <> ?2 LIMIT 1",
                params![account, profile],
                |_| Ok(()),
            )
            .optional()
            .map(|found| found.is_some())
            .map_err(StateError::Read)
        })
        .await
    }

    /// Notes that `profile` polls `account`.
    pub async fn set_mailbox(&self, profile: &str, account: &str) -> Result<(), StateError> {
        let (profile, account) = (profile.to_string(), account.to_string());
        self.run(move |conn| {
            conn.execute(
                "INSERT INTO profile_mailboxes (profile, account) VALUES (?1, ?2)
                 ON CONFLICT(profile) DO UPDATE SET account = excluded.account",
                params![profile, account],
            )
            .map(|_| ())
            .map_err(StateError::Write)
        })
        .await
    }

    /// Moves every record of mailbox `from` to `to` (the same mailbox under another name) and
    /// notes that `profile` polls `to`, in one transaction; the number of records moved.
    pub async fn move_mailbox(
        &self,
        profile: &str,
        from: &str,
        to: &str,
    ) -> Result<usize, StateError> {
        let (profile, from, to) = (profile.to_string(), from.to_string(), to.to_string());
        self.run(move |conn| {
            let tx = conn.transaction().map_err(StateError::Write)?;
            let moved = tx
                .execute(
                    "UPDATE OR IGNORE delivered SET account = ?2 WHERE account = ?1",
                    params![from, to],
                )
                .map_err(StateError::Write)?;
            tx.execute("DELETE FROM delivered WHERE account = ?1", params![from])
                .map_err(StateError::Write)?;
            tx.execute(
                "INSERT INTO profile_mailboxes (profile, account) VALUES (?1, ?2)
                 ON CONFLICT(profile) DO UPDATE SET account = excluded.account",
                params![profile, to],
            )
            .map_err(StateError::Write)?;
            tx.commit().map_err(StateError::Write)?;
            Ok(moved)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_1_accounts_become_mailbox_identities() {
        assert_eq!(
            identity_of_v1_account("pop3://Alice@Mail.Example.com:995").as_deref(),
            Some("alice@mail.example.com")
        );
        assert_eq!(
            identity_of_v1_account("imap://user@isp.example@imap.example:143").as_deref(),
            Some("user@isp.example@imap.example")
        );
        assert_eq!(identity_of_v1_account("alice@mail.example.com"), None);
        assert_eq!(identity_of_v1_account("pop3://alice@host:notaport"), None);
        assert_eq!(identity_of_v1_account(""), None);
    }

    #[test]
    fn migration_merges_the_routes_of_one_mailbox() {
        let conn = Connection::open_in_memory().expect("db");
        conn.execute_batch(super::super::schema::CREATE_V1)
            .expect("v1");
        conn.execute_batch(super::super::schema::MIGRATE_V2)
            .expect("v2");
        conn.execute_batch(super::super::schema::CREATE_V3)
            .expect("v2");
        let insert = |account: &str, uid: &str, profile: &str, at: i64| {
            conn.execute(
                "INSERT INTO delivered (account, folder, uidvalidity, uid, profile, size, digest, message_id, recipients, delivered_at)
                 VALUES (?1, '', 0, ?2, ?3, 10, 'd', NULL, '', ?4)",
                params![account, uid, profile, at],
            )
            .expect("insert");
        };
        insert("pop3://u@H:995", "a", "p", 1);
        insert("pop3://u@h:110", "a", "p", 2);
        insert("pop3://u@h:110", "b", "p", 3);
        insert("imap://other@x:993", "7", "q", 4);
        migrate_accounts(&conn).expect("migrate");
        let rows: Vec<(String, String)> = conn
            .prepare("SELECT account, uid FROM delivered ORDER BY account, uid")
            .expect("prepare")
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(
            rows,
            vec![
                ("other@x".to_string(), "7".to_string()),
                ("u@h".to_string(), "a".to_string()),
                ("u@h".to_string(), "b".to_string()),
            ]
        );
        let mailbox = |profile: &str| -> String {
            conn.query_row(
                "SELECT account FROM profile_mailboxes WHERE profile = ?1",
                params![profile],
                |row| row.get(0),
            )
            .expect("mailbox")
        };
        assert_eq!(mailbox("p"), "u@h");
        assert_eq!(mailbox("q"), "other@x");
    }

    #[tokio::test]
    async fn records_move_with_the_mailbox() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        assert_eq!(store.mailbox_of("p").await.expect("read"), None);
        store.set_mailbox("p", "u@old").await.expect("set");
        store
            .record(super::super::Record {
                key: super::super::MailboxKey {
                    account: "u@old".into(),
                    folder: String::new(),
                    uidvalidity: 0,
                },
                uid: "1".into(),
                profile: "p".into(),
                size: 10,
                digest: "d1".into(),
                message_id: None,
                recipients: vec!["a@local".into()],
                dedupe_key: None,
                remote_size: Some(10),
            })
            .await
            .expect("record");
        assert!(store.has_records("u@old").await.expect("records"));
        assert!(!store.has_records("u@new").await.expect("records"));
        assert!(!store.polled_by_another("u@old", "p").await.expect("others"));
        store.set_mailbox("q", "u@old").await.expect("set");
        assert!(store.polled_by_another("u@old", "p").await.expect("others"));
        store.set_mailbox("q", "x@y").await.expect("set");
        assert_eq!(
            store
                .move_mailbox("p", "u@old", "u@new")
                .await
                .expect("move"),
            1
        );
        assert_eq!(
            store.mailbox_of("p").await.expect("read").as_deref(),
            Some("u@new")
        );
        assert!(store.digest_known("u@new", "d1").await.expect("digest"));
        assert!(!store.digest_known("u@old", "d1").await.expect("digest"));
    }
}
