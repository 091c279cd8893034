//! What a sliding window must remember of each player to forget spins as they leave it: the
//! player's best spin per bucket, kept only where no later bucket beats it. A bucket's best is
//! useless once a later bucket holds a strictly better ratio, since the later one stays in the
//! window at least as long; so each player's entries have non-increasing ratios from the oldest
//! on, the oldest is the player's best, and a player rarely has more than a few.

use std::collections::HashMap;

use smallvec::SmallVec;

use crate::leaderboard::Row;

/// A player's best spin in the bucket labelled `bucket`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub bucket: i64,
    pub row: Row,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stairs {
    players: HashMap<i32, SmallVec<[Entry; 1]>>,
}

impl Stairs {
    /// Sets `row` as its player's best in the bucket `[bucket, end)`, in place of what was known
    /// within that bucket.
    pub fn put(&mut self, bucket: i64, end: i64, row: Row) {
        let entries = self.players.entry(row.player_id).or_default();
        entries.retain(|e| e.bucket < bucket || e.bucket >= end);
        let at = entries.partition_point(|e| e.bucket < bucket);
        let score = row.ratio();
        if entries.get(at).is_some_and(|later| later.row.ratio() > score) {
            return;
        }
        entries.insert(at, Entry { bucket, row });
        let first = entries[..at].iter().rposition(|e| e.row.ratio() >= score).map_or(0, |i| i + 1);
        entries.drain(first..at);
    }

    /// Forgets what every player had within `[from, to)`.
    pub fn clear(&mut self, from: i64, to: i64) {
        self.players.retain(|_, entries| {
            entries.retain(|e| e.bucket < from || e.bucket >= to);
            !entries.is_empty()
        });
    }

    /// Forgets the buckets before `low`, then each player's best from there on.
    pub fn bests(&mut self, low: i64) -> impl Iterator<Item = &Row> {
        self.players.retain(|_, entries| {
            let gone = entries.iter().take_while(|e| e.bucket < low).count();
            entries.drain(..gone);
            !entries.is_empty()
        });
        self.players.values().map(|entries| &entries[0].row)
    }

    pub fn bytes(&self) -> usize {
        let spilled: usize = self.players.values().filter(|e| e.spilled()).map(|e| e.capacity()).sum();
        self.players.capacity() * (size_of::<(i32, SmallVec<[Entry; 1]>)>() + 1)
            + spilled * size_of::<Entry>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(player_id: i32, win: i64, at: i64) -> Row {
        Row { player_id, stake: 1, game_id: 1, win, achieved_us: at, ..Row::default() }
    }

    fn wins(stairs: &Stairs, player: i32) -> Vec<(i64, i64)> {
        stairs.players.get(&player).map_or(vec![], |e| e.iter().map(|e| (e.bucket, e.row.win)).collect())
    }

    #[test]
    fn only_entries_no_later_bucket_beats_are_kept() {
        let mut stairs = Stairs::default();
        stairs.put(0, 10, row(1, 5, 1));
        stairs.put(10, 20, row(1, 7, 11));
        assert_eq!(wins(&stairs, 1), [(10, 7)], "a later, better bucket makes the earlier useless");
        stairs.put(20, 30, row(1, 7, 21));
        stairs.put(30, 40, row(1, 3, 31));
        assert_eq!(wins(&stairs, 1), [(10, 7), (20, 7), (30, 3)], "equal ratios stay: the earlier wins ties");
        stairs.put(0, 10, row(1, 2, 2));
        assert_eq!(wins(&stairs, 1), [(10, 7), (20, 7), (30, 3)], "an earlier, worse bucket is useless");
        stairs.put(30, 40, row(1, 8, 32));
        assert_eq!(wins(&stairs, 1), [(30, 8)], "a bucket read again replaces what it held");
    }

    #[test]
    fn the_oldest_entry_from_low_on_is_the_best() {
        let mut stairs = Stairs::default();
        for (bucket, win) in [(0, 9), (10, 6), (20, 4)] {
            stairs.put(bucket, bucket + 10, row(1, win, bucket + 1));
        }
        stairs.put(0, 10, row(2, 1, 1));
        assert_eq!(stairs.bests(0).map(|r| r.win).max(), Some(9));
        let mut left: Vec<i64> = stairs.bests(10).map(|r| r.win).collect();
        left.sort();
        assert_eq!(left, [6], "player 2 left the window with their only bucket");
        assert_eq!(stairs.players.len(), 1);
        stairs.put(30, 90, row(1, 1, 31));
        stairs.clear(30, 90);
        assert_eq!(wins(&stairs, 1), [(10, 6), (20, 4)]);
    }
}
