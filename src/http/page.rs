//! The standings page for people: `GET /` lists the campaigns, `GET /board/{id}` shows one
//! campaign's live standings (fed by the API's event streams), and `/assets/*` serves their
//! script and style sheet. Everything is embedded in the binary, so the page works on a
//! machine with no way out; none of it is API, so none of it is in the OpenAPI document. Each
//! file is tagged and compressed once, when first asked for.

use std::sync::LazyLock;

use axum::Router;
use axum::http::HeaderValue;
use axum::response::Response;
use axum::routing::get;
use bytes::Bytes;

use super::AppState;
use super::caching::Conditions;
use super::campaigns::KnownCampaign;
use crate::representation::Representation;

/// An embedded file and its content type.
struct Asset {
    representation: LazyLock<Representation>,
    content_type: HeaderValue,
}

macro_rules! asset {
    ($file:literal, $content_type:literal) => {
        Asset {
            representation: LazyLock::new(|| {
                Representation::json(Bytes::from_static(include_bytes!($file))).shared()
            }),
            content_type: HeaderValue::from_static($content_type),
        }
    };
}

static INDEX: Asset = asset!("page/index.html", "text/html; charset=utf-8");
static BOARD: Asset = asset!("page/board.html", "text/html; charset=utf-8");
static SCRIPT: Asset = asset!("page/app.js", "text/javascript; charset=utf-8");
static STYLE: Asset = asset!("page/style.css", "text/css; charset=utf-8");

/// The page's routes, to merge into the service's router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|conditions: Conditions| async move { INDEX.send(conditions) }))
        .route("/board/{id}", get(board))
        .route("/assets/app.js", get(|conditions: Conditions| async move { SCRIPT.send(conditions) }))
        .route("/assets/style.css", get(|conditions: Conditions| async move { STYLE.send(conditions) }))
}

/// A campaign's standings page; an unknown campaign is a 404 like the API's.
async fn board(_campaign: KnownCampaign, conditions: Conditions) -> Response {
    BOARD.send(conditions)
}

impl Asset {
    /// The file, tagged by its content so a browser revalidates it with a 304 after a deploy
    /// changes nothing, and fetches it anew when one does (`no-cache`: always revalidate).
    fn send(&self, conditions: Conditions) -> Response {
        const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");
        conditions.send(&self.representation, self.content_type.clone(), &NO_CACHE)
    }
}
