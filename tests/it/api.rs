//! The product page, top to bottom, through HTTP — on SQLite and on PostgreSQL.

use serde_json::{Value, json};

use crate::both_stores;
use crate::support::{Answer as _, StoreKind, TestApp, domain_path, items, string_pairs, strings};

both_stores!(
    the_product_page_walk,
    shared_domains_belong_to_the_partner,
    rotation_conflicts_and_cancel,
    lists_filter_and_paginate
);

/// Each row of `records` as (host, action).
fn dns_hosts(records: &Value) -> Vec<(String, String)> {
    string_pairs(records, "host", "action")
}

async fn the_product_page_walk(kind: StoreKind) {
    let app = TestApp::spawn(kind).await;
    let admin = app.admin();

    // Adding a domain: the product page's request, the product page's response shape.
    let response = app
        .request(reqwest::Method::POST, "/api/admin/domains", &admin)
        .header("Content-Type", "application/json")
        .body(r#"{"domain": "mail.example.com", "dmarc_policy": "quarantine", "dmarc_rua_email": "dmarc-reports@example.com"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("dom_") && id.len() == 30, "{id}");
    assert_eq!(location, format!("/api/admin/domains/{id}"));
    assert_eq!(created["domain"], "mail.example.com");
    assert_eq!(created["verified"], false);
    assert_eq!(created["dkim_selector"], "scaisend");
    assert_eq!(created["dmarc_policy"], "quarantine");
    assert_eq!(created["dmarc_rua_email"], "dmarc-reports@example.com");
    assert_eq!(created["is_shared"], false);
    assert_eq!(created["is_active"], true);
    assert_eq!(
        (&created["status"], &created["grace_until"]),
        (&json!("not_verified"), &Value::Null)
    );
    assert!(created["last_verified_at"].is_null());
    assert!(created["created_at"].as_str().unwrap().ends_with('Z'));
    let records = created["dns_records"].as_array().unwrap();
    assert_eq!(records.len(), 3);
    assert!(records.iter().all(|r| r["type"] == "TXT"));
    assert_eq!(records[0]["host"], "scaisend._domainkey.mail.example.com");
    // The host as a DNS provider's panel for the zone example.com wants it.
    assert_eq!(
        (&records[0]["name"], &records[0]["zone"]),
        (&json!("scaisend._domainkey.mail"), &json!("example.com"))
    );
    assert!(
        records[0]["value"]
            .as_str()
            .unwrap()
            .starts_with("v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA")
    );
    assert_eq!(records[0]["value_chunks"].as_array().unwrap().len(), 2);
    assert_eq!(
        records[1],
        json!({"type": "TXT", "host": "mail.example.com", "name": "mail", "zone": "example.com", "value": "v=spf1 include:scaisend.scailabs.ai ~all", "purpose": "spf", "status": "not_checked", "action": "publish"})
    );
    assert_eq!(records[2]["host"], "_dmarc.mail.example.com");
    assert_eq!(
        records[2]["value"],
        "v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@example.com"
    );

    // Getting the records any time.
    let fetched = app
        .get(&format!("/api/admin/domains/{id}/dns-records"), &admin)
        .await
        .expect_status(200);
    assert_eq!(fetched["domain"], "mail.example.com");
    assert_eq!(fetched["dns_records"], created["dns_records"]);

    // Verifying before publishing: every record is named with what is wrong.
    let report = app.verify_domain(&id, &admin).await.expect_status(200);
    assert_eq!(report["verified"], false);
    let errors: Vec<&str> = items(&report["errors"])
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors[0].contains("scaisend._domainkey.mail.example.com"));
    assert!(errors[1].contains("mail.example.com"));
    assert!(errors[2].contains("_dmarc.mail.example.com"));
    assert_eq!(report["checks"][0]["status"], "missing");
    assert_eq!(report["checks"][0]["code"], "dkim_missing");

    // Publish every row at the "DNS provider", then verify.
    let report = app.publish_and_verify(&id, &created["dns_records"]).await;
    assert_eq!(
        json!({
            "domain": report["domain"], "verified": report["verified"], "dkim_verified": report["dkim_verified"],
            "spf_verified": report["spf_verified"], "txt_verified": report["txt_verified"], "errors": report["errors"],
        }),
        json!({"domain": "mail.example.com", "verified": true, "dkim_verified": true, "spf_verified": true, "txt_verified": true, "errors": []}),
        "{report}"
    );
    let checks = report["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 3);
    for (check, record) in checks.iter().zip(["dkim", "spf", "dmarc"]) {
        assert_eq!(check["record"], record);
        assert_eq!(check["status"], "verified");
        // The test resolver is on loopback, an internal address tenants are not shown.
        assert_eq!(check["answered_by"], "resolver", "{check}");
    }
    assert_eq!(checks[1]["details"]["include_reached"], true);
    let (_, domain) = app.get_domain(&id, &admin).await;
    assert_eq!(domain["verified"], true);
    assert_eq!(domain["status"], "verified");
    assert!(domain["last_verified_at"].is_string());
    assert!(
        items(&domain["dns_records"])
            .iter()
            .all(|r| r["status"] == "verified")
    );

    // Rotating: a new selector, published, verified, promoted.
    let rotation = app.rotate_dkim(&id, &admin).await.expect_status(202);
    assert_eq!(rotation["new_selector"], "scaisend2");
    assert_eq!(rotation["active_selector"], "scaisend");
    assert_eq!(
        rotation["dns_record"]["host"],
        "scaisend2._domainkey.mail.example.com"
    );
    assert!(
        rotation["dns_record"]["value"]
            .as_str()
            .unwrap()
            .starts_with("v=DKIM1; k=rsa; p=")
    );

    let (_, report) = app.verify_domain(&id, &admin).await;
    assert_eq!(
        report["verified"], true,
        "the old key keeps signing until the new one is seen"
    );
    let (_, domain) = app.get_domain(&id, &admin).await;
    assert_eq!(domain["dkim_selector"], "scaisend");

    let report = app.publish_and_verify(&id, &domain["dns_records"]).await;
    assert_eq!(
        report["checks"][0]["host"],
        "scaisend2._domainkey.mail.example.com"
    );
    let (_, domain) = app.get_domain(&id, &admin).await;
    assert_eq!(domain["dkim_selector"], "scaisend2");
    let hosts = dns_hosts(&domain["dns_records"]);
    assert!(
        hosts.contains(&(
            "scaisend._domainkey.mail.example.com".into(),
            "publish".into()
        )),
        "old selector still listed: {hosts:?}"
    );

    // Removing the old selector; the active one cannot be removed.
    app.remove_selector(&id, "scaisend2", &admin)
        .await
        .expect_status(409);
    let domain = app
        .remove_selector(&id, "scaisend", &admin)
        .await
        .expect_status(200);
    assert!(dns_hosts(&domain["dns_records"]).contains(&(
        "scaisend._domainkey.mail.example.com".into(),
        "remove".into()
    )));

    // Deactivating.
    let domain = app
        .patch_domain(&id, &admin, json!({"is_active": false}))
        .await
        .expect_status(200);
    assert_eq!(domain["is_active"], false);
    assert_eq!(
        domain["status"], "inactive",
        "deactivation wins over verified"
    );

    // The timeline, newest first.
    let events = app
        .get(&format!("/api/admin/domains/{id}/events"), &admin)
        .await
        .expect_status(200);
    let kinds = strings(&events["data"], "type");
    assert_eq!(kinds.first(), Some(&"deactivated"));
    assert_eq!(kinds.last(), Some(&"created"));
    for expected in [
        "selector_removed",
        "selector_promoted",
        "rotation_started",
        "verified",
        "check_changed",
    ] {
        assert!(
            kinds.contains(&expected),
            "{expected} missing from {kinds:?}"
        );
    }
    assert!(
        items(&events["data"])
            .iter()
            .all(|e| e["actor"] == "tenant_admin-user")
    );

    // Deleting.
    app.delete_domain(&id, &admin).await.expect_status(204);
    app.get_domain(&id, &admin).await.expect_status(404);
}

async fn shared_domains_belong_to_the_partner(kind: StoreKind) {
    let app = TestApp::spawn(kind).await;
    let operator = app.token("partner_operator", None, Some("p1"));
    let shared = app
        .create_domain(
            &operator,
            json!({"domain": "noreply.platform.example", "is_shared": true}),
        )
        .await;
    assert_eq!(shared["is_shared"], true);
    assert!(shared["tenant_id"].is_null());
    let id = shared["id"].as_str().unwrap();

    // Every tenant of the partner reads it; none may change it.
    for tenant in ["t1", "t2"] {
        let token = app.token("tenant_admin", Some(tenant), Some("p1"));
        app.get_domain(id, &token).await.expect_status(200);
        app.patch_domain(id, &token, json!({"is_active": false}))
            .await
            .expect_status(403);
        app.rotate_dkim(id, &token).await.expect_status(403);
        app.delete_domain(id, &token).await.expect_status(403);
    }
    // Another partner's tenants and operators do not see it at all.
    let stranger = app.token("tenant_admin", Some("t1"), Some("p2"));
    app.get_domain(id, &stranger).await.expect_status(404);
    let other_operator = app.token("partner_operator", None, Some("p2"));
    app.patch_domain(id, &other_operator, json!({"is_active": false}))
        .await
        .expect_status(404);
    // Its operator may change it; a tenant admin may not create a shared one.
    app.patch_domain(id, &operator, json!({"dmarc_policy": "reject"}))
        .await
        .expect_status(200);
    app.post_domain(
        &app.admin(),
        json!({"domain": "x.platform.example", "is_shared": true}),
    )
    .await
    .expect_status(403);
    // An operator may read a tenant's domain but not change it.
    let tenant_domain = app.create_product_page_domain().await;
    let tid = tenant_domain["id"].as_str().unwrap();
    app.get_domain(tid, &operator).await.expect_status(200);
    app.patch_domain(tid, &operator, json!({"is_active": false}))
        .await
        .expect_status(403);
}

async fn rotation_conflicts_and_cancel(kind: StoreKind) {
    let app = TestApp::spawn(kind).await;
    let admin = app.admin();
    let created = app.create_product_page_domain().await;
    let id = created["id"].as_str().unwrap();
    app.rotate_dkim(id, &admin).await.expect_status(202);
    let problem = app.rotate_dkim(id, &admin).await.expect_status(409);
    assert!(
        problem["detail"].as_str().unwrap().contains("scaisend2"),
        "{problem}"
    );
    // Cancel the pending rotation.
    let domain = app
        .remove_selector(id, "scaisend2", &admin)
        .await
        .expect_status(200);
    assert_eq!(domain["dkim_selector"], "scaisend");
    let states: Vec<(&str, &str)> = domain["dkim_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["selector"].as_str().unwrap(),
                k["state"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        states,
        vec![("scaisend", "active"), ("scaisend2", "removed")]
    );
    // Selectors are never reused.
    let (_, rotation) = app.rotate_dkim(id, &admin).await;
    assert_eq!(rotation["new_selector"], "scaisend3");
    // An unknown selector is 404; removing twice is 409.
    app.remove_selector(id, "nope", &admin)
        .await
        .expect_status(404);
    app.remove_selector(id, "scaisend2", &admin)
        .await
        .expect_status(409);
    let (_, events) = app
        .get(&format!("{}/events", domain_path(id)), &admin)
        .await;
    let kinds = strings(&events["data"], "type");
    assert_eq!(
        kinds,
        vec![
            "rotation_started",
            "rotation_cancelled",
            "rotation_started",
            "created"
        ]
    );
}

async fn lists_filter_and_paginate(kind: StoreKind) {
    let app = TestApp::spawn(kind).await;
    let admin = app.admin();
    for n in 0..5 {
        app.create_domain(&admin, json!({"domain": format!("m{n}.example.com")}))
            .await;
    }
    let other = app.token("tenant_admin", Some("t2"), Some("p1"));
    app.post_domain(&other, json!({"domain": "other.example.com"}))
        .await;
    let first = app.create_product_page_domain().await;
    app.patch_domain(
        first["id"].as_str().unwrap(),
        &admin,
        json!({"is_active": false}),
    )
    .await;

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/admin/domains?limit=2&cursor={c}"),
            None => "/api/admin/domains?limit=2".to_owned(),
        };
        let page = app.get(&path, &admin).await.expect_status(200);
        seen.extend(
            strings(&page["data"], "domain")
                .into_iter()
                .map(str::to_owned),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 6, "{seen:?}");
    assert!(!seen.contains(&"other.example.com".to_owned()));
    let (_, inactive) = app.get("/api/admin/domains?is_active=false", &admin).await;
    assert_eq!(inactive["data"].as_array().unwrap().len(), 1);
    let (_, verified) = app.get("/api/admin/domains?verified=true", &admin).await;
    assert!(verified["data"].as_array().unwrap().is_empty());
    let problem = app
        .get(
            "/api/admin/domains?limit=500&verified=maybe&cursor=notacursor",
            &admin,
        )
        .await
        .expect_status(422);
    let fields = strings(&problem["errors"], "field");
    assert!(
        fields.contains(&"limit") && fields.contains(&"verified") && fields.contains(&"cursor"),
        "{problem}"
    );
}
