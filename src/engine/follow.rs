//! A board brought up to date from the players whose standings changed, on a backend that tells
//! them ([`Backend::changed_since`](crate::backend::Backend::changed_since)): each changed
//! player's row is taken out of the held ranking and their new one merged in by rank, so a
//! refresh reads what the new spins changed, not the whole board. Only a ranking that holds
//! every player the view ranks can be brought up to date so (a player past the cap could rise
//! into it unseen).

use std::cmp::Ordering;
use std::sync::Arc;

use super::snapshot::Ranking;
use crate::leaderboard::Row;

/// A held row's new position when it left the board.
const GONE: u32 = u32::MAX;

/// `ranking` with each of `changed` players' standing replaced by its new one (left out if it
/// no longer ranks), in rank order, at most `cap`, and how many players rank in all; indexed
/// from `ranking`'s index in one pass (the held players keep their order by id). `None` when
/// `ranking` does not hold every player the view ranks.
pub fn merge(ranking: &Ranking, mut changed: Vec<Row>, cap: usize) -> Option<Ranking> {
    if !ranking.is_complete() {
        return None;
    }
    if changed.is_empty() && ranking.len() <= cap {
        // The same rows, shared: the refresh then finds the snapshot unchanged at a glance.
        return Some(ranking.clone());
    }
    let mut replaced: Vec<usize> = changed.iter().filter_map(|r| ranking.position(r.player_id)).collect();
    replaced.sort_unstable();
    replaced.dedup();
    changed.retain(Row::counts);
    changed.sort_unstable_by(Row::rank_order);
    let total = ranking.len() - replaced.len() + changed.len();
    // Where each held row went (`GONE`: replaced, or past the cap), and each changed one.
    let mut moved = vec![GONE; ranking.len()];
    let mut placed = Vec::with_capacity(changed.len());
    let mut skip = replaced.into_iter().peekable();
    let mut held =
        ranking.rows().iter().enumerate().filter(|&(at, _)| skip.next_if_eq(&at).is_none()).peekable();
    let mut new = changed.into_iter().peekable();
    // A range mapped has a known length: the rows are written straight into their shared slice
    // (a board-sized vector copied into it cost as much again, most of it in page faults).
    let rows: Arc<[Row]> = (0..total.min(cap))
        .map(|to| {
            let first_new = match (new.peek(), held.peek()) {
                (Some(changed), Some((_, row))) => changed.rank_order(row) == Ordering::Less,
                (changed, _) => changed.is_some(),
            };
            if first_new {
                let row = new.next().expect("peeked");
                placed.push((row.player_id, to as u32));
                row
            } else {
                let (at, row) = held.next().expect("a row for every position up to the total");
                moved[at] = to as u32;
                *row
            }
        })
        .collect();
    placed.sort_unstable();
    let held =
        ranking.by_player().iter().map(|&(id, at)| (id, moved[at as usize])).filter(|&(_, to)| to != GONE);
    let by_player = by_id(rows.len(), held, placed.into_iter());
    Some(Ranking::indexed(rows, by_player, total as u64))
}

