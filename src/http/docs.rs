//! The OpenAPI description shared by the routes, said once: their path, query and header
//! parameters with the bounds the server enforces (the defaults of `--max-limit` and
//! `--max-standings`) and an example each that works against `cargo run`'s demo, and the
//! answers other than their body, every problem with an example. Documentation only: requests
//! are validated by the typed parameters of `crate::leaderboard`.
#![allow(dead_code)]

mod examples;

use utoipa::openapi::RefOr;
use utoipa::openapi::path::Parameter;
use utoipa::openapi::schema::Schema;
use utoipa::{IntoParams, IntoResponses};

use super::problem::Problem;
use crate::leaderboard::Span;

/// The tag of an earlier answer: sent as `If-None-Match` or `Last-Event-ID`, it gets the current
/// answer, as a first request does.
const OLD_TAG: &str = "\"5e1f0c3a9b7d24e6f8a0c2e4b6d8f0a1\"";

/// The campaign of a route.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct CampaignPath {
    /// Campaign id (the demo's are demo-live, demo-slots, demo-race, demo-ended and demo-upcoming).
    #[param(pattern = r"^[a-z0-9][a-z0-9-]{0,63}$", example = "demo-live")]
    id: String,
}

/// A campaign and one of its players.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct PlayerPath {
    /// Campaign id (the demo's are demo-live, demo-slots, demo-race, demo-ended and demo-upcoming).
    #[param(pattern = r"^[a-z0-9][a-z0-9-]{0,63}$", example = "demo-live")]
    id: String,
    /// Player id (Int32, GamePlay's PlayerID type; the demo's simulated players are 1 to 10,000).
    #[param(rename = "playerId", minimum = -2147483648, maximum = 2147483647, example = 42)]
    player_id: i32,
}

/// Which page of a board.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Entries to return, 1 to --max-limit (default 100); 10 when absent.
    #[param(minimum = 1, maximum = 100, example = 10)]
    limit: Option<u32>,
    /// 0-based rank of the first entry, up to --max-standings (default 1,000,000); past the
    /// end: no entries.
    #[param(minimum = 0, maximum = 1000000, example = 0)]
    offset: Option<u32>,
}

/// The window of a `/window` route (its pattern is set by [`span_patterns`]).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WindowQuery {
    /// Window length, more than 0 and at most 366 days, to the millisecond: KQL-style 500ms,
    /// 30s, 15m, 2h, 7d, with decimals (1.5h) and long unit names (15min, 2hours), or ISO-8601
    /// (PT15M, P1DT2H). A campaign that declares its windows accepts only those.
    #[param(example = "15m")]
    last: String,
}

/// The view of a player, friends or export route: the whole campaign, or a window (its
/// pattern is set by [`span_patterns`]).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ViewQuery {
    /// The window's length, as on /window; absent: the whole campaign.
    #[param(example = "15m")]
    last: Option<String>,
}

/// Gives every `last` parameter of `openapi` the pattern of the spans the server accepts: it
/// is built from the parser's rules ([`Span::pattern`]), too long to repeat in each annotation.
pub fn span_patterns(openapi: &mut utoipa::openapi::OpenApi) {
    let operations = openapi.paths.paths.values_mut().filter_map(|item| item.get.as_mut());
    let parameters = operations.flat_map(|operation| operation.parameters.iter_mut().flatten());
    for parameter in parameters {
        if let RefOr::T(Parameter { name, schema: Some(RefOr::T(Schema::Object(schema))), .. }) = parameter
            && name == "last"
        {
            schema.pattern = Some(Span::pattern().to_owned());
        }
    }
}

/// Neighbours of a player.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AroundQuery {
    /// Entries on each side of the player (default 0).
    #[param(minimum = 0, maximum = 50, example = 5)]
    around: Option<u8>,
}

/// The players of a friends' board.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FriendsQuery {
    /// Player ids (Int32), comma-separated, at most --max-limit (default 100).
    #[param(style = Form, explode = false, min_items = 1, max_items = 100, example = json!([7, 42, 1001]))]
    ids: Vec<i32>,
}

