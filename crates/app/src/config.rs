//! The command line. Every flag also reads an environment variable (docs/operations.md, "Configuration"), with
//! defaults that let a newcomer run the service with no set-up at all.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use domain_core::DomainName;

/// ScaiSend Domains: prove, publish, verify and rotate sender domains.
#[derive(Debug, Parser)]
#[command(name = "scaisend-domains", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate the store if needed, serve the API and run the monitor.
    Serve(Box<ServeArgs>),
    /// Apply the store's migrations and exit.
    Migrate(MigrateArgs),
    /// Print a JWT signed with the configured HS256 secret — the service secret for
    /// `--role service` (development and tests).
    Token(TokenArgs),
    /// Serve only our DKIM zone over DNS (UDP and TCP), for hosts that do nothing else.
    /// It reads the store and needs no secret.
    Dns(Box<DnsServeArgs>),
    /// Check a domain's SPF, DMARC and DKIM records in live DNS, without the store.
    Check(CheckArgs),
    /// Print the OpenAPI document.
    #[command(hide = true)]
    Openapi,
}

/// Where the store is.
#[derive(Clone, Args)]
pub struct StoreArgs {
    /// `sqlite://path.db` (created if missing) or `postgres://…`.
    #[arg(
        long,
        env = "SCAISEND_DATABASE_URL",
        default_value = "sqlite://scaisend.db"
    )]
    pub database_url: String,
}

impl std::fmt::Debug for StoreArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreArgs")
            .field("database_url", &redact_url(&self.database_url))
            .finish()
    }
}

impl StoreArgs {
    /// Whether the store is a server rather than a local file.
    pub fn is_server(&self) -> bool {
        !self.database_url.starts_with("sqlite:")
    }
}

/// Secrets: the admin token key, the service token key, and the master key that seals
/// DKIM private keys.
#[derive(Clone, Args)]
pub struct SecretArgs {
    /// Where development secrets are generated and kept (mode 0600).
    #[arg(long, env = "SCAISEND_DATA_DIR", default_value = ".scaisend")]
    pub data_dir: PathBuf,
    /// HS256 secret for tokens (at least 32 bytes). Without it (and without a public
    /// key), a development secret is generated into the data directory.
    #[arg(long, env = "SCAISEND_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// A PEM public key (or a path to one) to verify RS256 or EdDSA tokens instead.
    #[arg(long, env = "SCAISEND_JWT_PUBLIC_KEY", hide_env_values = true)]
    pub jwt_public_key: Option<String>,
    /// The algorithm of `--jwt-public-key`.
    #[arg(
        long,
        env = "SCAISEND_JWT_ALGORITHM",
        value_enum,
        default_value = "rs256"
    )]
    pub jwt_algorithm: PublicKeyAlgorithm,
    /// When set, tokens (admin and service) must carry this `iss`.
    #[arg(long, env = "SCAISEND_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// When set, tokens (admin and service) must carry this `aud` (a string, or an array
    /// holding it).
    #[arg(long, env = "SCAISEND_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// HS256 secret for service tokens, the only credential of the internal endpoints
    /// (at least 32 bytes, different from the admin secret). Without it (and without a
    /// public key), a development secret is generated into the data directory.
    #[arg(long, env = "SCAISEND_SERVICE_JWT_SECRET", hide_env_values = true)]
    pub service_jwt_secret: Option<String>,
    /// A PEM public key (or a path to one) to verify RS256 or EdDSA service tokens instead.
    #[arg(long, env = "SCAISEND_SERVICE_JWT_PUBLIC_KEY", hide_env_values = true)]
    pub service_jwt_public_key: Option<String>,
    /// The algorithm of `--service-jwt-public-key`.
    #[arg(
        long,
        env = "SCAISEND_SERVICE_JWT_ALGORITHM",
        value_enum,
        default_value = "rs256"
    )]
    pub service_jwt_algorithm: PublicKeyAlgorithm,
    /// Key-encryption key for DKIM private keys: 32 bytes, base64. Without it a
    /// development key is generated into the data directory.
    #[arg(long, env = "SCAISEND_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<String>,
    /// Refuse to start with generated development secrets.
    #[arg(long, env = "SCAISEND_PRODUCTION", default_value_t = false)]
    pub production: bool,
}

