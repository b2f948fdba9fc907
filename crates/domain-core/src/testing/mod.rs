//! Test support for this crate and for crates that reuse it (feature `testing`): an
//! in-memory [`DnsLookup`] and a few pre-generated keys.
//!
//! The fake is for unit tests of rules and for the SPF conformance suite; integration
//! tests use a real DNS server on loopback instead.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use async_trait::async_trait;

use crate::crypto::{GeneratedKey, KeyAlgorithm, generate};
use crate::ports::{DnsAnswer, DnsLookup, DnsResult, MxRecord, TxtRecordData};

mod memory;

pub use memory::MemoryRepo;

/// The `n`-th of a few RSA-2048 keys generated once per test process (`n` < 8).
pub fn key(n: usize) -> &'static GeneratedKey {
    static KEYS: [OnceLock<GeneratedKey>; 8] = [const { OnceLock::new() }; 8];
    KEYS[n % 8].get_or_init(|| generate(KeyAlgorithm::default()).expect("key generation"))
}

/// A record type the fake can fail for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueryType {
    /// TXT
    Txt,
    /// A
    A,
    /// AAAA
    Aaaa,
    /// MX
    Mx,
    /// PTR
    Ptr,
    /// CNAME, as [`DnsLookup::cname`] asks.
    Cname,
}

#[derive(Debug, Default, Clone)]
struct Entry {
    txt: Vec<TxtRecordData>,
    a: Vec<Ipv4Addr>,
    aaaa: Vec<Ipv6Addr>,
    mx: Vec<MxRecord>,
    ptr: Vec<String>,
    cname: Option<String>,
    fail: HashSet<QueryType>,
}

/// An in-memory DNS: names map to records; a name with no entry is NXDOMAIN; a name with
/// an entry but no records of the asked type is no-data; failures can be injected.
#[derive(Debug, Default)]
pub struct FakeDns {
    entries: Mutex<HashMap<String, Entry>>,
    queries: AtomicUsize,
    /// First labels that make a name without entry time out instead of being NXDOMAIN.
    failing_labels: Mutex<HashSet<String>>,
    /// What every answer gives as its `server`.
    server: Mutex<Option<String>>,
}

