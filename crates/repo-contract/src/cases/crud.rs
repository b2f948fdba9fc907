//! Writing and reading domains, their keys, checks and events; pages and filters.

use std::sync::Arc;

use domain_core::RepoError;
use domain_core::model::{EventKind, ListFilter, PageRequest, Scope};
use domain_core::name::{DmarcPolicy, DomainName, Selector};
use domain_core::ports::{DomainRepo, KeyStore, LeaseOnWrite};
use domain_core::rotation::DkimMode;
use domain_core::rotation::{KeyState, RotationPeriod};
use domain_core::verify::{CheckKind, CheckStatus, VerdictCode};
use serde_json::json;

use crate::backend::Backend;
use crate::fixtures::*;

/// A domain comes back exactly as stored: every field, every key in every state (a
/// removed one without its private key), every verdict.
pub async fn insert_then_get_returns_the_same_domain(repo: Arc<dyn DomainRepo>) {
    let mut domain = new_domain(tenant("p1", "t1"), "mail.example.com");
    let created = event(&domain, EventKind::Created, T0);
    repo.insert(&domain, std::slice::from_ref(&created))
        .await
        .unwrap();
    let got = repo.get(&Scope::System, &domain.id).await.unwrap();
    assert_same_domain(&got, &domain);

    // Everything the aggregate can hold: three keys (retiring, active, removed), all
    // verdicts, every optional field set (and, on a second domain, none).
    start_rotation(&mut domain, 1, at(1));
    let second = domain.keys.pending().unwrap().index;
    domain.keys.promote(second, at(2)).unwrap();
    start_rotation(&mut domain, 2, at(3));
    let third = domain.keys.pending().unwrap().selector.clone();
    domain.keys.remove(&third, at(4)).unwrap();
    domain.checks = passing_checks();
    domain.verified = true;
    domain.last_verified_at = Some(at(5));
    domain.failing_since = Some(at(6));
    domain.next_check_at = at(60 * 24);
    domain.updated_at = at(6);
    domain.dkim_rotation_days = Some(RotationPeriod::from_days(RotationPeriod::MAX_DAYS).unwrap());
    domain.dmarc_policy = DmarcPolicy::Reject;
    domain.return_path = Some(return_path(&domain, at(3), at(7)));
    repo.update(&domain, &[], LeaseOnWrite::Keep).await.unwrap();
    domain.version += 1;
    let got = repo.get(&Scope::System, &domain.id).await.unwrap();
    assert_same_domain(&got, &domain);
    let states: Vec<_> = got.keys.all().iter().map(|k| k.state).collect();
    assert_eq!(
        states,
        [KeyState::Retiring, KeyState::Active, KeyState::Removed]
    );

    let mut bare = new_domain(shared("p1"), "bare.example.org");
    bare.dmarc_rua = None;
    bare.dkim_rotation_days = None;
    bare.is_active = false;
    repo.insert(&bare, &[]).await.unwrap();
    assert_same_domain(&repo.get(&Scope::System, &bare.id).await.unwrap(), &bare);

    let unknown = new_domain_id();
    assert_eq!(
        repo.get(&Scope::System, &unknown).await.unwrap_err(),
        RepoError::NotFound
    );
}

