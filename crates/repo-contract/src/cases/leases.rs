//! The monitor's leases (docs/operations.md, "The monitor"): what is due, who holds it, until when.

use std::sync::Arc;

use domain_core::RepoError;
use domain_core::model::Scope;
use domain_core::ports::{DomainRepo, LeaseOnWrite};

use crate::fixtures::*;

/// A held lease keeps the domain from other claimers until it expires, then anyone may
/// claim it again (an instance that crashed gives its domains back this way). Domains not
/// yet due are not claimed; the most overdue come first.
pub async fn a_live_lease_is_kept_and_an_expired_one_is_reclaimed(repo: Arc<dyn DomainRepo>) {
    let mut overdue = new_domain(tenant("p1", "t1"), "overdue.example.com");
    overdue.next_check_at = at(-30);
    let mut due = new_domain(tenant("p1", "t1"), "due.example.com");
    due.next_check_at = at(0);
    let mut not_yet = new_domain(tenant("p1", "t1"), "later.example.com");
    not_yet.next_check_at = at(120);
    for d in [&due, &overdue, &not_yet] {
        repo.insert(d, &[]).await.unwrap();
    }

    // The most overdue first, within the limit.
    assert_eq!(
        repo.claim_due(at(1), "a", at(6), 1).await.unwrap(),
        vec![overdue.id.clone()]
    );
    assert_eq!(repo.claim_due(at(1), "a", at(6), 0).await.unwrap(), vec![]);
    // Due at exactly `now` counts as due.
    assert_eq!(
        repo.claim_due(at(0), "b", at(5), 10).await.unwrap(),
        vec![due.id.clone()]
    );

    // Both leases are live: nobody else gets them, not even their holders again.
    assert_eq!(repo.claim_due(at(2), "c", at(7), 10).await.unwrap(), vec![]);
    assert_eq!(repo.claim_due(at(2), "a", at(7), 10).await.unwrap(), vec![]);

    // b's lease ends at 5, a's at 6: at 5 only b's domain is free again.
    assert_eq!(
        repo.claim_due(at(5), "c", at(10), 10).await.unwrap(),
        vec![due.id.clone()]
    );
    let mut both = vec![overdue.id.clone()];
    assert_eq!(repo.claim_due(at(6), "d", at(11), 10).await.unwrap(), both);

    // Much later everything is due, and every lease has expired.
    both.push(due.id.clone());
    both.sort();
    let mut all = both.clone();
    all.push(not_yet.id.clone());
    all.sort();
    assert_eq!(
        repo.claim_due(at(200), "e", at(205), 10).await.unwrap(),
        all
    );
}

/// `release` hands the lease back and makes the domain due at the retry time; only the
/// holder can release, and an unknown domain is `NotFound`.
pub async fn release_gives_the_lease_back(repo: Arc<dyn DomainRepo>) {
    let domain = new_domain(tenant("p1", "t1"), "mail.example.com");
    repo.insert(&domain, &[]).await.unwrap();
    let version = repo.get(&Scope::System, &domain.id).await.unwrap().version;
    assert_eq!(
        repo.claim_due(at(1), "a", at(6), 10).await.unwrap(),
        vec![domain.id.clone()]
    );

    match repo.release(&domain.id, "b", at(30)).await {
        Err(RepoError::Conflict(_)) => {}
        other => panic!("a non-holder released a lease: {other:?}"),
    }
    assert_eq!(
        repo.release(&new_domain_id(), "a", at(30))
            .await
            .unwrap_err(),
        RepoError::NotFound
    );

    repo.release(&domain.id, "a", at(30)).await.unwrap();
    // Free, but not due before the retry time, even though a's lease would have lasted
    // only until 6.
    assert_eq!(
        repo.claim_due(at(10), "b", at(15), 10).await.unwrap(),
        vec![]
    );
    assert_eq!(
        repo.claim_due(at(30), "b", at(35), 10).await.unwrap(),
        vec![domain.id.clone()]
    );

    // Releasing changed the schedule only; the domain's version did not move.
    let stored = repo.get(&Scope::System, &domain.id).await.unwrap();
    assert_eq!(stored.version, version);
    assert_eq!(stored.next_check_at, at(30));
}

/// The monitor storing its check ends its own lease, so the domain is claimable at once
/// when it is due again; any other write leaves a live lease alone, because a user's
/// change must never free a domain that another instance is checking.
pub async fn update_releases_only_the_holders_lease(repo: Arc<dyn DomainRepo>) {
    let domain = new_domain(tenant("p1", "t1"), "mail.example.com");
    repo.insert(&domain, &[]).await.unwrap();
    assert_eq!(
        repo.claim_due(at(1), "a", at(60), 10).await.unwrap(),
        vec![domain.id.clone()]
    );

    // A user's change while `a` checks the domain: a's lease holds.
    let mut changed = repo.get(&Scope::System, &domain.id).await.unwrap();
    changed.is_active = false;
    changed.next_check_at = at(2);
    repo.update(&changed, &[], LeaseOnWrite::Keep)
        .await
        .unwrap();
    assert_eq!(repo.claim_due(at(3), "b", at(8), 10).await.unwrap(), vec![]);

    // Another instance cannot end a's lease by naming itself.
    let changed = repo.get(&Scope::System, &domain.id).await.unwrap();
    repo.update(&changed, &[], LeaseOnWrite::ReleaseIfHeldBy("b".to_owned()))
        .await
        .unwrap();
    assert_eq!(repo.claim_due(at(3), "b", at(8), 10).await.unwrap(), vec![]);

    // `a` storing its check ends its lease.
    let mut checked = repo.get(&Scope::System, &domain.id).await.unwrap();
    checked.checks = passing_checks();
    repo.update(&checked, &[], LeaseOnWrite::ReleaseIfHeldBy("a".to_owned()))
        .await
        .unwrap();
    assert_eq!(
        repo.claim_due(at(3), "b", at(8), 10).await.unwrap(),
        vec![domain.id.clone()]
    );
    // And b's lease holds as usual.
    assert_eq!(repo.claim_due(at(4), "c", at(9), 10).await.unwrap(), vec![]);
}