impl std::fmt::Debug for SecretArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets are shown as set or not, never as values; a `Debug` print ends up in
        // logs and panic messages.
        let set = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        f.debug_struct("SecretArgs")
            .field("data_dir", &self.data_dir)
            .field("jwt_secret", &set(&self.jwt_secret))
            .field("jwt_public_key", &set(&self.jwt_public_key))
            .field("jwt_algorithm", &self.jwt_algorithm)
            .field("jwt_issuer", &self.jwt_issuer)
            .field("jwt_audience", &self.jwt_audience)
            .field("service_jwt_secret", &set(&self.service_jwt_secret))
            .field("service_jwt_public_key", &set(&self.service_jwt_public_key))
            .field("service_jwt_algorithm", &self.service_jwt_algorithm)
            .field("master_key", &set(&self.master_key))
            .field("production", &self.production)
            .finish()
    }
}

impl SecretArgs {
    /// What in these settings says "production": the explicit switch, or any configured
    /// token key.
    pub fn production_signals(&self) -> Vec<String> {
        let mut signals = Vec::new();
        if self.production {
            signals.push("SCAISEND_PRODUCTION=true".to_owned());
        }
        for (value, name) in [
            (&self.jwt_secret, "SCAISEND_JWT_SECRET"),
            (&self.jwt_public_key, "SCAISEND_JWT_PUBLIC_KEY"),
            (&self.service_jwt_secret, "SCAISEND_SERVICE_JWT_SECRET"),
            (
                &self.service_jwt_public_key,
                "SCAISEND_SERVICE_JWT_PUBLIC_KEY",
            ),
        ] {
            if value.is_some() {
                signals.push(format!("{name} is set"));
            }
        }
        signals
    }
}

/// Algorithms for public-key tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PublicKeyAlgorithm {
    /// RSA PKCS#1 v1.5 with SHA-256.
    Rs256,
    /// Ed25519.
    Eddsa,
}

/// How DNS is asked.
#[derive(Debug, Clone, Args)]
pub struct DnsArgs {
    /// Comma-separated `ip:port` servers to query instead of the system resolver (which
    /// also disables authoritative-first lookups).
    #[arg(long, env = "SCAISEND_DNS_SERVERS")]
    pub dns_servers: Option<String>,
    /// Timeout of one DNS query, in milliseconds.
    #[arg(long, env = "SCAISEND_DNS_TIMEOUT_MS", default_value_t = 3000)]
    pub dns_timeout_ms: u64,
    /// Attempts per DNS query.
    #[arg(long, env = "SCAISEND_DNS_ATTEMPTS", default_value_t = 2)]
    pub dns_attempts: usize,
    /// Ask each zone's authoritative nameservers first (when no servers are given).
    #[arg(long, env = "SCAISEND_DNS_AUTHORITATIVE_FIRST", default_value_t = true, action = clap::ArgAction::Set)]
    pub dns_authoritative_first: bool,
    /// Also query nameserver addresses learned from DNS that are internal (loopback,
    /// private, link-local, CGNAT, …). For test setups only: in production a zone must
    /// not be able to point our queries into our own network.
    #[arg(long, env = "SCAISEND_DNS_ALLOW_PRIVATE", default_value_t = false, action = clap::ArgAction::Set)]
    pub dns_allow_private: bool,
    /// The most DNS queries outstanding at once, across all verifications.
    #[arg(
        long,
        env = "SCAISEND_DNS_MAX_INFLIGHT",
        default_value_t = adapter_dns::DEFAULT_MAX_IN_FLIGHT,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=65_536)
    )]
    pub dns_max_inflight: usize,
}

