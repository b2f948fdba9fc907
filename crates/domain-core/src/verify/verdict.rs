//! Verdicts: what a check concludes, and the one rule that turns verdicts into a domain's
//! flags: `verified`, and `return_path_verified`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::macros::named_enum;

named_enum! {
    /// Which check a verdict is about. The one list of checks: everything that is kept or
    /// shown per check (the store's rows, the API's `checks`, the timeline) follows
    /// [`CheckKind::ALL`].
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum CheckKind {
        /// The DKIM key record.
        Dkim => "dkim",
        /// The SPF record.
        Spf => "spf",
        /// The DMARC record.
        Dmarc => "dmarc",
        /// The return-path (MAIL FROM) host: our bounce MX and an SPF record that
        /// authorizes us. Run only for a domain that has a return path.
        ReturnPath => "return_path",
    }
}

/// A flag of a domain that a group of checks decides, each under the monitor's grace
/// of its own (see `lifecycle`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Gate {
    /// `verified`: the product page's rule, which decides whether the domain may send.
    Verified,
    /// `return_path_verified`: whether mail goes out with the domain's own return-path
    /// host as its MAIL FROM domain (docs/sending.md).
    ReturnPath,
}

impl Gate {
    /// Every flag.
    pub const ALL: [Gate; 2] = [Gate::Verified, Gate::ReturnPath];

    /// The checks that decide this flag, in the order of [`CheckKind::ALL`].
    pub fn checks(self) -> impl Iterator<Item = CheckKind> {
        CheckKind::ALL.into_iter().filter(move |k| k.gate() == self)
    }
}

impl CheckKind {
    /// Reads what [`as_str`](Self::as_str) wrote.
    pub fn parse(s: &str) -> Option<Self> {
        Self::from_name(s)
    }

    /// The flag this check decides. `verified` is the product page's rule: DKIM, SPF and
    /// DMARC all pass (docs/verification.md); the return path has a flag of its own.
    pub fn gate(self) -> Gate {
        match self {
            CheckKind::Dkim | CheckKind::Spf | CheckKind::Dmarc => Gate::Verified,
            CheckKind::ReturnPath => Gate::ReturnPath,
        }
    }

    /// Whether a domain must pass this check to be verified.
    pub fn required_for_verified(self) -> bool {
        self.gate() == Gate::Verified
    }

    /// Whether the check runs for every domain; one that does not runs only when the
    /// domain asks for it (the return path, when one is set), and is absent otherwise.
    pub fn runs_for_every_domain(self) -> bool {
        match self {
            CheckKind::Dkim | CheckKind::Spf | CheckKind::Dmarc => true,
            CheckKind::ReturnPath => false,
        }
    }
}

/// The last verdict of each check, keyed by kind; a check not run yet has none.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verdicts(BTreeMap<CheckKind, Verdict>);

impl Verdicts {
    /// The verdict of one check.
    pub fn get(&self, kind: CheckKind) -> Option<&Verdict> {
        self.0.get(&kind)
    }

    /// Sets the verdict of the check it is about, returning the one it replaces.
    pub fn insert(&mut self, verdict: Verdict) -> Option<Verdict> {
        self.0.insert(verdict.record, verdict)
    }

    /// Drops the verdict of one check, returning it.
    pub fn remove(&mut self, kind: CheckKind) -> Option<Verdict> {
        self.0.remove(&kind)
    }

    /// Whether the check has a passing verdict.
    pub fn passed(&self, kind: CheckKind) -> bool {
        self.get(kind).is_some_and(Verdict::passed)
    }

    /// The verdicts, in the order of [`CheckKind::ALL`].
    pub fn iter(&self) -> impl Iterator<Item = &Verdict> {
        self.0.values()
    }

    /// The verdicts that do not pass.
    pub fn failing(&self) -> impl Iterator<Item = &Verdict> {
        self.iter().filter(|v| !v.passed())
    }

    /// Whether these verdicts raise `gate`: every check that decides it
    /// ([`CheckKind::gate`]) passes. The one place the rule is written.
    pub fn passes(&self, gate: Gate) -> bool {
        gate.checks().all(|k| self.passed(k))
    }

    /// Whether these verdicts make a domain verified ([`Gate::Verified`]).
    pub fn verified(&self) -> bool {
        self.passes(Gate::Verified)
    }
}

impl FromIterator<Verdict> for Verdicts {
    fn from_iter<I: IntoIterator<Item = Verdict>>(iter: I) -> Self {
        Verdicts(iter.into_iter().map(|v| (v.record, v)).collect())
    }
}

