//! `max-spins`: a campaign may count only each player's first N qualifying spins of the
//! campaign (from its start, by event time, then the larger stake, the smaller game, the larger
//! win), so that a player cannot grind a race with volume; a window counts those of them inside
//! it. A losing spin qualifies (it is one of the N); its win is taken as 0 in the order, which no
//! score tells apart. Spins of the same key are alike to every score: which of them count does
//! not matter, only how many.

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
    /// Where it ends: the campaign's end (no later spin is counted).
    pub until: DateTime<Utc>,
}

/// A spin's place among its player's spins: time, then the larger stake, the smaller game, the
/// larger win (a losing one as 0).
pub type Key = (i64, i32, i32, i64);

/// The spin order's key of `spin`.
pub fn key(spin: &Row) -> Key {
    (spin.achieved_us, -spin.stake, spin.game_id, -spin.win.max(0))
}

impl FirstSpins {
    /// Among one player's spins, which comes first.
    pub fn order(a: &Row, b: &Row) -> Ordering {
        key(a).cmp(&key(b))
    }

    /// `spins` (every qualifying spin of `[since, to)`, as rows) cut to each player's first
    /// `max`, in player order.
    pub fn keep(self, spins: &mut Vec<Row>) {
        spins.sort_unstable_by_key(|s| (s.player_id, key(s)));
        let mut tally = Tally::new(self.max);
        spins.retain(|s| tally.take(s) == Take::Counted);
    }
}

/// What [`Tally::take`] made of a spin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// It is among its player's first.
    Counted,
    /// Its player's first are all before it (or alike to it).
    Beyond,
    /// It comes before the last of its player's first, who had them all: it would push that one
    /// out, which a tally cannot tell without the player's other spins.
    Displaces,
}

/// Each player's counted spins so far: how many, the last of them in the spin order, and how
/// many counted spins are alike to it.
#[derive(Debug, Clone, Copy)]
struct Taken {
    count: u32,
    last: Key,
    at_last: u32,
}

/// Which of each player's spins count, as spins are taken in the spin order (or, for players
/// still short of the cap, in any order): memory per player, not per spin.
#[derive(Debug, Clone)]
pub struct Tally {
    max: u32,
    /// Per player (a fast seeded hash: a full count hashes every spin).
    players: HashMap<i32, Taken, RandomState>,
}

impl Tally {
    pub fn new(max: NonZeroU32) -> Self {
        Self { max: max.get(), players: HashMap::default() }
    }

    /// Takes `spin`: counted while its player is short of the cap, whatever its place.
    pub fn take(&mut self, spin: &Row) -> Take {
        let key = key(spin);
        let taken = self.players.entry(spin.player_id).or_insert(Taken { count: 0, last: key, at_last: 0 });
        if taken.count < self.max {
            taken.count += 1;
            match key.cmp(&taken.last) {
                Ordering::Greater => (taken.last, taken.at_last) = (key, 1),
                Ordering::Equal => taken.at_last += 1,
                Ordering::Less => {}
            }
            return Take::Counted;
        }
        if key >= taken.last { Take::Beyond } else { Take::Displaces }
    }

    /// Whether `spin`, one of the spins taken, is counted; `alike` holds, per player, how many
    /// spins alike to their last counted one were asked about so far (each of a window's spins
    /// is asked once).
    pub fn counts(&self, spin: &Row, alike: &mut HashMap<i32, u32, RandomState>) -> bool {
        let Some(taken) = self.players.get(&spin.player_id) else { return false };
        if taken.count < self.max {
            return true;
        }
        match key(spin).cmp(&taken.last) {
            Ordering::Less => true,
            Ordering::Greater => false,
            Ordering::Equal => {
                let asked = alike.entry(spin.player_id).or_default();
                *asked += 1;
                *asked <= taken.at_last
            }
        }
    }
}

/// Spins in time order handed on in the spin order: those of one instant are held until the
/// instant is complete.
#[derive(Debug, Default)]
pub struct InOrder {
    instant: Vec<Row>,
}

impl InOrder {
    /// Takes the next spin in time order; `next` gets the spins of each instant once it is
    /// complete, in the spin order.
    pub fn push(&mut self, spin: Row, next: &mut impl FnMut(&Row)) {
        if self.instant.first().is_some_and(|s| s.achieved_us != spin.achieved_us) {
            self.settle(next);
        }
        self.instant.push(spin);
    }