impl DnsArgs {
    /// The explicit servers, if any.
    pub fn servers(&self) -> Result<Option<Vec<SocketAddr>>> {
        let Some(list) = self.dns_servers.as_deref().filter(|s| !s.trim().is_empty()) else {
            return Ok(None);
        };
        list.split(',')
            .map(|s| {
                let s = s.trim();
                s.parse::<SocketAddr>()
                    .or_else(|_| s.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
                    .with_context(|| format!("SCAISEND_DNS_SERVERS: `{s}` is not ip:port"))
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }
}

/// What we ask domains to publish.
#[derive(Debug, Clone, Args)]
pub struct DomainArgs {
    /// Our SPF include host.
    #[arg(long, env = "SCAISEND_SPF_INCLUDE", default_value = domain_core::service::DEFAULT_SPF_INCLUDE)]
    pub spf_include: String,
    /// The DKIM selector base (`scaisend`, then `scaisend2`, …).
    #[arg(long, env = "SCAISEND_DKIM_SELECTOR", default_value = domain_core::service::DEFAULT_SELECTOR)]
    pub dkim_selector: String,
    /// Comma-separated sending addresses that SPF must authorize; empty: read them from
    /// the include host's own SPF record.
    #[arg(long, env = "SCAISEND_SENDING_IPS")]
    pub sending_ips: Option<String>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub zone: ZoneArgs,
    /// Our bounce mail exchanger: the MX every return-path host must name.
    #[arg(long, env = "SCAISEND_BOUNCE_MX", default_value = domain_core::service::DEFAULT_BOUNCE_MX)]
    pub bounce_mx: String,
    /// The MAIL FROM domain of mail from a domain without a verified return path.
    #[arg(long, env = "SCAISEND_DEFAULT_RETURN_PATH", default_value = domain_core::service::DEFAULT_RETURN_PATH)]
    pub default_return_path: String,
}

/// Our authoritative DKIM zone, which serves the keys of `cname`-mode domains.
#[derive(Debug, Clone, Args)]
pub struct ZoneArgs {
    /// The zone apex: CNAME slots point at `<selector>.<label>.<zone>`.
    #[arg(long, env = "SCAISEND_DKIM_ZONE", default_value = domain_core::zone::DEFAULT_ZONE)]
    pub dkim_zone: String,
    /// Comma-separated names of the zone's nameservers, for its NS and SOA records;
    /// empty: `ns1.<zone>`.
    #[arg(long, env = "SCAISEND_DKIM_ZONE_NS")]
    pub dkim_zone_ns: Option<String>,
    /// The TTL of every record the zone serves.
    #[arg(long, env = "SCAISEND_DKIM_TTL", default_value = "300s", value_parser = parse_duration)]
    pub dkim_ttl: Duration,
    /// How long a new key is served before it signs; empty: twice the TTL.
    #[arg(long, env = "SCAISEND_DKIM_PROPAGATION", value_parser = parse_duration)]
    pub dkim_propagation: Option<Duration>,
    /// How long a retired key is still served before its private key is destroyed.
    #[arg(long, env = "SCAISEND_DKIM_RETIRE_AFTER", default_value = "7d", value_parser = parse_duration)]
    pub dkim_retire_after: Duration,
}

impl ZoneArgs {
    /// The zone's settings.
    pub fn zone(&self) -> Result<domain_core::zone::ZoneConfig> {
        let apex = domain_core::DomainName::parse(&self.dkim_zone)
            .map_err(|e| anyhow::anyhow!("SCAISEND_DKIM_ZONE: {e}"))?;
        let mut zone = domain_core::zone::ZoneConfig::for_apex(apex);
        let nameservers = self
            .dkim_zone_ns
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                domain_core::DomainName::parse(s)
                    .map_err(|e| anyhow::anyhow!("SCAISEND_DKIM_ZONE_NS: `{s}`: {e}"))
            })
            .collect::<Result<Vec<_>>>()?;
        if !nameservers.is_empty() {
            zone.nameservers = nameservers;
        }
        if self.dkim_ttl.is_zero() || self.dkim_ttl > MAX_TTL {
            bail!("SCAISEND_DKIM_TTL must be between 1s and 1d");
        }
        zone.ttl = self.dkim_ttl;
        Ok(zone)
    }

    /// How long a new CNAME-mode key is served before it signs.
    pub fn propagation(&self) -> Duration {
        self.dkim_propagation.unwrap_or(self.dkim_ttl * 2)
    }
}

/// The longest TTL the zone accepts: a day, so that a key change is never hidden longer.
const MAX_TTL: Duration = Duration::from_secs(86_400);

impl DomainArgs {
    /// The SPF include host.
    pub fn spf_include(&self) -> Result<DomainName> {
        host(&self.spf_include, "SCAISEND_SPF_INCLUDE")
    }

    /// The bounce mail exchanger.
    pub fn bounce_mx(&self) -> Result<DomainName> {
        host(&self.bounce_mx, "SCAISEND_BOUNCE_MX")
    }

