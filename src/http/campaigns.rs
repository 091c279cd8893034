//! Campaign handlers, and the extractors of the path segments that campaign routes share: the
//! campaign, and a player.

use axum::extract::{FromRequestParts, RawPathParams, State};
use axum::http::HeaderValue;
use axum::http::request::Parts;
use axum::response::Response;
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;

use super::AppState;
use super::caching::Conditions;
use super::docs::{CampaignPath, Conditional, NotModified, Overloaded, UnknownCampaign};
use super::problem::ApiError;
use crate::campaigns::{Campaign, CampaignSummary};
use crate::leaderboard::{self, PlayerId};
use crate::representation::Representation;

#[derive(Serialize, ToSchema)]
pub struct CampaignList {
    pub campaigns: Vec<CampaignSummary>,
}

/// List campaigns
///
/// Every campaign of the catalogue with its status now: `upcoming`, `live` or `ended`.
#[utoipa::path(get, path = "/campaigns", tag = "campaigns",
    params(Conditional),
    responses(
        (status = 200, description = "All campaigns", body = CampaignList, headers(("ETag" = String, description = "Strong validator, one per content coding"), ("Cache-Control" = String, description = "public, max-age, stale-while-revalidate, stale-if-error"))),
        NotModified, Overloaded))]
pub async fn list_campaigns(State(state): State<AppState>, conditions: Conditions) -> Response {
    let now = leaderboard::now();
    let campaigns = state.catalogue.load().iter().map(|c| CampaignSummary::at(c, now)).collect();
    tagged(&state, conditions, &CampaignList { campaigns })
}

/// Get a campaign
///
/// One campaign of the catalogue with its status now: `upcoming`, `live` or `ended`.
#[utoipa::path(get, path = "/campaigns/{id}", tag = "campaigns",
    params(CampaignPath, Conditional),
    responses(
        (status = 200, description = "The campaign", body = CampaignSummary, headers(("ETag" = String, description = "Strong validator, one per content coding"), ("Cache-Control" = String, description = "public, max-age, stale-while-revalidate, stale-if-error"))),
        NotModified, UnknownCampaign, Overloaded))]
pub async fn get_campaign(
    State(state): State<AppState>,
    campaign: KnownCampaign,
    conditions: Conditions,
) -> Response {
    tagged(&state, conditions, &CampaignSummary::at(&campaign.0, leaderboard::now()))
}

/// A body built per request (a campaign's status follows the clock), so tagged per request.
fn tagged(state: &AppState, conditions: Conditions, value: &impl Serialize) -> Response {
    let json = HeaderValue::from_static("application/json");
    conditions.send(&Representation::of(value), json, state.caching.changing())
}

/// A campaign named by the `{id}` path segment that exists in the current catalogue.
pub struct KnownCampaign(pub Arc<Campaign>);

impl FromRequestParts<AppState> for KnownCampaign {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::BadRequest(e.body_text()))?;
        let id = params.iter().find(|(name, _)| *name == "id").map_or("", |(_, value)| value);
        // Only valid ids are in the catalogue, so a lookup by text validates too.
        let found = state.catalogue.load().get(id).cloned();
        found.map(KnownCampaign).ok_or_else(|| ApiError::UnknownCampaign(id.chars().take(80).collect()))
    }
}

/// The `{playerId}` path segment, validated as an Int32.
pub struct PlayerInPath(pub PlayerId);

impl<S: Send + Sync> FromRequestParts<S> for PlayerInPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::BadRequest(e.body_text()))?;
        let text = params.iter().find(|(name, _)| *name == "playerId").map_or("", |(_, value)| value);
        Ok(Self(PlayerId::parse(text)?))
    }
}
