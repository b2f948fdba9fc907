//! How sqlx's errors map onto the port's [`RepoError`].

use domain_core::RepoError;

/// Maps a driver error: unique violations and serialization failures are conflicts, a
/// server or network that cannot serve us is unavailable (the request may be retried),
/// and anything else — a value that does not decode, an unexpected reply — is internal.
pub(crate) fn map_err(e: sqlx::Error) -> RepoError {
    match &e {
        sqlx::Error::Database(db) => {
            if db.is_unique_violation() {
                return RepoError::Conflict("it already exists".to_owned());
            }
            let code = db.code().unwrap_or_default();
            match code.get(..2) {
                // Serialization failure and deadlock: another transaction won the race.
                Some("40") => RepoError::Conflict(
                    "a concurrent change got in the way; read again and retry".to_owned(),
                ),
                // Connection exception, insufficient resources (too many connections, disk
                // full), operator intervention (shutdown, starting up), system error.
                Some("08" | "53" | "57" | "58") => RepoError::Unavailable(e.to_string()),
                _ => RepoError::Internal(e.to_string()),
            }
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => RepoError::Unavailable(e.to_string()),
        sqlx::Error::RowNotFound => RepoError::NotFound,
        _ => RepoError::Internal(e.to_string()),
    }
}

/// The name of the unique constraint a database error violated, if it is one.
pub(crate) fn violated_unique(e: &sqlx::Error) -> Option<String> {
    match e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            Some(db.constraint().unwrap_or_default().to_owned())
        }
        _ => None,
    }
}
