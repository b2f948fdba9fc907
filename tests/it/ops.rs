//! Health, readiness, metrics and the OpenAPI document.

use crate::support::{Answer as _, StoreKind, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_metrics_and_openapi_are_served() {
    let app = TestApp::spawn(StoreKind::Sqlite).await;
    for path in ["/healthz", "/readyz"] {
        let (status, body) = app.get(path, "").await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("ok")),
            "{path}"
        );
    }

    // Traffic shows up by route template, verification outcomes by check.
    let created = app.create_product_page_domain().await;
    let id = created["id"].as_str().unwrap();
    app.verify_domain(id, &app.admin()).await;
    let metrics = metrics_text(&app).await;
    assert!(
        metrics.contains(r#"scaisend_http_requests_total{method="POST",route="/api/admin/domains/{id}/verify",status="200"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"scaisend_verification_checks_total{check="dkim",status="missing"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"scaisend_dns_query_duration_seconds_count{query="TXT",outcome="nxdomain"}"#
        ),
        "{metrics}"
    );

    // The OpenAPI 3.1 document names every endpoint of the contract.
    let doc = app.get("/openapi.json", "").await.expect_status(200);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/admin/domains", "post"),
        ("/api/admin/domains", "get"),
        ("/api/admin/domains/{id}", "get"),
        ("/api/admin/domains/{id}", "patch"),
        ("/api/admin/domains/{id}", "delete"),
        ("/api/admin/domains/{id}/dns-records", "get"),
        ("/api/admin/domains/{id}/verify", "post"),
        ("/api/admin/domains/{id}/rotate-dkim", "post"),
        ("/api/admin/domains/{id}/dkim/{selector}", "delete"),
        ("/api/admin/domains/{id}/events", "get"),
        ("/api/internal/sender-authorization", "post"),
        ("/api/internal/dkim/sign", "post"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_labels_come_from_a_closed_set_whatever_clients_send() {
    let app = TestApp::spawn(StoreKind::Sqlite).await;
    let series = |metrics: &str| -> Vec<String> {
        metrics
            .lines()
            .filter(|l| l.starts_with("scaisend_http_requests_total{"))
            .map(|l| l.split_once('}').map_or(l, |(labels, _)| labels).to_owned())
            .collect()
    };
    // Made-up methods on made-up paths and on real ones, as a scanner would send them.
    for i in 0..60 {
        let method = reqwest::Method::from_bytes(format!("FOO{i}").as_bytes()).unwrap();
        for path in [
            format!("/random/{i}/{}", ulid::Ulid::generate()),
            "/api/admin/domains".to_owned(),
        ] {
            let response = app
                .client
                .request(method.clone(), format!("{}{path}", app.base))
                .send()
                .await
                .unwrap();
            assert!(response.status().is_client_error(), "{method} {path}");
        }
    }
    let after = metrics_text(&app).await;
    let labels = series(&after);
    assert!(
        labels
            .iter()
            .all(|l| !l.contains("FOO") && !l.contains("/random/")),
        "request data in labels: {labels:#?}"
    );
    // Two methods (`other`, and GET for /metrics itself), a handful of routes and
    // statuses: a bounded number of series, not one per request.
    assert!(labels.len() <= 6, "{} series: {labels:#?}", labels.len());
    assert!(
        labels
            .iter()
            .any(|l| l.contains(r#"method="other",route="unmatched",status="404""#)),
        "{labels:#?}"
    );
    assert!(
        labels
            .iter()
            .any(|l| l.contains(r#"method="other",route="/api/admin/domains",status="405""#)),
        "{labels:#?}"
    );
    assert!(after.len() < 16 * 1024, "/metrics is {} bytes", after.len());
}

/// `GET /metrics` as text.
async fn metrics_text(app: &TestApp) -> String {
    app.client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}