/// Pages walk every domain once, in id order, and stay stable when domains are added
/// between two pages: a later one shows up at the end, an earlier one never, and no item
/// repeats or goes missing.
pub async fn list_pages_are_stable_under_inserts(repo: Arc<dyn DomainRepo>) {
    let scope = Scope::Partner {
        partner_id: "p1".to_owned(),
    };
    let mut all = Vec::new();
    for i in 0..7 {
        let d = new_domain(tenant("p1", "t1"), &format!("d{i}.example.com"));
        repo.insert(&d, &[]).await.unwrap();
        all.push(d.id);
    }
    let page = |after: Option<String>| PageRequest { limit: 3, after };

    let first = repo
        .list(&scope, &ListFilter::default(), &page(None))
        .await
        .unwrap();
    assert_eq!(ids(&first.items), all[0..3]);
    assert_eq!(first.next_after.as_deref(), Some(all[2].as_str()));

    // An insert after the cursor is seen later; one sorting before it (an older ULID, as
    // from another instance with a slower clock) belongs to pages already read.
    let late = new_domain(tenant("p1", "t1"), "late.example.com");
    repo.insert(&late, &[]).await.unwrap();
    let mut early = new_domain(tenant("p1", "t1"), "early.example.com");
    early.id =
        domain_core::DomainId::parse(&format!("dom_{}", ulid::Ulid::from_parts(1, 1))).unwrap();
    repo.insert(&early, &[]).await.unwrap();

    let second = repo
        .list(&scope, &ListFilter::default(), &page(first.next_after))
        .await
        .unwrap();
    assert_eq!(ids(&second.items), all[3..6]);
    let third = repo
        .list(&scope, &ListFilter::default(), &page(second.next_after))
        .await
        .unwrap();
    assert_eq!(ids(&third.items), vec![all[6].clone(), late.id.clone()]);
    assert_eq!(third.next_after, None, "the last page has no cursor");

    // Reading from the start again gives everything, in id order.
    let everything = repo
        .list(&scope, &ListFilter::default(), &one_page())
        .await
        .unwrap();
    let mut want = all.clone();
    want.extend([late.id.clone(), early.id.clone()]);
    want.sort();
    assert_eq!(ids(&everything.items), want);
    assert_eq!(want[0], early.id);
}

/// `next_after` is set exactly when more items follow: a full last page has none, and
/// out-of-range limits are kept within 1–200.
pub async fn page_limits_at_the_edges(repo: Arc<dyn DomainRepo>) {
    let scope = Scope::System;
    let none = ListFilter::default();
    let empty = repo
        .list(
            &scope,
            &none,
            &PageRequest {
                limit: 1,
                after: None,
            },
        )
        .await
        .unwrap();
    assert!(empty.items.is_empty());
    assert_eq!(empty.next_after, None);

    let mut all = Vec::new();
    for i in 0..4 {
        let d = new_domain(tenant("p1", "t1"), &format!("e{i}.example.com"));
        repo.insert(&d, &[]).await.unwrap();
        all.push(d.id);
    }
    let list = |limit: u32, after: Option<&str>| {
        let repo = repo.clone();
        let page = PageRequest {
            limit,
            after: after.map(str::to_owned),
        };
        async move {
            repo.list(&Scope::System, &ListFilter::default(), &page)
                .await
                .unwrap()
        }
    };

    let exact = list(4, None).await;
    assert_eq!(ids(&exact.items), all);
    assert_eq!(
        exact.next_after, None,
        "a page that holds the rest exactly is the last"
    );

    let short = list(3, None).await;
    assert_eq!(ids(&short.items), all[..3]);
    assert_eq!(short.next_after.as_deref(), Some(all[2].as_str()));
    let rest = list(3, short.next_after.as_deref()).await;
    assert_eq!(ids(&rest.items), all[3..]);
    assert_eq!(rest.next_after, None);

    let one = list(1, None).await;
    assert_eq!(ids(&one.items), all[..1]);
    assert_eq!(one.next_after.as_deref(), Some(all[0].as_str()));

    let big = list(PageRequest::MAX_LIMIT, None).await;
    assert_eq!(ids(&big.items), all);
    assert_eq!(big.next_after, None);

    // After the last item: an empty last page.
    let past = list(2, Some(all[3].as_str())).await;
    assert!(past.items.is_empty());
    assert_eq!(past.next_after, None);

    // `PageRequest`'s fields can be set around its checks; the store keeps them in range
    // rather than answering nothing (0) or everything (u32::MAX).
    let zero = list(0, None).await;
    assert_eq!(ids(&zero.items), all[..1]);
    let huge = list(u32::MAX, None).await;
    assert_eq!(ids(&huge.items), all);
}

