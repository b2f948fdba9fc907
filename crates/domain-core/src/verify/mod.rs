//! Verification rules: DNS answers in, one verdict per check out (contract §3).
//!
//! A key design decision: temporary DNS failure is its own status everywhere and never
//! folds into "missing", so an outage can never unverify a domain.

mod dkim;
mod dmarc;
mod domain;
mod memo;
mod spf;

use serde::{Deserialize, Serialize};

pub use dkim::{DkimExpectation, check_dkim};
pub use dmarc::{DmarcExpectation, check_dmarc};
pub use domain::{DomainExpectation, DomainReport, check_domain};
pub use spf::{SpfExpectation, check_spf};

/// Which record a verdict is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    /// The DKIM key record.
    Dkim,
    /// The SPF record.
    Spf,
    /// The DMARC record.
    Dmarc,
}

impl CheckKind {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::Dkim => "dkim",
            CheckKind::Spf => "spf",
            CheckKind::Dmarc => "dmarc",
        }
    }
}

/// The outcome of one check (contract §2 `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// The record is there and right.
    Verified,
    /// No record where one belongs.
    Missing,
    /// A record is there but says something else (another key, SPF not authorizing us).
    Mismatch,
    /// A record is there but broken (syntax, several records, a blown limit, revoked).
    Invalid,
    /// DNS could not answer (timeout, SERVFAIL); nothing can be concluded.
    TemporaryFailure,
}

impl CheckStatus {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Verified => "verified",
            CheckStatus::Missing => "missing",
            CheckStatus::Mismatch => "mismatch",
            CheckStatus::Invalid => "invalid",
            CheckStatus::TemporaryFailure => "temporary_failure",
        }
    }
}

/// A stable machine code for a verdict or a warning. Clients may switch on these; the
/// set only grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerdictCode {
    /// The DKIM record holds our key.
    DkimOk,
    /// No DKIM record at the selector.
    DkimMissing,
    /// The DKIM record holds another key.
    DkimKeyMismatch,
    /// Several TXT records at the selector.
    DkimMultipleRecords,
    /// The record's `p=` is empty: the key was revoked.
    DkimRevoked,
    /// The record does not parse, or its key does not.
    DkimInvalid,
    /// The record's `k=` is a key type we do not sign with.
    DkimUnknownKeyType,
    /// The record's `s=` excludes e-mail.
    DkimNotForEmail,
    /// The record's `h=` excludes SHA-256.
    DkimHashNotAllowed,
    /// Warning: `t=y`, receivers may treat failures leniently.
    DkimTesting,
    /// Warning: the key is shorter than 2048 bits.
    DkimWeakKey,
    /// DNS could not answer for the DKIM record.
    DkimTemporaryFailure,
    /// SPF authorizes every sending address.
    SpfOk,
    /// No SPF record at the domain.
    SpfMissing,
    /// More than one SPF record: a permanent error for every receiver.
    SpfMultipleRecords,
    /// An SPF record (ours or one it includes) has a syntax error.
    SpfSyntaxError,
    /// Evaluation needs more than 10 DNS-querying terms.
    SpfTooManyLookups,
    /// Evaluation meets more than 2 lookups that return nothing.
    SpfVoidLookupLimit,
    /// Our include is not reached with a passing qualifier before `all`.
    SpfIncludeNotReached,
    /// check_host does not give `pass` for one of our sending addresses.
    SpfNotAuthorized,
    /// Warning: `+all` lets anyone send as the domain.
    SpfAllowsEveryone,
    /// DNS could not answer during SPF evaluation.
    SpfTemporaryFailure,
    /// The DMARC record is valid.
    DmarcOk,
    /// No DMARC record at the domain, but the organizational domain's applies.
    DmarcInherited,
    /// No DMARC record applies.
    DmarcMissing,
    /// Several DMARC records: receivers apply none.
    DmarcMultipleRecords,
    /// The DMARC record does not parse.
    DmarcInvalid,
    /// Warning: the published policy differs from the configured one.
    DmarcPolicyDiffers,
    /// Warning: reports go to another domain that has not authorized them (RFC 7489 §7.1).
    DmarcExternalRuaUnauthorized,
    /// DNS could not answer for the DMARC record.
    DmarcTemporaryFailure,
}

impl VerdictCode {
    /// The snake_case name.
    pub fn as_str(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

/// Something worth knowing that does not fail the check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    /// The machine code.
    pub code: VerdictCode,
    /// What it means and what to do.
    pub message: String,
}

/// The result of one check (contract §3 `checks[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// Which record.
    pub record: CheckKind,
    /// The DNS name that was checked.
    pub host: String,
    /// The outcome.
    pub status: CheckStatus,
    /// The machine code.
    pub code: VerdictCode,
    /// The record that should be published there, if we know it.
    pub expected: Option<String>,
    /// The records found there (joined character-strings, control characters, bytes
    /// that are not UTF-8 and backslashes escaped as `\DDD` and `\\`), in DNS order.
    pub found: Vec<String>,
    /// A readable sentence that names the record and what is wrong.
    pub message: String,
    /// Non-fatal findings.
    #[serde(default)]
    pub warnings: Vec<Warning>,
    /// The server that answered the main query.
    #[serde(default)]
    pub answered_by: Option<String>,
    /// Per-check details (SPF: include reached, lookup counts; DMARC: inherited from).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
}

impl Verdict {
    /// Whether the check passed.
    pub fn passed(&self) -> bool {
        self.status == CheckStatus::Verified
    }

    fn new(
        record: CheckKind,
        host: String,
        status: CheckStatus,
        code: VerdictCode,
        message: String,
    ) -> Self {
        Verdict {
            record,
            host,
            status,
            code,
            expected: None,
            found: Vec::new(),
            message,
            warnings: Vec::new(),
            answered_by: None,
            details: serde_json::Value::Null,
        }
    }

    /// Whether the outcome, as a user sees it, differs from `other`: status, code,
    /// what was found, or the warnings. Used to record only changes in the timeline.
    pub fn differs_from(&self, other: &Verdict) -> bool {
        self.status != other.status
            || self.code != other.code
            || self.found != other.found
            || self.warnings != other.warnings
    }
}
