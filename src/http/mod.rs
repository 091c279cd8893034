//! The HTTP layer: the one router (routes and OpenAPI from the same annotations), the shared
//! application state, and the fallbacks that keep every error a problem document.

mod campaigns;
mod openapi;
mod ops;
pub mod problem;

use std::sync::Arc;

use axum::Router;
use axum::http::{Method, Uri};
use axum::routing::get;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::campaigns::SharedCatalogue;
use crate::service::LeaderboardService;
use problem::ApiError;

pub use openapi::openapi;

#[derive(Clone)]
pub struct AppState {
    pub catalogue: SharedCatalogue,
    pub service: Arc<LeaderboardService>,
}

/// The documented API routes.
fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base())
        .routes(routes!(campaigns::list_campaigns))
        .routes(routes!(campaigns::get_campaign))
        .routes(routes!(campaigns::top))
        .routes(routes!(campaigns::window))
}

pub fn router(state: AppState) -> Router {
    let (api, spec) = api().split_for_parts();
    api.merge(SwaggerUi::new("/docs").url("/openapi.json", spec))
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics))
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .with_state(state)
}

async fn no_route(uri: Uri) -> ApiError {
    ApiError::NoRoute(uri.path().chars().take(200).collect())
}

async fn wrong_method(method: Method) -> ApiError {
    ApiError::MethodNotAllowed(method.to_string())
}
