//! The handlers: each extracts the caller and the input, calls one use case, and shapes
//! the answer. No rule lives here.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use domain_core::sending::{KeyMode, SendDecision};
use domain_core::service::SenderQuery;
use domain_core::{DomainId, EventId, FieldError, InputError, ListFilter, PageRequest, Selector};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Authenticated;
use crate::dto::{
    AlignmentResponse, CreateDomainRequest, DnsRecordsResponse, DomainList, DomainResponse,
    EventList, RotateResponse, UpdateDomainRequest, VerifyResponse, json_body, media_type,
};
use crate::error::{ApiError, PROBLEM_JSON, Problem};
use crate::extract::{ApiPath, ApiQuery, IdPath, PathId};
use crate::schema::{
    BadRequest, ChangeOne, ChangeWithBody, Conflict, Forbidden, Invalid, NotFound, PayloadTooLarge,
    ReadOne, ReadPage, Unauthorized, Unavailable, UnsupportedMediaType, query,
};
use crate::state::{AppState, Domains};

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

/// A JSON body of the admin API: at most [`ADMIN_BODY_LIMIT`], read by [`json_body`].
#[derive(Debug)]
pub struct AdminJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for AdminJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let headers = req.headers().clone();
        let raw = Bytes::from_request(req, state).await;
        json_body(&headers, &body(raw, ADMIN_BODY_LIMIT)?).map(AdminJson)
    }
}

/// What a handler answers with a JSON body.
pub(crate) type Reply<T> = Result<Json<T>, ApiError>;

impl PathId for DomainId {
    const FORM: &'static str = "`dom_<ULID>`";

    fn from_segment(segment: &str) -> Option<Self> {
        DomainId::parse(segment).ok()
    }
}

const CURSOR: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub(crate) fn encode_cursor(after: Option<String>) -> Option<String> {
    after.map(|a| CURSOR.encode(a))
}

pub(crate) fn decode_cursor<T>(
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

pub(crate) fn page_request(
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

/// Query of the domain list. The values are read as text and parsed by the handler, so
/// that a bad one is a `422` naming the parameter; the document gives their real types.
#[derive(Debug, Deserialize)]
pub struct ListParams {
    /// Only verified (`true`) or unverified (`false`) domains.
    pub verified: Option<String>,
    /// Only active (`true`) or deactivated (`false`) domains.
    pub is_active: Option<String>,
    /// Only shared (`true`) or owned (`false`) domains.
    pub is_shared: Option<String>,
    /// How many domains per page.
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Written by hand: an empty value counts as absent (`flag`, `page_request`,
/// `decode_cursor`), which the document says with `allowEmptyValue`, and the derive
/// cannot.
impl IntoParams for ListParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let flag = |name: &str, description: &str| {
            query(name, description, Object::with_type(Type::Boolean))
        };
        [
            flag(
                "verified",
                "Only verified (`true`) or unverified (`false`) domains.",
            ),
            flag(
                "is_active",
                "Only active (`true`) or deactivated (`false`) domains.",
            ),
            flag(
                "is_shared",
                "Only shared (`true`) or owned (`false`) domains.",
            ),
        ]
        .into_iter()
        .chain(PageParams::into_params(|| None))
        .collect()
    }
}

/// Query of the timeline, read like [`ListParams`].
#[derive(Debug, Deserialize)]
pub struct PageParams {
    /// How many events per page.
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageParams {
    /// The page asked for, after the item `parse_id` reads from the cursor: a `cursor` or
    /// `limit` that is not one is a `422` naming it.
    pub(crate) fn page<T>(
        &self,
        parse_id: impl Fn(&str) -> Result<T, InputError>,
    ) -> Result<PageRequest, ApiError> {
        let cursor = decode_cursor(self.cursor.as_deref(), parse_id)
            .map_err(|e| ApiError::invalid(vec![e]))?;
        page_request(self.limit.as_deref(), cursor).map_err(ApiError::invalid)
    }
}

impl IntoParams for PageParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            query(
                "limit",
                "How many items per page.",
                crate::schema::page_limit(),
            ),
            query(
                "cursor",
                "`next_cursor` of the previous page.",
                Object::with_type(Type::String),
            ),
        ]
    }
}

