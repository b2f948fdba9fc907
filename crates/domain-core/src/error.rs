//! Errors of the core, one type per layer of meaning.
//!
//! * [`InputError`] — one value a user typed is not acceptable; the message says how to
//!   fix it. Parsers of names and records return it.
//! * [`FieldError`] — an [`InputError`] tied to the request field it came from.
//! * [`RepoError`] — what a store adapter may report; the port documents when.
//! * [`Error`] — what a use case reports to its caller; the HTTP adapter maps each
//!   variant to one status code.

use serde::Serialize;

/// A value a user supplied is not acceptable. The message is a full sentence fragment
/// that says what is wrong and, where it can, how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InputError {
    message: String,
}

impl InputError {
    /// An error with the given actionable message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Ties this error to the request field it came from.
    pub fn for_field(self, field: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: self.message,
        }
    }
}

/// A rejected request field and the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The request field, as named in the API (`domain`, `dmarc_rua_email`, …).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// What a store adapter reports. Each port method documents which variants it returns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RepoError {
    /// The row does not exist, or is not visible to the scope that asked.
    #[error("not found")]
    NotFound,
    /// A uniqueness rule or an optimistic-concurrency check failed.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The store cannot be reached right now; the operation may be retried.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The store answered something the adapter cannot make sense of.
    #[error("store error: {0}")]
    Internal(String),
}

/// What a use case reports to its caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The caller's credentials lack a claim its role needs.
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    /// The resource does not exist or the caller may not see it. Never says which.
    #[error("not found")]
    NotFound,
    /// The caller may see the resource but not do this to it.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The request contradicts the current state (duplicate domain, rotation pending,
    /// a concurrent change, …). The message says which.
    #[error("conflict: {0}")]
    Conflict(String),
    /// One or more request fields are invalid.
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    /// A backend (store or DNS) is down; the request may be retried later.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Something that should not happen did. The message is for logs, not for clients.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// A single-field validation error.
    pub fn invalid(field: &str, error: InputError) -> Self {
        Error::Invalid(vec![error.for_field(field)])
    }

    /// Whether the error is about what was asked ([`Error::Invalid`], [`Error::Conflict`])
    /// rather than about the caller or the service: in a batch, the answer of one item.
    pub fn is_about_the_request(&self) -> bool {
        matches!(self, Error::Invalid(_) | Error::Conflict(_))
    }
}

impl From<RepoError> for Error {
    fn from(e: RepoError) -> Self {
        match e {
            RepoError::NotFound => Error::NotFound,
            RepoError::Conflict(m) => Error::Conflict(m),
            RepoError::Unavailable(m) => Error::Unavailable(m),
            RepoError::Internal(m) => Error::Internal(m),
        }
    }
}

/// The result type of use cases.
pub type Result<T, E = Error> = std::result::Result<T, E>;
