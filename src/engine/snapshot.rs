//! A snapshot: one view's complete standings at one moment, held compactly (48 bytes a
//! player) with an index by player id, so that any page, any player's rank and neighbours, and
//! any friends' list are read from it without asking the backend again; and the answers its
//! readers asked for most, encoded once.

use std::ops::Range;
use std::sync::Arc;

use super::answer::{Encoded, Head, Shape};
use super::kept::{Budget, Kept};
use crate::campaigns::{CampaignSummary, Prizes};
use crate::leaderboard::{Entry, Row, Scoring, Window};

/// A view's ranked players (at most the cap) and how many it ranks in all.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ranking {
    rows: Arc<[Row]>,
    /// `(player id, position)`, sorted by player id.
    by_player: Arc<[(i32, u32)]>,
    /// The id of every [`FENCE`]th entry of `by_player`: a search for a player reads these (4
    /// bytes a block, a few kilobytes that stay in cache) and then one block of `by_player`,
    /// where a binary search of a million entries would miss the cache a dozen times.
    fences: Arc<[i32]>,
    total: u64,
}

/// Entries of `by_player` a fence stands for: one 512-byte block.
const FENCE: usize = 64;

impl Ranking {
    /// Whether these are exactly `rows` and `total`.
    pub fn holds(&self, rows: &Arc<[Row]>, total: u64) -> bool {
        (Arc::ptr_eq(&self.rows, rows) || *self.rows == **rows) && self.total == total.max(rows.len() as u64)
    }

    pub fn new(rows: Arc<[Row]>, total: u64) -> Self {
        let mut by_player: Vec<(i32, u32)> =
            rows.iter().enumerate().map(|(i, r)| (r.player_id, i as u32)).collect();
        by_player.sort_unstable();
        Self::indexed(rows, by_player.into(), total)
    }

    /// `rows` with their index made already (`(player id, position)` sorted by player id).
    pub(super) fn indexed(rows: Arc<[Row]>, by_player: Arc<[(i32, u32)]>, total: u64) -> Self {
        debug_assert_eq!(rows.len(), by_player.len());
        let total = total.max(rows.len() as u64);
        let fences = by_player.iter().step_by(FENCE).map(|&(id, _)| id).collect();
        Self { rows, by_player, fences, total }
    }

    /// `(player id, position)` of every row, sorted by player id.
    pub(super) fn by_player(&self) -> &[(i32, u32)] {
        &self.by_player
    }

    /// The ranked rows, in rank order.
    pub fn rows(&self) -> &Arc<[Row]> {
        &self.rows
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

    /// Whether it holds every player the view ranks (none past the cap).
    pub fn is_complete(&self) -> bool {
        self.total == self.rows.len() as u64
    }

    /// Positions `offset..offset + limit` that exist.
    pub fn range(&self, offset: usize, limit: usize) -> Range<usize> {
        let start = offset.min(self.rows.len());
        let end = offset.saturating_add(limit).min(self.rows.len());
        start..end
    }

    /// The served entry at 0-based position `at` (which must exist), scored as `scoring` shows.
    pub fn entry(&self, at: usize, scoring: Scoring) -> Entry {
        self.rows[at].entry(at, scoring)
    }

    /// The row at 0-based position `at` (which must exist).
    pub fn row(&self, at: usize) -> &Row {
        &self.rows[at]
    }

    /// The 0-based position of `player`, if ranked within the cap.
    pub fn position(&self, player: i32) -> Option<usize> {
        let block = self.fences.partition_point(|&id| id <= player).checked_sub(1)? * FENCE;
        let block = &self.by_player[block..(block + FENCE).min(self.by_player.len())];
        let found = block.binary_search_by_key(&player, |&(id, _)| id).ok()?;
        Some(block[found].1 as usize)
    }

    /// `player`'s position and the positions `around` either side of it that exist.
    pub fn around(&self, player: i32, around: usize) -> Option<(usize, Range<usize>)> {
        let at = self.position(player)?;
        let from = at.saturating_sub(around);
        Some((at, self.range(from, at - from + around + 1)))
    }

    /// Bytes held, for the engine's memory bound.
    pub fn bytes(&self) -> usize {
        size_of_val(&*self.rows) + size_of_val(&*self.by_player) + size_of_val(&*self.fences)
    }
}

/// A refresh's ranked rows and how many players rank in all: indexed already when they were
/// merged into an indexed board, else indexed once they are found to differ from the snapshot's.
#[derive(Debug)]
pub enum Ranked {
    Rows(Arc<[Row]>, u64),
    Indexed(Ranking),
}

impl From<(Arc<[Row]>, u64)> for Ranked {
    fn from((rows, total): (Arc<[Row]>, u64)) -> Self {
        Self::Rows(rows, total)
    }
}

impl Ranked {
    pub fn rows(&self) -> &Arc<[Row]> {
        match self {
            Self::Rows(rows, _) => rows,
            Self::Indexed(ranking) => ranking.rows(),
        }
    }