named_enum! {
    /// The outcome of one check (docs/api.md, `status`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum CheckStatus {
        /// The record is there and right.
        Verified => "verified",
        /// No record where one belongs.
        Missing => "missing",
        /// A record is there but says something else (another key, SPF not authorizing us).
        Mismatch => "mismatch",
        /// A record is there but broken (syntax, several records, a blown limit, revoked).
        Invalid => "invalid",
        /// DNS could not answer (timeout, SERVFAIL); nothing can be concluded.
        TemporaryFailure => "temporary_failure",
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
    /// CNAME mode: no CNAME at a slot.
    DkimCnameMissing,
    /// CNAME mode: a slot's CNAME points somewhere else than our zone's name for it.
    DkimCnameWrongTarget,
    /// CNAME mode: a TXT record where the slot's CNAME belongs.
    DkimTxtInsteadOfCname,
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
    /// The return-path host has our bounce MX and authorizes our sending addresses.
    ReturnPathOk,
    /// The return-path host is an alias (CNAME), which shadows the MX and SPF records it
    /// needs.
    ReturnPathCname,
    /// No MX record at the return-path host.
    ReturnPathMxMissing,
    /// The return-path host has a null MX (RFC 7505): it accepts no mail, so bounces
    /// could not come home.
    ReturnPathNullMx,
    /// The return-path host's one mail exchanger is not our bounce host.
    ReturnPathMxMismatch,
    /// The return-path host has several mail exchangers, not only our bounce host.
    ReturnPathMultipleMx,
    /// No SPF record at the return-path host.
    ReturnPathSpfMissing,
    /// The SPF record at the return-path host is broken (several records, syntax, limits).
    ReturnPathSpfInvalid,
    /// The SPF record at the return-path host does not authorize our sending addresses.
    ReturnPathSpfNotAuthorized,
    /// DNS could not answer for the return-path host.
    ReturnPathTemporaryFailure,
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

/// The result of one check (docs/api.md, `checks[]`).
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

    pub(super) fn new(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_kind_is_listed_once_and_reads_back() {
        for (i, kind) in CheckKind::ALL.into_iter().enumerate() {
            // A variant missing from `ALL` would not be matched here: the match in
            // `as_str` is exhaustive, and every name must come back as its kind.
            assert_eq!(CheckKind::parse(kind.as_str()), Some(kind));
            assert!(!CheckKind::ALL[..i].contains(&kind), "{kind:?} twice");
            // Verdicts carry their kind in JSON (stored, and shown by `check --json`):
            // the same name as the store's rows and the API's keys.
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        assert_eq!(CheckKind::parse("bimi"), None);
    }

    #[test]
    fn every_check_status_is_listed_once_under_its_serde_name() {
        for (i, status) in CheckStatus::ALL.into_iter().enumerate() {
            assert_eq!(serde_json::json!(status), status.as_str());
            assert!(!CheckStatus::ALL[..i].contains(&status), "{status:?} twice");
        }
    }

    fn verdict(kind: CheckKind, status: CheckStatus) -> Verdict {
        Verdict::new(
            kind,
            "example.com".to_owned(),
            status,
            VerdictCode::DkimOk,
            String::new(),
        )
    }

    #[test]
    fn a_domain_is_verified_when_every_required_check_passes() {
        let all: Verdicts = CheckKind::ALL
            .into_iter()
            .map(|k| verdict(k, CheckStatus::Verified))
            .collect();
        assert!(all.verified());
        assert_eq!(all.failing().count(), 0);
        for kind in CheckKind::ALL
            .into_iter()
            .filter(|k| k.required_for_verified())
        {
            let mut one_fails = all.clone();
            one_fails.insert(verdict(kind, CheckStatus::Missing));
            assert!(!one_fails.verified(), "{kind:?} failing");
            assert_eq!(one_fails.failing().count(), 1);
            let mut one_missing: Verdicts =
                all.iter().filter(|v| v.record != kind).cloned().collect();
            assert!(!one_missing.verified(), "{kind:?} never checked");
            one_missing.insert(verdict(kind, CheckStatus::TemporaryFailure));
            assert!(!one_missing.verified(), "{kind:?} temporarily failing");
        }
        assert!(!Verdicts::default().verified());
    }

    #[test]
    fn each_flag_follows_its_own_checks_only() {
        assert_eq!(
            Gate::Verified.checks().collect::<Vec<_>>(),
            [CheckKind::Dkim, CheckKind::Spf, CheckKind::Dmarc]
        );
        assert_eq!(
            Gate::ReturnPath.checks().collect::<Vec<_>>(),
            [CheckKind::ReturnPath]
        );
        let mut v: Verdicts = Gate::Verified
            .checks()
            .map(|k| verdict(k, CheckStatus::Verified))
            .collect();
        assert!(
            v.verified(),
            "a failing or absent return path leaves `verified` alone"
        );
        assert!(!v.passes(Gate::ReturnPath), "never checked");
        v.insert(verdict(CheckKind::ReturnPath, CheckStatus::Mismatch));
        assert!(v.verified());
        assert!(!v.passes(Gate::ReturnPath));
        v.insert(verdict(CheckKind::ReturnPath, CheckStatus::Verified));
        v.insert(verdict(CheckKind::Dkim, CheckStatus::Missing));
        assert!(
            v.passes(Gate::ReturnPath),
            "DKIM does not decide the return path"
        );
        assert!(!v.verified());
        for kind in CheckKind::ALL {
            assert_eq!(kind.runs_for_every_domain(), kind.required_for_verified());
        }
    }
}
