//! Live boards as server-sent events: the same answers as the GET twins, the current one first
//! and then one event each time it changes (never for a refresh that changed nothing). Streams
//! ride on the engine's views, so ten thousand subscribers of one view cost the backend what
//! one reader costs, and each changed answer is framed once and shared by every subscriber.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::{OwnedSemaphorePermit, mpsc, watch};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

use super::AppState;
use super::boards::{declared, page, view};
use super::campaigns::KnownCampaign;
use super::params::Params;
use super::problem::{ApiError, Problem};
use crate::engine::{Engine, Shape, Subscription};
use crate::leaderboard::{Around, PlayerId, View, parse_last};

/// How long a browser waits before reconnecting a dropped stream.
const RETRY: &[u8] = b"retry: 2000\n\n";
const HEARTBEAT: &[u8] = b": heartbeat\n\n";

/// The whole-campaign board, live.
#[utoipa::path(get, path = "/campaigns/{id}/top/stream", tag = "streams",
    params(
        ("id" = String, Path, description = "Campaign id", pattern = r"^[a-z0-9][a-z0-9-]{0,63}$"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Entries per event, 1 to --max-limit (default 10)"),
        ("offset" = Option<u32>, Query, minimum = 0, maximum = 1000000, description = "0-based rank of the first entry"),
        ("Last-Event-ID" = Option<String>, Header, description = "The id of the last event received: no duplicate first event when it is still current")),
    responses(
        (status = 200, description = "`event: board` with `id:` the answer's ETag and `data:` the JSON of GET /campaigns/{id}/top, first the current one, then one per change; `event: error` with a problem document when a refresh fails; comment heartbeats", body = String, content_type = "text/event-stream"),
        (status = 400, description = "Bad limit or offset", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown campaign", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too many streams or too busy: retry after Retry-After seconds", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u32, description = "Seconds to wait")))))]
pub async fn top_stream(
    State(state): State<AppState>,
    campaign: KnownCampaign,
    query: Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let shape = page(&state, &query)?;
    open(&state, campaign, View::Top, shape, "board", &headers).await
}

/// A window's board, live.
#[utoipa::path(get, path = "/campaigns/{id}/window/stream", tag = "streams",
    params(
        ("id" = String, Path, description = "Campaign id", pattern = r"^[a-z0-9][a-z0-9-]{0,63}$"),
        ("last" = String, Query, pattern = r"^([1-9][0-9]{0,9}ms|[1-9][0-9]{0,6}s|[1-9][0-9]{0,4}m|[1-9][0-9]{0,2}h|([1-9]|[1-9][0-9]|[12][0-9]{2}|3[0-5][0-9]|36[0-6])d)$", description = "Window length, as on /window"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Entries per event, 1 to --max-limit (default 10)"),
        ("offset" = Option<u32>, Query, minimum = 0, maximum = 1000000, description = "0-based rank of the first entry"),
        ("Last-Event-ID" = Option<String>, Header, description = "The id of the last event received: no duplicate first event when it is still current")),
    responses(
        (status = 200, description = "`event: board` events as on /top/stream, with the JSON of GET /campaigns/{id}/window", body = String, content_type = "text/event-stream"),
        (status = 400, description = "Bad limit, offset or last", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown campaign", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too many streams or too busy: retry after Retry-After seconds", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u32, description = "Seconds to wait")))))]
pub async fn window_stream(
    State(state): State<AppState>,
    campaign: KnownCampaign,
    query: Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let view = declared(&campaign.0, Some(parse_last(query.get("last"))?))?;
    let shape = page(&state, &query)?;
    open(&state, campaign, view, shape, "board", &headers).await
}

/// One player's standing, live.
#[utoipa::path(get, path = "/campaigns/{id}/players/{playerId}/stream", tag = "streams",
    params(
        ("id" = String, Path, description = "Campaign id", pattern = r"^[a-z0-9][a-z0-9-]{0,63}$"),
        ("playerId" = i32, Path, minimum = -2147483648, maximum = 2147483647, description = "Player id (Int32)"),
        ("last" = Option<String>, Query, pattern = r"^([1-9][0-9]{0,9}ms|[1-9][0-9]{0,6}s|[1-9][0-9]{0,4}m|[1-9][0-9]{0,2}h|([1-9]|[1-9][0-9]|[12][0-9]{2}|3[0-5][0-9]|36[0-6])d)$", description = "The window's length; absent: the whole campaign"),
        ("around" = Option<u8>, Query, minimum = 0, maximum = 50, description = "Neighbours on each side (default 0)"),
        ("Last-Event-ID" = Option<String>, Header, description = "The id of the last event received: no duplicate first event when it is still current")),
    responses(
        (status = 200, description = "`event: player` with `id:` the answer's ETag and `data:` the JSON of GET /campaigns/{id}/players/{playerId}, first the current one, then one per change; `event: error` when a refresh fails", body = String, content_type = "text/event-stream"),
        (status = 400, description = "Bad playerId, last or around", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown campaign", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too many streams or too busy: retry after Retry-After seconds", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u32, description = "Seconds to wait")))))]
