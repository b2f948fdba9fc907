//! The `scaisend-domains` binary: parses the command line and runs one command.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser as _;
use domain_core::ports::SystemClock;
use domain_core::{Role, ServiceConfig, ZoneSource};
use hyper_util::server::graceful::GracefulShutdown;
use scaisend_domains::config::{
    Cli, Command, DnsServeArgs, LogFormat, ServeArgs, TokenArgs, redact_url, selector_base,
};
use scaisend_domains::zone::ServedZone;
use scaisend_domains::{
    App, AppParts, BlockingKeyGenerator, check, monitor, secrets, server, webhooks,
};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::time::Instant;

/// How long blocking work (key generation, say) may delay the exit once the async work
/// is over: the shutdown grace has been spent by then.
const BLOCKING_EXIT_WAIT: Duration = Duration::from_secs(1);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    // Dropping the runtime would wait for every blocking task without a bound.
    runtime.shutdown_timeout(BLOCKING_EXIT_WAIT);
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve(*args).await.map(|()| ExitCode::SUCCESS),
        Command::Migrate(args) => {
            init_logging(LogFormat::Text);
            scaisend_domains::open_store(&args.store.database_url).await?;
            println!(
                "migrations applied to {}",
                redact_url(&args.store.database_url)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Token(args) => token(&args).map(|()| ExitCode::SUCCESS),
        Command::Dns(args) => serve_dns(*args).await.map(|()| ExitCode::SUCCESS),
        Command::Check(args) => {
            let (domain, report) = check::run(&args).await?;
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&check::to_json(&domain, &report))?
                );
            } else {
                print!("{}", check::to_text(&domain, &report));
            }
            Ok(if check::every_check_passes(&report) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Openapi => {
            println!(
                "{}",
                serde_json::to_string_pretty(&adapter_http::openapi())?
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn serve(args: ServeArgs) -> Result<()> {
    init_logging(args.log_format);
    let limits = args.limits.limits()?;
    let secrets = secrets::load(&args.secrets, &args.production_signals())?;
    let store = scaisend_domains::open_store(&args.store.database_url).await?;
    let dns = scaisend_domains::dns_lookup(&args.dns)?;
    let config = ServiceConfig {
        spf_include: args.domains.spf_include()?,
        selector_base: selector_base(&args.domains.dkim_selector)?,
        sending_ips: args.domains.sending_ips()?,
        grace: time::Duration::try_from(args.grace).context("SCAISEND_GRACE")?,
        max_domains_per_owner: args.limits.max_domains_per_tenant,
        zone: args.domains.zone.zone()?,
        dkim_propagation: time::Duration::try_from(args.domains.zone.propagation())
            .context("SCAISEND_DKIM_PROPAGATION")?,
        dkim_retire_after: time::Duration::try_from(args.domains.zone.dkim_retire_after)
            .context("SCAISEND_DKIM_RETIRE_AFTER")?,
        bounce_mx: args.domains.bounce_mx()?,
        default_return_path: args.domains.default_return_path()?,
        decision_ttl: args.speed.decision_ttl()?,
        ..ServiceConfig::default()
    };
    let app = App::build(AppParts {
        store,
        dns,
        clock: Arc::new(SystemClock),
        keygen: Arc::new(BlockingKeyGenerator::per_core()),
        secrets,
        config,
        limits,
        separate_internal: args.internal_listen.is_some(),
        webhooks: webhooks::WebhookParts {
            config: args.webhooks.config()?,
            sender: args.webhooks.sender()?,
        },
        key_pool: args.speed.key_pool,
    })?;
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let internal_listener = listen_if_set(args.internal_listen, "SCAISEND_INTERNAL_LISTEN").await?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let zone = match args.zone_server.dns_listen {
        Some(addr) => Some(
            ServedZone::start(
                app.service.zone_source(),
                addr,
                args.zone_server.dkim_zone_refresh,
                app.metrics.clone(),
                stop_rx.clone(),
            )
            .await?,
        ),
        None => None,
    };
    // Aborted at shutdown: a key being generated is simply not stored.
    let key_pool = app.key_pool.clone().map(|refill| refill.spawn());
    // Aborted at shutdown too: it only makes caches forget.
    let changes = app.changes.clone().map(|follower| follower.spawn());
    let mut monitor = args.monitor.then(|| {
        tokio::spawn(monitor::run(
            app.service.clone(),
            args.monitor_interval,
            stop_rx.clone(),
        ))
    });
    let mut webhook_worker = args.webhooks.webhook_worker.then(|| {
        tokio::spawn(webhooks::run(
            app.webhooks.clone(),
            args.webhooks.worker(),
            stop_rx.clone(),
        ))
    });
    tracing::info!(
        listen = %listener.local_addr()?,
        internal_listen = ?args.internal_listen,
        dns_listen = ?zone.as_ref().map(ServedZone::local_addr),
        store = %redact_url(&args.store.database_url),
        monitor = args.monitor,
        "scaisend-domains serving"
    );
    let header_timeout = args.limits.header_timeout;
    let connections = GracefulShutdown::new();
    let public = server::accept(
        listener,
        app.router,
        header_timeout,
        &connections,
        stop_rx.clone(),
    );
    let internal = async {
        if let (Some(listener), Some(router)) = (internal_listener, app.internal_router) {
            server::accept(listener, router, header_timeout, &connections, stop_rx).await;
        }
    };
    let signal = async move {
        shutdown_signal().await;
        tracing::info!(
            grace = ?args.limits.shutdown_grace,
            "shutting down: finishing in-flight requests and monitor checks"
        );
        let _ = stop_tx.send(true);
    };
    tokio::join!(public, internal, signal);
    for task in [&key_pool, &changes].into_iter().flatten() {
        task.abort();
    }

    // One deadline for everything still running: in-flight requests and the monitor's
    // current checks. Whatever is left after it is abandoned; the store rolls back open
    // transactions, and the monitor's leases expire on their own.
    let deadline = Instant::now() + args.limits.shutdown_grace;
    let drain = async {
        if tokio::time::timeout_at(deadline, connections.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("shutdown grace over: closing connections with requests in flight");
        }
    };
    let stop_monitor = async {
        if let Some(task) = monitor.as_mut()
            && tokio::time::timeout_at(deadline, task).await.is_err()
        {
            tracing::warn!("shutdown grace over: abandoning the monitor's checks under way");
        }
    };
    let stop_zone = async {
        if let Some(zone) = zone {
            zone.shutdown(deadline.saturating_duration_since(Instant::now()))
                .await;
        }
    };
    let stop_webhooks = async {
        if let Some(task) = webhook_worker.as_mut()
            && tokio::time::timeout_at(deadline, task).await.is_err()
        {
            tracing::warn!("shutdown grace over: abandoning webhook attempts under way");
        }
    };
    tokio::join!(drain, stop_monitor, stop_zone, stop_webhooks);
    if let Some(task) = webhook_worker {
        task.abort();
    }
    if let Some(task) = monitor {
        task.abort();
    }
    tracing::info!("stopped");
    Ok(())
}

/// `dns`: our DKIM zone alone, read from the store, with `/metrics` and `/healthz` over
/// HTTP when asked for. It loads no secret.
async fn serve_dns(args: DnsServeArgs) -> Result<()> {
    init_logging(args.log_format);
    let addr = args
        .zone_server
        .dns_listen
        .context("SCAISEND_DNS_LISTEN must be set: the address to serve the DKIM zone on")?;
    let store = scaisend_domains::open_store(&args.store.database_url).await?;
    let selector_base = selector_base(&args.dkim_selector)?;
    let source = ZoneSource::new(store.repo.clone(), args.zone.zone()?, selector_base);
    let metrics = Arc::new(telemetry::Metrics::new());
    let (stop_tx, stop_rx) = watch::channel(false);
    let zone = ServedZone::start(
        source,
        addr,
        args.zone_server.dkim_zone_refresh,
        metrics.clone(),
        stop_rx.clone(),
    )
    .await?;
    let http = listen_if_set(args.metrics_listen, "SCAISEND_METRICS_LISTEN").await?;
    tracing::info!(
        dns_listen = %zone.local_addr(),
        metrics_listen = ?args.metrics_listen,
        store = %redact_url(&args.store.database_url),
        "scaisend-domains serving the DKIM zone"
    );
    let connections = GracefulShutdown::new();
    let metrics_server = async {
        if let Some(listener) = http {
            let router = scaisend_domains::zone::metrics_router(metrics.clone(), store.repo);
            server::accept(
                listener,
                router,
                Duration::from_secs(10),
                &connections,
                stop_rx,
            )
            .await;
        }
    };
    let signal = async move {
        shutdown_signal().await;
        tracing::info!(grace = ?args.shutdown_grace, "shutting down");
        let _ = stop_tx.send(true);
    };
    tokio::join!(metrics_server, signal);
    let deadline = Instant::now() + args.shutdown_grace;
    let drain = async {
        let _ = tokio::time::timeout_at(deadline, connections.shutdown()).await;
    };
    tokio::join!(drain, zone.shutdown(args.shutdown_grace));
    tracing::info!("stopped");
    Ok(())
}

/// A listener on the address of an optional setting, if it is set.
async fn listen_if_set(addr: Option<SocketAddr>, variable: &str) -> Result<Option<TcpListener>> {
    let Some(addr) = addr else {
        return Ok(None);
    };
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr} ({variable})"))?;
    Ok(Some(listener))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

fn token(args: &TokenArgs) -> Result<()> {
    let role = Role::parse(&args.role).map_err(|e| anyhow::anyhow!("--role: {e}"))?;
    // The claims must satisfy the same rules the server applies.
    domain_core::Caller::new(&args.sub, role, args.tenant.clone(), args.partner.clone())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    // Service tokens are signed with the service key: the internal endpoints accept no
    // other.
    let secret = secrets::signing_secret(&args.secrets, role == Role::Service)?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp() as u64;
    let claims = adapter_http::Claims {
        sub: args.sub.clone(),
        role: role.as_str().to_owned(),
        tenant_id: args.tenant.clone(),
        partner_id: args.partner.clone(),
        exp: now + args.ttl.as_secs(),
        iat: Some(now),
        iss: args.secrets.jwt_issuer.clone(),
        aud: args
            .secrets
            .jwt_audience
            .clone()
            .map(adapter_http::Audience::from),
    };
    let token = adapter_http::issue_token(&secret, &claims).map_err(anyhow::Error::msg)?;
    println!("{token}");
    Ok(())
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new("info,sqlx=warn,hickory_resolver=warn,hickory_proto=warn")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
