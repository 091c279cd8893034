//! Board handlers: thin adapters from validated request parts to the standings engine. Every
//! answer about a view (a page, a player, a friends' board) is read from that view's one
//! snapshot, so answers given at the same moment agree. Pages are encoded (and compressed) once
//! per snapshot for all their readers; a player's or friends' answer is tagged from what it
//! shows and encoded only for a client that does not hold it yet.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

use super::caching::Conditions;
use super::campaigns::{KnownCampaign, PlayerInPath};
use super::docs::{
    AroundQuery, CampaignPath, Conditional, FriendsQuery, NotModified, PageQuery, PlayerPath, ReadProblems,
    ViewQuery, WindowQuery,
};
use super::params::Params;
use super::problem::ApiError;
use super::{AppState, X_CACHE, X_CHECKED_AT};
use crate::campaigns::Campaign;
use crate::engine::{Answer, Board, FriendsBoard, PlayerStanding, Read, Shape, Source};
use crate::leaderboard::{self, Around, InvalidParam, Limit, Offset, PlayerIds, Span, View};

/// Top players
///
/// A page of the standings over the whole campaign, `[start, end)`, by global rank.
#[utoipa::path(get, path = "/campaigns/{id}/top", tag = "leaderboards",
    params(CampaignPath, PageQuery, Conditional),
    responses(
        (status = 200, description = "A page of the board", body = Board, headers(("ETag" = String, description = "Strong validator, one per content coding; unchanged while the board is"), ("Cache-Control" = String, description = "public, max-age, stale-while-revalidate, stale-if-error; an hour for final boards"), ("X-Checked-At" = String, description = "When the backend last confirmed these standings (RFC 3339)"))),
        NotModified, ReadProblems))]
pub async fn top(
    State(state): State<AppState>,
    campaign: KnownCampaign,
    query: Params,
    conditions: Conditions,
) -> Result<Response, ApiError> {
    let shape = page(&state, &query)?;
    let read = state.engine.read(&campaign.0, View::Top).await?;
    Ok(shaped(&state, &read, shape, conditions))
}

/// Top players of a recent window
///
/// A page of the standings over the campaign's last `last` (e.g. `15m`, `2h`, `7d`, `PT15M`):
/// `[max(start, anchor - last), anchor)` with `anchor = min(now, end)`.
#[utoipa::path(get, path = "/campaigns/{id}/window", tag = "leaderboards",
    params(CampaignPath, WindowQuery, PageQuery, Conditional),
    responses(
        (status = 200, description = "A page of the board", body = Board, headers(("ETag" = String, description = "Strong validator, one per content coding; unchanged while the board and its window are"), ("Cache-Control" = String, description = "public, max-age, stale-while-revalidate, stale-if-error; an hour for final boards"), ("X-Checked-At" = String, description = "When the backend last confirmed these standings (RFC 3339)"))),
        NotModified, ReadProblems))]
pub async fn window(
    State(state): State<AppState>,
    campaign: KnownCampaign,
    query: Params,
    conditions: Conditions,
) -> Result<Response, ApiError> {
    let view = declared(&campaign.0, Some(leaderboard::parse_last(query.get("last"))?))?;
    let shape = page(&state, &query)?;
    let read = state.engine.read(&campaign.0, view).await?;
    Ok(shaped(&state, &read, shape, conditions))
}

/// A player's standing
///
/// One player's standing (rank, score and the spin that set it) and their neighbours, over the
/// whole campaign or, with `last`, its last span. A player with no counted spin (or ranked past
/// `--max-standings`) is `null`: not ranked yet.
#[utoipa::path(get, path = "/campaigns/{id}/players/{playerId}", tag = "leaderboards",
    params(PlayerPath, ViewQuery, AroundQuery, Conditional),
    responses(
        (status = 200, description = "The player's standing", body = PlayerStanding, headers(("ETag" = String, description = "Strong validator"), ("Cache-Control" = String, description = "public, max-age, stale-while-revalidate, stale-if-error"), ("X-Checked-At" = String, description = "When the backend last confirmed these standings (RFC 3339)"))),
        NotModified, ReadProblems))]
pub async fn player(
    State(state): State<AppState>,
    campaign: KnownCampaign,
    player: PlayerInPath,
    query: Params,
    conditions: Conditions,
) -> Result<Response, ApiError> {
    let id = player.0;
    let view = view(&campaign.0, query.get("last"))?;
    let around = Around::parse(query.get("around"))?;
    let read = state.engine.read(&campaign.0, view).await?;
    // Encoded per request, not kept: lookups spread over every player rarely repeat within a
    // snapshot (a player's stream shares its encoding instead).
    Ok(fresh(&state, &read, read.snapshot().player(id, around), conditions))
}

