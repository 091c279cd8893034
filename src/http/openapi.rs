//! The OpenAPI document: the base info here (the default listen address as its server, the
//! ingest token's scheme), the paths from the handlers' annotations.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::server::Server;
use utoipa::{Modify, OpenApi};

use super::problem::Problem;

/// Where the server listens unless told otherwise; the OpenAPI document's first server.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "leaderboard",
        description = "Real-time campaign leaderboards: each player's score (by default their best single-spin win/stake ratio; a campaign may rank totals instead), over a whole campaign or its last span of time. Every example works against the zero-config demo (`cargo run`)."
    ),
    tags(
        (name = "campaigns", description = "The promotions that have leaderboards"),
        (name = "leaderboards", description = "Ranked players of a campaign"),
        (name = "streams", description = "Live boards as server-sent events"),
        (name = "events", description = "Spins into the embedded store"),
    ),
    // Every error answer refers to it; the responses shared in `docs` do not register it.
    components(schemas(Problem)),
    modifiers(&ServerAndToken)
)]
struct ApiDoc;

/// The default listen address as the first server (Postman's base URL), the document's own
/// address as the second, and the ingest token as a bearer scheme (which
/// `POST /events` alone refers to).
struct ServerAndToken;

impl Modify for ServerAndToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let mut server = Server::new(format!("http://{DEFAULT_LISTEN}"));
        server.description = Some("The default listen address (`cargo run`'s demo)".into());
        // For Swagger UI served elsewhere (a container, a proxy): the address it was loaded from.
        let here = Server::new("/");
        openapi.servers = Some(vec![server, here]);
        let token = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some("The server's --ingest-token, when it has one"))
            .build();
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("ingestToken", SecurityScheme::Http(token));
    }
}

pub(super) fn base() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The full document, as served at `/openapi.json` and committed as `openapi/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    super::api().1
}

#[cfg(test)]
mod tests {
    use crate::leaderboard::Span;

    #[test]
    fn every_span_parameter_documents_what_the_parser_takes() {
        let document = serde_json::to_value(super::openapi()).unwrap();
        let mut routes = Vec::new();
        for (path, item) in document["paths"].as_object().unwrap() {
            let parameters = item["get"]["parameters"].as_array().into_iter().flatten();
            for last in parameters.filter(|p| p["name"] == "last") {
                assert_eq!(last["schema"]["pattern"], Span::pattern(), "{path}");
                routes.push(path.as_str());
            }
        }
        // The window, a player, friends, the export, and the streams of the window and a player.
        assert_eq!(routes.len(), 6, "{routes:?}");
    }
}
