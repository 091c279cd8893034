//! A window's standings on the embedded store, read from its parts ([`Plan`]) and merged by
//! player in one pass: each whole week, day and hour from the Rollup, a bucket at a time in
//! player order (its primary key's: no sort, unless several games' partitions are read), and
//! the raw edges from GamePlay, sorted by player (SQLite spills a sort larger than its cache to a
//! temporary file). As a player's rows pass, their best spin, their counted spins and the sums
//! every total adds up are taken; the player is then scored as the view scores, every ranked
//! player counted and the best `limit` of them kept. Memory: a cursor per part and the rows
//! kept. (Ranked by SQLite instead, every part's rows sorted together by a window function, a
//! week of 100,000 players took five times as long.)

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use rusqlite::{Connection, Rows, named_params};

use super::plan::Plan;
use super::query::Shape;
use super::{ALL_GAMES, micros};
use crate::backend::Standings;
use crate::leaderboard::{LeaderboardQuery, Row, Scoring};

const EDGES: &str = include_str!("../../kql/window-edges.sql");
const BUCKET: &str = include_str!("../../kql/window-bucket.sql");
const SUMS: &str = include_str!("../../kql/window-bucket-sums.sql");
/// How a bucket query reads one partition, and how it reads several.
const ONE: &str = "Partition = :partition";
const SEVERAL: &str = "Partition IN (SELECT value FROM json_each(:partitions))";

/// The view's standings, up to `query.limit` rows in rank order, with the exact total.
pub fn standings(conn: &Connection, query: &LeaderboardQuery) -> rusqlite::Result<Standings> {
    let (from, to) = (micros(query.window.from), micros(query.window.to));
    // The rollup counts every positive stake: a campaign that bounds the stakes is read from its
    // spins (a scan of the window, by the time index).
    let plan = if query.stakes.is_any() { Plan::new(from, to) } else { Plan::raw(from, to) };
    let partitions: Vec<i64> = match &query.games {
        Some(games) => games.iter().map(|&g| i64::from(g)).collect(),
        None => vec![ALL_GAMES],
    };
    let buckets = plan.buckets();
    let (bucket, read) = bucket_query(query.scoring, partitions.len() > 1);
    let mut statements = (0..buckets.len()).map(|_| conn.prepare(&bucket)).collect::<Result<Vec<_>, _>>()?;
    let mut edges = conn.prepare(EDGES)?;
    let (min_stake, max_stake) = query.stakes.range();
    let games = serde_json::to_string(&partitions).expect("ints serialize");
    let mut parts = Vec::with_capacity(buckets.len() + 1);
    let edges = edges.query(named_params! {
        ":raw1_from": plan.raw[0].0, ":raw1_to": plan.raw[0].1,
        ":raw2_from": plan.raw[1].0, ":raw2_to": plan.raw[1].1,
        ":min_stake": min_stake, ":max_stake": max_stake,
        ":all_games": query.games.is_none(), ":games": &games,
    })?;
    // A best multiplier's edge spins are read as its buckets are; a total's add up their sums.
    let spin = if query.scoring.is_total() { Part::spin } else { read };
    parts.push(Part::new(edges, spin)?);
    for (statement, &(span, start)) in statements.iter_mut().zip(&buckets) {
        let rows = match partitions[..] {
            [partition] => statement.query(named_params! {
                ":span": span, ":bucket": start, ":partition": partition,
            })?,
            _ => statement.query(named_params! { ":span": span, ":bucket": start, ":partitions": &games })?,
        };
        parts.push(Part::new(rows, read)?);
    }
    merge(parts, query.scoring, query.limit as usize)
}

/// The query of a Rollup bucket for a view scored by `scoring` (a best spin's columns, or a
/// total's sums), of one partition or of `several` (then sorted by player), and how its rows
/// are read.
fn bucket_query(scoring: Scoring, several: bool) -> (String, Read) {
    let (sql, read): (&str, Read) =
        if scoring.is_total() { (SUMS, Part::sums) } else { (BUCKET, Part::best) };
    debug_assert!(sql.contains(ONE), "{sql}");
    (if several { sql.replace(ONE, SEVERAL) } else { sql.to_owned() }, read)
}

