//! HTTP errors: every failure the API reports, mapped once to an RFC 9457
//! `application/problem+json` response that no cache keeps; and the two nets that catch what
//! handlers did not report themselves: panics, and bare error responses from extractors and
//! layers.

use std::any::Any;

use std::convert::Infallible;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::backend::BackendError;
use crate::events::{BatchError, InvalidEvent};
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
    /// For a refused event batch: each bad item's index and reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<InvalidEvent>>,
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
    #[error("{0}")]
    Engine(crate::engine::Error),
    #[error("{0}")]
    BadBatch(BatchError),
    #[error("the body is larger than {0} bytes; send fewer events per request")]
    PayloadTooLarge(usize),
    #[error("POST /events needs `Authorization: Bearer <ingest token>`")]
    Unauthorized,
    #[error("a web page of another origin ({0}) may not post events; allow its origin with --cors-origins")]
    CrossOrigin(String),
    #[error("the body is read as sent: Content-Encoding `{0}` is not taken; send it uncompressed")]
    Compressed(String),
    #[error("this server reads spins from ADX; send events through the ingestion pipeline")]
    NoIngest,
    #[error("too many requests in flight; retry shortly")]
    Overloaded,
    #[error(
        "as many event bytes are being received as the server holds at once (--ingest-max-bytes); retry shortly"
    )]
    IngestFull,
    #[error("the body did not arrive within {:?}; send smaller batches", .0)]
    BodyTimeout(std::time::Duration),
    #[error("as many streams are open as the server allows; retry shortly")]
    TooManyStreams,
    #[error("as many exports are open as the server allows; retry shortly")]
    TooManyExports,
    #[error("the request accepts none of the codings this answer is sent in (identity, gzip, br)")]
    NotAcceptable,
    #[error("not ready: {0}")]
    NotReady(String),
    #[error("the server failed while answering; the failure is logged")]
    Panicked,
    /// A status another layer or extractor chose, with its explanation.
    #[error("{detail}")]
    Other { status: StatusCode, detail: String },
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        use crate::engine::Error as E;
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
            Self::Engine(E::Backend(B::Timeout(_)) | E::Budget(_)) => {
                (StatusCode::GATEWAY_TIMEOUT, "backend-timeout", "Backend timed out")
            }
            Self::Engine(E::Backend(B::Storage(_))) => {
                (StatusCode::SERVICE_UNAVAILABLE, "storage-unavailable", "Embedded store unavailable")
            }
            // Overload, ours or the backend's: the client may retry shortly.
            Self::Engine(E::Busy | E::Backend(B::Throttled(_))) => {
                (StatusCode::SERVICE_UNAVAILABLE, "backend-busy", "Backend busy")
            }
            Self::Engine(E::Backend(_)) => (StatusCode::BAD_GATEWAY, "backend-error", "Backend query failed"),
            Self::BadBatch(_) => (StatusCode::BAD_REQUEST, "invalid-events", "Invalid events"),
            Self::PayloadTooLarge(_) => {
                (StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large", "Payload too large")
            }
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized"),
            Self::Compressed(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "compressed-body", "Compressed body refused")
            }
            Self::CrossOrigin(_) => (StatusCode::FORBIDDEN, "cross-origin", "Cross-origin request refused"),
            Self::NoIngest => (StatusCode::NOT_FOUND, "no-ingest", "Events are not accepted here"),
            Self::Overloaded => (StatusCode::SERVICE_UNAVAILABLE, "overloaded", "Overloaded"),
            Self::IngestFull => (StatusCode::SERVICE_UNAVAILABLE, "ingest-full", "Ingest full"),
            Self::BodyTimeout(_) => (StatusCode::REQUEST_TIMEOUT, "body-timeout", "Request body timed out"),
            Self::TooManyStreams => (StatusCode::SERVICE_UNAVAILABLE, "too-many-streams", "Too many streams"),
            Self::TooManyExports => (StatusCode::SERVICE_UNAVAILABLE, "too-many-exports", "Too many exports"),
            Self::NotAcceptable => (StatusCode::NOT_ACCEPTABLE, "not-acceptable", "Not acceptable"),
            Self::NotReady(_) => (StatusCode::SERVICE_UNAVAILABLE, "not-ready", "Not ready"),
            Self::Panicked | Self::Engine(E::Failed(_)) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error")
            }
            Self::Other { status, .. } => {
                (*status, "http-error", status.canonical_reason().unwrap_or("Error"))
            }
        }
    }
}

