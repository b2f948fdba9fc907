//! The records a domain is told to publish (and delete), their order, values and
//! statuses.

use super::*;
use crate::name::{DmarcPolicy, DomainName, RuaAddress, Selector};
use crate::records::join_character_strings;
use crate::testing;
use crate::verify::{CheckStatus, VerdictCode};

fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

const DAY: Duration = Duration::DAY;

fn include_host() -> DomainSpec {
    DomainSpec::parse("scaisend.scailabs.ai").unwrap()
}

fn bounce_mx() -> crate::name::DomainName {
    crate::name::DomainName::parse("feedback.scaisend.scailabs.ai").unwrap()
}

fn selector(s: &str) -> Selector {
    Selector::parse(s).unwrap()
}

fn pending(d: &Domain) -> u32 {
    d.keys.pending().unwrap().index
}

/// The records of `d` at `now` with the default selector base, zone and bounce host.
fn records(d: &Domain, now: OffsetDateTime) -> Vec<DnsRecordSpec> {
    let include = include_host();
    let base = Selector::parse("scaisend").unwrap();
    let zone = ZoneConfig::for_apex(crate::name::DomainName::parse("dkim.example.net").unwrap());
    let bounce_mx = bounce_mx();
    dns_records(
        d,
        &Publishing {
            include_host: &include,
            selector_base: &base,
            zone: &zone,
            bounce_mx: &bounce_mx,
        },
        now,
    )
}

/// A domain whose keys have been through every state: `scaisend` removed on day 2,
/// `scaisend2` retiring, `scaisend3` active, `scaisend4` pending.
fn every_key_state() -> Domain {
    let mut d = testing::domain("example.com", t0());
    testing::start_rotation(&mut d, t0());
    d.keys.promote(pending(&d), t0() + DAY).unwrap();
    d.keys
        .remove(&selector("scaisend"), t0() + 2 * DAY)
        .unwrap();
    testing::start_rotation(&mut d, t0() + 3 * DAY);
    d.keys.promote(pending(&d), t0() + 4 * DAY).unwrap();
    testing::start_rotation(&mut d, t0() + 5 * DAY);
    d
}

/// A verdict of the `record` check on example.com; publishing reads only its status.
fn verdict(record: CheckKind, status: CheckStatus) -> Verdict {
    testing::verdict(record, "example.com", status, VerdictCode::DkimOk)
}

fn dkim_verdict(selector: &str, status: CheckStatus) -> Verdict {
    testing::dkim_verdict(selector, status, VerdictCode::DkimOk)
}

/// One row as (purpose, host, key state, action, status).
type Row = (
    CheckKind,
    String,
    Option<KeyState>,
    RecordAction,
    RecordStatus,
);

/// The DKIM row of `selector` on example.com, whose key is in `state`.
fn key_row(selector: &str, state: KeyState, action: RecordAction, status: RecordStatus) -> Row {
    let host = format!("{selector}._domainkey.example.com");
    (Dkim, host, Some(state), action, status)
}

/// The row of the `purpose` record (SPF or DMARC) at `host`, to publish.
fn record_row(purpose: CheckKind, host: &str, status: RecordStatus) -> Row {
    (
        purpose,
        host.to_owned(),
        None,
        RecordAction::Publish,
        status,
    )
}

/// Compares the rows of `d` at `now` with `expected`, in order.
#[track_caller]
fn check(d: &Domain, now: OffsetDateTime, expected: &[Row]) {
    let got: Vec<Row> = records(d, now)
        .into_iter()
        .map(|r| (r.purpose, r.host, r.key_state, r.action, r.status))
        .collect();
    assert_eq!(got, expected);
}

use CheckKind::{Dkim, Dmarc, Spf};
use RecordAction::{Publish, Remove};
use RecordStatus::NotChecked;

#[test]
fn a_new_domain_publishes_dkim_spf_and_dmarc() {
    let d = testing::domain("example.com", t0());
    check(
        &d,
        t0(),
        &[
            key_row("scaisend", KeyState::Active, Publish, NotChecked),
            record_row(Spf, "example.com", NotChecked),
            record_row(Dmarc, "_dmarc.example.com", NotChecked),
        ],
    );
}