/// Adds a sender domain and generates its DKIM key.
#[utoipa::path(
    post, path = "/api/admin/domains", tag = "domains",
    request_body = CreateDomainRequest,
    responses(
        (status = 201, description = "Created, with its DKIM key; `Location` names it", body = DomainResponse,
            headers(("Location" = String, description = "The new domain's path, `/api/admin/domains/{id}`")),
            links(
                ("GetDomain" = (operation_id = "get_domain", parameters(("id" = "$response.body#/id")))),
                ("UpdateDomain" = (operation_id = "update_domain", parameters(("id" = "$response.body#/id")))),
                ("DeleteDomain" = (operation_id = "delete_domain", parameters(("id" = "$response.body#/id")))),
                ("DnsRecords" = (operation_id = "dns_records", parameters(("id" = "$response.body#/id")))),
                ("VerifyDomain" = (operation_id = "verify_domain", parameters(("id" = "$response.body#/id")))),
                ("RotateDkim" = (operation_id = "rotate_dkim", parameters(("id" = "$response.body#/id")))),
                ("DomainEvents" = (operation_id = "domain_events", parameters(("id" = "$response.body#/id")))),
                ("RemoveSelector" = (operation_id = "remove_selector", parameters(("id" = "$response.body#/id"), ("selector" = "$response.body#/dkim_selector")))),
            )),
        (status = 409, description = "The owner already has this domain, or its quota of domains is reached", content_type = PROBLEM_JSON, body = Problem),
        ChangeWithBody,
    ),
    security(("bearer" = []))
)]
pub async fn create_domain(
    d: Domains,
    AdminJson(req): AdminJson<CreateDomainRequest>,
) -> Result<Response, ApiError> {
    // Who may create what is decided before the fields are judged: a viewer learns it
    // may not create, not that its payload was wrong.
    d.caller.owner_for_new(req.is_shared.unwrap_or(false))?;
    let new = req.into_domain().map_err(ApiError::invalid)?;
    let view = d.service.create(&d.caller, new).await?;
    Ok(created(
        format!("/api/admin/domains/{}", view.domain.id),
        DomainResponse::from(&view),
    ))
}

/// `201 Created` with the new resource's path in `Location`.
pub(crate) fn created(location: String, body: impl Serialize) -> Response {
    (
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(body),
    )
        .into_response()
}

/// Lists the domains the caller may read.
#[utoipa::path(
    get, path = "/api/admin/domains", tag = "domains", params(ListParams),
    responses(
        (status = 200, description = "A page of domains, in a stable order", body = DomainList),
        ReadPage,
    ),
    security(("bearer" = []))
)]
pub async fn list_domains(d: Domains, ApiQuery(q): ApiQuery<ListParams>) -> Reply<DomainList> {
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
    Ok(Json(
        d.service.list(&d.caller, &filter, &page).await?.into(),
    ))
}

/// One domain.
#[utoipa::path(
    get, path = "/api/admin/domains/{id}", tag = "domains", params(IdPath<DomainId>),
    responses((status = 200, description = "The domain", body = DomainResponse), ReadOne),
    security(("bearer" = []))
)]
pub async fn get_domain(d: Domains, IdPath(id): IdPath<DomainId>) -> Reply<DomainResponse> {
    Ok(Json((&d.service.get(&d.caller, &id).await?).into()))
}

/// Changes `is_active`, `dmarc_policy`, `dmarc_rua_email` or `dkim_rotation_days`.
#[utoipa::path(
    patch, path = "/api/admin/domains/{id}", tag = "domains", params(IdPath<DomainId>),
    request_body = UpdateDomainRequest,
    responses(
        (status = 200, description = "The changed domain", body = DomainResponse),
        (status = 404, response = NotFound), (status = 409, response = Conflict),
        ChangeWithBody,
    ),
    security(("bearer" = []))
)]
pub async fn update_domain(
    d: Domains,
    IdPath(id): IdPath<DomainId>,
    // Unknown fields are refused by name, with the list of those PATCH accepts.
    AdminJson(req): AdminJson<UpdateDomainRequest>,
) -> Reply<DomainResponse> {
    let changes = req.into_changes().map_err(ApiError::invalid)?;
    Ok(Json(
        (&d.service.update(&d.caller, &id, changes).await?).into(),
    ))
}

