//! `dkim-interop`: the proof that `domain-core`'s DKIM signatures verify with an
//! independent implementation — Stalwart's `mail-auth` — against the key records we
//! publish. Dev-only (`publish = false`); nothing in the service links it.
//!
//! A key design decision made in this crate is that verification never touches the
//! network unless a test asks it to. Key records are served from mail-auth's own TXT
//! cache, which [`Zone`] implements as a closed world (a name that was not published
//! answers NXDOMAIN, never a fall-through to a resolver), and
//! [`offline_authenticator`]'s resolver has no name servers at all. A variant against a
//! DNS server on loopback keeps [`verify`] and [`Verdict`] and passes no zone and an
//! authenticator built with [`authenticator_for`] instead.
//!
//! The records are the strings `domain-core` publishes
//! (`DkimKeyRecord::for_key(..).to_string()`), parsed by mail-auth's own record parser,
//! so the record format is under test too.

use std::collections::HashMap;
use std::sync::Mutex;

use domain_core::records::dkim::{DkimKeyRecord, DkimPublicKey};
use domain_core::{DomainName, Selector};
use mail_auth::common::parse::TxtRecordParser as _;
use mail_auth::common::verify::DomainKey;
use mail_auth::hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts,
};
use mail_auth::hickory_resolver::proto::op::ResponseCode;
use mail_auth::{
    AuthenticatedMessage, DkimResult, DnsError, Error, MessageAuthenticator, Parameters,
    ResolverCache, Txt,
};

pub use mail_auth;

/// The TXT records of a test's DNS, keyed by fully qualified, lower-case name with the
/// trailing dot (the form mail-auth looks names up in).
#[derive(Default)]
pub struct Zone {
    records: Mutex<HashMap<Box<str>, Txt>>,
}

impl Zone {
    /// An empty zone: every name is NXDOMAIN.
    pub fn new() -> Self {
        Self::default()
    }

    /// Publishes `key` at `<selector>._domainkey.<domain>` as `domain-core` would, and
    /// returns the record text.
    pub fn publish_key(
        &self,
        domain: &DomainName,
        selector: &Selector,
        key: &DkimPublicKey,
    ) -> String {
        let record = key_record(key);
        self.publish_txt(&selector.record_host(domain), &record);
        record
    }

    /// Publishes a TXT record (replacing the name's record, if any). The text is parsed
    /// as a DKIM key record by mail-auth; a record it cannot parse is kept as the error
    /// mail-auth would report for it.
    pub fn publish_txt(&self, name: &str, text: &str) {
        let value = Txt::from(DomainKey::parse(text.as_bytes()));
        self.lock().insert(fqdn(name).into(), value);
    }

    /// Removes a name: it answers NXDOMAIN again.
    pub fn withdraw(&self, name: &str) {
        self.lock().remove(fqdn(name).as_str());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, Txt>> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl std::fmt::Debug for Zone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<String> = self.lock().keys().map(|k| k.to_string()).collect();
        names.sort();
        f.debug_struct("Zone").field("names", &names).finish()
    }
}

/// mail-auth consults this before its resolver; answering every name (NXDOMAIN for the
/// unpublished ones) is what keeps the resolver, and the network, out of the tests.
impl ResolverCache<Box<str>, Txt> for Zone {
    fn get<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        Some(self.lock().get(name).cloned().unwrap_or_else(|| {
            Txt::Error(Error::Dns(DnsError::RecordNotFound(ResponseCode::NXDomain)))
        }))
    }

    fn remove<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        self.lock().remove(name)
    }

    // mail-auth caches what its resolver found; with a closed zone it never resolves,
    // and a test's zone must only change through `publish_*` and `withdraw`.
    fn insert(&self, _: Box<str>, _: Txt, _: std::time::Instant) {}
}

/// The record `domain-core` publishes for `key`: `v=DKIM1; k=rsa; p=…`, or
/// `v=DKIM1; k=ed25519; p=…` for an Ed25519 key.
pub fn key_record(key: &DkimPublicKey) -> String {
    DkimKeyRecord::for_key(key).to_string()
}

fn fqdn(name: &str) -> String {
    let mut name = name.trim_end_matches('.').to_ascii_lowercase();
    name.push('.');
    name
}

/// An authenticator whose resolver has no name servers: any lookup that a [`Zone`] does
/// not answer fails instead of leaving the machine.
pub fn offline_authenticator() -> MessageAuthenticator {
    authenticator_for(Vec::new())
}

/// An authenticator that resolves through the given name servers (for a DNS server on
/// loopback).
pub fn authenticator_for(name_servers: Vec<NameServerConfig>) -> MessageAuthenticator {
    MessageAuthenticator::new(
        ResolverConfig::from_parts(None, Vec::new(), name_servers),
        ResolverOpts::default(),
    )
    .expect("a resolver without TLS or DNSSEC configuration builds")
}

/// An authenticator that asks exactly one DNS server, e.g. a test server on loopback at
/// a port other than 53, over UDP and TCP.
pub fn authenticator_for_server(server: std::net::SocketAddr) -> MessageAuthenticator {
    let connections = [ConnectionConfig::udp(), ConnectionConfig::tcp()]
        .into_iter()
        .map(|mut c| {
            c.port = server.port();
            c
        })
        .collect();
    authenticator_for(vec![NameServerConfig::new(server.ip(), true, connections)])
}

/// What mail-auth concluded about one DKIM-Signature field, detached from the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// `Pass`, or the failure and its reason.
    pub result: DkimResult,
    /// The signature's `d=`, when mail-auth could parse the field.
    pub domain: Option<String>,
    /// The signature's `s=`, when mail-auth could parse the field.
    pub selector: Option<String>,
}

impl Verdict {
    /// Whether the signature passed.
    pub fn is_pass(&self) -> bool {
        self.result == DkimResult::Pass
    }
}

/// Verifies every DKIM-Signature of `message` with mail-auth, looking keys up in `zone`
/// when given and through `authenticator`'s resolver otherwise. `None` if mail-auth
/// cannot parse the message at all.
pub async fn verify(
    authenticator: &MessageAuthenticator,
    zone: Option<&Zone>,
    message: &[u8],
) -> Option<Vec<Verdict>> {
    let parsed = AuthenticatedMessage::parse(message)?;
    let outputs = match zone {
        Some(zone) => {
            authenticator
                .verify_dkim(Parameters::new(&parsed).with_txt_cache(zone))
                .await
        }
        None => authenticator.verify_dkim(Parameters::new(&parsed)).await,
    };
    Some(
        outputs
            .iter()
            .map(|o| Verdict {
                result: o.result().clone(),
                domain: o.signature().map(|s| s.d.clone()),
                selector: o.signature().map(|s| s.s.clone()),
            })
            .collect(),
    )
}
