//! The sending side (docs/sending.md) through the internal endpoints: every row of the
//! product page's table, and signatures that an independent verifier (mail-auth) accepts against
//! the records the loopback DNS server serves.

use serde_json::{Value, json};

use crate::support::{StoreKind, TestApp};

async fn decide(app: &TestApp, token: &str, tenant: &str, from: &str, mode: &str) -> Value {
    let (status, body) = app
        .post(
            "/api/internal/sender-authorization",
            token,
            json!({"tenant_id": tenant, "partner_id": "p1", "from": from, "key_mode": mode}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_row_of_the_product_page_table() {
    let app = TestApp::spawn(StoreKind::Sqlite).await;
    let service = app.service_token();
    let created = app.create_product_page_domain().await;
    let id = created["id"].as_str().unwrap();

    // sg_live_*, unverified From: domain → accepted, then failed.
    let d = decide(&app, &service, "t1", "alerts@mail.example.com", "live").await;
    assert_eq!(
        d,
        json!({"decision": "accept_then_fail", "reason": "domain not verified", "signing_domain": null, "selector": null, "selectors": [], "mail_from_domain": null, "alignment": null})
    );
    // sg_test_*, unverified → sandbox.
    let d = decide(&app, &service, "t1", "alerts@mail.example.com", "test").await;
    assert_eq!(d["decision"], "sandbox");
    // Unknown to the tenant → accepted, then failed.
    let d = decide(&app, &service, "t1", "alerts@unknown.example", "live").await;
    assert_eq!(d["reason"], "domain not verified");

    // Verified and active → deliver with the active selector.
    app.publish(&created["dns_records"]);
    app.post_empty(&format!("/api/admin/domains/{id}/verify"), &app.admin())
        .await;
    let d = decide(
        &app,
        &service,
        "t1",
        "Alerts <alerts@mail.example.com>",
        "live",
    )
    .await;
    assert_eq!(
        d,
        json!({
            "decision": "deliver", "reason": null, "signing_domain": "mail.example.com",
            "selector": "scaisend",
            "selectors": [{"selector": "scaisend", "algorithm": "rsa-sha256"}],
            // No return path of its own: the platform's, with which SPF does not align.
            "mail_from_domain": "bounces.scaisend.scailabs.ai", "alignment": {"dkim": true, "spf": false}
        })
    );
    // …but not for another tenant of the same partner.
    let d = decide(&app, &service, "t2", "alerts@mail.example.com", "live").await;
    assert_eq!(d["decision"], "accept_then_fail");

    // Verified but DKIM DNS removed: mail still goes out (the monitor's grace keeps it
    // verified) — the product page's third row; an explicit verify records the truth.
    app.dns
        .delete_name("scaisend._domainkey.mail.example.com")
        .unwrap();
    let d = decide(&app, &service, "t1", "alerts@mail.example.com", "live").await;
    assert_eq!(d["decision"], "deliver");
    app.publish(&created["dns_records"]);

    // Inactive → rejected at queue time.
    app.patch(
        &format!("/api/admin/domains/{id}"),
        &app.admin(),
        json!({"is_active": false}),
    )
    .await;
    let d = decide(&app, &service, "t1", "alerts@mail.example.com", "live").await;
    assert_eq!(
        d,
        json!({"decision": "reject", "reason": "domain inactive", "signing_domain": null, "selector": null, "selectors": [], "mail_from_domain": null, "alignment": null})
    );

    // Bad input is a 422 naming the field; tenants and operators get 403.
    let (status, problem) = app
        .post(
            "/api/internal/sender-authorization",
            &service,
            json!({"tenant_id": "t1", "partner_id": "p1", "from": "nobody", "key_mode": "live"}),
        )
        .await;
    assert_eq!(
        (status, problem["errors"][0]["field"].as_str()),
        (422, Some("from")),
        "{problem}"
    );
    let (status, _) = app
        .post("/api/internal/sender-authorization", &service, json!({"tenant_id": "t1", "partner_id": "p1", "from": "a@b.example", "key_mode": "prod"}))
        .await;
    assert_eq!(status, 422);
    for token in [app.admin(), app.token("partner_operator", None, Some("p1"))] {
        let (status, _) = app
            .post("/api/internal/dkim/sign", &token, json!({"tenant_id": "t1", "partner_id": "p1", "message": "From: a@mail.example.com\r\n\r\nx"}))
            .await;
        assert_eq!(status, 403);
    }
}

const MESSAGES: &[&str] = &[
    "From: Alerts <alerts@mail.example.com>\r\nTo: user@example.org\r\nSubject: Your code\r\nDate: Fri, 27 Nov 2026 10:00:00 +0000\r\nMessage-ID: <1@mail.example.com>\r\n\r\nYour code is 123456.\r\n",
    // LF line endings and a folded header.
    "From: alerts@mail.example.com\nTo: a@example.org,\n  b@example.org\nSubject: A subject that is long enough\n  to be folded onto a second line\n\nHello\nWorld\n",
    // An 8-bit UTF-8 body.
    "From: alerts@mail.example.com\r\nTo: u@example.org\r\nSubject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße aus München — ☃\r\n",
    // An empty body.
    "From: alerts@mail.example.com\r\nTo: u@example.org\r\nSubject: empty\r\n\r\n",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_verify_with_mail_auth_against_the_loopback_dns() {
    let app = TestApp::spawn(StoreKind::Postgres).await;
    let service = app.service_token();
    let created = app.create_product_page_domain().await;
    let id = created["id"].as_str().unwrap().to_owned();

    // Not verified yet: 409 with the reason.
    let (status, problem) = app
        .post(
            "/api/internal/dkim/sign",
            &service,
            json!({"tenant_id": "t1", "partner_id": "p1", "message": MESSAGES[0]}),
        )
        .await;
    assert_eq!(status, 409);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("domain not verified"),
        "{problem}"
    );

    app.publish(&created["dns_records"]);
    app.post_empty(&format!("/api/admin/domains/{id}/verify"), &app.admin())
        .await;
    let verifier = dkim_interop::authenticator_for_server(app.dns.addr());
    let mut signed_before_rotation = Vec::new();
    for message in MESSAGES {
        let (status, body) = app
            .post(
                "/api/internal/dkim/sign",
                &service,
                json!({"tenant_id": "t1", "partner_id": "p1", "message": message}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["selector"], "scaisend");
        let unfolded = body["dkim_signature"]
            .as_str()
            .unwrap()
            .replace("\r\n ", " ");
        assert!(
            unfolded.starts_with("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=mail.example.com; s=scaisend;"),
            "{unfolded}"
        );
        let signed = body["signed_message"].as_str().unwrap().as_bytes().to_vec();
        let verdicts = dkim_interop::verify(&verifier, None, &signed)
            .await
            .expect("mail-auth parses it");
        assert!(
            verdicts.len() == 1 && verdicts[0].is_pass(),
            "{message:?}: {verdicts:?}"
        );
        signed_before_rotation.push(signed);
    }

    // Base64 in and out, for bytes that are not UTF-8 (a Latin-1 body).
    let latin1: Vec<u8> =
        b"From: alerts@mail.example.com\r\nSubject: x\r\n\r\nGr\xfc\xdfe\r\n".to_vec();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let (status, body) = app
        .post(
            "/api/internal/dkim/sign",
            &service,
            json!({"tenant_id": "t1", "partner_id": "p1", "message_base64": b64.encode(&latin1)}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let signed = b64
        .decode(body["signed_message_base64"].as_str().unwrap())
        .unwrap();
    assert!(
        dkim_interop::verify(&verifier, None, &signed)
            .await
            .unwrap()[0]
            .is_pass()
    );

    // Rotate and promote: new mail is signed by scaisend2, and mail signed before the
    // promotion still verifies while scaisend is retiring (still published).
    app.post_empty(
        &format!("/api/admin/domains/{id}/rotate-dkim"),
        &app.admin(),
    )
    .await;
    let (_, domain) = app
        .get(&format!("/api/admin/domains/{id}"), &app.admin())
        .await;
    app.publish(&domain["dns_records"]);
    app.post_empty(&format!("/api/admin/domains/{id}/verify"), &app.admin())
        .await;
    let (_, body) = app
        .post(
            "/api/internal/dkim/sign",
            &service,
            json!({"tenant_id": "t1", "partner_id": "p1", "message": MESSAGES[0]}),
        )
        .await;
    assert_eq!(body["selector"], "scaisend2");
    let signed = body["signed_message"].as_str().unwrap().as_bytes().to_vec();
    assert!(
        dkim_interop::verify(&verifier, None, &signed)
            .await
            .unwrap()[0]
            .is_pass()
    );
    for old in &signed_before_rotation {
        assert!(
            dkim_interop::verify(&verifier, None, old).await.unwrap()[0].is_pass(),
            "mail in flight stays verifiable"
        );
    }

    // A message altered after signing fails the independent verifier.
    let mut tampered = signed.clone();
    let at = tampered.len() - 4;
    tampered[at] ^= 0x20;
    assert!(
        !dkim_interop::verify(&verifier, None, &tampered)
            .await
            .unwrap()[0]
            .is_pass()
    );
}