    /// Hands on the last instant.
    pub fn finish(mut self, next: &mut impl FnMut(&Row)) {
        self.settle(next);
    }

    fn settle(&mut self, next: &mut impl FnMut(&Row)) {
        self.instant.sort_unstable_by_key(key);
        self.instant.drain(..).for_each(|s| next(&s));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spin(player_id: i32, at: i64, stake: i32, game_id: i32, win: i64) -> Row {
        Row { player_id, stake, game_id, win, achieved_us: at, ..Row::default() }
    }

    fn first(max: u32) -> FirstSpins {
        let max = NonZeroU32::new(max).unwrap();
        FirstSpins { max, since: DateTime::UNIX_EPOCH, until: DateTime::<Utc>::MAX_UTC }
    }

    #[test]
    fn each_players_first_spins_by_time_then_stake_game_and_win() {
        let mut spins = vec![
            spin(1, 30, 5, 1, 10),
            spin(2, 5, 1, 1, 0),
            spin(1, 10, 5, 2, 10),
            spin(1, 10, 5, 1, 3),
            spin(1, 10, 5, 1, 7),
            spin(2, 6, 1, 1, -4),
            spin(2, 6, 1, 1, 0),
        ];
        first(2).keep(&mut spins);
        let kept: Vec<(i32, i64, i32, i64)> =
            spins.iter().map(|s| (s.player_id, s.achieved_us, s.game_id, s.win)).collect();
        assert_eq!(
            kept[..3],
            [(1, 10, 1, 7), (1, 10, 1, 3), (2, 5, 1, 0)],
            "losing spins count among the first"
        );
        assert_eq!((kept[3].0, kept[3].1), (2, 6), "one of the two alike spins: {kept:?}");
        assert_eq!(kept.len(), 4);
        assert_eq!(
            FirstSpins::order(&spin(1, 1, 9, 1, 0), &spin(1, 1, 3, 1, 50)),
            Ordering::Less,
            "the larger stake first"
        );
    }

    #[test]
    fn a_tally_counts_late_spins_until_the_cap_then_tells_which_would_displace() {
        let mut tally = Tally::new(NonZeroU32::new(2).unwrap());
        assert_eq!(tally.take(&spin(1, 20, 1, 1, 0)), Take::Counted);
        assert_eq!(tally.take(&spin(1, 10, 1, 1, 0)), Take::Counted, "late, but the player was short");
        assert_eq!(tally.take(&spin(1, 30, 1, 1, 0)), Take::Beyond);
        assert_eq!(tally.take(&spin(1, 20, 1, 1, 0)), Take::Beyond, "alike to the last counted");
        assert_eq!(tally.take(&spin(1, 15, 1, 1, 0)), Take::Displaces);
        let mut alike = HashMap::default();
        assert!(tally.counts(&spin(1, 10, 1, 1, 0), &mut alike));
        assert!(tally.counts(&spin(1, 20, 1, 1, 0), &mut alike), "the last counted one");
        assert!(!tally.counts(&spin(1, 20, 1, 1, 0), &mut alike), "its twin is one too many");
        assert!(!tally.counts(&spin(1, 30, 1, 1, 0), &mut alike));
        assert!(!tally.counts(&spin(2, 1, 1, 1, 0), &mut alike), "a player never taken");
    }

    #[test]
    fn in_order_hands_on_each_instant_sorted_by_the_spin_order() {
        let mut order = InOrder::default();
        let mut seen = Vec::new();
        for s in [spin(1, 5, 1, 2, 0), spin(1, 5, 3, 1, 0), spin(2, 7, 1, 1, 9), spin(2, 7, 1, 1, 10)] {
            order.push(s, &mut |s| seen.push((s.achieved_us, s.stake, s.win)));
        }
        assert_eq!(seen, [(5, 3, 0), (5, 1, 0)], "an instant is held until the next begins");
        order.finish(&mut |s| seen.push((s.achieved_us, s.stake, s.win)));
        assert_eq!(seen[2..], [(7, 1, 10), (7, 1, 9)]);
    }
}
