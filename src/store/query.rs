//! Reads for the embedded store: a [`LeaderboardQuery`] is answered from its tracked scope, or
//! else turned into the parameters of `kql/leaderboard.sql` (the window cut into raw edges and
//! whole hours, days and weeks, or all raw spins for a campaign that bounds the stakes) or, for
//! a score that is a total, of `kql/totals.sql` (the window's raw spins); either way the
//! standings are read back capped and counted. (A campaign counting only first spins is read
//! through its tally: `first`.)

use rusqlite::{Connection, Rows, named_params};

use super::{ALL_GAMES, DAY, HOUR, WEEK, micros, scope};
use crate::backend::{Changed, Cursor, Standings};
use crate::leaderboard::{LeaderboardQuery, Row};

const LEADERBOARD: &str = include_str!("../../kql/leaderboard.sql");
pub(super) const TOTALS: &str = include_str!("../../kql/totals.sql");

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
    fn raw(from: i64, to: i64) -> Self {
        Self { raw: [(from, to), EMPTY], hours: [EMPTY; 2], days: [EMPTY; 2], weeks: EMPTY }
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

/// The view's complete standings, up to `query.limit` rows, with the exact total: read from
/// the view's tracked scope when it is one (and then where the read left off, for
/// [`changed_since`]), else from the rollup. One read transaction, so the scope lookup and its
/// rows come from the same snapshot.
pub fn run(conn: &Connection, query: &LeaderboardQuery) -> rusqlite::Result<Standings> {
    let tx = conn.unchecked_transaction()?;
    let total = query.scoring.is_total();
    let standings = match scope::lookup(&tx, query)? {
        Some(id) => {
            let ranked = if total { scope::TOTAL_STANDINGS } else { scope::STANDINGS };
            let mut standings = collect(tx.prepare_cached(ranked)?.query([id])?, query.limit)?;
            standings.cursor = Some(Cursor { scope: id, seen: last_spin(&tx)? });
            standings
        }
        None if total => totals(&tx, query)?,
        None => rollup(&tx, query)?,
    };
    tx.finish()?;
    Ok(standings)
}

/// The players of the view's tracked scope whose rows changed since `since`, as they are now;
/// `None` when the view is not that scope any more (the catalogue changed it), or when more
/// players changed than the query's limit (a backlog caught up): the whole read keeps that many
/// rows, and so does this one.
pub fn changed_since(
    conn: &Connection,
    query: &LeaderboardQuery,
    since: Cursor,
) -> rusqlite::Result<Option<Changed>> {
    let tx = conn.unchecked_transaction()?;
    if scope::lookup(&tx, query)? != Some(since.scope) {
        return Ok(None);
    }
    // In the same read as the rows: a spin stored after it is in the next one.
    let seen = last_spin(&tx)?;
    let changed = if query.scoring.is_total() { scope::TOTAL_CHANGED } else { scope::CHANGED };
    let changed = collect(tx.prepare_cached(changed)?.query([since.scope, since.seen])?, query.limit)?;
    tx.finish()?;
    let complete = changed.total == changed.rows.len() as u64;
    Ok(complete.then_some(Changed { rows: changed.rows, cursor: Cursor { scope: since.scope, seen } }))
}

/// The rowid of the last spin stored (0 for none): every scope row it changed is in this read.
pub(super) fn last_spin(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT COALESCE(MAX(rowid), 0) FROM GamePlay", [], |row| row.get(0))
}

fn rollup(conn: &Connection, query: &LeaderboardQuery) -> rusqlite::Result<Standings> {
    let (from, to) = (micros(query.window.from), micros(query.window.to));
    // The rollup keeps each player's best spin whatever its stake: a campaign that bounds the
    // stakes is read from its spins (a scan of the window, by the time index).
    let plan = if query.stakes.is_any() { Plan::new(from, to) } else { Plan::raw(from, to) };
    let (min_stake, max_stake) = query.stakes.range();
    let partitions: Vec<i64> = match &query.games {
        Some(games) => games.iter().map(|&g| i64::from(g)).collect(),
        None => vec![ALL_GAMES],
    };
    let partitions = serde_json::to_string(&partitions).expect("ints serialize");
    let mut statement = conn.prepare_cached(LEADERBOARD)?;
    let rows = statement.query(named_params! {
        ":week": WEEK, ":day": DAY, ":hour": HOUR,
        ":weeks_from": plan.weeks.0, ":weeks_to": plan.weeks.1,
        ":days1_from": plan.days[0].0, ":days1_to": plan.days[0].1,
        ":days2_from": plan.days[1].0, ":days2_to": plan.days[1].1,
        ":hours1_from": plan.hours[0].0, ":hours1_to": plan.hours[0].1,
        ":hours2_from": plan.hours[1].0, ":hours2_to": plan.hours[1].1,
        ":raw1_from": plan.raw[0].0, ":raw1_to": plan.raw[0].1,
        ":raw2_from": plan.raw[1].0, ":raw2_to": plan.raw[1].1,
        ":all_games": query.games.is_none(), ":partitions": partitions,
        ":min_stake": min_stake, ":max_stake": max_stake,
    })?;
    collect(rows, query.limit)
}

/// A total's standings from the window's raw spins (a scan of the window, by the time index).
fn totals(conn: &Connection, query: &LeaderboardQuery) -> rusqlite::Result<Standings> {
    let (min_stake, max_stake) = query.stakes.range();
    let games = serde_json::to_string(&query.games).expect("ints serialize");
    let mut statement = conn.prepare_cached(TOTALS)?;
    let rows = statement.query(named_params! {
        ":from": micros(query.window.from), ":to": micros(query.window.to),
        ":min_stake": min_stake, ":max_stake": max_stake,
        ":all_games": query.games.is_none(), ":games": games, ":scoring": scope::code(query.scoring),
    })?;
    collect(rows, query.limit)
}

/// Reads ranked rows up to `limit` and counts all: best spins (PlayerID, Win, Stake, GameID,
/// EventTime) or totals (PlayerID, Points, Counted, Wagered, Won, AchievedAt).
fn collect(mut rows: Rows<'_>, limit: u32) -> rusqlite::Result<Standings> {
    let limit = limit as usize;
    let shape = rows.as_ref().map_or(Shape::Spin, Shape::of);
    let mut standings = Standings::default();
    while let Some(row) = rows.next()? {
        standings.total += 1;
        if standings.rows.len() < limit {
            standings.rows.push(shape.read(row)?);
        }
    }
    Ok(standings)
}

/// The rows of one of the store's answers, told once per statement (not per row).
#[derive(Debug, Clone, Copy)]
pub(super) enum Shape {
    /// `PlayerID, Points, Counted, Wagered, Won, AchievedAt`.
    Total,
    /// `PlayerID, Win, Stake, GameID, EventTime, <counted spins>`: a player's best spin.
    Best,
    /// `PlayerID, Win, Stake, GameID, EventTime`: one spin.
    Spin,
}

impl Shape {
    fn of(statement: &rusqlite::Statement<'_>) -> Self {
        match (statement.column_name(1), statement.column_count()) {
            (Ok("Points"), _) => Self::Total,
            (_, 6) => Self::Best,
            _ => Self::Spin,
        }
    }

    pub(super) fn read(self, row: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
        if let Self::Total = self {
            let sums = (row.get(2)?, row.get(3)?, row.get(4)?);
            return Ok(Row::total(row.get(0)?, row.get(1)?, sums, row.get(5)?));
        }
        Ok(Row {
            player_id: row.get(0)?,
            win: row.get(1)?,
            stake: row.get(2)?,
            game_id: row.get(3)?,
            achieved_us: row.get(4)?,
            spins: if let Self::Best = self { row.get(5)? } else { 0 },
            ..Row::default()
        })
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
}
