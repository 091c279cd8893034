//! The HTTP layer: the one router (routes and OpenAPI from the same annotations), the shared
//! application state, and the fallbacks that keep every error a problem document.

mod boards;
pub mod caching;
mod campaigns;
mod docs;
mod events;
mod export;
mod layers;
mod openapi;
mod ops;
mod page;
mod params;
pub mod problem;
mod streams;

use std::sync::Arc;

use axum::Router;
use axum::http::{Method, Uri};
use axum::routing::get;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::campaigns::SharedCatalogue;
use crate::engine::Engine;
use problem::ApiError;

pub use export::Exports;
pub use layers::{CorsOrigins, Edge};
pub use openapi::{DEFAULT_LISTEN, openapi};
pub use ops::{Readiness, Report};
pub use streams::Streams;

#[derive(Clone)]
pub struct AppState {
    pub catalogue: SharedCatalogue,
    pub engine: Arc<Engine>,
    /// Where POST /events goes: only the embedded backend takes events.
    pub ingest: Option<Ingest>,
    pub readiness: Arc<Readiness>,
    pub streams: Streams,
    pub exports: Exports,
}

#[derive(Clone)]
pub struct Ingest {
    pub sink: Arc<dyn crate::backend::Sink>,
    /// When set, POST /events needs `Authorization: Bearer <token>`.
    pub token: Option<Arc<str>>,
    /// Room for the bodies of ingests in flight, one permit a byte (`--ingest-max-bytes`).
    pub bytes: Arc<tokio::sync::Semaphore>,
}

/// The documented API routes and their document.
fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (routes, mut document) = routes().split_for_parts();
    docs::span_patterns(&mut document);
    (routes, document)
}

fn routes() -> OpenApiRouter<AppState> {
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

pub fn router(state: AppState, edge: &Edge) -> Router {
    let metrics = state.engine.metrics().clone();
    let (api, spec) = api();
    let router = layers::admission(api, edge.max_in_flight)
        .merge(SwaggerUi::new("/docs").url("/openapi.json", spec))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .merge(page::routes())
        .layer(axum::extract::DefaultBodyLimit::max(events::BODY_LIMIT))
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .with_state(state);
    layers::apply(router, edge, metrics)
}

async fn no_route(uri: Uri) -> ApiError {
    ApiError::NoRoute(uri.path().chars().take(200).collect())
}

async fn wrong_method(method: Method) -> ApiError {
    ApiError::MethodNotAllowed(method.to_string())
}