    pub fn total(&self) -> u64 {
        match self {
            Self::Rows(_, total) => *total,
            Self::Indexed(ranking) => ranking.total(),
        }
    }

    /// The ranking, indexed off the async workers when its rows are many (a million players
    /// take a while to index).
    pub async fn index(self) -> Ranking {
        match self {
            Self::Indexed(ranking) => ranking,
            Self::Rows(rows, total) if rows.len() < 10_000 => Ranking::new(rows, total),
            Self::Rows(rows, total) => tokio::task::spawn_blocking(move || Ranking::new(rows, total))
                .await
                .expect("indexing does not panic"),
        }
    }
}

/// Everything an answer about one view says, fixed at one refresh. Two snapshots with equal
/// content give byte-identical answers and tags, and a refresh that finds nothing new keeps the
/// old one (and with it every encoded body).
#[derive(Debug)]
pub struct Snapshot {
    pub campaign: CampaignSummary,
    pub window: Window,
    pub ranking: Ranking,
    /// The campaign ended more than `--late-arrival` ago: these standings never change again.
    pub is_final: bool,
    /// What every answer says first, encoded once.
    pub(super) head: Head,
    kept: Kept,
}

impl Snapshot {
    pub fn new(campaign: CampaignSummary, window: Window, ranking: Ranking, is_final: bool) -> Self {
        let head = Head::new(&campaign, &window, ranking.total(), is_final);
        Self { campaign, window, ranking, is_final, head, kept: Kept::default() }
    }

    /// The answer `shape`, encoded once for every reader while there is room (`budget`).
    pub(super) fn encoded(&self, shape: Shape, budget: &Arc<Budget>) -> Arc<Encoded> {
        self.kept.get_or_encode(shape, budget, || Encoded::new(self.answer(shape).encode()))
    }

    /// Replaced by a newer snapshot: gives back its kept answers' bytes at once, whoever still
    /// holds it (a download, a reader mid-answer).
    pub(super) fn retire(&self) {
        self.kept.retire();
    }

    /// The served entry at 0-based position `at` (which must exist), with what its rank wins.
    pub fn entry(&self, at: usize) -> Entry {
        let mut entry = self.ranking.entry(at, self.scoring());
        entry.prize = self.prizes().at(entry.rank).cloned();
        entry
    }

    fn scoring(&self) -> Scoring {
        self.campaign.campaign.score
    }

    fn prizes(&self) -> &Prizes {
        &self.campaign.campaign.prizes
    }

    /// The score at the campaign's last prize rank: `None` without a prize table, `Some(None)`
    /// while no player holds that rank (among the ranked within the cap).
    pub fn prize_cutoff(&self) -> Option<Option<f64>> {
        let last = self.prizes().last_rank()? as usize;
        Some((last <= self.ranking.len()).then(|| self.ranking.row(last - 1).score(self.scoring())))
    }

    /// How much score the player at position `at` (or an unranked one) lacks to reach the
    /// cutoff: 0 inside the prize zone, `Some(None)` for an unranked player while the zone is
    /// not filled (any score enters it); `None` without a prize table.
    pub fn to_prize(&self, at: Option<usize>) -> Option<Option<f64>> {
        let cutoff = self.prize_cutoff()?;
        let last = self.prizes().last_rank()? as usize;
        Some(match at {
            Some(at) if at < last => Some(0.0),
            Some(at) => {
                let (row, edge) = (self.ranking.row(at), self.ranking.row(last - 1));
                // A total lacks exact points (shown as its score is); a ratio lacks a real number.
                let lacking = if row.is_total() {
                    self.scoring().shown(edge.points - row.points)
                } else {
                    edge.ratio() - row.ratio()
                };
                cutoff.map(|_| lacking.max(0.0))
            }
            None => cutoff,
        })
    }

