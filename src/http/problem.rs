//! HTTP errors: every failure the API reports, mapped once to an RFC 9457
//! `application/problem+json` response.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::backend::BackendError;
use crate::leaderboard::InvalidParam;

/// The RFC 9457 body.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no campaign with id `{0}`")]
    UnknownCampaign(String),
    #[error("invalid query parameter: {0}")]
    InvalidParam(#[from] InvalidParam),
    #[error("{0}")]
    BadRequest(String),
    #[error("no route for {0}")]
    NoRoute(String),
    #[error("method {0} is not allowed here")]
    MethodNotAllowed(String),
    #[error("the backend failed: {0}")]
    Backend(BackendError),
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        use BackendError as B;
        match self {
            Self::UnknownCampaign(_) => (StatusCode::NOT_FOUND, "unknown-campaign", "Unknown campaign"),
            Self::InvalidParam(_) => {
                (StatusCode::BAD_REQUEST, "invalid-parameter", "Invalid query parameter")
            }
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad-request", "Bad request"),
            Self::NoRoute(_) => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            Self::MethodNotAllowed(_) => {
                (StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed", "Method not allowed")
            }
            Self::Backend(B::Timeout(_)) => {
                (StatusCode::GATEWAY_TIMEOUT, "backend-timeout", "Backend timed out")
            }
            Self::Backend(B::Storage(_)) => {
                (StatusCode::SERVICE_UNAVAILABLE, "storage-unavailable", "Embedded store unavailable")
            }
            Self::Backend(_) => (StatusCode::BAD_GATEWAY, "backend-error", "Backend query failed"),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.parts().0
    }
}

impl From<&BackendError> for ApiError {
    fn from(e: &BackendError) -> Self {
        Self::Backend(e.clone())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, kind, title) = self.parts();
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), error = %self, "request failed");
        }
        problem(status, kind, title, self.to_string())
    }
}

/// A problem response; `kind` becomes the `type` URI `urn:leaderboard:problem:<kind>`.
pub fn problem(status: StatusCode, kind: &str, title: &str, detail: String) -> Response {
    let body = Problem {
        kind: format!("urn:leaderboard:problem:{kind}"),
        title: title.to_owned(),
        status: status.as_u16(),
        detail,
    };
    let bytes = serde_json::to_vec(&body).expect("a problem always serializes");
    let mut response = (status, bytes).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
    response
}
