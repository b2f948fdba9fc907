//! The reads of the domain store that both stores run alike, each on one connection.

use domain_core::RepoError;
use domain_core::model::{Domain, DomainId, Owner};
use domain_core::name::DomainName;
use domain_core::ports::OwnerUsage;
use domain_core::stored::corrupt;
use sqlx::QueryBuilder;

use crate::dialect::{Dialect, fetch_all, fetch_optional};
use crate::{Bind, rows};

/// Runs one of this crate's statements that read domains with their keys and verdicts
/// (see [`domain`](crate::domain)): one statement, so one snapshot, and no transaction
/// around it.
pub async fn domains<D: Dialect>(
    conn: &mut D::Connection,
    query: QueryBuilder<D>,
) -> Result<Vec<Domain>, RepoError> {
    rows::aggregates::<D>(&fetch_all(conn, query).await?)
}

/// How many domains `owner` has, and whether one of them is named `name`.
pub async fn owner_usage<D: Dialect>(
    conn: &mut D::Connection,
    owner: &Owner,
    name: &DomainName,
) -> Result<OwnerUsage, RepoError>
where
    String: Bind<D>,
{
    let row = fetch_optional(conn, crate::owner_usage::<D>(owner, name))
        .await?
        .ok_or_else(|| corrupt("domain count", "no row"))?;
    let count = |column: &str| -> Result<u64, RepoError> {
        let n: i64 = rows::get::<D, _>(&row, column)?;
        u64::try_from(n).map_err(|e| corrupt("domain count", e))
    };
    Ok(OwnerUsage {
        domains: count("domains")?,
        name_taken: count("taken")? > 0,
    })
}

/// The ids a monitor claim returned (`RETURNING id`), in order.
pub fn claimed_ids<D: Dialect>(claimed: &[D::Row]) -> Result<Vec<DomainId>, RepoError> {
    let mut ids = claimed
        .iter()
        .map(|r| {
            let id: String = rows::get::<D, _>(r, "id")?;
            DomainId::parse(&id).map_err(|e| corrupt("domain id", e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    ids.sort();
    Ok(ids)
}
