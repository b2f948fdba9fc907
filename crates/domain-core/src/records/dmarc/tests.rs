//! Properties of the DMARC record model: what we build parses back to itself, the record
//! we ask for is exactly the product page's, real-world records parse, and broken ones are
//! refused with the offending tag named.

use proptest::prelude::*;

use super::*;
use crate::name::RuaAddress;
use crate::records::TxtRecord;

fn policy() -> impl Strategy<Value = DmarcPolicy> {
    prop::sample::select(vec![
        DmarcPolicy::None,
        DmarcPolicy::Quarantine,
        DmarcPolicy::Reject,
    ])
}

fn alignment() -> impl Strategy<Value = Alignment> {
    prop::sample::select(vec![Alignment::Relaxed, Alignment::Strict])
}

/// Reporting URIs as publishers write them: `mailto:` with percent-encoded specials, or
/// `https:`; never a `,` or `!` outside percent-encoding (they separate URIs and sizes).
fn uri() -> impl Strategy<Value = DmarcUri> {
    let mailto = (
        "[a-z0-9._+-]{1,10}(%2[1C])?",
        "[a-z0-9-]{1,10}\\.[a-z]{2,6}",
    )
        .prop_map(|(local, domain)| format!("mailto:{local}@{domain}"));
    let https = "[a-z0-9-]{1,10}\\.example/[a-z0-9/_-]{0,10}".prop_map(|p| format!("https://{p}"));
    (
        prop_oneof![3 => mailto, 1 => https],
        prop::option::of("[0-9]{1,6}[kmgt]?"),
    )
        .prop_map(|(uri, max_size)| DmarcUri { uri, max_size })
}

fn record() -> impl Strategy<Value = DmarcRecord> {
    let tags = (
        policy(),
        prop::option::of(policy()),
        prop::option::of(policy()),
        prop::option::of(prop::sample::select(vec![Psd::Yes, Psd::No, Psd::Unknown])),
        prop::collection::vec(uri(), 0..4),
        prop::collection::vec(uri(), 0..3),
    );
    let more = (
        prop::option::of(alignment()),
        prop::option::of(alignment()),
        prop::option::of(0u8..=100),
        prop::option::of(prop::collection::vec(
            prop::sample::select(vec!["0", "1", "d", "s"]).prop_map(str::to_owned),
            1..4,
        )),
        prop::option::of(prop::collection::vec("[a-z0-9-]{1,8}", 1..3)),
        prop::option::of(any::<u32>()),
    );
    (tags, more).prop_map(
        |((p, sp, np, psd, rua, ruf), (adkim, aspf, pct, fo, rf, ri))| DmarcRecord {
            p,
            sp,
            np,
            psd,
            rua,
            ruf,
            adkim,
            aspf,
            pct,
            fo,
            rf,
            ri,
        },
    )
}

proptest! {
    #[test]
    fn built_records_parse_back(r in record()) {
        crate::testing::parses_back(r)?;
    }
}

#[test]
fn our_record_is_the_product_pages() {
    let rua = RuaAddress::parse("dmarc-reports@example.com").unwrap();
    assert_eq!(
        DmarcRecord::ours(DmarcPolicy::Quarantine, Some(&rua)).to_string(),
        "v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@example.com"
    );
    assert_eq!(
        DmarcRecord::ours(DmarcPolicy::None, None).to_string(),
        "v=DMARC1; p=none"
    );
    assert_eq!(
        DmarcRecord::ours(DmarcPolicy::Reject, None).to_string(),
        "v=DMARC1; p=reject"
    );
    // The characters that separate URIs and sizes reach the record percent-encoded.
    let odd = RuaAddress::parse("\"a,b!c\"@example.com").unwrap();
    let text = DmarcRecord::ours(DmarcPolicy::None, Some(&odd)).to_string();
    assert_eq!(
        text,
        "v=DMARC1; p=none; rua=mailto:%22a%2Cb%21c%22@example.com"
    );
    assert_eq!(
        DmarcRecord::parse(&text).unwrap(),
        DmarcRecord::ours(DmarcPolicy::None, Some(&odd))
    );
}

crate::testing::record_parse_checks!(DmarcRecord);

