//! Extractors whose rejections are problem+json like every other error: axum's own
//! `Query` and `Path` answer `text/plain`; and the id of a path, parsed at the edge.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use utoipa::IntoParams;
use utoipa::openapi::Required;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{Object, Type};

use crate::error::ApiError;

/// `Query<T>`: a query string that does not deserialize (a repeated parameter, say) is a
/// `400` problem.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| ApiQuery(v))
            .map_err(|e: QueryRejection| ApiError::malformed(e.body_text()))
    }
}

/// `Path<T>`: a path segment that cannot be decoded (`%FF` is not UTF-8) names nothing,
/// so it is a `404` problem, like an id that cannot be an id.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(ApiPath(v)),
            Err(PathRejection::FailedToDeserializePathParams(_)) => Err(ApiError::not_found()),
            // The route and its handler disagree on the parameters: our bug, not the
            // client's.
            Err(e) => Err(ApiError::internal(e.body_text())),
        }
    }
}

/// An id a path's `{id}` segment names.
pub trait PathId: Sized {
    /// What the id looks like, for the document (`dom_<ULID>`).
    const FORM: &'static str;

    /// The id `segment` spells, if it is one.
    fn from_segment(segment: &str) -> Option<Self>;
}

/// The id in the path's `{id}`: a segment that is not one names nothing, so it is a
/// `404` problem like one that cannot be decoded.
#[derive(Debug)]
pub struct IdPath<T>(pub T);

impl<T: PathId, S: Send + Sync> FromRequestParts<S> for IdPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ApiPath(segment) = ApiPath::<String>::from_request_parts(parts, state).await?;
        T::from_segment(&segment)
            .map(IdPath)
            .ok_or_else(ApiError::not_found)
    }
}

/// The document's `{id}` parameter: a string of the id's form.
impl<T: PathId> IntoParams for IdPath<T> {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            ParameterBuilder::new()
                .name("id")
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .description(Some(T::FORM))
                .schema(Some(Object::with_type(Type::String)))
                .build(),
        ]
    }
}
