//! `HickoryDns`: the lookup strategy (explicit servers, or authoritative-first with the
//! recursive resolver as fall-back), CNAME chasing across zones, and the time bound.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use domain_core::ports::{DnsAnswer, DnsLookup, DnsResult, MxRecord, TxtRecordData};
use hickory_resolver::config::ResolverOpts;
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use hickory_resolver::{PoolContext, TlsConfig};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::Error;
use crate::config::DnsConfig;
use crate::upstream::{MAX_CHAIN, Outcome, Upstream};
use crate::zones::{Zone, ZoneCache};
use domain_core::egress::internal_range;

/// How many nameserver addresses of one zone are tried before falling back.
const MAX_ZONE_SERVERS: usize = 4;

/// The [`DnsLookup`] port on hickory: every query goes to a known server, nothing is
/// cached except which servers hold a zone, and each lookup is bounded by
/// `timeout × attempts`.
pub struct HickoryDns {
    resolvers: Vec<Upstream>,
    authoritative: Option<Authoritative>,
    context: Arc<PoolContext>,
    in_flight: Arc<Semaphore>,
    timeout: Duration,
    attempts: usize,
    deadline: Duration,
}

/// The authoritative-first part: where nameservers listen and what was found.
struct Authoritative {
    port: u16,
    zones: ZoneCache,
    /// Whether learned internal addresses may be queried (test setups only).
    allow_private: bool,
}

impl std::fmt::Debug for HickoryDns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let resolvers: Vec<&str> = self.resolvers.iter().map(|r| &*r.label).collect();
        f.debug_struct("HickoryDns")
            .field("resolvers", &resolvers)
            .field("authoritative_first", &self.authoritative.is_some())
            .field("timeout", &self.timeout)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

impl HickoryDns {
    /// Builds the adapter. Reads the system resolver configuration only when neither
    /// `servers` nor `recursive` is set. Building needs no runtime; lookups need tokio's.
    pub fn new(config: DnsConfig) -> Result<Self, Error> {
        let mut options = ResolverOpts::default();
        options.timeout = config.timeout;
        // One server per pool: hickory never races two servers, so we always know who
        // answered; retries and fall-backs are ours.
        options.num_concurrent_reqs = 1;
        options.case_randomization = false;
        let tls = TlsConfig::new().map_err(|e| Error::Setup(e.to_string()))?;
        let context = Arc::new(PoolContext::new(options, tls));

        let (addrs, authoritative_first) = match (&config.servers, &config.recursive) {
            (Some(servers), _) => (servers.clone(), false),
            (None, Some(recursive)) => (recursive.clone(), config.authoritative_first),
            (None, None) => (system_resolvers()?, config.authoritative_first),
        };
        if addrs.is_empty() {
            return Err(Error::NoServers);
        }
        let in_flight = Arc::new(Semaphore::new(
            config.max_in_flight.clamp(1, Semaphore::MAX_PERMITS),
        ));
        let resolvers = addrs
            .iter()
            .enumerate()
            .map(|(index, addr)| {
                let label = resolver_label(*addr, index, addrs.len());
                Upstream::new(label, *addr, true, &context, &in_flight)
            })
            .collect();
        let authoritative = authoritative_first.then(|| Authoritative {
            port: config.nameserver_port,
            zones: ZoneCache::new(config.zone_cache_ttl),
            allow_private: config.allow_private,
        });
        Ok(HickoryDns {
            resolvers,
            authoritative,
            context,
            in_flight,
            timeout: config.timeout,
            attempts: config.attempts.max(1),
            deadline: config.lookup_deadline(),
        })
    }

