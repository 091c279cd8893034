//! The standings page for people: `GET /` lists the campaigns, `GET /board/{id}` shows one
//! campaign's live standings (fed by the API's event streams), and `/assets/*` serves their
//! script and style sheet. Everything is embedded in the binary, so the page works on a
//! machine with no way out; none of it is API, so none of it is in the OpenAPI document.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;
use super::campaigns::KnownCampaign;
use crate::representation::ETag;

const INDEX: &str = include_str!("page/index.html");
const BOARD: &str = include_str!("page/board.html");
const SCRIPT: &str = include_str!("page/app.js");
const STYLE: &str = include_str!("page/style.css");

const HTML: &str = "text/html; charset=utf-8";
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// The page's routes, to merge into the service's router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { asset(INDEX, HTML) }))
        .route("/board/{id}", get(board))
        .route("/assets/app.js", get(|| async { asset(SCRIPT, JAVASCRIPT) }))
        .route("/assets/style.css", get(|| async { asset(STYLE, CSS) }))
}

/// A campaign's standings page; an unknown campaign is a 404 like the API's.
async fn board(_campaign: KnownCampaign) -> Response {
    asset(BOARD, HTML)
}

/// An embedded file, tagged by its content so a browser revalidates it with a 304 after a
/// deploy changes nothing, and fetches it anew when one does (`no-cache`: always revalidate).
fn asset(body: &'static str, content_type: &'static str) -> Response {
    let etag = ETag::of(body.as_bytes());
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (header::ETAG, etag.0),
    ];
    (headers, body).into_response()
}