#[test]
fn rows_go_active_pending_retiring_spf_dmarc_removed() {
    let d = every_key_state();
    check(
        &d,
        t0() + 6 * DAY,
        &[
            key_row("scaisend3", KeyState::Active, Publish, NotChecked),
            key_row("scaisend4", KeyState::Pending, Publish, NotChecked),
            key_row("scaisend2", KeyState::Retiring, Publish, NotChecked),
            record_row(Spf, "example.com", NotChecked),
            record_row(Dmarc, "_dmarc.example.com", NotChecked),
            key_row("scaisend", KeyState::Removed, Remove, NotChecked),
        ],
    );
    // Every DKIM row, the removed one included, shows its own key's record, so that the
    // user can tell which record to delete.
    let rows = records(&d, t0() + 6 * DAY);
    for row in rows.iter().filter(|r| r.purpose == Dkim) {
        let key = d
            .keys
            .all()
            .iter()
            .find(|k| k.selector.record_host(&d.name) == row.host)
            .unwrap();
        assert_eq!(
            row.value,
            DkimKeyRecord::for_key(&key.public_key).to_string()
        );
    }
}

#[test]
fn a_removed_selector_shows_for_30_days() {
    let d = every_key_state();
    let removed_at = t0() + 2 * DAY;
    let removals = |now| {
        records(&d, now)
            .iter()
            .filter(|r| r.action == Remove)
            .count()
    };
    assert_eq!(removals(removed_at), 1);
    assert_eq!(removals(removed_at + 30 * DAY - Duration::SECOND), 1);
    assert_eq!(removals(removed_at + 30 * DAY), 0);
    assert_eq!(removals(removed_at + 365 * DAY), 0);
}

#[test]
fn a_cancelled_rotation_shows_as_a_removal_too() {
    let mut d = testing::domain("example.com", t0());
    testing::start_rotation(&mut d, t0());
    d.keys.remove(&selector("scaisend2"), t0() + DAY).unwrap();
    let rows = records(&d, t0() + DAY);
    let last = rows.last().unwrap();
    assert_eq!(
        (last.host.as_str(), last.action),
        ("scaisend2._domainkey.example.com", Remove)
    );
    assert!(rows.iter().all(|r| r.key_state != Some(KeyState::Pending)));
}

fn spf_value(d: &Domain) -> String {
    records(d, t0())
        .into_iter()
        .find(|r| r.purpose == Spf)
        .unwrap()
        .value
}

#[test]
fn the_spf_value_is_the_last_checks_suggestion() {
    let mut d = testing::domain("example.com", t0());
    // Not checked yet: our own record.
    assert_eq!(spf_value(&d), "v=spf1 include:scaisend.scailabs.ai ~all");
    // The domain has its own SPF record: the check suggests it with our include merged.
    let merged = "v=spf1 include:_spf.google.com include:scaisend.scailabs.ai ~all";
    let mut v = verdict(Spf, CheckStatus::Mismatch);
    v.expected = Some(merged.to_owned());
    d.checks.insert(v);
    assert_eq!(spf_value(&d), merged);
    // A verdict without a suggestion falls back to our record.
    d.checks.insert(verdict(Spf, CheckStatus::TemporaryFailure));
    assert_eq!(spf_value(&d), "v=spf1 include:scaisend.scailabs.ai ~all");
}

#[test]
fn the_dmarc_value_is_the_configured_policy() {
    let mut d = testing::domain("example.com", t0());
    let dmarc = |d: &Domain| {
        records(d, t0())
            .into_iter()
            .find(|r| r.purpose == Dmarc)
            .unwrap()
            .value
    };
    assert_eq!(dmarc(&d), "v=DMARC1; p=quarantine");
    d.dmarc_policy = DmarcPolicy::Reject;
    d.dmarc_rua = Some(RuaAddress::parse("dmarc-reports@example.com").unwrap());
    assert_eq!(
        dmarc(&d),
        "v=DMARC1; p=reject; rua=mailto:dmarc-reports@example.com"
    );
}

