//! HTTP request and response bodies. Requests are HTTP types, converted into domain
//! types here at the edge; responses keep the seed's field names (contract §2–§4) and
//! add fields, never rename them.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::http::{HeaderMap, header};
use domain_core::crypto::{KeyAlgorithm, RsaBits};
use domain_core::publish::{DnsRecordSpec, RecordAction, RecordStatus};
use domain_core::rotation::{RotationPeriod, SelectorKey};
use domain_core::service::{
    DomainChanges, DomainView, NewDomain, RotationStarted, VerificationReport,
};
use domain_core::verify::{CheckKind, Verdict, Verdicts};
use domain_core::{DmarcPolicy, DomainEvent, DomainName, FieldError, InputError, RuaAddress};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::openapi::schema::{Object, ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema as _, ToSchema};

use crate::error::ApiError;

/// Reads a JSON body: `415` unless declared JSON, `400` unless a JSON object, `422` when a
/// field has the wrong type or is unknown (naming the field).
pub fn json_body<T: DeserializeOwned>(headers: &HeaderMap, body: &Bytes) -> Result<T, ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .is_some_and(|m| {
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        });
    if !is_json {
        return Err(ApiError::unsupported_media_type());
    }
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::malformed(format!("the body is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::malformed("the body must be a JSON object"));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let field = if path == "." {
            // Unknown fields are reported at the object level; name the field itself.
            inner
                .split('`')
                .nth(1)
                .map_or_else(|| "body".to_owned(), str::to_owned)
        } else {
            path
        };
        ApiError::invalid(vec![FieldError {
            field,
            message: inner,
        }])
    })
}

/// `POST /api/admin/domains`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDomainRequest {
    /// The domain, e.g. `mail.example.com`; IDNs are converted to A-labels.
    #[schema(required = true, example = "mail.example.com")]
    pub domain: Option<String>,
    /// `none` (default), `quarantine` or `reject`.
    #[schema(example = "quarantine")]
    pub dmarc_policy: Option<String>,
    /// Where DMARC aggregate reports go.
    #[schema(example = "dmarc-reports@example.com")]
    pub dmarc_rua_email: Option<String>,
    /// A partner-owned domain usable by every tenant of the partner (partner operators only).
    pub is_shared: Option<bool>,
    /// `2048` (default), `3072` or `4096`.
    pub dkim_key_bits: Option<u32>,
    /// Rotate the DKIM key automatically after this many days (off by default).
    pub dkim_rotation_days: Option<u32>,
}

impl CreateDomainRequest {
    /// Parses every field, reporting all invalid ones at once.
    pub fn into_domain(self) -> Result<NewDomain, Vec<FieldError>> {
        let mut errors = Vec::new();
        let name = match self.domain.as_deref() {
            None => {
                errors.push(FieldError {
                    field: "domain".into(),
                    message: "`domain` is required, e.g. \"mail.example.com\"".into(),
                });
                None
            }
            Some(d) => collect(&mut errors, "domain", DomainName::parse(d)),
        };
        let policy = match self.dmarc_policy.as_deref() {
            None => Some(DmarcPolicy::None),
            Some(p) => collect(&mut errors, "dmarc_policy", DmarcPolicy::parse(p)),
        };
        let rua = match self.dmarc_rua_email.as_deref() {
            None => Some(None),
            Some(a) => collect(&mut errors, "dmarc_rua_email", RuaAddress::parse(a)).map(Some),
        };
        let bits = match self.dkim_key_bits {
            None => Some(KeyAlgorithm::default()),
            Some(b) => {
                collect(&mut errors, "dkim_key_bits", RsaBits::from_bits(b)).map(KeyAlgorithm::Rsa)
            }
        };
        let days = match self.dkim_rotation_days {
            None => Some(None),
            Some(d) => collect(
                &mut errors,
                "dkim_rotation_days",
                RotationPeriod::from_days(d),
            )
            .map(Some),
        };
        match (name, policy, rua, bits, days) {
            (
                Some(name),
                Some(dmarc_policy),
                Some(dmarc_rua),
                Some(key_bits),
                Some(dkim_rotation_days),
            ) if errors.is_empty() => Ok(NewDomain {
                name,
                dmarc_policy,
                dmarc_rua,
                is_shared: self.is_shared.unwrap_or(false),
                key_algorithm: key_bits,
                dkim_rotation_days,
            }),
            _ => Err(errors),
        }
    }
}

/// `PATCH /api/admin/domains/{id}`: only these fields may change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDomainRequest {
    /// `false` rejects sends from the domain; `true` allows them again.
    pub is_active: Option<bool>,
    /// `none`, `quarantine` or `reject`.
    pub dmarc_policy: Option<String>,
    /// A new report address; `null` removes it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub dmarc_rua_email: Option<Option<String>>,
    /// Days between automatic rotations; `null` turns them off.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<u32>)]
    pub dkim_rotation_days: Option<Option<u32>>,
}

