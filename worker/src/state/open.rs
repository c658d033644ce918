//! Opening the database file: the directory, SQLite's pragmas (busy timeout, WAL,
//! `synchronous=FULL`), the migration to [`SCHEMA_VERSION`] and this installation's id; and
//! [`read_installation_id`], a read-only look that starts nothing.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use super::error::{StateError, file_system_problem};
use super::migrate_accounts::migrate_accounts;
use super::schema::{
    CREATE_V1, CREATE_V3, CREATE_V4, CREATE_V6, CREATE_V7, MIGRATE_V2, MIGRATE_V5_SENT, MIGRATE_V8,
    MIGRATE_V9, MIGRATE_V10, SCHEMA_VERSION, SELECT_INSTALLATION_ID,
};

/// Opens (creating if needed) `state.sqlite3` in `dir`, migrated: the connection, the file's
/// path and the installation id.
pub(super) fn open_database(dir: &Path) -> Result<(Connection, PathBuf, String), StateError> {
    crate::private::dir(dir).map_err(|source| StateError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let path = dir.join("state.sqlite3");
    // Created owner-only before SQLite makes it (with 0644 less the umask); its WAL and
    // shared-memory files take the database's mode. A failure here is SQLite's to report.
    let _ = crate::private::create_file(&path);
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
    Ok((conn, path, installation_id))
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
        conn.execute_batch(CREATE_V1).map_err(open_err)?;
    }
    if version < 2 {
        conn.execute_batch(MIGRATE_V2).map_err(open_err)?;
    }
    if version < 3 {
        let tx = conn.unchecked_transaction().map_err(open_err)?;
        tx.execute_batch(CREATE_V3).map_err(open_err)?;
        migrate_accounts(&tx).map_err(open_err)?;
        tx.pragma_update(None, "user_version", 3)
            .map_err(open_err)?;
        tx.commit().map_err(open_err)?;
    }
    if version < 4 {
        conn.execute_batch(CREATE_V4).map_err(open_err)?;
    }
    if version < 5 {
        conn.execute_batch(MIGRATE_V5_SENT).map_err(open_err)?;
    }
    if version < 6 {
        conn.execute_batch(CREATE_V6).map_err(open_err)?;
    }
    if version < 7 {
        conn.execute_batch(CREATE_V7).map_err(open_err)?;
    }
    if version < 8 {
        conn.execute_batch(MIGRATE_V8).map_err(open_err)?;
    }
    if version < 9 {
        conn.execute_batch(MIGRATE_V9).map_err(open_err)?;
    }
    if version < 10 {
        conn.execute_batch(MIGRATE_V10).map_err(open_err)?;
    }
    let existing: Option<String> = conn
        .query_row(SELECT_INSTALLATION_ID, [], |row| row.get(0))
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

/// The installation id of the state database in `dir`, if one exists (read-only).
pub fn read_installation_id(dir: &Path) -> Option<String> {
    let path = dir.join("state.sqlite3");
    if !path.is_file() {
        return None;
    }
    let conn =
        Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).ok()?;
    conn.query_row(SELECT_INSTALLATION_ID, [], |row| row.get(0))
        .ok()
}
