//! Lookup latency and throughput of `HickoryDns` against a loopback `test-dns` server.
//!
//! `cargo bench -p adapter-dns --bench dns` prints a markdown table: the median and p95
//! latency of one bare TXT lookup (sequential), and raw lookups per second with 64
//! lookups in flight, each task asking its own name. hickory coalesces identical
//! queries that are in flight at once into one, so a last row asks one name from all 64
//! tasks to show that effect; it is not the raw figure. Every figure includes the
//! loopback server's own work, which runs on the same runtime, so they bound the
//! adapter's cost from above.

use std::sync::Arc;
use std::time::{Duration, Instant};

use adapter_dns::{DnsConfig, HickoryDns};
use domain_core::ports::DnsLookup;
use test_dns::{Record, TestDns};

const NAME: &str = "_dmarc.example.test";
const WARM_UP: usize = 200;
const SEQUENTIAL: usize = 2_000;
const CONCURRENCY: usize = 64;
const PER_TASK: usize = 200;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let dns = TestDns::start().await?;
    let record = "v=DMARC1; p=reject; rua=mailto:dmarc@example.test";
    dns.publish(NAME, Record::txt(record))?;
    for task in 0..CONCURRENCY {
        dns.publish(&format!("t{task}.{NAME}"), Record::txt(record))?;
    }
    let lookup = Arc::new(HickoryDns::new(DnsConfig {
        timeout: Duration::from_secs(5),
        attempts: 2,
        ..DnsConfig::with_servers(vec![dns.addr()])
    })?);

    for _ in 0..WARM_UP {
        expect_records(&lookup, NAME).await?;
    }

    let mut latencies = Vec::with_capacity(SEQUENTIAL);
    for _ in 0..SEQUENTIAL {
        let start = Instant::now();
        expect_records(&lookup, NAME).await?;
        latencies.push(start.elapsed());
    }
    latencies.sort();
    let median = latencies[latencies.len() / 2];
    let p95 = latencies[latencies.len() * 95 / 100];

    let distinct = throughput(&lookup, |task| format!("t{task}.{NAME}")).await?;
    let same = throughput(&lookup, |_| NAME.to_owned()).await?;
    let total = CONCURRENCY * PER_TASK;

    println!("| measure | value |");
    println!("|---|---|");
    println!("| TXT lookup latency, median ({SEQUENTIAL} sequential) | {median:.2?} |");
    println!("| TXT lookup latency, p95 | {p95:.2?} |");
    println!(
        "| TXT lookups/s, {CONCURRENCY} in flight, distinct names ({total} lookups) | {distinct:.0} |"
    );
    println!(
        "| TXT lookups/s, {CONCURRENCY} in flight, one name (coalesced by hickory) | {same:.0} |"
    );
    Ok(())
}

/// Lookups per second with [`CONCURRENCY`] tasks each doing [`PER_TASK`] lookups of
/// the name `name_of(task)`.
async fn throughput(
    lookup: &Arc<HickoryDns>,
    name_of: impl Fn(usize) -> String,
) -> Result<f64, Box<dyn std::error::Error>> {
    let start = Instant::now();
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|task| {
            let lookup = lookup.clone();
            let name = name_of(task);
            tokio::spawn(async move {
                for _ in 0..PER_TASK {
                    expect_records(&lookup, &name).await?;
                }
                Ok::<_, String>(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    Ok((CONCURRENCY * PER_TASK) as f64 / start.elapsed().as_secs_f64())
}

/// One lookup that must find the record: a benchmark of failures would measure nothing.
async fn expect_records(lookup: &HickoryDns, name: &str) -> Result<(), String> {
    let answer = lookup.txt(name).await;
    if answer.result.records().is_empty() {
        return Err(format!("lookup failed: {:?}", answer.result));
    }
    Ok(())
}