    /// Looks up `name`/`rtype`, following CNAMEs, within `timeout × attempts`.
    async fn lookup<T>(
        &self,
        name: Result<Name, String>,
        rtype: RecordType,
        convert: impl Fn(&RData) -> Option<T>,
    ) -> DnsAnswer<T> {
        let name = match name {
            Ok(name) => name,
            Err(why) => return answer(DnsResult::TempFail(why), None),
        };
        let deadline = Instant::now() + self.deadline;
        // Who was asked last, kept outside the bounded future so that a lookup cut off
        // by the deadline still says whom it was waiting for.
        let last_server = Mutex::new(None);
        let work = self.chase(name, rtype, deadline, &last_server);
        let outcome = match tokio::time::timeout_at(deadline, work).await {
            Ok(outcome) => outcome,
            Err(_) => self.out_of_time(),
        };
        let server = last_server.lock().unwrap_or_else(|e| e.into_inner()).take();
        let result = match outcome {
            Outcome::Records(records) => {
                let converted: Vec<T> = records.iter().filter_map(&convert).collect();
                if converted.is_empty() {
                    DnsResult::NoData
                } else {
                    DnsResult::Records(converted)
                }
            }
            Outcome::NxDomain => DnsResult::NxDomain,
            Outcome::NoData => DnsResult::NoData,
            Outcome::TempFail(why) => DnsResult::TempFail(why),
            // `chase` resolves aliases; one left over means the chain was too long.
            Outcome::Alias(_) => {
                DnsResult::TempFail(format!("a CNAME chain longer than {MAX_CHAIN}"))
            }
        };
        answer(result, server)
    }

    /// Resolves `name`, and again each alias target a server left unresolved (a CNAME
    /// into another zone), up to [`MAX_CHAIN`] hops.
    async fn chase(
        &self,
        mut name: Name,
        rtype: RecordType,
        deadline: Instant,
        last_server: &Mutex<Option<String>>,
    ) -> Outcome {
        let mut seen = vec![name.clone()];
        loop {
            let outcome = self.resolve(&name, rtype, deadline, last_server).await;
            let Outcome::Alias(target) = outcome else {
                return outcome;
            };
            if seen.contains(&target) || seen.len() > MAX_CHAIN {
                return Outcome::TempFail(format!(
                    "a CNAME chain from {} that loops or is longer than {MAX_CHAIN}",
                    display(&seen[0])
                ));
            }
            seen.push(target.clone());
            name = target;
        }
    }

    /// One name, without chasing: the zone's nameservers first when configured, then
    /// the resolvers.
    async fn resolve(
        &self,
        name: &Name,
        rtype: RecordType,
        deadline: Instant,
        last_server: &Mutex<Option<String>>,
    ) -> Outcome {
        let mut failure = None;
        if let Some(auth) = &self.authoritative
            && let Some(zone) = self.zone_for(auth, name, deadline).await
        {
            // The nameservers share one query's time, and never more than half the
            // lookup's: where the network blocks direct queries to port 53, each would
            // time out, and the resolver must still have time to answer.
            let share = self.timeout.min(self.deadline / 2);
            let nameservers_until = deadline.min(Instant::now() + share);
            for server in &zone.servers {
                let Some(budget) = self.budget(nameservers_until) else {
                    break;
                };
                set(last_server, &server.label);
                let outcome = server.ask(name, rtype, budget).await;
                if !outcome.is_temp_fail() {
                    return outcome;
                }
                // A nameserver that fails says nothing about the record: try the next,
                // then the resolvers, whose answer may be older but is an answer.
                failure = Some(outcome);
            }
        }
        match self.ask_resolvers(name, rtype, deadline, last_server).await {
            Some(outcome) => outcome,
            None => failure.unwrap_or_else(|| self.out_of_time()),
        }
    }

    /// Asks the resolvers in turn, `attempts` times in all, until one answers; `None`
    /// if no time was left to ask.
    async fn ask_resolvers(
        &self,
        name: &Name,
        rtype: RecordType,
        deadline: Instant,
        last_server: &Mutex<Option<String>>,
    ) -> Option<Outcome> {
        let mut last = None;
        for attempt in 0..self.attempts {
            let Some(budget) = self.budget(deadline) else {
                break;
            };
            let resolver = &self.resolvers[attempt % self.resolvers.len()];
            set(last_server, &resolver.label);
            let outcome = resolver.ask(name, rtype, budget).await;
            if !outcome.is_temp_fail() {
                return Some(outcome);
            }
            last = Some(outcome);
        }
        last
    }