/// The value behind `mutex`, even when a test panicked while holding it: that test has
/// failed already, and the fakes' state stays usable for its report.
fn locked<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl FakeDns {
    /// An empty DNS.
    pub fn new() -> Self {
        Self::default()
    }

    /// A DNS holding these TXT records, `(name, text)`, of one character-string each.
    pub fn with_txt(records: &[(&str, &str)]) -> Self {
        let dns = Self::new();
        for (name, text) in records {
            dns.txt(name, text);
        }
        dns
    }

    fn with_entry(&self, name: &str, f: impl FnOnce(&mut Entry)) -> &Self {
        let mut map = locked(&self.entries);
        f(map.entry(normalise(name)).or_default());
        self
    }

    /// Adds a TXT record of one character-string.
    pub fn txt(&self, name: &str, text: &str) -> &Self {
        self.with_entry(name, |e| e.txt.push(TxtRecordData::single(text)))
    }

    /// Adds a TXT record of several character-strings.
    pub fn txt_strings(&self, name: &str, strings: &[&str]) -> &Self {
        let record = TxtRecordData {
            strings: strings.iter().map(|s| s.as_bytes().to_vec()).collect(),
        };
        self.with_entry(name, |e| e.txt.push(record))
    }

    /// Adds a TXT record of one character-string holding any bytes, text or not.
    pub fn txt_bytes(&self, name: &str, bytes: &[u8]) -> &Self {
        self.with_entry(name, |e| e.txt.push(TxtRecordData::single(bytes)))
    }

    /// Adds an A record.
    pub fn a(&self, name: &str, ip: Ipv4Addr) -> &Self {
        self.with_entry(name, |e| e.a.push(ip))
    }

    /// Adds an AAAA record.
    pub fn aaaa(&self, name: &str, ip: Ipv6Addr) -> &Self {
        self.with_entry(name, |e| e.aaaa.push(ip))
    }

    /// Adds an MX record; an exchange of `.` makes it a null MX (RFC 7505).
    pub fn mx(&self, name: &str, preference: u16, exchange: &str) -> &Self {
        let exchange = match normalise(exchange) {
            root if root.is_empty() => ".".to_owned(),
            name => name,
        };
        let mx = MxRecord {
            preference,
            exchange,
        };
        self.with_entry(name, |e| e.mx.push(mx))
    }

    /// Adds a PTR record for an address.
    pub fn ptr(&self, ip: IpAddr, name: &str) -> &Self {
        self.ptr_at(&reverse_name(ip), name)
    }

    /// Adds a PTR record at a reverse name given as text (`4.3.2.1.in-addr.arpa`), as
    /// zone files and the SPF test suite write them.
    pub fn ptr_at(&self, reverse_name: &str, name: &str) -> &Self {
        let target = normalise(name);
        self.with_entry(reverse_name, |e| e.ptr.push(target))
    }

    /// Makes `name` an alias of `target`.
    pub fn cname(&self, name: &str, target: &str) -> &Self {
        let target = normalise(target);
        self.with_entry(name, |e| e.cname = Some(target))
    }

    /// Makes the name exist without records (so queries give no-data, not NXDOMAIN).
    pub fn exists(&self, name: &str) -> &Self {
        self.with_entry(name, |_| {})
    }

    /// Makes queries of `kind` for `name` fail temporarily.
    pub fn fail(&self, name: &str, kind: QueryType) -> &Self {
        self.with_entry(name, |e| {
            e.fail.insert(kind);
        })
    }

    /// Makes every query for `name` fail temporarily.
    pub fn fail_all(&self, name: &str) -> &Self {
        for kind in [
            QueryType::Txt,
            QueryType::A,
            QueryType::Aaaa,
            QueryType::Mx,
            QueryType::Ptr,
            QueryType::Cname,
        ] {
            self.fail(name, kind);
        }
        self
    }

    /// Makes every query for a name that has no entry and whose first label is
    /// `first_label` fail temporarily, instead of answering NXDOMAIN (the SPF test suite
    /// does this for `error.…`).
    pub fn fail_absent(&self, first_label: &str) -> &Self {
        let mut labels = locked(&self.failing_labels);
        labels.insert(normalise(first_label));
        self
    }

    /// Makes every answer name `server` as the server that answered.
    pub fn answered_by(&self, server: &str) -> &Self {
        let mut current = locked(&self.server);
        *current = Some(server.to_owned());
        self
    }

    /// Removes every record of a name.
    pub fn remove(&self, name: &str) -> &Self {
        let mut map = locked(&self.entries);
        map.remove(&normalise(name));
        self
    }

    /// How many queries were made.
    pub fn query_count(&self) -> usize {
        self.queries.load(Ordering::Relaxed)
    }

    /// `result` as answered by the server set with [`answered_by`](Self::answered_by).
    fn answer<T>(&self, result: DnsResult<T>) -> DnsAnswer<T> {
        let server = locked(&self.server).clone();
        DnsAnswer { result, server }
    }

    /// The CNAME at exactly `name`, not followed.
    fn alias_of(&self, name: &str) -> DnsResult<String> {
        self.queries.fetch_add(1, Ordering::Relaxed);
        let map = locked(&self.entries);
        let name = normalise(name);
        let Some(entry) = map.get(&name) else {
            return self.absent(&name);
        };
        if entry.fail.contains(&QueryType::Cname) {
            return DnsResult::TempFail("injected failure".to_owned());
        }
        match &entry.cname {
            Some(target) => DnsResult::Records(vec![target.clone()]),
            None => DnsResult::NoData,
        }
    }

    /// The answer for a name without entry: NXDOMAIN, or a timeout for the labels
    /// [`fail_absent`](Self::fail_absent) names.
    fn absent<T>(&self, name: &str) -> DnsResult<T> {
        let first_label = name.split('.').next().unwrap_or_default();
        let labels = locked(&self.failing_labels);
        if labels.contains(first_label) {
            return DnsResult::TempFail("injected timeout".to_owned());
        }
        DnsResult::NxDomain
    }

    /// The records of `name` that `pick` reads, after following CNAMEs; `kind` is the
    /// query type, for failures injected with [`fail`](Self::fail).
    fn lookup<T: Clone>(
        &self,
        name: &str,
        kind: QueryType,
        pick: impl Fn(&Entry) -> &Vec<T>,
    ) -> DnsResult<T> {
        self.queries.fetch_add(1, Ordering::Relaxed);
        let map = locked(&self.entries);
        let mut name = normalise(name);
        // Follow a bounded chain of CNAMEs, as a resolver would.
        for _ in 0..8 {
            let Some(entry) = map.get(&name) else {
                return self.absent(&name);
            };
            if entry.fail.contains(&kind) {
                return DnsResult::TempFail("injected failure".to_owned());
            }
            match &entry.cname {
                Some(target) => name = target.clone(),
                None => {
                    let records = pick(entry);
                    return if records.is_empty() {
                        DnsResult::NoData
                    } else {
                        DnsResult::Records(records.clone())
                    };
                }
            }
        }
        DnsResult::TempFail("CNAME chain too long".to_owned())
    }
}

