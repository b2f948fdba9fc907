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

/// Seconds a client should wait before retrying a 503.
const RETRY_AFTER_SECONDS: &str = "5";

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    title: &'static str,
    detail: String,
    errors: Vec<FieldError>,
    /// Logged, never sent.
    internal: Option<String>,
}

/// The RFC 9457 body, with `errors` for validation failures.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI reference naming the problem type.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// A short summary of the problem type.
    pub title: String,
    /// The HTTP status.
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
        }
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
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Unauthenticated(m) => ApiError::unauthorized(m),
            Error::NotFound => ApiError::not_found(),
            Error::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, "Forbidden", m),
            Error::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "Conflict", m),
            Error::Invalid(fields) => ApiError::invalid(fields),
            Error::Unavailable(cause) => {
                let mut e = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Service unavailable",
                    "a backend is unavailable; retry after the time in Retry-After",
                );
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
        let body = Problem {
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
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = (self.status, bytes).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