    /// The platform's return path.
    pub fn default_return_path(&self) -> Result<DomainName> {
        host(&self.default_return_path, "SCAISEND_DEFAULT_RETURN_PATH")
    }

    /// The sending addresses.
    pub fn sending_ips(&self) -> Result<Vec<IpAddr>> {
        self.sending_ips
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpAddr>()
                    .with_context(|| format!("SCAISEND_SENDING_IPS: `{s}` is not an IP address"))
            })
            .collect()
    }
}

/// A host name setting, its variable named in the error.
fn host(value: &str, variable: &str) -> Result<DomainName> {
    DomainName::parse(value).map_err(|e| anyhow::anyhow!("{variable}: {e}"))
}

/// Log output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "SCAISEND_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// When set, the internal endpoints (`/api/internal/*`) are served only on this
    /// address, and answer `404` on the public one.
    #[arg(long, env = "SCAISEND_INTERNAL_LISTEN")]
    pub internal_listen: Option<SocketAddr>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub store: StoreArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub secrets: SecretArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub dns: DnsArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub domains: DomainArgs,
    /// Run the background monitor in this process.
    #[arg(long, env = "SCAISEND_MONITOR", default_value_t = true, action = clap::ArgAction::Set)]
    pub monitor: bool,
    /// How often the monitor looks for due domains.
    #[arg(long, env = "SCAISEND_MONITOR_INTERVAL", default_value = "30s", value_parser = parse_duration)]
    pub monitor_interval: Duration,
    /// How long a verified domain may fail monitor checks before it is unverified.
    #[arg(long, env = "SCAISEND_GRACE", default_value = "72h", value_parser = parse_duration)]
    pub grace: Duration,
    /// `text` or `json`.
    #[arg(long, env = "SCAISEND_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub limits: LimitArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub zone_server: ZoneServerArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub webhooks: crate::webhooks::WebhookArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub speed: SpeedArgs,
}

/// Caches and pools on the hot paths (docs/operations.md, "Speed").
#[derive(Debug, Clone, Args)]
pub struct SpeedArgs {
    /// How long a send-time decision or a read domain is served from this instance's
    /// caches: the longest another instance's change (a deactivation) goes unseen here
    /// while PostgreSQL's change feed is down. 0 turns them off.
    #[arg(long, env = "SCAISEND_DECISION_TTL", default_value = "5s", value_parser = parse_duration)]
    pub decision_ttl: Duration,
    /// RSA keys of each size (2048, 3072, 4096 bits) generated ahead of time, so that a
    /// create does not wait for one; refilled in the background. 0 turns the pool off.
    #[arg(long, env = "SCAISEND_KEY_POOL", default_value_t = domain_core::service::PooledKeys::DEFAULT_SIZE)]
    pub key_pool: u64,
}

impl SpeedArgs {
    /// [`Self::decision_ttl`] for the core.
    pub fn decision_ttl(&self) -> Result<time::Duration> {
        time::Duration::try_from(self.decision_ttl).context("SCAISEND_DECISION_TTL")
    }
}

/// Our DKIM zone's DNS server (docs/operations.md, "Our DKIM zone").
#[derive(Debug, Clone, Args)]
pub struct ZoneServerArgs {
    /// Serve our DKIM zone over UDP and TCP on this address (port 53 in production).
    #[arg(long, env = "SCAISEND_DNS_LISTEN")]
    pub dns_listen: Option<SocketAddr>,
    /// How often the zone is read again from the store: every instance serves a change
    /// within this time. Between 100ms and 5s.
    #[arg(long, env = "SCAISEND_DKIM_ZONE_REFRESH", default_value = "2s", value_parser = parse_zone_refresh)]
    pub dkim_zone_refresh: Duration,
}

/// `dns`: our DKIM zone alone.
#[derive(Debug, Clone, Args)]
pub struct DnsServeArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub zone_server: ZoneServerArgs,
    /// Also serve `/metrics` and `/healthz` over HTTP on this address.
    #[arg(long, env = "SCAISEND_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub store: StoreArgs,
    /// The DKIM selector base, which names the CNAME slots; the same as the API's.
    #[arg(long, env = "SCAISEND_DKIM_SELECTOR", default_value = domain_core::service::DEFAULT_SELECTOR)]
    pub dkim_selector: String,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub zone: ZoneArgs,
    /// After SIGTERM, how long the answers under way get before the process exits.
    #[arg(long, env = "SCAISEND_SHUTDOWN_GRACE", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,
    /// `text` or `json`.
    #[arg(long, env = "SCAISEND_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

