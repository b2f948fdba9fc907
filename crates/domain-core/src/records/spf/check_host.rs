//! RFC 7208 `check_host()`: the SPF result for a client address sending as a domain
//! (§4–§8), with the reason for an error and a trace of what the evaluation did.
//!
//! A key design decision: `temperror` and `permerror` end the whole evaluation at once
//! (§4.6.4, §5.2: an included record's error is the including record's error), so they
//! travel as the `Err` side of an internal `Result` holding an [`SpfProblem`] that names
//! the domain and the term; the limits and the propagation through `include:` and
//! `redirect=` are then plain `?`. Terms are evaluated strictly in order and counted when
//! reached, never ahead, so the limits hold whatever the records say, loops included;
//! only the independent address lookups within one `mx` or `ptr` term run concurrently.

use std::net::IpAddr;

use futures::future::{BoxFuture, FutureExt, join_all};
use serde::{Deserialize, Serialize};

use super::expand::{self, MacroValues};
use super::{
    Directive, DomainSpec, DualCidr, MacroString, Mechanism, Qualifier, SpfRecord, Term, v4_mask,
    v6_mask,
};
use crate::macros::named_enum;
use crate::ports::{DnsLookup, DnsResult, TxtRecordData};
use crate::records::TxtRecord;

/// At most this many DNS-querying terms (`include`, `a`, `mx`, `ptr`, `exists`,
/// `redirect`) per evaluation (RFC 7208 §4.6.4).
pub const MAX_DNS_LOOKUPS: usize = 10;
/// At most this many of those terms may find nothing (NXDOMAIN or no records) before the
/// evaluation fails (RFC 7208 §4.6.4, "void lookups").
pub const MAX_VOID_LOOKUPS: usize = 2;
/// At most this many MX names per `mx` term (more is a `permerror`) and PTR names per
/// `ptr` term or `%{p}` (the rest are ignored), RFC 7208 §4.6.4.
pub const MAX_NAMES_PER_TERM: usize = 10;

/// The arguments of `check_host()` (RFC 7208 §4.1) plus what the explanation-only
/// macros need.
///
/// ```
/// # use domain_core::records::spf::SpfQuery;
/// let ip = "192.0.2.10".parse().unwrap();
/// let query = SpfQuery {
///     helo: Some("mail.example.com"),
///     ..SpfQuery::new(ip, "example.com", "bounce@example.com")
/// };
/// assert_eq!(query.domain, "example.com");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpfQuery<'a> {
    /// `<ip>`: the SMTP client's address. An IPv4-mapped IPv6 address is evaluated as
    /// the IPv4 address it holds (§5).
    pub ip: IpAddr,
    /// `<domain>`: the domain whose record is evaluated first.
    pub domain: &'a str,
    /// `<sender>`: the MAIL FROM address, or `postmaster@<helo>` when checking the HELO
    /// identity. A sender without local part gets `postmaster` (§4.3).
    pub sender: &'a str,
    /// The HELO/EHLO name, for `%{h}`; `unknown` when absent.
    pub helo: Option<&'a str>,
    /// The receiving host's domain, for `%{r}` in explanations; `unknown` when absent.
    pub receiver: Option<&'a str>,
    /// Seconds since the Unix epoch, for `%{t}` in explanations; `0` when absent (this
    /// crate reads no clock).
    pub timestamp: Option<u64>,
}

named_enum! {
    /// The result of `check_host()` (RFC 7208 §2.6), named as RFC 7208 writes it in
    /// `Received-SPF` (`pass`, `softfail`, …).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum SpfResult {
        /// No record to evaluate, or the domain cannot be checked.
        None => "none",
        /// The domain owner makes no assertion about the address.
        Neutral => "neutral",
        /// The address is authorized.
        Pass => "pass",
        /// The address is not authorized.
        Fail => "fail",
        /// The address is probably not authorized.
        SoftFail => "softfail",
        /// A transient DNS error; a later check may succeed.
        TempError => "temperror",
        /// The published records are broken; a person must fix them.
        PermError => "permerror",
    }
}