/// Deletes a domain; its private keys are destroyed.
#[utoipa::path(
    delete, path = "/api/admin/domains/{id}", tag = "domains", params(IdPath<DomainId>),
    responses(
        (status = 204, description = "Deleted, with its private keys"),
        (status = 409, response = Conflict), ChangeOne,
    ),
    security(("bearer" = []))
)]
pub async fn delete_domain(
    d: Domains,
    IdPath(id): IdPath<DomainId>,
) -> Result<StatusCode, ApiError> {
    d.service.delete(&d.caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The records to publish.
#[utoipa::path(
    get, path = "/api/admin/domains/{id}/dns-records", tag = "domains", params(IdPath<DomainId>),
    responses(
        (status = 200, description = "The records to publish, and those to remove", body = DnsRecordsResponse),
        ReadOne,
    ),
    security(("bearer" = []))
)]
pub async fn dns_records(d: Domains, IdPath(id): IdPath<DomainId>) -> Reply<DnsRecordsResponse> {
    let view = d.service.dns_records(&d.caller, &id).await?;
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
    get, path = "/api/admin/domains/{id}/zone-file", tag = "domains", params(IdPath<DomainId>),
    responses(
        (status = 200, description = "A zone-file fragment (RFC 1035 §5), ASCII; `Content-Disposition` names it `<domain>.zone`", content_type = "text/dns", body = String,
            example = json!("; ScaiSend sender domain mail.example.com\nmail.example.com. 3600 IN TXT \"v=spf1 include:scaisend.scailabs.ai ~all\"\n")),
        ReadOne,
    ),
    security(("bearer" = []))
)]
pub async fn zone_file(d: Domains, IdPath(id): IdPath<DomainId>) -> Result<Response, ApiError> {
    let view = d.service.dns_records(&d.caller, &id).await?;
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
    post, path = "/api/admin/domains/{id}/verify", tag = "verification", params(IdPath<DomainId>),
    responses(
        (status = 200, description = "The verdict of every check; `errors` names each failing record", body = VerifyResponse),
        (status = 409, response = Conflict), ChangeOne,
    ),
    security(("bearer" = []))
)]
pub async fn verify_domain(d: Domains, IdPath(id): IdPath<DomainId>) -> Reply<VerifyResponse> {
    Ok(Json((&d.service.verify(&d.caller, &id).await?).into()))
}

/// Starts a DKIM rotation.
#[utoipa::path(
    post, path = "/api/admin/domains/{id}/rotate-dkim", tag = "rotation", params(IdPath<DomainId>),
    responses(
        (status = 202, description = "The new key is pending: publish its record, then verify", body = RotateResponse,
            links(
                ("CancelRotation" = (operation_id = "remove_selector", parameters(("id" = "$request.path.id"), ("selector" = "$response.body#/new_selector")))),
            )),
        (status = 409, description = "A rotation is already pending, or the domain changed at the same time", content_type = PROBLEM_JSON, body = Problem),
        ChangeOne,
    ),
    security(("bearer" = []))
)]
pub async fn rotate_dkim(
    d: Domains,
    IdPath(id): IdPath<DomainId>,
) -> Result<(StatusCode, Json<RotateResponse>), ApiError> {
    let started = d.service.rotate(&d.caller, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(RotateResponse::from(&started))))
}

/// Removes a retiring selector, or cancels a pending one.
#[utoipa::path(
    delete, path = "/api/admin/domains/{id}/dkim/{selector}", tag = "rotation",
    params(IdPath<DomainId>, ("selector" = String, Path, description = "e.g. `scaisend`")),
    responses(
        (status = 200, description = "The domain without the selector", body = DomainResponse),
        (status = 409, description = "The active selector cannot be removed, or the domain changed at the same time", content_type = PROBLEM_JSON, body = Problem),
        ChangeOne,
    ),
    security(("bearer" = []))
)]
pub async fn remove_selector(
    d: Domains,
    ApiPath((id, selector)): ApiPath<(String, String)>,
) -> Reply<DomainResponse> {
    let id = DomainId::from_segment(&id).ok_or_else(ApiError::not_found)?;
    let selector = Selector::parse(&selector).map_err(|_| ApiError::not_found())?;
    let view = d.service.remove_selector(&d.caller, &id, &selector).await?;
    Ok(Json(DomainResponse::from(&view)))
}

