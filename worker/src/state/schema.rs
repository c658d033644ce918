//! The database schema: its version (SQLite's `user_version`), the tables of version 1 and the
//! migrations to later versions. Applying them is `open`'s job.
//!
//! - Version 2 adds `delivered.remote_size`: the size the server listed for the message when it
//!   was delivered (NULL when it listed none, and for rows of version 1), so that a UID the
//!   server reuses for another message is told apart from the recorded one.
//! - Version 3 adds `profile_mailboxes`: which remote mailbox (`username@host`) each
//!   profile last polled, and rewrites version 1/2 accounts (`proto://user@host:port`) to it.
//! - Version 4 adds `intents`: the delivery intent written before a message's data is sent,
//!   with its delivery id (`X-Mailpull-Delivery-Id`), per mailbox key, UID and recipients,
//!   and the digest of the message it was for (see `intents`).
//! - Version 5 rebuilds `sent` (multi-drop copy suppression) keyed by profile, Message-ID,
//!   content digest and recipient, so that only a true copy (same Message-ID and same content,
//!   trace headers aside) of a message this profile delivered is suppressed. Rows of earlier versions
//!   have no content digest: they keep their Message-ID, profile and time with an empty
//!   digest, which no message's digest equals, so they suppress nothing (a copy then comes
//!   twice rather than another message never) and age out with the retention period.
//! - Version 6 adds `attempts` (messages that failed on their own, held ones among them).
//! - Version 7 adds `alerts`: per profile and kind (`failing`, `held`, `sign_in`) since when
//!   the trouble lasts, its last detail and whether its alert mail went out, so that a
//!   restarted worker neither sends an alert again nor forgets to send the recovery.
//! - Version 8 adds `delivered.sender`, `delivered.subject` and `delivered.reply` (what the
//!   History page shows: From, Subject and the local server's reply, written with the record;
//!   NULL for rows of earlier versions) and an index by profile and time (see `history`).
//! - Version 9 adds `history`: one row per delivery (profile, time, size, From, Subject,
//!   recipients, the local server's reply, and the account/folder/UID it came from, for
//!   display only), written in the same transaction as the `delivered` record and read by the
//!   History page. `delivered` rows are forgotten once the server no longer lists a deleted
//!   message (so a reused UID is not taken for the delivered one); the `history` row stays,
//!   bounded by [`HISTORY_RETENTION_DAYS`] and [`HISTORY_MAX_ROWS`] per profile (pruned at
//!   the start of each poll). The migration copies the deliveries of `delivered` into it.
//! - Version 10 adds `attempts.sender`, `subject`, `message_date` and `size`: what a message
//!   that failed is (From, Subject, its Date header, bytes), written when an attempt got as
//!   far as its bytes, so that the Held page can name it. NULL `size`: not known (no attempt
//!   downloaded it, or the row is of an earlier version).

/// The schema version this worker writes; a newer database is refused.
pub(super) const SCHEMA_VERSION: i64 = 10;

/// Days a multi-drop delivery is remembered in `sent`; older rows suppress nothing and are
/// pruned at the start of each poll.
pub const SENT_RETENTION_DAYS: i64 = 30;

/// Days a delivery stays in `history` (the History page); older rows are pruned at the start
/// of each poll.
pub const HISTORY_RETENTION_DAYS: i64 = 400;

/// Most `history` rows kept per profile; the oldest beyond are pruned at the start of each
/// poll (rows delivered in the same second as the oldest kept one stay with it).
pub const HISTORY_MAX_ROWS: i64 = 100_000;

/// Creates the tables of version 1 and sets `user_version`, in one transaction.
pub(super) const CREATE_V1: &str = "BEGIN;
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
             COMMIT;";

/// Migrates version 1 to 2, in one transaction.
pub(super) const MIGRATE_V2: &str = "BEGIN;
             ALTER TABLE delivered ADD COLUMN remote_size INTEGER;
             PRAGMA user_version = 2;
             COMMIT;";

/// Version 3: which remote mailbox (`username@host`) each profile last polled, so that a
/// profile whose host becomes another name of the same server keeps its records. (The
/// rewrite of older `proto://user@host:port` accounts is `mailboxes::migrate_accounts`.)
pub(super) const CREATE_V3: &str = "CREATE TABLE IF NOT EXISTS profile_mailboxes (profile TEXT PRIMARY KEY, account TEXT NOT NULL)";

/// Version 4: delivery intents (see `intents`), in one transaction.
pub(super) const CREATE_V4: &str = "BEGIN;
             CREATE TABLE IF NOT EXISTS intents (
                 account TEXT NOT NULL,
                 folder TEXT NOT NULL,
                 uidvalidity INTEGER NOT NULL,
                 uid TEXT NOT NULL,
                 recipients TEXT NOT NULL,
                 digest TEXT NOT NULL,
                 delivery_id TEXT NOT NULL,
                 attempts INTEGER NOT NULL,
                 created_at INTEGER NOT NULL,
                 PRIMARY KEY (account, folder, uidvalidity, uid, recipients)
             ) WITHOUT ROWID;
             PRAGMA user_version = 4;
             COMMIT;";

