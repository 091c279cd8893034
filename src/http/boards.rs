//! Board handlers: thin adapters from validated request parts to the standings engine. Every
//! answer about a view (a page, a player, a friends' board) is read from that view's one
//! snapshot, so answers given at the same moment agree.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::campaigns::KnownCampaign;
use super::params::Params;
use super::problem::{ApiError, Problem};
use crate::campaigns::Campaign;
use crate::engine::{Board, FriendsBoard, PlayerStanding, Read, Shape, Source};
use crate::leaderboard::{self, Around, InvalidParam, Limit, Offset, PlayerId, PlayerIds, Span, View};
use crate::representation::Representation;

/// Top players over the whole campaign, a page at a time.
#[utoipa::path(get, path = "/campaigns/{id}/top", tag = "leaderboards",
    params(
        ("id" = String, Path, description = "Campaign id", pattern = r"^[a-z0-9][a-z0-9-]{0,63}$"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Entries to return, 1 to --max-limit (default 100; 10 when absent)"),
        ("offset" = Option<u32>, Query, minimum = 0, maximum = 1000000, description = "0-based rank of the first entry, up to --max-standings (default 1,000,000); past the end: no entries"),
        ("If-None-Match" = Option<String>, Header, description = "Tags the client holds, or *: a current one gets 304")),
    responses(
        (status = 200, description = "A page of the board", body = Board, headers(("ETag" = String, description = "Strong validator, one per content coding; unchanged while the board is"), ("Cache-Control" = String, description = "public, max-age, stale-while-revalidate, stale-if-error; an hour for final boards"), ("X-Checked-At" = String, description = "When the backend last confirmed these standings (RFC 3339)"))),
        (status = 304, description = "The representation the client holds is current"),
        (status = 400, description = "Bad limit or offset", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown campaign", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The backend answered with an error", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too busy: retry after Retry-After seconds", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u32, description = "Seconds to wait"))),
        (status = 504, description = "The backend did not answer in time", body = Problem, content_type = "application/problem+json")))]
pub async fn top(
    State(state): State<AppState>,
    campaign: KnownCampaign,
    query: Params,
) -> Result<Response, ApiError> {
    let shape = page(&state, &query)?;
    let read = state.engine.read(&campaign.0, View::Top).await?;
    Ok(answer(&read, state.engine.body(&read, shape).representation.clone()))
}

/// Top players over the campaign's last `last` (e.g. `15m`, `2h`, `7d`, `PT15M`), a page at a time.
#[utoipa::path(get, path = "/campaigns/{id}/window", tag = "leaderboards",
    params(
        ("id" = String, Path, description = "Campaign id", pattern = r"^[a-z0-9][a-z0-9-]{0,63}$"),
        ("last" = String, Query, pattern = r"^([1-9][0-9]{0,9}ms|[1-9][0-9]{0,6}s|[1-9][0-9]{0,4}m|[1-9][0-9]{0,2}h|([1-9]|[1-9][0-9]|[12][0-9]{2}|3[0-5][0-9]|36[0-6])d)$", description = "Window length, more than 0 and at most 366 days: KQL-style 500ms, 30s, 15m, 2h, 7d (decimals such as 1.5h and ISO-8601 such as PT15M are accepted too). A campaign that declares its windows accepts only those."),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Entries to return, 1 to --max-limit (default 100; 10 when absent)"),
        ("offset" = Option<u32>, Query, minimum = 0, maximum = 1000000, description = "0-based rank of the first entry, up to --max-standings (default 1,000,000); past the end: no entries"),
        ("If-None-Match" = Option<String>, Header, description = "Tags the client holds, or *: a current one gets 304")),
    responses(
        (status = 200, description = "A page of the board", body = Board, headers(("ETag" = String, description = "Strong validator, one per content coding; unchanged while the board and its window are"), ("Cache-Control" = String, description = "public, max-age, stale-while-revalidate, stale-if-error; an hour for final boards"), ("X-Checked-At" = String, description = "When the backend last confirmed these standings (RFC 3339)"))),
        (status = 304, description = "The representation the client holds is current"),
        (status = 400, description = "Bad limit, offset or last (or a window the campaign does not declare)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown campaign", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The backend answered with an error", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too busy: retry after Retry-After seconds", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u32, description = "Seconds to wait"))),
        (status = 504, description = "The backend did not answer in time", body = Problem, content_type = "application/problem+json")))]
