//! The OpenSPF RFC 7208 test suite (`tests/fixtures/spf/rfc7208-tests.yml`), loaded into
//! in-memory zones as the suite's README prescribes. Shared by the conformance test and
//! the benchmark (`benches/spf.rs` includes this file).

use std::collections::HashSet;
use std::net::IpAddr;

use domain_core::records::spf::{SpfEvaluation, SpfQuery};
use domain_core::testing::{FakeDns, QueryType};
use yaml_rust2::{Yaml, YamlLoader};

/// The suite, vendored unchanged with its licence.
const SUITE: &str = include_str!("../fixtures/spf/rfc7208-tests.yml");

/// One YAML document: cases and the zone they run against.
#[derive(Debug)]
pub struct Section {
    /// The document's `description`.
    pub description: String,
    /// Its `zonedata`.
    pub zone: FakeDns,
    /// Its `tests`, in file order.
    pub cases: Vec<Case>,
}

/// One test case.
#[derive(Debug)]
pub struct Case {
    /// The case's name, unique in the suite.
    pub name: String,
    /// `host`: the client address.
    pub ip: IpAddr,
    /// `mailfrom`, or `postmaster@<helo>` when it is empty.
    pub sender: String,
    /// `helo`.
    pub helo: String,
    /// `result`: any of these is acceptable.
    pub results: Vec<String>,
    /// `explanation`, where given; `DEFAULT` means "no `exp=` explanation".
    pub explanation: Option<String>,
}

impl Case {
    /// `check_host()`'s arguments: the sender's domain, the sender, the HELO name.
    pub fn query(&self) -> SpfQuery<'_> {
        let domain = self
            .sender
            .rsplit_once('@')
            .map_or(self.sender.as_str(), |(_, d)| d);
        SpfQuery {
            helo: Some(&self.helo),
            ..SpfQuery::new(self.ip, domain, &self.sender)
        }
    }

    /// `Ok` when the evaluation gives an accepted result and the expected explanation.
    pub fn judge(&self, e: &SpfEvaluation) -> Result<(), String> {
        if !self.results.iter().any(|r| r == e.result.as_str()) {
            return Err(format!(
                "result `{}` ({:?}), expected {:?}",
                e.result, e.problem, self.results
            ));
        }
        match self.explanation.as_deref() {
            None => Ok(()),
            Some("DEFAULT") if e.explanation.is_none() => Ok(()),
            Some(want) if e.explanation.as_deref() == Some(want) => Ok(()),
            Some(want) => Err(format!(
                "explanation {:?}, expected {want:?}",
                e.explanation
            )),
        }
    }
}

/// Loads every section. Panics with the reason if the file does not have the suite's
/// shape, which is a broken fixture, not a failing case.
pub fn load() -> Vec<Section> {
    let docs = YamlLoader::load_from_str(SUITE).expect("the suite is valid YAML");
    let sections: Vec<Section> = docs.iter().map(section).collect();
    let mut names = HashSet::new();
    for case in sections.iter().flat_map(|s| &s.cases) {
        assert!(
            names.insert(case.name.as_str()),
            "case {} appears twice",
            case.name
        );
    }
    sections
}

fn section(doc: &Yaml) -> Section {
    let description = text(&doc["description"]).to_owned();
    let cases = doc["tests"]
        .as_hash()
        .unwrap_or_else(|| panic!("section {description} has no tests"))
        .iter()
        .map(|(name, case)| {
            let name = text(name).to_owned();
            let helo = text(&case["helo"]).to_owned();
            let mailfrom = text(&case["mailfrom"]);
            let sender = if mailfrom.is_empty() {
                format!("postmaster@{helo}")
            } else {
                mailfrom.to_owned()
            };
            let results = match &case["result"] {
                Yaml::Array(results) => results.iter().map(|r| text(r).to_owned()).collect(),
                result => vec![text(result).to_owned()],
            };
            Case {
                ip: text(&case["host"])
                    .parse()
                    .unwrap_or_else(|e| panic!("case {name}: bad host: {e}")),
                explanation: case["explanation"].as_str().map(str::to_owned),
                name,
                sender,
                helo,
                results,
            }
        })
        .collect();
    Section {
        zone: zone(&doc["zonedata"]),
        description,
        cases,
    }
}

const QUERY_TYPES: [QueryType; 5] = [
    QueryType::Txt,
    QueryType::A,
    QueryType::Aaaa,
    QueryType::Mx,
    QueryType::Ptr,
];

fn zone(zonedata: &Yaml) -> FakeDns {
    let dns = FakeDns::new();
    dns.fail_absent("error");
    let names = zonedata.as_hash().expect("zonedata is a mapping");
    for (name, entries) in names {
        let name = text(name);
        // A listed name exists, even when it has no record of the type asked.
        dns.exists(name);
        // The types that have a record listed so far: a later `TIMEOUT` spares them.
        let mut answered: HashSet<QueryType> = HashSet::new();
        let mut own_txt = false;
        let mut spf: Vec<&Yaml> = Vec::new();
        for entry in entries.as_vec().expect("a name holds a list of records") {
            if entry.as_str() == Some("TIMEOUT") {
                for kind in QUERY_TYPES.into_iter().filter(|k| !answered.contains(k)) {
                    dns.fail(name, kind);
                }
                continue;
            }
            let record = entry.as_hash().expect("a record is `TYPE: value`");
            for (kind, value) in record {
                match text(kind) {
                    "TXT" => {
                        own_txt = true;
                        if value.as_str() != Some("NONE") {
                            add_txt(&dns, name, value);
                            answered.insert(QueryType::Txt);
                        }
                    }
                    "SPF" => spf.push(value),
                    "A" => {
                        dns.a(name, text(value).parse().expect("an IPv4 address"));
                        answered.insert(QueryType::A);
                    }
                    "AAAA" => {
                        dns.aaaa(name, text(value).parse().expect("an IPv6 address"));
                        answered.insert(QueryType::Aaaa);
                    }
                    "MX" => {
                        let mx = value.as_vec().expect("MX is [preference, host]");
                        let preference = mx[0].as_i64().expect("an MX preference");
                        let preference = u16::try_from(preference).expect("a 16-bit preference");
                        dns.mx(name, preference, text(&mx[1]));
                        answered.insert(QueryType::Mx);
                    }
                    "PTR" => {
                        dns.ptr_at(name, text(value));
                        answered.insert(QueryType::Ptr);
                    }
                    "CNAME" => {
                        dns.cname(name, text(value));
                    }
                    other => panic!("{name}: unknown record type {other}"),
                }
            }
        }
        // RFC 7208 dropped the SPF type; the suite wants its SPF entries served as TXT
        // unless the name lists TXT of its own.
        if !own_txt {
            for value in spf {
                add_txt(&dns, name, value);
            }
        }
    }
    dns
}

/// A TXT value is one string, or a list of character-strings of one record.
fn add_txt(dns: &FakeDns, name: &str, value: &Yaml) {
    match value {
        Yaml::Array(strings) => {
            let strings: Vec<&str> = strings.iter().map(text).collect();
            dns.txt_strings(name, &strings);
        }
        value => {
            dns.txt(name, text(value));
        }
    }
}

fn text(value: &Yaml) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("expected a string, found {value:?}"))
}
