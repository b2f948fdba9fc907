//! HTTP request and response bodies. Requests are HTTP types, converted into domain
//! types here at the edge; responses keep the product page's field names (docs/api.md) and
//! add fields, never rename them.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::http::{HeaderMap, header};
use domain_core::alignment::Aligned;
use domain_core::crypto::RsaBits;
use domain_core::publish::DnsRecordSpec;
use domain_core::records::dkim::Algorithm;
use domain_core::rotation::{DkimMode, RotationPeriod, SelectorKey};
use domain_core::service::{
    DomainChanges, DomainView, NewDomain, RotationStarted, VerificationReport,
};
use domain_core::verify::{CheckKind, Verdict, Verdicts};
use domain_core::{
    DmarcPolicy, DomainEvent, DomainName, FieldError, InputError, ReturnPathLabel, RuaAddress,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::openapi::schema::{Object, ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema as _, ToSchema};

use crate::error::ApiError;
use crate::schema;

/// The media type of the body (`Content-Type` without its parameters), as sent.
pub(crate) fn media_type(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim)
}

/// Reads a JSON body: `415` unless declared JSON, `400` unless a JSON object, `422` when a
/// field has the wrong type or is unknown (naming the field).
pub fn json_body<T: DeserializeOwned>(headers: &HeaderMap, body: &Bytes) -> Result<T, ApiError> {
    let is_json = media_type(headers)
        .map(str::to_ascii_lowercase)
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
    #[schema(value_type = String, required = true, min_length = 1, example = "mail.example.com")]
    pub domain: Option<String>,
    /// `none` (default), `quarantine` or `reject`.
    #[schema(value_type = Option<schema::DmarcPolicy>)]
    pub dmarc_policy: Option<String>,
    /// Where DMARC aggregate reports go.
    #[schema(min_length = 1, example = "dmarc-reports@example.com")]
    pub dmarc_rua_email: Option<String>,
    /// A partner-owned domain usable by every tenant of the partner (partner operators only).
    pub is_shared: Option<bool>,
    /// `2048` (default), `3072` or `4096`.
    #[schema(value_type = Option<schema::DkimKeyBits>)]
    pub dkim_key_bits: Option<u32>,
    /// Rotate the DKIM key automatically after this many days (off by default).
    #[schema(schema_with = rotation_days_input)]
    pub dkim_rotation_days: Option<u32>,
    /// How the DKIM keys are published: `txt` (default) or `cname`.
    #[schema(value_type = Option<schema::DkimMode>)]
    pub dkim_mode: Option<String>,
    /// The algorithms to sign with: `["rsa-sha256"]` (default) or
    /// `["rsa-sha256", "ed25519-sha256"]`.
    #[schema(value_type = Option<Vec<schema::DkimAlgorithm>>, min_items = 1)]
    pub dkim_algorithms: Option<Vec<String>>,
    /// A return-path (MAIL FROM) host of the domain's own: one DNS label, giving
    /// `<label>.<domain>`; `null` (the default) uses the platform's.
    #[schema(
        example = "bounces",
        pattern = r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"
    )]
    pub return_path: Option<String>,
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
            None => Some(RsaBits::default()),
            Some(b) => collect(&mut errors, "dkim_key_bits", RsaBits::from_bits(b)),
        };
        let mode = match self.dkim_mode.as_deref() {
            None => Some(DkimMode::default()),
            Some(m) => collect(&mut errors, "dkim_mode", parse_mode(m)),
        };
        let algorithms = match self.dkim_algorithms.as_deref() {
            None => Some(vec![Algorithm::RsaSha256]),
            Some(a) => collect(&mut errors, "dkim_algorithms", parse_algorithms(a)),
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
        let return_path = match self.return_path.as_deref() {
            None => Some(None),
            Some(label) => {
                collect(&mut errors, "return_path", ReturnPathLabel::parse(label)).map(Some)
            }
        };
        match (name, policy, rua, bits, days, mode, algorithms, return_path) {
            (
                Some(name),
                Some(dmarc_policy),
                Some(dmarc_rua),
                Some(rsa_bits),
                Some(dkim_rotation_days),
                Some(dkim_mode),
                Some(dkim_algorithms),
                Some(return_path),
            ) if errors.is_empty() => Ok(NewDomain {
                name,
                dmarc_policy,
                dmarc_rua,
                is_shared: self.is_shared.unwrap_or(false),
                dkim_algorithms,
                rsa_bits,
                dkim_mode,
                dkim_rotation_days,
                return_path,
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
    #[schema(value_type = Option<schema::DmarcPolicy>)]
    pub dmarc_policy: Option<String>,
    /// A new report address; `null` removes it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, min_length = 1)]
    pub dmarc_rua_email: Option<Option<String>>,
    /// Days between automatic rotations; `null` turns them off.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(schema_with = rotation_days_update)]
    pub dkim_rotation_days: Option<Option<u32>>,
    /// Publish the keys another way (`txt` or `cname`): starts a rotation into that mode.
    #[schema(value_type = Option<schema::DkimMode>)]
    pub dkim_mode: Option<String>,
    /// Sign with other algorithms: starts a rotation to keys of those algorithms.
    #[schema(value_type = Option<Vec<schema::DkimAlgorithm>>, min_items = 1)]
    pub dkim_algorithms: Option<Vec<String>>,
    /// A new return-path label; `null` removes the return path.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(
        value_type = Option<String>,
        example = "bounces",
        pattern = r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"
    )]
    pub return_path: Option<Option<String>>,
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
        let dkim_mode = self
            .dkim_mode
            .as_deref()
            .and_then(|m| collect(&mut errors, "dkim_mode", parse_mode(m)));
        let dkim_algorithms = self
            .dkim_algorithms
            .as_deref()
            .and_then(|a| collect(&mut errors, "dkim_algorithms", parse_algorithms(a)));
        let return_path = match self.return_path {
            None => None,
            Some(None) => Some(None),
            Some(Some(label)) => {
                collect(&mut errors, "return_path", ReturnPathLabel::parse(&label)).map(Some)
            }
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(DomainChanges {
            is_active: self.is_active,
            dmarc_policy,
            dmarc_rua,
            dkim_rotation_days,
            dkim_mode,
            dkim_algorithms,
            return_path,
        })
    }
}

fn parse_mode(m: &str) -> Result<DkimMode, InputError> {
    DkimMode::parse(m).ok_or_else(|| {
        InputError::new(format!(
            "`{m}` is not a DKIM mode; use one of {}",
            quoted(DkimMode::ALL.map(DkimMode::as_str))
        ))
    })
}

/// The algorithms named, each once; the core decides which sets it accepts.
fn parse_algorithms(names: &[String]) -> Result<Vec<Algorithm>, InputError> {
    let mut algorithms = Vec::with_capacity(names.len());
    for name in names {
        let a = Algorithm::parse(name).ok_or_else(|| {
            InputError::new(format!(
                "`{name}` is not a DKIM algorithm; use {}",
                quoted(Algorithm::ALL.map(Algorithm::as_str))
            ))
        })?;
        if algorithms.contains(&a) {
            return Err(InputError::new(format!("`{name}` is listed twice")));
        }
        algorithms.push(a);
    }
    domain_core::rotation::check_algorithms(&algorithms)?;
    Ok(algorithms)
}

fn quoted<const N: usize>(names: [&str; N]) -> String {
    names.map(|n| format!("`{n}`")).join(" or ")
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

/// One record to publish (docs/api.md, "Domains": `dns_records`).
#[derive(Debug, Serialize, ToSchema)]
pub struct DnsRecordResponse {
    /// `TXT`; `CNAME` for the DKIM slots of a `cname`-mode domain; `MX` for a return
    /// path's mail exchanger.
    #[serde(rename = "type")]
    #[schema(value_type = schema::RecordType)]
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
    /// The TXT value, the CNAME's target, or the MX record's mail exchanger.
    pub value: String,
    /// The MX preference, for `MX` rows only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = 10)]
    pub priority: Option<u16>,
    /// `dkim`, `spf`, `dmarc` or `return_path`.
    #[schema(value_type = schema::CheckKind)]
    pub purpose: &'static str,
    /// `not_checked`, `verified`, `missing`, `mismatch`, `invalid`, `temporary_failure`.
    #[schema(value_type = schema::RecordStatus)]
    pub status: &'static str,
    /// `publish`, or `remove` for a removed DKIM selector.
    #[schema(value_type = schema::RecordAction)]
    pub action: &'static str,
    /// The value split into ≤255-octet character-strings, when longer than 255 octets.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Vec<String>)]
    pub value_chunks: Option<Vec<String>>,
    /// For DKIM rows: the key's state (`active`, `pending`, `retiring`, `removed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = schema::KeyState)]
    pub key_state: Option<&'static str>,
}

impl From<&DnsRecordSpec> for DnsRecordResponse {
    fn from(r: &DnsRecordSpec) -> Self {
        DnsRecordResponse {
            record_type: r.record_type.as_str(),
            host: r.host.clone(),
            name: r.name.clone(),
            zone: r.zone.to_string(),
            value: r.value.clone(),
            priority: r.priority,
            purpose: r.purpose.as_str(),
            status: r.status.as_str(),
            action: r.action.as_str(),
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
    /// `rsa-sha256` or `ed25519-sha256`.
    #[schema(value_type = schema::DkimAlgorithm)]
    pub algorithm: &'static str,
    /// How its record is published: `txt`, or `cname` (served by our zone behind the
    /// domain's CNAME slot of the same selector).
    #[schema(value_type = schema::DkimMode)]
    pub mode: &'static str,
    /// The rotation it came with: 1 for the domain's first keys, one more per rotation.
    #[schema(minimum = 1)]
    pub generation: u32,
    /// `pending`, `active`, `retiring` or `removed`.
    #[schema(value_type = schema::KeyState)]
    pub state: &'static str,
    /// The key size: the RSA modulus size, 256 for Ed25519.
    #[schema(minimum = 256)]
    pub bits: usize,
    /// When it was created.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: String,
    /// When it started signing.
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub activated_at: Option<String>,
    /// When it stopped signing.
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub retired_at: Option<String>,
    /// When it was removed.
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub removed_at: Option<String>,
}

impl From<&SelectorKey> for DkimKeyResponse {
    fn from(k: &SelectorKey) -> Self {
        DkimKeyResponse {
            selector: k.selector.to_string(),
            algorithm: k.algorithm().as_str(),
            mode: k.mode.as_str(),
            generation: k.index,
            state: k.state.as_str(),
            bits: k.public_key.bits(),
            created_at: rfc3339(k.created_at),
            activated_at: k.activated_at.map(rfc3339),
            retired_at: k.retired_at.map(rfc3339),
            removed_at: k.removed_at.map(rfc3339),
        }
    }
}

/// A check's verdict (docs/api.md, "Verification": `checks[]`).
#[derive(Debug, Serialize, ToSchema)]
pub struct VerdictResponse {
    /// `dkim`, `spf`, `dmarc` or `return_path`.
    #[schema(value_type = schema::CheckKind)]
    pub record: &'static str,
    /// The name checked.
    pub host: String,
    /// `verified`, `missing`, `mismatch`, `invalid` or `temporary_failure`.
    #[schema(value_type = schema::CheckStatus)]
    pub status: &'static str,
    /// A stable machine code, e.g. `spf_multiple_records`, `dkim_key_mismatch`. Clients
    /// may switch on it; the set only grows, so it is not a closed enum.
    pub code: String,
    /// The record that should be there.
    #[schema(required = true)]
    pub expected: Option<String>,
    /// The records found there.
    pub found: Vec<String>,
    /// What is wrong and how to fix it.
    pub message: String,
    /// Findings that do not fail the check.
    pub warnings: Vec<WarningResponse>,
    /// The DNS server that answered.
    #[schema(required = true)]
    pub answered_by: Option<String>,
    /// Check-specific details (SPF include reached and lookup counts, DMARC inheritance
    /// and alignment modes, the return path's `mx` and `spf` halves).
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

impl From<&Verdict> for VerdictResponse {
    fn from(v: &Verdict) -> Self {
        VerdictResponse {
            record: v.record.as_str(),
            host: v.host.clone(),
            status: v.status.as_str(),
            code: v.code.as_str(),
            expected: v.expected.clone(),
            found: v.found.clone(),
            message: v.message.clone(),
            warnings: v
                .warnings
                .iter()
                .map(|w| WarningResponse {
                    code: w.code.as_str(),
                    message: w.message.clone(),
                })
                .collect(),
            answered_by: v.answered_by.clone(),
            details: if v.details.is_null() {
                serde_json::json!({})
            } else {
                v.details.clone()
            },
        }
    }
}

/// A finding that does not fail its check.
#[derive(Debug, Serialize, ToSchema)]
pub struct WarningResponse {
    /// A stable machine code, e.g. `dkim_testing`, `spf_allows_everyone`.
    pub code: String,
    /// What it means and what to do.
    pub message: String,
}

/// The last verdict of each check (extra field), keyed by check (`dkim`, `spf`,
/// `dmarc`, `return_path`); `null` for a check not run yet. Its keys follow the core's
/// list of checks: every check that runs for every domain is always there, and one that
/// runs only when asked for (the return path) is there once it has a verdict.
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
                    let object = object.property(kind.as_str(), verdict_or_null());
                    if kind.runs_for_every_domain() {
                        object.required(kind.as_str())
                    } else {
                        object
                    }
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
                .filter(|kind| kind.runs_for_every_domain() || checks.get(*kind).is_some())
                .map(|kind| (kind.as_str(), checks.get(kind).map(Into::into)))
                .collect(),
        )
    }
}

/// A domain (the product page's shape plus extra fields).
#[derive(Debug, Serialize, ToSchema)]
pub struct DomainResponse {
    /// `dom_<ULID>`.
    #[schema(example = "dom_01J9Z7Q4X3V6N8M2K5H7G9F1D3")]
    pub id: String,
    /// The domain name (A-labels).
    pub domain: String,
    /// All three checks pass.
    pub verified: bool,
    /// The selector that signs (the RSA one when the domain signs with several
    /// algorithms).
    pub dkim_selector: String,
    /// How the DKIM keys are published: `txt` or `cname`.
    #[schema(value_type = schema::DkimMode)]
    pub dkim_mode: &'static str,
    /// The algorithms the domain signs with, RSA first.
    #[schema(value_type = Vec<schema::DkimAlgorithm>)]
    pub dkim_algorithms: Vec<&'static str>,
    /// `none`, `quarantine` or `reject`.
    #[schema(value_type = schema::DmarcPolicy)]
    pub dmarc_policy: &'static str,
    /// Where DMARC reports go.
    #[schema(required = true)]
    pub dmarc_rua_email: Option<String>,
    /// Owned by the partner, usable by all its tenants.
    pub is_shared: bool,
    /// Deactivated domains are rejected at queue time.
    pub is_active: bool,
    /// The records to publish (and to remove).
    pub dns_records: Vec<DnsRecordResponse>,
    /// When it was added.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: String,
    /// When it last changed.
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: String,
    /// When all checks last passed.
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub last_verified_at: Option<String>,
    /// The owning partner.
    pub partner_id: String,
    /// The owning tenant; `null` for shared domains.
    #[schema(required = true)]
    pub tenant_id: Option<String>,
    /// Every DKIM key, with its state.
    pub dkim_keys: Vec<DkimKeyResponse>,
    /// The last verdict of each check.
    pub checks: ChecksResponse,
    /// Days between automatic rotations, or `null`.
    #[schema(schema_with = rotation_days_output, required = true)]
    pub dkim_rotation_days: Option<u32>,
    /// Since when a verified domain has been failing (the monitor's grace period).
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub failing_since: Option<String>,
    /// Where the domain stands, as one word for a status light: `inactive` (sends are
    /// rejected), `verified`, `failing` (verified, but failing; sends go on until
    /// `grace_until`) or `not_verified`.
    #[schema(value_type = schema::Standing)]
    pub status: &'static str,
    /// When a failing domain's grace period ends; `null` unless `status` is `failing`.
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub grace_until: Option<String>,
    /// When the monitor checks next.
    #[schema(value_type = String, format = DateTime)]
    pub next_check_at: String,
    /// The return-path label, or `null` for the platform's return path.
    pub return_path: Option<String>,
    /// `<return_path>.<domain>`, or `null`.
    pub return_path_host: Option<String>,
    /// The return path passes its check (`false` without one); mail uses it as MAIL
    /// FROM only then.
    pub return_path_verified: bool,
    /// Since when a verified return path has been failing (its own grace period).
    pub return_path_failing_since: Option<String>,
    /// The MAIL FROM domain of mail from this domain now: the verified return path, or
    /// the platform's.
    pub mail_from_domain: String,
    /// Whether mail from this domain now aligns for DMARC through DKIM and through SPF.
    pub alignment: AlignmentResponse,
}

/// DMARC identifier alignment (RFC 7489 §3.1) of the DKIM `d=` and the MAIL FROM domain
/// with the `From:` domain, under the domain's published `adkim`/`aspf` (relaxed unless
/// strict).
#[derive(Debug, Serialize, ToSchema)]
pub struct AlignmentResponse {
    /// The DKIM signature's `d=` aligns.
    pub dkim: bool,
    /// The MAIL FROM domain, which SPF authenticates, aligns.
    pub spf: bool,
}

impl From<Aligned> for AlignmentResponse {
    fn from(a: Aligned) -> Self {
        AlignmentResponse {
            dkim: a.dkim,
            spf: a.spf,
        }
    }
}

impl From<&DomainView> for DomainResponse {
    fn from(v: &DomainView) -> Self {
        let d = &v.domain;
        DomainResponse {
            id: d.id.to_string(),
            domain: d.name.to_string(),
            verified: d.verified,
            dkim_selector: d.keys.active().selector.to_string(),
            dkim_mode: d.dkim_mode().as_str(),
            dkim_algorithms: d
                .dkim_algorithms()
                .into_iter()
                .map(Algorithm::as_str)
                .collect(),
            dmarc_policy: d.dmarc_policy.as_str(),
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
            return_path: d.return_path.as_ref().map(|r| r.label.to_string()),
            return_path_host: d.return_path.as_ref().map(|r| r.host.to_string()),
            return_path_verified: d.return_path.as_ref().is_some_and(|r| r.verified),
            return_path_failing_since: d
                .return_path
                .as_ref()
                .and_then(|r| r.failing_since)
                .map(rfc3339),
            mail_from_domain: v.envelope.mail_from_domain.to_string(),
            alignment: v.envelope.alignment.into(),
        }
    }
}

/// Declares pages of the API's lists: the items, each made from the core's item by its
/// `From<&item>`, and the cursor of the next page, made from a core
/// [`Page`](domain_core::Page).
macro_rules! page_types {
    ($(
        $(#[$doc:meta])*
        pub struct $name:ident {
            $(#[$data_doc:meta])*
            data: Vec<$item:ty>,
            $(#[$cursor_doc:meta])*
            next_cursor,
        }
    )*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Serialize, ToSchema)]
            pub struct $name {
                $(#[$data_doc])*
                pub data: Vec<$item>,
                $(#[$cursor_doc])*
                #[schema(required = true)]
                pub next_cursor: Option<String>,
            }

            impl<I> From<domain_core::Page<I>> for $name
            where
                for<'a> $item: From<&'a I>,
            {
                fn from(page: domain_core::Page<I>) -> Self {
                    $name {
                        data: page.items.iter().map(<$item>::from).collect(),
                        next_cursor: crate::routes::encode_cursor(page.next_after),
                    }
                }
            }
        )*
    };
}
pub(crate) use page_types;

page_types! {
    /// A page of domains.
    pub struct DomainList {
        /// The domains.
        data: Vec<DomainResponse>,
        /// Pass as `cursor` for the next page; `null` on the last one.
        next_cursor,
    }

    /// A page of events.
    pub struct EventList {
        /// Newest first.
        data: Vec<EventResponse>,
        /// Pass as `cursor` for the next page; `null` on the last one.
        next_cursor,
    }
}

/// `GET …/dns-records`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DnsRecordsResponse {
    /// The domain name.
    pub domain: String,
    /// The records.
    pub dns_records: Vec<DnsRecordResponse>,
}

/// `POST …/verify` (the product page's fields plus `checks`).
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
    /// The return path passes its check; `null` for a domain without one.
    pub return_path_verified: Option<bool>,
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
            return_path_verified: r.domain.return_path.as_ref().map(|rp| rp.verified),
            errors: r.errors.clone(),
            checks: r.checks.iter().map(Into::into).collect(),
        }
    }
}