pub async fn window(
    State(state): State<AppState>,
    campaign: KnownCampaign,
    query: Params,
) -> Result<Response, ApiError> {
    let view = declared(&campaign.0, Some(leaderboard::parse_last(query.get("last"))?))?;
    let shape = page(&state, &query)?;
    let read = state.engine.read(&campaign.0, view).await?;
    Ok(answer(&read, state.engine.body(&read, shape).representation.clone()))
}

/// One player's standing (rank, score and the spin that set it) and their neighbours, over the
/// whole campaign or, with `last`, its last span. A player with no counted spin (or ranked past
/// `--max-standings`) is `null`: not ranked yet.
#[utoipa::path(get, path = "/campaigns/{id}/players/{playerId}", tag = "leaderboards",
    params(
        ("id" = String, Path, description = "Campaign id", pattern = r"^[a-z0-9][a-z0-9-]{0,63}$"),
        ("playerId" = i32, Path, minimum = -2147483648, maximum = 2147483647, description = "Player id (Int32)"),
        ("last" = Option<String>, Query, pattern = r"^([1-9][0-9]{0,9}ms|[1-9][0-9]{0,6}s|[1-9][0-9]{0,4}m|[1-9][0-9]{0,2}h|([1-9]|[1-9][0-9]|[12][0-9]{2}|3[0-5][0-9]|36[0-6])d)$", description = "The window's length, as on /window; absent: the whole campaign"),
        ("around" = Option<u8>, Query, minimum = 0, maximum = 50, description = "Neighbours on each side of the player (default 0)"),
        ("If-None-Match" = Option<String>, Header, description = "Tags the client holds, or *: a current one gets 304")),
    responses(
        (status = 200, description = "The player's standing", body = PlayerStanding, headers(("ETag" = String, description = "Strong validator"), ("Cache-Control" = String, description = "public, max-age, stale-while-revalidate, stale-if-error"), ("X-Checked-At" = String, description = "When the backend last confirmed these standings (RFC 3339)"))),
        (status = 304, description = "The representation the client holds is current"),
        (status = 400, description = "Bad playerId, last or around", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown campaign", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The backend answered with an error", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too busy: retry after Retry-After seconds", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u32, description = "Seconds to wait"))),
        (status = 504, description = "The backend did not answer in time", body = Problem, content_type = "application/problem+json")))]
pub async fn player(
    State(state): State<AppState>,
    campaign: KnownCampaign,
    Path(path): Path<(String, String)>,
    query: Params,
) -> Result<Response, ApiError> {
    let id = PlayerId::parse(&path.1)?;
    let view = view(&campaign.0, query.get("last"))?;
    let around = Around::parse(query.get("around"))?;
    let read = state.engine.read(&campaign.0, view).await?;
    Ok(answer(&read, state.engine.body(&read, Shape::Player { id, around }).representation.clone()))
}

