//! The shared state's tables in PostgreSQL: the same rows as the SQLite schema (version 6),
//! with `BIGINT` for numbers and `BOOLEAN` for flags, plus the profile leases. Created at
//! connect under a transaction-scoped advisory lock, so that workers starting together do not
//! race each other's `CREATE TABLE`.

/// The shared schema's version, in `meta`; a newer database is refused.
pub(super) const PG_SCHEMA_VERSION: i64 = 1;

/// Any fixed key of `pg_advisory_xact_lock`, held while the schema is created.
pub(super) const SCHEMA_LOCK: i64 = 0x6d61_696c_7075_6c6c; // "mailpull"

pub(super) const CREATE: &str = "
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
