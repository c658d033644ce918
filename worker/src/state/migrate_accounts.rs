//! Schema version 3's rewrite of the records' accounts: older databases keyed a mailbox by its
//! route, `proto://user@host:port`; version 3 keys it by the mailbox, `username@host` in lower
//! case, and notes which mailbox each profile polls (`profile_mailboxes`).

use rusqlite::{Connection, params};

use mailpull_shared::config::mailbox_identity;

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
}
