//! `adapter-webhook`: the [`WebhookSender`] port on reqwest with rustls, under the egress
//! rules of [`domain_core::webhook::EgressRules`].
//!
//! A key design decision: the client resolves target names itself ([`CheckedResolver`])
//! and hands reqwest only the addresses it checked, so that the address connected to is
//! the address judged — a name that resolves to a public address at registration and to
//! `127.0.0.1` at send time (DNS rebinding) is refused, and so is a name with any
//! internal address among its answers. Address literals, which reqwest connects to
//! without resolving, are checked before the request. No proxy is used (a proxy would
//! resolve for us), redirects are not followed, every request is bounded in time, and at
//! most 1 KiB of an answer's body is read.
//!
//! Why reqwest: it is the most used and best maintained HTTP client in Rust, built on
//! hyper, which the service already runs under axum; its TLS is rustls, configured here
//! on the AWS-LC provider and the platform trust store (through
//! `rustls-platform-verifier`) that hickory already brings in. It exposes what the egress rules need: a custom resolver, no
//! redirects, no proxy, and timeouts.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use domain_core::ports::{SendResult, WebhookRequest, WebhookSender};
use domain_core::webhook::EgressRules;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use rustls_platform_verifier::BuilderVerifierExt;

/// How much of an answer's body is read, at most.
pub const MAX_BODY: usize = 1024;
/// The default time bound of one attempt, connection included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Settings of the sender.
#[derive(Debug, Clone, Copy)]
pub struct SenderConfig {
    /// Which targets are allowed.
    pub egress: EgressRules,
    /// The time bound of one attempt.
    pub timeout: Duration,
}