pub async fn player_stream(
    State(state): State<AppState>,
    campaign: KnownCampaign,
    Path(path): Path<(String, String)>,
    query: Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = PlayerId::parse(&path.1)?;
    let view = view(&campaign.0, query.get("last"))?;
    let around = Around::parse(query.get("around"))?;
    open(&state, campaign, view, Shape::Player { id, around }, "player", &headers).await
}

/// What every stream needs from the server: a bound on open streams, the heartbeat, and the
/// signal that the server is closing.
#[derive(Clone)]
pub struct Streams {
    pub slots: Arc<tokio::sync::Semaphore>,
    pub heartbeat: Duration,
    pub closing: watch::Receiver<bool>,
}

/// Opens a stream: everything that can fail is checked first, so errors are problem documents
/// like everywhere else; after that, failures travel as `error` events.
async fn open(
    state: &AppState,
    campaign: KnownCampaign,
    view: View,
    shape: Shape,
    kind: &'static str,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let slot = state.streams.slots.clone().try_acquire_owned().map_err(|_| ApiError::TooManyStreams)?;
    // Subscribed before the first read, so no change between the two is missed.
    let subscription = state.engine.subscribe(&campaign.0, view);
    let read = state.engine.read(&campaign.0, view).await?;
    let first = state.engine.body(&read, shape);
    let resumed = headers.get("last-event-id").is_some_and(|id| *id == first.representation.etag.0);
    let (tx, rx) = mpsc::channel::<Bytes>(8);
    let mut opening = RETRY.to_vec();
    if !resumed {
        opening.extend_from_slice(&first.event(kind));
    }
    let _ = tx.try_send(opening.into());
    let pump = Pump {
        engine: state.engine.clone(),
        subscription,
        shape,
        kind,
        sent: first.representation.etag.0.clone(),
        tx,
        _slot: slot,
    };
    tokio::spawn(pump.run(state.streams.heartbeat, state.streams.closing.clone()));
    let body = Body::from_stream(ReceiverStream::new(rx).map(Ok::<_, std::convert::Infallible>));
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream")),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::HeaderName::from_static("x-accel-buffering"), HeaderValue::from_static("no")),
    ];
    Ok((headers, body).into_response())
}

/// One subscriber's side of a stream: forwards changed answers until the client goes away or
/// the server closes.
struct Pump {
    engine: Arc<Engine>,
    subscription: Subscription,
    shape: Shape,
    kind: &'static str,
    /// The tag of the last answer sent.
    sent: HeaderValue,
    tx: mpsc::Sender<Bytes>,
    _slot: OwnedSemaphorePermit,
}

impl Pump {
    async fn run(mut self, heartbeat: Duration, mut closing: watch::Receiver<bool>) {
        let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
        let mut failing = false;
        loop {
            let frame = tokio::select! {
                _ = self.tx.closed() => return,
                _ = closing.wait_for(|closing| *closing) => return,
                _ = beat.tick() => Some(Bytes::from_static(HEARTBEAT)),
                _ = self.subscription.changed() => self.changed(&mut failing),
            };
            if let Some(frame) = frame
                && self.tx.send(frame).await.is_err()
            {
                return;
            }
        }
    }

    /// The event for what the view answers now, if the subscriber has not seen it.
    fn changed(&mut self, failing: &mut bool) -> Option<Bytes> {
        match self.subscription.latest()? {
            Ok(read) => {
                *failing = false;
                let answer = self.engine.body(&read, self.shape);
                if answer.representation.etag.0 == self.sent {
                    return None;
                }
                self.sent = answer.representation.etag.0.clone();
                Some(answer.event(self.kind))
            }
            // Once per failure: the stream stays open and the next good answer follows.
            Err(_) if *failing => None,
            Err(error) => {
                *failing = true;
                let problem =
                    serde_json::to_vec(&ApiError::from(error).document()).expect("a problem serializes");
                Some(Bytes::from([b"event: error\ndata: ".as_slice(), &problem, b"\n\n"].concat()))
            }
        }
    }
}
