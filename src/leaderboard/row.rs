//! A standing as every backend returns it and every snapshot holds it (48 bytes): for the best
//! multiplier, the spin that set a player's score, in the GamePlay columns' own widths (the
//! score is derived); for a total, the player's sums over their counted spins. Also the two
//! orders the ranking is made of: which of a player's spins sets their score, and how players
//! rank against each other.

use std::cmp::Ordering;

use chrono::DateTime;

use super::{Entry, Scoring, Standing};

/// A standing. A best spin has a positive `stake` and `points == 0`; a total has `stake == 0`,
/// `game_id == 0` and its sums (`win`: the wins, `wagered`: the stakes, `points`: the score).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Row {
    pub player_id: i32,
    pub stake: i32,
    pub game_id: i32,
    /// The player's counted spins in the view (losing ones too).
    pub spins: u32,
    pub win: i64,
    /// Microseconds since the Unix epoch: the best spin's instant, or a total's last counted
    /// spin that added to its score.
    pub achieved_us: i64,
    pub wagered: i64,
    pub points: i64,
}

impl Row {
    /// A player's total: `points` (the score, exact), over `spins` counted spins that staked
    /// `wagered` and won `won`, the score reached at `achieved_us`.
    pub fn total(
        player_id: i32,
        points: i64,
        (spins, wagered, won): (u32, i64, i64),
        achieved_us: i64,
    ) -> Self {
        Self { player_id, spins, win: won, wagered, points, achieved_us, ..Self::default() }
    }

    /// Whether this is a total rather than a best spin.
    pub fn is_total(&self) -> bool {
        self.stake == 0
    }

    /// `win / stake`, real division (IEEE, as every backend's answer is read back); 0 for a
    /// total.
    pub fn ratio(&self) -> f64 {
        if self.is_total() { 0.0 } else { self.win as f64 / f64::from(self.stake) }
    }

    /// The score as served.
    pub fn score(&self, scoring: Scoring) -> f64 {
        if self.is_total() { scoring.shown(self.points) } else { self.ratio() }
    }

    /// Whether this standing ranks at all: a best spin that won on a positive stake, or a total
    /// above 0 over at least one spin.
    pub fn counts(&self) -> bool {
        if self.is_total() { self.points > 0 && self.spins > 0 } else { self.win > 0 && self.stake > 0 }
    }

    /// Among one player's spins, the one that sets their score comes first: the best ratio, then
    /// the earliest, then the larger stake, then the smaller game.
    pub fn spin_order(&self, other: &Row) -> Ordering {
        by_score(self, other)
            .then(self.achieved_us.cmp(&other.achieved_us))
            .then(other.stake.cmp(&self.stake))
            .then(self.game_id.cmp(&other.game_id))
    }

    /// Whether this spin sets the player's score rather than `other`.
    pub fn beats(&self, other: &Row) -> bool {
        self.spin_order(other) == Ordering::Less
    }

    /// The board's order: score descending, then whoever reached it first, then player id.
    pub fn rank_order(&self, other: &Row) -> Ordering {
        by_score(self, other)
            .then(self.achieved_us.cmp(&other.achieved_us))
            .then(self.player_id.cmp(&other.player_id))
    }

    /// The served entry at 0-based `position`, its score as `scoring` shows it.
    pub fn entry(&self, position: usize, scoring: Scoring) -> Entry {
        let spin = !self.is_total();
        Entry {
            rank: position as u32 + 1,
            standing: Standing {
                player_id: self.player_id,
                score: self.score(scoring),
                achieved_at: DateTime::from_timestamp_micros(self.achieved_us)
                    .expect("stored from a valid instant"),
                win: spin.then_some(self.win),
                stake: spin.then_some(self.stake),
                game_id: spin.then_some(self.game_id),
                spins: self.spins,
                wagered: (!spin).then_some(self.wagered),
                won: (!spin).then_some(self.win),
            },
            prize: None,
        }
    }
}

/// Higher scores first: a total's exact points, a best spin's ratio (counted spins have finite
/// positive ratios, so the total order is the numeric one; rows of one view are all of a kind).
fn by_score(a: &Row, b: &Row) -> Ordering {
    b.points.cmp(&a.points).then(b.ratio().total_cmp(&a.ratio()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(player_id: i32, win: i64, stake: i32, game_id: i32, achieved_us: i64) -> Row {
        Row { player_id, stake, game_id, win, achieved_us, ..Row::default() }
    }

    #[test]
    fn a_players_spin_is_settled_by_ratio_time_stake_then_game() {
        let base = row(1, 100, 10, 5, 1_000);
        assert!(row(1, 110, 10, 5, 2_000).beats(&base), "a better ratio, later");
        assert!(row(1, 100, 10, 5, 999).beats(&base), "the same ratio, earlier");
        assert!(row(1, 200, 20, 5, 1_000).beats(&base), "the same ratio and instant, a larger stake");
        assert!(row(1, 100, 10, 4, 1_000).beats(&base), "then the smaller game");
        assert!(!base.beats(&base));
        assert_eq!(row(1, 1, 3, 1, 0).score(Scoring::BestMultiplier), 1.0 / 3.0, "real division");
    }

    #[test]
    fn players_rank_by_score_then_first_reached_then_id() {
        let a = row(7, 50, 10, 1, 10);
        assert_eq!(a.rank_order(&row(3, 40, 10, 1, 0)), Ordering::Less);
        assert_eq!(a.rank_order(&row(3, 50, 10, 1, 11)), Ordering::Less);
        assert_eq!(a.rank_order(&row(3, 50, 10, 1, 10)), Ordering::Greater, "the smaller id first");
        assert_eq!(a.rank_order(&row(9, 100, 20, 2, 10)), Ordering::Less, "stake does not rank players");
    }

    #[test]
    fn a_row_is_48_bytes() {
        assert_eq!(size_of::<Row>(), 48, "the snapshot's unit of memory, as the docs say");
    }

    #[test]
    fn totals_rank_by_exact_points_then_first_reached_then_id() {
        let total = |player, points, at| Row::total(player, points, (3, 30, 12), at);
        let a = total(7, 5_000_001, 10);
        assert!(a.is_total() && a.counts() && !total(7, 0, 10).counts());
        assert_eq!(a.rank_order(&total(3, 5_000_000, 0)), Ordering::Less, "one millionth decides");
        assert_eq!(a.rank_order(&total(3, 5_000_001, 11)), Ordering::Less);
        assert_eq!(a.rank_order(&total(3, 5_000_001, 10)), Ordering::Greater);
        assert_eq!(a.score(Scoring::TotalMultiplier), 5.000001);
        let entry = serde_json::to_value(a.entry(0, Scoring::TotalWin)).unwrap();
        assert_eq!(entry["score"], 5_000_001.0);
        assert_eq!(
            (entry["spins"].clone(), entry["wagered"].clone(), entry["won"].clone()),
            (3.into(), 30.into(), 12.into())
        );
        assert!(entry.get("win").is_none() && entry.get("gameId").is_none(), "{entry}");
        let spin = serde_json::to_value(row(1, 50, 10, 2, 0).entry(0, Scoring::BestMultiplier)).unwrap();
        assert_eq!(
            (spin["win"].clone(), spin["stake"].clone(), spin["gameId"].clone()),
            (50.into(), 10.into(), 2.into())
        );
        assert!(spin.get("wagered").is_none(), "{spin}");
    }
}
