//! Who sees what (docs/api.md, "Authentication"): every query is scoped, and what a scope may not see does
//! not exist for it.

use std::sync::Arc;

use domain_core::RepoError;
use domain_core::model::{ListFilter, Scope};
use domain_core::name::DomainName;
use domain_core::ports::DomainRepo;

use crate::fixtures::*;

fn tenant_scope(partner: &str, tenant: &str) -> Scope {
    Scope::Tenant {
        partner_id: partner.to_owned(),
        tenant_id: tenant.to_owned(),
    }
}

fn partner_scope(partner: &str) -> Scope {
    Scope::Partner {
        partner_id: partner.to_owned(),
    }
}

/// A tenant sees its own domains and its partner's shared ones, never another tenant's
/// nor another partner's (even under the same tenant id); a partner sees everything under
/// it; the system sees all. For `get`, `list`, `events` and `delete`, an invisible domain
/// is `NotFound`, and a refused delete deletes nothing.
pub async fn scopes_hide_what_they_may_not_see(repo: Arc<dyn DomainRepo>) {
    let owners = owners_of_two_partners("a", "b");
    let mut domains = Vec::new();
    for (i, owner) in owners.iter().enumerate() {
        let d = new_domain(owner.clone(), &format!("s{i}.example.com"));
        repo.insert(&d, &[event(&d, domain_core::EventKind::Created, T0)])
            .await
            .unwrap();
        domains.push(d);
    }
    let [own, sibling, p1_shared, other_partner, p2_shared] = &domains[..] else {
        unreachable!("five owners, five domains")
    };

    let scopes = [
        tenant_scope("p1", "a"),
        tenant_scope("p1", "b"),
        tenant_scope("p1", "c"),
        tenant_scope("p2", "a"),
        partner_scope("p1"),
        partner_scope("p2"),
        partner_scope("p3"),
        Scope::System,
    ];
    let page = one_page();
    for scope in &scopes {
        let visible: Vec<_> = domains.iter().filter(|d| scope.can_see(&d.owner)).collect();
        let listed = repo
            .list(scope, &ListFilter::default(), &page)
            .await
            .unwrap();
        assert_eq!(
            ids(&listed.items),
            visible.iter().map(|d| d.id.clone()).collect::<Vec<_>>(),
            "list in {scope:?}"
        );
        for d in &domains {
            let got = repo.get(scope, &d.id).await;
            let events = repo.events(scope, &d.id, &page).await;
            if scope.can_see(&d.owner) {
                assert_eq!(got.unwrap().id, d.id, "get in {scope:?}");
                assert_eq!(events.unwrap().items.len(), 1, "events in {scope:?}");
            } else {
                assert_eq!(
                    got.unwrap_err(),
                    RepoError::NotFound,
                    "get {} in {scope:?}",
                    d.name
                );
                assert_eq!(
                    events.unwrap_err(),
                    RepoError::NotFound,
                    "events {} in {scope:?}",
                    d.name
                );
                assert_eq!(
                    repo.delete(scope, &d.id).await.unwrap_err(),
                    RepoError::NotFound,
                    "delete {} in {scope:?}",
                    d.name
                );
            }
        }
    }
    // The refused deletes above deleted nothing.
    let all = repo
        .list(&Scope::System, &ListFilter::default(), &page)
        .await
        .unwrap();
    assert_eq!(ids(&all.items), ids(&domains));

    // The rule spelled out for tenant a of p1, whatever `can_see` says.
    let a = tenant_scope("p1", "a");
    let listed = repo.list(&a, &ListFilter::default(), &page).await.unwrap();
    assert_eq!(
        ids(&listed.items),
        vec![own.id.clone(), p1_shared.id.clone()]
    );
    for hidden in [sibling, other_partner, p2_shared] {
        assert_eq!(
            repo.get(&a, &hidden.id).await.unwrap_err(),
            RepoError::NotFound
        );
    }

    // A visible domain is deleted in a scope that sees it, including a shared one by its
    // partner.
    repo.delete(&a, &own.id).await.unwrap();
    repo.delete(&partner_scope("p1"), &p1_shared.id)
        .await
        .unwrap();
    let all = repo
        .list(&Scope::System, &ListFilter::default(), &page)
        .await
        .unwrap();
    assert_eq!(
        ids(&all.items),
        vec![
            sibling.id.clone(),
            other_partner.id.clone(),
            p2_shared.id.clone()
        ]
    );
}

/// The send-time lookup finds the tenant's own domain of that name, then its partner's
/// shared one, and nothing of other tenants or partners.
pub async fn find_sendable_returns_own_then_shared(repo: Arc<dyn DomainRepo>) {
    let name = "mail.example.com";
    // The shared one is created first, so id order alone would put it first.
    let p1_shared = new_domain(shared("p1"), name);
    let own = new_domain(tenant("p1", "a"), name);
    for d in [
        &p1_shared,
        &own,
        &new_domain(tenant("p1", "b"), name),
        &new_domain(tenant("p2", "a"), name),
        &new_domain(shared("p2"), name),
        &new_domain(tenant("p1", "a"), "other.example.com"),
    ] {
        repo.insert(d, &[]).await.unwrap();
    }
    let name = DomainName::parse(name).unwrap();

    let found = repo.find_sendable("p1", "a", &name).await.unwrap();
    assert_eq!(ids(&found), vec![own.id.clone(), p1_shared.id.clone()]);
    assert_same_domain(&found[0], &own);

    let found = repo.find_sendable("p1", "c", &name).await.unwrap();
    assert_eq!(
        ids(&found),
        vec![p1_shared.id.clone()],
        "a tenant without its own"
    );

    let found = repo.find_sendable("p3", "a", &name).await.unwrap();
    assert!(found.is_empty(), "an unknown partner finds nothing");

    let unknown = DomainName::parse("unknown.example.com").unwrap();
    assert!(
        repo.find_sendable("p1", "a", &unknown)
            .await
            .unwrap()
            .is_empty()
    );
}
