//! What a view remembers between refreshes so that a refresh asks the backend only for what can
//! have changed since the last one, and costs what the new spins cost, not what the view holds.
//!
//! The view's range is cut into buckets (a [`Layout`]): fine ones (10 s for the default 10 min
//! `--late-arrival`) near now and at a sliding window's tail, whole hours elsewhere. Each
//! bucket's count of counted spins is known as of the last read. A refresh watches the open
//! buckets, those within `--late-arrival` of now: one query returns their counts and, for the
//! buckets whose count changed since (new spins, late ones included), each player's best spin in
//! them. The tables are append-only, so an unchanged count means unchanged spins; a smaller one
//! (spins deleted) makes the view load again. Every `--reconcile-every` the sealed buckets are
//! watched too, which catches spins later than `--late-arrival`.
//!
//! A campaign's whole board keeps each player's best (a best merged again is harmless). Every
//! player with a spin in a changed bucket (or one that left a sliding window since the last
//! refresh) is counted again over the whole view, and that count replaces the one held (a count
//! merged again would count twice). A campaign scored by a total recounts its totals so, and
//! replaces them (in a sliding window, a recounted player who no longer ranks leaves it); so does
//! a campaign counting first spins, for every score (a late spin can displace one of a player's
//! first spins, so their standing is computed again from their first spins).
//! A sliding window must also forget spins that leave it: it keeps each player's [`Stairs`] (their
//! best per bucket where no later bucket beats it), reads the spins of its tail (before its first
//! fine boundary) at each refresh, and reads a whole hour again, finely, when the tail enters it.
//! Windows shorter than a fine bucket, and views ranking more players than `--max-standings`, are
//! refreshed by full queries instead.

mod layout;
mod stairs;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::leaderboard::{
    BucketCount, Changes, ChangesQuery, CountRun, FirstSpins, Grain, Recount, Row, Scoring, Segment, Stakes,
    View, Width, Window,
};
use layout::Layout;
use stairs::Stairs;

/// What does not change about a view between refreshes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Geometry {
    pub view: View,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub games: Option<Vec<i32>>,
    pub stakes: Stakes,
    pub scoring: Scoring,
    /// Only each player's first spins count: a player with a new spin is ranked again whole.
    pub first: Option<FirstSpins>,
    pub late: Duration,
    pub reconcile_every: Duration,
    /// The most players the view may rank and still be refreshed incrementally.
    pub cap: usize,
    fine: Width,
    coarse: Width,
}

impl Geometry {
    /// `None` for a window shorter than two fine buckets (a full query of it is as cheap), and
    /// for a window of a campaign counting first spins: a late spin before the window can push
    /// one of a player's counted spins in it out of their first ones, and the window's buckets
    /// would not see it.
    pub fn new(
        view: View,
        (start, end): (DateTime<Utc>, DateTime<Utc>),
        (games, stakes, scoring, first): (Option<Vec<i32>>, Stakes, Scoring, Option<FirstSpins>),
        (late, reconcile_every): (Duration, Duration),
        cap: usize,
    ) -> Option<Self> {
        let fine = Width::at_least(late / 60).max(Width::seconds(10).expect("10 s divides a day"));
        let coarse = fine.max(Width::HOUR);
        if let View::Window(span) = view
            && (first.is_some()
                || span.duration().num_microseconds().unwrap_or(i64::MAX) <= 2 * fine.micros())
        {
            return None;
        }
        Some(Self {
            view,
            start,
            end,
            games,
            stakes,
            scoring,
            first,
            late,
            reconcile_every,
            cap,
            fine,
            coarse,
        })
    }

    /// The view's range at `now`, `[from, to)` in microseconds (as [`View::window`] has it).
    fn range(&self, now: DateTime<Utc>) -> (i64, i64) {
        let window = self
            .view
            .window(self.start, self.end, now)
            .unwrap_or(Window { from: self.start, to: self.start });
        (window.from.timestamp_micros(), window.to.timestamp_micros())
    }

    /// Where the layout starts: once a window slides, the first fine boundary of it (the spins
    /// before are its tail, read at each refresh).
    fn low(&self, from: i64) -> i64 {
        if from > self.start.timestamp_micros() { self.fine.ceil(from) } else { from }
    }

    /// The seal line at `now`: the fine boundary `--late-arrival` before it, within `[low, to]`.
    fn seal(&self, now: DateTime<Utc>, low: i64, to: i64) -> i64 {
        let late = i64::try_from(self.late.as_micros()).unwrap_or(i64::MAX);
        self.fine.floor(now.timestamp_micros().saturating_sub(late)).clamp(low, to.max(low))
    }

