//! One DNS server and one exchange with it, classified the way the port needs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::xfer::{DnsHandle, FirstAnswer};
use hickory_resolver::net::{DnsError, NetError, NoRecords};
use hickory_resolver::proto::op::{DnsRequestOptions, DnsResponse, Query, ResponseCode};
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use hickory_resolver::{NameServerPool, PoolContext};
use tokio::sync::Semaphore;

/// How many CNAMEs one answer may chain before it is treated as broken.
pub(crate) const MAX_CHAIN: usize = 8;

/// The least time a query is sent with: a loopback round trip takes well under a
/// millisecond, a real one tens of them; with less left, asking is pure load.
const MIN_QUERY_TIME: Duration = Duration::from_millis(10);

/// One server, asked through a hickory pool of exactly one nameserver, so that every
/// answer is known to come from it and nothing between us and it caches.
#[derive(Clone)]
pub(crate) struct Upstream {
    /// Who this is, as reported in `DnsAnswer::server`.
    pub(crate) label: Arc<str>,
    pool: NameServerPool<TokioRuntimeProvider>,
    recursion_desired: bool,
    /// The adapter's slots for outstanding queries, shared by every server.
    in_flight: Arc<Semaphore>,
}

/// What a server said, success or a negative answer, with the sections the caller needs.
#[derive(Debug)]
pub(crate) struct Reply {
    /// NOERROR or NXDOMAIN; other codes are failures.
    pub(crate) code: ResponseCode,
    pub(crate) answers: Vec<Record>,
    pub(crate) authorities: Vec<Record>,
    pub(crate) additionals: Vec<Record>,
}

/// The port's classification of one exchange, before CNAMEs to other zones are chased.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Records of the type asked for, at the end of the CNAME chain.
    Records(Vec<RData>),
    /// The answer ends in an alias the server did not resolve (its target is in another
    /// zone): ask again for the target.
    Alias(Name),
    /// NXDOMAIN.
    NxDomain,
    /// NOERROR without records of the type.
    NoData,
    /// Nothing can be concluded.
    TempFail(String),
}

impl Outcome {
    pub(crate) fn is_temp_fail(&self) -> bool {
        matches!(self, Outcome::TempFail(_))
    }
}

impl Upstream {
    /// A server at `addr`, asked over UDP first and TCP when an answer is truncated.
    pub(crate) fn new(
        label: String,
        addr: SocketAddr,
        recursion_desired: bool,
        context: &Arc<PoolContext>,
        in_flight: &Arc<Semaphore>,
    ) -> Self {
        let mut config = NameServerConfig::udp_and_tcp(addr.ip());
        let mut udp = ConnectionConfig::udp();
        udp.port = addr.port();
        let mut tcp = ConnectionConfig::tcp();
        tcp.port = addr.port();
        config.connections = vec![udp, tcp];
        let pool =
            NameServerPool::from_config([config], context.clone(), TokioRuntimeProvider::default());
        Upstream {
            label: label.into(),
            pool,
            recursion_desired,
            in_flight: in_flight.clone(),
        }
    }

    /// Sends one question and waits at most `budget` for the answer, the wait for a
    /// free query slot included. Truncated UDP answers are asked again over TCP inside
    /// the pool.
    pub(crate) async fn query(
        &self,
        name: &Name,
        rtype: RecordType,
        budget: Duration,
    ) -> Result<Reply, String> {
        let until = tokio::time::Instant::now() + budget;
        // The slot is held until the exchange ends, so that the adapter never has more
        // queries outstanding than it allows, however many lookups wait.
        let Ok(Ok(_slot)) = tokio::time::timeout_at(until, self.in_flight.acquire()).await else {
            return Err(format!(
                "too many DNS queries in flight: none could be sent within {budget:?}"
            ));
        };
        // A slot that comes free just before the lookup's time is up is not used: no
        // answer could arrive in time, and the server would only see one more query
        // beside the one the previous holder gave up on.
        if until.saturating_duration_since(tokio::time::Instant::now()) < MIN_QUERY_TIME {
            return Err(format!(
                "too many DNS queries in flight: a slot came free with too little of {budget:?} left"
            ));
        }
        let mut options = DnsRequestOptions::default();
        options.recursion_desired = self.recursion_desired;
        options.use_edns = true;
        let query = Query::query(name.clone(), rtype);
        let exchange = self.pool.lookup(query, options).first_answer();
        match tokio::time::timeout_at(until, exchange).await {
            Err(_) => Err(format!("no answer within {budget:?}")),
            Ok(Ok(response)) => Ok(Reply::from_response(response)),
            Ok(Err(NetError::Dns(DnsError::NoRecordsFound(negative)))) => {
                Ok(Reply::from_negative(negative))
            }
            Ok(Err(NetError::Dns(DnsError::ResponseCode(code)))) => Err(rcode(code)),
            Ok(Err(NetError::Timeout)) => Err(format!("no answer within {budget:?}")),
            Ok(Err(other)) => Err(other.to_string()),
        }
    }

