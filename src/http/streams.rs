//! Live boards as server-sent events: the same answers as the GET twins, the current one first
//! and then one event each time it changes (never for a refresh that changed nothing). Streams
//! ride on the engine's views, so ten thousand subscribers of one view cost the backend what
//! one reader costs, and each changed answer is framed once and shared by every subscriber.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::{OwnedSemaphorePermit, watch};

use super::boards::{declared, page, view};
use super::campaigns::{KnownCampaign, PlayerInPath};
use super::docs::{
    AroundQuery, CampaignPath, PageQuery, PlayerPath, ReadProblems, Resume, ViewQuery, WindowQuery,
};
use super::negotiation::AsIs;
use super::params::Params;
use super::problem::ApiError;
use super::{AppState, LAST_EVENT_ID};
use crate::engine::{Encoded, Engine, Shape, Subscription};
use crate::leaderboard::{Around, View, parse_last};
use crate::metrics::Held;

/// How long a browser waits before reconnecting a dropped stream.
const RETRY: &[u8] = b"retry: 2000\n\n";
const HEARTBEAT: &[u8] = b": heartbeat\n\n";

/// Top players, live
///
/// The board of GET /campaigns/{id}/top as server-sent events: the current one first, then one
/// each time it changes.
#[utoipa::path(get, path = "/campaigns/{id}/top/stream", tag = "streams",
    params(CampaignPath, PageQuery, Resume),
    responses(
        (status = 200, description = "`event: board` with `id:` the answer's ETag and `data:` the JSON of GET /campaigns/{id}/top, first the current one, then one per change; `event: error` with a problem document when a refresh fails; comment heartbeats", body = String, content_type = "text/event-stream"),
        ReadProblems))]
pub async fn top_stream(
    _: AsIs,
    State(state): State<AppState>,
    campaign: KnownCampaign,
    query: Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let shape = page(&state, &query)?;
    open(&state, campaign, View::Top, shape, "board", &headers).await
}

/// Top players of a recent window, live
///
/// The board of GET /campaigns/{id}/window as server-sent events: the current one first, then
/// one each time it changes.
#[utoipa::path(get, path = "/campaigns/{id}/window/stream", tag = "streams",
    params(CampaignPath, WindowQuery, PageQuery, Resume),
    responses(
        (status = 200, description = "`event: board` events as on /top/stream, with the JSON of GET /campaigns/{id}/window", body = String, content_type = "text/event-stream"),
        ReadProblems))]
pub async fn window_stream(
    _: AsIs,
    State(state): State<AppState>,
    campaign: KnownCampaign,
    query: Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let view = declared(&campaign.0, Some(parse_last(query.get("last"))?))?;
    let shape = page(&state, &query)?;
    open(&state, campaign, view, shape, "board", &headers).await
}

/// A player's standing, live
///
/// The answer of GET /campaigns/{id}/players/{playerId} as server-sent events: the current one
/// first, then one each time it changes.
#[utoipa::path(get, path = "/campaigns/{id}/players/{playerId}/stream", tag = "streams",
    params(PlayerPath, ViewQuery, AroundQuery, Resume),
    responses(
        (status = 200, description = "`event: player` with `id:` the answer's ETag and `data:` the JSON of GET /campaigns/{id}/players/{playerId}, first the current one, then one per change; `event: error` when a refresh fails", body = String, content_type = "text/event-stream"),
        ReadProblems))]