/// One player's row of a part (a spin, or their row of a Rollup bucket): their best spin in it,
/// with its counted spins, and what it adds to each total.
#[derive(Clone, Copy, Default)]
struct Counted {
    best: Row,
    wagered: i64,
    won: i64,
    multiplied: i64,
    last_spin: i64,
    last_won: Option<i64>,
    last_multiplied: Option<i64>,
}

/// How a part's rows are read.
type Read = fn(&rusqlite::Row<'_>) -> rusqlite::Result<Counted>;

/// A part of the window: its rows in player order, and the row it is at.
struct Part<'s> {
    rows: Rows<'s>,
    read: Read,
    head: Option<Counted>,
}

impl<'s> Part<'s> {
    fn new(rows: Rows<'s>, read: Read) -> rusqlite::Result<Self> {
        let mut part = Self { rows, read, head: None };
        part.advance()?;
        Ok(part)
    }

    /// Moves to the next row; the one it was at.
    fn advance(&mut self) -> rusqlite::Result<Option<Counted>> {
        let next = self.rows.next()?.map(self.read).transpose()?;
        Ok(std::mem::replace(&mut self.head, next))
    }

    /// A raw spin (kql/window-edges.sql) of a total's window, adding to each total as
    /// kql/totals.sql says.
    fn spin(row: &rusqlite::Row<'_>) -> rusqlite::Result<Counted> {
        let best = Shape::Best.read(row)?;
        let (time, won) = (best.achieved_us, best.win.max(0));
        let multiplied = Scoring::TotalMultiplier.points(best.win, best.stake);
        Ok(Counted {
            best,
            wagered: i64::from(best.stake),
            won,
            multiplied,
            last_spin: time,
            last_won: (won > 0).then_some(time),
            last_multiplied: (multiplied > 0).then_some(time),
        })
    }

    /// A player's best spin and counted spins in a Rollup bucket (kql/window-bucket.sql), or a
    /// raw spin of a best multiplier's window (kql/window-edges.sql: the same columns).
    fn best(row: &rusqlite::Row<'_>) -> rusqlite::Result<Counted> {
        Ok(Counted { best: Shape::Best.read(row)?, ..Counted::default() })
    }

    /// A player's counted spins and sums in a Rollup bucket (kql/window-bucket-sums.sql).
    fn sums(row: &rusqlite::Row<'_>) -> rusqlite::Result<Counted> {
        Ok(Counted {
            best: Row { player_id: row.get(0)?, spins: row.get(1)?, ..Row::default() },
            wagered: row.get(2)?,
            won: row.get(3)?,
            multiplied: row.get(4)?,
            last_spin: row.get(5)?,
            last_won: row.get(6)?,
            last_multiplied: row.get(7)?,
        })
    }
}

/// Every part's rows merged by player, each player scored by `scoring` from all their rows and
/// offered to the kept rows.
fn merge(mut parts: Vec<Part<'_>>, scoring: Scoring, limit: usize) -> rusqlite::Result<Standings> {
    // The part whose next row has the smallest player id on top.
    let mut next: BinaryHeap<Reverse<(i32, usize)>> = parts
        .iter()
        .enumerate()
        .filter_map(|(at, part)| Some(Reverse((part.head?.best.player_id, at))))
        .collect();
    let mut kept = Kept { limit, worst_first: BinaryHeap::new(), total: 0 };
    let mut player: Option<Player> = None;
    while let Some(Reverse((_, at))) = next.pop() {
        let part = &mut parts[at];
        let row = part.advance()?.expect("a part in the heap is at a row");
        if let Some(following) = part.head {
            next.push(Reverse((following.best.player_id, at)));
        }
        match &mut player {
            Some(mine) if mine.sums.best.player_id == row.best.player_id => mine.add(row),
            _ => kept.offer(player.replace(Player::new(row)).and_then(|p| p.standing(scoring))),
        }
    }
    kept.offer(player.and_then(|p| p.standing(scoring)));
    Ok(kept.standings())
}