/// The outcome of one `check_host()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpfEvaluation {
    /// The SPF result.
    pub result: SpfResult,
    /// On `fail`, the expanded `exp=` text, when the record has one and it could be
    /// fetched (RFC 7208 §6.2: any problem with it just means no explanation).
    pub explanation: Option<String>,
    /// Why the result is `temperror` or `permerror`; `None` for every other result.
    pub problem: Option<SpfProblem>,
    /// What the evaluation did.
    pub trace: SpfTrace,
}

/// Why an evaluation gave `permerror` or `temperror`. Each names the domain whose record
/// holds the offending term, so a report can point at the record to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpfProblem {
    /// Several `v=spf1` records at one name (§4.5).
    #[error("{count} SPF records at {domain}; there must be exactly one")]
    MultipleRecords {
        /// Where.
        domain: String,
        /// How many.
        count: usize,
    },
    /// A record does not parse (§4.6).
    #[error("the SPF record at {domain} is invalid: {detail}")]
    Syntax {
        /// Where.
        domain: String,
        /// What is wrong, naming the term.
        detail: String,
    },
    /// The term would be the 11th DNS-querying term (§4.6.4).
    #[error(
        "`{term}` in the SPF record at {domain} needs DNS lookup number 11; at most 10 are allowed"
    )]
    TooManyLookups {
        /// The term that crossed the limit, as written.
        term: String,
        /// The domain whose record holds it.
        domain: String,
    },
    /// The term is the 3rd whose lookup found nothing (§4.6.4).
    #[error(
        "`{term}` in the SPF record at {domain} is the 3rd lookup that found nothing; at most 2 are allowed"
    )]
    VoidLookupLimit {
        /// The term that crossed the limit, as written.
        term: String,
        /// The domain whose record holds it.
        domain: String,
    },
    /// An `mx` term found more than 10 MX names (§4.6.4).
    #[error(
        "`{term}` in the SPF record at {domain} finds {count} MX names; at most 10 are allowed"
    )]
    TooManyMxNames {
        /// The `mx` term, as written.
        term: String,
        /// The domain whose record holds it.
        domain: String,
        /// How many MX records were found.
        count: usize,
    },
    /// An `include:` or `redirect=` names a domain without an SPF record, or a name that
    /// is not a valid domain name (§5.2, §6.1).
    #[error("`{term}` in the SPF record at {domain} points to {target}, which has no SPF record")]
    IncludeWithoutRecord {
        /// The `include:` or `redirect=` term, as written.
        term: String,
        /// The domain whose record holds it.
        domain: String,
        /// The name it points to, expanded.
        target: String,
    },
    /// DNS could not answer (SERVFAIL, timeout): the result is `temperror` (§5).
    #[error("DNS could not answer for {name}: {detail}")]
    DnsTempFail {
        /// The name queried.
        name: String,
        /// What the resolver said.
        detail: String,
    },
}

/// What an evaluation did, for reports and limits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpfTrace {
    /// The `v=spf1` records found at the queried domain (character-strings joined), in
    /// DNS order: one when all is well, several when that is the problem.
    pub records: Vec<String>,
    /// The server that answered the TXT query for the queried domain, if known.
    pub answered_by: Option<String>,
    /// The DNS-querying terms evaluated, in order; never more than [`MAX_DNS_LOOKUPS`].
    pub lookups: Vec<TermRef>,
    /// The lookups that found nothing, in order; the one that exceeded
    /// [`MAX_VOID_LOOKUPS`] is the last.
    pub void_lookups: Vec<VoidLookup>,
    /// Each `include:` evaluated, in the order reached.
    pub includes: Vec<IncludeStep>,
    /// Each `redirect=` followed, in order.
    pub redirects: Vec<RedirectStep>,
    /// The terms that decided the result: the matching term of the queried domain's
    /// record (or of its redirect target), then, when that is an `include:`, the
    /// matching term of the included record, and so on. The last is the term that
    /// finally matched. Empty when no term matched.
    pub matched: Vec<MatchedTerm>,
}

/// A term and the domain whose record holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TermRef {
    /// The domain whose record holds the term.
    pub domain: String,
    /// The term, as written (`include:_spf.example.com`, `redirect=example.net`).
    pub term: String,
}

