//! `adapter-http`: the ScaiSend Domains HTTP API on axum — authentication, handlers,
//! RFC 9457 problem responses, the OpenAPI document, health and metrics — and the admin
//! console's embedded files (`console`).
//!
//! A key design decision made in this crate is that it holds no rule: handlers extract
//! the caller (from a verified JWT) and the input (HTTP types converted to domain types
//! at the edge), call one use case of `domain-core`, and map the result — errors
//! included — to HTTP. Who may do what is decided by the core.

mod auth;
mod console;
mod dto;
mod error;
mod extract;
mod limits;
mod metrics;
mod routes;
mod schema;
mod state;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::sync::Semaphore;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use auth::{
    Audience, Authenticated, Authenticator, Claims, JwtKey, JwtSettings, JwtVerifier, issue_token,
};
pub use console::{CONSOLE_PATH, CONTENT_SECURITY_POLICY};
pub use error::{ApiError, PROBLEM_JSON, Problem};
pub use limits::{Limits, MAX_BUCKETS, RateLimit, Timeouts, default_internal_concurrency};
pub use state::AppState;
pub use webhooks::ApiRenderer;

/// The header carrying the request id on every response.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ScaiSend Domains",
        description = "Sender domains: add a domain, publish its DKIM/SPF/DMARC records, verify them in DNS, rotate DKIM keys; internal endpoints for the sending pipeline.",
        version = env!("CARGO_PKG_VERSION"),
    ),
    components(schemas(Problem)),
    modifiers(&BearerAuth, &ProblemResponses),
    tags(
        (name = "domains", description = "Sender domains and their records"),
        (name = "verification", description = "Checking the records in DNS"),
        (name = "rotation", description = "DKIM key rotation"),
        (name = "webhooks", description = "Signed events about domains, pushed to the owner's endpoints"),
        (name = "internal", description = "For the sending pipeline (service tokens only)"),
        (name = "operations", description = "Health, readiness, metrics"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The problem responses the operations name, under `components/responses`.
struct ProblemResponses;

impl utoipa::Modify for ProblemResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, response) in schema::problem_responses() {
            components.responses.insert(name.to_owned(), response);
        }
    }
}

/// The admin API, except verification (which has a longer time limit).
fn admin_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(routes::create_domain, routes::list_domains))
        .routes(routes!(
            routes::get_domain,
            routes::update_domain,
            routes::delete_domain
        ))
        .routes(routes!(routes::dns_records))
        .routes(routes!(routes::zone_file))
        .routes(routes!(routes::rotate_dkim))
        .routes(routes!(routes::remove_selector))
        .routes(routes!(routes::domain_events))
        .routes(routes!(webhooks::create_webhook, webhooks::list_webhooks))
        .routes(routes!(
            webhooks::get_webhook,
            webhooks::update_webhook,
            webhooks::delete_webhook
        ))
        .routes(routes!(webhooks::rotate_webhook_secret))
        .routes(routes!(webhooks::test_webhook))
        .routes(routes!(webhooks::webhook_deliveries))
}

/// `POST /api/admin/domains/{id}/verify`.
fn verify_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(routes::verify_domain))
}

/// `POST /api/internal/sender-authorization`.
fn sender_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(routes::sender_authorization))
}

/// `POST /api/internal/dkim/sign` and `…/sign-batch`: messages are bigger than admin
/// requests; this body limit is the inner one, so it wins over the router-wide limit for
/// these routes.
fn sign_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(routes::dkim_sign))
        .routes(routes!(routes::dkim_sign_batch))
        .layer(DefaultBodyLimit::max(routes::SIGN_BODY_LIMIT))
}

/// Health, readiness, metrics.
fn ops_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics_text))
}

/// The OpenAPI 3.1 document of every endpoint.
pub fn openapi() -> utoipa::openapi::OpenApi {
    OpenApiRouter::<AppState>::with_openapi(ApiDoc::openapi())
        .merge(admin_routes())
        .merge(verify_routes())
        .merge(sender_routes())
        .merge(sign_routes())
        .merge(ops_routes())
        .into_openapi()
}

