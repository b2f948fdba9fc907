//! The sending side (docs/sending.md) through the internal endpoints: every row of the
//! product page's table, and signatures that an independent verifier (mail-auth) accepts against
//! the records the loopback DNS server serves.

use serde_json::{Value, json};

use crate::both_stores;
use crate::support::{Answer as _, DKIM_SIGN, DKIM_SIGN_BATCH, StoreKind, TestApp, items, send};

/// The send-time decision for `from` by `tenant` of p1 with a key of `mode`.
async fn decide(app: &TestApp, tenant: &str, from: &str, mode: &str) -> Value {
    app.post_sender_authorization(
        json!({"tenant_id": tenant, "partner_id": "p1", "from": from, "key_mode": mode}),
    )
    .await
    .expect_status(200)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_row_of_the_product_page_table() {
    let app = TestApp::spawn(StoreKind::Sqlite).await;
    let created = app.create_product_page_domain().await;
    let id = created["id"].as_str().unwrap();

    // sg_live_*, unverified From: domain → accepted, then failed.
    let d = app.decide("alerts@mail.example.com").await;
    assert_eq!(
        d,
        json!({"decision": "accept_then_fail", "reason": "domain not verified", "signing_domain": null, "selector": null, "selectors": [], "mail_from_domain": null, "alignment": null})
    );
    // sg_test_*, unverified → sandbox.
    let d = decide(&app, "t1", "alerts@mail.example.com", "test").await;
    assert_eq!(d["decision"], "sandbox");
    // Unknown to the tenant → accepted, then failed.
    let d = app.decide("alerts@unknown.example").await;
    assert_eq!(d["reason"], "domain not verified");

    // Verified and active → deliver with the active selector.
    app.publish(&created["dns_records"]);
    app.verify_domain(id, &app.admin()).await;
    let d = app.decide("Alerts <alerts@mail.example.com>").await;
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
    let d = decide(&app, "t2", "alerts@mail.example.com", "live").await;
    assert_eq!(d["decision"], "accept_then_fail");

    // Verified but DKIM DNS removed: mail still goes out (the monitor's grace keeps it
    // verified) — the product page's third row; an explicit verify records the truth.
    app.dns
        .delete_name("scaisend._domainkey.mail.example.com")
        .unwrap();
    let d = app.decide("alerts@mail.example.com").await;
    assert_eq!(d["decision"], "deliver");
    app.publish(&created["dns_records"]);

    // Inactive → rejected at queue time.
    app.patch_domain(id, &app.admin(), json!({"is_active": false}))
        .await;
    let d = app.decide("alerts@mail.example.com").await;
    assert_eq!(
        d,
        json!({"decision": "reject", "reason": "domain inactive", "signing_domain": null, "selector": null, "selectors": [], "mail_from_domain": null, "alignment": null})
    );

    // Bad input is a 422 naming the field; tenants and operators get 403.
    let (status, problem) = app
        .post_sender_authorization(
            json!({"tenant_id": "t1", "partner_id": "p1", "from": "nobody", "key_mode": "live"}),
        )
        .await;
    assert_eq!(
        (status, problem["errors"][0]["field"].as_str()),
        (422, Some("from")),
        "{problem}"
    );
    app.post_sender_authorization(
        json!({"tenant_id": "t1", "partner_id": "p1", "from": "a@b.example", "key_mode": "prod"}),
    )
    .await
    .expect_status(422);
    for token in [app.admin(), app.token("partner_operator", None, Some("p1"))] {
        let request = json!({"tenant_id": "t1", "partner_id": "p1", "message": "From: a@mail.example.com\r\n\r\nx"});
        app.post(DKIM_SIGN, &token, request)
            .await
            .expect_status(403);
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

/// What a domain signs with: RSA alone (the default), or RSA and Ed25519 (RFC 8463).
const RSA_ONLY: &[&str] = &["rsa-sha256"];
const DUAL: &[&str] = &["rsa-sha256", "ed25519-sha256"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_verify_with_mail_auth_against_the_loopback_dns() {
    sign_verify_and_rotate(StoreKind::Postgres, RSA_ONLY).await;
}

both_stores!(dual_signatures_verify_with_mail_auth_and_survive_rotation);

/// Issue 15's walk: a dual-algorithm domain (TXT mode) is published, verified, signs
/// every message twice, and rotates both keys together.
async fn dual_signatures_verify_with_mail_auth_and_survive_rotation(kind: StoreKind) {
    sign_verify_and_rotate(kind, DUAL).await;
}

/// The selectors of generation `generation` for `algorithms`, as `(selector, algorithm)`:
/// `scaisend` and `scaisend-ed25519`, then `scaisend2` and `scaisend2-ed25519`.
fn selectors(algorithms: &[&str], generation: u32) -> Vec<(String, String)> {
    let base = match generation {
        1 => "scaisend".to_owned(),
        n => format!("scaisend{n}"),
    };
    algorithms
        .iter()
        .map(|&a| match a {
            "ed25519-sha256" => (format!("{base}-ed25519"), a.to_owned()),
            _ => (base.clone(), a.to_owned()),
        })
        .collect()
}

/// The sender-authorization decision names every selector of the generation.
async fn assert_decision_names(app: &TestApp, expected: &[(String, String)]) {
    let d = app.decide("alerts@mail.example.com").await;
    assert_eq!(d["decision"], "deliver", "{d}");
    assert_eq!(d["selector"], expected[0].0.as_str(), "{d}");
    let named: Vec<Value> = expected
        .iter()
        .map(|(s, a)| json!({"selector": s, "algorithm": a}))
        .collect();
    assert_eq!(d["selectors"], Value::Array(named), "{d}");
}

/// Signs `message` through the API; checks the response names each signature's selector
/// and algorithm, and that mail-auth passes every signature against the loopback DNS.
/// Returns the signed message.
async fn sign_and_check(
    app: &TestApp,
    verifier: &dkim_interop::mail_auth::MessageAuthenticator,
    message: &str,
    expected: &[(String, String)],
) -> Vec<u8> {
    let body = app.sign(message).await;
    assert_eq!(body["selector"], expected[0].0.as_str());
    let signatures = body["signatures"].as_array().expect("signatures");
    assert_eq!(signatures.len(), expected.len(), "{body}");
    for (signature, (selector, algorithm)) in signatures.iter().zip(expected) {
        assert_eq!(
            (&signature["selector"], &signature["algorithm"]),
            (&json!(selector), &json!(algorithm))
        );
        let unfolded = signature["dkim_signature"]
            .as_str()
            .unwrap()
            .replace("\r\n ", " ");
        assert!(
            unfolded.starts_with(&format!(
                "DKIM-Signature: v=1; a={algorithm}; c=relaxed/relaxed; d=mail.example.com; s={selector};"
            )),
            "{unfolded}"
        );
    }
    assert_eq!(body["dkim_signature"], signatures[0]["dkim_signature"]);
    let signed = body["signed_message"].as_str().unwrap().as_bytes().to_vec();
    assert_eq!(
        signed
            .windows(b"DKIM-Signature:".len())
            .filter(|w| *w == b"DKIM-Signature:".as_slice())
            .count(),
        expected.len(),
        "one header per algorithm"
    );
    assert_verifies(verifier, &signed, expected).await;
    signed
}

/// mail-auth passes every signature of `signed`, one per expected selector, in order.
async fn assert_verifies(
    verifier: &dkim_interop::mail_auth::MessageAuthenticator,
    signed: &[u8],
    expected: &[(String, String)],
) {
    let verdicts = dkim_interop::verify(verifier, None, signed)
        .await
        .expect("mail-auth parses it");
    let passed: Vec<(bool, Option<&str>)> = verdicts
        .iter()
        .map(|v| (v.is_pass(), v.selector.as_deref()))
        .collect();
    let wanted: Vec<(bool, Option<&str>)> = expected
        .iter()
        .map(|(s, _)| (true, Some(s.as_str())))
        .collect();
    assert_eq!(
        passed,
        wanted,
        "{verdicts:?}\n{}",
        String::from_utf8_lossy(signed)
    );
}

async fn sign_verify_and_rotate(kind: StoreKind, algorithms: &[&str]) {
    let app = TestApp::spawn(kind).await;
    let created = app
        .create_product_page_domain_with(json!({"dkim_algorithms": algorithms}))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["dkim_algorithms"], json!(algorithms), "{created}");
    assert_eq!(created["dkim_mode"], "txt", "{created}");
    let first = selectors(algorithms, 1);
    for (selector, _) in &first {
        let host = format!("{selector}._domainkey.mail.example.com");
        let row = items(&created["dns_records"])
            .iter()
            .find(|r| r["host"] == host.as_str())
            .unwrap_or_else(|| panic!("a record at {host}: {created}"));
        let key_type = if selector.ends_with("-ed25519") {
            "ed25519"
        } else {
            "rsa"
        };
        assert!(
            row["value"]
                .as_str()
                .unwrap()
                .starts_with(&format!("v=DKIM1; k={key_type}; p=")),
            "{row}"
        );
    }

    // Not verified yet: 409 with the reason.
    let problem = app
        .post_sign(json!({"tenant_id": "t1", "partner_id": "p1", "message": MESSAGES[0]}))
        .await
        .expect_status(409);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("domain not verified"),
        "{problem}"
    );

    app.publish_and_verify(&id, &created["dns_records"]).await;
    assert_decision_names(&app, &first).await;
    let verifier = dkim_interop::authenticator_for_server(app.dns.addr());
    let mut signed_before_rotation = Vec::new();
    for message in MESSAGES {
        signed_before_rotation.push(sign_and_check(&app, &verifier, message, &first).await);
    }

    // Base64 in and out, for bytes that are not UTF-8 (a Latin-1 body).
    let latin1: Vec<u8> =
        b"From: alerts@mail.example.com\r\nSubject: x\r\n\r\nGr\xfc\xdfe\r\n".to_vec();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let body = app
        .post_sign(
            json!({"tenant_id": "t1", "partner_id": "p1", "message_base64": b64.encode(&latin1)}),
        )
        .await
        .expect_status(200);
    let signed = b64
        .decode(body["signed_message_base64"].as_str().unwrap())
        .unwrap();
    assert_verifies(&verifier, &signed, &first).await;

    // Rotate every algorithm together and promote: new mail is signed by generation 2,
    // and mail signed before the promotion still verifies while generation 1 is retiring
    // (still published).
    app.rotate_dkim(&id, &app.admin()).await.expect_status(202);
    let second = selectors(algorithms, 2);
    // Until the new records are seen, the old keys keep signing.
    assert_decision_names(&app, &first).await;
    let (_, domain) = app.get_domain(&id, &app.admin()).await;
    app.publish_and_verify(&id, &domain["dns_records"]).await;
    assert_decision_names(&app, &second).await;
    let signed = sign_and_check(&app, &verifier, MESSAGES[0], &second).await;
    for old in &signed_before_rotation {
        assert_verifies(&verifier, old, &first).await;
    }

    // A message altered after signing fails the independent verifier, every signature.
    let mut tampered = signed.clone();
    let at = tampered.len() - 4;
    tampered[at] ^= 0x20;
    let verdicts = dkim_interop::verify(&verifier, None, &tampered)
        .await
        .unwrap();
    assert_eq!(verdicts.len(), algorithms.len());
    assert!(verdicts.iter().all(|v| !v.is_pass()), "{verdicts:?}");
}

/// A SQLite app whose product-page domain signs with RSA and Ed25519 and is verified,
/// and a service token.
async fn a_verified_dual_domain() -> (TestApp, String) {
    let app = TestApp::spawn(StoreKind::Sqlite).await;
    let service = app.service_token();
    let created = app
        .create_product_page_domain_with(json!({"dkim_algorithms": DUAL}))
        .await;
    let id = created["id"].as_str().unwrap();
    app.publish_and_verify(id, &created["dns_records"]).await;
    (app, service)
}

/// The binary form for large messages: the message itself as `message/rfc822`, the
/// sender in the query. Only the signature fields come back; prepended to the message as
/// sent (each with its CRLF), every one verifies with mail-auth. Other content types are
/// `415`, a message over the limit `413`, a missing sender `422` and an unreadable query
/// `400`, each a problem.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_form_answers_signatures_that_verify_when_prepended() {
    let (app, service) = a_verified_dual_domain().await;
    let sign = |query: &str, content_type: &str, body: Vec<u8>| {
        send(
            app.request(
                reqwest::Method::POST,
                &format!("/api/internal/dkim/sign{query}"),
                &service,
            )
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body),
        )
    };
    let verifier = dkim_interop::authenticator_for_server(app.dns.addr());
    let expected = selectors(DUAL, 1);
    // Bytes as they are: a Latin-1 body, which the JSON form needs base64 for.
    let latin1 = b"From: alerts@mail.example.com\r\nSubject: x\r\n\r\nGr\xfc\xdfe\r\n".to_vec();
    for message in [MESSAGES[0].as_bytes().to_vec(), latin1] {
        let (status, body) = sign(
            "?tenant_id=t1&partner_id=p1",
            "message/rfc822",
            message.clone(),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body.get("signed_message"), None, "{body}");
        assert_eq!(body.get("signed_message_base64"), None, "{body}");
        assert_eq!(body["selector"], expected[0].0.as_str(), "{body}");
        let mut signed = Vec::new();
        for signature in body["signatures"].as_array().expect("signatures") {
            signed.extend_from_slice(signature["dkim_signature"].as_str().unwrap().as_bytes());
            signed.extend_from_slice(b"\r\n");
        }
        signed.extend_from_slice(&message);
        assert_verifies(&verifier, &signed, &expected).await;
    }

    let message = || MESSAGES[0].as_bytes().to_vec();
    let problem = |status: u16, body: &serde_json::Value| {
        assert_eq!(body["status"], status, "{body}");
        assert!(body["title"].is_string(), "{body}");
    };
    // Neither JSON nor message/rfc822.
    let (status, body) = sign("?tenant_id=t1&partner_id=p1", "text/plain", message()).await;
    assert_eq!(status, 415, "{body}");
    problem(415, &body);
    assert!(
        body["detail"].as_str().unwrap().contains("message/rfc822"),
        "{body}"
    );
    // Over the limit (32 MiB).
    let (status, body) = sign(
        "?tenant_id=t1&partner_id=p1",
        "message/rfc822",
        vec![b'x'; 32 * 1024 * 1024 + 1],
    )
    .await;
    assert_eq!(status, 413, "{body}");
    problem(413, &body);
    // No sender, or half of one: every missing parameter is named.
    for (query, missing) in [
        ("", vec!["tenant_id", "partner_id"]),
        ("?tenant_id=t1", vec!["partner_id"]),
        ("?tenant_id=&partner_id=p1", vec!["tenant_id"]),
    ] {
        let (status, body) = sign(query, "message/rfc822", message()).await;
        assert_eq!(status, 422, "{query}: {body}");
        problem(422, &body);
        let named: Vec<&str> = body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert_eq!(named, missing, "{query}: {body}");
    }
    // A query that cannot be read: a repeated parameter.
    let (status, body) = sign(
        "?tenant_id=t1&tenant_id=t2&partner_id=p1",
        "message/rfc822",
        message(),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    problem(400, &body);
    // The JSON form is unchanged by a query: it is not read.
    let (status, body) = sign(
        "?tenant_id=nobody",
        "application/json",
        json!({"tenant_id": "t1", "partner_id": "p1", "message": MESSAGES[0]})
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["signed_message"].is_string(), "{body}");
}

/// The batch form: each message answered in its place, signed (and verifying with
/// mail-auth) or with the problem it would get alone; what is wrong with the batch as a
/// whole is the whole answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_answers_every_message_in_its_place() {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let (app, service) = a_verified_dual_domain().await;
    app.create_domain(&app.admin(), json!({"domain": "unverified.example.com"}))
        .await;
    let batch = |messages: Vec<Value>| json!({ "messages": messages });
    let text = |message: &str| json!({"tenant_id": "t1", "partner_id": "p1", "message": message});
    let latin1 = b"From: alerts@mail.example.com\r\nSubject: x\r\n\r\nGr\xfc\xdfe\r\n".to_vec();

    let mut messages: Vec<Value> = MESSAGES.iter().map(|m| text(m)).collect();
    messages.extend([
        json!({"tenant_id": "t1", "partner_id": "p1", "message_base64": b64.encode(&latin1)}),
        text("From: a@unverified.example.com\r\nSubject: x\r\n\r\nhi\r\n"),
        json!({"tenant_id": "t2", "partner_id": "p1", "message": MESSAGES[0]}),
        json!({"tenant_id": "t1", "partner_id": "p1", "message_base64": "not base64!"}),
        text("Subject: no From\r\n\r\nhi\r\n"),
    ]);
    let (status, body) = app.post(DKIM_SIGN_BATCH, &service, batch(messages)).await;
    assert_eq!(status, 200, "{body}");
    let results = body["results"].as_array().expect("results");
    assert_eq!(results.len(), MESSAGES.len() + 5, "{body}");

    let verifier = dkim_interop::authenticator_for_server(app.dns.addr());
    let expected = selectors(DUAL, 1);
    for (result, message) in results.iter().zip(MESSAGES) {
        assert_eq!(result["status"], 200, "{result}");
        assert_eq!(result["selector"], expected[0].0.as_str(), "{result}");
        assert_eq!(
            result["signatures"].as_array().unwrap().len(),
            2,
            "{result}"
        );
        let signed = result["signed_message"].as_str().unwrap();
        assert!(signed.ends_with(&message.replace("\r\n", "\n").replace('\n', "\r\n")));
        assert_verifies(&verifier, signed.as_bytes(), &expected).await;
    }
    let rest = &results[MESSAGES.len()..];
    let signed = b64
        .decode(rest[0]["signed_message_base64"].as_str().unwrap())
        .unwrap();
    assert_verifies(&verifier, &signed, &expected).await;
    // Each refused message has a problem in its place.
    for (i, status, says) in [
        (1, 409, "domain not verified"),
        (2, 409, "may not sign"),
        (3, 422, "not valid base64"),
        (4, 422, "From"),
    ] {
        let item = &rest[i];
        assert_eq!(item["status"], status, "{item}");
        assert!(
            item["type"].as_str().unwrap().starts_with("https://"),
            "{item}"
        );
        assert!(item.get("dkim_signature").is_none(), "{item}");
        let detail = format!("{}{}", item["detail"], item["errors"]);
        assert!(detail.contains(says), "{says}: {item}");
    }
    let (_, single) = app
        .post_sign(json!({"tenant_id": "t1", "partner_id": "p1", "message": "Subject: no From\r\n\r\nhi\r\n"}))
        .await;
    assert_eq!(rest[4], single, "the same problem as alone");

    // The batch as a whole: no messages, too many, another shape, a tenant token, not
    // JSON, over 32 MiB.
    let many = vec![text(MESSAGES[0]); 101];
    for (messages, count) in [(Vec::new(), "not 0"), (many, "not 101")] {
        let (status, body) = app.post(DKIM_SIGN_BATCH, &service, batch(messages)).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["errors"][0]["field"], "messages", "{body}");
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains(count),
            "{body}"
        );
    }
    let (status, body) = app
        .post(DKIM_SIGN_BATCH, &service, json!({"message": MESSAGES[0]}))
        .await;
    // An unknown field and no `messages`: a 422, as for any other body of the wrong shape.
    assert_eq!(status, 422, "{body}");
    // An item not of the schema's shape is the request's error, every one named.
    let both = json!({"tenant_id": "t1", "partner_id": "p1", "message": MESSAGES[0], "message_base64": "eA=="});
    let neither = json!({"tenant_id": "t1", "partner_id": "p1"});
    let (status, body) = app
        .post(
            DKIM_SIGN_BATCH,
            &service,
            batch(vec![text(MESSAGES[0]), both, neither]),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let named: Vec<&str> = (body["errors"].as_array().unwrap().iter())
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        named,
        ["messages[1].message", "messages[2].message"],
        "{body}"
    );
    let (status, _) = app
        .post(
            DKIM_SIGN_BATCH,
            &app.admin(),
            batch(vec![text(MESSAGES[0])]),
        )
        .await;
    assert_eq!(status, 403);
    let raw = |content_type: &str, body: Vec<u8>| {
        send(
            app.request(reqwest::Method::POST, DKIM_SIGN_BATCH, &service)
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(body),
        )
    };
    let (status, body) = raw("message/rfc822", MESSAGES[0].as_bytes().to_vec()).await;
    assert_eq!(status, 415, "{body}");
    let (status, body) = raw("application/json", vec![b' '; 32 * 1024 * 1024 + 1]).await;
    assert_eq!(status, 413, "{body}");
    // A full batch signs every message.
    let (status, body) = app
        .post(
            DKIM_SIGN_BATCH,
            &service,
            batch(vec![text(MESSAGES[0]); 100]),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 100);
    assert!(results.iter().all(|r| r["status"] == 200));
}
