//! Any bytes in DNS data — NUL, other control characters, bytes that are not UTF-8 — are
//! judged as an invalid record, shown escaped, and stored, by `verify` and by the
//! monitor alike, on SQLite and on PostgreSQL (whose `text` and `jsonb` refuse NUL).

use serde_json::Value;
use test_dns::{Record, RecordKind};
use time::Duration;

use crate::both_stores;
use crate::support::{Answer as _, StoreKind, TestApp, items, string_pairs};

both_stores!(bytes_in_dns_data_make_invalid_records_never_errors);

/// The three hosts and the value we ask for at each, from a `dns_records` answer.
fn hosts_and_values(created: &Value) -> Vec<(String, String)> {
    string_pairs(&created["dns_records"], "host", "value")
}

/// Publishes at each host our own value with `bytes` spliced in where every record's
/// grammar would otherwise let them through (a DKIM notes tag, an unknown SPF modifier,
/// an unknown DMARC tag), and returns what `found` must show for each.
fn publish_with(
    app: &TestApp,
    records: &[(String, String)],
    bytes: &[u8],
    shown: &str,
) -> Vec<String> {
    records
        .iter()
        .map(|(host, value)| {
            let (raw, escaped) = if value.starts_with("v=spf1") {
                let (head, all) = value.rsplit_once(' ').unwrap();
                let mut raw = format!("{head} x=").into_bytes();
                raw.extend_from_slice(bytes);
                raw.extend_from_slice(format!(" {all}").as_bytes());
                (raw, format!("{head} x={shown} {all}"))
            } else {
                let mut raw = format!("{value}; x=").into_bytes();
                raw.extend_from_slice(bytes);
                (raw, format!("{value}; x={shown}"))
            };
            app.dns
                .replace(host, RecordKind::Txt, vec![Record::txt(raw)])
                .unwrap();
            escaped
        })
        .collect()
}

/// The domain's stored verdicts as the API reads them back, in DKIM, SPF, DMARC order.
async fn stored_checks(app: &TestApp, id: &str) -> Value {
    let domain = app.get_domain(id, &app.admin()).await.expect_status(200);
    ["dkim", "spf", "dmarc"]
        .iter()
        .map(|c| domain["checks"][c].clone())
        .collect()
}

/// Asserts that every check is invalid, names the trouble, and shows `found` escaped.
#[track_caller]
fn assert_invalid(checks: &Value, found: &[String], named: &str) {
    let checks = checks.as_array().unwrap();
    assert_eq!(checks.len(), 3, "{checks:?}");
    for (check, found) in checks.iter().zip(found) {
        assert_eq!(check["status"], "invalid", "{check}");
        assert!(
            check["message"].as_str().unwrap().contains(named),
            "{check}"
        );
        assert_eq!(check["found"], serde_json::json!([found]), "{check}");
    }
}

async fn bytes_in_dns_data_make_invalid_records_never_errors(kind: StoreKind) {
    let (app, clock) = TestApp::spawn_on_manual_clock(kind).await;
    let admin = app.admin();
    let created = app.create_product_page_domain().await;
    let id = created["id"].as_str().unwrap().to_owned();
    let records = hosts_and_values(&created);

    // `verify` answers 200, with each record judged invalid and shown escaped.
    let found = publish_with(&app, &records, b"\0\x1b\xff", "\\000\\027\\255");
    let report = app.verify_domain(&id, &admin).await.expect_status(200);
    assert_eq!(report["verified"], false);
    assert_invalid(&report["checks"], &found, "a NUL byte");
    assert_eq!(items(&report["errors"]).len(), 3, "{report}");
    // What was stored reads back the same.
    assert_invalid(&stored_checks(&app, &id).await, &found, "a NUL byte");

    // The monitor stores its verdict about other bytes once, and is done with the domain
    // until its next check: no error, no retry.
    let found = publish_with(&app, &records, b"\x07\xc3\x28\\", "\\007\\195(\\\\");
    clock.advance(Duration::minutes(10));
    let round = app
        .service
        .monitor_round("instance-a", 50, Duration::minutes(5))
        .await
        .unwrap();
    assert_eq!((round.checked, round.released), (1, 0), "{round:?}");
    assert_invalid(
        &stored_checks(&app, &id).await,
        &found,
        "a control character",
    );
    let again = app
        .service
        .monitor_round("instance-a", 50, Duration::minutes(5))
        .await
        .unwrap();
    assert_eq!(again.checked + again.released, 0, "{again:?}");

    // The timeline, which quotes what changed, reads back too.
    let events = app
        .get(&format!("/api/admin/domains/{id}/events"), &admin)
        .await
        .expect_status(200);
    assert!(!items(&events["data"]).is_empty());
}