/// Every combination of the three filters, in every scope, lists exactly the domains that
/// `Scope::can_see` and the filter admit, in id order.
pub async fn list_filters_match_the_scope_rule(repo: Arc<dyn DomainRepo>) {
    let owners = owners_of_two_partners("t1", "t2");
    let mut stored = Vec::new();
    for (i, owner) in owners.iter().enumerate() {
        for (verified, active) in [(false, false), (false, true), (true, false), (true, true)] {
            let mut d = new_domain(
                owner.clone(),
                &format!("f{i}-{verified}-{active}.example.com"),
            );
            d.verified = verified;
            d.is_active = active;
            repo.insert(&d, &[]).await.unwrap();
            stored.push(d);
        }
    }
    let scopes = [
        Scope::Tenant {
            partner_id: "p1".to_owned(),
            tenant_id: "t1".to_owned(),
        },
        Scope::Partner {
            partner_id: "p1".to_owned(),
        },
        Scope::Partner {
            partner_id: "p3".to_owned(),
        },
        Scope::System,
    ];
    let options = [None, Some(false), Some(true)];
    for scope in &scopes {
        for verified in options {
            for is_active in options {
                for is_shared in options {
                    let filter = ListFilter {
                        verified,
                        is_active,
                        is_shared,
                    };
                    let want: Vec<_> = stored
                        .iter()
                        .filter(|d| scope.can_see(&d.owner))
                        .filter(|d| verified.is_none_or(|v| d.verified == v))
                        .filter(|d| is_active.is_none_or(|a| d.is_active == a))
                        .filter(|d| is_shared.is_none_or(|s| d.is_shared() == s))
                        .map(|d| d.id.clone())
                        .collect();
                    let got = repo.list(scope, &filter, &one_page()).await.unwrap();
                    assert_eq!(ids(&got.items), want, "{scope:?} {filter:?}");
                }
            }
        }
    }
}

/// An update stores the whole aggregate, bumps the version by one, and refuses a stale
/// version (`Conflict`) or a deleted domain (`NotFound`).
pub async fn update_bumps_the_version_and_stores_the_aggregate(repo: Arc<dyn DomainRepo>) {
    let mut domain = new_domain(tenant("p1", "t1"), "mail.example.com");
    repo.insert(&domain, &[]).await.unwrap();
    let read = repo.get(&Scope::System, &domain.id).await.unwrap();
    assert_eq!(read.version, 0);

    domain.dmarc_policy = DmarcPolicy::None;
    domain.dmarc_rua = None;
    domain.is_active = false;
    domain.verified = true;
    domain.checks = passing_checks();
    domain.dkim_rotation_days = Some(RotationPeriod::from_days(30).unwrap());
    domain.updated_at = at(10);
    domain.last_verified_at = Some(at(10));
    domain.next_check_at = at(60);
    domain.return_path = Some(return_path(&domain, at(8), at(9)));
    start_rotation(&mut domain, 1, at(10));
    repo.update(&domain, &[], LeaseOnWrite::Keep).await.unwrap();
    let read = repo.get(&Scope::System, &domain.id).await.unwrap();
    assert_eq!(read.version, 1, "the store bumps the version");
    domain.version = 1;
    assert_same_domain(&read, &domain);

    // Checks are replaced, not merged: a check that is gone stays gone. A return path
    // removed is gone with its flag.
    domain.checks.remove(CheckKind::Spf);
    domain.checks.remove(CheckKind::ReturnPath);
    domain.return_path = None;
    repo.update(&domain, &[], LeaseOnWrite::Keep).await.unwrap();
    domain.version = 2;
    assert_same_domain(
        &repo.get(&Scope::System, &domain.id).await.unwrap(),
        &domain,
    );

    // The version we hold is stale once someone else wrote.
    let stale = read;
    assert!(matches!(
        repo.update(&stale, &[], LeaseOnWrite::Keep).await,
        Err(RepoError::Conflict(_))
    ));
    assert_eq!(
        repo.get(&Scope::System, &domain.id).await.unwrap().version,
        2
    );

    // Name and owner are fixed at creation: an update does not move a domain.
    let mut moved = domain.clone();
    moved.owner = tenant("p2", "t9");
    moved.name = DomainName::parse("other.example.net").unwrap();
    repo.update(&moved, &[], LeaseOnWrite::Keep).await.unwrap();
    let read = repo.get(&Scope::System, &domain.id).await.unwrap();
    assert_eq!(
        (read.owner, read.name),
        (domain.owner.clone(), domain.name.clone())
    );

    repo.delete(&Scope::System, &domain.id).await.unwrap();
    domain.version = 3;
    assert_eq!(
        repo.update(&domain, &[], LeaseOnWrite::Keep)
            .await
            .unwrap_err(),
        RepoError::NotFound
    );
}

