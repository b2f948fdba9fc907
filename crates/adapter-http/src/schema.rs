//! The parts of the OpenAPI document the derive macros cannot say on their own: the
//! closed sets of names (taken from `domain-core`'s enums, never copied), ranges taken
//! from the core's constants, and the problem responses every operation shares.
//!
//! A key design decision made here is that an error is documented once, as a reusable
//! response under `components/responses` (`application/problem+json` with the `Problem`
//! schema, and the headers the server sends with it), and the operations name the ones
//! they can answer. The document then says the same thing everywhere the server does.

use std::collections::BTreeMap;

use domain_core::PageRequest;
use domain_core::crypto::RsaBits;
use domain_core::rotation::RotationPeriod;
use serde_json::json;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{Object, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Required};
use utoipa::{IntoResponses, PartialSchema, ToResponse, ToSchema};

use crate::error::{PROBLEM_JSON, Problem};

/// Declares named string sets: for each, a type whose schema (a component of its own,
/// so that generated clients share one enum type) is a string from `names`.
macro_rules! name_sets {
    ($($(#[$doc:meta])* $name:ident: $description:literal = $names:expr;)*) => {
        $(
            $(#[$doc])*
            // Only a type for the document: fields name it in `value_type`.
            #[allow(dead_code)]
            pub(crate) struct $name;

            impl PartialSchema for $name {
                fn schema() -> RefOr<Schema> {
                    names($names).description(Some($description)).into()
                }
            }

            impl ToSchema for $name {}
        )*
    };
}

// The component names are the core's, so that the document speaks its language; the
// sets are the core's lists.
name_sets! {
    /// Which record a row or verdict is about.
    CheckKind: "Which record: `dkim`, `spf` or `dmarc`." =
        domain_core::verify::CheckKind::ALL.map(domain_core::verify::CheckKind::as_str);
    /// The outcome of a check.
    CheckStatus: "The outcome of a check." =
        domain_core::verify::CheckStatus::ALL.map(domain_core::verify::CheckStatus::as_str);
    /// The last known state of a record.
    RecordStatus: "The last known state of a record: a check's outcome, or `not_checked`." =
        domain_core::publish::RecordStatus::ALL.map(domain_core::publish::RecordStatus::as_str);
    /// The DNS type of a record to publish.
    RecordType: "The DNS type of the record: `TXT`, or `CNAME` for the DKIM slots of a `cname`-mode domain." =
        domain_core::publish::RecordType::ALL.map(domain_core::publish::RecordType::as_str);
    /// How DKIM keys are published.
    DkimMode: "How the DKIM keys are published: `txt` (the tenant publishes each key's TXT record) or `cname` (the tenant points two CNAME slots per algorithm at our zone once; rotations need no DNS change)." =
        domain_core::rotation::DkimMode::ALL.map(domain_core::rotation::DkimMode::as_str);
    /// A DKIM signing algorithm.
    DkimAlgorithm: "A DKIM signing algorithm (the `a=` of its signatures): `rsa-sha256`, or `ed25519-sha256` (RFC 8463), only beside `rsa-sha256`." =
        domain_core::records::dkim::Algorithm::ALL.map(domain_core::records::dkim::Algorithm::as_str);
    /// What to do with a record.
    RecordAction: "What to do with the record at the DNS provider: `publish` (or keep) it, or `remove` it (its DKIM selector was removed)." =
        domain_core::publish::RecordAction::ALL.map(domain_core::publish::RecordAction::as_str);
    /// Where a DKIM key is in its life.
    KeyState: "Where a DKIM key is in its life: `pending` (its record not yet seen in DNS), `active` (signs), `retiring` (no longer signs, still published), `removed`." =
        domain_core::rotation::KeyState::ALL.map(domain_core::rotation::KeyState::as_str);
    /// What happened to a domain.
    EventType: "What happened to the domain." =
        domain_core::EventKind::ALL.map(domain_core::EventKind::as_str);
    /// A DMARC policy.
    DmarcPolicy: "What receivers should do with mail failing DMARC: `none`, `quarantine` or `reject`." =
        domain_core::DmarcPolicy::ALL.map(domain_core::DmarcPolicy::as_str);
    /// Where a domain stands.
    Standing: "Where the domain stands, for a status light: `inactive` (sends are rejected), `verified`, `failing` (verified but failing its checks; sends go on until `grace_until`) or `not_verified`." =
        domain_core::lifecycle::Standing::NAMES;
    /// The send-time decision.
    SendDecision: "What the sending pipeline must do with the message." =
        domain_core::sending::SendDecision::NAMES;
    /// The kind of API key a send came with.
    KeyMode: "`live` (an `sg_live_*` key) or `test` (an `sg_test_*` key)." =
        domain_core::sending::KeyMode::ALL.map(domain_core::sending::KeyMode::as_str);
}

/// A string that is one of `names`.
pub(crate) fn names(names: impl IntoIterator<Item = &'static str>) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(names))
}

/// A DKIM key size in bits: one of the sizes the core issues, as a component of its own
/// like the name sets.
#[allow(dead_code)]
pub(crate) struct DkimKeyBits;

impl PartialSchema for DkimKeyBits {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .enum_values(Some(RsaBits::ALL.map(RsaBits::bits)))
            .description(Some(
                "An RSA key size in bits: `2048`, `3072` or `4096` (`1024` is refused as too weak).",
            ))
            .into()
    }
}

impl ToSchema for DkimKeyBits {}

/// Days between automatic rotations: 1 to [`RotationPeriod::MAX_DAYS`], or `null` (off).
pub(crate) fn rotation_days() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Integer, Type::Null]))
        .minimum(Some(1))
        .maximum(Some(RotationPeriod::MAX_DAYS))
        .build()
}