/// A conditional GET.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct Conditional {
    /// Tags the client holds, or *: a current one gets 304 (the example, an old tag, gets the
    /// answer).
    #[param(rename = "If-None-Match", example = json!(OLD_TAG))]
    if_none_match: Option<String>,
}

/// A stream's reconnection.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct Resume {
    /// The id of the last event received: no duplicate first event when it is still current
    /// (the example, an old tag, gets the current answer first).
    #[param(rename = "Last-Event-ID", example = json!(OLD_TAG))]
    last_event_id: Option<String>,
}

/// The representation the client holds is current.
#[derive(IntoResponses)]
#[response(status = 304, headers(
    ("ETag" = String, description = "Strong validator, one per content coding"),
    ("Cache-Control" = String, description = "public, max-age, stale-while-revalidate, stale-if-error")))]
pub struct NotModified;

/// Unknown campaign.
#[derive(IntoResponses)]
#[response(status = 404, content_type = "application/problem+json", example = json!(examples::unknown_campaign()))]
pub struct UnknownCampaign(Problem);

/// Too many requests in flight (--max-in-flight): retry after Retry-After seconds.
#[derive(IntoResponses)]
#[response(status = 503, content_type = "application/problem+json",
    headers(("Retry-After" = u32, description = "Seconds to wait")), example = json!(examples::overloaded()))]
pub struct Overloaded(Problem);

/// What reading a view can answer instead of its body.
#[derive(IntoResponses)]
pub enum ReadProblems {
    /// Bad parameters, or a window the campaign does not declare.
    #[response(status = 400, content_type = "application/problem+json", example = json!(examples::bad_parameter()))]
    BadRequest(Problem),
    /// Unknown campaign.
    #[response(status = 404, content_type = "application/problem+json", example = json!(examples::unknown_campaign()))]
    UnknownCampaign(Problem),
    /// The backend answered with an error (its code and a short message).
    #[response(status = 502, content_type = "application/problem+json", example = json!(examples::backend_error()))]
    Backend(Problem),
    /// Too busy (requests in flight, open streams or exports, backend queries, or ADX throttling): retry after Retry-After seconds.
    #[response(status = 503, content_type = "application/problem+json",
        headers(("Retry-After" = u32, description = "Seconds to wait")), example = json!(examples::busy()))]
    Busy(Problem),
    /// The backend did not answer within the request budget.
    #[response(status = 504, content_type = "application/problem+json", example = json!(examples::timeout()))]
    Timeout(Problem),
}

/// What `POST /events` can answer instead of storing the events.
#[derive(IntoResponses)]
pub enum IngestProblems {
    /// Nothing stored: the problem's `errors` lists each bad item.
    #[response(status = 400, content_type = "application/problem+json", example = json!(examples::invalid_events()))]
    Invalid(Problem),
    /// Missing or wrong ingest token (when the server has one).
    #[response(status = 401, content_type = "application/problem+json",
        headers(("WWW-Authenticate" = String, description = "Bearer")), example = json!(examples::unauthorized()))]
    Unauthorized(Problem),
    /// Sent by a browser from a web page of another origin that --cors-origins does not allow.
    #[response(status = 403, content_type = "application/problem+json", example = json!(examples::cross_origin()))]
    CrossOrigin(Problem),
    /// The server reads from ADX: events go through its ingestion pipeline.
    #[response(status = 404, content_type = "application/problem+json", example = json!(examples::no_ingest()))]
    NoIngest(Problem),
    /// The body did not arrive, whole, within --ingest-body-timeout (30 s unless set).
    #[response(status = 408, content_type = "application/problem+json", example = json!(examples::body_timeout()))]
    Timeout(Problem),
    /// Body over 16 MiB.
    #[response(status = 413, content_type = "application/problem+json", example = json!(examples::too_large()))]
    TooLarge(Problem),
    /// A compressed body (Content-Encoding): bodies are read as sent.
    #[response(status = 415, content_type = "application/problem+json", example = json!(examples::compressed()))]
    Compressed(Problem),
    /// No room for the body among the ingests in flight (--ingest-max-bytes), or too many requests in flight: retry after Retry-After seconds.
    #[response(status = 503, content_type = "application/problem+json",
        headers(("Retry-After" = u32, description = "Seconds to wait")), example = json!(examples::ingest_full()))]
    Busy(Problem),
}
