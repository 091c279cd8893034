//! The leaderboard query model: which spins count for a view of a campaign (the window and the
//! game filter), the validated request parameters, and the ranked entries every backend returns.
//! Both renderers (KQL and the embedded store's SQL) work from [`LeaderboardQuery`].

mod params;
mod span;

use chrono::{DateTime, SubsecRound, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::campaigns::Campaign;

pub use params::{InvalidParam, Limit, MaxLimit, parse_last};
pub use span::Span;

/// The two views of a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum View {
    /// The whole campaign, `[start, end)`.
    Top,
    /// The campaign's last `Span`: `[max(start, anchor - span), anchor)`, `anchor = min(now, end)`.
    Window(Span),
}

/// A half-open time range `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// What a backend must compute: the best `limit` players among counted spins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderboardQuery {
    pub window: Window,
    /// Only spins of these games count (sorted, deduplicated, non-empty); `None` = all games.
    pub games: Option<Vec<i32>>,
    pub limit: u32,
}

/// One player's standing: the spin that set their score (earliest among equal best ratios).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Standing {
    pub player_id: i32,
    /// Best single-spin `win / stake` ratio, real division.
    pub score: f64,
    pub win: i64,
    pub stake: i32,
    pub game_id: i32,
    pub achieved_at: DateTime<Utc>,
}

/// A ranked standing as served.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// 1-based position: score descending, then earliest `achievedAt`, then `playerId`.
    pub rank: u32,
    #[serde(flatten)]
    pub standing: Standing,
}

impl View {
    /// The window this view covers at `now`, or `None` while the campaign has not started
    /// (nothing can count yet, so no backend is asked).
    pub fn window(self, campaign: &Campaign, now: DateTime<Utc>) -> Option<Window> {
        if now < campaign.start {
            return None;
        }
        Some(match self {
            View::Top => Window { from: campaign.start, to: campaign.end },
            View::Window(span) => {
                let to = now.min(campaign.end);
                Window { from: campaign.start.max(to - span.duration()), to }
            }
        })
    }

    /// The backend query for this view at `now`, fetching `limit` rows.
    pub fn query(self, campaign: &Campaign, now: DateTime<Utc>, limit: MaxLimit) -> Option<LeaderboardQuery> {
        let window = self.window(campaign, now)?;
        Some(LeaderboardQuery { window, games: campaign.games.clone(), limit: limit.get() })
    }
}

/// The current instant at the precision every backend stores (microseconds), so that the
/// same request renders to the same window on each backend.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Ranks standings that a backend returned already ordered.
pub fn rank(standings: impl IntoIterator<Item = Standing>) -> Vec<Entry> {
    standings.into_iter().zip(1..).map(|(standing, rank)| Entry { rank, standing }).collect()
}

#[cfg(test)]
mod tests;