/// `SCAISEND_DKIM_SELECTOR` as a selector base: valid itself, and valid with the longest
/// suffix a selector gets from it (`<base>2-ed25519`, a CNAME slot of an Ed25519 key), so
/// that no slot can go missing because its name would be too long.
pub fn selector_base(base: &str) -> Result<domain_core::Selector> {
    use domain_core::records::dkim::Algorithm;
    let selector = domain_core::Selector::parse(base)
        .map_err(|e| anyhow::anyhow!("SCAISEND_DKIM_SELECTOR: {e}"))?;
    for algorithm in Algorithm::ALL {
        domain_core::rotation::selector_for(&selector, 2, algorithm).map_err(|e| {
            anyhow::anyhow!("SCAISEND_DKIM_SELECTOR `{base}` is too long for its selectors: {e}")
        })?;
    }
    Ok(selector)
}

/// The shortest and longest `SCAISEND_DKIM_ZONE_REFRESH`: each read loads every
/// CNAME-mode domain, and the issue of several instances answering alike allows 5 s.
const ZONE_REFRESH: std::ops::RangeInclusive<Duration> =
    Duration::from_millis(100)..=Duration::from_secs(5);

fn parse_zone_refresh(s: &str) -> Result<Duration> {
    let refresh = parse_duration(s)?;
    if !ZONE_REFRESH.contains(&refresh) {
        bail!("`{s}` is outside 100ms..=5s");
    }
    Ok(refresh)
}

impl ServeArgs {
    /// What in this configuration says "production": anything but a local SQLite file
    /// and loopback listeners, or any configured token key. With any of it, every secret
    /// must be configured; zero-configuration development has none of it.
    pub fn production_signals(&self) -> Vec<String> {
        let mut signals = Vec::new();
        if self.store.is_server() {
            signals.push("SCAISEND_DATABASE_URL is not SQLite".to_owned());
        }
        if !self.listen.ip().is_loopback() {
            signals.push(format!("SCAISEND_LISTEN {} is not loopback", self.listen));
        }
        if let Some(internal) = self.internal_listen.filter(|a| !a.ip().is_loopback()) {
            signals.push(format!(
                "SCAISEND_INTERNAL_LISTEN {internal} is not loopback"
            ));
        }
        signals.extend(self.secrets.production_signals());
        signals
    }
}

/// What one client may cost: rates, concurrency, timeouts, and the shutdown grace.
#[derive(Debug, Clone, Args)]
pub struct LimitArgs {
    /// Changes (POST, PUT, PATCH, DELETE) per second one tenant may make through the
    /// admin API, on average; 0 turns the limit off.
    #[arg(long, env = "SCAISEND_RATE_LIMIT", default_value_t = 20)]
    pub rate_limit: u32,
    /// Changes one tenant may make at once after a quiet spell; 0 turns the limit off.
    #[arg(long, env = "SCAISEND_RATE_BURST", default_value_t = 100)]
    pub rate_burst: u32,
    /// Internal requests served at once; more answer 503 with Retry-After. Default:
    /// four per CPU.
    #[arg(long, env = "SCAISEND_INTERNAL_CONCURRENCY")]
    pub internal_concurrency: Option<usize>,
    /// How long a client may take to send a request's headers; also how long an idle
    /// keep-alive connection stays open.
    #[arg(long, env = "SCAISEND_HEADER_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub header_timeout: Duration,
    /// Time limit of a request (admin API, sender authorization, operations).
    #[arg(long, env = "SCAISEND_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub request_timeout: Duration,
    /// Time limit of `POST …/verify`.
    #[arg(long, env = "SCAISEND_VERIFY_TIMEOUT", default_value = "90s", value_parser = parse_duration)]
    pub verify_timeout: Duration,
    /// Time limit of `POST /api/internal/dkim/sign` and `…/sign-batch`, body upload
    /// included.
    #[arg(long, env = "SCAISEND_SIGN_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub sign_timeout: Duration,
    /// The most domains one tenant (or one partner, for its shared domains) may have;
    /// more are refused with 409.
    #[arg(long, env = "SCAISEND_MAX_DOMAINS_PER_TENANT", default_value_t = domain_core::service::DEFAULT_MAX_DOMAINS_PER_OWNER)]
    pub max_domains_per_tenant: u64,
    /// After SIGTERM, how long in-flight requests and the monitor get before the process
    /// exits.
    #[arg(long, env = "SCAISEND_SHUTDOWN_GRACE", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,
}

