//! `POST /events`: spin events into the embedded store, as a JSON array or NDJSON, all or
//! nothing per request. A request is admitted before its body is read: where it comes from
//! first (a web page of another origin is refused), then the token (compared in constant time),
//! then room for its bytes among the ingests in flight
//! (`--ingest-max-bytes`); the body must then arrive whole within `--ingest-body-timeout`, and is
//! parsed off the async workers.

use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use http_body_util::LengthLimitError;
use serde::Serialize;
use subtle::ConstantTimeEq;
use tokio::sync::OwnedSemaphorePermit;
use utoipa::ToSchema;

use super::docs::IngestProblems;
use super::problem::ApiError;
use super::{AppState, Ingest};
use crate::events::{BatchError, Spin, parse_batch};
use crate::metrics::Held;

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
    /// RFC 3339 (with `Z` or an offset), or the generator's `YYYY-MM-DD HH:MM:SS.ffffff` (UTC).
    #[schema(format = DateTime, example = "2026-11-24T10:15:30.123456Z")]
    event_time: String,
}

/// Store spin events
///
/// Embedded backend only. Every event that fits the GamePlay types is stored, including losing
/// spins and zero stakes (they never count); one bad event refuses the whole batch. An
/// acknowledged batch is on disk. The bearer token is needed only when the server has one
/// (`--ingest-token`); the demo has none.
#[utoipa::path(post, path = "/events", tag = "events",
    request_body(content = [EventDoc], description = "A JSON array of events, or NDJSON (one event per line)",
        example = json!([{"playerId": 42, "gameId": 1, "win": 500, "stake": 2, "eventTime": "2026-11-24T10:15:30.123456Z"}])),
    security(("ingestToken" = []), ()),
    responses((status = 200, description = "All events stored", body = Accepted), IngestProblems))]
pub async fn ingest(admitted: Admitted, body: Body) -> Result<Json<Accepted>, ApiError> {
    // A client that stops sending gives back its room in --ingest-max-bytes and its slot in
    // --max-in-flight within the body timeout.
    let body = received(body, admitted.ingest.body_timeout).await?;
    // The batch's room in --ingest-max-bytes is held until it is stored or refused, by a task
    // of its own: a client that goes away does not stop the store (its batch is queued), so it
    // must not give the room back before then either.
    let stored = tokio::spawn(async move {
        let spins = parse(body).await.map_err(ApiError::BadBatch)?;
        let accepted = spins.len();
        if accepted > 0 {
            admitted.ingest.sink.store(spins).await?;
        }
        drop(admitted);
        Ok::<_, ApiError>(accepted)
    });
    let accepted = match stored.await {
        Ok(accepted) => accepted?,
        // A panic is this request's: the panic net answers it.
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(_) => return Err(ApiError::Overloaded),
        },
    };
    Ok(Json(Accepted { accepted }))
}

/// The whole body, within `timeout` and [`BODY_LIMIT`].
async fn received(body: Body, timeout: Duration) -> Result<Bytes, ApiError> {
    let read = tokio::time::timeout(timeout, axum::body::to_bytes(body, BODY_LIMIT));
    match read.await {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(e)) if std::error::Error::source(&e).is_some_and(|e| e.is::<LengthLimitError>()) => {
            Err(ApiError::PayloadTooLarge(BODY_LIMIT))
        }
        Ok(Err(e)) => Err(ApiError::BadRequest(format!("the body could not be read: {e}"))),
        Err(_) => Err(ApiError::BodyTimeout(timeout)),
    }
}

/// Parses off the async workers: a full batch is a good many milliseconds of CPU, which
/// would stall every request sharing the worker.
async fn parse(body: Bytes) -> Result<Vec<Spin>, BatchError> {
    match tokio::task::spawn_blocking(move || parse_batch(&body)).await {
        Ok(parsed) => parsed,
        // The parser's panic is this request's: the panic net answers it.
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// A POST /events that may send its body: events are taken here, the token (if any) is right,
/// and room for the body's bytes is set aside until the request is answered.
pub struct Admitted {
    ingest: Ingest,
    _room: (OwnedSemaphorePermit, Held),
}

impl FromRequestParts<AppState> for Admitted {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ingest = state.ingest.clone().ok_or(ApiError::NoIngest)?;
        super::cross_origin::check(&parts.headers, ingest.origins.as_ref())?;
        if let Some(token) = &ingest.token
            && !bearer_matches(&parts.headers, token)
        {
            return Err(ApiError::Unauthorized);
        }
        if let Some(coding) = parts.headers.get(header::CONTENT_ENCODING)
            && !coding.as_bytes().eq_ignore_ascii_case(b"identity")
        {
            let coding = String::from_utf8_lossy(coding.as_bytes()).chars().take(64).collect();
            return Err(ApiError::Compressed(coding));
        }
        let declared = content_length(&parts.headers);
        if declared.is_some_and(|n| n > BODY_LIMIT) {
            return Err(ApiError::PayloadTooLarge(BODY_LIMIT));
        }
        // A body of unknown length may grow to the limit, so that much is set aside.
        let bytes = u32::try_from(declared.unwrap_or(BODY_LIMIT)).expect("at most BODY_LIMIT");
        let room = ingest.bytes.clone().try_acquire_many_owned(bytes).map_err(|_| ApiError::IngestFull)?;
        let counted = Held::new(&state.engine.metrics().ingest_bytes, i64::from(bytes));
        Ok(Self { ingest, _room: (room, counted) })
    }
}

/// Whether `Authorization` is `Bearer <token>` (the scheme in any case, as RFC 9110 has it).
/// The comparison takes the same time wherever the first wrong byte is (only a wrong length
/// answers sooner), so timing reveals no prefix.
fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    let given = headers.get(header::AUTHORIZATION).and_then(|v| {
        let (scheme, given) = v.as_bytes().split_at_checked(7)?;
        scheme.eq_ignore_ascii_case(b"bearer ").then_some(given)
    });
    given.is_some_and(|given| given.ct_eq(token.as_bytes()).into())
}

fn content_length(headers: &HeaderMap) -> Option<usize> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}
