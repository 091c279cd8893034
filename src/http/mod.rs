//! The HTTP layer: the one router (routes and OpenAPI from the same annotations), the shared
//! application state (behind one `Arc`: a request clones one reference count), and the
//! fallbacks that keep every error a problem document.

mod boards;
pub mod caching;
mod campaigns;
mod cross_origin;
mod docs;
mod events;
mod export;
mod layers;
pub mod listener;
mod negotiation;
mod openapi;
mod ops;
mod page;
mod params;
pub mod problem;
mod streams;

use std::convert::Infallible;
use std::ops::Deref;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, Method, Uri};
use axum::response::Response;
use axum::routing::get;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::campaigns::SharedCatalogue;
use crate::engine::Engine;
use caching::CachePolicy;
use problem::ApiError;

pub use export::Exports;
pub use layers::{CorsOrigins, Edge};
pub use openapi::{DEFAULT_LISTEN, openapi};
pub use ops::{Readiness, Report};
pub use streams::Streams;

/// The request id every answer and log line of a request carries.
const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// When a board's standings were last confirmed.
const X_CHECKED_AT: HeaderName = HeaderName::from_static("x-checked-at");
/// Where an answer came from: `hit`, `miss`, `coalesced` or `stale`.
const X_CACHE: HeaderName = HeaderName::from_static("x-cache");
/// The tag of the last event a stream's client had, sent when it reconnects.
const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");

/// What every handler reads: [`App`], behind one `Arc`.
#[derive(Clone)]
pub struct AppState(Arc<App>);

impl AppState {
    pub fn new(app: App) -> Self {
        Self(Arc::new(app))
    }
}

impl Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.0
    }
}

pub struct App {
    pub catalogue: SharedCatalogue,
    pub engine: Arc<Engine>,
    /// Where POST /events goes: only the embedded backend takes events.
    pub ingest: Option<Ingest>,
    pub readiness: Arc<Readiness>,
    pub streams: Streams,
    pub exports: Exports,
    /// How long clients and shared caches may keep answers.
    pub caching: CachePolicy,
}

#[derive(Clone)]
pub struct Ingest {
    pub sink: Arc<dyn crate::backend::Sink>,
    /// When set, POST /events needs `Authorization: Bearer <token>`.
    pub token: Option<Arc<str>>,
    /// Web pages of other origins allowed to post events (`--cors-origins`).
    pub origins: Option<CorsOrigins>,
    /// Room for the bodies of ingests in flight, one permit a byte (`--ingest-max-bytes`).
    pub bytes: Arc<tokio::sync::Semaphore>,
    /// How long a body may take to arrive, whole (`--ingest-body-timeout`).
    pub body_timeout: std::time::Duration,
}

/// The documented API routes and their document.
fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (routes, mut document) = routes().split_for_parts();
    docs::span_patterns(&mut document);
    (routes, document)
}

fn routes() -> OpenApiRouter<AppState> {
    // No compression layer: boards are kept encoded (and precompressed) per snapshot, answers
    // encoded per request are compressed by `Conditions` in the coding negotiated, streams and
    // exports are sent as they are.
    OpenApiRouter::with_openapi(openapi::base())
        .routes(routes!(campaigns::list_campaigns))
        .routes(routes!(campaigns::get_campaign))
        .routes(routes!(boards::top))
        .routes(routes!(boards::window))
        .routes(routes!(boards::player))
        .routes(routes!(boards::friends))
        .routes(routes!(streams::top_stream))
        .routes(routes!(streams::window_stream))
        .routes(routes!(streams::player_stream))
        .routes(routes!(export::standings_csv))
        .routes(routes!(events::ingest))
}

/// The whole service: every route behind the middleware stack, as each connection serves it. The
/// API routes (those of the OpenAPI document) are under the in-flight limit.
pub fn service(
    state: AppState,
    edge: &Edge,
) -> impl tower::Service<Request, Response = Response, Error = Infallible, Future: Send>
+ Clone
+ Send
+ 'static
+ use<> {
    let metrics = state.engine.metrics().clone();
    let (api, spec) = api();
    let api_paths = spec.paths.paths.keys().cloned().collect();
    let documents = Router::new().merge(SwaggerUi::new("/docs").url("/openapi.json", spec));
    let router = api
        .merge(documents.route("/metrics", get(ops::metrics)).layer(layers::compression()))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .merge(page::routes())
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .with_state(state);
    let routed = layers::routes(router, &metrics, api_paths, edge.max_in_flight);
    layers::apply(routed, edge, &metrics)
}

async fn no_route(uri: Uri) -> ApiError {
    ApiError::NoRoute(uri.path().chars().take(200).collect())
}

async fn wrong_method(method: Method) -> ApiError {
    ApiError::MethodNotAllowed(method.to_string())
}