    fn slides(&self) -> bool {
        matches!(self.view, View::Window(_))
    }

    /// Whether a recounted player's rows are their whole standing, which replaces theirs, rather
    /// than bests per bucket merged in ([`Recount::whole`]).
    fn replaces(&self) -> bool {
        Recount::whole(self.scoring, self.first)
    }

    fn recount(&self, window: Window) -> Recount {
        Recount { scoring: self.scoring, window, first: self.first }
    }
}

/// A view's memory between refreshes.
#[derive(Debug)]
pub struct Ledger {
    geometry: Geometry,
    layout: Layout,
    /// A campaign's whole board: every player's best, ranked.
    board: Arc<[Row]>,
    /// A sliding window's players (a best multiplier's: a total's board is its players).
    stairs: Option<Stairs>,
    /// A sliding window's ranked players' counted spins in it (a board's rows carry theirs).
    spins: HashMap<i32, u32>,
    /// Where the view started at the last refresh (microseconds): a window's spins before its
    /// start now left it since.
    last_from: i64,
    /// When the sealed buckets were last watched (microseconds; `i64::MIN`: never).
    reconciled_at: i64,
}

/// One refresh's question, and what the answer will be read against.
#[derive(Debug, Clone)]
pub struct Plan {
    pub query: ChangesQuery,
    now: i64,
    from: i64,
    low: i64,
    seal: i64,
    open_from: i64,
    /// The sealed buckets are watched.
    reconcile: bool,
}

/// Why a ledger cannot go on: the view loads again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    /// Spins went missing (deleted), or a sealed bucket changed unseen.
    Changed,
    /// More players than `--max-standings`.
    Capped,
}

impl Ledger {
    /// A ledger whose buckets are laid out at `now` but not read: its first plan reads them all.
    pub fn new(geometry: Geometry, now: DateTime<Utc>) -> Self {
        let (from, to) = geometry.range(now);
        let low = geometry.low(from);
        let seal = geometry.seal(now, low, to);
        let layout = Layout::skeleton(geometry.fine, geometry.coarse, low, seal);
        let stairs = (geometry.slides() && !geometry.replaces()).then(Stairs::default);
        let spins = HashMap::new();
        Self {
            geometry,
            layout,
            board: Arc::from([]),
            stairs,
            spins,
            last_from: from,
            reconciled_at: i64::MIN,
        }
    }

    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// For a campaign's whole board, loaded by a full query: the counts that query carries.
    pub fn count_runs(&self) -> Vec<CountRun> {
        let fine = self.geometry.fine;
        let mut runs: Vec<CountRun> =
            self.layout.runs(i64::MIN).into_iter().map(|(range, width)| CountRun { range, width }).collect();
        let to = self.geometry.end.timestamp_micros();
        if self.layout.sealed_to < to {
            runs.push(CountRun { range: window(self.layout.sealed_to, to), width: fine });
        }
        runs
    }

    /// Starts from a full query's answer: its ranked rows (all of the view's players) and the
    /// counts of [`Ledger::count_runs`].
    pub fn loaded(mut self, rows: Arc<[Row]>, counts: &[BucketCount], now: DateTime<Utc>) -> Self {
        let counts = by_label(counts);
        let labels: Vec<i64> = self.layout.sealed().map(|(label, _)| label).collect();
        for label in labels {
            if let Some(bucket) = self.layout.sealed_mut(label) {
                bucket.spins = counts.get(&label).copied().unwrap_or(0);
            }
        }
        self.layout.set_open(self.layout.sealed_to, &counts);
        self.board = rows;
        self.reconciled_at = now.timestamp_micros();
        self
    }