/// A lookup that found nothing (NXDOMAIN, or no records of the type asked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoidLookup {
    /// The domain whose record holds the term.
    pub domain: String,
    /// The term, as written.
    pub term: String,
    /// The name queried (for `ptr`, the client address).
    pub name: String,
}

/// One `include:` evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncludeStep {
    /// The domain whose record holds the `include:`.
    pub domain: String,
    /// The included domain, expanded.
    pub target: String,
    /// How deep the included record is: 1 for an include in the queried domain's record
    /// (or its redirect target), 2 for an include within that, and so on.
    pub depth: usize,
    /// Whether every `include:` on the way here, this one included, has the `+`
    /// qualifier, so that a `pass` here is a `pass` for the queried domain.
    pub pass_path: bool,
    /// The included record's result.
    pub result: SpfResult,
}

/// One `redirect=` followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectStep {
    /// The domain whose record holds the `redirect=`.
    pub domain: String,
    /// The domain redirected to, expanded.
    pub target: String,
}

/// A term that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchedTerm {
    /// The domain whose record holds the term.
    pub domain: String,
    /// The directive; its `Display` is the term as written, qualifier included.
    pub directive: Directive,
}

/// Evaluates `query.domain`'s SPF record for `query.ip` (RFC 7208 `check_host()`).
///
/// Never panics and never performs more than [`MAX_DNS_LOOKUPS`] DNS-querying terms,
/// whatever the records hold. All I/O goes through `dns`; a caller that needs an overall
/// time limit (§4.6.4 suggests at least 20 seconds) wraps this future in one.
pub async fn check_host(dns: &dyn DnsLookup, query: &SpfQuery<'_>) -> SpfEvaluation {
    let evaluator = Evaluator::new(dns, query);
    let mut trace = SpfTrace::default();
    let domain = query.domain.strip_suffix('.').unwrap_or(query.domain);
    // §4.3: a malformed or single-label domain gives `none` without a lookup.
    if !expand::is_checkable_domain(domain) {
        return SpfEvaluation {
            result: SpfResult::None,
            explanation: None,
            problem: None,
            trace,
        };
    }
    match evaluator.evaluate(&mut trace, domain, Position::TOP).await {
        Ok(outcome) => {
            let explanation = match (&outcome.result, &outcome.exp) {
                (SpfResult::Fail, Some(source)) => evaluator.explain(source).await,
                _ => None,
            };
            trace.matched = outcome.matched;
            SpfEvaluation {
                result: outcome.result,
                explanation,
                problem: None,
                trace,
            }
        }
        Err(problem) => SpfEvaluation {
            result: problem.result(),
            explanation: None,
            problem: Some(problem),
            trace,
        },
    }
}

impl<'a> SpfQuery<'a> {
    /// A query with the three arguments of `check_host()` and no HELO, receiver or time.
    pub fn new(ip: IpAddr, domain: &'a str, sender: &'a str) -> Self {
        SpfQuery {
            ip,
            domain,
            sender,
            helo: None,
            receiver: None,
            timestamp: None,
        }
    }
}

impl Qualifier {
    /// The result a matching directive with this qualifier gives (§4.6.2).
    pub fn result(self) -> SpfResult {
        match self {
            Qualifier::Pass => SpfResult::Pass,
            Qualifier::Fail => SpfResult::Fail,
            Qualifier::SoftFail => SpfResult::SoftFail,
            Qualifier::Neutral => SpfResult::Neutral,
        }
    }
}

impl SpfProblem {
    /// The result this problem gives: `temperror` for a DNS failure, else `permerror`.
    pub fn result(&self) -> SpfResult {
        match self {
            SpfProblem::DnsTempFail { .. } => SpfResult::TempError,
            _ => SpfResult::PermError,
        }
    }
}

impl SpfTrace {
    /// How many DNS-querying terms were evaluated.
    pub fn dns_lookup_count(&self) -> usize {
        self.lookups.len()
    }