/// The timeline comes newest first, page by page, with events of inserts and updates,
/// users and the system alike.
pub async fn events_come_newest_first_in_pages(repo: Arc<dyn DomainRepo>) {
    let mut domain = new_domain(tenant("p1", "t1"), "mail.example.com");
    let mut written = vec![event(&domain, EventKind::Created, T0)];
    repo.insert(&domain, &written).await.unwrap();
    for (i, kind) in [
        EventKind::CheckChanged,
        EventKind::Verified,
        EventKind::PolicyChanged,
    ]
    .into_iter()
    .enumerate()
    {
        let batch = vec![
            system_event(&domain, kind, at(i as i64 + 1)),
            event(&domain, EventKind::RotationStarted, at(i as i64 + 1)),
        ];
        repo.update(&domain, &batch, LeaseOnWrite::Keep)
            .await
            .unwrap();
        domain.version += 1;
        written.extend(batch);
    }
    let newest_first: Vec<_> = written.iter().rev().cloned().collect();

    let all = repo
        .events(&Scope::System, &domain.id, &one_page())
        .await
        .unwrap();
    assert_eq!(
        all.items, newest_first,
        "every field comes back, newest first"
    );
    assert_eq!(all.next_after, None);

    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = repo
            .events(&Scope::System, &domain.id, &PageRequest { limit: 3, after })
            .await
            .unwrap();
        assert!(page.items.len() <= 3);
        paged.extend(page.items);
        match page.next_after {
            Some(cursor) => after = Some(cursor),
            None => break,
        }
    }
    assert_eq!(paged, newest_first);

    let other = new_domain(tenant("p1", "t1"), "other.example.com");
    repo.insert(&other, &[]).await.unwrap();
    let none = repo
        .events(&Scope::System, &other.id, &one_page())
        .await
        .unwrap();
    assert!(none.items.is_empty(), "events belong to their domain only");
}

