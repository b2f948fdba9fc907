//! A return-path host per domain (docs/sending.md, "The return path"), over real parts:
//! the router, both stores, the loopback DNS server and the production DNS adapter, the
//! monitor on a manual clock.

use serde_json::{Value, json};
use test_dns::{Record, RecordKind};
use time::Duration;

use crate::both_stores;
use crate::support::{Answer as _, StoreKind, TestApp, domain_path, items};

const HOST: &str = "bounces.mail.example.com";
const LEASE: Duration = Duration::minutes(5);

/// The send-time decision for `alerts@mail.example.com` by tenant t1.
async fn decide(app: &TestApp) -> Value {
    let body = app.decide("alerts@mail.example.com").await;
    assert_eq!(body["decision"], "deliver", "{body}");
    body
}

/// The rows of `dns_records` for the return path.
fn return_path_rows(domain: &Value) -> Vec<Value> {
    items(&domain["dns_records"])
        .iter()
        .filter(|r| r["purpose"] == "return_path")
        .cloned()
        .collect()
}

both_stores!(a_return_path_verifies_on_its_own_and_falls_back_after_the_grace);

async fn a_return_path_verifies_on_its_own_and_falls_back_after_the_grace(kind: StoreKind) {
    let (app, clock) = TestApp::spawn_on_manual_clock(kind).await;
    let admin = app.admin();
    let created = app
        .create_domain(
            &admin,
            json!({"domain": "mail.example.com", "dmarc_policy": "quarantine", "return_path": "bounces"}),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let path = domain_path(&id);
    assert_eq!(created["return_path"], "bounces");
    assert_eq!(created["return_path_host"], HOST);
    assert_eq!(created["return_path_verified"], false);
    assert_eq!(created["mail_from_domain"], "bounces.scaisend.scailabs.ai");
    assert_eq!(created["alignment"], json!({"dkim": true, "spf": false}));
    assert!(
        created["checks"].get("return_path").is_none(),
        "not run yet: {}",
        created["checks"]
    );
    assert_eq!(
        return_path_rows(&created),
        [
            json!({"type": "MX", "host": HOST, "value": "feedback.scaisend.scailabs.ai", "priority": 10,
                   "name": "bounces.mail", "zone": "example.com",
                   "purpose": "return_path", "status": "not_checked", "action": "publish"}),
            json!({"type": "TXT", "host": HOST, "value": "v=spf1 include:scaisend.scailabs.ai -all",
                   "name": "bounces.mail", "zone": "example.com",
                   "purpose": "return_path", "status": "not_checked", "action": "publish"}),
        ]
    );

    // Publish every row, verify: both flags rise, and mail goes out with the tenant's
    // own return path, SPF-aligned.
    let report = app.publish_and_verify(&id, &created["dns_records"]).await;
    assert_eq!(report["return_path_verified"], true, "{report}");
    let rp = items(&report["checks"])
        .iter()
        .find(|c| c["record"] == "return_path")
        .unwrap();
    assert_eq!(
        (&rp["status"], &rp["code"]),
        (&json!("verified"), &json!("return_path_ok"))
    );
    assert_eq!(rp["answered_by"], "resolver");
    let (_, domain) = app.get(&path, &admin).await;
    assert_eq!(domain["return_path_verified"], true);
    assert_eq!(domain["mail_from_domain"], HOST);
    assert_eq!(domain["alignment"], json!({"dkim": true, "spf": true}));
    assert_eq!(domain["checks"]["return_path"]["status"], "verified");
    let d = decide(&app).await;
    assert_eq!(d["mail_from_domain"], HOST);
    assert_eq!(d["alignment"], json!({"dkim": true, "spf": true}));

    // The MX is pointed elsewhere. The monitor flags the return path at once, keeps
    // `verified` as it is, and keeps using the return path through the grace.
    app.dns
        .replace(HOST, RecordKind::Mx, vec![Record::mx(10, "mx.example.net")])
        .unwrap();
    let round = || async {
        app.service
            .monitor_round("instance-a", 50, LEASE)
            .await
            .unwrap()
    };
    clock.advance(Duration::hours(25));
    assert_eq!(round().await.checked, 1);
    let (_, domain) = app.get(&path, &admin).await;
    assert_eq!(domain["verified"], true);
    assert!(domain["failing_since"].is_null(), "{domain}");
    assert_eq!(
        domain["checks"]["return_path"]["code"],
        "return_path_mx_mismatch"
    );
    assert_eq!(
        domain["checks"]["return_path"]["found"],
        json!(["10 mx.example.net"])
    );
    assert_eq!(domain["return_path_verified"], true, "inside the grace");
    assert!(domain["return_path_failing_since"].is_string());
    let statuses: Vec<Value> = return_path_rows(&domain)
        .iter()
        .map(|r| r["status"].clone())
        .collect();
    assert_eq!(statuses, [json!("mismatch"), json!("verified")]);
    assert_eq!(decide(&app).await["mail_from_domain"], HOST);
    let (_, events) = app.get(&format!("{path}/events"), &admin).await;
    assert_eq!(events["data"][0]["type"], "return_path_failing");
    assert_eq!(events["data"][0]["detail"]["return_path_host"], HOST);

    // After the grace: the platform's return path, which does not align.
    clock.advance(Duration::hours(73));
    assert_eq!(round().await.checked, 1);
    let (_, domain) = app.get(&path, &admin).await;
    assert_eq!(domain["verified"], true, "DKIM, SPF and DMARC still pass");
    assert_eq!(domain["return_path_verified"], false);
    assert_eq!(domain["mail_from_domain"], "bounces.scaisend.scailabs.ai");
    let d = decide(&app).await;
    assert_eq!(d["mail_from_domain"], "bounces.scaisend.scailabs.ai");
    assert_eq!(d["alignment"], json!({"dkim": true, "spf": false}));
    assert_eq!(
        app.event_types(&path, &admin).await[0],
        "return_path_unverified"
    );
}

both_stores!(the_return_path_is_set_checked_and_removed_through_the_api);

async fn the_return_path_is_set_checked_and_removed_through_the_api(kind: StoreKind) {
    let app = TestApp::spawn(kind).await;
    let admin = app.admin();
    let created = app.create_product_page_domain().await;
    let path = domain_path(created["id"].as_str().unwrap());
    assert!(created["return_path"].is_null());
    assert!(return_path_rows(&created).is_empty());
    assert!(created["checks"].get("return_path").is_none());

    // Refused with a field error, and nothing changes.
    for bad in [
        json!("_dmarc"),
        json!("bounces.mail"),
        json!(""),
        json!("a".repeat(64)),
        json!(7),
    ] {
        let (status, problem) = app
            .patch(&path, &admin, json!({ "return_path": bad }))
            .await;
        assert_eq!(status, 422, "{bad}: {problem}");
        assert_eq!(problem["errors"][0]["field"], "return_path", "{problem}");
    }
    let (_, unchanged) = app.get(&path, &admin).await;
    assert_eq!(unchanged["updated_at"], created["updated_at"]);
    assert!(unchanged["return_path"].is_null());

    // Set it, and publish everything; the product page's domain gets a DMARC record
    // asking for strict SPF alignment, which a return path below the domain can never
    // meet.
    let domain = app
        .patch(&path, &admin, json!({"return_path": "Bounces"}))
        .await
        .expect_status(200);
    assert_eq!(domain["return_path"], "bounces");
    app.publish(&domain["dns_records"]);
    app.dns
        .replace(
            "_dmarc.mail.example.com",
            RecordKind::Txt,
            vec![Record::txt("v=DMARC1; p=quarantine; aspf=s")],
        )
        .unwrap();
    let (_, report) = app.post_empty(&format!("{path}/verify"), &admin).await;
    assert_eq!(report["return_path_verified"], true, "{report}");
    let (_, domain) = app.get(&path, &admin).await;
    assert_eq!(domain["mail_from_domain"], HOST);
    assert_eq!(
        domain["alignment"],
        json!({"dkim": true, "spf": false}),
        "aspf=s"
    );
    assert_eq!(domain["checks"]["dmarc"]["details"]["aspf"], "s");
    let d = decide(&app).await;
    assert_eq!(
        (&d["mail_from_domain"], &d["alignment"]["spf"]),
        (&json!(HOST), &json!(false))
    );

    // A CNAME at the host shadows the records: an explicit verify records it at once.
    app.dns.delete_name(HOST).unwrap();
    app.dns
        .publish(HOST, Record::Cname("rp.provider.example".into()))
        .unwrap();
    let (_, report) = app.post_empty(&format!("{path}/verify"), &admin).await;
    assert_eq!(report["verified"], true);
    assert_eq!(report["return_path_verified"], false);
    assert!(
        items(&report["errors"])
            .iter()
            .any(|e| e.as_str().unwrap().contains("alias (CNAME)")),
        "{report}"
    );
    let (_, domain) = app.get(&path, &admin).await;
    assert_eq!(domain["checks"]["return_path"]["code"], "return_path_cname");

    // Removed: the rows, the check and the flag go; the timeline says so.
    let domain = app
        .patch(&path, &admin, json!({"return_path": null}))
        .await
        .expect_status(200);
    assert!(domain["return_path"].is_null());
    assert_eq!(domain["return_path_verified"], false);
    assert!(return_path_rows(&domain).is_empty());
    assert!(
        domain["checks"].get("return_path").is_none(),
        "{}",
        domain["checks"]
    );
    assert_eq!(domain["mail_from_domain"], "bounces.scaisend.scailabs.ai");
    let kinds = app.event_types(&path, &admin).await;
    assert_eq!(kinds[0], "return_path_changed");
    for kind in ["return_path_verified", "return_path_unverified"] {
        assert!(kinds.iter().any(|k| k == kind), "{kinds:?}");
    }
}
