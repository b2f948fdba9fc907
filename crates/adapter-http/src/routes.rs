//! The handlers: each extracts the caller and the input, calls one use case, and shapes
//! the answer. No rule lives here.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use domain_core::sending::{KeyMode, SendDecision};
use domain_core::service::SenderQuery;
use domain_core::{DomainId, EventId, FieldError, InputError, ListFilter, PageRequest, Selector};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Authenticated;
use crate::dto::{
    CreateDomainRequest, DnsRecordsResponse, DomainList, DomainResponse, EventList, RotateResponse,
    UpdateDomainRequest, VerifyResponse, json_body,
};
use crate::error::{ApiError, Problem};
use crate::extract::{ApiPath, ApiQuery};
use crate::state::AppState;

/// Largest admin request body.
pub const ADMIN_BODY_LIMIT: usize = 64 * 1024;

/// Turns the body extractor's failure into `413` or `400`.
pub(crate) fn body(b: Result<Bytes, BytesRejection>, limit: usize) -> Result<Bytes, ApiError> {
    b.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(limit)
        } else {
            ApiError::malformed(e.body_text())
        }
    })
}

/// An id in a path that cannot be an id names nothing: `404`.
fn domain_id(raw: &str) -> Result<DomainId, ApiError> {
    DomainId::parse(raw).map_err(|_| ApiError::not_found())
}

const CURSOR: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

fn encode_cursor(after: Option<String>) -> Option<String> {
    after.map(|a| CURSOR.encode(a))
}

fn decode_cursor<T>(
    cursor: Option<&str>,
    parse: impl Fn(&str) -> Result<T, InputError>,
) -> Result<Option<String>, FieldError> {
    let Some(c) = cursor.filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    let invalid = || FieldError {
        field: "cursor".into(),
        message: "`cursor` must be a `next_cursor` value from a previous page".into(),
    };
    let raw = CURSOR.decode(c).map_err(|_| invalid())?;
    let text = String::from_utf8(raw).map_err(|_| invalid())?;
    parse(&text).map_err(|_| invalid())?;
    Ok(Some(text))
}

fn page_request(
    limit: Option<&str>,
    cursor: Option<String>,
) -> Result<PageRequest, Vec<FieldError>> {
    let limit = match limit {
        None | Some("") => None,
        Some(l) => Some(l.parse::<u32>().map_err(|_| {
            vec![FieldError {
                field: "limit".into(),
                message: "`limit` must be a whole number from 1 to 200".into(),
            }]
        })?),
    };
    PageRequest::new(limit, cursor).map_err(|e| vec![e.for_field("limit")])
}

fn flag(errors: &mut Vec<FieldError>, field: &str, value: Option<&str>) -> Option<bool> {
    match value {
        None | Some("") => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => {
            errors.push(FieldError {
                field: field.into(),
                message: format!("`{field}` must be `true` or `false`"),
            });
            None
        }
    }
}

/// Query of the domain list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only verified (`true`) or unverified (`false`) domains.
    pub verified: Option<String>,
    /// Only active or inactive domains.
    pub is_active: Option<String>,
    /// Only shared or owned domains.
    pub is_shared: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Query of the timeline.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// 1–200, default 50.
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Adds a sender domain and generates its DKIM key.
#[utoipa::path(
    post, path = "/api/admin/domains", tag = "domains",
    request_body = CreateDomainRequest,
    responses(
        (status = 201, description = "Created; `Location` names it", body = DomainResponse),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, description = "The owner already has this domain", body = Problem),
        (status = 413, body = Problem), (status = 415, body = Problem), (status = 422, body = Problem),
        (status = 429, description = "The tenant's rate limit of changes is spent; see `Retry-After`", body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn create_domain(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let req: CreateDomainRequest = json_body(&headers, &body(raw, ADMIN_BODY_LIMIT)?)?;
    // Who may create what is decided before the fields are judged: a viewer learns it
    // may not create, not that its payload was wrong.
    caller.owner_for_new(req.is_shared.unwrap_or(false))?;
    let new = req.into_domain().map_err(ApiError::invalid)?;
    let view = s.service.create(&caller, new).await?;
    let location = format!("/api/admin/domains/{}", view.domain.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(DomainResponse::from(&view)),
    )
        .into_response())
}