/// A write that fails stores nothing of what came with it: not the events of a stale
/// update or of a duplicate insert, and not the domain changes of an update whose events
/// could not be stored.
pub async fn events_of_a_failed_write_are_not_stored(repo: Arc<dyn DomainRepo>) {
    let domain = new_domain(tenant("p1", "t1"), "mail.example.com");
    let created = event(&domain, EventKind::Created, T0);
    repo.insert(&domain, std::slice::from_ref(&created))
        .await
        .unwrap();
    let events = |id| {
        let repo = repo.clone();
        async move {
            repo.events(&Scope::System, &id, &one_page())
                .await
                .unwrap()
                .items
        }
    };

    // A winner moves the version on; the loser's events must not appear.
    let mut winner = domain.clone();
    winner.verified = true;
    let won = event(&winner, EventKind::Verified, at(1));
    repo.update(&winner, std::slice::from_ref(&won), LeaseOnWrite::Keep)
        .await
        .unwrap();
    let mut loser = domain.clone();
    loser.is_active = false;
    let lost = event(&loser, EventKind::Deactivated, at(2));
    assert!(matches!(
        repo.update(&loser, &[lost], LeaseOnWrite::Keep).await,
        Err(RepoError::Conflict(_))
    ));
    assert_eq!(
        events(domain.id.clone()).await,
        vec![won.clone(), created.clone()]
    );

    // The second insert of a name under one owner brings its own events; none is kept.
    let twin = new_domain(tenant("p1", "t1"), "mail.example.com");
    let twin_created = event(&twin, EventKind::Created, at(3));
    assert!(matches!(
        repo.insert(&twin, &[twin_created]).await,
        Err(RepoError::Conflict(_))
    ));
    assert_eq!(
        repo.get(&Scope::System, &twin.id).await.unwrap_err(),
        RepoError::NotFound
    );

    // The domain row is written before the events; when an event cannot be stored (its id
    // is taken) the row's changes and the new key must be rolled back with it.
    let mut current = repo.get(&Scope::System, &domain.id).await.unwrap();
    let before = current.clone();
    current.is_active = false;
    start_rotation(&mut current, 3, at(4));
    let duplicate = domain_core::DomainEvent {
        kind: EventKind::RotationStarted,
        ..won.clone()
    };
    assert!(
        repo.update(&current, &[duplicate], LeaseOnWrite::Keep)
            .await
            .is_err()
    );
    let after = repo.get(&Scope::System, &domain.id).await.unwrap();
    assert_same_domain(&after, &before);
    assert_eq!(events(domain.id.clone()).await, vec![won, created]);

    // Events name their domain; one naming another domain is refused, not misfiled.
    let stranger = event(&twin, EventKind::PolicyChanged, at(5));
    assert!(matches!(
        repo.update(&after, &[stranger], LeaseOnWrite::Keep).await,
        Err(RepoError::Internal(_))
    ));
    assert_same_domain(
        &repo.get(&Scope::System, &domain.id).await.unwrap(),
        &before,
    );
}

/// Two tenants may each add a name, and a partner may share it too; one owner twice is a
/// `Conflict`.
pub async fn names_are_unique_per_owner(repo: Arc<dyn DomainRepo>) {
    let name = "mail.example.com";
    for owner in [
        tenant("p1", "t1"),
        tenant("p1", "t2"),
        shared("p1"),
        tenant("p2", "t1"),
        shared("p2"),
    ] {
        repo.insert(&new_domain(owner, name), &[]).await.unwrap();
    }
    for owner in [tenant("p1", "t1"), shared("p1"), tenant("p2", "t1")] {
        match repo.insert(&new_domain(owner.clone(), name), &[]).await {
            Err(RepoError::Conflict(message)) => assert!(message.contains(name), "{message}"),
            other => panic!("{owner:?} added {name} twice: {other:?}"),
        }
    }
    // Another name of the same owner is fine.
    repo.insert(&new_domain(tenant("p1", "t1"), "news.example.com"), &[])
        .await
        .unwrap();
    // The same id twice is a conflict too.
    let domain = new_domain(tenant("p1", "t3"), "x.example.com");
    repo.insert(&domain, &[]).await.unwrap();
    let mut same_id = new_domain(tenant("p1", "t3"), "y.example.com");
    same_id.id = domain.id.clone();
    assert!(matches!(
        repo.insert(&same_id, &[]).await,
        Err(RepoError::Conflict(_))
    ));
}

