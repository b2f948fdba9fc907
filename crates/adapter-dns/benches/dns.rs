//! Lookup latency and throughput of `HickoryDns` against a loopback `test-dns` server,
//! next to the same for a whole domain verification (`domain_core::verify::check_domain`
//! over the adapter).
//!
//! `cargo bench -p adapter-dns --bench dns` prints a markdown table: the median and p95
//! latency of one bare TXT lookup (sequential), and raw lookups per second with 64
//! lookups in flight, each task asking its own name. hickory coalesces identical
//! queries that are in flight at once into one, so a row asks one name from all 64
//! tasks to show that effect; it is not the raw figure. Then one verification's median
//! latency against one lookup's (goal ≤ 1.5×), and bulk verification's DNS query rate
//! against the raw lookup rate (goal ≥ 0.7×). Every figure includes the loopback
//! server's own work, which runs on the same runtime, so they bound the adapter's cost
//! from above.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use adapter_dns::{DnsConfig, HickoryDns};
use domain_core::ports::{DnsAnswer, DnsLookup, MxRecord, TxtRecordData};
use domain_core::records::dkim::DkimKeyRecord;
use domain_core::verify::{CheckStatus, DkimKeys, DomainExpectation, check_domain};
use domain_core::{DmarcPolicy, DomainName, Selector};
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

    let verification = Verification::publish(&dns)?;
    for _ in 0..WARM_UP / 4 {
        verification.run(lookup.as_ref()).await?;
    }
    let mut v_latencies = Vec::with_capacity(VERIFICATIONS);
    for _ in 0..VERIFICATIONS {
        let start = Instant::now();
        verification.run(lookup.as_ref()).await?;
        v_latencies.push(start.elapsed());
    }
    v_latencies.sort();
    let v_median = v_latencies[v_latencies.len() / 2];
    let v_p95 = v_latencies[v_latencies.len() * 95 / 100];

    // Bulk: each task verifies a domain of its own, as a monitor round over many domains
    // does (identical queries in flight at once would be merged into one).
    let domains: Vec<Arc<Verification>> = (0..CONCURRENCY)
        .map(|n| Verification::publish_as(&dns, &format!("d{n}.example.test")).map(Arc::new))
        .collect::<Result<_, _>>()?;
    // Raw lookups and bulk verification alternate three times; the ratio reported is
    // the median of the three, so both sides meet the same noise from the machine.
    let mut rounds = Vec::new();
    for _ in 0..3 {
        let raw = throughput(&lookup, |task| format!("t{task}.{NAME}")).await?;
        let bulk = bulk(&dns, &lookup, &domains).await?;
        rounds.push((raw, bulk));
    }
    rounds.sort_by(|a, b| (a.1.lookups_per_s / a.0).total_cmp(&(b.1.lookups_per_s / b.0)));
    let (raw_rate, bulk) = rounds[1];
    let verifications = CONCURRENCY * BULK_PER_TASK;

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
    println!(
        "| one verification (DKIM 2048-bit, SPF via include, DMARC), median ({VERIFICATIONS} sequential) | {v_median:.2?} |"
    );
    println!("| one verification, p95 | {v_p95:.2?} |");
    let (loop_lookup, loop_verification) = with_round_trip(Duration::ZERO, 1000).await?;
    println!(
        "| one TXT lookup and one verification, alternating, medians (1000 each) | {loop_lookup:.2?} and {loop_verification:.2?} |"
    );
    println!(
        "| **verification latency ÷ one lookup's**, alternating (goal ≤ 1.5) | **{:.2}** |",
        loop_verification.as_secs_f64() / loop_lookup.as_secs_f64()
    );
    // The same comparison with a 2 ms round trip, as on a real network: on bare
    // loopback a round trip is mostly CPU, which the concurrent queries of a
    // verification share with the server on this machine's two cores.
    let (rtt_lookup, rtt_verification) = with_round_trip(Duration::from_millis(2), 200).await?;
    println!("| one TXT lookup, median, server answering after 2 ms | {rtt_lookup:.2?} |");
    println!("| one verification, median, server answering after 2 ms | {rtt_verification:.2?} |");
    println!(
        "| **verification ÷ lookup with a 2 ms round trip** (goal ≤ 1.5) | **{:.2}** |",
        rtt_verification.as_secs_f64() / rtt_lookup.as_secs_f64()
    );
    println!(
        "| bulk verifications/s, {CONCURRENCY} in flight, a domain per task ({verifications} verifications) | {:.0} |",
        bulk.verifications_per_s
    );
    println!(
        "| lookups/s made by bulk verification ({:.1} per verification; the server saw {:.1}, hickory merging the include host's identical queries), and raw lookups/s in the same round | {:.0} and {raw_rate:.0} |",
        bulk.lookups_per_verification, bulk.queries_per_verification, bulk.lookups_per_s,
    );
    println!(
        "| **bulk verification's lookup rate ÷ raw lookup rate**, median of 3 alternating rounds (goal ≥ 0.7) | **{:.2}** |",
        bulk.lookups_per_s / raw_rate
    );
    Ok(())
}

const VERIFICATIONS: usize = 500;

/// What one bulk round measured.
#[derive(Clone, Copy)]
struct Bulk {
    verifications_per_s: f64,
    lookups_per_s: f64,
    lookups_per_verification: f64,
    queries_per_verification: f64,
}