    /// How many lookups found nothing.
    pub fn void_lookup_count(&self) -> usize {
        self.void_lookups.len()
    }

    /// Whether `include:<host>` was evaluated with `+` qualifiers all the way from the
    /// queried domain, so that its `pass` is the domain's `pass`.
    pub fn include_reached(&self, host: &str) -> bool {
        let host = host.strip_suffix('.').unwrap_or(host);
        self.includes
            .iter()
            .any(|i| i.pass_path && i.target.eq_ignore_ascii_case(host))
    }

    /// The term that finally matched: the innermost of [`SpfTrace::matched`].
    pub fn final_match(&self) -> Option<&MatchedTerm> {
        self.matched.last()
    }

    fn count_lookup(&mut self, site: Site<'_>) -> Flow<()> {
        if self.lookups.len() >= MAX_DNS_LOOKUPS {
            return Err(SpfProblem::TooManyLookups {
                term: site.term.to_owned(),
                domain: site.domain.to_owned(),
            });
        }
        self.lookups.push(TermRef {
            domain: site.domain.to_owned(),
            term: site.term.to_owned(),
        });
        Ok(())
    }

    /// The records a term's lookup of `name` found: none after NXDOMAIN or an empty
    /// answer, which counts as a void lookup; a DNS error is a `temperror`.
    fn term_records<T>(
        &mut self,
        site: Site<'_>,
        name: &str,
        answer: DnsResult<T>,
    ) -> Flow<Vec<T>> {
        match answer {
            DnsResult::Records(records) => Ok(records),
            DnsResult::NxDomain | DnsResult::NoData => {
                self.count_void(site, name).map(|()| Vec::new())
            }
            DnsResult::TempFail(detail) => Err(SpfProblem::DnsTempFail {
                name: name.to_owned(),
                detail,
            }),
        }
    }

    fn count_void(&mut self, site: Site<'_>, name: &str) -> Flow<()> {
        self.void_lookups.push(VoidLookup {
            domain: site.domain.to_owned(),
            term: site.term.to_owned(),
            name: name.to_owned(),
        });
        if self.void_lookups.len() > MAX_VOID_LOOKUPS {
            return Err(SpfProblem::VoidLookupLimit {
                term: site.term.to_owned(),
                domain: site.domain.to_owned(),
            });
        }
        Ok(())
    }
}

/// The error side of the evaluation: it ends it (see the module documentation).
type Flow<T> = Result<T, SpfProblem>;

/// A term being evaluated and the domain whose record holds it.
#[derive(Debug, Clone, Copy)]
struct Site<'t> {
    domain: &'t str,
    term: &'t str,
}

impl Site<'_> {
    fn without_record(self, target: String) -> SpfProblem {
        SpfProblem::IncludeWithoutRecord {
            term: self.term.to_owned(),
            domain: self.domain.to_owned(),
            target,
        }
    }
}

/// Where in the tree of records an evaluation is.
#[derive(Debug, Clone, Copy)]
struct Position {
    /// Number of `include:` levels above.
    depth: usize,
    /// Every `include:` above has the `+` qualifier.
    pass_path: bool,
    /// This is the queried domain itself (not an include or redirect target).
    top: bool,
}

impl Position {
    const TOP: Position = Position {
        depth: 0,
        pass_path: true,
        top: true,
    };
}

/// A completed evaluation of one record, before the explanation.
#[derive(Debug)]
struct Outcome {
    /// Never `temperror` or `permerror`: those are the `Err` side.
    result: SpfResult,
    /// Where the explanation comes from, on `fail`.
    exp: Option<ExpSource>,
    matched: Vec<MatchedTerm>,
}

/// An `exp=` and the domain whose record holds it (its `%{d}`).
#[derive(Debug)]
struct ExpSource {
    spec: DomainSpec,
    domain: String,
}

impl Outcome {
    fn nothing(result: SpfResult) -> Self {
        Outcome {
            result,
            exp: None,
            matched: Vec::new(),
        }
    }
}

struct Evaluator<'a> {
    dns: &'a dyn DnsLookup,
    ip: IpAddr,
    local: &'a str,
    sender_domain: &'a str,
    helo: Option<&'a str>,
    receiver: Option<&'a str>,
    timestamp: Option<u64>,
}

