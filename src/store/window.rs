//! A window's standings on the embedded store, read from its parts ([`Plan`]) and merged by
//! player in one pass: each whole week, day and hour from the Rollup, a bucket at a time in
//! player order (its primary key's: no sort, unless several games' partitions are read), and
//! the raw edges from GamePlay, sorted by player (SQLite spills a sort larger than its cache to a
//! temporary file). A player's best spin and counted spins are taken as their rows pass; every
//! ranked player is counted and the best `limit` of them kept. Memory: a cursor per part and the
//! rows kept. (Ranked by SQLite instead, every part's rows sorted together by a window function,
//! a week of 100,000 players took five times as long.)

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use rusqlite::{Connection, Rows, named_params};

use super::query::Shape;
use super::{ALL_GAMES, DAY, HOUR, WEEK, micros};
use crate::backend::Standings;
use crate::leaderboard::{LeaderboardQuery, Row};

const EDGES: &str = include_str!("../../kql/window-edges.sql");
const BUCKET: &str = include_str!("../../kql/window-bucket.sql");
const BUCKET_OF_GAMES: &str = include_str!("../../kql/window-bucket-games.sql");

/// The view's standings, up to `query.limit` rows in rank order, with the exact total.
pub fn standings(conn: &Connection, query: &LeaderboardQuery) -> rusqlite::Result<Standings> {
    let (from, to) = (micros(query.window.from), micros(query.window.to));
    // The rollup keeps each player's best spin whatever its stake: a campaign that bounds the
    // stakes is read from its spins (a scan of the window, by the time index).
    let plan = if query.stakes.is_any() { Plan::new(from, to) } else { Plan::raw(from, to) };
    let partitions: Vec<i64> = match &query.games {
        Some(games) => games.iter().map(|&g| i64::from(g)).collect(),
        None => vec![ALL_GAMES],
    };
    let buckets = plan.buckets();
    let bucket = if let [_] = partitions[..] { BUCKET } else { BUCKET_OF_GAMES };
    let mut statements = (0..buckets.len()).map(|_| conn.prepare(bucket)).collect::<Result<Vec<_>, _>>()?;
    let mut edges = conn.prepare(EDGES)?;
    let (min_stake, max_stake) = query.stakes.range();
    let games = serde_json::to_string(&partitions).expect("ints serialize");
    let mut parts = Vec::with_capacity(buckets.len() + 1);
    parts.push(edges.query(named_params! {
        ":raw1_from": plan.raw[0].0, ":raw1_to": plan.raw[0].1,
        ":raw2_from": plan.raw[1].0, ":raw2_to": plan.raw[1].1,
        ":min_stake": min_stake, ":max_stake": max_stake,
        ":all_games": query.games.is_none(), ":games": &games,
    })?);
    for (statement, &(span, start)) in statements.iter_mut().zip(&buckets) {
        parts.push(match partitions[..] {
            [partition] => statement.query(named_params! {
                ":span": span, ":bucket": start, ":partition": partition,
            })?,
            _ => statement.query(named_params! { ":span": span, ":bucket": start, ":partitions": &games })?,
        });
    }
    merge(parts, query.limit as usize)
}

