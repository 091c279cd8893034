//! Standings straight from counted spins: each player's best spin, or their total, by the rules
//! of [`Row`] and [`Scoring`]. For the backends that compute in Rust what a query cannot (the
//! embedded store's first spins) and for the engine's in-memory reference backend.

use std::collections::BTreeMap;

use super::{Row, Scoring};

/// Each player's standing among `spins` (every spin of a qualifying stake and game; a best
/// counts only the winning ones), for those who rank, unordered.
pub fn standings(spins: &[Row], scoring: Scoring) -> Vec<Row> {
    let mut by_player: BTreeMap<i32, Row> = BTreeMap::new();
    for s in spins {
        if !scoring.is_total() {
            if s.counts() {
                let best = by_player.entry(s.player_id).or_insert(*s);
                if s.beats(best) {
                    *best = *s;
                }
            }
            continue;
        }
        let points = scoring.points(s.win, s.stake);
        let total = by_player.entry(s.player_id).or_insert(Row::total(s.player_id, 0, (0, 0, 0), i64::MIN));
        (total.points, total.spins) = (total.points.saturating_add(points), total.spins + 1);
        total.wagered += i64::from(s.stake);
        total.win = total.win.saturating_add(s.win.max(0));
        if points > 0 {
            total.achieved_us = total.achieved_us.max(s.achieved_us);
        }
    }
    by_player.into_values().filter(Row::counts).collect()
}
