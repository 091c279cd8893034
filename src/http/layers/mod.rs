//! The middleware stack every request passes through, outermost first: request id, tracing
//! span, request metrics ([`observe`]), CORS, panic net, problem net; then each route's own layer
//! ([`route`]: its metric handles, the in-flight limit of the API routes) and, on the documents
//! and metrics, [`compression`]. The stack wraps the
//! router once: per request it is one copy of plain structs, and the per-route layer is the one
//! axum boxes with each route. No layer reads, copies or hashes a body, except error bodies.

mod observe;
mod route;

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{Extensions, HeaderMap, HeaderValue, Method, StatusCode, Version, header};
use axum::response::Response;
use tower::{Service, ServiceBuilder};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, Predicate};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use super::problem;
use super::{LAST_EVENT_ID, X_CACHE, X_CHECKED_AT, X_REQUEST_ID};
use crate::metrics::Metrics;
use observe::ObserveLayer;
use route::RouteLayer;

/// How the HTTP edge behaves, from the command line.
#[derive(Debug, Clone)]
pub struct Edge {
    /// Browser origins allowed to read answers; `None` sends no CORS headers.
    pub cors: Option<CorsOrigins>,
    /// API requests served at once; more are refused with 503 rather than queued.
    pub max_in_flight: usize,
}

/// Gives every route (and fallback) of `router` its own layer: metric handles, and the
/// in-flight limit for the `limited` route templates.
pub fn routes(
    router: Router,
    metrics: &Arc<Metrics>,
    limited: HashSet<String>,
    max_in_flight: usize,
) -> Router {
    router.layer(RouteLayer::new(metrics.clone(), limited, max_in_flight))
}

/// Wraps `router` (every route and fallback) in the stack, once.
pub fn apply<S>(
    router: S,
    edge: &Edge,
    metrics: &Metrics,
) -> impl Service<Request, Response = Response, Error = Infallible, Future: Send> + Clone + Send + 'static + use<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    ServiceBuilder::new()
        .map_response(|response: Response<_>| response.map(Body::new))
        .map_request(own_request_id)
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(request_span).on_failure(()))
        .layer(ObserveLayer::new(metrics))
        .option_layer(edge.cors.as_ref().and_then(cors))
        .layer(CatchPanicLayer::custom(problem::from_panic))
        .and_then(problem::ensure_problem)
        .service(router)
}

/// Compression for the documents (`/openapi.json`, `/docs`) and `/metrics`, whose bodies are
/// made by other crates: every API answer is already sent in the coding negotiated (by
/// `Conditions`), and streams and exports are not compressed. Successful answers only, since the
/// problem net reads errors as they are. A layer of those routes alone, so that no other answer
/// carries a compression body (kilobytes: every encoder's state inline) through the stack.
pub fn compression() -> CompressionLayer<impl Predicate> {
    CompressionLayer::new().compress_when(
        DefaultPredicate::new()
            .and(|status: StatusCode, _: Version, _: &HeaderMap, _: &Extensions| status.is_success()),
    )
}

/// The longest `x-request-id` (and logged path) taken from a client: every log line of its
/// request repeats them.
const LOGGED_BYTES: usize = 128;

/// A client's `x-request-id` is kept when it is at most [`LOGGED_BYTES`] of visible ASCII; any
/// other is dropped, and the request gets a new UUID as one that sent none.
fn own_request_id(mut request: Request) -> Request {
    let fits = |id: &HeaderValue| id.len() <= LOGGED_BYTES && id.as_bytes().iter().all(u8::is_ascii_graphic);
    if request.headers().get(X_REQUEST_ID).is_some_and(|id| !fits(id)) {
        request.headers_mut().remove(X_REQUEST_ID);
    }
    request
}