/// Friends' board
///
/// The standings of up to --max-limit players, the ranked ones ordered by rank (global ranks),
/// the others listed as unranked.
#[utoipa::path(get, path = "/campaigns/{id}/players", tag = "leaderboards",
    params(CampaignPath, FriendsQuery, ViewQuery, Conditional),
    responses(
        (status = 200, description = "The players' standings", body = FriendsBoard, headers(("ETag" = String, description = "Strong validator"), ("Cache-Control" = String, description = "public, max-age, stale-while-revalidate, stale-if-error"), ("X-Checked-At" = String, description = "When the backend last confirmed these standings (RFC 3339)"))),
        NotModified, ReadProblems))]
pub async fn friends(
    State(state): State<AppState>,
    campaign: KnownCampaign,
    query: Params,
    conditions: Conditions,
) -> Result<Response, ApiError> {
    let ids = PlayerIds::parse(query.get("ids"), state.engine.settings().max_limit)?;
    let view = view(&campaign.0, query.get("last"))?;
    let read = state.engine.read(&campaign.0, view).await?;
    // Encoded per request: friends' lists rarely repeat.
    Ok(fresh(&state, &read, read.snapshot().friends(&ids), conditions))
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
    let view = span.map_or(View::Top, View::Window);
    if campaign.declares(view) {
        return Ok(view);
    }
    let listed: Vec<String> = campaign.windows.iter().flatten().map(Span::to_string).collect();
    Err(InvalidParam::Span(format!("must be one of {} for this campaign", listed.join(", "))).into())
}

const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// The answer `shape` of a read view, encoded once per snapshot.
fn shaped(state: &AppState, read: &Read, shape: Shape, conditions: Conditions) -> Response {
    let encoded = state.engine.body(read, shape);
    let response = conditions.send(&encoded.representation, JSON, cache_control(state, read));
    with_source(response, read)
}

/// An answer encoded for this request, unless the client holds it.
fn fresh(state: &AppState, read: &Read, answer: Answer<'_>, conditions: Conditions) -> Response {
    let response = conditions.send_tagged(answer.etag(), JSON, cache_control(state, read), || answer.json());
    with_source(response, read)
}

/// Final boards are cached as long as late spins may take to be seen (`--reconcile-every`).
fn cache_control<'a>(state: &'a AppState, read: &Read) -> &'a HeaderValue {
    match final_answer(read) {
        true => state.caching.final_standings(),
        false => state.caching.changing(),
    }
}

fn final_answer(read: &Read) -> bool {
    read.snapshot().is_final && read.source != Source::Stale
}

/// What a 200 (or the 304 that stands for it: a cache freshens what it holds from it) says about
/// its source: `x-cache`, when the standings were last checked (`X-Checked-At`, and `Age` in
/// seconds, except for final boards: it would grow past their `max-age` while the standings
/// stand confirmed), and staleness.
fn with_source(mut response: Response, read: &Read) -> Response {
    if !response.status().is_success() && response.status() != StatusCode::NOT_MODIFIED {
        return response;
    }
    let checked = HeaderValue::from_maybe_shared(read.checked_text().clone()).expect("RFC 3339 is ASCII");
    let headers = response.headers_mut();
    headers.insert(X_CACHE, HeaderValue::from_static(read.source.as_str()));
    headers.insert(X_CHECKED_AT, checked);
    if read.source == Source::Stale {
        // RFC 9111 made Warning obsolete, but it is still how many clients learn of staleness.
        headers.insert(header::WARNING, HeaderValue::from_static("110 - \"Response is Stale\""));
    }
    if !final_answer(read) {
        headers.insert(header::AGE, age(read.age));
    }
    response
}

/// `Age` in seconds: the few a changing board reaches (its refresh period) without a
/// formatting and an allocation per answer.
fn age(seconds: u64) -> HeaderValue {
    #[rustfmt::skip]
    static SMALL: [HeaderValue; 10] = [
        HeaderValue::from_static("0"), HeaderValue::from_static("1"), HeaderValue::from_static("2"), HeaderValue::from_static("3"), HeaderValue::from_static("4"),
        HeaderValue::from_static("5"), HeaderValue::from_static("6"), HeaderValue::from_static("7"), HeaderValue::from_static("8"), HeaderValue::from_static("9"),
    ];
    usize::try_from(seconds)
        .ok()
        .and_then(|s| SMALL.get(s))
        .cloned()
        .unwrap_or_else(|| HeaderValue::from(seconds))
}

impl From<crate::engine::Error> for ApiError {
    fn from(e: crate::engine::Error) -> Self {
        Self::Engine(e)
    }
}
