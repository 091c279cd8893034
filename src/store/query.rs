//! Reads for the embedded store: a [`LeaderboardQuery`] is answered from its tracked scope, or
//! else from its window's parts (`window`: whole hours, days and weeks of the rollup and raw
//! edges, or all raw spins for a campaign that bounds the stakes), whatever the score; either
//! way the standings are read back capped and counted. (A campaign counting only first spins is
//! read through its tally: `first`.)

use rusqlite::{Connection, Rows};

use super::{scope, window};
use crate::backend::{Changed, Cursor, Standings};
use crate::leaderboard::{LeaderboardQuery, Row};

/// The view's complete standings, up to `query.limit` rows, with the exact total: read from
/// the view's tracked scope when it is one (and then where the read left off, for
/// [`changed_since`]), else from its window's parts. One read transaction, so the scope lookup and its
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
        None => window::standings(&tx, query)?,
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
            // NULL while no counted spin added to the score: no points, not ranked (a changed
            // player's row is read so too).
            let achieved: Option<i64> = row.get(5)?;
            return Ok(Row::total(row.get(0)?, row.get(1)?, sums, achieved.unwrap_or_default()));
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