    /// Asks for `name`/`rtype` and classifies the answer.
    pub(crate) async fn ask(&self, name: &Name, rtype: RecordType, budget: Duration) -> Outcome {
        match self.query(name, rtype, budget).await {
            Ok(reply) => reply.classify(name, rtype),
            Err(why) => Outcome::TempFail(format!("{why} from {}", self.label)),
        }
    }
}

impl Reply {
    fn from_response(response: DnsResponse) -> Self {
        let message = response.into_message();
        Reply {
            code: message.metadata.response_code,
            answers: message.answers,
            authorities: message.authorities,
            additionals: message.additionals,
        }
    }

    /// hickory turns an answer without records into an error; this takes it back.
    fn from_negative(negative: NoRecords) -> Self {
        let authorities = negative
            .authorities
            .map(|a| a.to_vec())
            .or_else(|| negative.soa.map(|soa| vec![(*soa).into_record_of_rdata()]))
            .unwrap_or_default();
        let additionals = negative
            .ns
            .iter()
            .flat_map(|ns| ns.iter())
            .flat_map(|forward| forward.glue.iter().cloned())
            .collect();
        Reply {
            code: negative.response_code,
            answers: Vec::new(),
            authorities,
            additionals,
        }
    }

    /// Classifies the reply to a question for `qname`/`rtype`.
    pub(crate) fn classify(&self, qname: &Name, rtype: RecordType) -> Outcome {
        let Some((end, records)) = follow_chain(qname, rtype, &self.answers) else {
            return Outcome::TempFail(format!("a CNAME chain longer than {MAX_CHAIN}"));
        };
        if !records.is_empty() {
            return Outcome::Records(records);
        }
        if self.code == ResponseCode::NXDomain {
            // RFC 6604: with a CNAME chain, the RCODE is about the chain's last name.
            return Outcome::NxDomain;
        }
        if self.code != ResponseCode::NoError {
            return Outcome::TempFail(format!("unexpected {}", rcode(self.code)));
        }
        if end != *qname {
            return Outcome::Alias(end);
        }
        if self.is_referral() {
            // RFC 2308 §2.2: NS without SOA is a referral, not a "no data" answer: the
            // server does not hold the zone and does not recurse.
            return Outcome::TempFail("a referral instead of an answer".to_owned());
        }
        Outcome::NoData
    }

    /// The SOA in the reply (answer or authority section), with its owner: the apex of
    /// the zone the answer came from.
    pub(crate) fn soa_owner(&self) -> Option<&Name> {
        self.answers
            .iter()
            .chain(&self.authorities)
            .find(|r| r.record_type() == RecordType::SOA)
            .map(|r| &r.name)
    }

    fn is_referral(&self) -> bool {
        self.answers.is_empty()
            && self
                .authorities
                .iter()
                .any(|r| r.record_type() == RecordType::NS)
            && !self
                .authorities
                .iter()
                .any(|r| r.record_type() == RecordType::SOA)
    }
}

/// An RCODE as operators know it from `dig` (`SERVFAIL`, `REFUSED`).
fn rcode(code: ResponseCode) -> String {
    match code {
        ResponseCode::NoError => "NOERROR".to_owned(),
        ResponseCode::FormErr => "FORMERR".to_owned(),
        ResponseCode::ServFail => "SERVFAIL".to_owned(),
        ResponseCode::NXDomain => "NXDOMAIN".to_owned(),
        ResponseCode::NotImp => "NOTIMP".to_owned(),
        ResponseCode::Refused => "REFUSED".to_owned(),
        ResponseCode::NotAuth => "NOTAUTH".to_owned(),
        other => format!("RCODE {} ({other})", u16::from(other)),
    }
}

