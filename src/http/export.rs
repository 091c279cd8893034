//! CSV export of a view's whole snapshot (up to `--max-standings` players), for promoters who
//! pay out prizes: RFC 4180, one header line, streamed as it is written.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

use super::AppState;
use super::boards::view;
use super::campaigns::KnownCampaign;
use super::docs::{CampaignPath, ReadProblems, ViewQuery};
use super::params::Params;
use super::problem::ApiError;
use crate::engine::Snapshot;
use crate::leaderboard::View;

/// Rows written per chunk of the body.
const CHUNK: usize = 10_000;

/// Standings as CSV
///
/// The complete standings (up to --max-standings players) of the whole campaign or, with `last`,
/// of its window, in rank order: to pay out prizes.
#[utoipa::path(get, path = "/campaigns/{id}/standings.csv", tag = "leaderboards",
    params(CampaignPath, ViewQuery),
    responses(
        (status = 200, description = "Header `rank,playerId,score,win,stake,gameId,achievedAt`, then every ranked player (up to --max-standings) in rank order; `Content-Disposition: attachment` names the campaign and view, and says `final` when the standings are", body = String, content_type = "text/csv"),
        ReadProblems))]
pub async fn standings_csv(
    State(state): State<AppState>,
    campaign: KnownCampaign,
    query: Params,
) -> Result<Response, ApiError> {
    let view = view(&campaign.0, query.get("last"))?;
    let read = state.engine.read(&campaign.0, view).await?;
    let filename = filename(&read.snapshot, view);
    let (tx, rx) = mpsc::channel::<Bytes>(2);
    let snapshot = read.snapshot.clone();
    // Writing a million rows is CPU work: off the async workers, a chunk at a time.
    tokio::task::spawn_blocking(move || write(&snapshot, &tx));
    let disposition = format!("attachment; filename=\"{filename}\"");
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8; header=present")),
        (header::CONTENT_DISPOSITION, HeaderValue::try_from(disposition).expect("ids and spans are ASCII")),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    ];
    let body = Body::from_stream(ReceiverStream::new(rx).map(Ok::<_, std::convert::Infallible>));
    Ok((headers, body).into_response())
}

/// `<campaign>-top.csv` or `<campaign>-last-<span>.csv`, with `-final` once final.
fn filename(snapshot: &Snapshot, view: View) -> String {
    let id = snapshot.campaign.campaign.id.as_str();
    let what = match view {
        View::Top => "top".to_owned(),
        View::Window(span) => format!("last-{span}"),
    };
    let status = if snapshot.is_final { "-final" } else { "" };
    format!("{id}-{what}{status}.csv")
}

fn write(snapshot: &Arc<Snapshot>, tx: &mpsc::Sender<Bytes>) {
    let ranking = &snapshot.ranking;
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(["rank", "playerId", "score", "win", "stake", "gameId", "achievedAt"])
        .expect("to memory");
    let mut offset = 0;
    loop {
        for entry in ranking.page(offset, CHUNK) {
            let s = &entry.standing;
            let time = s.achieved_at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
            let fields = [entry.rank.to_string(), s.player_id.to_string(), s.score.to_string()];
            let more = [s.win.to_string(), s.stake.to_string(), s.game_id.to_string(), time];
            out.write_record(fields.iter().chain(&more)).expect("to memory");
        }
        offset += CHUNK;
        let chunk = std::mem::replace(&mut out, csv::Writer::from_writer(Vec::new()));
        let chunk = chunk.into_inner().expect("to memory");
        // Done, or the client went away.
        if tx.blocking_send(chunk.into()).is_err() || offset >= ranking.len() {
            return;
        }
    }
}