/// Every part's rows merged by player: each player's best winning spin, with the spins of all
/// their rows counted, offered to the kept rows.
fn merge(parts: Vec<Rows<'_>>, limit: usize) -> rusqlite::Result<Standings> {
    let mut parts: Vec<(Rows<'_>, Option<Row>)> = parts.into_iter().map(|rows| (rows, None)).collect();
    // The part whose next row has the smallest player id on top.
    let mut next = BinaryHeap::with_capacity(parts.len());
    for (at, (rows, head)) in parts.iter_mut().enumerate() {
        *head = read(rows)?;
        if let Some(row) = head {
            next.push(Reverse((row.player_id, at)));
        }
    }
    let mut kept = Kept { limit, worst_first: BinaryHeap::new(), total: 0 };
    let mut player: Option<Player> = None;
    while let Some(Reverse((_, at))) = next.pop() {
        let (rows, head) = &mut parts[at];
        let row = head.take().expect("a part in the heap holds a row");
        *head = read(rows)?;
        if let Some(following) = head {
            next.push(Reverse((following.player_id, at)));
        }
        match &mut player {
            Some(mine) if mine.id == row.player_id => mine.add(row),
            _ => kept.offer(player.replace(Player::new(row))),
        }
    }
    kept.offer(player);
    Ok(kept.standings())
}

fn read(rows: &mut Rows<'_>) -> rusqlite::Result<Option<Row>> {
    rows.next()?.map(|row| Shape::Best.read(row)).transpose()
}

/// One player's rows so far: their best winning spin, and how many spins all of them count.
struct Player {
    id: i32,
    best: Option<Row>,
    spins: u32,
}

impl Player {
    fn new(row: Row) -> Self {
        let mut player = Self { id: row.player_id, best: None, spins: 0 };
        player.add(row);
        player
    }

    fn add(&mut self, row: Row) {
        self.spins = self.spins.saturating_add(row.spins);
        if row.counts() && self.best.is_none_or(|best| row.beats(&best)) {
            self.best = Some(row);
        }
    }
}

/// The ranked players counted, and the best `limit` of them kept (the worst kept on top).
struct Kept {
    limit: usize,
    worst_first: BinaryHeap<Ranked>,
    total: u64,
}

impl Kept {
    fn offer(&mut self, player: Option<Player>) {
        let Some(row) = player.and_then(|p| p.best.map(|best| Row { spins: p.spins, ..best })) else {
            return;
        };
        self.total += 1;
        if self.worst_first.len() < self.limit {
            self.worst_first.push(Ranked(row));
        } else if let Some(mut worst) = self.worst_first.peek_mut()
            && row.rank_order(&worst.0).is_lt()
        {
            *worst = Ranked(row);
        }
    }

    fn standings(self) -> Standings {
        let rows = self.worst_first.into_sorted_vec().into_iter().map(|Ranked(row)| row).collect();
        Standings { rows, total: self.total, ..Standings::default() }
    }
}

/// A row ordered as the board ranks it (players are distinct, so no two are equal).
struct Ranked(Row);

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.rank_order(&other.0)
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Ranked {}

/// `[from, to)` in microseconds; empty when `from >= to`.
type Range = (i64, i64);
const EMPTY: Range = (0, 0);

/// Which parts of the window each source covers; together they tile `[from, to)` exactly:
/// raw edges shorter than an hour, then up to two runs of hours, of days, and one of weeks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub raw: [Range; 2],
    pub hours: [Range; 2],
    pub days: [Range; 2],
    pub weeks: Range,
}

fn floor(t: i64, span: i64) -> i64 {
    t.div_euclid(span) * span
}

fn ceil(t: i64, span: i64) -> i64 {
    -floor(-t, span)
}

/// Splits `[from, to)` into its whole `span`s in the middle and the edges on either side;
/// `None` when no whole span fits.
fn split(from: i64, to: i64, span: i64) -> Option<([Range; 2], Range)> {
    let (inner_from, inner_to) = (ceil(from, span), floor(to, span));
    (inner_from < inner_to).then_some(([(from, inner_from), (inner_to, to)], (inner_from, inner_to)))
}

impl Plan {
    /// All of `[from, to)` from raw spins.
    pub fn raw(from: i64, to: i64) -> Self {
        Self { raw: [(from, to), EMPTY], hours: [EMPTY; 2], days: [EMPTY; 2], weeks: EMPTY }
    }

    /// The Rollup buckets the plan reads, as (span, start): each whole week, day and hour.
    fn buckets(&self) -> Vec<(i64, i64)> {
        let runs = [(WEEK, self.weeks), (DAY, self.days[0]), (DAY, self.days[1])];
        let runs = runs.into_iter().chain([(HOUR, self.hours[0]), (HOUR, self.hours[1])]);
        let starts =
            |(span, (from, to)): (i64, Range)| (from..to).step_by(span as usize).map(move |at| (span, at));
        runs.flat_map(starts).collect()
    }