impl ApiError {
    /// The problem document alone, e.g. for an `error` event on an open stream.
    pub fn document(&self) -> Problem {
        let (status, kind, title) = self.parts();
        let errors = match self {
            Self::BadBatch(BatchError::Invalid(items)) => {
                Some(items.iter().take(MAX_LISTED).cloned().collect())
            }
            _ => None,
        };
        Problem {
            kind: format!("urn:leaderboard:problem:{kind}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: self.to_string(),
            errors,
        }
    }
}

impl From<BackendError> for ApiError {
    fn from(e: BackendError) -> Self {
        Self::Engine(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.parts().0;
        // Refusals at a bound are counted in metrics (the requests' statuses): a log line each
        // would add to the load, once per request during an incident. A backend's failure is
        // logged where its state changes (the view, the ADX client), not by every request that
        // meets it.
        match &self {
            Self::Overloaded
            | Self::IngestFull
            | Self::TooManyStreams
            | Self::TooManyExports
            | Self::NotReady(_)
            | Self::BodyTimeout(_) => {}
            Self::Engine(crate::engine::Error::Failed(_)) if status.is_server_error() => {
                tracing::warn!(status = status.as_u16(), error = %self, "request failed");
            }
            Self::Engine(_) => tracing::debug!(status = status.as_u16(), error = %self, "request failed"),
            _ if status.is_server_error() => {
                tracing::warn!(status = status.as_u16(), error = %self, "request failed");
            }
            _ => {}
        }
        let mut response = respond(status, &self.document());
        if matches!(self, Self::Unauthorized) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE && !matches!(self, Self::NotReady(_)) {
            // In-flight requests finish within the request budget; a second is a fair wait.
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// At most this many bad items are listed in one problem; the detail gives the full count.
const MAX_LISTED: usize = 1000;

/// A problem response; its `type` URI is `urn:leaderboard:problem:<kind>`.
fn respond(status: StatusCode, body: &Problem) -> Response {
    let bytes = serde_json::to_vec(body).expect("a problem always serializes");
    let mut response = (status, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    // An error describes this moment only; a cache that kept it would hide the recovery.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

const PROBLEM_JSON: &str = "application/problem+json";

/// For `CatchPanicLayer`: logs the panic and answers a 500 problem; the server goes on.
pub fn from_panic(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    tracing::error!(panic = message, "handler panicked");
    ApiError::Panicked.into_response()
}

/// Longest explanation kept from a bare error body.
const DETAIL_LIMIT: usize = 2048;

/// Turns error responses that are not problem documents (axum's extractor rejections,
/// compression's 406) into problem documents, keeping a plain-text
/// explanation as the detail. Successful responses pass untouched.
pub async fn ensure_problem(response: Response) -> Result<Response, Infallible> {
    let status = response.status();
    let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
    if status.as_u16() < 400 || content_type.as_ref().is_some_and(|t| t == PROBLEM_JSON) {
        return Ok(response);
    }
    let is_text = content_type.is_some_and(|t| t.as_bytes().starts_with(b"text/plain"));
    let body = axum::body::to_bytes(response.into_body(), DETAIL_LIMIT).await.unwrap_or_default();
    let detail = match String::from_utf8_lossy(&body).trim() {
        text if is_text && !text.is_empty() => text.to_owned(),
        _ => status.canonical_reason().unwrap_or("error").to_owned(),
    };
    Ok(ApiError::Other { status, detail }.into_response())
}
