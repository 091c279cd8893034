//! A snapshot: one view's complete standings at one moment, held compactly (32 bytes a
//! player) with an index by player id, so that any page, any player's rank and neighbours, and
//! any friends' list are read from it without asking the backend again.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::DateTime;

use crate::backend::Standings;
use crate::campaigns::CampaignSummary;
use crate::leaderboard::{Entry, Standing, Window};

/// One ranked player, as compact as the GamePlay columns allow; the score is derived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    pub player_id: i32,
    pub stake: i32,
    pub game_id: i32,
    pub win: i64,
    /// Microseconds since the Unix epoch.
    pub achieved_us: i64,
}

impl Row {
    fn from_standing(s: &Standing) -> Self {
        Self {
            player_id: s.player_id,
            stake: s.stake,
            game_id: s.game_id,
            win: s.win,
            achieved_us: s.achieved_at.timestamp_micros(),
        }
    }

    /// The served entry at 0-based `position`.
    pub fn entry(&self, position: usize) -> Entry {
        Entry {
            rank: position as u32 + 1,
            standing: Standing {
                player_id: self.player_id,
                score: self.win as f64 / f64::from(self.stake),
                win: self.win,
                stake: self.stake,
                game_id: self.game_id,
                achieved_at: DateTime::from_timestamp_micros(self.achieved_us)
                    .expect("stored from a valid instant"),
            },
        }
    }
}

/// A view's ranked players (at most the cap) and how many it ranks in all.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ranking {
    rows: Box<[Row]>,
    /// `(player id, position)`, sorted by player id.
    by_player: Box<[(i32, u32)]>,
    total: u64,
}

impl Ranking {
    pub fn new(standings: &Standings) -> Self {
        let rows: Box<[Row]> = standings.rows.iter().map(Row::from_standing).collect();
        let mut by_player: Box<[(i32, u32)]> =
            rows.iter().enumerate().map(|(i, r)| (r.player_id, i as u32)).collect();
        by_player.sort_unstable();
        let total = standings.total.max(rows.len() as u64);
        Self { rows, by_player, total }
    }

    /// Players ranked within the cap.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// Entries `offset..offset + limit` (fewer at the end, none past it).
    pub fn page(&self, offset: usize, limit: usize) -> Vec<Entry> {
        let start = offset.min(self.rows.len());
        let end = offset.saturating_add(limit).min(self.rows.len());
        (start..end).map(|i| self.rows[i].entry(i)).collect()
    }

    /// The 0-based position of `player`, if ranked within the cap.
    pub fn position(&self, player: i32) -> Option<usize> {
        let found = self.by_player.binary_search_by_key(&player, |&(id, _)| id).ok()?;
        Some(self.by_player[found].1 as usize)
    }

    /// `player`'s entry and the entries `around` positions either side of it.
    pub fn around(&self, player: i32, around: usize) -> Option<(Entry, Vec<Entry>)> {
        let at = self.position(player)?;
        let from = at.saturating_sub(around);
        Some((self.rows[at].entry(at), self.page(from, at - from + around + 1)))
    }

    /// Bytes held, for the engine's memory bound.
    pub fn bytes(&self) -> usize {
        size_of_val(&*self.rows) + size_of_val(&*self.by_player)
    }
}

/// Everything an answer about one view says, fixed at one refresh. Two snapshots with equal
/// content give byte-identical answers, so a refresh that finds nothing new keeps the old one
/// (and with it every encoded body and entity tag).
#[derive(Debug)]
pub struct Snapshot {
    /// Unique for the process's life: names the snapshot's encoded bodies.
    pub id: u64,
    pub campaign: CampaignSummary,
    pub window: Window,
    pub ranking: Ranking,
    /// The campaign ended more than `--late-arrival` ago: these standings never change again.
    pub is_final: bool,
}

impl Snapshot {
    pub fn new(campaign: CampaignSummary, window: Window, ranking: Ranking, is_final: bool) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        Self { id, campaign, window, ranking, is_final }
    }

    /// Whether `other` would give exactly the same answers.
    pub fn same_content(&self, other: &Self) -> bool {
        (&self.campaign, self.window, &self.ranking, self.is_final)
            == (&other.campaign, other.window, &other.ranking, other.is_final)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    fn standings(players: &[i32], total: u64) -> Standings {
        let at = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        let rows = players
            .iter()
            .enumerate()
            .map(|(i, &player_id)| Standing {
                player_id,
                score: 10.0 - i as f64,
                win: 10 - i as i64,
                stake: 1,
                game_id: 1,
                achieved_at: at,
            })
            .collect();
        Standings { rows, total }
    }

    fn ids(entries: &[Entry]) -> Vec<(u32, i32)> {
        entries.iter().map(|e| (e.rank, e.standing.player_id)).collect()
    }

    #[test]
    fn pages_are_global_ranks_and_end_quietly() {
        let ranking = Ranking::new(&standings(&[30, 10, 20, 40], 9));
        assert_eq!(ranking.total(), 9, "the total counts players past the cap");
        assert_eq!(ids(&ranking.page(1, 2)), [(2, 10), (3, 20)]);
        assert_eq!(ids(&ranking.page(3, 10)), [(4, 40)]);
        assert!(ranking.page(4, 10).is_empty());
        assert!(ranking.page(usize::MAX, 10).is_empty());
    }

    #[test]
    fn a_player_is_found_with_the_neighbours_that_exist() {
        let ranking = Ranking::new(&standings(&[30, 10, 20, 40], 4));
        let (me, around) = ranking.around(10, 5).unwrap();
        assert_eq!((me.rank, me.standing.player_id), (2, 10));
        assert_eq!(ids(&around), [(1, 30), (2, 10), (3, 20), (4, 40)]);
        assert_eq!(ids(&ranking.around(40, 1).unwrap().1), [(3, 20), (4, 40)]);
        assert_eq!(ids(&ranking.around(30, 0).unwrap().1), [(1, 30)]);
        assert!(ranking.around(99, 3).is_none());
        assert_eq!(me.standing.score, 9.0, "the score is win / stake");
    }
}
