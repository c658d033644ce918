//! The shared state's tables in PostgreSQL: the same rows as the SQLite schema (version 10),
//! with `BIGINT` for numbers and `BOOLEAN` for flags, plus the profile leases. Created at
//! connect under a transaction-scoped advisory lock, so that workers starting together do not
//! race each other's `CREATE TABLE`; then migrated, in the same transaction, from the version
//! `meta` names (a fresh database starts at 1 and takes every step).
//!
//! Versions: 1, the tables of [`CREATE_V1`] (SQLite's version 6 and the leases); 2,
//! [`MIGRATE_V2`]: the `alerts` table (SQLite's 7) and what the History page shows of a
//! delivery (`delivered.sender`, `subject`, `reply`; SQLite's 8); 3, [`MIGRATE_V3`]: the
//! `history` table that outlives forgotten delivery records (SQLite's 9), with the
//! deliveries already recorded copied into it; 4, [`MIGRATE_V4`]: what a message that failed
//! is (`attempts.sender`, `subject`, `message_date`, `size`; SQLite's 10).

/// The shared schema's version, in `meta`; a newer database is refused.
pub(super) const PG_SCHEMA_VERSION: i64 = 4;

/// Any fixed key of `pg_advisory_xact_lock`, held while the schema is created.
pub(super) const SCHEMA_LOCK: i64 = 0x6d61_696c_7075_6c6c; // "mailpull"

/// Version 1: the tables of the first shared state.
pub const CREATE_V1: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS delivered (
    account TEXT NOT NULL,
    folder TEXT NOT NULL,
    uidvalidity BIGINT NOT NULL,
    uid TEXT NOT NULL,
    profile TEXT NOT NULL,
    size BIGINT NOT NULL,
    digest TEXT NOT NULL,
    message_id TEXT,
    recipients TEXT NOT NULL,
    delivered_at BIGINT NOT NULL,
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    remote_size BIGINT,
    PRIMARY KEY (account, folder, uidvalidity, uid)
);
CREATE INDEX IF NOT EXISTS delivered_digest ON delivered (account, digest);
CREATE INDEX IF NOT EXISTS delivered_profile ON delivered (profile);
CREATE TABLE IF NOT EXISTS polls (profile TEXT PRIMARY KEY, started_at BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS sent (
    profile TEXT NOT NULL,
    message_id TEXT NOT NULL,
    content TEXT NOT NULL,
    recipient TEXT NOT NULL,
    sent_at BIGINT NOT NULL,
    PRIMARY KEY (profile, message_id, content, recipient)
);
CREATE INDEX IF NOT EXISTS sent_age ON sent (sent_at);
CREATE TABLE IF NOT EXISTS profile_mailboxes (profile TEXT PRIMARY KEY, account TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS intents (
    account TEXT NOT NULL,
    folder TEXT NOT NULL,
    uidvalidity BIGINT NOT NULL,
    uid TEXT NOT NULL,
    recipients TEXT NOT NULL,
    digest TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (account, folder, uidvalidity, uid, recipients)
);
CREATE TABLE IF NOT EXISTS attempts (
    account TEXT NOT NULL,
    folder TEXT NOT NULL,
    uidvalidity BIGINT NOT NULL,
    uid TEXT NOT NULL,
    profile TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    first_at BIGINT NOT NULL,
    last_at BIGINT NOT NULL,
    next_at BIGINT NOT NULL,
    reason TEXT NOT NULL,
    held BOOLEAN NOT NULL DEFAULT FALSE,
    action TEXT,
    PRIMARY KEY (account, folder, uidvalidity, uid)
);
CREATE INDEX IF NOT EXISTS attempts_held ON attempts (held, profile);
CREATE TABLE IF NOT EXISTS leases (
    profile TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    generation BIGINT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS workers (
    id TEXT PRIMARY KEY,
    seen_until TIMESTAMPTZ NOT NULL
);
";

/// Version 2: alert state and History on the shared state too.
pub const MIGRATE_V2: &str = "
ALTER TABLE delivered ADD COLUMN IF NOT EXISTS sender TEXT;
ALTER TABLE delivered ADD COLUMN IF NOT EXISTS subject TEXT;
ALTER TABLE delivered ADD COLUMN IF NOT EXISTS reply TEXT;
CREATE INDEX IF NOT EXISTS delivered_history ON delivered (profile, delivered_at);
CREATE TABLE IF NOT EXISTS alerts (
    profile TEXT NOT NULL,
    kind TEXT NOT NULL,
    since BIGINT NOT NULL,
    detail TEXT NOT NULL,
    sent_at BIGINT,
    PRIMARY KEY (profile, kind)
);
";

/// Version 3: the delivery history, kept apart from the delivery records (see the SQLite
/// `schema` module, version 9).
pub const MIGRATE_V3: &str = "
CREATE TABLE IF NOT EXISTS history (
    id BIGSERIAL PRIMARY KEY,
    profile TEXT NOT NULL,
    delivered_at BIGINT NOT NULL,
    size BIGINT NOT NULL,
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
    FROM delivered WHERE recipients <> '' ORDER BY delivered_at;
DROP INDEX IF EXISTS delivered_history;
";

/// Version 4: what a message that failed is, for the Held page (see the SQLite `schema`
/// module, version 10); rows of earlier versions keep NULL, "not known".
pub(super) const MIGRATE_V4: &str = "
ALTER TABLE attempts ADD COLUMN IF NOT EXISTS sender TEXT;
ALTER TABLE attempts ADD COLUMN IF NOT EXISTS subject TEXT;
ALTER TABLE attempts ADD COLUMN IF NOT EXISTS message_date BIGINT;
ALTER TABLE attempts ADD COLUMN IF NOT EXISTS size BIGINT;
";