/// Every log line of a request carries its id, method, route and path (at most its first
/// [`LOGGED_BYTES`]).
fn request_span(request: &Request) -> tracing::Span {
    let id = request.headers().get(X_REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let path = request.uri().path();
    let end = (0..=path.len().min(LOGGED_BYTES)).rev().find(|&i| path.is_char_boundary(i)).unwrap_or(0);
    // The route is recorded once the router matched one (by the route's layer).
    tracing::info_span!(
        "request",
        request_id = id,
        method = %request.method(),
        route = tracing::field::Empty,
        path = &path[..end],
    )
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

impl CorsOrigins {
    /// Whether a page of `origin` (as a browser sends it) is allowed.
    pub fn trusts(&self, origin: &HeaderValue) -> bool {
        match self {
            Self::Any => true,
            Self::List(list) => list.contains(origin),
        }
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
/// An empty list (an empty `LEADERBOARD_CORS_ORIGINS`) means no CORS at all.
fn cors(origins: &CorsOrigins) -> Option<CorsLayer> {
    let allow = match origins {
        CorsOrigins::Any => AllowOrigin::any(),
        CorsOrigins::List(list) if list.is_empty() => return None,
        CorsOrigins::List(list) => AllowOrigin::list(list.iter().cloned()),
    };
    let layer = CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET, Method::HEAD, Method::OPTIONS, Method::POST])
        .allow_headers([
            header::CONTENT_TYPE,
            header::IF_NONE_MATCH,
            header::AUTHORIZATION,
            X_REQUEST_ID,
            LAST_EVENT_ID,
        ])
        .expose_headers([
            header::ETAG,
            X_REQUEST_ID,
            header::RETRY_AFTER,
            X_CHECKED_AT,
            header::AGE,
            X_CACHE,
            header::WARNING,
            header::CONTENT_DISPOSITION,
        ])
        .max_age(Duration::from_secs(3600));
    Some(layer)
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::routing::{get, post};
    use tower::ServiceExt;

    use super::*;

    /// `routes` as the server serves its router.
    fn serve(
        routes: Router,
        metrics: &Arc<Metrics>,
    ) -> impl Service<Request, Response = Response, Error = Infallible> + Clone {
        let edge = Edge { cors: None, max_in_flight: 10 };
        apply(super::routes(routes, metrics, HashSet::new(), edge.max_in_flight), &edge, metrics)
    }

    async fn call(
        service: &(impl Service<Request, Response = Response, Error = Infallible> + Clone),
        method: Method,
        uri: &str,
        body: &str,
    ) -> (StatusCode, HeaderMap, String) {
        let request =
            axum::http::Request::builder().method(method).uri(uri).header(header::HOST, "127.0.0.1");
        let request = request.body(Body::from(body.to_owned()));
        let response = service.clone().oneshot(request.unwrap()).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        (parts.status, parts.headers, String::from_utf8(bytes.to_vec()).unwrap())
    }

    async fn boom() -> &'static str {
        panic!("handler bug")
    }

    #[tokio::test]
    async fn a_panicking_handler_is_a_logged_500_problem_and_the_server_goes_on() {
        let metrics = Arc::new(Metrics::default());
        let routes = Router::new().route("/boom", get(boom)).route("/fine", get(|| async { "fine" }));
        let router = serve(routes, &metrics);
        let (status, headers, body) = call(&router, Method::GET, "/boom", "").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
        assert!(headers.contains_key(X_REQUEST_ID));
        let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(problem["type"], "urn:leaderboard:problem:internal");
        assert!(!body.contains("handler bug"), "the panic message stays in the logs: {body}");
        assert_eq!(call(&router, Method::GET, "/fine", "").await.0, StatusCode::OK);
        assert!(metrics.render().contains("route=\"/boom\",status=\"500\"} 1"), "{}", metrics.render());
    }

    #[tokio::test]
    async fn extractor_rejections_become_problems_that_keep_their_explanation() {
        let routes = Router::new().route("/json", post(|_: axum::Json<serde_json::Value>| async { "ok" }));
        let metrics = Arc::new(Metrics::default());
        let router = serve(routes, &metrics);
        let (status, headers, body) = call(&router, Method::POST, "/json", "{}").await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
        assert_eq!(headers[header::CACHE_CONTROL], "no-store");
        let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(problem["status"], 415);
        assert!(problem["detail"].as_str().unwrap().contains("Content-Type"), "{problem}");
    }

    #[test]
    fn cors_origins_are_normalized_and_checked() {
        let list: CorsOrigins = "https://Game.example.com/, http://localhost:3000".parse().unwrap();
        let expected = ["https://game.example.com", "http://localhost:3000"].map(HeaderValue::from_static);
        assert_eq!(list, CorsOrigins::List(expected.to_vec()));
        assert_eq!("https://a.example, *".parse::<CorsOrigins>().unwrap(), CorsOrigins::Any);
        let empty: CorsOrigins = "".parse().unwrap();
        assert!(cors(&empty).is_none(), "an empty setting sends no CORS headers");
        for bad in ["game.example.com", "ftp://x.example", "https://x.example/path", "https://u:p@x.example"]
        {
            assert!(bad.parse::<CorsOrigins>().is_err(), "{bad}");
        }
    }
}
