//! CSV export of a view's whole snapshot (up to `--max-standings` players), for promoters who
//! pay out prizes: RFC 4180, one header line. The body is rendered lazily, a chunk of rows
//! once the client has taken the previous one, so a client that reads nothing costs a parked
//! connection and never a thread. Exports are bounded (`--max-exports`): each holds its
//! snapshot alive until it ends, counted in `/metrics`.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::AppState;
use super::boards::view;
use super::campaigns::KnownCampaign;
use super::docs::{CampaignPath, ReadProblems, ViewQuery};
use super::negotiation::AsIs;
use super::params::Params;
use super::problem::ApiError;
use crate::engine::Snapshot;
use crate::leaderboard::View;
use crate::metrics::{Held, Metrics};

/// Rows per chunk of the body (about 250 KB): the next chunk is rendered only once the
/// connection has taken this one.
const CHUNK: usize = 4096;
/// Chunks of at most this many rows are rendered where they are asked for: a fraction of a
/// millisecond. Larger ones are rendered on the blocking pool, which never waits for a client.
const INLINE: usize = 256;

/// The bound on exports open at once (`--max-exports`): past it, 503 with Retry-After.
#[derive(Clone)]
pub struct Exports {
    pub slots: Arc<Semaphore>,
}

/// Standings as CSV
///
/// The complete standings (up to --max-standings players) of the whole campaign or, with `last`,
/// of its window, in rank order: to pay out prizes.
#[utoipa::path(get, path = "/campaigns/{id}/standings.csv", tag = "leaderboards",
    params(CampaignPath, ViewQuery),
    responses(
        (status = 200, description = "Header `rank,playerId,score,win,stake,gameId,spins,achievedAt` for the best multiplier, `rank,playerId,score,spins,wagered,won,achievedAt` for a total (and `prize` when the campaign has a prize table: what the rank wins, empty past the table), then every ranked player (up to --max-standings) in rank order; `Content-Disposition: attachment` names the campaign and view, and says `final` when the standings are", body = String, content_type = "text/csv"),
        ReadProblems))]
pub async fn standings_csv(
    _: AsIs,
    State(state): State<AppState>,
    campaign: KnownCampaign,
    query: Params,
) -> Result<Response, ApiError> {
    let view = view(&campaign.0, query.get("last"))?;
    // Taken before the read: a refused export costs no backend query.
    let slot = state.exports.slots.clone().try_acquire_owned().map_err(|_| ApiError::TooManyExports)?;
    let read = state.engine.read(&campaign.0, view).await?;
    let filename = filename(read.snapshot(), view);
    let export = Export::open(read.snapshot().clone(), slot, state.engine.metrics());
    let disposition = format!("attachment; filename=\"{filename}\"");
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8; header=present")),
        (header::CONTENT_DISPOSITION, HeaderValue::try_from(disposition).expect("ids and spans are ASCII")),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    ];
    Ok((headers, Body::from_stream(chunks(export))).into_response())
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

/// An open export: its snapshot, where the next chunk starts (`None` once all is sent), and
/// its slot among `--max-exports`, counted in the metrics until the body is dropped (sent
/// whole, or its client gone).
struct Export {
    snapshot: Arc<Snapshot>,
    next: Option<usize>,
    _slot: OwnedSemaphorePermit,
    _counted: [Held; 2],
}

impl Export {
    fn open(snapshot: Arc<Snapshot>, slot: OwnedSemaphorePermit, metrics: &Metrics) -> Self {
        let bytes = snapshot.ranking.bytes() as i64;
        let counted = [Held::new(&metrics.exports_open, 1), Held::new(&metrics.export_bytes, bytes)];
        Self { snapshot, next: Some(0), _slot: slot, _counted: counted }
    }
}

/// The body: the header and the first rows, then a chunk each time the connection asks for
/// one, which it does once it has written the previous one to the client.
fn chunks(export: Export) -> impl Stream<Item = Result<Bytes, tokio::task::JoinError>> {
    stream::unfold(export, |mut export| async move {
        let offset = export.next?;
        let total = export.snapshot.ranking.len();
        let rows = CHUNK.min(total - offset);
        let chunk = if rows <= INLINE {
            Ok(render(&export.snapshot, offset, rows))
        } else {
            let snapshot = export.snapshot.clone();
            tokio::task::spawn_blocking(move || render(&snapshot, offset, rows)).await
        };
        // A chunk that failed to render (a bug, logged by its panic) ends the body as broken.
        export.next = (chunk.is_ok() && offset + rows < total).then_some(offset + rows);
        Some((chunk, export))
    })
}

/// `rows` rows from rank `offset + 1`, after the header line for the first chunk.
fn render(snapshot: &Snapshot, offset: usize, rows: usize) -> Bytes {
    // RFC 4180: every record ends with CRLF.
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::with_capacity(64 * (rows + 1)));
    let prizes = snapshot.prize_cutoff().is_some();
    let total = snapshot.campaign.campaign.score.is_total();
    let made_of: &[&str] =
        if total { &["spins", "wagered", "won"] } else { &["win", "stake", "gameId", "spins"] };
    if offset == 0 {
        let header = ["rank", "playerId", "score"].iter().chain(made_of).chain(&["achievedAt"]);
        out.write_record(header.chain(prizes.then_some(&"prize"))).expect("to memory");
    }
    for at in snapshot.ranking.range(offset, rows) {
        let entry = snapshot.entry(at);
        let s = &entry.standing;
        let time = s.achieved_at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
        let fields = [entry.rank.to_string(), s.player_id.to_string(), s.score.to_string()];
        let cell = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_default();
        let spins = Some(i64::from(s.spins));
        // The header's made-of columns, in its order (a total has three: the last cell is unused).
        let cells = if total {
            [spins, s.wagered, s.won, None]
        } else {
            [s.win, s.stake.map(i64::from), s.game_id.map(i64::from), spins]
        };
        let more = cells.map(cell);
        let prize = prizes.then(|| entry.prize.as_deref().unwrap_or_default().to_owned());
        let row = fields.iter().chain(&more[..made_of.len()]).chain([&time]).chain(&prize);
        out.write_record(row).expect("to memory");
    }
    out.into_inner().expect("to memory").into()
}