#[test]
fn statuses_follow_the_stored_checks() {
    for (status, want) in [
        (CheckStatus::Verified, RecordStatus::Verified),
        (CheckStatus::Missing, RecordStatus::Missing),
        (CheckStatus::Mismatch, RecordStatus::Mismatch),
        (CheckStatus::Invalid, RecordStatus::Invalid),
        (
            CheckStatus::TemporaryFailure,
            RecordStatus::TemporaryFailure,
        ),
    ] {
        let mut d = testing::domain("example.com", t0());
        testing::start_rotation(&mut d, t0());
        d.checks.insert(dkim_verdict("scaisend", status));
        d.checks.insert(verdict(Spf, status));
        d.checks.insert(verdict(Dmarc, status));
        check(
            &d,
            t0(),
            &[
                key_row("scaisend", KeyState::Active, Publish, want),
                // The pending selector's check is not stored: it is not known yet.
                key_row("scaisend2", KeyState::Pending, Publish, NotChecked),
                record_row(Spf, "example.com", want),
                record_row(Dmarc, "_dmarc.example.com", want),
            ],
        );
    }
}

#[test]
fn a_dkim_verdict_about_another_selector_does_not_count() {
    // After a promotion, a verdict about the old selector says nothing about the new
    // active one.
    let mut d = testing::domain("example.com", t0());
    testing::start_rotation(&mut d, t0());
    d.keys.promote(2, t0() + DAY).unwrap();
    d.checks
        .insert(dkim_verdict("scaisend", CheckStatus::Verified));
    let rows = records(&d, t0() + DAY);
    assert_eq!(
        (rows[0].host.as_str(), rows[0].status),
        ("scaisend2._domainkey.example.com", NotChecked)
    );
    assert_eq!(
        (rows[1].host.as_str(), rows[1].status),
        ("scaisend._domainkey.example.com", NotChecked)
    );
}

#[track_caller]
fn check_chunks(value: &str, expected: Option<usize>) {
    let spec = DnsRecordSpec {
        purpose: Dkim,
        record_type: RecordType::Txt,
        host: "s._domainkey.example.com".to_owned(),
        zone: DomainName::parse("example.com").unwrap(),
        name: "s._domainkey".to_owned(),
        value: value.to_owned(),
        priority: None,
        action: Publish,
        status: NotChecked,
        key_state: None,
    };
    let chunks = spec.value_chunks();
    assert_eq!(
        chunks.as_ref().map(Vec::len),
        expected,
        "{} octets",
        value.len()
    );
    if let Some(chunks) = chunks {
        assert!(chunks.iter().all(|c| c.len() <= 255));
        assert_eq!(join_character_strings(&chunks), value);
    }
}

#[test]
fn only_values_over_255_octets_are_chunked() {
    check_chunks("v=spf1 include:scaisend.scailabs.ai ~all", None);
    check_chunks(&"x".repeat(255), None);
    check_chunks(&"x".repeat(256), Some(2));
    check_chunks(&"x".repeat(511), Some(3));
    let ours = DkimKeyRecord::for_key(&testing::key(0).public).to_string();
    check_chunks(&ours, Some(2));
}

#[test]
fn the_api_names_of_statuses_and_actions_are_their_serde_names() {
    // The API's schema lists `ALL`'s names; they must be what the rows serialize as.
    for status in RecordStatus::ALL {
        assert_eq!(serde_json::json!(status), status.as_str());
    }
    for action in RecordAction::ALL {
        assert_eq!(serde_json::json!(action), action.as_str());
    }
}

#[test]
fn each_row_names_its_zone_and_its_host_relative_to_it() {
    for (domain, expected) in [
        (
            "mail.example.com",
            [
                ("scaisend._domainkey.mail", "example.com"),
                ("mail", "example.com"),
                ("_dmarc.mail", "example.com"),
            ],
        ),
        (
            "example.com",
            [
                ("scaisend._domainkey", "example.com"),
                ("@", "example.com"),
                ("_dmarc", "example.com"),
            ],
        ),
        (
            "news.shop.example.co.uk",
            [
                ("scaisend._domainkey.news.shop", "example.co.uk"),
                ("news.shop", "example.co.uk"),
                ("_dmarc.news.shop", "example.co.uk"),
            ],
        ),
    ] {
        let d = testing::domain(domain, t0());
        let rows = records(&d, t0());
        let got: Vec<(&str, &str)> = rows
            .iter()
            .map(|r| (r.name.as_str(), r.zone.as_str()))
            .collect();
        assert_eq!(got, expected, "{domain}");
        for r in &rows {
            let full = if r.name == "@" {
                r.zone.to_string()
            } else {
                format!("{}.{}", r.name, r.zone)
            };
            assert_eq!(full, r.host, "{domain}: name + zone is the host");
        }
    }
}

