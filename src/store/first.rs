//! First spins (`max-spins`) on the store, counted once and kept between refreshes. For each
//! campaign's rules, a [`Tally`] of which of every player's spins count and the standings of
//! the whole campaign, as of the spins stored up to a GamePlay rowid. A read brings it up to
//! date with the rows stored since (GamePlay only grows: no row is ever deleted, so they are
//! the rows past that rowid), then answers the whole campaign from it, or a window from the
//! window's own spins, each told counted or not by its player's tally. A refresh costs the
//! spins stored since the last one and the window's, not the campaign's. A spin stored late
//! that would push out one of its player's counted spins (see [`Take::Displaces`]) makes the
//! campaign's spins be counted again, as the first read of a campaign counts them.
//!
//! Memory: at most [`KEPT`] campaigns' rules, the least recently read dropped first; per
//! player of each, a count, a key and a standing.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::{Connection, named_params};

use super::micros;
use super::query::Shape;
use crate::backend::Standings;
use crate::leaderboard::first::{InOrder, Take, Tally, key};
use crate::leaderboard::reduce::Reduce;
use crate::leaderboard::{FirstSpins, LeaderboardQuery, Row, Scoring};

/// How many campaigns' rules are kept counted.
pub const KEPT: usize = 8;
const SPINS: &str = include_str!("../../kql/first-spins.sql");
const STORED_SINCE: &str = include_str!("../../kql/stored-since.sql");

/// What decides which spins count and how they score: the campaign's `[since, until)` in
/// microseconds, its cap, stakes (inclusive), games (sorted) and score.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rules {
    since: i64,
    until: i64,
    max: NonZeroU32,
    stakes: (i32, i32),
    games: Option<Vec<i32>>,
    scoring: Scoring,
}

impl Rules {
    fn of(query: &LeaderboardQuery, first: FirstSpins) -> Self {
        let games = query.games.as_ref().map(|games| {
            let mut games = games.clone();
            games.sort_unstable();
            games.dedup();
            games
        });
        let (since, until) = (micros(first.since), micros(first.until));
        Self { since, until, max: first.max, stakes: query.stakes.range(), games, scoring: query.scoring }
    }

    /// The qualifying spins of `[from, to)` stored in `rows` (rowids `(seen, stored]`, or all).
    fn read(
        &self,
        conn: &Connection,
        (from, to): (i64, i64),
        rows: Option<(i64, i64)>,
        mut each: impl FnMut(Row),
    ) -> rusqlite::Result<()> {
        let games = serde_json::to_string(&self.games).expect("ints serialize");
        let (min_stake, max_stake) = self.stakes;
        let all_games = self.games.is_none();
        let mut statement;
        let mut rows = match rows {
            None => {
                statement = conn.prepare_cached(SPINS)?;
                statement.query(named_params! {
                    ":since": from, ":to": to, ":min_stake": min_stake, ":max_stake": max_stake,
                    ":all_games": all_games, ":games": games,
                })?
            }
            Some((seen, stored)) => {
                statement = conn.prepare_cached(STORED_SINCE)?;
                statement.query(named_params! {
                    ":since": from, ":to": to, ":min_stake": min_stake, ":max_stake": max_stake,
                    ":all_games": all_games, ":games": games, ":seen": seen, ":stored": stored,
                })?
            }
        };
        while let Some(row) = rows.next()? {
            each(Shape::Spin.read(row)?);
        }
        Ok(())
    }
}

/// One campaign's counted spins, as of GamePlay's rows up to `seen`.
#[derive(Debug)]
struct Counted {
    rules: Rules,
    seen: i64,
    tally: Tally,
    /// The whole campaign's standings.
    whole: Reduce,
}

impl Counted {
    /// Counts the campaign's spins stored up to `stored`, in time order.
    fn count(conn: &Connection, rules: Rules, stored: i64) -> rusqlite::Result<Self> {
        let (mut tally, mut whole) = (Tally::new(rules.max), Reduce::new(rules.scoring));
        let mut in_order = InOrder::default();
        let mut take = |spin: &Row| {
            if tally.take(spin) == Take::Counted {
                whole.add(spin);
            }
        };
        rules.read(conn, (rules.since, rules.until), None, |spin| in_order.push(spin, &mut take))?;
        in_order.finish(&mut take);
        Ok(Self { rules, seen: stored, tally, whole })
    }