impl LimitArgs {
    /// The HTTP edge's limits.
    pub fn limits(&self) -> Result<adapter_http::Limits> {
        let header = self.header_timeout;
        if header.is_zero() || header > Duration::from_secs(30) {
            bail!("SCAISEND_HEADER_TIMEOUT must be from 1s to 30s");
        }
        for (name, d) in [
            ("SCAISEND_REQUEST_TIMEOUT", self.request_timeout),
            ("SCAISEND_VERIFY_TIMEOUT", self.verify_timeout),
            ("SCAISEND_SIGN_TIMEOUT", self.sign_timeout),
        ] {
            if d.is_zero() {
                bail!("{name} must be at least 1s");
            }
        }
        if self.internal_concurrency == Some(0) {
            bail!("SCAISEND_INTERNAL_CONCURRENCY must be at least 1");
        }
        Ok(adapter_http::Limits {
            rate: adapter_http::RateLimit {
                per_second: self.rate_limit,
                burst: self.rate_burst,
            },
            internal_concurrency: self
                .internal_concurrency
                .unwrap_or_else(adapter_http::default_internal_concurrency),
            timeouts: adapter_http::Timeouts {
                request: self.request_timeout,
                verify: self.verify_timeout,
                sign: self.sign_timeout,
            },
        })
    }
}

/// `migrate`.
#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub store: StoreArgs,
}

/// `token`.
#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// `tenant_admin`, `tenant_viewer`, `partner_operator` or `service`.
    #[arg(long)]
    pub role: String,
    /// The `tenant_id` claim.
    #[arg(long)]
    pub tenant: Option<String>,
    /// The `partner_id` claim.
    #[arg(long)]
    pub partner: Option<String>,
    /// The `sub` claim.
    #[arg(long, default_value = "dev-user")]
    pub sub: String,
    /// Lifetime, e.g. `15m`, `1h`, `7d`.
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub ttl: Duration,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub secrets: SecretArgs,
}

/// `check`.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// The domain to check.
    pub domain: String,
    /// The DKIM selector to check.
    #[arg(long, default_value = domain_core::service::DEFAULT_SELECTOR)]
    pub selector: String,
    /// Also check the return-path host `<label>.<domain>` (its MX and SPF records).
    #[arg(long)]
    pub return_path: Option<String>,
    /// Print the verdicts as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub dns: DnsArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub domains: DomainArgs,
}

/// A database URL without its password (in the userinfo or a `password=` parameter),
/// for logs and `Debug`.
pub fn redact_url(url: &str) -> String {
    let url = match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    };
    let Some((base, query)) = url.split_once('?') else {
        return url;
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{base}?{}", query.join("&"))
}