#[async_trait]
impl DnsLookup for FakeDns {
    async fn txt(&self, name: &str) -> DnsAnswer<TxtRecordData> {
        self.answer(self.lookup(name, QueryType::Txt, |e| &e.txt))
    }
    async fn a(&self, name: &str) -> DnsAnswer<Ipv4Addr> {
        self.answer(self.lookup(name, QueryType::A, |e| &e.a))
    }
    async fn aaaa(&self, name: &str) -> DnsAnswer<Ipv6Addr> {
        self.answer(self.lookup(name, QueryType::Aaaa, |e| &e.aaaa))
    }
    async fn mx(&self, name: &str) -> DnsAnswer<MxRecord> {
        self.answer(self.lookup(name, QueryType::Mx, |e| &e.mx))
    }
    async fn ptr(&self, ip: IpAddr) -> DnsAnswer<String> {
        self.answer(self.lookup(&reverse_name(ip), QueryType::Ptr, |e| &e.ptr))
    }
    async fn cname(&self, name: &str) -> DnsAnswer<String> {
        self.answer(self.alias_of(name))
    }
}

fn normalise(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// The reverse-lookup name of an address (`4.3.2.1.in-addr.arpa`, nibbles for IPv6).
pub fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut s = String::new();
            for byte in v6.octets().iter().rev() {
                s.push_str(&format!("{:x}.{:x}.", byte & 0xf, byte >> 4));
            }
            s.push_str("ip6.arpa");
            s
        }
    }
}

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<time::OffsetDateTime>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: time::OffsetDateTime) -> Self {
        ManualClock {
            now: Mutex::new(start),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: time::Duration) {
        let mut now = locked(&self.now);
        *now += by;
    }
}

impl crate::ports::Clock for ManualClock {
    fn now(&self) -> time::OffsetDateTime {
        *locked(&self.now)
    }
}

/// A key generator that hands out the pre-generated [`key`]s in turn, so use-case tests
/// do not spend seconds generating RSA keys.
#[derive(Debug, Default)]
pub struct FixedKeys {
    next: AtomicUsize,
}

impl FixedKeys {
    /// How many keys were handed out.
    pub fn generated(&self) -> usize {
        self.next.load(Ordering::Relaxed)
    }
}

#[async_trait]
impl crate::ports::KeyGenerator for FixedKeys {
    async fn generate(
        &self,
        _algorithm: KeyAlgorithm,
    ) -> Result<GeneratedKey, crate::crypto::KeyError> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        Ok(key(n).duplicate())
    }
}

/// The ports of a [`crate::DomainService`] under test: `repo` keeps the domains and
/// `keys` the sealed keys, over the test's `dns` and `clock`; keys come from a fresh
/// [`FixedKeys`], signing runs inline and nothing is observed.
#[cfg(test)]
pub(crate) fn ports(
    repo: std::sync::Arc<dyn crate::ports::DomainRepo>,
    keys: std::sync::Arc<dyn crate::ports::KeyStore>,
    dns: std::sync::Arc<dyn DnsLookup>,
    clock: std::sync::Arc<dyn crate::ports::Clock>,
) -> crate::service::Ports {
    use std::sync::Arc;
    crate::service::Ports {
        repo,
        keys,
        dns,
        clock,
        keygen: Arc::new(FixedKeys::default()),
        cpu: Arc::new(crate::ports::InlinePool),
        observer: Arc::new(crate::ports::NoObserver),
    }
}

/// A [`crate::DomainService`] over `ports`, sealing keys with a fresh master key.
#[cfg(test)]
pub(crate) fn service(
    ports: crate::service::Ports,
    config: crate::service::ServiceConfig,
) -> crate::DomainService {
    let (master, _) = crate::crypto::MasterKey::generate().expect("a master key");
    crate::DomainService::new(ports, std::sync::Arc::new(master), config)
}

