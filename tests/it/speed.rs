//! The caches and pools of the hot paths (docs/operations.md, "Speed"), across two
//! instances on one PostgreSQL database, as two replicas behind a load balancer run.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use domain_core::ServiceConfig;
use serde_json::{Value, json};

use crate::support::{Answer as _, Options, StoreKind, TestApp};

/// The decision TTL of these tests: short, so that the bound is observed quickly.
const TTL: Duration = Duration::from_millis(300);

fn options() -> Options {
    Options {
        config: ServiceConfig {
            decision_ttl: time::Duration::try_from(TTL).unwrap(),
            ..ServiceConfig::default()
        },
        ..Options::default()
    }
}

async fn decision(app: &TestApp) -> String {
    app.decide("alerts@mail.example.com").await["decision"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deactivation_stops_delivery_here_at_once_and_on_another_instance_within_the_ttl() {
    let a = TestApp::spawn_with(StoreKind::Postgres, options()).await;
    let b = a.peer(options()).await;
    let created: Value = a.create_product_page_domain().await;
    let id = created["id"].as_str().unwrap();
    a.publish_and_verify(id, &created["dns_records"]).await;
    // Both instances now hold "deliver" in their caches.
    assert_eq!(decision(&a).await, "deliver");
    let deadline = Instant::now() + TTL * 10;
    while decision(&b).await != "deliver" {
        assert!(Instant::now() < deadline, "B never saw the verification");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    a.patch_domain(id, &a.admin(), json!({"is_active": false}))
        .await
        .expect_status(200);
    let changed = Instant::now();
    assert_eq!(
        decision(&a).await,
        "reject",
        "A's own write is seen at once"
    );
    // B sees it once its entry expires: within the TTL, with room for a slow machine.
    let deadline = changed + TTL * 10;
    loop {
        let seen = decision(&b).await;
        if seen == "reject" {
            break;
        }
        assert_eq!(seen, "deliver", "B answers from its cache until then");
        assert!(Instant::now() < deadline, "B still delivers after 10 TTLs");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The signer follows the same decision on B: nothing deactivated is signed.
    let message = "From: alerts@mail.example.com\r\nSubject: x\r\n\r\nbody\r\n";
    b.post_sign(json!({"tenant_id": "t1", "partner_id": "p1", "message": message}))
        .await
        .expect_status(409);
}

/// The public keys in the pool, base64 as a DKIM record's `p=` shows them.
async fn pooled_keys(db: &sqlx::PgPool) -> BTreeSet<String> {
    let rows: Vec<Vec<u8>> = sqlx::query_scalar("SELECT public_key FROM key_pool")
        .fetch_all(db)
        .await
        .unwrap();
    rows.iter().map(|p| STANDARD.encode(p)).collect()
}

/// The `p=` of a created domain's DKIM record.
fn public_key(created: &Value) -> String {
    let value = created["dns_records"][0]["value"].as_str().unwrap();
    value.split("p=").nth(1).unwrap().trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_racing_over_one_pool_take_each_key_once() {
    const POOL: u64 = 4;
    const CREATES: usize = 8;
    let pooled = || Options {
        key_pool: POOL,
        ..options()
    };
    let a = TestApp::spawn_with(StoreKind::Postgres, pooled()).await;
    let db = sqlx::PgPool::connect(&a.database_url().unwrap())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while (pooled_keys(&db).await.len() as u64) < POOL {
        assert!(Instant::now() < deadline, "the pool never filled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let b = a.peer(pooled()).await;
    let before = pooled_keys(&db).await;

    // Creates on both instances at once, more than the pool holds.
    let creates = (0..CREATES).map(|i| {
        let app = if i % 2 == 0 { &a } else { &b };
        async move {
            let body = app
                .create_domain(
                    &app.admin(),
                    json!({"domain": format!("m{i}.example.com"), "dmarc_policy": "none"}),
                )
                .await;
            public_key(&body)
        }
    });
    let keys = futures::future::join_all(creates).await;
    let distinct: BTreeSet<&String> = keys.iter().collect();
    assert_eq!(distinct.len(), CREATES, "no key serves two domains");
    let from_pool = keys.iter().filter(|k| before.contains(*k)).count();
    assert!(from_pool >= 1, "the pool was used");
    // Every pooled key a domain got has left the pool.
    let after = pooled_keys(&db).await;
    assert!(keys.iter().all(|k| !after.contains(k)));
}

/// Until its first `LISTEN` (and after a lost connection) an instance may miss a change;
/// the feed then says `Lost` and the caches start again. Within this, B must see A's change.
const FEED_DEADLINE: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_instances_change_is_seen_at_once_through_the_change_feed() {
    // A TTL far longer than the test: only the feed can explain B seeing A's changes.
    let long = || Options {
        config: ServiceConfig {
            decision_ttl: time::Duration::minutes(10),
            ..ServiceConfig::default()
        },
        ..Options::default()
    };
    let a = TestApp::spawn_with(StoreKind::Postgres, long()).await;
    let b = a.peer(long()).await;
    let created: Value = a.create_product_page_domain().await;
    let id = created["id"].as_str().unwrap();
    a.publish_and_verify(id, &created["dns_records"]).await;
    let read_on_b = || async { b.get_domain(id, &b.admin()).await };
    let deadline = Instant::now() + FEED_DEADLINE;
    while read_on_b().await.1["verified"] != json!(true) || decision(&b).await != "deliver" {
        assert!(Instant::now() < deadline, "B never saw the verification");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // B now answers both from its caches.

    a.patch_domain(id, &a.admin(), json!({"is_active": false}))
        .await
        .expect_status(200);
    let deadline = Instant::now() + FEED_DEADLINE;
    loop {
        let (status, seen) = read_on_b().await;
        assert_eq!(status, 200);
        if seen["is_active"] == json!(false) && decision(&b).await == "reject" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "B still shows the domain active {FEED_DEADLINE:?} after A's change"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    a.delete_domain(id, &a.admin()).await.expect_status(204);
    let deadline = Instant::now() + FEED_DEADLINE;
    while read_on_b().await.0 != 404 {
        assert!(
            Instant::now() < deadline,
            "B still shows the deleted domain"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
