//! Campaign and leaderboard handlers: thin adapters from validated request parts to the
//! catalogue and the leaderboard service.

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;

use super::AppState;
use super::caching::Representation;
use super::params::Params;
use super::problem::{ApiError, Problem};
use crate::cache::Source;
use crate::campaigns::Campaign;
use crate::leaderboard::{self, Limit, View, parse_last};
use crate::service::{CampaignSummary, Leaderboard};

#[derive(Serialize, ToSchema)]
pub struct CampaignList {
    pub campaigns: Vec<CampaignSummary>,
}

/// List every campaign with its current status.
#[utoipa::path(get, path = "/campaigns", tag = "campaigns",
    params(("If-None-Match" = Option<String>, Header, description = "Tags the client holds, or *: a current one gets 304")),
    responses(
        (status = 200, description = "All campaigns", body = CampaignList, headers(("ETag" = String, description = "Strong validator, one per content coding"), ("Cache-Control" = String, description = "public, max-age, stale-while-revalidate, stale-if-error"))),
        (status = 304, description = "The representation the client holds is current", headers(("ETag" = String, description = "Strong validator, one per content coding"), ("Cache-Control" = String, description = "public, max-age, stale-while-revalidate, stale-if-error"))),
        (status = 503, description = "Too many requests in flight: retry after Retry-After seconds", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u32, description = "Seconds to wait")))))]
pub async fn list_campaigns(State(state): State<AppState>) -> Representation {
    let now = leaderboard::now();
    let campaigns = state.catalogue.load().iter().map(|c| CampaignSummary::at(c, now)).collect();
    tagged(&CampaignList { campaigns })
}

/// One campaign with its current status.
#[utoipa::path(get, path = "/campaigns/{id}", tag = "campaigns",
    params(("id" = String, Path, description = "Campaign id"), ("If-None-Match" = Option<String>, Header, description = "Tags the client holds, or *: a current one gets 304")),
    responses(
        (status = 200, description = "The campaign", body = CampaignSummary, headers(("ETag" = String, description = "Strong validator, one per content coding"), ("Cache-Control" = String, description = "public, max-age, stale-while-revalidate, stale-if-error"))),
        (status = 304, description = "The representation the client holds is current", headers(("ETag" = String, description = "Strong validator, one per content coding"), ("Cache-Control" = String, description = "public, max-age, stale-while-revalidate, stale-if-error"))),
        (status = 404, description = "Unknown campaign", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too many requests in flight: retry after Retry-After seconds", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u32, description = "Seconds to wait")))))]
pub async fn get_campaign(campaign: KnownCampaign) -> Representation {
    tagged(&CampaignSummary::at(&campaign.0, leaderboard::now()))
}

/// A body built per request (a campaign's status follows the clock), so tagged per request.
fn tagged(value: &impl Serialize) -> Representation {
    Representation::json(serde_json::to_vec(value).expect("campaigns always serialize").into())
}

/// Top players over the whole campaign.
#[utoipa::path(get, path = "/campaigns/{id}/top", tag = "leaderboards",
    params(
        ("id" = String, Path, description = "Campaign id"),
        ("limit" = Option<u32>, Query, description = "Entries to return, 1 to --max-limit (default 10)"),
        ("If-None-Match" = Option<String>, Header, description = "Tags the client holds, or *: a current one gets 304")),
    responses(
        (status = 200, description = "The leaderboard", body = Leaderboard, headers(("ETag" = String, description = "Strong validator, one per content coding"), ("Cache-Control" = String, description = "public, max-age, stale-while-revalidate, stale-if-error"))),
        (status = 304, description = "The representation the client holds is current", headers(("ETag" = String, description = "Strong validator, one per content coding"), ("Cache-Control" = String, description = "public, max-age, stale-while-revalidate, stale-if-error"))),
        (status = 400, description = "Bad limit", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown campaign", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The backend answered with an error", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too many requests in flight: retry after Retry-After seconds", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u32, description = "Seconds to wait"))),
        (status = 504, description = "The backend did not answer in time", body = Problem, content_type = "application/problem+json")))]
pub async fn top(
    State(state): State<AppState>,
    campaign: KnownCampaign,
    query: Params,
) -> Result<Response, ApiError> {
    let limit = Limit::parse(query.get("limit"), state.service.max_limit())?;
    serve(&state, &campaign.0, View::Top, limit).await
}

/// Top players over the campaign's last `last` (e.g. `15m`, `2h`, `7d`, `PT15M`).
#[utoipa::path(get, path = "/campaigns/{id}/window", tag = "leaderboards",
    params(
        ("id" = String, Path, description = "Campaign id"),
        ("last" = String, Query, description = "Window length: KQL-style 30s, 15m, 2h, 7d or ISO-8601 PT15M; > 0 and <= 366d"),
        ("limit" = Option<u32>, Query, description = "Entries to return, 1 to --max-limit (default 10)"),
        ("If-None-Match" = Option<String>, Header, description = "Tags the client holds, or *: a current one gets 304")),
    responses(
        (status = 200, description = "The leaderboard", body = Leaderboard, headers(("ETag" = String, description = "Strong validator, one per content coding"), ("Cache-Control" = String, description = "public, max-age, stale-while-revalidate, stale-if-error"))),
        (status = 304, description = "The representation the client holds is current", headers(("ETag" = String, description = "Strong validator, one per content coding"), ("Cache-Control" = String, description = "public, max-age, stale-while-revalidate, stale-if-error"))),
        (status = 400, description = "Bad limit or last", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown campaign", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The backend answered with an error", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too many requests in flight: retry after Retry-After seconds", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u32, description = "Seconds to wait"))),
        (status = 504, description = "The backend did not answer in time", body = Problem, content_type = "application/problem+json")))]
pub async fn window(
    State(state): State<AppState>,
    campaign: KnownCampaign,
    query: Params,
) -> Result<Response, ApiError> {
    let span = parse_last(query.get("last"))?;
    let limit = Limit::parse(query.get("limit"), state.service.max_limit())?;
    serve(&state, &campaign.0, View::Window(span), limit).await
}

async fn serve(
    state: &AppState,
    campaign: &Arc<Campaign>,
    view: View,
    limit: Limit,
) -> Result<Response, ApiError> {
    let (board, source) = state.service.board(campaign, view).await.map_err(|e| ApiError::from(&*e))?;
    let age = (leaderboard::now() - board.generated_at()).num_seconds().max(0);
    let mut response = board.body(limit).into_response();
    let headers = response.headers_mut();
    headers.insert("x-cache", HeaderValue::from_static(source.as_str()));
    headers.insert(header::AGE, HeaderValue::from(age));
    if source == Source::Stale {
        // RFC 9111 made Warning obsolete, but it is still how many clients learn of staleness.
        headers.insert(header::WARNING, HeaderValue::from_static("110 - \"Response is Stale\""));
    }
    Ok(response)
}

/// A campaign named by the `{id}` path segment that exists in the current catalogue.
pub struct KnownCampaign(pub Arc<Campaign>);

impl FromRequestParts<AppState> for KnownCampaign {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::BadRequest(e.body_text()))?;
        // Only valid ids are in the catalogue, so a lookup by text validates too.
        let found = state.catalogue.load().iter().find(|c| c.id.as_str() == id).cloned();
        found.map(KnownCampaign).ok_or_else(|| ApiError::UnknownCampaign(id.chars().take(80).collect()))
    }
}