/// The signer gets sealed keys by domain and selector, while they exist: a removed key,
/// an unknown selector or an unknown domain are `NotFound`.
pub async fn sealed_keys_come_back_by_selector(repo: Arc<dyn DomainRepo>, keys: &dyn KeyStore) {
    let mut domain = new_domain(tenant("p1", "t1"), "mail.example.com");
    repo.insert(&domain, &[]).await.unwrap();
    let first = domain.keys.active().clone();
    let got = keys.sealed_key(&domain.id, &first.selector).await.unwrap();
    assert_eq!(Some(&got), first.sealed.as_ref());
    kek()
        .open(&got, &row_of(&domain, &first))
        .expect("the stored key opens for its row");

    let second_sealed = start_rotation(&mut domain, 1, at(1));
    let second = domain.keys.pending().unwrap().selector.clone();
    repo.update(&domain, &[], LeaseOnWrite::Keep).await.unwrap();
    domain.version += 1;
    assert_eq!(
        keys.sealed_key(&domain.id, &second).await.unwrap(),
        second_sealed
    );

    let second_generation = domain.keys.pending().unwrap().index;
    domain.keys.promote(second_generation, at(2)).unwrap();
    domain.keys.remove(&first.selector, at(3)).unwrap();
    repo.update(&domain, &[], LeaseOnWrite::Keep).await.unwrap();
    assert_eq!(
        keys.sealed_key(&domain.id, &first.selector)
            .await
            .unwrap_err(),
        RepoError::NotFound,
        "a removed key's private key is destroyed"
    );
    assert_eq!(
        keys.sealed_key(&domain.id, &second).await.unwrap(),
        second_sealed
    );
    let unknown = Selector::parse("scaisend9").unwrap();
    assert_eq!(
        keys.sealed_key(&domain.id, &unknown).await.unwrap_err(),
        RepoError::NotFound
    );
    assert_eq!(
        keys.sealed_key(&new_domain_id(), &second)
            .await
            .unwrap_err(),
        RepoError::NotFound
    );
}

/// Deleting a domain deletes its keys (the signer finds none), checks and events, in the
/// store itself and not only as the ports see it; other domains keep theirs.
pub async fn delete_removes_keys_checks_and_events<B: Backend>(backend: &B) {
    let repo = backend.repo();
    let keys = backend.key_store();
    let mut doomed = new_domain(tenant("p1", "t1"), "mail.example.com");
    doomed.checks = passing_checks();
    start_rotation(&mut doomed, 1, T0);
    repo.insert(&doomed, &[event(&doomed, EventKind::Created, T0)])
        .await
        .unwrap();
    let mut kept = new_domain(tenant("p1", "t1"), "kept.example.com");
    kept.checks = passing_checks();
    repo.insert(&kept, &[event(&kept, EventKind::Created, T0)])
        .await
        .unwrap();

    repo.delete(&Scope::System, &doomed.id).await.unwrap();
    assert_eq!(
        repo.get(&Scope::System, &doomed.id).await.unwrap_err(),
        RepoError::NotFound
    );
    for key in doomed.keys.all() {
        assert_eq!(
            keys.sealed_key(&doomed.id, &key.selector)
                .await
                .unwrap_err(),
            RepoError::NotFound
        );
    }
    let page = one_page();
    assert_eq!(
        repo.events(&Scope::System, &doomed.id, &page)
            .await
            .unwrap_err(),
        RepoError::NotFound
    );
    assert_eq!(
        repo.delete(&Scope::System, &doomed.id).await.unwrap_err(),
        RepoError::NotFound
    );

    // Under the ports: no row anywhere still mentions the deleted domain.
    let cells = backend.dump().await;
    let needle = doomed.id.as_str().as_bytes();
    let left: Vec<_> = cells
        .iter()
        .filter(|c| c.bytes.windows(needle.len()).any(|w| w == needle))
        .map(|c| format!("{}.{}", c.table, c.column))
        .collect();
    assert!(
        left.is_empty(),
        "rows of the deleted domain remain in {left:?}"
    );
    let kept_rows = cells
        .iter()
        .filter(|c| c.bytes == kept.id.as_str().as_bytes())
        .map(|c| c.table.as_str())
        .collect::<std::collections::BTreeSet<_>>();
    assert_eq!(
        kept_rows.into_iter().collect::<Vec<_>>(),
        ["dkim_keys", "domain_checks", "domain_events", "domains"],
        "the other domain keeps its rows"
    );
    assert_same_domain(&repo.get(&Scope::System, &kept.id).await.unwrap(), &kept);
}

