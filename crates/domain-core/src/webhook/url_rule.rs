//! Where webhooks may go: the URL rules checked when an endpoint is registered, and the
//! address rule checked again after its host is resolved at send time.

use std::net::IpAddr;

use serde::Serialize;

use crate::egress::internal_range;
use crate::error::InputError;
use crate::macros::text_newtype;

use super::MAX_URL_LEN;

/// The egress rules (`SCAISEND_WEBHOOK_ALLOW_HTTP`, `SCAISEND_WEBHOOK_ALLOW_PRIVATE`):
/// both off in production.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EgressRules {
    /// Accept `http://` targets, not only `https://`.
    pub allow_http: bool,
    /// Accept targets on loopback, private, link-local, CGNAT, metadata and the other
    /// internal ranges of [`internal_range`].
    pub allow_private: bool,
}

impl EgressRules {
    /// Whether a webhook may be sent to `ip`; the error names the refused range.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), InputError> {
        match internal_range(ip) {
            Some(range) if !self.allow_private => Err(InputError::new(format!(
                "{ip} is a {range} address; webhooks go to public addresses only"
            ))),
            _ => Ok(()),
        }
    }
}

/// A webhook target URL that passed the registration rules: at most 2048 bytes,
/// `https` (or `http` when allowed), a host, no user name or password, no fragment, and
/// no internal address literal or `localhost` name unless private targets are allowed.
/// A host name's addresses are checked when it is resolved at send time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct WebhookUrl(String);

impl WebhookUrl {
    /// Checks `s` under `rules`.
    pub fn parse(s: &str, rules: &EgressRules) -> Result<Self, InputError> {
        if s.len() > MAX_URL_LEN {
            return Err(InputError::new(format!(
                "a webhook URL has at most {MAX_URL_LEN} bytes"
            )));
        }
        let url =
            url::Url::parse(s).map_err(|e| InputError::new(format!("`{s}` is not a URL: {e}")))?;
        match url.scheme() {
            "https" => {}
            "http" if rules.allow_http => {}
            "http" => {
                return Err(InputError::new("webhook URLs must use https".to_owned()));
            }
            other => {
                return Err(InputError::new(format!(
                    "webhook URLs must use https, not `{other}`"
                )));
            }
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(InputError::new(
                "a webhook URL carries no user name or password",
            ));
        }
        if url.fragment().is_some() {
            return Err(InputError::new("a webhook URL has no `#fragment`"));
        }
        match url.host() {
            None => return Err(InputError::new("a webhook URL needs a host")),
            Some(url::Host::Ipv4(ip)) => rules.check_ip(IpAddr::V4(ip))?,
            Some(url::Host::Ipv6(ip)) => rules.check_ip(IpAddr::V6(ip))?,
            Some(url::Host::Domain(name)) => {
                let name = name.trim_end_matches('.');
                if !rules.allow_private && (name == "localhost" || name.ends_with(".localhost")) {
                    return Err(InputError::new(format!(
                        "`{name}` names this host; webhooks go to public addresses only"
                    )));
                }
            }
        }
        Ok(WebhookUrl(url.to_string()))
    }

    /// A URL read back from the store, checked when it was registered.
    pub fn from_stored(s: String) -> Self {
        WebhookUrl(s)
    }
}

text_newtype!(WebhookUrl, "The URL as text.");

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: EgressRules = EgressRules {
        allow_http: false,
        allow_private: false,
    };
    const LOOSE: EgressRules = EgressRules {
        allow_http: true,
        allow_private: true,
    };

    #[test]
    fn public_https_urls_pass() {
        for url in [
            "https://hooks.example.com/scaisend",
            "https://hooks.example.com:8443/a?b=c",
            "https://93.184.215.14/hook",
            "https://[2606:4700::1111]/hook",
        ] {
            assert!(WebhookUrl::parse(url, &STRICT).is_ok(), "{url}");
        }
    }

    #[test]
    fn internal_targets_and_bad_forms_are_refused() {
        for (url, word) in [
            ("http://hooks.example.com/", "https"),
            ("ftp://hooks.example.com/", "https"),
            ("https://127.0.0.1/", "loopback"),
            ("https://[::1]/", "loopback"),
            ("https://10.1.2.3/", "private"),
            ("https://192.168.0.10/", "private"),
            ("https://169.254.169.254/latest/meta-data", "link-local"),
            ("https://100.64.0.1/", "CGNAT"),
            ("https://0.0.0.0/", "this network"),
            ("https://224.0.0.1/", "multicast"),
            ("https://[::ffff:127.0.0.1]/", "loopback"),
            ("https://[fd00::1]/", "unique local"),
            ("https://2130706433/", "loopback"),
            ("https://localhost/", "this host"),
            ("https://api.localhost./", "this host"),
            ("https://user:pw@hooks.example.com/", "password"),
            ("https://hooks.example.com/#x", "fragment"),
            ("not a url", "not a URL"),
        ] {
            let err = WebhookUrl::parse(url, &STRICT).expect_err(url);
            assert!(err.message().contains(word), "{url}: {}", err.message());
        }
        let long = format!("https://hooks.example.com/{}", "a".repeat(MAX_URL_LEN));
        assert!(WebhookUrl::parse(&long, &STRICT).is_err());
    }

    #[test]
    fn the_test_settings_allow_loopback_over_http() {
        assert!(WebhookUrl::parse("http://127.0.0.1:8080/hook", &LOOSE).is_ok());
        assert!(WebhookUrl::parse("http://localhost:8080/hook", &LOOSE).is_ok());
    }
}