/// What the HTTP edge checks before a handler runs: who the caller is and what the
/// caller may cost.
#[derive(Debug)]
pub struct Edge {
    /// Verifies admin and service tokens.
    pub auth: Authenticator,
    /// Rate, concurrency and time limits.
    pub limits: Limits,
}

/// The HTTP applications of one instance: the public one, and the internal endpoints on
/// their own when they are served on a listener of their own.
#[derive(Debug)]
pub struct Routers {
    /// The admin API, health, metrics and the OpenAPI document — and the internal
    /// endpoints unless `internal` is set.
    pub public: axum::Router,
    /// Only the internal endpoints, for a separate listener.
    pub internal: Option<axum::Router>,
}

/// The whole HTTP application on one listener.
pub fn router(state: AppState, edge: Edge) -> axum::Router {
    routers(state, edge, false).public
}

/// The HTTP applications; with `separate_internal`, the internal endpoints are left out
/// of the public application (a `404` there) and served by `internal` alone.
pub fn routers(state: AppState, edge: Edge, separate_internal: bool) -> Routers {
    let auth = Arc::new(edge.auth);
    let timeouts = edge.limits.timeouts;
    let timeout = |limit: Duration| from_fn_with_state(limit, limits::timeout);

    // Layers added later run first: authentication, then the rate or concurrency
    // limit, then the time limit, then the handler and its body extractor.
    let mut admin = axum::Router::new()
        .merge(
            admin_routes()
                .split_for_parts()
                .0
                .route_layer(timeout(timeouts.request)),
        )
        .merge(
            verify_routes()
                .split_for_parts()
                .0
                .route_layer(timeout(timeouts.verify)),
        );
    if let Some(limiter) = limits::RateLimiter::new(edge.limits.rate, MAX_BUCKETS) {
        admin = admin.route_layer(from_fn_with_state(Arc::new(limiter), limits::rate_limit));
    }
    let admin = admin.route_layer(from_fn_with_state(auth.clone(), auth::admin_only));

    let slots = Arc::new(Semaphore::new(edge.limits.internal_concurrency.max(1)));
    let internal = axum::Router::new()
        .merge(
            sender_routes()
                .split_for_parts()
                .0
                .route_layer(timeout(timeouts.request)),
        )
        .merge(
            sign_routes()
                .split_for_parts()
                .0
                .route_layer(timeout(timeouts.sign)),
        )
        .route_layer(from_fn_with_state(slots, limits::concurrency))
        .route_layer(from_fn_with_state(auth, auth::service_only));

    let api = Arc::new(openapi());
    let ops = ops_routes()
        .split_for_parts()
        .0
        .route(
            "/openapi.json",
            get(move || {
                let api = api.clone();
                async move { Json(api.as_ref().clone()) }
            }),
        )
        .route_layer(timeout(timeouts.request));
    // The console's files, on the public listener only; the pages call the admin API.
    let console = console::routes().route_layer(timeout(timeouts.request));

    if separate_internal {
        Routers {
            public: finish(admin.merge(ops).merge(console), &state),
            internal: Some(finish(internal, &state)),
        }
    } else {
        Routers {
            public: finish(admin.merge(internal).merge(ops).merge(console), &state),
            internal: None,
        }
    }
}

/// The layers every application shares: problem+json for unknown paths and methods,
/// the admin body limit, metrics, panics, tracing and request ids.
fn finish(routes: axum::Router<AppState>, state: &AppState) -> axum::Router {
    routes
        .fallback(|| async { ApiError::not_found() })
        // Must follow every route: it replaces the default 405 of the routes present.
        // The router still adds the `Allow` header.
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(DefaultBodyLimit::max(routes::ADMIN_BODY_LIMIT))
        .layer(from_fn_with_state(state.metrics.clone(), metrics::track))
        .with_state(state.clone())
        .layer(CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| {
            ApiError::internal("a handler panicked").into_response()
        }))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            let id = req
                .headers()
                .get(REQUEST_ID_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(PropagateRequestIdLayer::new(header::HeaderName::from_static(REQUEST_ID_HEADER)))
        .layer(SetRequestIdLayer::new(
            header::HeaderName::from_static(REQUEST_ID_HEADER),
            MakeUlid,
        ))
}

