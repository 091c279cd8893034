//! The leaderboard query model: which spins count for a view of a campaign (the window and the
//! game filter), the validated request parameters, and the ranked entries every backend returns.
//! Both renderers (KQL and the embedded store's SQL) work from [`LeaderboardQuery`].

mod changes;
pub mod first;
mod params;
pub mod reduce;
mod row;
mod scoring;
mod span;
mod stakes;

use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};
use serde::Serialize;
use utoipa::ToSchema;

pub use changes::{
    BucketCount, BucketRow, Changes, ChangesQuery, CountRun, Counted, Grain, Recount, Segment, Width,
};
pub use first::FirstSpins;
pub use params::{
    Around, InvalidParam, Limit, MaxLimit, MaxStandings, Offset, PlayerId, PlayerIds, parse_last,
};
pub use row::Row;
pub use scoring::Scoring;
pub use span::Span;
pub use stakes::Stakes;

/// The two views of a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum View {
    /// The whole campaign, `[start, end)`.
    Top,
    /// The campaign's last `Span`: `[max(start, anchor - span), anchor)`, `anchor = min(now, end)`
    /// with `now` on the whole second.
    Window(Span),
}

/// A half-open time range `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// What a backend must compute: every player ranked among counted spins, at most `limit` rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderboardQuery {
    pub window: Window,
    /// Only spins of these games count (sorted, deduplicated, non-empty); `None` = all games.
    pub games: Option<Vec<i32>>,
    /// Only spins of these stakes count.
    pub stakes: Stakes,
    /// How the counted spins score.
    pub scoring: Scoring,
    /// Only each player's first spins of the campaign count (`max-spins`).
    pub first: Option<FirstSpins>,
    /// The most rows to return (`--max-standings`); the total is counted past it.
    pub limit: u32,
    /// Counted spins per bucket of these ranges, answered alongside (an incremental refresh
    /// starts from them).
    pub counts: Vec<CountRun>,
}

/// One player's standing: for the best multiplier, the spin that set their score (the
/// earliest among equal best ratios); for a total, what the counted spins add up to.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Standing {
    pub player_id: i32,
    /// The campaign's score: the best single-spin `win / stake` (real division), or the total
    /// its `score` names (a total multiplier to the millionth, each spin's truncated).
    pub score: f64,
    /// When the player reached the score: the best spin's instant, or for a total the instant
    /// of the last counted spin that added to it.
    #[serde(serialize_with = "rfc3339")]
    pub achieved_at: DateTime<Utc>,
    /// The best multiplier's spin: its win.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub win: Option<i64>,
    /// The best multiplier's spin: its stake.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stake: Option<i32>,
    /// The best multiplier's spin: its game.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub game_id: Option<i32>,
    /// The player's counted spins in the view: every spin of a qualifying stake and game
    /// (losing ones included; of a `max-spins` campaign, its first spins only).
    pub spins: u32,
    /// A total's sum of counted spins' stakes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wagered: Option<i64>,
    /// A total's sum of counted spins' wins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub won: Option<i64>,
}

/// A ranked standing as served.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// 1-based position in the whole view: score descending, then earliest `achievedAt`, then
    /// `playerId`.
    pub rank: u32,
    #[serde(flatten)]
    pub standing: Standing,
    /// What this rank wins, as the campaign's prize table says; absent outside its ranges.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "€250")]
    pub prize: Option<Arc<str>>,
}

impl View {
    /// The window this view covers at `now` for a campaign of `[start, end)`, or `None` while the
    /// campaign has not started (nothing can count yet, so no backend is asked). The anchor of a
    /// window is aligned to the whole second, so that every replica asking in the same second
    /// sends the same query (and ADX can answer it from its results cache).
    pub fn window(self, start: DateTime<Utc>, end: DateTime<Utc>, now: DateTime<Utc>) -> Option<Window> {
        if now < start {
            return None;
        }
        Some(match self {
            View::Top => Window { from: start, to: end },
            View::Window(span) => {
                let to = now.trunc_subsecs(0).min(end);
                Window { from: start.max(to - span.duration()), to }
            }
        })
    }
}

impl Serialize for Span {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Serializes an instant as chrono does (RFC 3339, `Z`, as many fraction digits as it has),
/// formatted at once rather than through `collect_str`, whose writer escapes each character
/// apart: a player's answer has a dozen of them.
fn rfc3339<S: serde::Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
}

/// The current instant at the precision every backend stores (microseconds), so that the
/// same request renders to the same window on each backend.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

#[cfg(test)]
mod tests;