    /// What to ask at `now`.
    pub fn plan(&self, now: DateTime<Utc>) -> Plan {
        let g = &self.geometry;
        let (from, to) = g.range(now);
        let low = g.low(from).max(self.layout.low);
        let rows = |width| Some(if g.slides() { Grain::Every(width) } else { Grain::Whole });
        let mut segments = Vec::new();
        let mut known = Vec::new();
        if from < low {
            // The tail: spins before the first fine boundary, read at every refresh.
            segments.push(Segment {
                range: window(from, low),
                rows: Some(Grain::Whole),
                counts: None,
                watched: false,
                leaving: false,
            });
        }
        if g.slides() && self.last_from < from {
            // Spins before a window's length ago cannot matter: after a longer pause (a backend
            // outage) every spin still in the window is new, read, and its player recounted.
            let departed = self.last_from.max(from.saturating_sub(to - from));
            segments.push(Segment::leaving(window(departed, from)));
        }
        let mut sealed_from = low;
        if let Some((label, bucket)) = self.layout.straddling(low) {
            // The tail entered a whole hour: its counts fine (the whole hour's, to check that it
            // did not change), and its rows fine unless they are known so already.
            let (rows, range) = if bucket.fine {
                (None, window(label, bucket.end))
            } else {
                (rows(g.fine), window(low, bucket.end))
            };
            segments.push(Segment { range, rows, counts: Some(g.fine), watched: false, leaving: false });
            sealed_from = bucket.end;
        }
        let reconcile = now.timestamp_micros().saturating_sub(self.reconciled_at)
            >= i64::try_from(g.reconcile_every.as_micros()).unwrap_or(i64::MAX);
        if reconcile {
            for (range, width) in self.layout.runs(sealed_from) {
                let (rows, counts) = (rows(width), Some(width));
                segments.push(Segment { range, rows, counts, watched: true, leaving: false });
            }
            known.extend(self.layout.sealed_known(sealed_from));
        }
        let open_from = self.layout.sealed_to.max(low);
        if open_from < to {
            segments.push(Segment {
                range: window(open_from, to),
                rows: rows(g.fine),
                counts: Some(g.fine),
                watched: true,
                leaving: false,
            });
            known.extend(self.layout.open_known(open_from).filter(|k| k.bucket < to));
        }
        let recount = g.recount(window(from, to));
        let query = ChangesQuery { games: g.games.clone(), stakes: g.stakes, segments, known, recount };
        let seal = g.seal(now, low, to);
        Plan { query, now: now.timestamp_micros(), from, low, seal, open_from, reconcile }
    }

    /// Reads the answer to `plan`: the ledger as of now and the view's ranked rows, or why the
    /// view must load again.
    pub fn apply(mut self, plan: &Plan, changes: Changes) -> Result<(Self, Arc<[Row]>), Reload> {
        let counts = by_label(&changes.counts);
        let deleted = plan.query.known.iter().any(|k| counts.get(&k.bucket).copied().unwrap_or(0) < k.spins);
        if deleted {
            return Err(Reload::Changed);
        }
        if let Some((label, bucket)) = self.layout.trim(plan.low) {
            if bucket.fine {
                if counts.range(label..bucket.end).map(|(_, n)| n).sum::<u64>() != bucket.spins {
                    return Err(Reload::Changed);
                }
            } else if let Some(stairs) = &mut self.stairs {
                stairs.clear(label, bucket.end);
            }
            self.layout.refine(plan.low, bucket.end, &counts);
        }
        if plan.reconcile {
            let labels: Vec<i64> =
                self.layout.sealed().map(|(label, _)| label).filter(|&l| l >= plan.low).collect();
            for label in labels {
                let bucket = self.layout.sealed_mut(label).expect("listed");
                if let Some(&spins) = counts.get(&label)
                    && spins != bucket.spins
                {
                    bucket.spins = spins;
                    bucket.fine = bucket.width == self.geometry.fine;
                }
            }
            self.reconciled_at = plan.now;
        }
        self.layout.set_open(plan.open_from, &counts);
        self.last_from = plan.from;
        let board = match self.stairs.take() {
            Some(mut stairs) => {
                let board = self.slide(&mut stairs, plan, &changes);
                self.stairs = Some(stairs);
                board
            }
            None if self.geometry.replaces() => replace(&self.board, &changes),
            None => merge(&self.board, &changes),
        };
        self.layout.seal(plan.seal);
        if board.len() > self.geometry.cap {
            return Err(Reload::Capped);
        }
        self.board = board.clone();
        Ok((self, board))
    }