/// Request ids are ULIDs: sortable by time in the logs.
#[derive(Clone, Copy, Debug)]
struct MakeUlid;

impl MakeRequestId for MakeUlid {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&ulid::Ulid::generate().to_string())
            .ok()
            .map(RequestId::new)
    }
}

/// Health of the process.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct Health {
    /// `ok`.
    #[schema(schema_with = health_status)]
    status: &'static str,
}

fn health_status() -> utoipa::openapi::Object {
    schema::names(["ok"]).build()
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "The process is up", body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The store is reachable.
#[utoipa::path(
    get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "The store answers", body = Health),
        (status = 503, response = schema::Unavailable),
    )
)]
async fn readyz(State(s): State<AppState>) -> Result<Json<Health>, ApiError> {
    s.service
        .ports()
        .repo
        .ping()
        .await
        .map_err(|e| ApiError::from(domain_core::Error::from(e)))?;
    Ok(Json(Health { status: "ok" }))
}

/// Prometheus metrics (OpenMetrics text).
#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "OpenMetrics text", body = String, content_type = "application/openmetrics-text"))
)]
async fn metrics_text(State(s): State<AppState>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, telemetry::CONTENT_TYPE)],
        s.metrics.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    /// `docs/openapi.json` is the document the code generates: the reference in the repo
    /// never drifts from the server.
    #[test]
    fn the_published_openapi_document_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
        let published: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("docs/openapi.json exists"))
                .expect("docs/openapi.json is JSON");
        let generated = serde_json::to_value(super::openapi()).expect("the document serialises");
        assert!(
            published == generated,
            "docs/openapi.json is stale: run `cargo xtask openapi`"
        );
    }

    /// Every response of every operation says what it means, and every error is
    /// documented as it is sent: RFC 9457 problem+json with the `Problem` schema, with
    /// `Retry-After` on 429 and 503 and `WWW-Authenticate` on 401.
    #[test]
    fn every_response_is_described_and_every_error_is_a_problem() {
        let doc = serde_json::to_value(super::openapi()).expect("the document serialises");
        let reusable = &doc["components"]["responses"];
        let mut errors = 0;
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("a path item") {
                let responses = operation["responses"].as_object().expect("responses");
                for (status, response) in responses {
                    let at = format!("{method} {path} {status}");
                    let response = match response["$ref"].as_str() {
                        Some(r) => &reusable[r.trim_start_matches("#/components/responses/")],
                        None => response,
                    };
                    let description = response["description"].as_str().unwrap_or("");
                    assert!(!description.is_empty(), "{at}: no description");
                    let status: u16 = status.parse().expect("a status code");
                    if status < 400 {
                        continue;
                    }
                    errors += 1;
                    let content = response["content"].as_object().expect("content");
                    assert_eq!(
                        content.keys().collect::<Vec<_>>(),
                        [super::PROBLEM_JSON],
                        "{at}"
                    );
                    assert_eq!(
                        content[super::PROBLEM_JSON]["schema"]["$ref"],
                        "#/components/schemas/Problem",
                        "{at}"
                    );
                    let header = |name: &str| &response["headers"][name]["required"];
                    if matches!(status, 429 | 503) {
                        assert_eq!(header("Retry-After"), true, "{at}");
                    }
                    if status == 401 {
                        assert_eq!(header("WWW-Authenticate"), true, "{at}");
                    }
                }
            }
        }
        assert!(errors > 50, "only {errors} error responses were seen");
        assert_eq!(
            reusable["MethodNotAllowed"]["headers"]["Allow"]["required"],
            true
        );
    }
}
