//! The admin console in a real browser: headless Chromium, driven over WebDriver by
//! Debian's chromedriver, walks the product page against the real router, a real store
//! and the loopback DNS server — sign in, add a domain, see its three records, publish
//! them, verify, rotate, deactivate, sign out — and every page is checked with a viewer
//! token (no write controls), for console errors, for its Content-Security-Policy, and
//! photographed into `target/console-screenshots/`. Removing a retiring selector and
//! deleting with confirmation are walked too, and a second domain signing with RSA and
//! Ed25519 with a return path of its own.
//!
//! `cargo xtask test` installs `chromium` and `chromium-driver` when they are missing;
//! without them this test fails, saying so.

use std::future::Future;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use futures::FutureExt as _;
use serde_json::{Value, json};

use crate::support::{Answer as _, StoreKind, TestApp};

/// How long any one thing may take before the test fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(30);

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The buttons a reader may see: none of them changes anything.
const READ_ONLY_BUTTONS: &[&str] = &["Copy", "Sign out", "Show older events", "Show more domains"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_walks_the_product_page() {
    let app = TestApp::spawn(StoreKind::Sqlite).await;
    let browser = Browser::start("product-page").await;
    // The session is closed whatever happens, so no browser outlives a failed test.
    let outcome = AssertUnwindSafe(walk(&app, &browser)).catch_unwind().await;
    browser.stop().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn walk(app: &TestApp, b: &Browser) {
    let admin = app.admin();
    let viewer = app.token("tenant_viewer", Some("t1"), Some("p1"));

    // `/` leads to the console's sign-in form.
    b.goto(&format!("{}/", app.base)).await;
    assert_eq!(b.path().await, "/console/");
    b.wait_for_css("input[name=token]").await;
    assert_eq!(b.label_of("token").await, "Token");
    b.page_checks(app, "sign-in").await;

    // 1. Sign in, with the keyboard: the token, then Enter.
    b.sign_in(&admin).await;
    b.wait_for_heading("Domains").await;
    assert!(b.text("#who").await.contains("tenant admin"));
    b.page_checks(app, "domains-empty").await;

    // A refusal is shown readably: the field's own message under it.
    b.fill("domain", "not a domain").await;
    b.click_button("Add domain").await;
    b.wait_for_css(".problem").await;
    let problem = b.text(".problem").await;
    assert!(problem.contains("The domain was not added"), "{problem}");
    assert!(problem.contains("(422)"), "{problem}");
    let field_error = b.text("#field-domain-error").await;
    assert!(
        !field_error.is_empty(),
        "the domain field says what is wrong"
    );
    b.assert_only_logged(&["422"]).await;

    // 2. Add a domain.
    b.fill("domain", "mail.example.com").await;
    b.select("dmarc_policy", "quarantine").await;
    b.fill("dmarc_rua_email", "dmarc-reports@example.com").await;
    b.select("dkim_key_bits", "2048").await;
    b.click_button("Add domain").await;
    b.wait_for_heading("mail.example.com").await;
    let path = b.path().await;
    let id = path
        .strip_prefix("/console/domains/")
        .expect("the domain's page")
        .to_owned();
    let (_, api) = app.get_domain(&id, &admin).await;

    // 3. Its three records, each host in full and relative to the zone, each with Copy.
    let rows = b.records().await;
    let expected = api_rows(&api);
    assert_eq!(rows, expected);
    assert_eq!(
        rows.iter().map(|r| r[1].as_str()).collect::<Vec<_>>(),
        ["scaisend._domainkey.mail", "mail", "_dmarc.mail"]
    );
    assert!(
        b.text("table.records")
            .await
            .contains("in zone example.com")
    );
    // Host, name and value of each row, and the two 255-octet strings of the key.
    assert_eq!(b.buttons_named("Copy").await.len(), 3 * 3 + 2);
    b.find_css("table.records details.chunks summary")
        .await
        .click()
        .await
        .unwrap();
    let chunks = b.texts("table.records details.chunks li code").await;
    assert_eq!(
        chunks,
        api["dns_records"][0]["value_chunks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    );
    b.assert_copies_to_clipboard(&expected[0][0]).await;
    assert_eq!(b.standing().await, ["✕", "Not verified"]);
    b.page_checks(app, "domain-new").await;

    // The zone file downloads with the token, and is the API's.
    b.click_link("Download zone file").await;
    let zone = b.downloaded("mail.example.com.zone").await;
    let api_zone = app
        .request(
            reqwest::Method::GET,
            &format!("/api/admin/domains/{id}/zone-file"),
            &admin,
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(zone, api_zone);

    // 4. Publish them in the test DNS server, as the tenant would at their provider.
    app.publish(&api["dns_records"]);

    // 5. Verify, and see "verified": the domain, each record and each check.
    b.click_button("Verify").await;
    b.wait_for_text(".notice", "Verified: every check passes")
        .await;
    assert_eq!(b.standing().await, ["✓", "Verified"]);
    assert_eq!(b.texts("article.check h3").await.len(), 3);
    assert_eq!(
        b.texts("article.check h3 .light-text").await,
        ["verified", "verified", "verified"]
    );
    let check = b.text("article.check[data-check=spf]").await;
    assert_shows(
        &check,
        "the SPF verdict",
        &[
            "Expected",
            "Found",
            "Answered by",
            "spf_ok",
            "mail.example.com",
        ],
    );
    assert_eq!(
        b.texts("table.records [data-kind=status] .light-text")
            .await,
        ["verified", "verified", "verified"]
    );
    b.page_checks(app, "domain-verified").await;
    b.full_page_screenshot("domain-verified-full").await;
    // The same page at phone width: nothing wider than the screen.
    b.client.set_window_size(390, 844).await.unwrap();
    b.assert_fits_the_width().await;
    b.screenshot("domain-verified-phone").await;
    b.client.set_window_size(1280, 1000).await.unwrap();

    // 6. Rotate: a pending key joins the records, with a way to cancel it.
    b.click_button("Rotate DKIM key").await;
    b.wait_for_text(".notice", "Rotation started").await;
    let hosts: Vec<String> = b.records().await.into_iter().map(|[h, _, _]| h).collect();
    assert_eq!(
        hosts,
        [
            "scaisend._domainkey.mail.example.com",
            "scaisend2._domainkey.mail.example.com",
            "mail.example.com",
            "_dmarc.mail.example.com"
        ]
    );
    assert_eq!(b.buttons_named("Cancel rotation").await.len(), 1);
    assert!(b.text("ol.timeline").await.contains("rotation started"));
    b.page_checks(app, "domain-rotating").await;

    // Once the new record is published and seen, the new key signs and the old one
    // retires; "Remove" on it leaves its record to delete.
    let (_, rotating) = app
        .get(&format!("/api/admin/domains/{id}/dns-records"), &admin)
        .await;
    app.publish(&rotating["dns_records"]);
    b.click_button("Verify").await;
    b.wait_for_text(".notice", "every check passes").await;
    b.click_button("Remove").await;
    b.wait_for_text(".notice", "Removed selector scaisend")
        .await;
    let removed = b.find_css("tr.to-remove").await;
    assert_eq!(
        removed.attr("data-host").await.unwrap().as_deref(),
        Some("scaisend._domainkey.mail.example.com")
    );
    assert!(removed.text().await.unwrap().contains("Delete this record"));
    b.page_checks(app, "domain-selector-removed").await;

    // 7. Deactivate.
    b.click_button("Deactivate").await;
    b.wait_for_text(".notice", "Deactivated").await;
    assert_eq!(b.standing().await, ["–", "Inactive"]);
    assert_eq!(b.buttons_named("Activate").await.len(), 1);
    let (_, after) = app.get_domain(&id, &admin).await;
    assert_eq!(after["is_active"], false);
    b.page_checks(app, "domain-inactive").await;

    // The list marks it, in words as well as colour.
    b.click_link("← All domains").await;
    b.wait_for_heading("Domains").await;
    assert!(
        b.text("tr[data-domain='mail.example.com']")
            .await
            .contains("Inactive")
    );
    b.page_checks(app, "domains").await;

    // 8. Sign out: the token is forgotten, and a page needs signing in again.
    b.click_button("Sign out").await;
    b.wait_for_heading("Sign in").await;
    assert_eq!(
        b.client
            .execute("return sessionStorage.length", vec![])
            .await
            .unwrap(),
        json!(0)
    );
    b.goto(&format!("{}{path}", app.base)).await;
    b.wait_for_heading("Sign in").await;
    b.page_checks(app, "signed-out").await;

    // Every page again as a viewer: the same information, no write controls.
    b.sign_in(&viewer).await;
    b.wait_for_heading("mail.example.com").await;
    assert!(b.text("#who").await.contains("viewer"));
    b.assert_no_write_controls().await;
    assert_eq!(b.records().await.len(), 4);
    assert!(b.text(".read-only").await.contains("takes a tenant admin"));
    b.page_checks(app, "viewer-domain").await;
    b.click_link("← All domains").await;
    b.wait_for_heading("Domains").await;
    b.assert_no_write_controls().await;
    assert!(b.find_all_css("form.create").await.is_empty());
    assert_eq!(b.find_all_css("table.domains tbody tr").await.len(), 1);
    b.page_checks(app, "viewer-domains").await;
    b.click_button("Sign out").await;
    b.wait_for_heading("Sign in").await;

    // Deleting asks for the domain's name first.
    b.sign_in(&admin).await;
    b.wait_for_heading("Domains").await;
    b.click_link("mail.example.com").await;
    b.wait_for_heading("mail.example.com").await;
    b.click_button("Delete domain").await;
    b.fill("confirm", "mail.example.org").await;
    b.click_button("Delete permanently").await;
    b.wait_for_text("form.confirm .field-error", "exactly")
        .await;
    let (status, _) = app.get_domain(&id, &admin).await;
    assert_eq!(status, 200, "a wrong name deletes nothing");
    b.page_checks(app, "domain-delete-confirm").await;
    b.fill("confirm", "mail.example.com").await;
    b.click_button("Delete permanently").await;
    b.wait_for_heading("Domains").await;
    b.wait_for_text(".empty", "No domains yet").await;
    app.get_domain(&id, &admin).await.expect_status(404);

    dual_signing_with_a_return_path(app, b).await;

    b.click_button("Sign out").await;
    b.wait_for_heading("Sign in").await;
}

/// The form's other settings — both DKIM algorithms, the publishing mode and a return
/// path — and what they add to the page: a second DKIM record and key, the return
/// path's MX and SPF records, and its check.
async fn dual_signing_with_a_return_path(app: &TestApp, b: &Browser) {
    let admin = app.admin();
    assert_eq!(b.label_of("dkim_algorithms").await, "DKIM signatures");
    assert_eq!(b.label_of("dkim_mode").await, "DKIM publishing");
    assert!(
        b.label_of("return_path")
            .await
            .starts_with("Return path label")
    );
    b.fill("domain", "news.example.com").await;
    b.select("dkim_algorithms", "rsa-sha256 ed25519-sha256")
        .await;
    b.select("dkim_mode", "txt").await;
    b.fill("return_path", "bounces").await;
    b.page_checks(app, "domains-add-dual").await;
    b.click_button("Add domain").await;
    b.wait_for_heading("news.example.com").await;
    let id = b
        .path()
        .await
        .strip_prefix("/console/domains/")
        .expect("the domain's page")
        .to_owned();
    let (_, api) = app.get_domain(&id, &admin).await;
    assert_eq!(
        api["dkim_algorithms"],
        json!(["rsa-sha256", "ed25519-sha256"])
    );
    assert_eq!(api["dkim_mode"], "txt");
    assert_eq!(api["return_path_host"], "bounces.news.example.com");

    // Every record of the API, in its order: two DKIM keys, SPF, DMARC, and the return
    // path's MX and SPF.
    let rows = b.records().await;
    let expected = api_rows(&api);
    assert_eq!(rows, expected);
    let ed25519 = rows
        .iter()
        .find(|[host, _, _]| host == "scaisend-ed25519._domainkey.news.example.com")
        .expect("the Ed25519 key's record");
    assert!(
        ed25519[2].starts_with("v=DKIM1; k=ed25519; p="),
        "{ed25519:?}"
    );
    assert_eq!(
        b.find_all_css("table.records tr[data-purpose=return_path]")
            .await
            .len(),
        2
    );
    let mx = b
        .text("table.records tr[data-purpose=return_path][data-host='bounces.news.example.com'] td[data-label=Type]")
        .await;
    assert!(mx.starts_with("MX "), "{mx}");
    let facts = b.text("dl.facts").await;
    assert_shows(
        &facts,
        "the facts",
        &[
            "RSA and Ed25519",
            "TXT records",
            "bounces.news.example.com",
            "Return path verified",
        ],
    );
    assert_eq!(
        b.texts("table.keys tbody td[data-label=Algorithm]").await,
        ["RSA", "Ed25519"]
    );
    b.page_checks(app, "dual-domain-new").await;

    // Published and verified: four checks, the return path's among them, all passing.
    app.publish(&api["dns_records"]);
    b.click_button("Verify").await;
    b.wait_for_text(".notice", "Verified: every check passes")
        .await;
    assert_eq!(
        b.texts("article.check h3 .light-text").await,
        ["verified", "verified", "verified", "verified"]
    );
    let check = b.text("article.check[data-check=return_path]").await;
    assert_shows(
        &check,
        "the return path verdict",
        &[
            "Return path",
            "return_path_ok",
            "bounces.news.example.com",
            "Answered by",
        ],
    );
    let verified = b
        .text("dl.facts")
        .await
        .split_once("Return path verified")
        .map(|(_, after)| after.trim_start().to_owned())
        .unwrap_or_default();
    assert!(verified.starts_with("yes"), "{verified}");
    assert!(
        b.text("dl.facts")
            .await
            .contains("scaisend, scaisend-ed25519"),
        "both signing selectors are named"
    );
    b.page_checks(app, "dual-domain-verified").await;
    b.full_page_screenshot("dual-domain-verified-full").await;
}

/// The API's `dns_records` as the console's table shows them: (host, name in zone,
/// value) per row.
fn api_rows(api: &Value) -> Vec<[String; 3]> {
    api["dns_records"]
        .as_array()
        .expect("dns_records")
        .iter()
        .map(|r| ["host", "name", "value"].map(|k| r[k].as_str().unwrap().to_owned()))
        .collect()
}

/// A headless Chromium under its own chromedriver, with a fresh profile.
struct Browser {
    client: Client,
    driver: Child,
    shots: PathBuf,
    downloads: tempfile::TempDir,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start(test: &str) -> Browser {
        for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            assert!(
                Path::new(path).exists(),
                "{path} is missing: install Debian's `{package}` (`cargo xtask test` does)"
            );
        }
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let started = Instant::now();
        while TcpStream::connect(addr).is_err() {
            assert!(started.elapsed() < PATIENCE, "chromedriver never listened");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let downloads = tempfile::tempdir().expect("download dir");
        let mut caps = Capabilities::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                // The machine's network is closed: everything Chromium would fetch on
                // its own (updates, sync, QUIC probes) is turned off.
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
                "prefs": {
                    "download.default_directory": downloads.path().display().to_string(),
                    "download.prompt_for_download": false,
                },
            }),
        );
        caps.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://{addr}"))
            .await
            .expect("a WebDriver session starts");
        let shots = screenshot_dir().join(test);
        std::fs::create_dir_all(&shots).expect("screenshot dir");
        Browser {
            client,
            driver,
            shots,
            downloads,
            _profile: profile,
        }
    }

    async fn stop(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }

    async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigates");
    }

    async fn path(&self) -> String {
        self.client.current_url().await.unwrap().path().to_owned()
    }

    /// What every page must pass: its address serves the console's CSP and security
    /// headers, the browser logged no error, and a screenshot is kept.
    async fn page_checks(&self, app: &TestApp, name: &str) {
        let path = self.path().await;
        let response = app.get_without_token(&path).await;
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers();
        assert_eq!(
            headers["content-security-policy"],
            adapter_http::CONTENT_SECURITY_POLICY,
            "{path}"
        );
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        self.assert_only_logged(&[]).await;
        self.screenshot(name).await;
    }

    /// The browser's console since the last look holds no error, except one network
    /// refusal for each status in `expected` (a request the test made fail on purpose).
    async fn assert_only_logged(&self, expected: &[&str]) {
        let log = self
            .client
            .issue_cmd(browser_log())
            .await
            .expect("the browser log reads");
        let errors: Vec<String> = log
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
            .collect();
        let unexpected: Vec<&String> = errors
            .iter()
            .filter(|m| {
                !expected
                    .iter()
                    .any(|status| m.contains(&format!("status of {status}")))
            })
            .collect();
        assert!(unexpected.is_empty(), "console errors: {unexpected:#?}");
        assert_eq!(errors.len(), expected.len(), "console errors: {errors:#?}");
    }

    async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(self.shots.join(format!("{name}.png")), png).expect("screenshot saved");
    }

    async fn sign_in(&self, token: &str) {
        let field = self.wait_for_css("input[name=token]").await;
        field.send_keys(token).await.unwrap();
        field.send_keys("\u{E007}").await.unwrap(); // Enter
    }

    async fn label_of(&self, name: &str) -> String {
        let id = self
            .find_css(&format!("[name={name}]"))
            .await
            .attr("id")
            .await
            .unwrap()
            .unwrap();
        self.text(&format!("label[for={id}]")).await
    }

    async fn fill(&self, name: &str, value: &str) {
        let field = self.find_css(&format!("[name={name}]")).await;
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }

    async fn select(&self, name: &str, value: &str) {
        self.find_css(&format!("select[name={name}]"))
            .await
            .select_by_value(value)
            .await
            .unwrap();
    }

    async fn click_button(&self, text: &str) {
        let xpath = format!("//button[normalize-space()='{text}']");
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|_| panic!("no button {text:?}"))
            .click()
            .await
            .unwrap();
    }

    async fn click_link(&self, text: &str) {
        self.find_css_or_xpath(Locator::XPath(&format!("//a[normalize-space()='{text}']")))
            .await
            .click()
            .await
            .unwrap();
    }

    async fn buttons_named(&self, text: &str) -> Vec<Element> {
        self.client
            .find_all(Locator::XPath(&format!(
                "//button[normalize-space()='{text}']"
            )))
            .await
            .unwrap()
    }

    async fn find_css(&self, css: &str) -> Element {
        self.find_css_or_xpath(Locator::Css(css)).await
    }

    async fn find_css_or_xpath(&self, locator: Locator<'_>) -> Element {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(locator)
            .await
            .unwrap_or_else(|e| panic!("not found: {e}"))
    }

    async fn find_all_css(&self, css: &str) -> Vec<Element> {
        self.client.find_all(Locator::Css(css)).await.unwrap()
    }

    async fn wait_for_css(&self, css: &str) -> Element {
        self.find_css(css).await
    }

    async fn text(&self, css: &str) -> String {
        self.find_css(css).await.text().await.unwrap()
    }

    async fn texts(&self, css: &str) -> Vec<String> {
        let mut out = Vec::new();
        for e in self.find_all_css(css).await {
            out.push(e.text().await.unwrap());
        }
        out
    }

    async fn wait_for_heading(&self, text: &str) {
        self.wait_for_text("h1", text).await;
    }

    async fn wait_for_text(&self, css: &str, text: &str) {
        let found = until(|| async {
            for e in self.find_all_css(css).await {
                if e.text().await.is_ok_and(|t| t.contains(text)) {
                    return true;
                }
            }
            false
        })
        .await;
        assert!(
            found,
            "no {css} says {text:?}; the page says: {}",
            self.text("main").await
        );
    }

    /// The whole page, not only what the window shows (docs/console.md shows one).
    async fn full_page_screenshot(&self, name: &str) {
        let height = self
            .client
            .execute("return document.documentElement.scrollHeight", vec![])
            .await
            .unwrap()
            .as_u64()
            .unwrap();
        let (width, before) = self.client.get_window_size().await.unwrap();
        let tall = u32::try_from(height.clamp(600, 6000)).unwrap();
        self.client.set_window_size(1280, tall).await.unwrap();
        self.screenshot(name).await;
        self.client
            .set_window_size(
                u32::try_from(width).unwrap(),
                u32::try_from(before).unwrap(),
            )
            .await
            .unwrap();
    }

    /// The status light of the domain: its glyph and its words.
    async fn standing(&self) -> [String; 2] {
        [
            self.text(".standing-line .light-dot").await,
            self.text(".standing-line .light-text").await,
        ]
    }

    /// The records table as (host, name in zone, value) per row.
    async fn records(&self) -> Vec<[String; 3]> {
        let mut rows = Vec::new();
        for row in self.find_all_css("table.records tbody tr").await {
            let cell = |css: &'static str| {
                let row = row.clone();
                async move {
                    row.find(Locator::Css(css))
                        .await
                        .unwrap()
                        .text()
                        .await
                        .unwrap()
                }
            };
            rows.push([
                cell("td[data-label=Host] .copyable-host > code").await,
                cell("td[data-label=Host] .copyable-name > code").await,
                cell("td[data-label=Value] > .copyable > code").await,
            ]);
        }
        rows
    }

    /// The first Copy button puts `text` on the clipboard, and says so.
    async fn assert_copies_to_clipboard(&self, text: &str) {
        self.client
            .issue_cmd(grant_clipboard())
            .await
            .expect("clipboard permission");
        self.buttons_named("Copy").await[0].click().await.unwrap();
        self.wait_for_text("button.copy.copied", "Copied").await;
        let copied = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 navigator.clipboard.readText().then(done, (e) => done('error: ' + e));",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(copied, json!(text));
    }

    async fn assert_no_write_controls(&self) {
        for button in self.find_all_css("main button").await {
            if !button.is_displayed().await.unwrap() {
                continue;
            }
            let label = button.text().await.unwrap();
            assert!(
                READ_ONLY_BUTTONS.contains(&label.trim()),
                "a viewer sees the button {label:?}"
            );
        }
        for css in ["form.create", "form.confirm", "select", "input"] {
            assert!(
                self.find_all_css(&format!("main {css}")).await.is_empty(),
                "a viewer sees {css}"
            );
        }
    }

    async fn assert_fits_the_width(&self) {
        let widths = self
            .client
            .execute(
                "return [document.documentElement.scrollWidth, window.innerWidth]",
                vec![],
            )
            .await
            .unwrap();
        let [scroll, inner] = [widths[0].as_u64().unwrap(), widths[1].as_u64().unwrap()];
        assert!(
            scroll <= inner,
            "the page is {scroll}px wide on a {inner}px screen"
        );
    }

    /// The text of a file the browser downloaded.
    async fn downloaded(&self, name: &str) -> String {
        let path = self.downloads.path().join(name);
        let found = until(|| async { path.exists() }).await;
        assert!(found, "{name} was not downloaded");
        std::fs::read_to_string(&path).unwrap()
    }
}

