//! How sqlx's errors map onto the port's [`RepoError`]: as
//! [`store_sql::dialect::map_err`] says for Postgres.

use domain_core::RepoError;
use sqlx::Postgres;

/// Maps a driver error (see [`store_sql::Dialect::database_error`] for Postgres's codes).
pub(crate) fn map_err(e: sqlx::Error) -> RepoError {
    store_sql::dialect::map_err::<Postgres>(e)
}