/// The domain's timeline, newest first.
#[utoipa::path(
    get, path = "/api/admin/domains/{id}/events", tag = "domains",
    params(IdPath<DomainId>, PageParams),
    responses(
        (status = 200, description = "A page of the timeline, newest first", body = EventList),
        (status = 404, response = NotFound), ReadPage,
    ),
    security(("bearer" = []))
)]
pub async fn domain_events(
    d: Domains,
    ApiQuery(q): ApiQuery<PageParams>,
    IdPath(id): IdPath<DomainId>,
) -> Reply<EventList> {
    let page = q.page(EventId::parse)?;
    Ok(Json(d.service.events(&d.caller, &id, &page).await?.into()))
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
    #[schema(min_length = 1, example = "alerts@mail.example.com")]
    pub from: String,
    /// `live` (`sg_live_*` key) or `test` (`sg_test_*` key).
    #[schema(value_type = crate::schema::KeyMode, example = "live")]
    pub key_mode: String,
}

/// The send-time decision.
#[derive(Debug, Serialize, ToSchema)]
pub struct SenderAuthorizationResponse {
    /// `deliver`, `accept_then_fail`, `reject` or `sandbox`.
    #[schema(value_type = crate::schema::SendDecision)]
    pub decision: &'static str,
    /// Why, for `accept_then_fail` and `reject`.
    #[schema(required = true)]
    pub reason: Option<String>,
    /// The `d=` to sign with, for `deliver`.
    #[schema(required = true)]
    pub signing_domain: Option<String>,
    /// The active selector, for `deliver` (the RSA one when the domain signs with several
    /// algorithms).
    #[schema(required = true)]
    pub selector: Option<String>,
    /// Every selector that signs, with its algorithm, RSA first; empty unless `deliver`.
    pub selectors: Vec<SelectorResponse>,
    /// The domain of the MAIL FROM address, for `deliver`: the domain's verified return
    /// path, or the platform's (`SCAISEND_DEFAULT_RETURN_PATH`).
    #[schema(required = true)]
    pub mail_from_domain: Option<String>,
    /// For `deliver`: whether the signature's `d=` and the MAIL FROM domain align with
    /// the `From:` domain for DMARC.
    #[schema(required = true)]
    pub alignment: Option<AlignmentResponse>,
}

/// A selector that signs, and its algorithm.
#[derive(Debug, Serialize, ToSchema)]
pub struct SelectorResponse {
    /// The selector (`s=`).
    pub selector: String,
    /// The algorithm (`a=`).
    #[schema(value_type = crate::schema::DkimAlgorithm)]
    pub algorithm: &'static str,
}

impl From<&SendDecision> for SenderAuthorizationResponse {
    fn from(d: &SendDecision) -> Self {
        let deliver = match d {
            SendDecision::Deliver {
                signing_domain,
                selector,
                selectors,
                envelope,
            } => Some((signing_domain, selector, selectors, envelope)),
            _ => None,
        };
        SenderAuthorizationResponse {
            decision: d.name(),
            reason: d.reason().map(str::to_owned),
            signing_domain: deliver.map(|(d, ..)| d.to_string()),
            selector: deliver.map(|(_, s, ..)| s.to_string()),
            selectors: deliver.map_or_else(Vec::new, |(_, _, selectors, _)| {
                selectors
                    .iter()
                    .map(|(algorithm, selector)| SelectorResponse {
                        selector: selector.to_string(),
                        algorithm: algorithm.as_str(),
                    })
                    .collect()
            }),
            mail_from_domain: deliver.map(|(.., e)| e.mail_from_domain.to_string()),
            alignment: deliver.map(|(.., e)| e.alignment.into()),
        }
    }
}

/// May this tenant send from this `From:` domain? (service tokens only)
#[utoipa::path(
    post, path = "/api/internal/sender-authorization", tag = "internal",
    request_body = SenderAuthorizationRequest,
    responses(
        (status = 200, description = "The decision for the send", body = SenderAuthorizationResponse),
        (status = 400, response = BadRequest), (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden), (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType), (status = 422, response = Invalid),
        (status = 503, response = Unavailable),
    ),
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
    let Some(key_mode) = KeyMode::parse(&req.key_mode) else {
        return Err(ApiError::invalid(vec![FieldError {
            field: "key_mode".into(),
            message: "`key_mode` must be `live` or `test`".into(),
        }]));
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
/// that are not UTF-8 (8-bit bodies in legacy charsets). Exactly one of the two is sent;
/// the other is absent or `null`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignRequestBody {
    /// The sending tenant.
    pub tenant_id: String,
    /// Its partner.
    pub partner_id: String,
    /// The RFC 5322 message; its `From:` domain picks the key.
    pub message: Option<String>,
    /// The message as base64, instead of `message`.
    pub message_base64: Option<String>,
}