/// Lists the domains the caller may read.
#[utoipa::path(
    get, path = "/api/admin/domains", tag = "domains", params(ListParams),
    responses(
        (status = 200, body = DomainList),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem),
        (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn list_domains(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiQuery(q): ApiQuery<ListParams>,
) -> Result<Json<DomainList>, ApiError> {
    let mut errors = Vec::new();
    let filter = ListFilter {
        verified: flag(&mut errors, "verified", q.verified.as_deref()),
        is_active: flag(&mut errors, "is_active", q.is_active.as_deref()),
        is_shared: flag(&mut errors, "is_shared", q.is_shared.as_deref()),
    };
    let cursor = decode_cursor(q.cursor.as_deref(), DomainId::parse)
        .map_err(|e| errors.push(e))
        .ok()
        .flatten();
    let page = page_request(q.limit.as_deref(), cursor)
        .map_err(|e| errors.extend(e))
        .ok();
    let page = match page {
        Some(p) if errors.is_empty() => p,
        _ => return Err(ApiError::invalid(errors)),
    };
    let result = s.service.list(&caller, &filter, &page).await?;
    Ok(Json(DomainList {
        data: result.items.iter().map(DomainResponse::from).collect(),
        next_cursor: encode_cursor(result.next_after),
    }))
}

/// One domain.
#[utoipa::path(
    get, path = "/api/admin/domains/{id}", tag = "domains",
    params(("id" = String, Path, description = "`dom_<ULID>`")),
    responses((status = 200, body = DomainResponse), (status = 401, body = Problem), (status = 404, body = Problem), (status = 503, body = Problem)),
    security(("bearer" = []))
)]
pub async fn get_domain(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<DomainResponse>, ApiError> {
    let view = s.service.get(&caller, &domain_id(&id)?).await?;
    Ok(Json(DomainResponse::from(&view)))
}

/// Changes `is_active`, `dmarc_policy`, `dmarc_rua_email` or `dkim_rotation_days`.
#[utoipa::path(
    patch, path = "/api/admin/domains/{id}", tag = "domains",
    params(("id" = String, Path, description = "`dom_<ULID>`")),
    request_body = UpdateDomainRequest,
    responses(
        (status = 200, body = DomainResponse),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 415, body = Problem),
        (status = 422, body = Problem), (status = 429, description = "The tenant's rate limit of changes is spent; see `Retry-After`", body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn update_domain(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<DomainResponse>, ApiError> {
    let id = domain_id(&id)?;
    // Unknown fields are refused by name, with the list of those PATCH accepts.
    let req: UpdateDomainRequest = json_body(&headers, &body(raw, ADMIN_BODY_LIMIT)?)?;
    let changes = req.into_changes().map_err(ApiError::invalid)?;
    let view = s.service.update(&caller, &id, changes).await?;
    Ok(Json(DomainResponse::from(&view)))
}

/// Deletes a domain; its private keys are destroyed.
#[utoipa::path(
    delete, path = "/api/admin/domains/{id}", tag = "domains",
    params(("id" = String, Path, description = "`dom_<ULID>`")),
    responses((status = 204, description = "Deleted"), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 429, description = "The tenant's rate limit of changes is spent; see `Retry-After`", body = Problem), (status = 503, body = Problem)),
    security(("bearer" = []))
)]
pub async fn delete_domain(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    s.service.delete(&caller, &domain_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The records to publish.
#[utoipa::path(
    get, path = "/api/admin/domains/{id}/dns-records", tag = "domains",
    params(("id" = String, Path, description = "`dom_<ULID>`")),
    responses((status = 200, body = DnsRecordsResponse), (status = 401, body = Problem), (status = 404, body = Problem), (status = 503, body = Problem)),
    security(("bearer" = []))
)]
pub async fn dns_records(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<DnsRecordsResponse>, ApiError> {
    let view = s.service.dns_records(&caller, &domain_id(&id)?).await?;
    Ok(Json(DnsRecordsResponse {
        domain: view.domain.name.to_string(),
        dns_records: view.dns_records.iter().map(Into::into).collect(),
    }))
}

/// The media type of a zone file (RFC 4027). It defines no `charset` parameter, and none
/// is needed: the fragment is ASCII by construction (other octets are written `\DDD`).
pub const TEXT_DNS: &str = "text/dns";

/// The records to publish as a BIND zone-file fragment: absolute owner names, long TXT
/// values as quoted strings of at most 255 octets. Records to remove are only named in a
/// comment.
#[utoipa::path(
    get, path = "/api/admin/domains/{id}/zone-file", tag = "domains",
    params(("id" = String, Path, description = "`dom_<ULID>`")),
    responses(
        (status = 200, description = "A zone-file fragment (RFC 1035 §5), ASCII; `Content-Disposition` names it `<domain>.zone`", content_type = "text/dns", body = String,
            example = json!("; ScaiSend sender domain mail.example.com\nmail.example.com. 3600 IN TXT \"v=spf1 include:scaisend.scailabs.ai ~all\"\n")),
        (status = 401, body = Problem), (status = 404, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn zone_file(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let view = s.service.dns_records(&caller, &domain_id(&id)?).await?;
    let name = &view.domain.name;
    let body = domain_core::publish::zone_file(name, &view.dns_records);
    Ok((
        [
            (header::CONTENT_TYPE, TEXT_DNS.to_owned()),
            // A domain name is letters, digits, hyphens and dots: nothing to quote.
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.zone\""),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        ],
        body,
    )
        .into_response())
}

/// Checks the domain's records in DNS now.
#[utoipa::path(
    post, path = "/api/admin/domains/{id}/verify", tag = "verification",
    params(("id" = String, Path, description = "`dom_<ULID>`")),
    responses((status = 200, body = VerifyResponse), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 429, description = "The tenant's rate limit of changes is spent; see `Retry-After`", body = Problem), (status = 503, body = Problem)),
    security(("bearer" = []))
)]
pub async fn verify_domain(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<VerifyResponse>, ApiError> {
    let report = s.service.verify(&caller, &domain_id(&id)?).await?;
    Ok(Json(VerifyResponse::from(&report)))
}

/// Starts a DKIM rotation.
#[utoipa::path(
    post, path = "/api/admin/domains/{id}/rotate-dkim", tag = "rotation",
    params(("id" = String, Path, description = "`dom_<ULID>`")),
    responses((status = 202, body = RotateResponse), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, description = "A rotation is already pending", body = Problem), (status = 429, description = "The tenant's rate limit of changes is spent; see `Retry-After`", body = Problem), (status = 503, body = Problem)),
    security(("bearer" = []))
)]
pub async fn rotate_dkim(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<(StatusCode, Json<RotateResponse>), ApiError> {
    let started = s.service.rotate(&caller, &domain_id(&id)?).await?;
    Ok((StatusCode::ACCEPTED, Json(RotateResponse::from(&started))))
}

/// Removes a retiring selector, or cancels a pending one.
#[utoipa::path(
    delete, path = "/api/admin/domains/{id}/dkim/{selector}", tag = "rotation",
    params(("id" = String, Path, description = "`dom_<ULID>`"), ("selector" = String, Path, description = "e.g. `scaisend`")),
    responses((status = 200, body = DomainResponse), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, description = "The active selector cannot be removed", body = Problem), (status = 429, description = "The tenant's rate limit of changes is spent; see `Retry-After`", body = Problem), (status = 503, body = Problem)),
    security(("bearer" = []))
)]
pub async fn remove_selector(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiPath((id, selector)): ApiPath<(String, String)>,
) -> Result<Json<DomainResponse>, ApiError> {
    let selector = Selector::parse(&selector).map_err(|_| ApiError::not_found())?;
    let view = s
        .service
        .remove_selector(&caller, &domain_id(&id)?, &selector)
        .await?;
    Ok(Json(DomainResponse::from(&view)))
}