pub async fn player_stream(
    _: AsIs,
    State(state): State<AppState>,
    campaign: KnownCampaign,
    player: PlayerInPath,
    query: Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = player.0;
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
    let permit = state.streams.slots.clone().try_acquire_owned().map_err(|_| ApiError::TooManyStreams)?;
    let slot = (permit, Held::new(&state.engine.metrics().streams_open, 1));
    // Subscribed before the first read, so no change between the two is missed.
    let subscription = state.engine.subscribe(&campaign.0, view)?;
    let read = state.engine.read(&campaign.0, view).await?;
    let first = state.engine.body(&read, shape);
    let resumed = headers.get(LAST_EVENT_ID).is_some_and(|id| *id == first.representation.etag.0);
    // The current answer's frame is the one every subscriber is sent, not a copy of it.
    let opening = [Some(Bytes::from_static(RETRY)), (!resumed).then(|| event(&first, kind))];
    let heartbeat = state.streams.heartbeat;
    let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
    // A client that stopped reading gets one heartbeat when it reads again, not a burst.
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let follow = Follow {
        engine: state.engine.clone(),
        subscription,
        shape,
        kind,
        sent: first.representation.etag.0.clone(),
        failing: false,
        opening,
        beat,
        closing: state.streams.closing.clone(),
        _slot: slot,
    };
    // The connection polls the stream itself: no task and no queue per subscriber, and a client
    // that reads nothing holds only its socket's buffers.
    let frames = futures_util::stream::unfold(follow, |mut follow| async move {
        let frame = follow.next().await?;
        Some((Ok::<_, std::convert::Infallible>(frame), follow))
    });
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream")),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::HeaderName::from_static("x-accel-buffering"), HeaderValue::from_static("no")),
    ];
    Ok((headers, Body::from_stream(frames)).into_response())
}

/// The answer as one server-sent event (`event:`, `id:` its entity tag, `data:` its JSON),
/// framed once and shared by every subscriber; JSON as serde_json writes it has no line breaks,
/// so it fits one `data:` line.
fn event(answer: &Encoded, name: &str) -> Bytes {
    answer.derived(|body| {
        let tag = body.etag.0.to_str().expect("tags are ASCII");
        let mut frame = Vec::with_capacity(body.body.len() + tag.len() + name.len() + 24);
        frame.extend_from_slice(format!("event: {name}\nid: {tag}\ndata: ").as_bytes());
        frame.extend_from_slice(&body.body);
        frame.extend_from_slice(b"\n\n");
        frame.into()
    })
}

/// One subscriber's side of a stream: the frames it is sent, until the view ends or the server
/// closes.
struct Follow {
    engine: Arc<Engine>,
    subscription: Subscription,
    shape: Shape,
    kind: &'static str,
    /// The tag of the last answer sent.
    sent: HeaderValue,
    /// An error event was the last sent.
    failing: bool,
    /// The first frames, not yet sent: the reconnection delay, and the current answer unless
    /// the client resumed from it.
    opening: [Option<Bytes>; 2],
    beat: tokio::time::Interval,
    closing: watch::Receiver<bool>,
    _slot: (OwnedSemaphorePermit, Held),
}

impl Follow {
    /// The next frame to send; `None` ends the stream.
    async fn next(&mut self) -> Option<Bytes> {
        if let Some(frame) = self.opening.iter_mut().find_map(Option::take) {
            return Some(frame);
        }
        loop {
            tokio::select! {
                _ = self.closing.wait_for(|closing| *closing) => return None,
                _ = self.beat.tick() => return Some(Bytes::from_static(HEARTBEAT)),
                // The view is gone (pushed out, idle, or its campaign removed): the stream ends,
                // and its client reconnects to a view of its own.
                alive = self.subscription.changed() => if !alive {
                    return None;
                },
            }
            if let Some(frame) = self.changed() {
                return Some(frame);
            }
        }
    }

    /// The event for what the view answers now, if the subscriber has not seen it.
    fn changed(&mut self) -> Option<Bytes> {
        match self.subscription.latest()? {
            Ok(read) => {
                // After an error event the good answer is sent again, changed or not, so the
                // client knows the trouble is over.
                let recovered = std::mem::take(&mut self.failing);
                // The tag first: an answer the subscriber has seen is not encoded again.
                let etag = read.snapshot().answer(self.shape).etag();
                if etag.0 == self.sent && !recovered {
                    return None;
                }
                let answer = self.engine.body(&read, self.shape);
                self.sent = etag.0;
                Some(event(&answer, self.kind))
            }
            // Once per failure: the stream stays open and the next good answer follows.
            Err(_) if self.failing => None,
            Err(error) => {
                self.failing = true;
                let problem =
                    serde_json::to_vec(&ApiError::from(error).document()).expect("a problem serializes");
                Some(Bytes::from([b"event: error\ndata: ".as_slice(), &problem, b"\n\n"].concat()))
            }
        }
    }
}