impl Default for SenderConfig {
    fn default() -> Self {
        SenderConfig {
            egress: EgressRules::default(),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// The HTTP client could not be built (its TLS configuration).
#[derive(Debug, thiserror::Error)]
#[error("the webhook HTTP client cannot be built: {0}")]
pub struct BuildError(String);

/// Sends webhooks with reqwest.
#[derive(Debug, Clone)]
pub struct HttpSender {
    client: reqwest::Client,
    config: SenderConfig,
}

impl HttpSender {
    /// A sender under `config`.
    pub fn new(config: SenderConfig) -> Result<Self, BuildError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| BuildError(e.to_string()))?
            .with_platform_verifier()
            .map_err(|e| BuildError(e.to_string()))?
            .with_no_client_auth();
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .dns_resolver(Arc::new(CheckedResolver {
                rules: config.egress,
            }))
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .user_agent(concat!("ScaiSend-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| BuildError(e.to_string()))?;
        Ok(HttpSender { client, config })
    }

    /// Checks the target before any traffic: the scheme, and an address literal (which
    /// is connected to without resolving).
    fn check_target(&self, url: &str) -> Result<reqwest::Url, String> {
        let url = reqwest::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
        match url.scheme() {
            "https" => {}
            "http" if self.config.egress.allow_http => {}
            other => return Err(format!("refused: scheme `{other}` is not allowed")),
        }
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(ip.into()),
            Some(url::Host::Ipv6(ip)) => Some(ip.into()),
            Some(url::Host::Domain(_)) => None,
            None => return Err("refused: no host".to_owned()),
        };
        if let Some(ip) = literal {
            self.config
                .egress
                .check_ip(ip)
                .map_err(|e| format!("refused: {}", e.message()))?;
        }
        Ok(url)
    }

    async fn post(&self, url: reqwest::Url, request: &WebhookRequest) -> Result<u16, String> {
        let mut response = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &request.id)
            .header("webhook-timestamp", request.timestamp.to_string())
            .header("webhook-signature", &request.signature)
            .body(request.body.clone())
            .send()
            .await
            .map_err(|e| describe(&e, self.config.timeout))?;
        let status = response.status().as_u16();
        // Read at most MAX_BODY bytes, then drop the connection's remainder.
        let mut read = 0;
        while read < MAX_BODY {
            match response.chunk().await {
                Ok(Some(chunk)) => read += chunk.len(),
                Ok(None) | Err(_) => break,
            }
        }
        Ok(status)
    }
}

#[async_trait]
impl WebhookSender for HttpSender {
    async fn send(&self, request: &WebhookRequest) -> SendResult {
        let started = Instant::now();
        let outcome = match self.check_target(&request.url) {
            Ok(url) => self.post(url, request).await,
            Err(refused) => Err(refused),
        };
        let latency = started.elapsed();
        match outcome {
            Ok(status) => SendResult {
                status: Some(status),
                error: None,
                latency,
            },
            Err(error) => SendResult {
                status: None,
                error: Some(error),
                latency,
            },
        }
    }
}

/// A short description of a failed request, with the cause reqwest wraps (an egress
/// refusal by the resolver among them).
fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!("timed out after {} s", timeout.as_secs_f64());
    }
    let mut text = if e.is_connect() {
        "connection failed".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Resolves names with the system resolver and passes on their addresses only if every
/// one of them is allowed; the client then connects to exactly those.
#[derive(Debug)]
struct CheckedResolver {
    rules: EgressRules,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let rules = self.rules;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addrs.is_empty() {
                return Err(format!("{host} has no address").into());
            }
            for addr in &addrs {
                rules.check_ip(addr.ip()).map_err(|e| {
                    Box::<dyn std::error::Error + Send + Sync>::from(format!(
                        "refused: {host} resolves to {}",
                        e.message()
                    ))
                })?;
            }
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    fn request(url: String) -> WebhookRequest {
        WebhookRequest {
            url,
            id: "msg_1".into(),
            timestamp: 1,
            signature: "v1,AAAA".into(),
            body: "{}".into(),
        }
    }

    /// A loopback server answering every connection with `answer`; counts connections.
    async fn server(answer: &'static str) -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = count.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut buf = vec![0u8; 8192];
                let _ = socket.read(&mut buf).await;
                let _ = socket.write_all(answer.as_bytes()).await;
            }
        });
        (addr, count)
    }

    const LOOSE: EgressRules = EgressRules {
        allow_http: true,
        allow_private: true,
    };

    #[tokio::test]
    async fn loopback_is_refused_by_literal_and_by_name_without_a_connection() {
        let (addr, count) = server("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await;
        let strict = HttpSender::new(SenderConfig {
            egress: EgressRules {
                allow_http: true,
                allow_private: false,
            },
            timeout: Duration::from_secs(5),
        })
        .unwrap();
        for url in [
            format!("http://{addr}/hook"),
            format!("http://localhost:{}/hook", addr.port()),
        ] {
            let r = strict.send(&request(url.clone())).await;
            assert_eq!(r.status, None, "{url}");
            let error = r.error.unwrap();
            assert!(
                error.contains("refused") && error.contains("loopback"),
                "{url}: {error}"
            );
        }
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 0);
        let https_only = HttpSender::new(SenderConfig::default()).unwrap();
        let r = https_only.send(&request(format!("http://{addr}/"))).await;
        assert!(r.error.unwrap().contains("scheme"));
    }

    #[tokio::test]
    async fn allowed_targets_get_the_request_and_redirects_are_not_followed() {
        let (addr, count) = server("HTTP/1.1 204 No Content\r\n\r\n").await;
        let sender = HttpSender::new(SenderConfig {
            egress: LOOSE,
            timeout: Duration::from_secs(5),
        })
        .unwrap();
        let r = sender
            .send(&request(format!("http://localhost:{}/hook", addr.port())))
            .await;
        assert_eq!(r.status, Some(204), "{:?}", r.error);
        let (moved, moved_count) = server(
            "HTTP/1.1 307 Temporary Redirect\r\nlocation: http://127.0.0.1:9/\r\ncontent-length: 0\r\n\r\n",
        )
        .await;
        let r = sender.send(&request(format!("http://{moved}/"))).await;
        assert_eq!(r.status, Some(307));
        assert_eq!(moved_count.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(count.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    }

    #[tokio::test]
    async fn a_silent_server_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let sender = HttpSender::new(SenderConfig {
            egress: LOOSE,
            timeout: Duration::from_millis(300),
        })
        .unwrap();
        let r = sender.send(&request(format!("http://{addr}/"))).await;
        assert!(r.error.unwrap().contains("timed out"));
    }
}