/// Follows the CNAME chain from `qname` through `answers`: the chain's last name and the
/// records of `rtype` there, or `None` if the chain is longer than [`MAX_CHAIN`] (or
/// loops).
fn follow_chain(qname: &Name, rtype: RecordType, answers: &[Record]) -> Option<(Name, Vec<RData>)> {
    let mut name = qname.clone();
    for _ in 0..=MAX_CHAIN {
        let records: Vec<RData> = answers
            .iter()
            .filter(|r| r.record_type() == rtype && r.name == name)
            .map(|r| r.data.clone())
            .collect();
        if !records.is_empty() {
            return Some((name, records));
        }
        let next = answers.iter().find_map(|r| match &r.data {
            RData::CNAME(target) if r.name == name => Some(target.0.clone()),
            _ => None,
        });
        match next {
            Some(target) => name = target,
            None => return Some((name, Vec::new())),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use hickory_resolver::proto::rr::rdata::{CNAME, NS, SOA, TXT};

    use super::*;

    fn name(text: &str) -> Name {
        Name::from_ascii(text).expect("test name")
    }

    fn record(owner: &str, data: RData) -> Record {
        Record::from_rdata(name(owner), 300, data)
    }

    fn txt(owner: &str, text: &str) -> Record {
        record(owner, RData::TXT(TXT::new(vec![text.to_owned()])))
    }

    fn cname(owner: &str, target: &str) -> Record {
        record(owner, RData::CNAME(CNAME(name(target))))
    }

    fn soa(owner: &str) -> Record {
        let soa = SOA::new(name("ns.a.test."), name("h.a.test."), 1, 1, 1, 1, 300);
        record(owner, RData::SOA(soa))
    }

    fn reply(code: ResponseCode, answers: Vec<Record>, authorities: Vec<Record>) -> Reply {
        Reply {
            code,
            answers,
            authorities,
            additionals: Vec::new(),
        }
    }

    /// Classifies a reply to `TXT a.test.` and names the outcome.
    fn check(reply: Reply, expected: &str) {
        let outcome = reply.classify(&name("a.test."), RecordType::TXT);
        let got = match &outcome {
            Outcome::Records(r) => format!("records {}", r.len()),
            Outcome::Alias(target) => format!("alias {target}"),
            Outcome::NxDomain => "nxdomain".to_owned(),
            Outcome::NoData => "nodata".to_owned(),
            Outcome::TempFail(_) => "tempfail".to_owned(),
        };
        assert_eq!(got, expected, "{outcome:?}");
    }

    #[test]
    fn replies_are_classified_as_the_port_requires() {
        use ResponseCode::{NXDomain, NoError};
        check(
            reply(
                NoError,
                vec![txt("a.test.", "x"), txt("a.test.", "y")],
                vec![],
            ),
            "records 2",
        );
        check(
            reply(NoError, vec![txt("A.TEST.", "x")], vec![]),
            "records 1",
        );
        check(reply(NXDomain, vec![], vec![soa("a.test.")]), "nxdomain");
        check(reply(NoError, vec![], vec![soa("a.test.")]), "nodata");
        check(reply(NoError, vec![], vec![]), "nodata");
        // Records of another name are not an answer.
        check(reply(NoError, vec![txt("b.test.", "x")], vec![]), "nodata");
        // The chain is followed to its end, wherever the records are in the section.
        check(
            reply(
                NoError,
                vec![
                    txt("c.test.", "x"),
                    cname("b.test.", "c.test."),
                    cname("a.test.", "b.test."),
                ],
                vec![],
            ),
            "records 1",
        );
        // An alias whose target was not answered is asked again; to nothing, NXDOMAIN.
        check(
            reply(NoError, vec![cname("a.test.", "b.test.")], vec![]),
            "alias b.test.",
        );
        check(
            reply(NXDomain, vec![cname("a.test.", "b.test.")], vec![]),
            "nxdomain",
        );
        // A referral (NS, no SOA) is no statement about the name.
        let ns = record("a.test.", RData::NS(NS(name("ns.a.test."))));
        check(reply(NoError, vec![], vec![ns.clone()]), "tempfail");
        check(reply(NoError, vec![], vec![ns, soa("a.test.")]), "nodata");
        // A chain that loops, or is too long, is broken DNS, not an absence.
        check(
            reply(
                NoError,
                vec![cname("a.test.", "b.test."), cname("b.test.", "a.test.")],
                vec![],
            ),
            "tempfail",
        );
    }

    #[test]
    fn the_soa_names_the_zone_apex() {
        let r = reply(ResponseCode::NXDomain, vec![], vec![soa("zone.test.")]);
        assert_eq!(r.soa_owner(), Some(&name("zone.test.")));
        assert_eq!(
            reply(ResponseCode::NoError, vec![], vec![]).soa_owner(),
            None
        );
    }
}
