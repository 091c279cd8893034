//! The middleware stack every request passes through, outermost first: request id, tracing
//! span, request metrics, CORS, panic net, problem net, conditional requests, compression;
//! and the in-flight limit in front of the API routes. Each layer does constant work on a
//! cache hit: no body is read or copied unless the response is an error.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Extensions, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::Semaphore;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, Predicate};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use super::caching::{self, CachePolicy};
use super::problem::{self, ApiError};
use crate::metrics::Metrics;

/// How the HTTP edge behaves, from the command line.
#[derive(Debug, Clone)]
pub struct Edge {
    /// Browser origins allowed to read answers; `None` sends no CORS headers.
    pub cors: Option<CorsOrigins>,
    /// API requests served at once; more are refused with 503 rather than queued.
    pub max_in_flight: usize,
    pub caching: CachePolicy,
}

/// Wraps every route and fallback of `router` in the stack. Applied per route (not around
/// the router) so that each layer sees the matched route template.
pub fn apply(router: Router, edge: &Edge, metrics: Arc<Metrics>) -> Router {
    let policy = Arc::new(edge.caching.clone());
    router.layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(TraceLayer::new_for_http().make_span_with(request_span).on_failure(()))
            .layer(middleware::from_fn_with_state(metrics, observe))
            .option_layer(edge.cors.as_ref().map(cors))
            .layer(CatchPanicLayer::custom(problem::from_panic))
            .layer(middleware::from_fn(problem::ensure_problem))
            .layer(middleware::from_fn_with_state(policy, caching::conditional))
            .layer(
                CompressionLayer::new().compress_when(
                    // Errors are small, and the problem net reads them as they are.
                    DefaultPredicate::new().and(
                        |status: StatusCode, _: Version, _: &HeaderMap, _: &Extensions| status.is_success(),
                    ),
                ),
            ),
    )
}

/// The in-flight limit, for the API routes: a request that finds no free slot is refused at
/// once, so a burst costs clients a retry instead of everyone a queue.
pub fn admission(router: Router<super::AppState>, max_in_flight: usize) -> Router<super::AppState> {
    router.route_layer(middleware::from_fn_with_state(Arc::new(Semaphore::new(max_in_flight)), admit))
}

async fn admit(State(slots): State<Arc<Semaphore>>, request: Request, next: Next) -> Response {
    match slots.try_acquire() {
        Ok(_slot) => next.run(request).await,
        Err(_) => ApiError::Overloaded.into_response(),
    }
}

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The route label of requests that matched no route.
const UNMATCHED: &str = "unmatched";

fn route(extensions: &Extensions) -> &str {
    extensions.get::<MatchedPath>().map_or(UNMATCHED, MatchedPath::as_str)
}

/// Every log line of a request carries its id, method, route and path.
fn request_span(request: &Request) -> tracing::Span {
    let id = request.headers().get(X_REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or_default();
    tracing::info_span!(
        "request",
        request_id = id,
        method = %request.method(),
        route = route(request.extensions()),
        path = request.uri().path(),
    )
}

/// Request count, latency and in-flight gauge, by route template and status.
async fn observe(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().cloned();
    let _in_flight = InFlight::enter(&metrics.in_flight);
    let started = Instant::now();
    let response = next.run(request).await;
    let route = route.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
    metrics.request(route, response.status().as_u16(), started.elapsed());
    response
}

/// Counts a request in flight until dropped, also when the client goes away mid-request.
struct InFlight<'a>(&'a Gauge);

impl<'a> InFlight<'a> {
    fn enter(gauge: &'a Gauge) -> Self {
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The browser origins allowed by `--cors-origins`: `*`, or a comma-separated list.
#[derive(Debug, Clone, PartialEq)]
pub enum CorsOrigins {
    Any,
    List(Vec<HeaderValue>),
}

impl std::str::FromStr for CorsOrigins {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let items: Vec<&str> = text.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
        if items.contains(&"*") {
            return Ok(Self::Any);
        }
        items.into_iter().map(origin).collect::<Result<_, _>>().map(Self::List)
    }
}

/// An origin as browsers send it (`scheme://host[:port]`, lowercase, default port left out).
fn origin(text: &str) -> Result<HeaderValue, String> {
    let bad = |why: &str| format!("`{text}` is not an origin like https://game.example.com: {why}");
    let url = reqwest::Url::parse(text).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("the scheme must be http or https"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(bad("an origin has no path, query, fragment or user"));
    }
    HeaderValue::try_from(url.origin().ascii_serialization()).map_err(|e| bad(&e.to_string()))
}

/// Reads from any allowed origin; POST for `/events`. No credentials: the API has no cookies.
fn cors(origins: &CorsOrigins) -> CorsLayer {
    let allow = match origins {
        CorsOrigins::Any => AllowOrigin::any(),
        CorsOrigins::List(list) => AllowOrigin::list(list.iter().cloned()),
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET, Method::HEAD, Method::OPTIONS, Method::POST])
        .allow_headers([header::CONTENT_TYPE, header::IF_NONE_MATCH, header::AUTHORIZATION])
        .expose_headers([header::ETAG, X_REQUEST_ID, header::RETRY_AFTER])
        .max_age(Duration::from_secs(3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cors_origins_are_normalized_and_checked() {
        let list: CorsOrigins = "https://Game.example.com/, http://localhost:3000".parse().unwrap();
        let expected = ["https://game.example.com", "http://localhost:3000"].map(HeaderValue::from_static);
        assert_eq!(list, CorsOrigins::List(expected.to_vec()));
        assert_eq!("https://a.example, *".parse::<CorsOrigins>().unwrap(), CorsOrigins::Any);
        for bad in ["game.example.com", "ftp://x.example", "https://x.example/path", "https://u:p@x.example"]
        {
            assert!(bad.parse::<CorsOrigins>().is_err(), "{bad}");
        }
    }
}
