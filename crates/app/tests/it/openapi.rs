//! The OpenAPI document as the tools a client uses meet it: a validator, a schema-driven
//! fuzzer with every check it has, and a client generated from it that walks the product
//! page. The Python tools are installed by `cargo xtask test` (see `PYTHON_PACKAGES` in
//! xtask); run alone, a test that misses one fails and says how to install it.

use std::path::Path;
use std::process::{Command, Output};

use test_dns::TestDns;

use super::{BIN, Server};

/// Runs `python3 args…` in `cwd`, failing with the install hint when `module` is missing.
fn python(module: &str, args: &[&str], cwd: &Path) -> Output {
    let probe = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .expect("python3 runs");
    assert!(
        probe.status.success(),
        "python3 cannot import {module}: run `cargo xtask test`, which installs the test tools, \
         or install them as it does (xtask/src/main.rs, PYTHON_PACKAGES)"
    );
    Command::new("python3")
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("python3 runs")
}

/// What a tool printed, for a failure message.
fn printed(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `scaisend-domains openapi` into `dir/openapi.json`.
fn write_document(dir: &Path) -> std::path::PathBuf {
    let out = Command::new(BIN).arg("openapi").output().unwrap();
    assert!(out.status.success(), "{}", printed(&out));
    let path = dir.join("openapi.json");
    std::fs::write(&path, &out.stdout).unwrap();
    path
}

#[test]
fn the_openapi_document_is_valid_openapi() {
    let dir = tempfile::tempdir().unwrap();
    let document = write_document(dir.path());
    let out = python(
        "openapi_spec_validator",
        &[
            "-m",
            "openapi_spec_validator",
            "--schema",
            "3.1",
            "--validation-errors",
            "all",
            document.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", printed(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("OK"));
}

/// The fuzzer's seed: fixed so that a run can be repeated, and settable with
/// `SCAISEND_FUZZ_SEED` to explore further by hand.
const FUZZ_SEED: &str = "20261101";

/// Test cases per operation and phase: enough to reach every status an operation
/// documents in about half a minute on two cores; `SCAISEND_FUZZ_EXAMPLES` raises it by
/// hand.
const FUZZ_EXAMPLES: &str = "25";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_driven_fuzzer_with_every_check_finds_nothing() {
    // Verification asks the loopback DNS server, where nothing is published: every
    // check answers quickly, and no query leaves the machine.
    let dns = TestDns::start().await.unwrap();
    // The rate limit is off for the run: the fuzzer sends hundreds of changes a second
    // from one tenant, and with the limit on it would mostly meet 429s and test nothing
    // else. The limit has its own tests (the system tests' `limits.rs`).
    let server = Server::start(Some(&dns), &[("SCAISEND_RATE_LIMIT", "0")]);
    let admin = server.admin();
    let service = server.token(&["--role", "service"]);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("schemathesis.toml");
    std::fs::write(&config, fuzz_config(&admin, &service)).unwrap();
    let seed = std::env::var("SCAISEND_FUZZ_SEED").unwrap_or_else(|_| FUZZ_SEED.to_owned());
    let examples =
        std::env::var("SCAISEND_FUZZ_EXAMPLES").unwrap_or_else(|_| FUZZ_EXAMPLES.to_owned());
    let schema = format!("{}/openapi.json", server.base);
    let out = python(
        "schemathesis",
        &[
            "-m",
            "schemathesis.cli",
            "--config-file",
            config.to_str().unwrap(),
            "--no-color",
            "run",
            &schema,
            "--checks",
            "all",
            "--seed",
            &seed,
            "--max-examples",
            &examples,
            // One worker: with two, CPython 3.11's AST constructor (which hypothesis
            // calls to describe its filter lambdas) is not thread-safe and now and then
            // fails the run with "AST constructor recursion depth mismatch", a crash of
            // the tool that says nothing about the API.
            "--workers",
            "1",
            "--request-timeout",
            "30",
            // This health check times the fuzzer's own data generation; on two cores
            // shared with the rest of the suite it can trip without saying anything
            // about the API.
            "--suppress-health-check",
            "too_slow",
        ],
        dir.path(),
    );
    let report = printed(&out);
    assert!(
        out.status.success(),
        "the fuzzer found something:\n{report}"
    );
    // The summary, for `--nocapture`: how many cases ran, and in which phases.
    let summary = report
        .find("WARNINGS")
        .or_else(|| report.find("SUMMARY"))
        .map_or("", |at| &report[at..]);
    eprintln!("{summary}");
    // The run must have exercised every operation of the document, not skipped any.
    let document: serde_json::Value =
        serde_json::from_slice(&std::fs::read(write_document(dir.path())).unwrap()).unwrap();
    let operations: usize = document["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum();
    assert!(
        report.contains(&format!("Tested: {operations}\n")),
        "not all {operations} operations were tested:\n{report}"
    );
    drop(dns);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_generated_from_the_document_walks_the_product_page() {
    let dir = tempfile::tempdir().unwrap();
    let document = write_document(dir.path());
    // Three settings of the generator, none about the document: no formatter run over
    // the output (ruff need not be on PATH), the metrics text read as text and a signing
    // request's `message/rfc822` body sent as bytes (the generator knows `text/plain` and
    // `application/octet-stream`, not the OpenMetrics and message media types).
    let config = dir.path().join("generator.yaml");
    std::fs::write(
        &config,
        "post_hooks: []\ncontent_type_overrides:\n  application/openmetrics-text: text/plain\n  message/rfc822: application/octet-stream\n",
    )
    .unwrap();
    let out = python(
        "openapi_python_client",
        &[
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            document.to_str().unwrap(),
            "--meta",
            "none",
            "--output-path",
            "scaisend_client",
            "--config",
            config.to_str().unwrap(),
        ],
        dir.path(),
    );
    let generated = printed(&out);
    assert!(out.status.success(), "no client: {generated}");
    // A warning means a part of the document the generator could not use: an endpoint
    // or a model left out of the client.
    assert!(
        !generated.to_lowercase().contains("warning"),
        "the client misses parts of the document: {generated}"
    );

    let dns = TestDns::start().await.unwrap();
    let server = Server::start(Some(&dns), &[]);
    let walk = dir.path().join("walk_product_page.py");
    std::fs::write(&walk, include_str!("walk_product_page.py")).unwrap();
    let out = Command::new("python3")
        .arg(&walk)
        .current_dir(dir.path())
        .env("PYTHONPATH", dir.path())
        .env("SCAISEND_BASE", &server.base)
        .env("SCAISEND_JWT", server.admin())
        .output()
        .expect("python3 runs");
    let walked = printed(&out);
    assert!(out.status.success(), "{walked}");
    assert!(walked.contains("walked the product page"), "{walked}");
    drop(dns);
}

/// The fuzzer's configuration: the admin token for the admin API, the service token for
/// the internal endpoints (each is refused by the other side), and the one finding of the
/// fuzzer that is not a fault.
fn fuzz_config(admin: &str, service: &str) -> String {
    // The header entries come first: the fuzzer takes an operation's headers from the
    // first entry that matches it, and merges the checks of all that match.
    format!(
        r#"
[[operations]]
include-path-regex = "^/api/admin/"
headers = {{ Authorization = "Bearer {admin}" }}

[[operations]]
include-path-regex = "^/api/internal/"
headers = {{ Authorization = "Bearer {service}" }}

# `positive_data_acceptance` expects a success for any request the schema allows. These
# operations take a string whose validity no JSON Schema states: a domain name (one that
# is not a public suffix), an e-mail address, the `From:` of a send, an RFC 5322
# message, a cursor from an earlier page, a webhook URL (which must also reach a public
# address) or an event type. The server answers such a string that is
# not one with 422 naming the field, which is right; so for these operations, and only
# for this check, 422 is an expected answer. Every other check, and every other status,
# still applies to them.
[[operations]]
include-operation-id = ["create_domain", "update_domain", "list_domains", "domain_events", "sender_authorization", "dkim_sign", "create_webhook", "update_webhook", "list_webhooks", "webhook_deliveries"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422", "429", "503"]
"#
    )
}