/// Written by hand because "exactly one of `message` and `message_base64`" is a `oneOf`
/// of two shapes, which the derive cannot say.
impl utoipa::PartialSchema for SignRequestBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, Object, OneOfBuilder, Type};
        let text = |description: &str, example: Option<&str>| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some(description))
                .examples(example)
        };
        let shape = |title: &str, sent: &str, description: &str, absent: &str| {
            ObjectBuilder::new()
                .title(Some(title))
                .property("tenant_id", text("The sending tenant.", Some("t1")))
                .required("tenant_id")
                .property("partner_id", text("Its partner.", Some("p1")))
                .required("partner_id")
                .property(sent, text(description, None))
                .required(sent)
                .property(absent, Object::with_type(Type::Null))
                .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        };
        OneOfBuilder::new()
            .description(Some(
                "The message to sign: as text in `message`, or as base64 in `message_base64`.",
            ))
            .item(shape(
                "SignText",
                "message",
                "The RFC 5322 message; its `From:` domain picks the key.",
                "message_base64",
            ))
            .item(shape(
                "SignBase64",
                "message_base64",
                "The RFC 5322 message as base64 (RFC 4648 §4, padded); its `From:` domain picks the key.",
                "message",
            ))
            .into()
    }
}

impl ToSchema for SignRequestBody {}

/// The signatures, and the signed message unless the message came as `message/rfc822`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignResponse {
    /// The (first, RSA) `DKIM-Signature: …` header field, folded, without a final CRLF.
    pub dkim_signature: String,
    /// Every signature, one per algorithm of the domain, RSA first.
    pub signatures: Vec<SignatureResponse>,
    /// The message with every field prepended (CRLF line endings), when sent as `message`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_message: Option<String>,
    /// The same as base64, when sent as `message_base64`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_message_base64: Option<String>,
    /// The selector that signed (the RSA one when there are several signatures).
    pub selector: String,
    /// The `d=` domain.
    pub signing_domain: String,
}

/// One `DKIM-Signature` made.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignatureResponse {
    /// The header field, folded, without a final CRLF.
    pub dkim_signature: String,
    /// Its selector (`s=`).
    pub selector: String,
    /// Its algorithm (`a=`).
    #[schema(value_type = crate::schema::DkimAlgorithm)]
    pub algorithm: &'static str,
}

/// The query of a `message/rfc822` signing request: who sends (empty counts as absent).
#[derive(Debug, Deserialize)]
struct Sender {
    tenant_id: Option<String>,
    partner_id: Option<String>,
}

/// The media type of the binary form of a signing request: the message itself.
pub const RFC822: &str = "message/rfc822";

/// How a message to sign came, and so what goes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SignForm {
    /// JSON `message`: the signed message goes back as text.
    Text,
    /// JSON `message_base64`: the signed message goes back as base64.
    Base64,
    /// A `message/rfc822` body: only the signature fields go back.
    Rfc822,
}

/// Reads a signing request in either form: `message/rfc822` with the query naming the
/// sender, or JSON ([`json_body`]'s answers, `415` included, for anything else).
fn sign_request(
    uri: &Uri,
    headers: &HeaderMap,
    raw: Bytes,
) -> Result<(domain_core::service::SignRequest, SignForm), ApiError> {
    if media_type(headers).is_some_and(|m| m.eq_ignore_ascii_case(RFC822)) {
        let Query(q) =
            Query::<Sender>::try_from_uri(uri).map_err(|e| ApiError::malformed(e.body_text()))?;
        let present = |v: Option<String>| v.filter(|v| !v.is_empty());
        let (tenant_id, partner_id) = match (present(q.tenant_id), present(q.partner_id)) {
            (Some(t), Some(p)) => (t, p),
            (t, p) => {
                let missing = [("tenant_id", t.is_none()), ("partner_id", p.is_none())];
                return Err(ApiError::invalid(
                    missing
                        .iter()
                        .filter(|(_, absent)| *absent)
                        .map(|(field, _)| FieldError {
                            field: (*field).into(),
                            message: format!(
                                "`{field}` is required in the query with a `{RFC822}` body"
                            ),
                        })
                        .collect(),
                ));
            }
        };
        let request = domain_core::service::SignRequest {
            tenant_id,
            partner_id,
            message: Vec::from(raw),
        };
        return Ok((request, SignForm::Rfc822));
    }
    let req: SignRequestBody = json_body(headers, &raw).map_err(|e| e.or_accepting(RFC822))?;
    json_sign_request(req)
}

