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
//! Memory: a tally per tracked campaign (the catalogue's, through
//! [`EmbeddedStore::track`](super::EmbeddedStore::track)), per player a count, a key and a
//! standing; a read of any other rules counts them for itself and keeps nothing.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::{Connection, named_params};

use super::query::{Shape, last_spin};
use super::scope::{Key, Scope};
use super::{micros, storage};
use crate::backend::{BackendError, Standings};
use crate::leaderboard::first::{InOrder, Take, Tally, key};
use crate::leaderboard::reduce::Reduce;
use crate::leaderboard::{FirstSpins, LeaderboardQuery, Row, Window};

const SPINS: &str = include_str!("../../kql/first-spins.sql");
const STORED_SINCE: &str = include_str!("../../kql/stored-since.sql");

/// What decides which spins count and how they score: the campaign's range, games, stakes and
/// score as a scope's key says them, and its cap.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rules {
    campaign: Key,
    max: NonZeroU32,
}

impl Rules {
    fn of(query: &LeaderboardQuery, first: FirstSpins) -> Self {
        let range = Window { from: first.since, to: first.until };
        let campaign = Key::new(&range, query.games.as_deref(), query.stakes, query.scoring);
        Self { campaign, max: first.max }
    }

    fn of_scope(scope: &Scope) -> Option<Self> {
        let campaign = Key::new(&scope.window, scope.games.as_deref(), scope.stakes, scope.scoring);
        scope.max_spins.map(|max| Self { campaign, max })
    }

    /// The campaign's `[start, end)` in microseconds.
    fn range(&self) -> (i64, i64) {
        (self.campaign.from, self.campaign.to)
    }

    /// The qualifying spins of `[from, to)` stored in `rows` (rowids `(seen, stored]`, or all).
    fn read(
        &self,
        conn: &Connection,
        (from, to): (i64, i64),
        rows: Option<(i64, i64)>,
        mut each: impl FnMut(Row),
    ) -> rusqlite::Result<()> {
        let (games, all_games) = (self.campaign.games_text(), self.campaign.games.is_none());
        let (min_stake, max_stake) = self.campaign.stakes;
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
        let (mut tally, mut whole) = (Tally::new(rules.max), Reduce::new(rules.campaign.scoring));
        let mut in_order = InOrder::default();
        let mut take = |spin: &Row| {
            if tally.take(spin) == Take::Counted {
                whole.add(spin);
            }
        };
        rules.read(conn, rules.range(), None, |spin| in_order.push(spin, &mut take))?;
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
        self.rules.read(conn, self.rules.range(), Some((self.seen, stored)), |spin| arrived.push(spin))?;
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
        if (from, to) == self.rules.range() {
            return Ok(self.whole.ranked());
        }
        let (mut window, mut alike) = (Reduce::new(self.rules.campaign.scoring), HashMap::default());
        self.rules.read(conn, (from, to), None, |spin| {
            if self.tally.counts(&spin, &mut alike) {
                window.add(&spin);
            }
        })?;
        Ok(window.ranked())
    }
}

type Entry = Arc<Mutex<Option<Counted>>>;

/// The tracked campaigns' counted spins.
#[derive(Debug, Default)]
pub struct Tallies {
    kept: Mutex<Vec<(Rules, Entry)>>,
    /// How many times a campaign's spins were counted whole.
    counted_whole: AtomicU64,
}

impl Tallies {
    /// Keeps a tally for exactly the campaigns of `scopes` that count first spins: a new one is
    /// counted at its first read, one left out is dropped.
    pub fn track(&self, scopes: &[Scope]) {
        let wanted: Vec<Rules> = scopes.iter().filter_map(Rules::of_scope).collect();
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        kept.retain(|(rules, _)| wanted.contains(rules));
        for rules in wanted {
            if !kept.iter().any(|(r, _)| *r == rules) {
                kept.push((rules, Entry::default()));
            }
        }
    }

