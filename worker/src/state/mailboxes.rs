//! Which remote mailbox each profile polls (`profile_mailboxes`), and moving a profile's
//! records when the same mailbox is reached under another name. Records are keyed by the
//! mailbox (`username@host`), so a change of port, security or case never makes kept mail
//! look new; a change of host name is for the poll to judge (is it the same server?), and
//! [`Store::move_mailbox`] carries the records over when it is. (The rewrite of older
//! databases' accounts is `migrate_accounts`.)

use rusqlite::{OptionalExtension, params};

use super::error::StateError;
use super::store::Store;

impl Store {
    /// The mailbox `profile` polled last, if it polled one.
    pub async fn mailbox_of(&self, profile: &str) -> Result<Option<String>, StateError> {
        if let Some(pg) = &self.shared {
            return pg.mailbox_of(profile).await;
        }
        let profile = profile.to_string();
        self.read(move |conn| {
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
        if let Some(pg) = &self.shared {
            return pg.has_records(account).await;
        }
        let account = account.to_string();
        self.read(move |conn| {
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
        if let Some(pg) = &self.shared {
            return pg.polled_by_another(account, profile).await;
        }
        let (account, profile) = (account.to_string(), profile.to_string());
        self.read(move |conn| {
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
        if let Some(pg) = &self.shared {
            return pg.set_mailbox(profile, account).await;
        }
        let (profile, account) = (profile.to_string(), account.to_string());
        self.run_bookkeeping(move |conn| {
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
        if let Some(pg) = &self.shared {
            return pg.move_mailbox(profile, from, to).await;
        }
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
            // Delivery intents move too, so a re-sent message keeps its delivery id.
            tx.execute(
                "UPDATE OR IGNORE intents SET account = ?2 WHERE account = ?1",
                params![from, to],
            )
            .map_err(StateError::Write)?;
            tx.execute("DELETE FROM intents WHERE account = ?1", params![from])
                .map_err(StateError::Write)?;
            // So do the attempts: a held message stays held under the new name.
            tx.execute(
                "UPDATE OR IGNORE attempts SET account = ?2 WHERE account = ?1",
                params![from, to],
            )
            .map_err(StateError::Write)?;
            tx.execute("DELETE FROM attempts WHERE account = ?1", params![from])
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
                shown: Default::default(),
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

    #[tokio::test]
    async fn attempts_move_with_the_mailbox() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let key = |account: &str| super::super::MailboxKey {
            account: account.into(),
            folder: String::new(),
            uidvalidity: 0,
        };
        store
            .put_attempt(super::super::Attempt {
                key: key("u@old"),
                uid: "1".into(),
                profile: "p".into(),
                attempts: 10,
                first_at: 1,
                last_at: 2,
                next_at: 3,
                reason: "451".into(),
                held: true,
                action: None,
                summary: None,
            })
            .await
            .expect("put");
        store
            .move_mailbox("p", "u@old", "u@new")
            .await
            .expect("move");
        assert!(store.attempts(&key("u@old")).await.expect("old").is_empty());
        let moved = store.attempts(&key("u@new")).await.expect("new");
        assert!(moved.get("1").is_some_and(|row| row.held));
    }
}