/// A domain as `create` leaves it, built without the service: unverified, owned by
/// tenant `t1` of partner `p1`, with `key(0)` active under `scaisend` and no checks yet.
/// For this crate's unit tests of the rules that take a whole [`crate::model::Domain`]:
/// one RSA key, `scaisend`, in TXT mode.
#[cfg(test)]
pub(crate) fn domain(name: &str, now: time::OffsetDateTime) -> crate::model::Domain {
    use crate::name::{DmarcPolicy, DomainName};
    use crate::rotation::KeyRing;
    let first = generation(
        &KeyRing::first_generation(
            &crate::name::Selector::from_trusted("scaisend"),
            crate::rotation::DkimMode::Txt,
            &[crate::records::dkim::Algorithm::RsaSha256],
        )
        .expect("a first generation"),
        crate::rotation::DkimMode::Txt,
    );
    crate::model::Domain {
        id: crate::model::IdGenerator::new().domain_id(now),
        name: DomainName::parse(name).expect("a valid test domain"),
        owner: crate::model::Owner {
            partner_id: "p1".to_owned(),
            tenant_id: Some("t1".to_owned()),
        },
        dmarc_policy: DmarcPolicy::Quarantine,
        dmarc_rua: None,
        is_active: true,
        verified: false,
        keys: KeyRing::new(first, now).expect("a valid first generation"),
        zone_label: crate::model::ZoneLabel::parse("0123456789abcdef").expect("a label"),
        checks: crate::verify::Verdicts::default(),
        dkim_rotation_days: None,
        created_at: now,
        updated_at: now,
        last_verified_at: None,
        failing_since: None,
        next_check_at: now,
        version: 0,
        return_path: None,
    }
}

/// The keys of a planned generation, as tests hand them out: RSA keys are `key(n)` for
/// generation `n`, Ed25519 keys are generated, sealed bytes are stand-ins.
#[cfg(test)]
pub(crate) fn generation(
    next: &crate::rotation::NextGeneration,
    mode: crate::rotation::DkimMode,
) -> crate::rotation::NewGeneration {
    use crate::crypto::{KeyAlgorithm, SealedKey};
    use crate::records::dkim::Algorithm;
    crate::rotation::NewGeneration {
        index: next.index,
        mode,
        keys: next
            .selectors
            .iter()
            .map(|(algorithm, selector)| crate::rotation::NewKey {
                selector: selector.clone(),
                public_key: match algorithm {
                    Algorithm::RsaSha256 => key(next.index as usize).public.clone(),
                    Algorithm::Ed25519Sha256 => {
                        crate::crypto::generate(KeyAlgorithm::Ed25519)
                            .expect("an Ed25519 key")
                            .public
                    }
                },
                sealed: SealedKey::from_bytes(vec![next.index as u8; 40]),
            })
            .collect(),
    }
}

/// Starts a rotation of `domain` at `now` to its next generation (`scaisend2`, …) in the
/// domain's mode and algorithms; its RSA key is `key(n)` for generation `n`.
#[cfg(test)]
pub(crate) fn start_rotation(domain: &mut crate::model::Domain, now: time::OffsetDateTime) {
    let mode = domain.dkim_mode();
    let next = domain
        .keys
        .next_generation(
            &crate::name::Selector::from_trusted("scaisend"),
            mode,
            &domain.dkim_algorithms(),
        )
        .expect("a next generation");
    domain
        .keys
        .start_rotation(generation(&next, mode), now)
        .expect("no rotation is pending");
}

/// A verdict of the `record` check about `host` that gives `status` and `code` and says
/// only that (`"<check> <code>"`): nothing expected, found or detailed. For this crate's
/// unit tests of the rules that read stored checks.
#[cfg(test)]
pub(crate) fn verdict(
    record: crate::verify::CheckKind,
    host: &str,
    status: crate::verify::CheckStatus,
    code: crate::verify::VerdictCode,
) -> crate::verify::Verdict {
    crate::verify::Verdict {
        record,
        host: host.to_owned(),
        status,
        code,
        expected: None,
        found: Vec::new(),
        message: format!("{} {}", record.as_str(), code.as_str()),
        warnings: Vec::new(),
        answered_by: None,
        details: serde_json::Value::Null,
    }
}

