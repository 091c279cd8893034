//! `POST /events`: spin events into the embedded store, as a JSON array or NDJSON, all or
//! nothing per request.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::problem::{ApiError, Problem};
use crate::events::parse_batch;

/// Room for well over 10,000 events of the blog's format (about 100 bytes each).
pub const BODY_LIMIT: usize = 16 * 1024 * 1024;

#[derive(Serialize, ToSchema)]
pub struct Accepted {
    /// How many events were stored.
    pub accepted: usize,
}

/// An event as the game emits it.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation only: events are validated from raw JSON
#[schema(as = Event)]
#[serde(rename_all = "camelCase")]
pub struct EventDoc {
    player_id: i32,
    game_id: i32,
    /// 0 when the spin lost.
    win: i64,
    stake: i32,
    /// RFC 3339, or the generator's `YYYY-MM-DD HH:MM:SS.ffffff` (UTC).
    #[schema(example = "2026-11-24 10:15:30.123456")]
    event_time: String,
}

/// Store spin events (embedded backend only). Every event that fits the GamePlay types is
/// stored, including losing spins and zero stakes (they never count); one bad event refuses
/// the whole batch. An acknowledged batch is on disk.
#[utoipa::path(post, path = "/events", tag = "events",
    request_body(content = [EventDoc], description = "A JSON array of events, or NDJSON (one event per line)"),
    responses(
        (status = 200, description = "All events stored", body = Accepted),
        (status = 400, description = "Nothing stored: the problem's `errors` lists each bad item", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong ingest token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The server reads from ADX", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 16 MiB", body = Problem, content_type = "application/problem+json")))]
pub async fn ingest(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Accepted>, ApiError> {
    let ingest = state.ingest.as_ref().ok_or(ApiError::NoIngest)?;
    if let Some(token) = &ingest.token {
        let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        if given.and_then(|v| v.strip_prefix("Bearer ")) != Some(&**token) {
            return Err(ApiError::Unauthorized);
        }
    }
    let body = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(BODY_LIMIT),
        _ => ApiError::BadRequest(e.body_text()),
    })?;
    let spins = parse_batch(&body).map_err(ApiError::BadBatch)?;
    let accepted = spins.len();
    ingest.store.insert(spins).await?;
    Ok(Json(Accepted { accepted }))
}