impl<'a> Evaluator<'a> {
    fn new(dns: &'a dyn DnsLookup, query: &SpfQuery<'a>) -> Self {
        let ip = match query.ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        let (local, sender_domain) = match query.sender.rsplit_once('@') {
            Some((local, domain)) => (local, domain),
            None => ("", query.sender),
        };
        Evaluator {
            dns,
            ip,
            local: if local.is_empty() {
                "postmaster"
            } else {
                local
            },
            sender_domain,
            helo: query.helo,
            receiver: query.receiver,
            timestamp: query.timestamp,
        }
    }

    /// Evaluates the record at `domain` (RFC 7208 §4.4–§4.7). Boxed because `include:`
    /// and `redirect=` recurse into it.
    fn evaluate<'s>(
        &'s self,
        trace: &'s mut SpfTrace,
        domain: &'s str,
        at: Position,
    ) -> BoxFuture<'s, Flow<Outcome>> {
        async move {
            let Some(record) = self.fetch(trace, domain, at.top).await? else {
                return Ok(Outcome::nothing(SpfResult::None));
            };
            for term in &record.terms {
                let Term::Directive(directive) = term else {
                    continue;
                };
                if let Some(inner) = self.matches(trace, domain, directive, at).await? {
                    let mut matched = vec![MatchedTerm {
                        domain: domain.to_owned(),
                        directive: directive.clone(),
                    }];
                    matched.extend(inner);
                    return Ok(Outcome {
                        result: directive.qualifier.result(),
                        exp: record.exp().map(|spec| ExpSource {
                            spec: spec.clone(),
                            domain: domain.to_owned(),
                        }),
                        matched,
                    });
                }
            }
            let Some(spec) = record.redirect() else {
                // §4.7: no match and no redirect.
                return Ok(Outcome::nothing(SpfResult::Neutral));
            };
            let term = format!("redirect={spec}");
            let site = Site {
                domain,
                term: &term,
            };
            trace.count_lookup(site)?;
            let target = self
                .target(Some(spec), domain)
                .await
                .map_err(|bad| site.without_record(bad))?;
            trace.redirects.push(RedirectStep {
                domain: domain.to_owned(),
                target: target.clone(),
            });
            // §6.1: the target's result is the result, its `exp=` replaces ours, and
            // `none` there is a `permerror` here.
            let at = Position { top: false, ..at };
            let outcome = self.evaluate(trace, &target, at).await?;
            if outcome.result == SpfResult::None {
                return Err(site.without_record(target));
            }
            Ok(outcome)
        }
        .boxed()
    }

    /// Fetches and selects the SPF record of `domain` (§4.4, §4.5).
    async fn fetch(
        &self,
        trace: &mut SpfTrace,
        domain: &str,
        top: bool,
    ) -> Flow<Option<SpfRecord>> {
        let answer = self.dns.txt(domain).await;
        if top {
            trace.answered_by = answer.server;
        }
        let records = match answer.result {
            DnsResult::Records(records) => records,
            DnsResult::NxDomain | DnsResult::NoData => return Ok(None),
            DnsResult::TempFail(detail) => {
                return Err(SpfProblem::DnsTempFail {
                    name: domain.to_owned(),
                    detail,
                });
            }
        };
        let spf: Vec<&TxtRecordData> = records
            .iter()
            .filter(|r| SpfRecord::is_spf(&r.text_or_shown()))
            .collect();
        let selected = match spf.as_slice() {
            [] => Ok(None),
            [record] => SpfRecord::from_txt(record)
                .map(Some)
                .map_err(|e| SpfProblem::Syntax {
                    domain: domain.to_owned(),
                    detail: e.message().to_owned(),
                }),
            several => Err(SpfProblem::MultipleRecords {
                domain: domain.to_owned(),
                count: several.len(),
            }),
        };
        if top {
            trace.records = spf.into_iter().map(TxtRecordData::joined).collect();
        }
        selected
    }

    /// Whether a directive matches (§5). On a match, returns the matching terms below it
    /// (non-empty only for `include:`).
    async fn matches(
        &self,
        trace: &mut SpfTrace,
        domain: &str,
        directive: &Directive,
        at: Position,
    ) -> Flow<Option<Vec<MatchedTerm>>> {
        let hit = match &directive.mechanism {
            Mechanism::All => true,
            Mechanism::Ip4 { addr, prefix } => {
                same_network(self.ip, IpAddr::V4(*addr), prefix.unwrap_or(32))
            }
            Mechanism::Ip6 { addr, prefix } => {
                same_network(self.ip, IpAddr::V6(*addr), prefix.unwrap_or(128))
            }
            _ => return self.lookup(trace, domain, directive, at).await,
        };
        Ok(hit.then(Vec::new))
    }

    /// A mechanism that queries DNS: counted against the limit, then evaluated.
    async fn lookup(
        &self,
        trace: &mut SpfTrace,
        domain: &str,
        directive: &Directive,
        at: Position,
    ) -> Flow<Option<Vec<MatchedTerm>>> {
        let term = directive.to_string();
        let site = Site {
            domain,
            term: &term,
        };
        trace.count_lookup(site)?;
        let hit = match &directive.mechanism {
            Mechanism::Include(spec) => {
                return self
                    .include(trace, site, spec, directive.qualifier, at)
                    .await;
            }
            Mechanism::A { domain: spec, cidr } => {
                self.a(trace, site, spec.as_ref(), *cidr).await?
            }
            Mechanism::Mx { domain: spec, cidr } => {
                self.mx(trace, site, spec.as_ref(), *cidr).await?
            }
            Mechanism::Ptr(spec) => self.ptr(trace, site, spec.as_ref()).await?,
            Mechanism::Exists(spec) => self.exists(trace, site, spec).await?,
            // Decided without DNS in `matches`.
            Mechanism::All | Mechanism::Ip4 { .. } | Mechanism::Ip6 { .. } => false,
        };
        Ok(hit.then(Vec::new))
    }

    /// `include:` (§5.2): matches when the included record passes.
    async fn include(
        &self,
        trace: &mut SpfTrace,
        site: Site<'_>,
        spec: &DomainSpec,
        qualifier: Qualifier,
        at: Position,
    ) -> Flow<Option<Vec<MatchedTerm>>> {
        let target = self
            .target(Some(spec), site.domain)
            .await
            .map_err(|bad| site.without_record(bad))?;
        let inner = Position {
            depth: at.depth + 1,
            pass_path: at.pass_path && qualifier == Qualifier::Pass,
            top: false,
        };
        let step = trace.includes.len();
        trace.includes.push(IncludeStep {
            domain: site.domain.to_owned(),
            target: target.clone(),
            depth: inner.depth,
            pass_path: inner.pass_path,
            result: SpfResult::None,
        });
        let outcome = self.evaluate(trace, &target, inner).await;
        if let Some(step) = trace.includes.get_mut(step) {
            step.result = match &outcome {
                Ok(o) => o.result,
                Err(problem) => problem.result(),
            };
        }
        let outcome = outcome?;
        match outcome.result {
            SpfResult::Pass => Ok(Some(outcome.matched)),
            SpfResult::None => Err(site.without_record(target)),
            _ => Ok(None),
        }
    }

    /// `a` (§5.3): the client address is one of the name's A (or AAAA) records.
    async fn a(
        &self,
        trace: &mut SpfTrace,
        site: Site<'_>,
        spec: Option<&DomainSpec>,
        cidr: DualCidr,
    ) -> Flow<bool> {
        let Some(name) = self.existing_target(trace, site, spec).await? else {
            return Ok(false);
        };
        let addrs = trace.term_records(site, &name, self.addresses(&name).await)?;
        Ok(addrs.iter().any(|a| self.within(*a, cidr)))
    }

    /// `mx` (§5.4): the client address is one of the addresses of the name's MX hosts.
    async fn mx(
        &self,
        trace: &mut SpfTrace,
        site: Site<'_>,
        spec: Option<&DomainSpec>,
        cidr: DualCidr,
    ) -> Flow<bool> {
        let Some(name) = self.existing_target(trace, site, spec).await? else {
            return Ok(false);
        };
        let mut exchanges = trace.term_records(site, &name, self.dns.mx(&name).await.result)?;
        if exchanges.len() > MAX_NAMES_PER_TERM {
            return Err(SpfProblem::TooManyMxNames {
                term: site.term.to_owned(),
                domain: site.domain.to_owned(),
                count: exchanges.len(),
            });
        }
        exchanges.sort_by_key(|mx| mx.preference);
        // The address lookups are independent: run them together, then read the answers
        // in preference order, so that the outcome is the one a sequential evaluation
        // would give (a DNS error before a match is `temperror`).
        let answers = join_all(exchanges.iter().map(|mx| async move {
            let host = mx.exchange.trim_end_matches('.');
            if host.is_empty() {
                // A null MX (RFC 7505) names no host.
                DnsResult::NoData
            } else {
                self.addresses(host).await
            }
        }))
        .await;
        for (mx, answer) in exchanges.iter().zip(answers) {
            match answer {
                DnsResult::Records(addrs) if addrs.iter().any(|a| self.within(*a, cidr)) => {
                    return Ok(true);
                }
                DnsResult::TempFail(detail) => {
                    return Err(SpfProblem::DnsTempFail {
                        name: mx.exchange.clone(),
                        detail,
                    });
                }
                _ => {}
            }
        }
        Ok(false)
    }

    /// `ptr` (§5.5): a validated name of the client address lies under the target.
    async fn ptr(
        &self,
        trace: &mut SpfTrace,
        site: Site<'_>,
        spec: Option<&DomainSpec>,
    ) -> Flow<bool> {
        let Ok(target) = self.target(spec, site.domain).await else {
            // Nothing lies under a name that cannot exist.
            return Ok(false);
        };
        let names = match self.dns.ptr(self.ip).await.result {
            DnsResult::Records(names) => names,
            DnsResult::NxDomain | DnsResult::NoData => {
                return trace.count_void(site, &self.ip.to_string()).map(|()| false);
            }
            // §5.5: "If a DNS error occurs while doing the PTR RR lookup, then this
            // mechanism fails to match."
            DnsResult::TempFail(_) => return Ok(false),
        };
        // Only names under the target can match, so only those are validated; the limit
        // applies to the names returned, not to those left after filtering.
        let candidates: Vec<&str> = names
            .iter()
            .take(MAX_NAMES_PER_TERM)
            .map(|n| n.trim_end_matches('.'))
            .filter(|n| is_within(n, &target))
            .collect();
        Ok(!self.validate(&candidates).await.is_empty())
    }

    /// `exists` (§5.7): the name has an A record, whatever the client's address family.
    async fn exists(&self, trace: &mut SpfTrace, site: Site<'_>, spec: &DomainSpec) -> Flow<bool> {
        let Some(name) = self.existing_target(trace, site, Some(spec)).await? else {
            return Ok(false);
        };
        let addrs = trace.term_records(site, &name, self.dns.a(&name).await.result)?;
        Ok(!addrs.is_empty())
    }

    /// The explanation for a `fail` (§6.2). Any problem (a name that cannot exist, a DNS
    /// error, no record or several, a syntax error) means no explanation; the lookup is
    /// not counted against any limit.
    async fn explain(&self, source: &ExpSource) -> Option<String> {
        let expanded = self
            .expand(source.spec.macro_string(), &source.domain)
            .await;
        let name = expand::target_name(&expanded)?;
        let DnsResult::Records(records) = self.dns.txt(&name).await.result else {
            return None;
        };
        let [record] = records.as_slice() else {
            return None;
        };
        let text = MacroString::parse_explanation(&record.text().ok()?).ok()?;
        Some(self.expand(&text, &source.domain).await)
    }

    /// The name a domain-spec designates for the record at `domain`, or the current
    /// domain when there is none; `Err` with the expansion when that is no valid name.
    async fn target(&self, spec: Option<&DomainSpec>, domain: &str) -> Result<String, String> {
        let Some(spec) = spec else {
            return Ok(domain.to_owned());
        };
        let expanded = self.expand(spec.macro_string(), domain).await;
        expand::target_name(&expanded).ok_or(expanded)
    }

    /// The name an `a`, `mx` or `exists` term queries. A name that cannot exist is
    /// treated as one that does not: no match, and a void lookup.
    async fn existing_target(
        &self,
        trace: &mut SpfTrace,
        site: Site<'_>,
        spec: Option<&DomainSpec>,
    ) -> Flow<Option<String>> {
        match self.target(spec, site.domain).await {
            Ok(name) => Ok(Some(name)),
            Err(bad) => trace.count_void(site, &bad).map(|()| None),
        }
    }

    async fn expand(&self, text: &MacroString, domain: &str) -> String {
        let validated = if expand::uses_validated_name(text) {
            self.validated_name(domain).await
        } else {
            None
        };
        expand::expand(
            text,
            &MacroValues {
                local: self.local,
                sender_domain: self.sender_domain,
                domain,
                ip: self.ip,
                helo: self.helo,
                receiver: self.receiver,
                timestamp: self.timestamp,
                validated: validated.as_deref(),
            },
        )
    }

    /// `%{p}` (§7.3): a validated name of the client, preferring `domain` itself, then a
    /// name under it; `None` ("unknown") when there is none or DNS fails.
    async fn validated_name(&self, domain: &str) -> Option<String> {
        let DnsResult::Records(names) = self.dns.ptr(self.ip).await.result else {
            return None;
        };
        let candidates: Vec<&str> = names
            .iter()
            .take(MAX_NAMES_PER_TERM)
            .map(|n| n.trim_end_matches('.'))
            .collect();
        let validated = self.validate(&candidates).await;
        let pick = validated
            .iter()
            .find(|n| n.eq_ignore_ascii_case(domain))
            .or_else(|| validated.iter().find(|n| is_within(n, domain)))
            .or(validated.first());
        pick.map(|n| (*n).to_owned())
    }

    /// The names, of those given, that have the client's address among their own
    /// (forward-confirmed), in the order given. The lookups run concurrently; a name
    /// whose lookup fails is skipped (§5.5).
    async fn validate<'n>(&self, names: &[&'n str]) -> Vec<&'n str> {
        let answers = join_all(names.iter().map(|n| self.addresses(n))).await;
        names
            .iter()
            .zip(answers)
            .filter(|(_, answer)| answer.records().contains(&self.ip))
            .map(|(name, _)| *name)
            .collect()
    }

    /// The A or AAAA records of `name`, whichever matches the client's address family.
    async fn addresses(&self, name: &str) -> DnsResult<IpAddr> {
        match self.ip {
            IpAddr::V4(_) => self.dns.a(name).await.result.map(IpAddr::V4),
            IpAddr::V6(_) => self.dns.aaaa(name).await.result.map(IpAddr::V6),
        }
    }

    /// Whether `addr` is in the client's network under the term's prefix lengths.
    fn within(&self, addr: IpAddr, cidr: DualCidr) -> bool {
        let prefix = match addr {
            IpAddr::V4(_) => cidr.v4.unwrap_or(32),
            IpAddr::V6(_) => cidr.v6.unwrap_or(128),
        };
        same_network(self.ip, addr, prefix)
    }
}

/// Whether the first `prefix` bits of `a` and `b` agree; addresses of different families
/// never do.
fn same_network(a: IpAddr, b: IpAddr, prefix: u8) -> bool {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(a) ^ u32::from(b)) & v4_mask(prefix) == 0,
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a) ^ u128::from(b)) & v6_mask(prefix) == 0,
        _ => false,
    }
}

/// Whether `name` is `domain` or a name under it, ignoring case.
fn is_within(name: &str, domain: &str) -> bool {
    let (name, domain) = (name.as_bytes(), domain.as_bytes());
    name.len() >= domain.len()
        && name[name.len() - domain.len()..].eq_ignore_ascii_case(domain)
        && (name.len() == domain.len() || name[name.len() - domain.len() - 1] == b'.')
}

#[cfg(test)]
mod tests;