/// A row that does not decode into the core's types is `Internal`, never a panic and
/// never a half-read domain.
pub async fn a_row_that_does_not_decode_is_internal<B: Backend>(backend: &B) {
    let repo = backend.repo();
    let mut domain = new_domain(tenant("p1", "t1"), "mail.example.com");
    domain.checks = passing_checks();
    repo.insert(&domain, &[]).await.unwrap();
    let id = lit(domain.id.as_str());
    let execute = async |sql: String| backend.execute(&sql).await;
    let set_domain = async |assignments: &str| {
        execute(format!("UPDATE domains SET {assignments} WHERE id = {id}")).await
    };
    let get = || repo.get(&Scope::System, &domain.id);

    let changed = execute(format!(
        "UPDATE domain_checks SET verdict = '{{\"not\": \"a verdict\"}}' WHERE domain_id = {id}"
    ))
    .await;
    assert_eq!(changed, CheckKind::ALL.len() as u64, "one row per check");
    assert!(matches!(get().await, Err(RepoError::Internal(_))));
    let page = one_page();
    assert!(matches!(
        repo.list(&Scope::System, &ListFilter::default(), &page)
            .await,
        Err(RepoError::Internal(_))
    ));

    execute(format!("DELETE FROM domain_checks WHERE domain_id = {id}")).await;
    get().await.expect("readable again");
    // A return-path label no tenant could have set.
    set_domain("return_path = '_dmarc', return_path_set_at = created_at").await;
    assert!(matches!(
        get().await,
        Err(RepoError::Internal(m)) if m.contains("return path")
    ));
    set_domain("return_path = 'bounces'").await;
    assert_eq!(
        get()
            .await
            .expect("readable again")
            .return_path
            .map(|r| r.host.to_string())
            .as_deref(),
        Some("bounces.mail.example.com")
    );
    set_domain("dmarc_rua = 'no at sign; p=none'").await;
    assert!(matches!(get().await, Err(RepoError::Internal(_))));
    assert!(matches!(
        repo.find_sendable("p1", "t1", &domain.name).await,
        Err(RepoError::Internal(_))
    ));
}

/// Whatever characters the core hands over are stored, in verdicts and events alike: a
/// NUL, which PostgreSQL's `text` and `jsonb` cannot hold, comes back as `\000`; every
/// other character — other controls, non-ASCII, quotes, backslashes — as itself.
pub async fn any_text_is_stored_and_a_nul_comes_back_escaped(repo: Arc<dyn DomainRepo>) {
    let mut domain = new_domain(tenant("p1", "t1"), "mail.example.com");
    repo.insert(&domain, &[]).await.unwrap();
    let odd = "nul\0 esc\x1b tab\t bell\x07 ünï ✓ back\\slash \"quoted\" \\000";
    let kept = "nul\\000 esc\x1b tab\t bell\x07 ünï ✓ back\\slash \"quoted\" \\000";

    let mut dkim = verdict(
        CheckKind::Dkim,
        CheckStatus::Invalid,
        VerdictCode::DkimInvalid,
    );
    dkim.message = odd.to_owned();
    dkim.expected = Some(odd.to_owned());
    dkim.found = vec![odd.to_owned(), "plain".to_owned()];
    dkim.answered_by = Some(odd.to_owned());
    dkim.details = json!({ odd: [odd, 1] });
    domain.checks.insert(dkim.clone());
    let mut changed = event(&domain, EventKind::CheckChanged, T0);
    changed.message = odd.to_owned();
    changed.detail = json!({ "before": odd, odd: { "nested": [odd] } });
    repo.update(&domain, std::slice::from_ref(&changed), LeaseOnWrite::Keep)
        .await
        .unwrap();

    let read = repo.get(&Scope::System, &domain.id).await.unwrap();
    let mut expected = dkim;
    expected.message = kept.to_owned();
    expected.expected = Some(kept.to_owned());
    expected.found = vec![kept.to_owned(), "plain".to_owned()];
    expected.answered_by = Some(kept.to_owned());
    expected.details = json!({ kept: [kept, 1] });
    assert_eq!(read.checks.get(CheckKind::Dkim), Some(&expected));

    let events = repo
        .events(&Scope::System, &domain.id, &one_page())
        .await
        .unwrap();
    let mut expected = changed;
    expected.message = kept.to_owned();
    expected.detail = json!({ "before": kept, kept: { "nested": [kept] } });
    assert_eq!(events.items, vec![expected]);
}