/// A [`verdict`] of the DKIM check of `example.com` about its key under `selector`.
#[cfg(test)]
pub(crate) fn dkim_verdict(
    selector: &str,
    status: crate::verify::CheckStatus,
    code: crate::verify::VerdictCode,
) -> crate::verify::Verdict {
    crate::verify::Verdict {
        details: serde_json::json!({ "selector": selector }),
        ..verdict(crate::verify::CheckKind::Dkim, "example.com", status, code)
    }
}

/// A passing DMARC verdict about `_dmarc.<domain>` for a record with these alignment
/// tags (`adkim=`, `aspf=`), as the check writes it: what the send-time alignment reads.
#[cfg(test)]
pub(crate) fn dmarc_verdict(domain: &str, record: &str) -> crate::verify::Verdict {
    use crate::records::TxtRecord as _;
    use crate::verify::{CheckKind, CheckStatus, VerdictCode};
    let record = crate::records::dmarc::DmarcRecord::parse(record).expect("a valid record");
    let host = format!("_dmarc.{domain}");
    crate::verify::Verdict {
        found: vec![record.to_string()],
        message: String::new(),
        details: crate::alignment::AlignmentModes::of(&record).to_details(),
        ..verdict(
            CheckKind::Dmarc,
            &host,
            CheckStatus::Verified,
            VerdictCode::DmarcOk,
        )
    }
}

/// Parses `input` as an `R` and compares the record, written back in our canonical form,
/// with `expected`; or checks that the error message contains the `expected` fragment.
#[cfg(test)]
#[track_caller]
pub(crate) fn check_record<R>(input: &str, expected: Result<&str, &str>)
where
    R: crate::records::TxtRecord + std::fmt::Debug,
{
    match (R::parse(input), expected) {
        (Ok(r), Ok(want)) => assert_eq!(r.to_string(), want, "input {input:?}"),
        (Err(e), Err(fragment)) => assert!(
            e.message().contains(fragment),
            "input {input:?}: message {:?} lacks {fragment:?}",
            e.message()
        ),
        (got, want) => panic!("input {input:?}: got {got:?}, want {want:?}"),
    }
}

/// Declares a record type's parse checks in its test module: `check(input, expected)`
/// ([`check_record`]), `canonical(input)` for a record already in our canonical form,
/// which comes back unchanged, and `refused(input, fragment)` for one that does not
/// parse, with a message that names `fragment`.
#[cfg(test)]
macro_rules! record_parse_checks {
    ($record:ty) => {
        #[track_caller]
        fn check(input: &str, expected: Result<&str, &str>) {
            $crate::testing::check_record::<$record>(input, expected);
        }

        #[track_caller]
        fn canonical(input: &str) {
            check(input, Ok(input));
        }

        #[track_caller]
        fn refused(input: &str, fragment: &str) {
            check(input, Err(fragment));
        }
    };
}
#[cfg(test)]
pub(crate) use record_parse_checks;

/// The property every record type holds: `record`, written out, parses back to itself
/// (`parse(build(x)) == x`, docs/ARCHITECTURE.md).
#[cfg(test)]
pub(crate) fn parses_back<R>(record: R) -> Result<(), proptest::test_runner::TestCaseError>
where
    R: crate::records::TxtRecord + PartialEq + std::fmt::Debug,
{
    let text = record.to_string();
    proptest::prop_assert_eq!(R::parse(&text), Ok(record), "{}", text);
    Ok(())
}

/// Checks a verdict's status and code, showing its message when they are not the ones
/// expected.
#[cfg(test)]
#[track_caller]
pub(crate) fn assert_status(
    v: &crate::verify::Verdict,
    status: crate::verify::CheckStatus,
    code: crate::verify::VerdictCode,
) {
    assert_eq!((v.status, v.code), (status, code), "{}", v.message);
}

/// The codes of a verdict's warnings, in order.
#[cfg(test)]
pub(crate) fn warning_codes(v: &crate::verify::Verdict) -> Vec<crate::verify::VerdictCode> {
    v.warnings.iter().map(|w| w.code).collect()
}

/// Checks that a verdict's message names `fragment`.
#[cfg(test)]
#[track_caller]
pub(crate) fn assert_mentions(v: &crate::verify::Verdict, fragment: &str) {
    assert!(v.message.contains(fragment), "{}", v.message);
}
