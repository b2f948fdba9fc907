//! Health, readiness, metrics and the OpenAPI document.

use crate::support::{StoreKind, TestApp};

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
    let created = app.create_seed_domain().await;
    let id = created["id"].as_str().unwrap();
    app.post_empty(&format!("/api/admin/domains/{id}/verify"), &app.admin())
        .await;
    let metrics = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
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
    let (status, doc) = app.get("/openapi.json", "").await;
    assert_eq!(status, 200);
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
