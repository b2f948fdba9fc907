//! The OpenSPF RFC 7208 conformance suite: every case through `check_host`.

use domain_core::records::spf::check_host;
use futures::executor::block_on;

use crate::rfc7208;

/// Cases we do not pass, each with the reason. Empty: every case passes. The test fails
/// when a listed case passes (take it off the list) and when an unlisted case fails.
const ALLOWED_FAILURES: &[(&str, &str)] = &[];

/// How many cases the vendored file holds; a different count means a broken fixture or
/// loader, not a conformance result. (Its README says 205, but the file has 203 test
/// entries in 16 documents, as any YAML parser counts them.)
const CASES: usize = 203;

#[test]
fn every_case_of_the_rfc7208_suite_passes() {
    let sections = rfc7208::load();
    let mut passed: Vec<&str> = Vec::new();
    let mut failed: Vec<(&str, String)> = Vec::new();
    for section in &sections {
        for case in &section.cases {
            let evaluation = block_on(check_host(&section.zone, &case.query()));
            match case.judge(&evaluation) {
                Ok(()) => passed.push(&case.name),
                Err(why) => failed.push((&case.name, format!("{}: {why}", section.description))),
            }
        }
    }
    println!(
        "RFC 7208 suite: {} passed, {} failed ({} allow-listed) of {} cases",
        passed.len(),
        failed.len(),
        ALLOWED_FAILURES.len(),
        passed.len() + failed.len()
    );
    assert_eq!(passed.len() + failed.len(), CASES);
    let allowed = |name: &str| ALLOWED_FAILURES.iter().any(|(n, _)| *n == name);
    let unexpected: Vec<&(&str, String)> = failed.iter().filter(|(n, _)| !allowed(n)).collect();
    assert!(unexpected.is_empty(), "failing cases:\n{unexpected:#?}");
    // A listed case must still be in the suite and still fail.
    let stale: Vec<&str> = ALLOWED_FAILURES
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| !failed.iter().any(|(n, _)| n == name))
        .collect();
    assert!(
        stale.is_empty(),
        "allow-listed cases that pass now or do not exist; take them off the list: {stale:?}"
    );
}

#[test]
fn the_suite_travels_with_its_licence() {
    let licence = include_str!("../fixtures/spf/rfc7208-tests.LICENSE");
    assert!(licence.contains("Stuart D Gathman"));
    assert!(licence.contains("Redistributions of source code must retain"));
}
