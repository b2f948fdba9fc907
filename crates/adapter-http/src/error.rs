//! Errors as RFC 9457 problem details (`application/problem+json`).
//!
//! One `ApiError` type turns every failure into a response. A 5xx never carries internal
//! detail: the cause is logged with the request id, and the client gets the request id
//! to quote.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain_core::{Error, FieldError};
use serde::Serialize;

/// The problem+json media type.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Seconds a client should wait before retrying when a backend is unavailable or a
/// request timed out: long enough for a store to fail over or a connection pool to drain.
const RETRY_AFTER_UNAVAILABLE: u64 = 5;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    title: &'static str,
    detail: String,
    errors: Vec<FieldError>,
    /// Logged, never sent.
    internal: Option<String>,
    /// Whole seconds for the `Retry-After` header of `429` and `503`.
    retry_after: Option<u64>,
}

/// The RFC 9457 body, with `errors` for validation failures.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the problem type.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// A short summary of the problem type.
    pub title: String,
    /// The HTTP status.
    #[schema(minimum = 400, maximum = 599)]
    pub status: u16,
    /// What happened, for a human.
    pub detail: String,
    /// The invalid fields, for `422`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemField>,
}

/// One invalid field.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProblemField {
    /// The request field.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl ApiError {
    fn new(status: StatusCode, title: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            title,
            detail: detail.into(),
            errors: Vec::new(),
            internal: None,
            retry_after: None,
        }
    }

    fn retry_after(mut self, seconds: u64) -> Self {
        // `Retry-After: 0` would invite an immediate retry storm.
        self.retry_after = Some(seconds.max(1));
        self
    }

    /// `400`: the body is not JSON, or not a JSON object.
    pub fn malformed(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Malformed request", detail)
    }

    /// `401`: no token, or a token that does not verify.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Unauthorized", detail)
    }

    /// `404`.
    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "Not found",
            "no such resource, or you may not see it",
        )
    }

    /// `403`: the caller is known but may not do this.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "Forbidden", detail)
    }

    /// `405`; the router adds the `Allow` header listing the methods the path takes.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed",
            "this path does not take this method; the Allow header lists those it takes",
        )
    }

    /// `429`: the caller's rate limit is spent; retry after `seconds`.
    pub fn too_many_requests(seconds: u64) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests",
            "too many changes in a short time; retry after the time in Retry-After",
        )
        .retry_after(seconds)
    }

    /// `503`: every slot of a concurrency limit is taken; retry after `seconds`.
    pub fn busy(seconds: u64) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service busy",
            "the server is at its limit of concurrent requests of this kind; retry after the time in Retry-After",
        )
        .retry_after(seconds)
    }

    /// `503`: the request took longer than its route allows.
    pub fn timed_out(limit: std::time::Duration) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Request timed out",
            format!(
                "the request did not complete within {} s and was abandoned; retry after the time in Retry-After",
                limit.as_secs()
            ),
        )
        .retry_after(RETRY_AFTER_UNAVAILABLE)
    }

    /// `413`: the body is over the limit.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request body too large",
            format!("the request body must be at most {limit} bytes"),
        )
    }

    /// `415`: the body is not declared as JSON.
    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported media type",
            "send the body as JSON with `Content-Type: application/json`",
        )
    }

    /// A `415` that names `media_type` as accepted too, besides JSON; any other error
    /// as it is.
    pub(crate) fn or_accepting(mut self, media_type: &str) -> Self {
        if self.status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
            self.detail = format!(
                "send the body as JSON with `Content-Type: application/json`, or as `{media_type}`"
            );
        }
        self
    }

    /// `422` for the given fields.
    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let mut e = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid request",
            "one or more fields are invalid; see `errors`",
        );
        e.errors = errors;
        e
    }

    /// `500` with a cause to log.
    pub fn internal(cause: impl Into<String>) -> Self {
        let mut e = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal error",
            "something went wrong on our side; quote the x-request-id header when reporting it",
        );
        e.internal = Some(cause.into());
        e
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The RFC 9457 body: what a response carries, or one item of a batch's answer. The
    /// internal cause, if any, is not in it (a response logs it).
    pub fn into_problem(self) -> Problem {
        Problem {
            problem_type: format!(
                "https://scaisend.scailabs.ai/problems/{}",
                self.title.to_ascii_lowercase().replace(' ', "-")
            ),
            title: self.title.to_owned(),
            status: self.status.as_u16(),
            detail: self.detail,
            errors: self
                .errors
                .into_iter()
                .map(|f| ProblemField {
                    field: f.field,
                    message: f.message,
                })
                .collect(),
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Unauthenticated(m) => ApiError::unauthorized(m),
            Error::NotFound => ApiError::not_found(),
            Error::Forbidden(m) => ApiError::forbidden(m),
            Error::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "Conflict", m),
            Error::Invalid(fields) => ApiError::invalid(fields),
            Error::Unavailable(cause) => {
                let mut e = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Service unavailable",
                    "a backend is unavailable; retry after the time in Retry-After",
                )
                .retry_after(RETRY_AFTER_UNAVAILABLE);
                e.internal = Some(cause);
                e
            }
            Error::Internal(cause) => ApiError::internal(cause),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(cause) = &self.internal {
            // The request id is on the enclosing span (see `router`).
            tracing::error!(status = self.status.as_u16(), cause = %cause, "request failed");
        }
        let (status, retry_after) = (self.status, self.retry_after);
        let bytes = serde_json::to_vec(&self.into_problem()).unwrap_or_default();
        let mut response = (status, bytes).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(seconds) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
