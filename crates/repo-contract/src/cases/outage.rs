//! A store that cannot be reached answers `Unavailable` (the HTTP adapter's `503`), from
//! every method, without panicking and without hanging.

use std::sync::Arc;

use domain_core::RepoError;
use domain_core::model::{ListFilter, PageRequest, Scope};
use domain_core::name::DomainName;
use domain_core::ports::{DomainRepo, KeyStore, LeaseOnWrite};

use crate::backend::Backend;
use crate::fixtures::*;

/// Every method of both ports on a store whose database is down.
pub async fn an_unreachable_store_is_unavailable(
    repo: Arc<dyn DomainRepo>,
    keys: Arc<dyn KeyStore>,
) {
    assert_all_unavailable(&*repo, &*keys).await;
}

/// A store whose pool was closed (as on shutdown) answers `Unavailable` too.
pub async fn a_closed_store_is_unavailable<B: Backend>(backend: &B) {
    let repo = backend.repo();
    repo.ping()
        .await
        .expect("the store is up before it is closed");
    backend.close().await;
    assert_all_unavailable(&*repo, &*backend.key_store()).await;
}

async fn assert_all_unavailable(repo: &dyn DomainRepo, keys: &dyn KeyStore) {
    let domain = new_domain(tenant("p1", "t1"), "mail.example.com");
    let page = PageRequest {
        limit: 10,
        after: None,
    };
    let name = DomainName::parse("mail.example.com").unwrap();
    let selector = base();
    let all = ListFilter::default();
    // Concurrently, so that waiting out the acquire timeout happens once, not per method.
    let (ping, insert, get, list, update, delete, events, sendable, claim, release, sealed) = tokio::join!(
        repo.ping(),
        repo.insert(&domain, &[]),
        repo.get(&Scope::System, &domain.id),
        repo.list(&Scope::System, &all, &page),
        repo.update(&domain, &[], LeaseOnWrite::Keep),
        repo.delete(&Scope::System, &domain.id),
        repo.events(&Scope::System, &domain.id, &page),
        repo.find_sendable("p1", "t1", &name),
        repo.claim_due(T0, "a", at(5), 10),
        repo.release(&domain.id, "a", at(5)),
        keys.sealed_key(&domain.id, &selector),
    );
    let outcomes = [
        ("ping", ping.err()),
        ("insert", insert.err()),
        ("get", get.err()),
        ("list", list.err()),
        ("update", update.err()),
        ("delete", delete.err()),
        ("events", events.err()),
        ("find_sendable", sendable.err()),
        ("claim_due", claim.err()),
        ("release", release.err()),
        ("sealed_key", sealed.err()),
    ];
    for (method, outcome) in outcomes {
        assert!(
            matches!(outcome, Some(RepoError::Unavailable(_))),
            "{method} on a store that is down gave {outcome:?}, not Unavailable"
        );
    }
}