/// Version 5: `sent` keyed by profile, Message-ID, content digest and recipient, in one
/// transaction (see the module doc for the rows of earlier versions).
pub(super) const MIGRATE_V5_SENT: &str = "BEGIN;
             CREATE TABLE sent_v4 (
                 profile TEXT NOT NULL,
                 message_id TEXT NOT NULL,
                 content TEXT NOT NULL,
                 recipient TEXT NOT NULL,
                 sent_at INTEGER NOT NULL,
                 PRIMARY KEY (profile, message_id, content, recipient)
             ) WITHOUT ROWID;
             INSERT OR IGNORE INTO sent_v4 (profile, message_id, content, recipient, sent_at)
                 SELECT profile, dedupe_key, '', recipient, sent_at FROM sent;
             DROP TABLE sent;
             ALTER TABLE sent_v4 RENAME TO sent;
             CREATE INDEX sent_age ON sent (sent_at);
             PRAGMA user_version = 5;
             COMMIT;";

/// Version 6: the attempts of messages that failed on their own (see `attempts`), in one
/// transaction.
pub(super) const CREATE_V6: &str = "BEGIN;
             CREATE TABLE IF NOT EXISTS attempts (
                 account TEXT NOT NULL,
                 folder TEXT NOT NULL,
                 uidvalidity INTEGER NOT NULL,
                 uid TEXT NOT NULL,
                 profile TEXT NOT NULL,
                 attempts INTEGER NOT NULL,
                 first_at INTEGER NOT NULL,
                 last_at INTEGER NOT NULL,
                 next_at INTEGER NOT NULL,
                 reason TEXT NOT NULL,
                 held INTEGER NOT NULL DEFAULT 0,
                 action TEXT,
                 PRIMARY KEY (account, folder, uidvalidity, uid)
             ) WITHOUT ROWID;
             CREATE INDEX IF NOT EXISTS attempts_held ON attempts (held, profile);
             PRAGMA user_version = 6;
             COMMIT;";

/// Version 7: the alert state of each profile (see `alerts`), in one transaction.
pub(super) const CREATE_V7: &str = "BEGIN;
             CREATE TABLE IF NOT EXISTS alerts (
                 profile TEXT NOT NULL,
                 kind TEXT NOT NULL,
                 since INTEGER NOT NULL,
                 detail TEXT NOT NULL,
                 sent_at INTEGER,
                 PRIMARY KEY (profile, kind)
             ) WITHOUT ROWID;
             PRAGMA user_version = 7;
             COMMIT;";

/// Version 8: what the History page shows of a delivery, in one transaction.
pub(super) const MIGRATE_V8: &str = "BEGIN;
             ALTER TABLE delivered ADD COLUMN sender TEXT;
             ALTER TABLE delivered ADD COLUMN subject TEXT;
             ALTER TABLE delivered ADD COLUMN reply TEXT;
             CREATE INDEX IF NOT EXISTS delivered_history ON delivered (profile, delivered_at);
             PRAGMA user_version = 8;
             COMMIT;";

/// Version 9: the delivery history, kept apart from the delivery records, with the
/// deliveries already recorded copied into it, in one transaction.
pub(super) const MIGRATE_V9: &str = "BEGIN;
             CREATE TABLE IF NOT EXISTS history (
                 profile TEXT NOT NULL,
                 delivered_at INTEGER NOT NULL,
                 size INTEGER NOT NULL,
                 sender TEXT,
                 subject TEXT,
                 recipients TEXT NOT NULL,
                 reply TEXT,
                 account TEXT NOT NULL,
                 folder TEXT NOT NULL,
                 uid TEXT NOT NULL
             );
             CREATE INDEX IF NOT EXISTS history_profile ON history (profile, delivered_at);
             CREATE INDEX IF NOT EXISTS history_age ON history (delivered_at);
             INSERT INTO history (profile, delivered_at, size, sender, subject, recipients, reply, account, folder, uid)
                 SELECT profile, delivered_at, size, sender, subject, recipients, reply, account, folder, uid
                 FROM delivered WHERE recipients != '';
             DROP INDEX IF EXISTS delivered_history;
             PRAGMA user_version = 9;
             COMMIT;";

/// Version 10: what a message that failed is (see `attempts`), in one transaction; rows of
/// earlier versions keep NULL, "not known".
pub(super) const MIGRATE_V10: &str = "BEGIN;
             ALTER TABLE attempts ADD COLUMN sender TEXT;
             ALTER TABLE attempts ADD COLUMN subject TEXT;
             ALTER TABLE attempts ADD COLUMN message_date INTEGER;
             ALTER TABLE attempts ADD COLUMN size INTEGER;
             PRAGMA user_version = 10;
             COMMIT;";

/// Inserts a delivery's `history` row (see [`MIGRATE_V9`]).
pub(super) const INSERT_HISTORY: &str = "INSERT INTO history
             (profile, delivered_at, size, sender, subject, recipients, reply, account, folder, uid)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

/// Reads this installation's id.
pub(super) const SELECT_INSTALLATION_ID: &str =
    "SELECT value FROM meta WHERE key = 'installation_id'";