/// Verifies `domains`, one task each, [`BULK_PER_TASK`] times.
async fn bulk(
    dns: &TestDns,
    lookup: &Arc<HickoryDns>,
    domains: &[Arc<Verification>],
) -> Result<Bulk, Box<dyn std::error::Error>> {
    let queries_before = dns.queries().len();
    let counted = Arc::new(Counted {
        inner: lookup.clone(),
        lookups: AtomicUsize::new(0),
    });
    let start = Instant::now();
    let tasks: Vec<_> = domains
        .iter()
        .map(|verification| {
            let lookup = counted.clone();
            let verification = verification.clone();
            tokio::spawn(async move {
                for _ in 0..BULK_PER_TASK {
                    verification.run(lookup.as_ref()).await?;
                }
                Ok::<_, String>(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let verifications = (domains.len() * BULK_PER_TASK) as f64;
    let lookups = counted.lookups.load(Ordering::Relaxed) as f64;
    let queries = (dns.queries().len() - queries_before) as f64;
    Ok(Bulk {
        verifications_per_s: verifications / elapsed,
        lookups_per_s: lookups / elapsed,
        lookups_per_verification: lookups / verifications,
        queries_per_verification: queries / verifications,
    })
}

/// Median latency of one lookup and of one verification against a server that waits
/// `delay` before each answer.
async fn with_round_trip(
    delay: Duration,
    samples: usize,
) -> Result<(Duration, Duration), Box<dyn std::error::Error>> {
    let dns = TestDns::start_with(test_dns::Options {
        answer_delay: delay,
        ..test_dns::Options::default()
    })
    .await?;
    let verification = Verification::publish(&dns)?;
    let lookup = HickoryDns::new(DnsConfig {
        timeout: Duration::from_secs(5),
        attempts: 2,
        ..DnsConfig::with_servers(vec![dns.addr()])
    })?;
    // Lookups and verifications alternate, so that both meet the same noise from the
    // rest of the machine.
    let mut lookups = Vec::with_capacity(samples);
    let mut verifications = Vec::with_capacity(samples);
    for _ in 0..samples {
        let start = Instant::now();
        expect_records(&lookup, "_dmarc.mail.example.test").await?;
        lookups.push(start.elapsed());
        let start = Instant::now();
        verification.run(&lookup).await?;
        verifications.push(start.elapsed());
    }
    lookups.sort();
    verifications.sort();
    Ok((lookups[samples / 2], verifications[samples / 2]))
}

/// Counts the lookups verification makes through the adapter.
struct Counted {
    inner: Arc<HickoryDns>,
    lookups: AtomicUsize,
}

impl Counted {
    /// The adapter, for one more lookup.
    fn count(&self) -> &HickoryDns {
        self.lookups.fetch_add(1, Ordering::Relaxed);
        &self.inner
    }
}

#[async_trait::async_trait]
impl DnsLookup for Counted {
    async fn txt(&self, name: &str) -> DnsAnswer<TxtRecordData> {
        self.count().txt(name).await
    }
    async fn a(&self, name: &str) -> DnsAnswer<Ipv4Addr> {
        self.count().a(name).await
    }
    async fn aaaa(&self, name: &str) -> DnsAnswer<Ipv6Addr> {
        self.count().aaaa(name).await
    }
    async fn mx(&self, name: &str) -> DnsAnswer<MxRecord> {
        self.count().mx(name).await
    }
    async fn ptr(&self, ip: IpAddr) -> DnsAnswer<String> {
        self.count().ptr(ip).await
    }
    async fn cname(&self, name: &str) -> DnsAnswer<String> {
        self.count().cname(name).await
    }
}
const BULK_PER_TASK: usize = 40;

/// A domain whose every record is published right, as after a successful setup.
struct Verification {
    domain: DomainName,
    selector: Selector,
    include: DomainName,
    key: domain_core::records::dkim::DkimPublicKey,
}

impl Verification {
    fn publish(dns: &TestDns) -> Result<Self, Box<dyn std::error::Error>> {
        dns.publish(
            "scaisend.example.net",
            Record::txt("v=spf1 ip4:192.0.2.0/24 -all"),
        )?;
        Self::publish_as(dns, "mail.example.test")
    }

    fn publish_as(dns: &TestDns, domain: &str) -> Result<Self, Box<dyn std::error::Error>> {
        let key = domain_core::testing::key(0).public.clone();
        let v = Verification {
            domain: DomainName::parse(domain)?,
            selector: Selector::parse("scaisend")?,
            include: DomainName::parse("scaisend.example.net")?,
            key,
        };
        dns.publish(
            &format!("scaisend._domainkey.{domain}"),
            Record::txt(DkimKeyRecord::for_key(&v.key).to_string()),
        )?;
        dns.publish(
            domain,
            Record::txt("v=spf1 include:scaisend.example.net ~all"),
        )?;
        dns.publish(
            &format!("_dmarc.{domain}"),
            Record::txt("v=DMARC1; p=quarantine"),
        )?;
        Ok(v)
    }

    /// One verification, which must pass: a benchmark of failures would measure nothing.
    async fn run(&self, dns: &dyn DnsLookup) -> Result<(), String> {
        let report = check_domain(
            dns,
            &DomainExpectation {
                domain: &self.domain,
                dkim: DkimKeys::Txt(vec![(&self.selector, Some(&self.key))]),
                dkim_pending: None,
                include_host: &self.include,
                sending_ips: &[],
                dmarc_policy: Some(DmarcPolicy::Quarantine),
                dmarc_rua: None,
                return_path: None,
            },
        )
        .await;
        for v in report.verdicts.iter() {
            if v.status != CheckStatus::Verified {
                return Err(format!("verification failed: {v:?}"));
            }
        }
        Ok(())
    }
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