impl UpdateDomainRequest {
    /// Parses every field, reporting all invalid ones at once.
    pub fn into_changes(self) -> Result<DomainChanges, Vec<FieldError>> {
        let mut errors = Vec::new();
        let dmarc_policy = self
            .dmarc_policy
            .as_deref()
            .and_then(|p| collect(&mut errors, "dmarc_policy", DmarcPolicy::parse(p)));
        let dmarc_rua = match self.dmarc_rua_email {
            None => None,
            Some(None) => Some(None),
            Some(Some(a)) => {
                collect(&mut errors, "dmarc_rua_email", RuaAddress::parse(&a)).map(Some)
            }
        };
        let dkim_rotation_days = match self.dkim_rotation_days {
            None => None,
            Some(None) => Some(None),
            Some(Some(d)) => collect(
                &mut errors,
                "dkim_rotation_days",
                RotationPeriod::from_days(d),
            )
            .map(Some),
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(DomainChanges {
            is_active: self.is_active,
            dmarc_policy,
            dmarc_rua,
            dkim_rotation_days,
        })
    }
}

fn collect<T>(errors: &mut Vec<FieldError>, field: &str, r: Result<T, InputError>) -> Option<T> {
    r.map_err(|e| errors.push(e.for_field(field))).ok()
}

/// `null` becomes `Some(None)`; an absent field stays `None` (with `#[serde(default)]`).
fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// One record to publish (contract §2 `dns_records`).
#[derive(Debug, Serialize, ToSchema)]
pub struct DnsRecordResponse {
    /// Always `TXT`.
    #[serde(rename = "type")]
    pub record_type: &'static str,
    /// The name to publish at, in full.
    #[schema(example = "scaisend._domainkey.mail.example.com")]
    pub host: String,
    /// `host` relative to `zone`, as DNS providers' panels want it; `@` for the zone's apex.
    #[schema(example = "scaisend._domainkey.mail")]
    pub name: String,
    /// The zone the record belongs in: the organizational domain of the host, by the
    /// public suffix list.
    #[schema(example = "example.com")]
    pub zone: String,
    /// The TXT value.
    pub value: String,
    /// `dkim`, `spf` or `dmarc`.
    pub purpose: &'static str,
    /// `not_checked`, `verified`, `missing`, `mismatch`, `invalid`, `temporary_failure`.
    pub status: &'static str,
    /// `publish`, or `remove` for a removed DKIM selector.
    pub action: &'static str,
    /// The value split into ≤255-octet character-strings, when longer than 255 octets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_chunks: Option<Vec<String>>,
    /// For DKIM rows: the key's state (`active`, `pending`, `retiring`, `removed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_state: Option<&'static str>,
}

impl From<&DnsRecordSpec> for DnsRecordResponse {
    fn from(r: &DnsRecordSpec) -> Self {
        DnsRecordResponse {
            record_type: "TXT",
            host: r.host.clone(),
            name: r.name.clone(),
            zone: r.zone.to_string(),
            value: r.value.clone(),
            purpose: r.purpose.as_str(),
            status: match r.status {
                RecordStatus::NotChecked => "not_checked",
                RecordStatus::Verified => "verified",
                RecordStatus::Missing => "missing",
                RecordStatus::Mismatch => "mismatch",
                RecordStatus::Invalid => "invalid",
                RecordStatus::TemporaryFailure => "temporary_failure",
            },
            action: match r.action {
                RecordAction::Publish => "publish",
                RecordAction::Remove => "remove",
            },
            value_chunks: r.value_chunks(),
            key_state: r.key_state.map(|s| s.as_str()),
        }
    }
}

/// A DKIM key of a domain (extra field).
#[derive(Debug, Serialize, ToSchema)]
pub struct DkimKeyResponse {
    /// The selector.
    pub selector: String,
    /// `pending`, `active`, `retiring` or `removed`.
    pub state: &'static str,
    /// The modulus size.
    pub bits: usize,
    /// When it was created.
    pub created_at: String,
    /// When it started signing.
    pub activated_at: Option<String>,
    /// When it stopped signing.
    pub retired_at: Option<String>,
    /// When it was removed.
    pub removed_at: Option<String>,
}

impl From<&SelectorKey> for DkimKeyResponse {
    fn from(k: &SelectorKey) -> Self {
        DkimKeyResponse {
            selector: k.selector.to_string(),
            state: k.state.as_str(),
            bits: k.public_key.bits(),
            created_at: rfc3339(k.created_at),
            activated_at: k.activated_at.map(rfc3339),
            retired_at: k.retired_at.map(rfc3339),
            removed_at: k.removed_at.map(rfc3339),
        }
    }
}

/// A check's verdict (contract §3 `checks[]`).
#[derive(Debug, Serialize, ToSchema)]
pub struct VerdictResponse {
    /// `dkim`, `spf` or `dmarc`.
    pub record: String,
    /// The name checked.
    pub host: String,
    /// `verified`, `missing`, `mismatch`, `invalid` or `temporary_failure`.
    pub status: String,
    /// A stable machine code, e.g. `spf_multiple_records`, `dkim_key_mismatch`.
    pub code: String,
    /// The record that should be there.
    pub expected: Option<String>,
    /// The records found there.
    pub found: Vec<String>,
    /// What is wrong and how to fix it.
    pub message: String,
    /// Findings that do not fail the check.
    #[schema(value_type = Vec<Object>)]
    pub warnings: serde_json::Value,
    /// The DNS server that answered.
    pub answered_by: Option<String>,
    /// Check-specific details (SPF include reached and lookup counts, DMARC inheritance).
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

impl From<&Verdict> for VerdictResponse {
    fn from(v: &Verdict) -> Self {
        VerdictResponse {
            record: v.record.as_str().to_owned(),
            host: v.host.clone(),
            status: v.status.as_str().to_owned(),
            code: v.code.as_str(),
            expected: v.expected.clone(),
            found: v.found.clone(),
            message: v.message.clone(),
            warnings: serde_json::to_value(&v.warnings).unwrap_or_default(),
            answered_by: v.answered_by.clone(),
            details: if v.details.is_null() {
                serde_json::json!({})
            } else {
                v.details.clone()
            },
        }
    }
}

/// The last verdict of each check (extra field), keyed by check (`dkim`, `spf`,
/// `dmarc`); `null` for a check not run yet. Its keys follow the core's list of checks.
#[derive(Debug, Serialize)]
pub struct ChecksResponse(BTreeMap<&'static str, Option<VerdictResponse>>);

impl utoipa::PartialSchema for ChecksResponse {
    fn schema() -> RefOr<Schema> {
        let verdict_or_null = || {
            OneOfBuilder::new()
                .item(Ref::from_schema_name(VerdictResponse::name()))
                .item(Object::with_type(Type::Null))
        };
        CheckKind::ALL
            .into_iter()
            .fold(
                ObjectBuilder::new().description(Some(
                    "The last verdict of each check, `null` before its first run.",
                )),
                |object, kind| {
                    object
                        .property(kind.as_str(), verdict_or_null())
                        .required(kind.as_str())
                },
            )
            .into()
    }
}

impl ToSchema for ChecksResponse {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((VerdictResponse::name().into(), VerdictResponse::schema()));
        <VerdictResponse as ToSchema>::schemas(schemas);
    }
}

impl From<&Verdicts> for ChecksResponse {
    fn from(checks: &Verdicts) -> Self {
        ChecksResponse(
            CheckKind::ALL
                .into_iter()
                .map(|kind| (kind.as_str(), checks.get(kind).map(Into::into)))
                .collect(),
        )
    }
}

/// A domain (the seed's shape plus extra fields).
#[derive(Debug, Serialize, ToSchema)]
pub struct DomainResponse {
    /// `dom_<ULID>`.
    #[schema(example = "dom_01J9Z7Q4X3V6N8M2K5H7G9F1D3")]
    pub id: String,
    /// The domain name (A-labels).
    pub domain: String,
    /// All three checks pass.
    pub verified: bool,
    /// The selector that signs.
    pub dkim_selector: String,
    /// `none`, `quarantine` or `reject`.
    pub dmarc_policy: String,
    /// Where DMARC reports go.
    pub dmarc_rua_email: Option<String>,
    /// Owned by the partner, usable by all its tenants.
    pub is_shared: bool,
    /// Deactivated domains are rejected at queue time.
    pub is_active: bool,
    /// The records to publish (and to remove).
    pub dns_records: Vec<DnsRecordResponse>,
    /// When it was added.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
    /// When all checks last passed.
    pub last_verified_at: Option<String>,
    /// The owning partner.
    pub partner_id: String,
    /// The owning tenant; `null` for shared domains.
    pub tenant_id: Option<String>,
    /// Every DKIM key, with its state.
    pub dkim_keys: Vec<DkimKeyResponse>,
    /// The last verdict of each check.
    pub checks: ChecksResponse,
    /// Days between automatic rotations, or `null`.
    pub dkim_rotation_days: Option<u32>,
    /// Since when a verified domain has been failing (the monitor's grace period).
    pub failing_since: Option<String>,
    /// Where the domain stands, as one word for a status light: `inactive` (sends are
    /// rejected), `verified`, `failing` (verified, but failing; sends go on until
    /// `grace_until`) or `not_verified`.
    #[schema(example = "verified")]
    pub status: &'static str,
    /// When a failing domain's grace period ends; `null` unless `status` is `failing`.
    pub grace_until: Option<String>,
    /// When the monitor checks next.
    pub next_check_at: String,
}

impl From<&DomainView> for DomainResponse {
    fn from(v: &DomainView) -> Self {
        let d = &v.domain;
        DomainResponse {
            id: d.id.to_string(),
            domain: d.name.to_string(),
            verified: d.verified,
            dkim_selector: d.keys.active().selector.to_string(),
            dmarc_policy: d.dmarc_policy.as_str().to_owned(),
            dmarc_rua_email: d.dmarc_rua.as_ref().map(ToString::to_string),
            is_shared: d.is_shared(),
            is_active: d.is_active,
            dns_records: v.dns_records.iter().map(Into::into).collect(),
            created_at: rfc3339(d.created_at),
            updated_at: rfc3339(d.updated_at),
            last_verified_at: d.last_verified_at.map(rfc3339),
            partner_id: d.owner.partner_id.clone(),
            tenant_id: d.owner.tenant_id.clone(),
            dkim_keys: d.keys.all().iter().map(Into::into).collect(),
            checks: (&d.checks).into(),
            dkim_rotation_days: d.dkim_rotation_days.map(RotationPeriod::days),
            failing_since: d.failing_since.map(rfc3339),
            status: v.standing.as_str(),
            grace_until: v.standing.grace_until().map(rfc3339),
            next_check_at: rfc3339(d.next_check_at),
        }
    }
}

/// A page of domains.
#[derive(Debug, Serialize, ToSchema)]
pub struct DomainList {
    /// The domains.
    pub data: Vec<DomainResponse>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

/// `GET …/dns-records`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DnsRecordsResponse {
    /// The domain name.
    pub domain: String,
    /// The records.
    pub dns_records: Vec<DnsRecordResponse>,
}

/// `POST …/verify` (the seed's fields plus `checks`).
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyResponse {
    /// The domain name.
    pub domain: String,
    /// All three checks pass.
    pub verified: bool,
    /// The DKIM check passes.
    pub dkim_verified: bool,
    /// The SPF check passes.
    pub spf_verified: bool,
    /// The DMARC check passes.
    pub txt_verified: bool,
    /// One sentence per failing check, naming the record and what is wrong.
    pub errors: Vec<String>,
    /// One verdict per check.
    pub checks: Vec<VerdictResponse>,
}

impl From<&VerificationReport> for VerifyResponse {
    fn from(r: &VerificationReport) -> Self {
        VerifyResponse {
            domain: r.domain.name.to_string(),
            verified: r.domain.verified,
            dkim_verified: r.passed(CheckKind::Dkim),
            spf_verified: r.passed(CheckKind::Spf),
            txt_verified: r.passed(CheckKind::Dmarc),
            errors: r.errors.clone(),
            checks: r.checks.iter().map(Into::into).collect(),
        }
    }
}

/// `POST …/rotate-dkim` → `202`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RotateResponse {
    /// The new, pending selector.
    #[schema(example = "scaisend2")]
    pub new_selector: String,
    /// Its record, to publish now.
    pub dns_record: DnsRecordResponse,
    /// The selector that keeps signing until the new record is seen.
    pub active_selector: String,
}

impl From<&RotationStarted> for RotateResponse {
    fn from(r: &RotationStarted) -> Self {
        RotateResponse {
            new_selector: r.new_selector.to_string(),
            dns_record: (&r.dns_record).into(),
            active_selector: r.active_selector.to_string(),
        }
    }
}

/// One timeline entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventResponse {
    /// `evt_<ULID>`.
    pub id: String,
    /// `created`, `check_changed`, `verified`, `unverified`, `failing`, `recovered`,
    /// `rotation_started`, `selector_promoted`, `rotation_cancelled`, `selector_removed`,
    /// `policy_changed`, `deactivated`, `reactivated`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// When.
    pub at: String,
    /// The user's `sub`, or `system`.
    pub actor: String,
    /// What happened.
    pub message: String,
    /// Before/after of what changed.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

impl From<&DomainEvent> for EventResponse {
    fn from(e: &DomainEvent) -> Self {
        EventResponse {
            id: e.id.to_string(),
            kind: e.kind.as_str(),
            at: rfc3339(e.at),
            actor: e.actor.as_str().to_owned(),
            message: e.message.clone(),
            detail: e.detail.clone(),
        }
    }
}

/// A page of events.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventList {
    /// Newest first.
    pub data: Vec<EventResponse>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

/// RFC 3339 in UTC.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}
