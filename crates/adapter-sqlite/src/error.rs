//! How sqlx's errors map onto the port's [`RepoError`]: as
//! [`store_sql::dialect::map_err`] says for Sqlite.

use domain_core::RepoError;
use sqlx::Sqlite;

/// Maps a driver error (see [`store_sql::Dialect::database_error`] for Sqlite's codes).
pub(crate) fn map_err(e: sqlx::Error) -> RepoError {
    store_sql::dialect::map_err::<Sqlite>(e)
}