/// The `len` pairs of two lists of `(player id, position)` sorted by id, with no id in both, as
/// one sorted list (written in place, as the rows are).
fn by_id(
    len: usize,
    a: impl Iterator<Item = (i32, u32)>,
    b: impl Iterator<Item = (i32, u32)>,
) -> Arc<[(i32, u32)]> {
    let (mut a, mut b) = (a.peekable(), b.peekable());
    (0..len)
        .map(|_| {
            let next = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x.0 < y.0 => a.next(),
                (_, Some(_)) => b.next(),
                _ => a.next(),
            };
            next.expect("as many ids as rows")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn best(player_id: i32, win: i64, stake: i32, achieved_us: i64) -> Row {
        Row { player_id, win, stake, game_id: 1, achieved_us, spins: 1, ..Row::default() }
    }

    fn ranked(rows: impl IntoIterator<Item = Row>) -> Vec<Row> {
        let mut rows: Vec<Row> = rows.into_iter().filter(Row::counts).collect();
        rows.sort_unstable_by(Row::rank_order);
        rows
    }

    fn rows() -> impl Strategy<Value = Vec<Row>> {
        // Few distinct scores and instants: ties on both are common.
        prop::collection::vec((0..40i32, 0..4i64, 1..3i32, 0..3i64), 0..60).prop_map(|spins| {
            let mut by_player = std::collections::BTreeMap::new();
            for (player, win, stake, at) in spins {
                by_player.insert(player, best(player, win, stake, at));
            }
            by_player.into_values().collect()
        })
    }

    proptest! {
        /// Whatever changed, the merged board is the board of the players' new standings,
        /// ranked from scratch.
        #[test]
        fn a_merged_board_is_the_board_ranked_anew(before in rows(), changed in rows(), cap in 1usize..80) {
            let held = ranked(before.iter().copied());
            let ranking = Ranking::new(held.clone().into(), held.len() as u64);
            let mut now: std::collections::BTreeMap<i32, Row> = before.iter().map(|r| (r.player_id, *r)).collect();
            now.extend(changed.iter().map(|r| (r.player_id, *r)));
            let expected = ranked(now.into_values());
            let merged = merge(&ranking, changed, cap).expect("every ranked player is held");
            prop_assert_eq!(merged.total(), expected.len() as u64);
            prop_assert_eq!(&merged.rows()[..], &expected[..expected.len().min(cap)]);
            // Indexed as if anew: every shown player found at their position.
            prop_assert_eq!(&merged, &Ranking::new(merged.rows().clone(), merged.total()));
        }
    }

    #[test]
    fn nothing_changed_shares_the_rows_held() {
        let held = ranked([best(1, 3, 1, 0), best(2, 2, 1, 0)]);
        let ranking = Ranking::new(held.into(), 2);
        let merged = merge(&ranking, vec![], 10).unwrap();
        assert!(Arc::ptr_eq(merged.rows(), ranking.rows()));
        assert_eq!(merged.total(), 2);
    }

    #[test]
    fn nothing_changed_still_holds_to_the_cap() {
        let held = ranked([best(1, 3, 1, 0), best(2, 2, 1, 0)]);
        let ranking = Ranking::new(held.clone().into(), 2);
        let merged = merge(&ranking, vec![], 1).unwrap();
        assert_eq!(&merged.rows()[..], &held[..1]);
        assert_eq!(merged.total(), 2);
        assert_eq!(merged.position(2), None, "a player cut is not found");
    }

    #[test]
    fn a_ranking_past_its_cap_is_not_merged() {
        let held = ranked([best(1, 3, 1, 0), best(2, 2, 1, 0)]);
        let capped = Ranking::new(held.into(), 3);
        assert_eq!(merge(&capped, vec![best(3, 9, 1, 0)], 10), None);
    }

    /// A timing, not run by default (`cargo test --release --lib -- --ignored merge_timing
    /// --nocapture`): 200 changed players merged into boards of 100k and 1M, alternated with the
    /// same board ranked and indexed anew (what a whole read costs the engine), medians of ten
    /// rounds of five; the two agree.
    #[test]
    #[ignore = "a timing: run it in release mode"]
    fn merge_timing() {
        use std::time::{Duration, Instant};
        fn median(mut runs: Vec<Duration>) -> Duration {
            runs.sort();
            runs[runs.len() / 2]
        }
        for n in [100_000i32, 1_000_000] {
            let spread = |p: i32| (i64::from(p) * 7919 % i64::from(n)) as i32; // every id once
            let board = ranked((0..n).map(|p| best(spread(p), i64::from(p % 5000) + 1, 1, i64::from(p))));
            let ranking = Ranking::new(board.clone().into(), n as u64);
            let changed: Vec<Row> =
                (0..200).map(|i| best((i * 4999) % n, i64::from(i) * 13 % 5000 + 1, 1, 5)).collect();
            let anew = || {
                let mut now: std::collections::HashMap<i32, Row> =
                    board.iter().map(|r| (r.player_id, *r)).collect();
                now.extend(changed.iter().map(|r| (r.player_id, *r)));
                let rows = ranked(now.into_values());
                let total = rows.len() as u64;
                Ranking::new(rows.into(), total)
            };
            assert_eq!(merge(&ranking, changed.clone(), n as usize), Some(anew()));
            let (mut merged, mut whole) = (vec![], vec![]);
            for _ in 0..10 {
                let started = Instant::now();
                (0..5).for_each(|_| drop(std::hint::black_box(merge(&ranking, changed.clone(), n as usize))));
                merged.push(started.elapsed() / 5);
                let started = Instant::now();
                (0..5).for_each(|_| drop(std::hint::black_box(anew())));
                whole.push(started.elapsed() / 5);
            }
            println!(
                "{n} players, 200 changed: merged {:?}, ranked anew {:?}",
                median(merged),
                median(whole)
            );
        }
    }
}
