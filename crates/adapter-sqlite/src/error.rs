//! How sqlx's errors map onto the port's [`RepoError`].

use domain_core::RepoError;

// SQLite's primary result codes (the low byte of an extended code) that mean the file
// cannot be used right now, rather than that our request is wrong.
const SQLITE_BUSY: i32 = 5;
const SQLITE_LOCKED: i32 = 6;
const SQLITE_READONLY: i32 = 8;
const SQLITE_IOERR: i32 = 10;
const SQLITE_FULL: i32 = 13;
const SQLITE_CANTOPEN: i32 = 14;

/// Maps a driver error: unique violations are conflicts; a database file that is locked
/// past the busy timeout, unreadable, read-only, full or gone is unavailable (the request
/// may be retried); anything else — a value that does not decode, a corrupt file — is
/// internal.
pub(crate) fn map_err(e: sqlx::Error) -> RepoError {
    match &e {
        sqlx::Error::Database(db) => {
            if db.is_unique_violation() {
                return RepoError::Conflict("it already exists".to_owned());
            }
            let code = db
                .code()
                .and_then(|c| c.parse::<i32>().ok())
                .unwrap_or_default();
            match code & 0xff {
                SQLITE_BUSY | SQLITE_LOCKED | SQLITE_READONLY | SQLITE_IOERR | SQLITE_FULL
                | SQLITE_CANTOPEN => RepoError::Unavailable(e.to_string()),
                _ => RepoError::Internal(e.to_string()),
            }
        }
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => RepoError::Unavailable(e.to_string()),
        sqlx::Error::RowNotFound => RepoError::NotFound,
        _ => RepoError::Internal(e.to_string()),
    }
}

/// The message of a unique violation, which names the columns (SQLite gives no
/// constraint name), if the error is one.
pub(crate) fn violated_unique(e: &sqlx::Error) -> Option<String> {
    match e {
        sqlx::Error::Database(db) if db.is_unique_violation() => Some(db.message().to_owned()),
        _ => None,
    }
}