/// `30s`, `15m`, `72h`, `7d`, or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let s = s.trim();
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = digits
        .parse()
        .with_context(|| format!("`{s}` is not a duration such as 500ms, 30s, 15m, 72h or 7d"))?;
    let millis_per_unit: u64 = match unit {
        "ms" => 1,
        "" | "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => bail!("`{s}` has an unknown unit; use ms, s, m, h or d"),
    };
    let millis = n
        .checked_mul(millis_per_unit)
        .with_context(|| format!("`{s}` is too long"))?;
    Ok(Duration::from_millis(millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_duration("72h").unwrap(), Duration::from_secs(259_200));
        assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(604_800));
        assert_eq!(parse_duration("45").unwrap(), Duration::from_secs(45));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_zone_refresh("2s").is_ok());
        assert!(parse_zone_refresh("50ms").is_err(), "too often");
        assert!(
            parse_zone_refresh("6s").is_err(),
            "slower than the 5 s promise"
        );
        assert!(selector_base("scaisend").is_ok());
        // A 55-octet label is valid, but `<base>2-ed25519` would be 64 octets long.
        assert!(selector_base(&"s".repeat(55)).is_err());
        assert!(selector_base(&"s".repeat(54)).is_ok());
        assert!(parse_duration("1y").is_err());
        assert!(parse_duration("h").is_err());
    }

    #[test]
    fn dns_servers_and_sending_ips_parse() {
        let dns = DnsArgs {
            dns_servers: Some("127.0.0.1:5353, 192.0.2.1".into()),
            dns_timeout_ms: 1,
            dns_attempts: 1,
            dns_authoritative_first: true,
            dns_allow_private: false,
            dns_max_inflight: 1,
        };
        assert_eq!(
            dns.servers().unwrap().unwrap(),
            vec![
                "127.0.0.1:5353".parse::<SocketAddr>().unwrap(),
                "192.0.2.1:53".parse().unwrap()
            ]
        );
        let bad = DnsArgs {
            dns_servers: Some("nope".into()),
            ..dns
        };
        assert!(bad.servers().is_err());
        let d = domains(&[
            "--sending-ips",
            "192.0.2.1, 2001:db8::1",
            "--bounce-mx",
            "feedback.example.net",
            "--default-return-path",
            "not a name",
            "--spf-include",
            "x",
        ])
        .unwrap();
        assert_eq!(d.sending_ips().unwrap().len(), 2);
        assert_eq!(d.bounce_mx().unwrap().as_str(), "feedback.example.net");
        let e = d.default_return_path().unwrap_err().to_string();
        assert!(e.starts_with("SCAISEND_DEFAULT_RETURN_PATH: "), "{e}");
        assert!(
            d.spf_include()
                .unwrap_err()
                .to_string()
                .contains("SCAISEND_SPF_INCLUDE")
        );
    }

    fn domains(args: &[&str]) -> Result<DomainArgs, clap::Error> {
        let argv = ["scaisend-domains", "check", "example.com"]
            .iter()
            .chain(args)
            .copied();
        match Cli::try_parse_from(argv).map(|cli| cli.command) {
            Ok(Command::Check(check)) => Ok(check.domains),
            Ok(other) => panic!("parsed as {other:?}"),
            Err(e) => Err(e),
        }
    }

    #[test]
    fn the_dkim_zone_settings_parse_with_their_defaults() {
        let defaults = domains(&[]).unwrap().zone;
        let zone = defaults.zone().unwrap();
        assert_eq!(zone.apex.as_str(), domain_core::zone::DEFAULT_ZONE);
        assert_eq!(
            zone.nameservers[0].as_str(),
            format!("ns1.{}", domain_core::zone::DEFAULT_ZONE)
        );
        assert_eq!(zone.ttl, Duration::from_secs(300));
        assert_eq!(defaults.propagation(), Duration::from_secs(600));
        assert_eq!(defaults.dkim_retire_after, Duration::from_secs(7 * 86_400));

        let set = domains(&[
            "--dkim-zone",
            "keys.example.net",
            "--dkim-zone-ns",
            "a.ns.example.net, b.ns.example.net",
            "--dkim-ttl",
            "60s",
        ])
        .unwrap()
        .zone;
        let zone = set.zone().unwrap();
        assert_eq!(zone.apex.as_str(), "keys.example.net");
        assert_eq!(zone.nameservers.len(), 2);
        assert_eq!(set.propagation(), Duration::from_secs(120));

        let refused = |args: &[&str]| domains(args).unwrap().zone.zone().is_err();
        assert!(refused(&["--dkim-zone", "not a name"]));
        assert!(refused(&["--dkim-zone-ns", "ok.example, bad name"]));
        assert!(refused(&["--dkim-ttl", "0s"]));
        assert!(refused(&["--dkim-ttl", "2d"]));
        assert!(domains(&["--dkim-retire-after", "99999999999999999999d"]).is_err());
        assert!(parse_duration("999999999999999999d").is_err());
    }

    #[test]
    fn the_dns_egress_and_concurrency_settings_parse() {
        let dns = |args: &[&str]| {
            let argv = ["scaisend-domains", "check", "example.com"]
                .iter()
                .chain(args)
                .copied();
            match Cli::try_parse_from(argv).map(|cli| cli.command) {
                Ok(Command::Check(check)) => Ok(check.dns),
                Ok(other) => panic!("parsed as {other:?}"),
                Err(e) => Err(e),
            }
        };
        let defaults = dns(&[]).unwrap();
        assert!(!defaults.dns_allow_private);
        assert_eq!(defaults.dns_max_inflight, 256);
        let set = dns(&["--dns-allow-private", "true", "--dns-max-inflight", "8"]).unwrap();
        assert!(set.dns_allow_private);
        assert_eq!(set.dns_max_inflight, 8);
        // No slot at all would make every lookup fail: refused at start-up instead.
        assert!(dns(&["--dns-max-inflight", "0"]).is_err());
        assert!(dns(&["--dns-allow-private", "maybe"]).is_err());
    }

    #[test]
    fn the_cli_parses() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn debug_output_redacts_every_secret() {
        use clap::Parser as _;
        let secrets = [
            "admin-jwt-secret-0123456789abcdefghijklmnop",
            "service-jwt-secret-0123456789abcdefghijklmn",
            "bWFzdGVyLWtleS1tYXN0ZXIta2V5LW1hc3Rlci1rZXk=",
            "db-password-in-userinfo",
            "db-password-in-query",
        ];
        let cli = Cli::try_parse_from([
            "scaisend-domains",
            "serve",
            "--jwt-secret",
            secrets[0],
            "--service-jwt-secret",
            secrets[1],
            "--master-key",
            secrets[2],
            "--database-url",
            &format!(
                "postgres://scaisend:{}@db.internal:5432/domains?sslmode=disable&password={}",
                secrets[3], secrets[4]
            ),
        ])
        .unwrap();
        let printed = format!("{cli:?} {cli:#?}");
        for secret in secrets {
            assert!(!printed.contains(secret), "{secret} in {printed}");
        }
        // What is not secret stays readable.
        assert!(printed.contains("db.internal:5432/domains"), "{printed}");
        assert!(printed.contains("sslmode=disable"), "{printed}");
        assert!(
            printed.contains("jwt_secret: Some(\"<redacted>\")"),
            "{printed}"
        );

        let token = Cli::try_parse_from([
            "scaisend-domains",
            "token",
            "--role",
            "service",
            "--service-jwt-secret",
            secrets[1],
        ])
        .unwrap();
        assert!(!format!("{token:?}").contains(secrets[1]));
    }

    #[test]
    fn database_urls_lose_their_passwords() {
        for (url, redacted) in [
            ("postgres://u:pw@h/db", "postgres://u:***@h/db"),
            ("postgres://u@h/db", "postgres://u:***@h/db"),
            (
                "postgres://h/db?password=pw&sslmode=disable",
                "postgres://h/db?password=***&sslmode=disable",
            ),
            (
                "postgres://h/db?PASSWORD=pw",
                "postgres://h/db?PASSWORD=***",
            ),
            ("sqlite://scaisend.db", "sqlite://scaisend.db"),
        ] {
            assert_eq!(redact_url(url), redacted, "{url}");
        }
    }

    #[test]
    fn production_signals_are_a_server_database_public_listeners_or_configured_keys() {
        use clap::Parser as _;
        let signals = |args: &[&str]| {
            let mut all = vec!["scaisend-domains", "serve"];
            all.extend_from_slice(args);
            match Cli::try_parse_from(all).unwrap().command {
                Command::Serve(serve) => serve.production_signals(),
                _ => unreachable!("serve parses as serve"),
            }
        };
        // Zero configuration, and loopback on either listener, is development.
        assert!(signals(&[]).is_empty());
        assert!(
            signals(&[
                "--listen",
                "[::1]:8080",
                "--internal-listen",
                "127.0.0.2:9090"
            ])
            .is_empty()
        );
        for args in [
            &["--listen", "0.0.0.0:8080"][..],
            &["--listen", "192.0.2.1:8080"],
            &["--internal-listen", "[::]:9090"],
            &["--database-url", "postgres://h/db"],
            &["--jwt-secret", "x"],
            &["--jwt-public-key", "x"],
            &["--service-jwt-secret", "x"],
            &["--service-jwt-public-key", "x"],
            &["--production"],
        ] {
            assert_eq!(signals(args).len(), 1, "{args:?}");
        }
    }
}