/// `limit` of a page: 1 to [`PageRequest::MAX_LIMIT`], by default
/// [`PageRequest::DEFAULT_LIMIT`].
pub(crate) fn page_limit() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .description(Some(format!(
            "How many items per page: 1 to {}, {} when absent.",
            PageRequest::MAX_LIMIT,
            PageRequest::DEFAULT_LIMIT
        )))
        .minimum(Some(1))
        .maximum(Some(PageRequest::MAX_LIMIT))
        .default(Some(json!(PageRequest::DEFAULT_LIMIT)))
        .build()
}

/// An optional query parameter that the handler reads as text, taking an empty value
/// (`?limit=`) as absent.
pub(crate) fn query(name: &str, description: &str, schema: impl Into<RefOr<Schema>>) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(schema))
        // utoipa's `Parameter` has no `allowEmptyValue` (OpenAPI keeps it for query
        // parameters only, and discourages it), yet it is what the handler does.
        .extensions(Some(Extensions::from_iter([("allowEmptyValue", true)])))
        .build()
}

/// A header the server always sends with the response.
fn header(schema: ObjectBuilder, description: &str) -> Header {
    HeaderBuilder::new()
        .schema(Some(schema.build()))
        .description(Some(description))
        // utoipa's `Header` has no `required` field; the OpenAPI header object has one,
        // and without it a client or fuzzer may not rely on the header being there.
        .extensions(Some(Extensions::from_iter([("required", true)])))
        .build()
}

/// `Retry-After`, in whole seconds (never 0).
fn retry_after() -> Header {
    header(
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1)),
        "Seconds to wait before retrying.",
    )
}

/// A problem response with `description` and `headers`.
pub(crate) fn problem(
    description: &str,
    headers: impl IntoIterator<Item = (&'static str, Header)>,
) -> Response {
    headers
        .into_iter()
        .fold(
            ResponseBuilder::new().description(description).content(
                PROBLEM_JSON,
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name(Problem::name())))
                    .build(),
            ),
            |response, (name, header)| response.header(name, header),
        )
        .build()
}

