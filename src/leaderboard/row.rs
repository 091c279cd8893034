//! A standing as every backend returns it and every snapshot holds it: the spin that set a
//! player's score, in the GamePlay columns' own widths (32 bytes); the score is derived. Also the
//! two orders the ranking is made of: which of a player's spins sets their score, and how
//! players rank against each other.

use std::cmp::Ordering;

use chrono::DateTime;

use super::{Entry, Standing};

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
    /// `win / stake`, real division (IEEE, as every backend's answer is read back).
    pub fn score(&self) -> f64 {
        self.win as f64 / f64::from(self.stake)
    }

    /// Whether this spin counts at all: a losing spin or a zero or negative stake never does.
    pub fn counts(&self) -> bool {
        self.win > 0 && self.stake > 0
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

    /// The served entry at 0-based `position`.
    pub fn entry(&self, position: usize) -> Entry {
        Entry {
            rank: position as u32 + 1,
            standing: Standing {
                player_id: self.player_id,
                score: self.score(),
                win: self.win,
                stake: self.stake,
                game_id: self.game_id,
                achieved_at: DateTime::from_timestamp_micros(self.achieved_us)
                    .expect("stored from a valid instant"),
            },
            prize: None,
        }
    }
}

/// Higher scores first. Counted spins have finite positive scores, so the total order is the
/// numeric one.
fn by_score(a: &Row, b: &Row) -> Ordering {
    b.score().total_cmp(&a.score())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(player_id: i32, win: i64, stake: i32, game_id: i32, achieved_us: i64) -> Row {
        Row { player_id, stake, game_id, win, achieved_us }
    }

    #[test]
    fn a_players_spin_is_settled_by_ratio_time_stake_then_game() {
        let base = row(1, 100, 10, 5, 1_000);
        assert!(row(1, 110, 10, 5, 2_000).beats(&base), "a better ratio, later");
        assert!(row(1, 100, 10, 5, 999).beats(&base), "the same ratio, earlier");
        assert!(row(1, 200, 20, 5, 1_000).beats(&base), "the same ratio and instant, a larger stake");
        assert!(row(1, 100, 10, 4, 1_000).beats(&base), "then the smaller game");
        assert!(!base.beats(&base));
        assert_eq!(row(1, 1, 3, 1, 0).score(), 1.0 / 3.0, "real division");
    }

    #[test]
    fn players_rank_by_score_then_first_reached_then_id() {
        let a = row(7, 50, 10, 1, 10);
        assert_eq!(a.rank_order(&row(3, 40, 10, 1, 0)), Ordering::Less);
        assert_eq!(a.rank_order(&row(3, 50, 10, 1, 11)), Ordering::Less);
        assert_eq!(a.rank_order(&row(3, 50, 10, 1, 10)), Ordering::Greater, "the smaller id first");
        assert_eq!(a.rank_order(&row(9, 100, 20, 2, 10)), Ordering::Less, "stake does not rank players");
    }
}