    /// A sliding window's rows: each player's best from the stairs, or from the tail, with their
    /// counted spins as last counted.
    fn slide(&mut self, stairs: &mut Stairs, plan: &Plan, changes: &Changes) -> Arc<[Row]> {
        let fine = self.geometry.fine.micros();
        let mut tail: HashMap<i32, Row> = HashMap::new();
        for change in &changes.rows {
            if plan.from < plan.low && change.bucket == plan.from {
                tail.insert(change.row.player_id, change.row);
                continue;
            }
            let end = match self.layout.sealed_bucket(change.bucket) {
                Some(bucket) if change.bucket < plan.open_from => bucket.end,
                _ => change.bucket + fine,
            };
            stairs.put(change.bucket, end, change.row);
        }
        // A window held at its campaign's start begins off the fine grid: its first bucket is
        // labelled before `low` (as the backend bins it) and is inside the window all the same.
        let mut rows: Vec<Row> = stairs
            .bests(self.geometry.fine.floor(plan.low))
            .map(|best| match tail.remove(&best.player_id) {
                Some(t) if t.beats(best) => t,
                _ => *best,
            })
            .collect();
        rows.extend(tail.into_values());
        self.spins.extend(changes.counted.iter().map(|c| (c.player_id, c.spins)));
        for row in &mut rows {
            row.spins = self.spins.get(&row.player_id).copied().unwrap_or(0);
        }
        // Only the ranked players' counts are kept: one who ranks again is read, and recounted.
        self.spins = rows.iter().map(|r| (r.player_id, r.spins)).collect();
        rows.sort_unstable_by(Row::rank_order);
        rows.into()
    }

    /// Bytes held, for the engine's memory bound (a campaign's board is its snapshot's rows,
    /// counted there).
    pub fn bytes(&self) -> usize {
        self.layout.bytes()
            + self.stairs.as_ref().map_or(0, Stairs::bytes)
            + self.spins.capacity() * (size_of::<(i32, u32)>() + 1)
    }
}

/// `board` with every player's best merged with the rows read, and the recounted players'
/// counted spins: unchanged players keep their order, the changed ones are ranked and merged in.
fn merge(board: &Arc<[Row]>, changes: &Changes) -> Arc<[Row]> {
    let spins: HashMap<i32, u32> = changes.counted.iter().map(|c| (c.player_id, c.spins)).collect();
    let counted = |row: &Row| Row { spins: spins.get(&row.player_id).copied().unwrap_or(row.spins), ..*row };
    let mut best: HashMap<i32, Row> = HashMap::with_capacity(changes.rows.len());
    for change in &changes.rows {
        let row = change.row;
        best.entry(row.player_id)
            .and_modify(|b| {
                if row.beats(b) {
                    *b = row
                }
            })
            .or_insert(row);
    }
    if best.is_empty() && spins.is_empty() {
        return board.clone();
    }
    let mut kept = Vec::with_capacity(board.len() + best.len());
    for row in board.iter() {
        match best.get(&row.player_id) {
            Some(new) if !new.beats(row) => {
                best.remove(&row.player_id);
                kept.push(counted(row));
            }
            Some(_) => {}
            None => kept.push(counted(row)),
        }
    }
    interleave(kept, best.values().map(counted).collect())
}

/// `board` with each recounted player's total in place of what it held, and without the
/// recounted players who no longer rank: unchanged players keep their order, the recounted ones
/// are ranked and merged in.
fn replace(board: &Arc<[Row]>, changes: &Changes) -> Arc<[Row]> {
    let recounted: HashMap<i32, Row> = changes.rows.iter().map(|c| (c.row.player_id, c.row)).collect();
    let gone: std::collections::HashSet<i32> = changes.counted.iter().map(|c| c.player_id).collect();
    if recounted.is_empty() && gone.is_empty() {
        return board.clone();
    }
    let kept = board
        .iter()
        .filter(|r| !recounted.contains_key(&r.player_id) && !gone.contains(&r.player_id))
        .copied()
        .collect();
    interleave(kept, recounted.into_values().collect())
}

/// Ranked `kept` rows and unordered `changed` ones (of other players), merged in rank order.
fn interleave(kept: Vec<Row>, mut changed: Vec<Row>) -> Arc<[Row]> {
    changed.sort_unstable_by(Row::rank_order);
    let mut merged = Vec::with_capacity(kept.len() + changed.len());
    let (mut a, mut b) = (kept.into_iter().peekable(), changed.into_iter().peekable());
    while let (Some(x), Some(y)) = (a.peek(), b.peek()) {
        merged.push(if x.rank_order(y).is_le() { a.next() } else { b.next() }.expect("peeked"));
    }
    merged.extend(a);
    merged.extend(b);
    merged.into()
}

fn by_label(counts: &[BucketCount]) -> BTreeMap<i64, u64> {
    let mut by_label = BTreeMap::new();
    for count in counts {
        *by_label.entry(count.bucket).or_insert(0) += count.spins;
    }
    by_label
}

fn window(from: i64, to: i64) -> Window {
    let at = |us| DateTime::from_timestamp_micros(us).expect("a valid instant");
    Window { from: at(from), to: at(to) }
}