/// Polls `check` until it holds, for at most [`PATIENCE`].
async fn until<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    while started.elapsed() < PATIENCE {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Asserts that `text`, what the page shows as `what`, holds each of `expected`.
#[track_caller]
fn assert_shows(text: &str, what: &str, expected: &[&str]) {
    for shown in expected {
        assert!(text.contains(shown), "{what} shows {shown}: {text}");
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `target/console-screenshots/`: beside the test binaries, not committed.
fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target dir")
        .join("console-screenshots")
}

/// A chromedriver command beyond fantoccini's: `POST session/{id}/{path}` with `body`.
#[derive(Debug)]
struct SessionCommand {
    path: &'static str,
    body: Value,
}

impl WebDriverCompatibleCommand for SessionCommand {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        let session = session.unwrap_or_default();
        base.join(&format!("session/{session}/{}", self.path))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.body.to_string()))
    }
}

/// chromedriver's command for the browser's console log since the last read.
fn browser_log() -> SessionCommand {
    SessionCommand {
        path: "se/log",
        body: json!({"type": "browser"}),
    }
}

/// WebDriver's Set Permission: lets the page read the clipboard back.
fn grant_clipboard() -> SessionCommand {
    SessionCommand {
        path: "permissions",
        body: json!({"descriptor": {"name": "clipboard-read"}, "state": "granted"}),
    }
}