/// The domain's timeline, newest first.
#[utoipa::path(
    get, path = "/api/admin/domains/{id}/events", tag = "domains",
    params(("id" = String, Path, description = "`dom_<ULID>`"), PageParams),
    responses((status = 200, body = EventList), (status = 401, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem)),
    security(("bearer" = []))
)]
pub async fn domain_events(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<PageParams>,
) -> Result<Json<EventList>, ApiError> {
    let id = domain_id(&id)?;
    let cursor = decode_cursor(q.cursor.as_deref(), EventId::parse)
        .map_err(|e| ApiError::invalid(vec![e]))?;
    let page = page_request(q.limit.as_deref(), cursor).map_err(ApiError::invalid)?;
    let result = s.service.events(&caller, &id, &page).await?;
    Ok(Json(EventList {
        data: result.items.iter().map(Into::into).collect(),
        next_cursor: encode_cursor(result.next_after),
    }))
}

/// `POST /api/internal/sender-authorization`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SenderAuthorizationRequest {
    /// The sending tenant.
    #[schema(example = "t1")]
    pub tenant_id: String,
    /// Its partner.
    #[schema(example = "p1")]
    pub partner_id: String,
    /// The `From:` address.
    #[schema(example = "alerts@mail.example.com")]
    pub from: String,
    /// `live` (`sg_live_*` key) or `test` (`sg_test_*` key).
    #[schema(example = "live")]
    pub key_mode: String,
}

/// The send-time decision.
#[derive(Debug, Serialize, ToSchema)]
pub struct SenderAuthorizationResponse {
    /// `deliver`, `accept_then_fail`, `reject` or `sandbox`.
    pub decision: &'static str,
    /// Why, for `accept_then_fail` and `reject`.
    pub reason: Option<String>,
    /// The `d=` to sign with, for `deliver`.
    pub signing_domain: Option<String>,
    /// The active selector, for `deliver`.
    pub selector: Option<String>,
}

