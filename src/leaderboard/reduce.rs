//! Standings straight from counted spins: each player's best spin, or their total, by the rules
//! of [`Row`] and [`Scoring`], added one spin at a time (memory per player, not per spin). For
//! the backends that compute in Rust what a query cannot (the embedded store's first spins) and
//! for the engine's in-memory reference backend.

use std::collections::HashMap;

use foldhash::fast::RandomState;

use super::{Row, Scoring};

/// Players' standings as spins are added.
#[derive(Debug)]
pub struct Reduce {
    scoring: Scoring,
    /// Per player (a fast seeded hash: a refresh hashes every counted spin).
    by_player: HashMap<i32, Row, RandomState>,
}

impl Reduce {
    pub fn new(scoring: Scoring) -> Self {
        Self { scoring, by_player: HashMap::default() }
    }

    /// Counts `s`, a spin of a qualifying stake and game (a losing one too: it is one more of
    /// the player's spins, and a best is set only by a winning one).
    pub fn add(&mut self, s: &Row) {
        if !self.scoring.is_total() {
            let best = self.by_player.entry(s.player_id).or_insert(Row { spins: 0, ..*s });
            let spins = best.spins + 1;
            if s.counts() && (!best.counts() || s.beats(best)) {
                *best = *s;
            }
            best.spins = spins;
            return;
        }
        let points = self.scoring.points(s.win, s.stake);
        let empty = Row::total(s.player_id, 0, (0, 0, 0), i64::MIN);
        let total = self.by_player.entry(s.player_id).or_insert(empty);
        (total.points, total.spins) = (total.points.saturating_add(points), total.spins + 1);
        total.wagered = total.wagered.saturating_add(i64::from(s.stake));
        total.win = total.win.saturating_add(s.win.max(0));
        if points > 0 {
            total.achieved_us = total.achieved_us.max(s.achieved_us);
        }
    }

    /// The players who rank, unordered.
    pub fn ranked(&self) -> Vec<Row> {
        self.by_player.values().filter(|s| s.counts()).copied().collect()
    }
}

/// Each player's standing among `spins`, for those who rank, unordered.
pub fn standings(spins: &[Row], scoring: Scoring) -> Vec<Row> {
    let mut reduce = Reduce::new(scoring);
    spins.iter().for_each(|s| reduce.add(s));
    reduce.ranked()
}