    pub fn new(from: i64, to: i64) -> Self {
        let mut plan = Self::raw(from, to);
        let Some((raw, hours)) = split(from, to, HOUR) else { return plan };
        (plan.raw, plan.hours) = (raw, [hours, EMPTY]);
        let Some((hours, days)) = split(hours.0, hours.1, DAY) else { return plan };
        (plan.hours, plan.days) = (hours, [days, EMPTY]);
        let Some((days, weeks)) = split(days.0, days.1, WEEK) else { return plan };
        (plan.days, plan.weeks) = (days, weeks);
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000_000;

    fn covered(plan: &Plan) -> Vec<Range> {
        let all = plan.raw.iter().chain(&plan.hours).chain(&plan.days).chain([&plan.weeks]);
        let mut parts: Vec<Range> = all.copied().filter(|(a, b)| a < b).collect();
        parts.sort();
        parts
    }

    #[test]
    fn plans_tile_the_window_exactly() {
        let day0 = 20_000 * DAY;
        for (from, to) in [
            (day0 + 5 * MIN, day0 + 20 * MIN),
            (day0 + 5 * MIN, day0 + 3 * HOUR + 1),
            (day0 - 7 * MIN, day0 + 5 * DAY + 2 * HOUR + 3),
            (day0, day0 + 2 * DAY),
            (-DAY - 1, DAY + 1),
            (5 * WEEK - 3 * HOUR - 1, 9 * WEEK + 4 * DAY + 1),
        ] {
            let parts = covered(&Plan::new(from, to));
            assert_eq!(parts.first().unwrap().0, from);
            assert_eq!(parts.last().unwrap().1, to);
            assert!(parts.windows(2).all(|w| w[0].1 == w[1].0), "contiguous: {parts:?}");
        }
        let plan = Plan::new(day0 - 7 * MIN, day0 + 5 * DAY + 2 * HOUR + 3);
        assert_eq!(
            plan.raw,
            [(day0 - 7 * MIN, day0), (day0 + 5 * DAY + 2 * HOUR, day0 + 5 * DAY + 2 * HOUR + 3)]
        );
        assert_eq!(plan.hours, [(day0, day0), (day0 + 5 * DAY, day0 + 5 * DAY + 2 * HOUR)]);
        assert_eq!(plan.days, [(day0, day0 + 5 * DAY), EMPTY]);
        let week0 = 3000 * WEEK;
        let plan = Plan::new(week0 - 2 * DAY - 1, week0 + 3 * WEEK + DAY + HOUR);
        assert_eq!(plan.weeks, (week0, week0 + 3 * WEEK));
        assert_eq!(plan.days, [(week0 - 2 * DAY, week0), (week0 + 3 * WEEK, week0 + 3 * WEEK + DAY)]);
        let last_hour = (week0 + 3 * WEEK + DAY, week0 + 3 * WEEK + DAY + HOUR);
        assert_eq!(plan.hours, [(week0 - 2 * DAY, week0 - 2 * DAY), last_hour]);
    }

    #[test]
    fn a_bucket_of_one_partition_is_read_in_key_order_and_the_edges_by_the_time_index() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(super::super::SCHEMA).unwrap();
        let plan = |sql: &str| -> Vec<String> {
            let mut statement = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            statement.query_map(named_params! {}, |r| r.get(3)).unwrap().map(Result::unwrap).collect()
        };
        let bucket = plan(BUCKET);
        assert!(bucket.iter().all(|step| !step.contains("TEMP B-TREE")), "{bucket:?}");
        assert!(bucket.iter().any(|step| step.contains("PRIMARY KEY (Span=? AND Bucket=? AND Partition=?)")));
        let of_games = plan(BUCKET_OF_GAMES);
        assert!(
            of_games.iter().any(|step| step.contains("PRIMARY KEY (Span=? AND Bucket=? AND Partition=?)"))
        );
        let edges = plan(EDGES);
        let by_time = edges.iter().filter(|step| step.contains("COVERING INDEX GamePlay_by_time")).count();
        assert_eq!(by_time, 2, "{edges:?}");
    }
}