#[test]
fn real_world_records_parse() {
    // google.com
    canonical("v=DMARC1; p=reject; rua=mailto:mailauth-reports@google.com");
    // yahoo.com: tags in another order come back in ours.
    check(
        "v=DMARC1; p=reject; pct=100; rua=mailto:dmarc-yahoo-rua@yahoo-inc.com;",
        Ok("v=DMARC1; p=reject; rua=mailto:dmarc-yahoo-rua@yahoo-inc.com; pct=100"),
    );
    canonical("v=DMARC1; p=none; rua=mailto:a@x.example,mailto:b@y.example!10m");
    check(
        "v=DMARC1; p=none; rua=mailto:a@x.example , mailto:b@y.example!10m",
        Ok("v=DMARC1; p=none; rua=mailto:a@x.example,mailto:b@y.example!10m"),
    );
    check(
        "v=DMARC1; p=REJECT; sp=Quarantine; np=NONE",
        Ok("v=DMARC1; p=reject; sp=quarantine; np=none"),
    );
    check(
        " v = DMARC1 ;p = quarantine ; pct = 50 ;",
        Ok("v=DMARC1; p=quarantine; pct=50"),
    );
    check(
        "v=DMARC1;p=none;adkim=S;aspf=r;fo=1:d;rf=afrf;ri=3600;psd=n",
        Ok("v=DMARC1; p=none; psd=n; adkim=s; aspf=r; fo=1:d; rf=afrf; ri=3600"),
    );
    canonical("v=DMARC1; p=none; ruf=mailto:forensic@example.com!1k");
    // Unknown tags are ignored (RFC 7489 §6.3).
    check("v=DMARC1; p=none; t=y; foo=bar", Ok("v=DMARC1; p=none"));
}

#[test]
fn broken_records_name_the_offending_tag() {
    refused("p=none; v=DMARC1", "must start with `v=DMARC1`");
    refused("v=DMARC2; p=none", "`v=DMARC2`");
    refused("v=dmarc1; p=none", "`v=dmarc1`");
    refused("", "must start with `v=DMARC1`");
    refused("v=DMARC1", "no `p=` tag");
    refused("v=DMARC1; sp=reject", "no `p=` tag");
    refused("v=DMARC1; p=block", "`p=block`");
    refused("v=DMARC1; p=none; sp=all", "`sp=all`");
    refused("v=DMARC1; p=none; np=drop", "`np=drop`");
    refused("v=DMARC1; p=none; psd=x", "`psd=x`");
    refused("v=DMARC1; p=none; pct=150", "`pct=150`");
    refused("v=DMARC1; p=none; pct=+50", "`pct=+50`");
    refused("v=DMARC1; p=none; pct=", "`pct=`");
    refused("v=DMARC1; p=none; adkim=x", "`adkim=x`");
    refused("v=DMARC1; p=none; aspf=relaxed", "`aspf=relaxed`");
    refused("v=DMARC1; p=none; fo=2", "`fo=` holds `2`");
    refused("v=DMARC1; p=none; fo=", "`fo=` is empty");
    refused("v=DMARC1; p=none; rf=a f", "`rf=a f`");
    refused(
        "v=DMARC1; p=none; rua=not a uri",
        "`rua=` holds `not a uri`",
    );
    refused("v=DMARC1; p=none; rua=reports@example.com", "`rua=`");
    refused(
        "v=DMARC1; p=none; rua=mailto:a@x.example!10x",
        "size limit `!10x`",
    );
    refused(
        "v=DMARC1; p=none; rua=mailto:a@x.example!10mm",
        "size limit `!10mm`",
    );
    refused("v=DMARC1; p=none; ruf=mailto:", "`ruf=`");
    refused("v=DMARC1; p=none; ri=abc", "`ri=abc`");
    refused("v=DMARC1; p=none; ri=-1", "`ri=-1`");
    refused("v=DMARC1; p=none; p=reject", "more than once");
}

#[track_caller]
fn check_mailto_domain(uri: &str, expected: Option<&str>) {
    let u = DmarcUri {
        uri: uri.to_owned(),
        max_size: None,
    };
    assert_eq!(u.mailto_domain().as_deref(), expected, "uri {uri:?}");
}

#[test]
fn mailto_domain_is_the_decoded_lower_case_domain() {
    for (uri, domain) in [
        ("mailto:dmarc@example.com", "example.com"),
        ("MAILTO:dmarc@Reports.Example.NET", "reports.example.net"),
        ("mailto:dmarc@ex%61mple.com", "example.com"),
        ("mailto:dmarc@EX%41MPLE.com", "example.com"),
        // The local part may carry an encoded `@`; the domain follows the last literal one.
        ("mailto:%22a%40b%22@x.example", "x.example"),
        ("mailto:r@x.example?subject=dmarc", "x.example"),
    ] {
        check_mailto_domain(uri, Some(domain));
    }
    // Not a `mailto:` URI, or no domain that can be read.
    for uri in [
        "https://x.example/reports",
        "mailto:no-at-sign",
        "mailto:a@",
        "mailto:a@bad%zz.example",
        "mailto:a@bad%4",
        "mailto",
    ] {
        check_mailto_domain(uri, None);
    }
}

#[test]
fn subdomains_get_sp_or_else_p() {
    let check = |text: &str, expected: DmarcPolicy| {
        let r = DmarcRecord::parse(text).unwrap();
        assert_eq!(r.subdomain_policy(), expected, "{text}");
    };
    check("v=DMARC1; p=reject", DmarcPolicy::Reject);
    check("v=DMARC1; p=reject; sp=none", DmarcPolicy::None);
    check("v=DMARC1; p=none; sp=quarantine", DmarcPolicy::Quarantine);
    // `np=` is for non-existent subdomains; it does not change the subdomain policy.
    check("v=DMARC1; p=none; np=reject", DmarcPolicy::None);
}