    fn out_of_time(&self) -> Outcome {
        Outcome::TempFail(format!("no answer within {:?}", self.deadline))
    }

    /// The zone `name` is in and its nameservers' addresses, found through the
    /// resolvers; `None` when that fails, so that the resolvers answer instead.
    async fn zone_for(
        &self,
        auth: &Authoritative,
        name: &Name,
        deadline: Instant,
    ) -> Option<Arc<Zone>> {
        if let Some(zone) = auth.zones.zone_of(name) {
            return Some(zone);
        }
        let apex = self.find_apex(name, deadline).await?;
        let zone = match auth.zones.zone(&apex) {
            Some(zone) => zone,
            None => {
                let zone = Arc::new(self.find_nameservers(auth, &apex, deadline).await?);
                auth.zones.remember_zone(&apex, zone.clone());
                zone
            }
        };
        auth.zones.remember_name(name, &apex);
        Some(zone)
    }

    /// The apex of the zone holding `name`: asks for its SOA, which the answer carries
    /// (at the apex) or the negative answer's authority section does (below it); walks
    /// up a label when neither does, as when `name` is an alias.
    async fn find_apex(&self, name: &Name, deadline: Instant) -> Option<Name> {
        let mut candidate = name.clone();
        while !candidate.is_root() {
            let reply = self
                .query_resolvers(&candidate, RecordType::SOA, deadline)
                .await?;
            if let Some(owner) = reply.soa_owner()
                && owner.zone_of(&candidate)
                && !owner.is_root()
            {
                return Some(owner.clone());
            }
            candidate = candidate.base_name();
        }
        None
    }

    /// The addresses of the zone's nameservers: glue from the NS answer, else their A
    /// records through the resolvers. Internal addresses are refused (unless allowed):
    /// a zone whose nameservers are all internal gets a zone without servers, so that
    /// the resolvers answer for it.
    async fn find_nameservers(
        &self,
        auth: &Authoritative,
        apex: &Name,
        deadline: Instant,
    ) -> Option<Zone> {
        let reply = self.query_resolvers(apex, RecordType::NS, deadline).await?;
        let hosts: Vec<Name> = reply
            .answers
            .iter()
            .filter(|r| r.name == *apex)
            .filter_map(|r| match &r.data {
                RData::NS(ns) => Some(ns.0.clone()),
                _ => None,
            })
            .collect();
        let mut servers: Vec<Upstream> = Vec::new();
        let mut seen: Vec<SocketAddr> = Vec::new();
        let mut refused = false;
        for host in hosts {
            if servers.len() >= MAX_ZONE_SERVERS {
                break;
            }
            let mut ips: Vec<IpAddr> = reply
                .additionals
                .iter()
                .filter(|r| r.name == host)
                .filter_map(|r| match &r.data {
                    RData::A(a) => Some(IpAddr::V4(a.0)),
                    RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
                    _ => None,
                })
                .collect();
            if ips.is_empty()
                && let Some(reply) = self.query_resolvers(&host, RecordType::A, deadline).await
                && let Outcome::Records(records) = reply.classify(&host, RecordType::A)
            {
                ips.extend(records.iter().filter_map(|r| match r {
                    RData::A(a) => Some(IpAddr::V4(a.0)),
                    _ => None,
                }));
            }
            for ip in ips {
                let addr = SocketAddr::new(ip, auth.port);
                if seen.contains(&addr) || servers.len() >= MAX_ZONE_SERVERS {
                    continue;
                }
                seen.push(addr);
                let internal = internal_range(ip);
                if let Some(range) = internal
                    && !auth.allow_private
                {
                    tracing::debug!(
                        zone = %display(apex),
                        nameserver = %display(&host),
                        %addr,
                        range,
                        "not querying a nameserver address learned from DNS: it is internal"
                    );
                    refused = true;
                    continue;
                }
                let label = nameserver_label(&host, addr, internal.is_some());
                servers.push(Upstream::new(
                    label,
                    addr,
                    false,
                    &self.context,
                    &self.in_flight,
                ));
            }
        }
        // Only refused addresses is a finding worth remembering (the resolvers answer for
        // the zone meanwhile); no address at all is a failure, tried again next time.
        (!servers.is_empty() || refused).then_some(Zone { servers })
    }