/// A friends' board: the standings of up to --max-limit players, the ranked ones ordered by
/// rank (global ranks), the others listed as unranked.
#[utoipa::path(get, path = "/campaigns/{id}/players", tag = "leaderboards",
    params(
        ("id" = String, Path, description = "Campaign id", pattern = r"^[a-z0-9][a-z0-9-]{0,63}$"),
        ("ids" = Vec<i32>, Query, style = Form, explode = false, min_items = 1, max_items = 100, description = "Player ids (Int32), comma-separated, at most --max-limit (default 100)"),
        ("last" = Option<String>, Query, pattern = r"^([1-9][0-9]{0,9}ms|[1-9][0-9]{0,6}s|[1-9][0-9]{0,4}m|[1-9][0-9]{0,2}h|([1-9]|[1-9][0-9]|[12][0-9]{2}|3[0-5][0-9]|36[0-6])d)$", description = "The window's length, as on /window; absent: the whole campaign"),
        ("If-None-Match" = Option<String>, Header, description = "Tags the client holds, or *: a current one gets 304")),
    responses(
        (status = 200, description = "The players' standings", body = FriendsBoard, headers(("ETag" = String, description = "Strong validator"), ("Cache-Control" = String, description = "public, max-age, stale-while-revalidate, stale-if-error"), ("X-Checked-At" = String, description = "When the backend last confirmed these standings (RFC 3339)"))),
        (status = 304, description = "The representation the client holds is current"),
        (status = 400, description = "Bad ids or last", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown campaign", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The backend answered with an error", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too busy: retry after Retry-After seconds", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u32, description = "Seconds to wait"))),
        (status = 504, description = "The backend did not answer in time", body = Problem, content_type = "application/problem+json")))]
pub async fn friends(
    State(state): State<AppState>,
    campaign: KnownCampaign,
    query: Params,
) -> Result<Response, ApiError> {
    let ids = PlayerIds::parse(query.get("ids"), state.engine.settings().max_limit)?;
    let view = view(&campaign.0, query.get("last"))?;
    let read = state.engine.read(&campaign.0, view).await?;
    Ok(answer(&read, state.engine.friends(&read, &ids)))
}

pub(super) fn page(state: &AppState, query: &Params) -> Result<Shape, ApiError> {
    let settings = state.engine.settings();
    let limit = Limit::parse(query.get("limit"), settings.max_limit)?;
    let offset = Offset::parse(query.get("offset"), settings.max_standings)?;
    Ok(Shape::Page { offset, limit })
}

/// The whole campaign without `last`, else its window of that span.
pub(super) fn view(campaign: &Campaign, last: Option<&str>) -> Result<View, ApiError> {
    declared(campaign, last.map(Span::parse).transpose()?)
}

/// A window view must be one the campaign declares, when it declares any.
pub(super) fn declared(campaign: &Campaign, span: Option<Span>) -> Result<View, ApiError> {
    let Some(span) = span else { return Ok(View::Top) };
    match &campaign.windows {
        Some(windows) if !windows.contains(&span) => {
            let listed: Vec<String> = windows.iter().map(Span::to_string).collect();
            Err(InvalidParam::Span(format!("must be one of {} for this campaign", listed.join(", "))).into())
        }
        _ => Ok(View::Window(span)),
    }
}

/// The caching policy for final results: they never change again.
const FINAL: HeaderValue = HeaderValue::from_static("public, max-age=3600, stale-if-error=86400");

/// An answer with what it says about its source: `x-cache`, when the standings were last
/// checked (`X-Checked-At`, and `Age` in seconds), staleness, and the policy of final boards.
fn answer(read: &Read, body: Representation) -> Response {
    let age = (leaderboard::now() - read.checked_at).num_seconds().max(0);
    let checked = read.checked_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert("x-cache", HeaderValue::from_static(read.source.as_str()));
    headers.insert(header::AGE, HeaderValue::from(age));
    headers.insert("x-checked-at", HeaderValue::try_from(checked).expect("RFC 3339 is ASCII"));
    if read.source == Source::Stale {
        // RFC 9111 made Warning obsolete, but it is still how many clients learn of staleness.
        headers.insert(header::WARNING, HeaderValue::from_static("110 - \"Response is Stale\""));
    } else if read.snapshot.is_final {
        headers.insert(header::CACHE_CONTROL, FINAL);
    }
    response
}

impl From<crate::engine::Error> for ApiError {
    fn from(e: crate::engine::Error) -> Self {
        Self::Engine(e)
    }
}
