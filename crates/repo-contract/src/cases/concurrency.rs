//! Writers and monitor instances racing each other.

use std::collections::BTreeSet;
use std::sync::Arc;

use domain_core::RepoError;
use domain_core::model::{EventKind, Scope};
use domain_core::ports::{DomainRepo, LeaseOnWrite};
use domain_core::rotation::KeyState;

use crate::fixtures::*;

/// How many writers race; the brief asks for at least 16.
const RACERS: usize = 16;

/// Sixteen writers read the same version of a domain, each starts a rotation and writes
/// it back: exactly one wins, the others get `Conflict`, and only the winner's key and
/// event are stored.
pub async fn concurrent_rotations_let_exactly_one_win(repo: Arc<dyn DomainRepo>) {
    let domain = new_domain(tenant("p1", "t1"), "mail.example.com");
    repo.insert(&domain, &[]).await.unwrap();

    // Everyone reads before anyone writes, so all hold version 0.
    let outcomes = race(RACERS, |i, start| {
        let repo = repo.clone();
        let id = domain.id.clone();
        async move {
            let mut mine = repo.get(&Scope::System, &id).await.unwrap();
            assert_eq!(mine.version, 0);
            let sealed = start_rotation(&mut mine, i % 8, at(1));
            let started = event(&mine, EventKind::RotationStarted, at(1));
            start.wait().await;
            let result = repo
                .update(&mine, std::slice::from_ref(&started), LeaseOnWrite::Keep)
                .await;
            (result, sealed, started)
        }
    })
    .await;

    let winners: Vec<_> = outcomes.iter().filter(|(r, _, _)| r.is_ok()).collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one writer wins: {:?}",
        outcomes.iter().map(|o| &o.0).collect::<Vec<_>>()
    );
    for (result, _, _) in &outcomes {
        if let Err(e) = result {
            assert!(matches!(e, RepoError::Conflict(_)), "a loser got {e:?}");
        }
    }
    let (_, winning_key, winning_event) = winners[0];

    let stored = repo.get(&Scope::System, &domain.id).await.unwrap();
    assert_eq!(stored.version, 1);
    let pending: Vec<_> = stored
        .keys
        .all()
        .iter()
        .filter(|k| k.state == KeyState::Pending)
        .collect();
    assert_eq!(pending.len(), 1, "one rotation, not sixteen");
    assert_eq!(
        pending[0].sealed.as_ref(),
        Some(winning_key),
        "the winner's key"
    );
    let events = repo
        .events(&Scope::System, &domain.id, &one_page())
        .await
        .unwrap();
    assert_eq!(
        events.items,
        vec![winning_event.clone()],
        "only the winner's event"
    );
}

/// Monitor instances claiming at the same moment never receive the same domain, and
/// together they leave nothing due unclaimed once another round has run.
pub async fn concurrent_claimers_never_share_a_domain(repo: Arc<dyn DomainRepo>) {
    const DOMAINS: usize = 30;
    const CLAIMERS: usize = 4;
    let mut due = BTreeSet::new();
    for i in 0..DOMAINS {
        let d = new_domain(tenant("p1", "t1"), &format!("c{i}.example.com"));
        repo.insert(&d, &[]).await.unwrap();
        due.insert(d.id);
    }
    let mut later = new_domain(tenant("p1", "t1"), "later.example.com");
    later.next_check_at = at(60);
    repo.insert(&later, &[]).await.unwrap();

    let claims = race(CLAIMERS, |i, start| {
        let repo = repo.clone();
        async move {
            start.wait().await;
            repo.claim_due(at(1), &format!("instance-{i}"), at(6), 10)
                .await
                .unwrap()
        }
    })
    .await;
    let mut claimed = Vec::new();
    for got in claims {
        assert!(got.len() <= 10, "a claimer got more than its limit");
        claimed.extend(got);
    }
    let unique: BTreeSet<_> = claimed.iter().cloned().collect();
    assert_eq!(unique.len(), claimed.len(), "a domain was claimed twice");
    assert!(unique.is_subset(&due), "only due domains are claimed");

    // What the race left is claimed by the next round, and nothing twice.
    let rest = repo
        .claim_due(at(1), "instance-9", at(6), 100)
        .await
        .unwrap();
    let rest: BTreeSet<_> = rest.into_iter().collect();
    assert!(rest.is_disjoint(&unique));
    let together: BTreeSet<_> = unique.union(&rest).cloned().collect();
    assert_eq!(together, due, "every due domain, and only those");
}
