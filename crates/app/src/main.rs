//! The `scaisend-domains` binary: parses the command line and runs one command.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Parser as _;
use domain_core::ports::SystemClock;
use domain_core::{DomainName, Role, Selector, ServiceConfig};
use scaisend_domains::config::{Cli, Command, LogFormat, ServeArgs, TokenArgs};
use scaisend_domains::{App, AppParts, BlockingKeyGenerator, check, monitor, secrets};
use tokio::sync::watch;

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
    match runtime.block_on(run(cli)) {
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
            println!("migrations applied to {}", redact(&args.store.database_url));
            Ok(ExitCode::SUCCESS)
        }
        Command::Token(args) => token(&args).map(|()| ExitCode::SUCCESS),
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
            Ok(if report.all_pass() {
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
    let secrets = secrets::load(&args.secrets)?;
    let store = scaisend_domains::open_store(&args.store.database_url).await?;
    let dns = scaisend_domains::dns_lookup(&args.dns)?;
    let config = ServiceConfig {
        spf_include: DomainName::parse(&args.domains.spf_include)
            .map_err(|e| anyhow::anyhow!("SCAISEND_SPF_INCLUDE: {e}"))?,
        selector_base: Selector::parse(&args.domains.dkim_selector)
            .map_err(|e| anyhow::anyhow!("SCAISEND_DKIM_SELECTOR: {e}"))?,
        sending_ips: args.domains.sending_ips()?,
        grace: time::Duration::try_from(args.grace).context("SCAISEND_GRACE")?,
        max_domains_per_owner: args.max_domains_per_tenant,
    };
    let app = App::build(AppParts {
        store,
        dns,
        clock: Arc::new(SystemClock),
        keygen: Arc::new(BlockingKeyGenerator),
        secrets,
        config,
    })?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let monitor = args.monitor.then(|| {
        tokio::spawn(monitor::run(
            app.service.clone(),
            args.monitor_interval,
            stop_rx.clone(),
        ))
    });
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    tracing::info!(
        listen = %listener.local_addr()?,
        store = %redact(&args.store.database_url),
        monitor = args.monitor,
        "scaisend-domains serving"
    );
    axum::serve(listener, app.router)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            tracing::info!("shutting down: finishing in-flight requests");
            let _ = stop_tx.send(true);
        })
        .await
        .context("serving")?;
    if let Some(m) = monitor {
        let _ = m.await;
    }
    Ok(())
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
    let secrets = secrets::load(&args.secrets)?;
    let secret = secrets.hs256_secret.context(
        "tokens are verified with a public key here; issue them with your identity provider",
    )?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp() as u64;
    // The claims must satisfy the same rules the server applies.
    domain_core::Caller::new(&args.sub, role, args.tenant.clone(), args.partner.clone())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let claims = adapter_http::Claims {
        sub: args.sub.clone(),
        role: role.as_str().to_owned(),
        tenant_id: args.tenant.clone(),
        partner_id: args.partner.clone(),
        exp: now + args.ttl.as_secs(),
        iat: Some(now),
        iss: args.secrets.jwt_issuer.clone(),
        aud: args.secrets.jwt_audience.clone(),
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

/// A database URL without its password, for logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}
