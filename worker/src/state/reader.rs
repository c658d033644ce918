//! The readers: a few threads, each with its own read-only connection to the database, that
//! run the queries which only read. In WAL mode they read beside the writer and never wait
//! for it, so a poll's look-ups never queue in front of another poll's record. A reader sees
//! every commit that finished before its query began.

use std::path::Path;
use std::sync::{Arc, Mutex, mpsc};

use rusqlite::{Connection, OpenFlags};

use super::error::{StateError, file_system_problem};

/// Reader threads (each its own connection).
pub(super) const READERS: usize = 2;

pub(super) type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

/// Opens `READERS` read-only connections to `path` and starts a thread for each, all taking
/// jobs from one queue; the sender of that queue.
pub(super) fn start_readers(path: &Path) -> Result<mpsc::Sender<ReadJob>, StateError> {
    let open_err = |source| StateError::Open {
        path: path.to_path_buf(),
        source,
        cause: path.parent().and_then(file_system_problem),
    };
    let (jobs, rx) = mpsc::channel::<ReadJob>();
    let rx = Arc::new(Mutex::new(rx));
    for n in 0..READERS {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(open_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(open_err)?;
        let rx = Arc::clone(&rx);
        std::thread::Builder::new()
            .name(format!("mailpull-state-read-{n}"))
            .spawn(move || reader(&conn, &rx))
            .map_err(|source| StateError::CreateDir {
                path: path.to_path_buf(),
                source,
            })?;
    }
    Ok(jobs)
}

fn reader(conn: &Connection, jobs: &Mutex<mpsc::Receiver<ReadJob>>) {
    loop {
        let job = {
            let Ok(jobs) = jobs.lock() else { return };
            match jobs.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        job(conn);
    }
}
