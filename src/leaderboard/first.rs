//! `max-spins`: a campaign may count only each player's first N qualifying spins of the
//! campaign (from its start, by event time, then the larger stake, the smaller game, the larger
//! win), so that a player cannot grind a race with volume; a window counts those of them inside
//! it. A losing spin qualifies (it is one of the N); its win is taken as 0 in the order, which no
//! score tells apart.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::num::NonZeroU32;

use chrono::{DateTime, Utc};
use foldhash::fast::RandomState;

use super::Row;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FirstSpins {
    /// The most spins of a player that count.
    pub max: NonZeroU32,
    /// Where the counting starts: the campaign's start.
    pub since: DateTime<Utc>,
}

impl FirstSpins {
    /// Among one player's spins, which comes first.
    pub fn order(a: &Row, b: &Row) -> Ordering {
        a.achieved_us
            .cmp(&b.achieved_us)
            .then(b.stake.cmp(&a.stake))
            .then(a.game_id.cmp(&b.game_id))
            .then(b.win.max(0).cmp(&a.win.max(0)))
    }

    /// `spins` (every qualifying spin of `[since, to)`, as rows) cut to each player's first
    /// `max`, in player order: a [`Counter`] over them in time order.
    pub fn keep(self, spins: &mut Vec<Row>) {
        spins.sort_by_key(|s| s.achieved_us);
        let (mut counter, mut kept) = (Counter::new(self), Vec::with_capacity(spins.len()));
        for spin in spins.drain(..) {
            counter.push(spin, &mut |s| kept.push(*s));
        }
        counter.finish(&mut |s| kept.push(*s));
        kept.sort_by_key(|s| s.player_id);
        *spins = kept;
    }
}

/// Counts each player's first spins as spins arrive in time order: a count per player, and the
/// spins of the current instant (ordered among themselves once the instant is complete).
#[derive(Debug)]
pub struct Counter {
    first: FirstSpins,
    /// Per player (a fast seeded hash: a refresh hashes every counted spin).
    taken: HashMap<i32, u32, RandomState>,
    instant: Vec<Row>,
}

impl Counter {
    pub fn new(first: FirstSpins) -> Self {
        Self { first, taken: HashMap::default(), instant: Vec::new() }
    }

    /// Takes the next spin in time order; `counted` gets each spin that is among its player's
    /// first, once its instant is complete.
    pub fn push(&mut self, spin: Row, counted: &mut impl FnMut(&Row)) {
        if self.instant.first().is_some_and(|s| s.achieved_us != spin.achieved_us) {
            self.settle(counted);
        }
        self.instant.push(spin);
    }

    /// Settles the last instant.
    pub fn finish(mut self, counted: &mut impl FnMut(&Row)) {
        self.settle(counted);
    }

    fn settle(&mut self, counted: &mut impl FnMut(&Row)) {
        self.instant.sort_by(|a, b| a.player_id.cmp(&b.player_id).then(FirstSpins::order(a, b)));
        for spin in self.instant.drain(..) {
            let taken = self.taken.entry(spin.player_id).or_default();
            if *taken < self.first.max.get() {
                *taken += 1;
                counted(&spin);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spin(player_id: i32, at: i64, stake: i32, game_id: i32, win: i64) -> Row {
        Row { player_id, stake, game_id, win, achieved_us: at, ..Row::default() }
    }

    #[test]
    fn each_players_first_spins_by_time_then_stake_game_and_win() {
        let first = FirstSpins { max: NonZeroU32::new(2).unwrap(), since: DateTime::UNIX_EPOCH };
        let mut spins = vec![
            spin(1, 30, 5, 1, 10),
            spin(2, 5, 1, 1, 0),
            spin(1, 10, 5, 2, 10),
            spin(1, 10, 5, 1, 3),
            spin(1, 10, 5, 1, 7),
            spin(2, 6, 1, 1, -4),
            spin(2, 6, 1, 1, 0),
        ];
        first.keep(&mut spins);
        let kept: Vec<(i32, i64, i32, i64)> =
            spins.iter().map(|s| (s.player_id, s.achieved_us, s.game_id, s.win)).collect();
        assert_eq!(
            kept,
            [(1, 10, 1, 7), (1, 10, 1, 3), (2, 5, 1, 0), (2, 6, 1, -4)],
            "losing spins count among the first"
        );
        assert_eq!(
            FirstSpins::order(&spin(1, 1, 9, 1, 0), &spin(1, 1, 3, 1, 50)),
            Ordering::Less,
            "the larger stake first"
        );
    }
}