/// One player's rows so far: their best winning spin, and their sums (`sums.best`: the first
/// row's, until a winning spin is found).
struct Player {
    won: bool,
    sums: Counted,
}

impl Player {
    fn new(row: Counted) -> Self {
        Self { won: row.best.counts(), sums: row }
    }

    fn add(&mut self, row: Counted) {
        let sums = &mut self.sums;
        if row.best.counts() && (!self.won || row.best.beats(&sums.best)) {
            (sums.best.win, sums.best.stake) = (row.best.win, row.best.stake);
            (sums.best.game_id, sums.best.achieved_us) = (row.best.game_id, row.best.achieved_us);
            self.won = true;
        }
        sums.best.spins = sums.best.spins.saturating_add(row.best.spins);
        sums.wagered = sums.wagered.saturating_add(row.wagered);
        sums.won = sums.won.saturating_add(row.won);
        sums.multiplied = sums.multiplied.saturating_add(row.multiplied);
        sums.last_spin = sums.last_spin.max(row.last_spin);
        sums.last_won = sums.last_won.max(row.last_won);
        sums.last_multiplied = sums.last_multiplied.max(row.last_multiplied);
    }

    /// The player's standing as `scoring` scores them, if they rank.
    fn standing(self, scoring: Scoring) -> Option<Row> {
        let Counted { best, wagered, won, multiplied, last_spin, last_won, last_multiplied } = self.sums;
        let (points, achieved) = match scoring {
            Scoring::BestMultiplier => return self.won.then_some(best),
            Scoring::TotalMultiplier => (multiplied, last_multiplied),
            Scoring::TotalWin => (won, last_won),
            Scoring::TotalStake => (wagered, Some(last_spin)),
            Scoring::Spins => (i64::from(best.spins), Some(last_spin)),
        };
        let total = Row::total(best.player_id, points, (best.spins, wagered, won), achieved?);
        total.counts().then_some(total)
    }
}

/// The ranked players counted, and the best `limit` of them kept (the worst kept on top).
struct Kept {
    limit: usize,
    worst_first: BinaryHeap<Ranked>,
    total: u64,
}

impl Kept {
    fn offer(&mut self, standing: Option<Row>) {
        let Some(row) = standing else { return };
        self.total += 1;
        if self.worst_first.len() < self.limit {
            self.worst_first.push(Ranked(row));
        } else if let Some(mut worst) = self.worst_first.peek_mut()
            && row.rank_order(&worst.0).is_lt()
        {
            *worst = Ranked(row);
        }
    }

    /// The kept rows, in rank order.
    fn standings(self) -> Standings {
        let mut rows: Vec<Row> = self.worst_first.into_vec().into_iter().map(|Ranked(row)| row).collect();
        rows.sort_unstable_by(Row::rank_order);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_of_one_partition_is_read_in_key_order_and_the_edges_by_the_time_index() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(super::super::SCHEMA).unwrap();
        let plan = |sql: &str| -> Vec<String> {
            let mut statement = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            statement.query_map(named_params! {}, |r| r.get(3)).unwrap().map(Result::unwrap).collect()
        };
        for scoring in [Scoring::BestMultiplier, Scoring::TotalWin] {
            let (sql, _) = bucket_query(scoring, false);
            let (several, _) = bucket_query(scoring, true);
            assert!(sql.contains(ONE) && !several.contains(ONE) && several.contains(SEVERAL), "{several}");
            let one = plan(&sql);
            assert!(one.iter().all(|step| !step.contains("TEMP B-TREE")), "{one:?}");
            let key = "PRIMARY KEY (Span=? AND Bucket=? AND Partition=?)";
            assert!(one.iter().any(|step| step.contains(key)), "{one:?}");
            let several = plan(&several);
            assert!(several.iter().any(|step| step.contains(key)), "{several:?}");
        }
        let edges = plan(EDGES);
        let by_time = edges.iter().filter(|step| step.contains("COVERING INDEX GamePlay_by_time")).count();
        assert_eq!(by_time, 2, "{edges:?}");
    }
}