#[test]
fn relative_names() {
    let zone = DomainName::parse("example.com").unwrap();
    for (host, name) in [
        ("example.com", "@"),
        ("EXAMPLE.com", "@"),
        ("mail.example.com", "mail"),
        ("a.b.example.com", "a.b"),
        // Not inside the zone: absolute, never mistaken for a relative name.
        ("notexample.com", "notexample.com."),
        ("example.org", "example.org."),
        ("com", "com."),
        (".example.com", ".example.com."),
    ] {
        assert_eq!(relative_name(host, &zone), name, "{host}");
    }
}

proptest::proptest! {
    /// A name under the zone reads back as the labels before it.
    #[test]
    fn a_host_is_its_name_then_its_zone(labels in proptest::collection::vec("[a-z0-9_][a-z0-9-]{0,10}", 0..4)) {
        let zone = DomainName::parse("example.co.uk").unwrap();
        let host = labels.iter().map(String::as_str).chain([zone.as_str()]).collect::<Vec<_>>().join(".");
        let name = relative_name(&host, &zone);
        if labels.is_empty() {
            proptest::prop_assert_eq!(name, "@");
        } else {
            proptest::prop_assert_eq!(format!("{name}.{zone}"), host);
        }
    }
}

#[test]
fn a_return_path_adds_our_mx_and_an_spf_record_at_its_host() {
    let mut d = testing::domain("example.com", t0());
    let rows = |d: &Domain| records(d, t0());
    let without = rows(&d);
    assert!(without.iter().all(|r| r.record_type == RecordType::Txt));
    assert!(without.iter().all(|r| r.purpose != CheckKind::ReturnPath));

    let label = crate::name::ReturnPathLabel::parse("bounces").unwrap();
    d.set_return_path(Some(label), t0()).unwrap();
    // The return path's two rows come last.
    let return_path_rows = |rows: Vec<DnsRecordSpec>| -> [DnsRecordSpec; 2] {
        rows[rows.len() - 2..].to_vec().try_into().unwrap()
    };
    let with = rows(&d);
    assert_eq!(with.len(), without.len() + 2);
    let [mx, spf] = &return_path_rows(with);
    let shape = |r: &DnsRecordSpec| (r.record_type, r.host.clone(), r.value.clone(), r.priority);
    let host = "bounces.example.com".to_owned();
    assert_eq!(
        [shape(mx), shape(spf)],
        [
            (
                RecordType::Mx,
                host.clone(),
                "feedback.scaisend.scailabs.ai".to_owned(),
                Some(10)
            ),
            (
                RecordType::Txt,
                host,
                "v=spf1 include:scaisend.scailabs.ai -all".to_owned(),
                None
            ),
        ]
    );
    for row in [mx, spf] {
        assert_eq!(row.purpose, CheckKind::ReturnPath);
        assert_eq!((row.action, row.status), (Publish, NotChecked));
        assert_eq!(row.value_chunks(), None);
    }

    // After a check: each row shows its half's status, and the SPF row the record the
    // check suggested — the host's own record with our include merged in.
    let mut v = verdict(CheckKind::ReturnPath, CheckStatus::Mismatch);
    v.details = serde_json::json!({
        "mx": { "status": "mismatch" },
        "spf": {
            "status": "verified",
            "expected": "v=spf1 ip4:192.0.2.1 include:scaisend.scailabs.ai -all",
        },
    });
    d.checks.insert(v);
    let [mx, spf] = &return_path_rows(rows(&d));
    assert_eq!(mx.status, RecordStatus::Mismatch);
    assert_eq!(spf.status, RecordStatus::Verified);
    assert_eq!(
        spf.value,
        "v=spf1 ip4:192.0.2.1 include:scaisend.scailabs.ai -all"
    );
    // A verdict without halves (a first temporary failure) gives both its status.
    let mut temp = verdict(CheckKind::ReturnPath, CheckStatus::TemporaryFailure);
    temp.details = serde_json::Value::Null;
    d.checks.insert(temp);
    let statuses = return_path_rows(rows(&d)).map(|r| r.status);
    assert_eq!(statuses, [RecordStatus::TemporaryFailure; 2]);
}