    /// Takes the spins stored since, up to `stored`, in the spin order: `None` when one of them
    /// displaces a counted spin (the campaign must be counted again).
    fn catch_up(mut self, conn: &Connection, stored: i64) -> rusqlite::Result<Option<Self>> {
        if stored < self.seen {
            return Ok(None);
        }
        let mut arrived = Vec::new();
        let range = (self.rules.since, self.rules.until);
        self.rules.read(conn, range, Some((self.seen, stored)), |spin| arrived.push(spin))?;
        arrived.sort_unstable_by_key(key);
        for spin in &arrived {
            match self.tally.take(spin) {
                Take::Counted => self.whole.add(spin),
                Take::Beyond => {}
                Take::Displaces => return Ok(None),
            }
        }
        self.seen = stored;
        Ok(Some(self))
    }

    /// The standings of `[from, to)` (inside the campaign), unordered.
    fn standings(&self, conn: &Connection, (from, to): (i64, i64)) -> rusqlite::Result<Vec<Row>> {
        if (from, to) == (self.rules.since, self.rules.until) {
            return Ok(self.whole.ranked());
        }
        let (mut window, mut alike) = (Reduce::new(self.rules.scoring), HashMap::default());
        self.rules.read(conn, (from, to), None, |spin| {
            if self.tally.counts(&spin, &mut alike) {
                window.add(&spin);
            }
        })?;
        Ok(window.ranked())
    }
}

type Entry = Arc<Mutex<Option<Counted>>>;

/// The campaigns' counted spins, least recently read first.
#[derive(Debug, Default)]
pub struct Tallies {
    kept: Mutex<Vec<(Rules, Entry)>>,
    /// How many times a campaign's spins were counted whole.
    counted_whole: AtomicU64,
}

impl Tallies {
    /// The entry of `rules`, now the most recently read (made empty if new).
    fn entry(&self, rules: &Rules) -> Entry {
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = match kept.iter().position(|(r, _)| r == rules) {
            Some(at) => kept.remove(at),
            None => (rules.clone(), Entry::default()),
        };
        kept.push(entry.clone());
        if kept.len() > KEPT {
            kept.remove(0);
        }
        entry.1
    }

    /// How many times a campaign's spins were counted whole so far.
    #[cfg(test)]
    pub fn counted_whole(&self) -> u64 {
        self.counted_whole.load(Ordering::Relaxed)
    }
}

/// The standings of a campaign counting only each player's first spins, up to `query.limit`
/// rows with the exact total. Reads of one campaign's rules take their turn; each brings its
/// tally to its own snapshot of the store, so a tally is never ahead of a read. A read that
/// fails (or panics) leaves no tally behind: the next one counts again.
pub fn standings(
    conn: &Connection,
    tallies: &Tallies,
    query: &LeaderboardQuery,
    first: FirstSpins,
) -> rusqlite::Result<Standings> {
    let rules = Rules::of(query, first);
    let range = (micros(query.window.from).max(rules.since), micros(query.window.to).min(rules.until));
    let entry = tallies.entry(&rules);
    let mut kept = entry.lock().unwrap_or_else(PoisonError::into_inner);
    let tx = conn.unchecked_transaction()?;
    let stored: i64 = tx.query_row("SELECT COALESCE(MAX(rowid), 0) FROM GamePlay", [], |r| r.get(0))?;
    let caught_up = match kept.take() {
        Some(counted) => counted.catch_up(&tx, stored)?,
        None => None,
    };
    let counted = match caught_up {
        Some(counted) => counted,
        None => {
            tallies.counted_whole.fetch_add(1, Ordering::Relaxed);
            Counted::count(&tx, rules, stored)?
        }
    };
    let mut rows = if range.0 < range.1 { counted.standings(&tx, range)? } else { Vec::new() };
    *kept = Some(counted);
    tx.finish()?;
    rows.sort_unstable_by(Row::rank_order);
    let total = rows.len() as u64;
    rows.truncate(query.limit as usize);
    Ok(Standings { rows, total, counts: Vec::new() })
}