/// `POST …/rotate-dkim` → `202`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RotateResponse {
    /// The new, pending selector (the RSA one when the domain signs with several
    /// algorithms).
    #[schema(example = "scaisend2")]
    pub new_selector: String,
    /// Its record: to publish now in `txt` mode; in `cname` mode the slot's CNAME, which
    /// is already in place.
    pub dns_record: DnsRecordResponse,
    /// Every new record, one per algorithm.
    pub dns_records: Vec<DnsRecordResponse>,
    /// The selector that keeps signing until the new record is seen.
    pub active_selector: String,
}

impl From<&RotationStarted> for RotateResponse {
    fn from(r: &RotationStarted) -> Self {
        RotateResponse {
            new_selector: r.new_selector.to_string(),
            dns_record: (&r.dns_record).into(),
            dns_records: r.dns_records.iter().map(Into::into).collect(),
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
    /// `policy_changed`, `deactivated`, `reactivated`, `return_path_changed`,
    /// `return_path_verified`, `return_path_unverified`, `return_path_failing`,
    /// `return_path_recovered`.
    #[serde(rename = "type")]
    #[schema(value_type = schema::EventType)]
    pub kind: &'static str,
    /// When.
    #[schema(value_type = String, format = DateTime)]
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

/// RFC 3339 in UTC.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

// The schemas of fields whose values come from a closed set or a range of the core.

fn rotation_days_input() -> Object {
    let mut days = schema::rotation_days();
    days.description = Some(
        "Rotate the DKIM key automatically after this many days; `null` or absent: never.".into(),
    );
    days
}

fn rotation_days_update() -> Object {
    let mut days = schema::rotation_days();
    days.description = Some("Days between automatic rotations; `null` turns them off.".into());
    days
}

fn rotation_days_output() -> Object {
    let mut days = schema::rotation_days();
    days.description = Some("Days between automatic rotations, or `null`.".into());
    days
}