/// What a JSON signing request without exactly one message is told.
const NOT_ONE_MESSAGE: &str = "send exactly one of `message` and `message_base64`";

/// Whether a JSON signing request has the one message its schema asks for.
fn has_one_message(req: &SignRequestBody) -> bool {
    req.message.is_some() != req.message_base64.is_some()
}

/// One JSON message to sign: exactly one of `message` and `message_base64`.
fn json_sign_request(
    req: SignRequestBody,
) -> Result<(domain_core::service::SignRequest, SignForm), ApiError> {
    let field_error = |field: &str, message: &str| {
        ApiError::invalid(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }])
    };
    let (message, form) = match (req.message, req.message_base64) {
        (Some(text), None) => (text.into_bytes(), SignForm::Text),
        (None, Some(b64)) => (
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|_| field_error("message", "`message_base64` is not valid base64"))?,
            SignForm::Base64,
        ),
        _ => return Err(field_error("message", NOT_ONE_MESSAGE)),
    };
    let request = domain_core::service::SignRequest {
        tenant_id: req.tenant_id,
        partner_id: req.partner_id,
        message,
    };
    Ok((request, form))
}

/// Signs a message with the active key of its `From:` domain (service tokens only).
///
/// The message comes as JSON, and goes back signed; or, for large messages, as the body
/// itself (`Content-Type: message/rfc822`, the sender in the query), and then only the
/// signature fields go back, for the caller to prepend.
#[utoipa::path(
    post, path = "/api/internal/dkim/sign", tag = "internal",
    params(
        ("tenant_id" = Option<String>, Query, description = "The sending tenant; required with a `message/rfc822` body, not read with JSON."),
        ("partner_id" = Option<String>, Query, description = "Its partner; required with a `message/rfc822` body, not read with JSON."),
    ),
    request_body(
        description = "JSON with the message inside, or the message itself as `message/rfc822` (bytes as they are, up to 32 MiB) with `tenant_id` and `partner_id` in the query.",
        content(
            (SignRequestBody = "application/json"),
            (String = "message/rfc822"),
        ),
    ),
    responses(
        (status = 200, description = "The signatures; the signed message too, unless the message came as `message/rfc822`", body = SignResponse),
        (status = 400, response = BadRequest), (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, description = "The domain may not sign: unknown, not verified or inactive", content_type = PROBLEM_JSON, body = Problem),
        (status = 413, response = PayloadTooLarge), (status = 415, response = UnsupportedMediaType),
        (status = 422, response = Invalid), (status = 503, response = Unavailable),
    ),
    security(("bearer" = []))
)]
pub async fn dkim_sign(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    uri: Uri,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<SignResponse>, ApiError> {
    caller.check_service()?;
    let (request, form) = sign_request(&uri, &headers, body(raw, SIGN_BODY_LIMIT)?)?;
    let signature = s.service.sign(&caller, request).await?;
    Ok(Json(sign_response(signature, form)))
}

/// The answer to one signed message, in the form it came in.
fn sign_response(signature: domain_core::signer::DkimSignature, form: SignForm) -> SignResponse {
    let dkim_signature = signature.header_field().to_owned();
    let signatures = signature
        .fields()
        .iter()
        .map(|f| SignatureResponse {
            dkim_signature: f.field.clone(),
            selector: f.selector.to_string(),
            algorithm: f.algorithm.as_str(),
        })
        .collect();
    let selector = signature.selector().to_string();
    let signing_domain = signature.domain().to_string();
    let (signed_message, signed_message_base64) = match form {
        SignForm::Rfc822 => (None, None),
        SignForm::Base64 => (
            None,
            Some(base64::engine::general_purpose::STANDARD.encode(signature.into_signed_message())),
        ),
        // The input was UTF-8 and the signer only adds ASCII and normalises line endings,
        // so the bytes are moved into the string, not copied.
        SignForm::Text => (
            Some(
                String::from_utf8(signature.into_signed_message())
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            ),
            None,
        ),
    };
    SignResponse {
        dkim_signature,
        signatures,
        signed_message,
        signed_message_base64,
        selector,
        signing_domain,
    }
}

/// `POST /api/internal/dkim/sign-batch`: up to 100 messages, each as the JSON form of
/// `dkim/sign` takes it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignBatchRequest {
    /// The messages, from 1 to 100.
    #[schema(min_items = 1, max_items = 100)]
    pub messages: Vec<SignRequestBody>,
}