    /// Whether this snapshot says this about its campaign and window (its ranking aside).
    pub fn says(&self, campaign: &CampaignSummary, window: Window, is_final: bool) -> bool {
        self.campaign == *campaign && self.window == window && self.is_final == is_final
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEST: Scoring = Scoring::BestMultiplier;

    fn rows(players: &[i32]) -> Arc<[Row]> {
        let at = 1_700_000_000_000_000;
        let row = |(i, &player_id): (usize, &i32)| Row {
            player_id,
            win: 10 - i as i64,
            stake: 1,
            game_id: 1,
            achieved_us: at,
            ..Row::default()
        };
        players.iter().enumerate().map(row).collect()
    }

    /// Entries `offset..offset + limit` (fewer at the end, none past it).
    fn page(ranking: &Ranking, offset: usize, limit: usize) -> Vec<Entry> {
        ranking.range(offset, limit).map(|at| ranking.entry(at, BEST)).collect()
    }

    fn ranking(players: &[i32], total: u64) -> Ranking {
        Ranking::new(rows(players), total)
    }

    fn ids(entries: &[Entry]) -> Vec<(u32, i32)> {
        entries.iter().map(|e| (e.rank, e.standing.player_id)).collect()
    }

    #[test]
    fn pages_are_global_ranks_and_end_quietly() {
        let ranking = ranking(&[30, 10, 20, 40], 9);
        assert_eq!(ranking.total(), 9, "the total counts players past the cap");
        assert_eq!(ids(&page(&ranking, 1, 2)), [(2, 10), (3, 20)]);
        assert_eq!(ids(&page(&ranking, 3, 10)), [(4, 40)]);
        assert!(page(&ranking, 4, 10).is_empty());
        assert!(page(&ranking, usize::MAX, 10).is_empty());
    }

    #[test]
    fn a_player_is_found_with_the_neighbours_that_exist() {
        let ranking = ranking(&[30, 10, 20, 40], 4);
        assert!(ranking.holds(&rows(&[30, 10, 20, 40]), 4));
        assert!(!ranking.holds(&rows(&[30, 10, 40, 20]), 4));
        assert!(!ranking.holds(&rows(&[30, 10, 20, 40]), 5));
        let around = |player, n| {
            ranking
                .around(player, n)
                .map(|(at, run)| (at, ids(&run.map(|at| ranking.entry(at, BEST)).collect::<Vec<_>>())))
        };
        let (at, entries) = around(10, 5).unwrap();
        assert_eq!(at, 1);
        assert_eq!(entries, [(1, 30), (2, 10), (3, 20), (4, 40)]);
        assert_eq!(around(40, 1).unwrap().1, [(3, 20), (4, 40)]);
        assert_eq!(around(30, 0).unwrap().1, [(1, 30)]);
        assert!(around(99, 3).is_none());
        assert_eq!(ranking.entry(at, BEST).standing.score, 9.0, "the score is win / stake");
    }

    proptest::proptest! {
        /// Through the fences, every ranked player is found at their position, and an id
        /// between, before or after them (or at the ends of Int32) is not, for boards of none
        /// to several blocks, each block full or not.
        #[test]
        fn every_player_is_found_through_the_fences_and_no_other(
            ids in proptest::collection::btree_set(proptest::num::i32::ANY, 0..300),
            order in proptest::collection::vec(proptest::num::u32::ANY, 300),
            absent in proptest::collection::vec(proptest::num::i32::ANY, 50),
        ) {
            // Ranked in an order unrelated to the ids.
            let mut players: Vec<i32> = ids.iter().copied().collect();
            players.sort_by_key(|&id| order[id.unsigned_abs() as usize % order.len()] ^ id as u32);
            let ranking = ranking(&players, players.len() as u64);
            for (at, &player) in players.iter().enumerate() {
                proptest::prop_assert_eq!(ranking.position(player), Some(at));
            }
            for id in absent.into_iter().chain([i32::MIN, i32::MAX, 0]).filter(|id| !ids.contains(id)) {
                proptest::prop_assert_eq!(ranking.position(id), None);
            }
        }
    }
}