    /// The tally of `rules`, if tracked.
    fn entry(&self, rules: &Rules) -> Option<Entry> {
        let kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        kept.iter().find(|(r, _)| r == rules).map(|(_, entry)| entry.clone())
    }

    /// How many times a campaign's spins were counted whole so far.
    #[cfg(test)]
    pub fn counted_whole(&self) -> u64 {
        self.counted_whole.load(Ordering::Relaxed)
    }
}

/// The standings of a campaign counting only each player's first spins, up to `query.limit`
/// rows with the exact total. Reads of one campaign's rules take their turn, before `connect`
/// gives them a reader (one waiting for its turn holds none); each brings the tally to its own
/// snapshot of the store, so a tally is never ahead of a read. A read that fails (or panics)
/// leaves no tally behind: the next one counts again.
pub fn standings<C: Deref<Target = Connection>>(
    tallies: &Tallies,
    query: &LeaderboardQuery,
    first: FirstSpins,
    connect: impl FnOnce() -> Result<C, BackendError>,
) -> Result<Standings, BackendError> {
    let rules = Rules::of(query, first);
    let (since, until) = rules.range();
    let range = (micros(query.window.from).max(since), micros(query.window.to).min(until));
    // An untracked campaign's tally serves this read only.
    let entry = tallies.entry(&rules).unwrap_or_default();
    let mut kept = entry.lock().unwrap_or_else(PoisonError::into_inner);
    let conn = connect()?;
    let read = || -> rusqlite::Result<Vec<Row>> {
        let tx = conn.unchecked_transaction()?;
        let stored = last_spin(&tx)?;
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
        let rows = if range.0 < range.1 { counted.standings(&tx, range)? } else { Vec::new() };
        *kept = Some(counted);
        tx.finish()?;
        Ok(rows)
    };
    let mut rows = read().map_err(storage)?;
    rows.sort_unstable_by(Row::rank_order);
    let total = rows.len() as u64;
    rows.truncate(query.limit as usize);
    Ok(Standings { rows, total, counts: Vec::new(), cursor: None })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::leaderboard::Scoring;

    /// Reads that wait for their campaign's turn hold no reader: the store's few readers stay free
    /// for every other view while one campaign is counted whole.
    #[test]
    fn a_read_takes_a_reader_only_once_it_has_its_campaigns_turn() {
        let start = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        let window = Window { from: start, to: start + chrono::Duration::days(1) };
        let max = NonZeroU32::new(5).unwrap();
        let first = FirstSpins { max, since: window.from, until: window.to };
        let query = LeaderboardQuery {
            window,
            games: None,
            stakes: Default::default(),
            scoring: Scoring::TotalWin,
            limit: 10,
            counts: vec![],
            first: Some(first),
        };
        let scope = Scope {
            window,
            games: None,
            stakes: Default::default(),
            scoring: query.scoring,
            max_spins: Some(max),
        };
        let tallies = Arc::new(Tallies::default());
        tallies.track(&[scope]);
        let entry = tallies.entry(&Rules::of(&query, first)).expect("tracked");
        let turn = entry.lock().unwrap();
        let (asked, connects) = std::sync::mpsc::channel();
        let reader = std::thread::spawn({
            let tallies = tallies.clone();
            move || {
                standings(&tallies, &query, first, || {
                    asked.send(()).unwrap();
                    let conn = Connection::open_in_memory().unwrap();
                    conn.execute_batch(super::super::SCHEMA).unwrap();
                    Ok(Box::new(conn))
                })
            }
        });
        let waiting = connects.recv_timeout(Duration::from_millis(300));
        assert!(waiting.is_err(), "no reader is taken while another read has the turn");
        drop(turn);
        connects.recv().expect("the reader is taken once the turn is free");
        let read = reader.join().unwrap().unwrap();
        assert_eq!(read.total, 0, "an empty store ranks no one");
        assert!(entry.lock().unwrap().is_some(), "the read left its tally behind");
    }
}
