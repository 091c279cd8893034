//! The OpenAPI document: the base info here, the paths from the handlers' annotations.

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "leaderboard",
        description = "Real-time campaign leaderboards: each player's best single-spin win/stake ratio, over a whole campaign or its last span of time."
    ),
    tags(
        (name = "campaigns", description = "The promotions that have leaderboards"),
        (name = "leaderboards", description = "Ranked players of a campaign"),
        (name = "streams", description = "Live boards as server-sent events"),
    )
)]
struct ApiDoc;

pub(super) fn base() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The full document, as served at `/openapi.json` and committed as `openapi/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    super::api().split_for_parts().1
}