/// Keys come in generations of every algorithm and mode: Ed25519 beside RSA, and CNAME
/// slots whose selectors a later generation takes again once the earlier keys are
/// removed. The store keeps them all apart, and hands the signer the live key of a
/// reused selector.
pub async fn generations_of_every_algorithm_and_mode_come_back(
    repo: Arc<dyn DomainRepo>,
    keys: &dyn KeyStore,
) {
    let mut domain = new_domain(tenant("p1", "t1"), "mail.example.com");
    repo.insert(&domain, &[]).await.unwrap();
    let ed25519 = || {
        domain_core::crypto::generate(domain_core::crypto::KeyAlgorithm::Ed25519)
            .expect("an Ed25519 key")
    };
    let (ed2, ed3) = (ed25519(), ed25519());
    // Into CNAME mode with both algorithms: generation 2 takes slot 2.
    start_rotation_in(
        &mut domain,
        DkimMode::Cname,
        &[domain_core::testing::key(1), &ed2],
        at(1),
    );
    domain.keys.promote(2, at(2)).unwrap();
    domain.keys.remove(&base(), at(3)).unwrap();
    repo.update(&domain, &[], LeaseOnWrite::Keep).await.unwrap();
    domain.version += 1;
    // Generation 3 takes slot 1 again: `scaisend`, the removed generation 1's selector.
    let sealed = start_rotation_in(
        &mut domain,
        DkimMode::Cname,
        &[domain_core::testing::key(2), &ed3],
        at(4),
    );
    repo.update(&domain, &[], LeaseOnWrite::Keep).await.unwrap();
    domain.version += 1;
    let got = repo.get(&Scope::System, &domain.id).await.unwrap();
    assert_same_domain(&got, &domain);
    assert_eq!(
        got.keys.all().len(),
        5,
        "one RSA key, then two generations of two"
    );
    assert_eq!(got.dkim_mode(), DkimMode::Cname);
    assert_eq!(
        keys.sealed_key(&domain.id, &base()).await.unwrap(),
        sealed[0],
        "the live key of a reused selector"
    );
    let ed_selector = Selector::parse("scaisend-ed25519").unwrap();
    assert_eq!(
        keys.sealed_key(&domain.id, &ed_selector).await.unwrap(),
        sealed[1]
    );
}

/// The zone server's read: every domain with a live CNAME-mode key, whatever its owner,
/// and none that publishes only TXT records.
pub async fn zone_domains_are_those_with_a_live_cname_key(repo: Arc<dyn DomainRepo>) {
    let txt = new_domain(tenant("p1", "t1"), "txt.example.com");
    repo.insert(&txt, &[]).await.unwrap();
    let mut cnames = Vec::new();
    for (owner, name) in [
        (tenant("p1", "t2"), "cname.example.com"),
        (shared("p2"), "shared.example.com"),
    ] {
        let mut domain = new_domain(owner, name);
        repo.insert(&domain, &[]).await.unwrap();
        start_rotation_in(
            &mut domain,
            DkimMode::Cname,
            &[domain_core::testing::key(1)],
            at(1),
        );
        repo.update(&domain, &[], LeaseOnWrite::Keep).await.unwrap();
        cnames.push(domain.id);
    }
    let mut found: Vec<_> = repo
        .zone_domains()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    found.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    cnames.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    assert_eq!(found, cnames);
}