    /// One raw question to the resolvers, for discovery: the first reply that is not a
    /// failure.
    async fn query_resolvers(
        &self,
        name: &Name,
        rtype: RecordType,
        deadline: Instant,
    ) -> Option<crate::upstream::Reply> {
        for attempt in 0..self.attempts {
            let budget = self.budget(deadline)?;
            let resolver = &self.resolvers[attempt % self.resolvers.len()];
            if let Ok(reply) = resolver.query(name, rtype, budget).await {
                return Some(reply);
            }
        }
        None
    }

    /// The time one query may take: `timeout`, or what is left before the deadline.
    fn budget(&self, deadline: Instant) -> Option<Duration> {
        let left = deadline.saturating_duration_since(Instant::now());
        (!left.is_zero()).then(|| left.min(self.timeout))
    }
}

#[async_trait]
impl DnsLookup for HickoryDns {
    async fn txt(&self, name: &str) -> DnsAnswer<TxtRecordData> {
        self.lookup(parse_name(name), RecordType::TXT, |r| match r {
            RData::TXT(txt) => Some(TxtRecordData {
                strings: txt.txt_data.iter().map(|s| s.to_vec()).collect(),
            }),
            _ => None,
        })
        .await
    }

    async fn a(&self, name: &str) -> DnsAnswer<std::net::Ipv4Addr> {
        self.lookup(parse_name(name), RecordType::A, |r| match r {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .await
    }

    async fn aaaa(&self, name: &str) -> DnsAnswer<std::net::Ipv6Addr> {
        self.lookup(parse_name(name), RecordType::AAAA, |r| match r {
            RData::AAAA(aaaa) => Some(aaaa.0),
            _ => None,
        })
        .await
    }

    async fn mx(&self, name: &str) -> DnsAnswer<MxRecord> {
        self.lookup(parse_name(name), RecordType::MX, |r| match r {
            RData::MX(mx) => Some(MxRecord {
                preference: mx.preference,
                exchange: display(&mx.exchange),
            }),
            _ => None,
        })
        .await
    }

    async fn cname(&self, name: &str) -> DnsAnswer<String> {
        // Asked for the CNAME type, a server answers with the alias itself: nothing is
        // chased.
        self.lookup(parse_name(name), RecordType::CNAME, |r| match r {
            RData::CNAME(target) => Some(display(&target.0)),
            _ => None,
        })
        .await
    }

    async fn ptr(&self, ip: IpAddr) -> DnsAnswer<String> {
        let mut name = Name::from(ip);
        name.set_fqdn(true);
        self.lookup(Ok(name), RecordType::PTR, |r| match r {
            RData::PTR(ptr) => Some(display(&ptr.0)),
            _ => None,
        })
        .await
    }
}

/// A name as the port takes it (any case, no trailing dot), as an absolute DNS name.
fn parse_name(name: &str) -> Result<Name, String> {
    let bare = name.strip_suffix('.').unwrap_or(name);
    if bare.is_empty() {
        return Err("an empty name cannot be looked up".to_owned());
    }
    let parsed = if bare.is_ascii() {
        Name::from_ascii(bare)
    } else {
        // Internationalised names go out as their A-labels (IDNA).
        Name::from_utf8(bare)
    };
    let mut parsed = parsed.map_err(|e| format!("not a valid DNS name: {e}"))?;
    parsed.set_fqdn(true);
    Ok(parsed)
}

/// A name as the port gives it back: lower-case, without the trailing dot.
fn display(name: &Name) -> String {
    let text = name.to_lowercase().to_ascii();
    match text.strip_suffix('.') {
        Some(bare) if !bare.is_empty() => bare.to_owned(),
        _ => text,
    }
}

/// How a configured resolver is named in answers. Tenants see `answered_by`: a public
/// resolver is named by its address, an internal one only by its place in the list, so
/// that the service's own network stays out of every answer.
fn resolver_label(addr: SocketAddr, index: usize, count: usize) -> String {
    match (internal_range(addr.ip()).is_some(), count) {
        (false, _) => format!("resolver {addr}"),
        (true, 1) => "resolver".to_owned(),
        (true, _) => format!("resolver #{}", index + 1),
    }
}

/// How a zone's nameserver is named in answers: by name and public address, or by name
/// alone when its address is internal (possible only where such addresses are allowed).
fn nameserver_label(host: &Name, addr: SocketAddr, internal: bool) -> String {
    if internal {
        display(host)
    } else {
        format!("{} ({addr})", display(host))
    }
}

fn set(slot: &Mutex<Option<String>>, label: &str) {
    *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(label.to_owned());
}

fn answer<T>(result: DnsResult<T>, server: Option<String>) -> DnsAnswer<T> {
    DnsAnswer { result, server }
}

/// The nameserver addresses of the system configuration (`/etc/resolv.conf`).
fn system_resolvers() -> Result<Vec<SocketAddr>, Error> {
    let (config, _) = hickory_resolver::system_conf::read_system_conf()
        .map_err(|e| Error::SystemConfig(e.to_string()))?;
    Ok(config
        .name_servers
        .iter()
        .filter_map(|ns| {
            let port = ns.connections.iter().map(|c| c.port).next()?;
            Some(SocketAddr::new(ns.ip, port))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_parsed_as_absolute_and_given_back_bare() {
        for (input, expected) in [
            ("example.test", Some("example.test")),
            ("Example.TEST.", Some("example.test")),
            ("_dmarc.example.test", Some("_dmarc.example.test")),
            ("bücher.example.test", Some("xn--bcher-kva.example.test")),
            ("", None),
            (".", None),
            ("a..b", None),
        ] {
            let parsed = parse_name(input);
            assert_eq!(
                parsed.as_ref().map(display).ok().as_deref(),
                expected,
                "{input:?}"
            );
            if let Ok(name) = parsed {
                assert!(name.is_fqdn());
            }
        }
        let too_long = ["label"; 60].join(".");
        assert!(parse_name(&too_long).is_err());
        assert!(parse_name(&"x".repeat(64)).is_err());
    }

    #[test]
    fn internal_server_addresses_are_never_shown() {
        let addr = |s: &str| s.parse::<SocketAddr>().expect("test address");
        for (got, expected) in [
            (resolver_label(addr("127.0.0.1:5300"), 0, 1), "resolver"),
            (resolver_label(addr("10.0.0.2:53"), 1, 2), "resolver #2"),
            (resolver_label(addr("[fd00::53]:53"), 0, 3), "resolver #1"),
            (
                resolver_label(addr("9.9.9.9:53"), 0, 2),
                "resolver 9.9.9.9:53",
            ),
            (
                nameserver_label(
                    &Name::from_ascii("NS1.Example.test.").expect("name"),
                    addr("127.0.0.1:53"),
                    true,
                ),
                "ns1.example.test",
            ),
            (
                nameserver_label(
                    &Name::from_ascii("ns1.example.com.").expect("name"),
                    addr("198.41.0.4:53"),
                    false,
                ),
                "ns1.example.com (198.41.0.4:53)",
            ),
        ] {
            assert_eq!(got, expected);
        }
    }

    #[test]
    fn the_root_is_shown_as_a_dot() {
        assert_eq!(display(&Name::root()), ".");
    }
}