/// One answer per message, in the order of the request.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignBatchResponse {
    /// Each message's answer: signed (`status` 200), or a problem.
    pub results: Vec<SignBatchResult>,
}

/// One message's answer in a batch: what `dkim/sign` would have answered for it alone.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum SignBatchResult {
    /// Signed.
    Signed(SignedItem),
    /// Not signed: the problem (`409` or `422`) `dkim/sign` would have answered.
    Failed(Problem),
}

/// A signed message of a batch.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignedItem {
    /// Always 200, so that every item has a `status` to look at.
    #[schema(minimum = 200, maximum = 200)]
    pub status: u16,
    /// The answer `dkim/sign` gives for one message.
    #[serde(flatten)]
    pub signed: SignResponse,
}

/// Signs up to 100 messages in one request (service tokens only).
///
/// Each message is signed as `POST /api/internal/dkim/sign` signs its JSON form, and
/// answered in the same place of `results`: signed, or the problem that message alone
/// would have got (`409` for a domain that may not sign, `422` for a message that cannot
/// be read: no single `From:`, bad base64). A batch is answered `200` whatever its
/// items' fate; what is wrong with the request as a whole (a body that is not JSON or
/// over 32 MiB, no messages or more than 100, an item not of the schema's shape, such as
/// both `message` and `message_base64`) or with the service is the whole answer, as for
/// one message.
#[utoipa::path(
    post, path = "/api/internal/dkim/sign-batch", tag = "internal",
    request_body(content = SignBatchRequest, content_type = "application/json",
        description = "The messages, each as the JSON form of `dkim/sign` takes it; up to 100 and 32 MiB in all."),
    responses(
        (status = 200, description = "One answer per message, in order: signed, or a problem", body = SignBatchResponse),
        (status = 400, response = BadRequest), (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 413, response = PayloadTooLarge), (status = 415, response = UnsupportedMediaType),
        (status = 422, response = Invalid), (status = 503, response = Unavailable),
    ),
    security(("bearer" = []))
)]
pub async fn dkim_sign_batch(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<SignBatchResponse>, ApiError> {
    caller.check_service()?;
    let batch: SignBatchRequest = json_body(&headers, &body(raw, SIGN_BODY_LIMIT)?)?;
    domain_core::service::check_batch_size(batch.messages.len())?;
    // A message of the wrong shape is the request's error, as any other shape error is
    // (every one named); what a message says, or its domain's state, is its own answer.
    let misshapen: Vec<FieldError> = (batch.messages.iter().enumerate())
        .filter(|(_, message)| !has_one_message(message))
        .map(|(i, _)| FieldError {
            field: format!("messages[{i}].message"),
            message: NOT_ONE_MESSAGE.into(),
        })
        .collect();
    if !misshapen.is_empty() {
        return Err(ApiError::invalid(misshapen));
    }
    // Messages that cannot be read keep their place with their problem; the rest go to
    // the signer together, and their answers fill the places left.
    let mut results: Vec<Option<SignBatchResult>> = Vec::with_capacity(batch.messages.len());
    let mut forms = Vec::new();
    let mut requests = Vec::new();
    for message in batch.messages {
        match json_sign_request(message) {
            Ok((request, form)) => {
                results.push(None);
                forms.push(form);
                requests.push(request);
            }
            Err(problem) => results.push(Some(SignBatchResult::Failed(problem.into_problem()))),
        }
    }
    let mut signed = if requests.is_empty() {
        Vec::new()
    } else {
        s.service.sign_batch(&caller, requests).await?
    }
    .into_iter()
    .zip(forms);
    let results = results
        .into_iter()
        .map(|result| match result {
            Some(failed) => failed,
            None => match signed.next() {
                Some((Ok(signature), form)) => SignBatchResult::Signed(SignedItem {
                    status: 200,
                    signed: sign_response(signature, form),
                }),
                Some((Err(e), _)) => SignBatchResult::Failed(ApiError::from(e).into_problem()),
                None => {
                    tracing::error!("the signer answered fewer messages than it was given");
                    SignBatchResult::Failed(ApiError::internal("").into_problem())
                }
            },
        })
        .collect();
    Ok(Json(SignBatchResponse { results }))
}