impl From<&SendDecision> for SenderAuthorizationResponse {
    fn from(d: &SendDecision) -> Self {
        let (decision, signing_domain, selector) = match d {
            SendDecision::Deliver {
                signing_domain,
                selector,
            } => (
                "deliver",
                Some(signing_domain.to_string()),
                Some(selector.to_string()),
            ),
            SendDecision::AcceptThenFail { .. } => ("accept_then_fail", None, None),
            SendDecision::Reject { .. } => ("reject", None, None),
            SendDecision::Sandbox => ("sandbox", None, None),
        };
        SenderAuthorizationResponse {
            decision,
            reason: d.reason().map(str::to_owned),
            signing_domain,
            selector,
        }
    }
}

/// May this tenant send from this `From:` domain? (service tokens only)
#[utoipa::path(
    post, path = "/api/internal/sender-authorization", tag = "internal",
    request_body = SenderAuthorizationRequest,
    responses((status = 200, body = SenderAuthorizationResponse), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 415, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem)),
    security(("bearer" = []))
)]
pub async fn sender_authorization(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<SenderAuthorizationResponse>, ApiError> {
    caller.check_service()?;
    let req: SenderAuthorizationRequest = json_body(&headers, &body(raw, ADMIN_BODY_LIMIT)?)?;
    let key_mode = match req.key_mode.as_str() {
        "live" => KeyMode::Live,
        "test" => KeyMode::Test,
        _ => {
            return Err(ApiError::invalid(vec![FieldError {
                field: "key_mode".into(),
                message: "`key_mode` must be `live` or `test`".into(),
            }]));
        }
    };
    let decision = s
        .service
        .authorize_sender(
            &caller,
            &SenderQuery {
                tenant_id: req.tenant_id,
                partner_id: req.partner_id,
                from: req.from,
                key_mode,
            },
        )
        .await?;
    Ok(Json(SenderAuthorizationResponse::from(&decision)))
}

/// Largest message the signer takes (a generous e-mail size limit).
pub const SIGN_BODY_LIMIT: usize = 32 * 1024 * 1024;

/// `POST /api/internal/dkim/sign`: the message as text, or as base64 when it holds bytes
/// that are not UTF-8 (8-bit bodies in legacy charsets).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignRequestBody {
    /// The sending tenant.
    #[schema(example = "t1")]
    pub tenant_id: String,
    /// Its partner.
    #[schema(example = "p1")]
    pub partner_id: String,
    /// The RFC 5322 message; its `From:` domain picks the key.
    pub message: Option<String>,
    /// The message as base64, instead of `message`.
    pub message_base64: Option<String>,
}

/// The signature and the signed message.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignResponse {
    /// The `DKIM-Signature: …` header field, folded, without a final CRLF.
    pub dkim_signature: String,
    /// The message with the field prepended (CRLF line endings), when sent as `message`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_message: Option<String>,
    /// The same as base64, when sent as `message_base64`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_message_base64: Option<String>,
    /// The selector that signed.
    pub selector: String,
    /// The `d=` domain.
    pub signing_domain: String,
}

/// Signs a message with the active key of its `From:` domain (service tokens only).
#[utoipa::path(
    post, path = "/api/internal/dkim/sign", tag = "internal",
    request_body = SignRequestBody,
    responses(
        (status = 200, body = SignResponse),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, description = "The domain may not sign: unknown, not verified or inactive", body = Problem),
        (status = 413, body = Problem), (status = 415, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn dkim_sign(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<SignResponse>, ApiError> {
    caller.check_service()?;
    let req: SignRequestBody = json_body(&headers, &body(raw, SIGN_BODY_LIMIT)?)?;
    let field_error = |message: &str| {
        ApiError::invalid(vec![FieldError {
            field: "message".into(),
            message: message.into(),
        }])
    };
    let (message, as_base64) = match (req.message, req.message_base64) {
        (Some(text), None) => (text.into_bytes(), false),
        (None, Some(b64)) => (
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|_| field_error("`message_base64` is not valid base64"))?,
            true,
        ),
        _ => {
            return Err(field_error(
                "send exactly one of `message` and `message_base64`",
            ));
        }
    };
    let signature = s
        .service
        .sign(
            &caller,
            domain_core::service::SignRequest {
                tenant_id: req.tenant_id,
                partner_id: req.partner_id,
                message,
            },
        )
        .await?;
    let dkim_signature = signature.header_field().to_owned();
    let selector = signature.selector().to_string();
    let signing_domain = signature.domain().to_string();
    let signed = signature.into_signed_message();
    let (signed_message, signed_message_base64) = if as_base64 {
        (
            None,
            Some(base64::engine::general_purpose::STANDARD.encode(&signed)),
        )
    } else {
        // The input was UTF-8 and the signer only adds ASCII and normalises line endings.
        (Some(String::from_utf8_lossy(&signed).into_owned()), None)
    };
    Ok(Json(SignResponse {
        dkim_signature,
        signed_message,
        signed_message_base64,
        selector,
        signing_domain,
    }))
}