/// Declares reusable problem responses: for each, a type whose [`ToResponse`] is the
/// problem response with that description and those headers, listed under
/// `components/responses` by [`problem_responses`], and the status it is sent with.
macro_rules! problem_responses {
    ($($(#[$doc:meta])* $name:ident = $status:literal => $description:expr $(, $header:expr)*;)*) => {
        $(
            $(#[$doc])*
            // Only a name for the document: never built, named in `responses(…)`.
            #[allow(dead_code)]
            pub(crate) struct $name;

            impl ProblemResponse for $name {
                const STATUS: u16 = $status;
            }

            impl<'r> ToResponse<'r> for $name {
                fn response() -> (&'r str, RefOr<Response>) {
                    (stringify!($name), problem($description, [$($header),*]).into())
                }
            }
        )*

        /// Every reusable problem response, for `components/responses`.
        pub(crate) fn problem_responses() -> Vec<(&'static str, RefOr<Response>)> {
            vec![$(<$name as ToResponse>::response()),*]
        }
    };
}

problem_responses! {
    /// `400`.
    BadRequest = 400 => "Malformed request: the body is not JSON or not a JSON object, or the query string cannot be read (a repeated parameter, say).";
    /// `401`, with `WWW-Authenticate: Bearer`.
    Unauthorized = 401 => "No bearer token, or one that does not verify (signature, expiry, issuer, audience, missing claims).",
        ("WWW-Authenticate", header(names(["Bearer"]), "The scheme to authenticate with."));
    /// `403`.
    Forbidden = 403 => "The token is valid but may not do this: a viewer changing a domain, a tenant changing a shared domain, a service token on the admin API or an admin token on the internal endpoints.";
    /// `404`.
    NotFound = 404 => "No such domain, or one the caller may not see.";
    /// `405`, with `Allow`: sent for a method a path does not take, so no operation
    /// lists it.
    MethodNotAllowed = 405 => "This path does not take this method.",
        ("Allow", header(ObjectBuilder::new().schema_type(Type::String), "The methods the path takes, comma-separated."));
    /// `409`.
    Conflict = 409 => "The request conflicts with the current state.";
    /// `413`.
    PayloadTooLarge = 413 => "The body is over the limit: 64 KiB for the admin API, 32 MiB for signing.";
    /// `415`.
    UnsupportedMediaType = 415 => "The body is not declared as JSON: send `Content-Type: application/json`.";
    /// `422`.
    Invalid = 422 => "One or more fields are invalid: `errors` names each and says what is wrong.";
    /// `429`, with `Retry-After`.
    TooManyRequests = 429 => "The tenant's rate limit of changes is spent; retry after `Retry-After` seconds.",
        ("Retry-After", retry_after());
    /// `503`, with `Retry-After`.
    Unavailable = 503 => "A backend (the store or DNS) is unavailable, the server is at its limit of concurrent requests of this kind, or the request did not finish within its time limit; retry after `Retry-After` seconds.",
        ("Retry-After", retry_after());
}

/// Declares the sets of problem responses operations of one kind answer: for each, a type
/// whose [`IntoResponses`] refers to its members under `components/responses`, so that an
/// operation names its kind in `responses(…)` rather than each problem.
macro_rules! problem_sets {
    ($($(#[$doc:meta])* $name:ident = [$($member:ident),+];)*) => {
        $(
            $(#[$doc])*
            // Only a name for the document: never built, named in `responses(…)`.
            #[allow(dead_code)]
            pub(crate) struct $name;

            impl IntoResponses for $name {
                fn responses() -> BTreeMap<String, RefOr<Response>> {
                    BTreeMap::from([$(member::<$member>()),+])
                }
            }
        )*
    };
}

/// A reusable problem response, sent with one status.
pub(crate) trait ProblemResponse: ToResponse<'static> {
    /// The status it is sent with.
    const STATUS: u16;
}

/// The reference to a reusable problem response, under its status.
fn member<R: ProblemResponse>() -> (String, RefOr<Response>) {
    (
        R::STATUS.to_string(),
        Ref::from_response_name(R::response().0).into(),
    )
}

problem_sets! {
    /// Reading one thing by its id: `401`, `403`, `404`, `503`.
    ReadOne = [Unauthorized, Forbidden, NotFound, Unavailable];
    /// Reading a page of a list, whose query may be malformed or invalid: `400`, `401`,
    /// `403`, `422`, `503`.
    ReadPage = [BadRequest, Unauthorized, Forbidden, Invalid, Unavailable];
    /// A change of one thing by its id, without a body: `401`, `403`, `404`, `429`, `503`.
    ChangeOne = [Unauthorized, Forbidden, NotFound, TooManyRequests, Unavailable];
    /// A change with a JSON body: `400`, `401`, `403`, `413`, `415`, `422`, `429`, `503`.
    ChangeWithBody = [
        BadRequest, Unauthorized, Forbidden, PayloadTooLarge, UnsupportedMediaType, Invalid,
        TooManyRequests, Unavailable
    ];
}
