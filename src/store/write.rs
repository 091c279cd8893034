//! Writes to the embedded store: a batch of spins goes into GamePlay and, for winning spins,
//! into the Rollup partitions of their hour, day and week (for their game and for all games),
//! each keeping each player's best spin; and into every tracked scope counting them (a best
//! spin's scope keeps the best, a total's adds every counted spin, losing ones too).
//! One transaction per call, so what a call stores is stored whole or not at all.

use rusqlite::{Connection, OptionalExtension, params};

use super::consumed::{self, Consumed};
use super::scope::{self, Scope, Tracked};
use super::{ALL_GAMES, LEVELS, micros};
use crate::events::Spin;

/// The derived tables' version (Meta 'schema'); a store holding another is rebuilt at open.
/// 1 (unversioned, with Meta 'depth'): rollup partitions trimmed to their top K players.
/// 2: untrimmed rollup, tracked scopes.
/// 3: tracked scopes keyed by their qualifying stakes too.
/// 4: tracked scopes keyed by their score too, totals in ScopeTotal.
const SCHEMA_VERSION: i64 = 4;

const INSERT_SPIN: &str =
    "INSERT INTO GamePlay (PlayerID, GameID, Win, Stake, EventTime) VALUES (?1, ?2, ?3, ?4, ?5)";

/// Keeps a player's best spin per partition: a higher ratio; the same ratio earlier; at the
/// same instant, the larger stake, then the smaller game (the queries' order).
const UPSERT_BEST: &str =
    "INSERT INTO Rollup (Span, Bucket, Partition, PlayerID, Score, EventTime, Win, Stake, GameID)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
     ON CONFLICT (Span, Bucket, Partition, PlayerID) DO UPDATE SET
         Score = excluded.Score, EventTime = excluded.EventTime, Win = excluded.Win, Stake = excluded.Stake,
         GameID = excluded.GameID
     WHERE (-excluded.Score, excluded.EventTime, -excluded.Stake, excluded.GameID)
         < (-Rollup.Score, Rollup.EventTime, -Rollup.Stake, Rollup.GameID)";

/// The single writer connection and the scopes its inserts keep up to date (always those
/// the database lists: both change only together, on the writer's thread).
pub struct Writer {
    conn: Connection,
    scopes: Vec<Tracked>,
}

impl Writer {
    /// Brings the derived tables to this version's layout, then loads the tracked scopes.
    pub fn new(mut conn: Connection) -> rusqlite::Result<Self> {
        let version: Option<i64> =
            conn.query_row("SELECT Value FROM Meta WHERE Key = 'schema'", [], |r| r.get(0)).optional()?;
        if version != Some(SCHEMA_VERSION) {
            tracing::info!(from = ?version, to = SCHEMA_VERSION, "rebuilding the embedded store's derived tables");
            // Version 2's and 3's rollup is version 4's: only the scopes are laid out anew.
            let rollup = !matches!(version, Some(2 | 3));
            rebuild(&mut conn, rollup)?;
        }
        let scopes = scope::load(&conn)?;
        Ok(Self { conn, scopes })
    }

    /// Tracks exactly `wanted`: builds the new scopes, drops the others, keeps the rest as is.
    pub fn track(&mut self, wanted: Vec<Scope>) -> rusqlite::Result<()> {
        scope::track(&mut self.conn, &self.scopes, wanted)?;
        self.scopes = scope::load(&self.conn)?;
        Ok(())
    }

    /// Stores batches of spins, each with what a consumer read them from (in the order given:
    /// a later resume point wins), in one transaction.
    pub fn insert<'a>(
        &mut self,
        batches: impl IntoIterator<Item = (&'a [Spin], Option<&'a Consumed>)>,
    ) -> rusqlite::Result<()> {
        let Self { conn, scopes } = self;
        let tx = conn.transaction()?;
        {
            let mut raw = tx.prepare_cached(INSERT_SPIN)?;
            let mut best = tx.prepare_cached(UPSERT_BEST)?;
            let mut scoped = tx.prepare_cached(scope::UPSERT_BEST)?;
            let mut totaled = tx.prepare_cached(scope::ADD_TOTAL)?;
            for (spins, consumed) in batches {
                if let Some(consumed) = consumed {
                    consumed::record(&tx, consumed)?;
                }
                for spin in spins {
                    let time = micros(spin.event_time);
                    raw.execute(params![spin.player_id, spin.game_id, spin.win, spin.stake, time])?;
                    if spin.stake <= 0 {
                        continue;
                    }
                    let (player, win, stake, game) = (spin.player_id, spin.win, spin.stake, spin.game_id);
                    for tracked in scopes.iter().filter(|s| s.holds(time, game, stake, win)) {
                        if tracked.is_total() {
                            let (points, won) = (tracked.points(win, stake), win.max(0));
                            totaled.execute(params![tracked.id, player, points, stake, won, time])?;
                        } else {
                            let score = win as f64 / f64::from(stake);
                            scoped.execute(params![tracked.id, player, score, time, win, stake, game])?;
                        }
                    }
                    if win <= 0 {
                        continue;
                    }
                    let score = win as f64 / f64::from(stake);
                    for span in LEVELS {
                        let bucket = time.div_euclid(span) * span;
                        for partition in [i64::from(game), ALL_GAMES] {
                            best.execute(params![
                                span, bucket, partition, player, score, time, win, stake, game
                            ])?;
                        }
                    }
                }
            }
        }
        tx.commit()
    }

    /// The connection, for tests that shape how it behaves (a trigger that refuses a spin).
    #[cfg(test)]
    pub(super) fn conn(&self) -> &Connection {
        &self.conn
    }
}

/// Lays out the derived tables for this version: the scopes dropped and made again, empty (the
/// next `track` builds them), and with `rollup` the Rollup recomputed from GamePlay, untrimmed.
fn rebuild(conn: &mut Connection, rollup: bool) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    // Versions 3 and 4 key scopes by their stakes and score too: their tables are dropped, then
    // made again by the schema.
    tx.execute_batch(
        "DROP TABLE IF EXISTS ScopeBest; DROP TABLE IF EXISTS ScopeTotal; DROP TABLE IF EXISTS Scope;",
    )?;
    tx.execute_batch(super::SCHEMA)?;
    if rollup {
        recompute_rollup(&tx)?;
    }
    tx.execute("INSERT OR REPLACE INTO Meta (Key, Value) VALUES ('schema', ?1)", [SCHEMA_VERSION])?;
    tx.commit()
}

/// The Rollup from GamePlay, untrimmed.
fn recompute_rollup(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
    // Version 1 kept this index to trim partitions; nothing reads it now.
    tx.execute_batch(
        "DROP INDEX IF EXISTS Rollup_by_rank; DELETE FROM Rollup; DELETE FROM Meta WHERE Key = 'depth';",
    )?;
    for (span, all_games) in LEVELS.into_iter().flat_map(|l| [(l, false), (l, true)]) {
        tx.execute(
            "INSERT INTO Rollup (Span, Bucket, Partition, PlayerID, Score, EventTime, Win, Stake, GameID)
             SELECT ?1, Bucket, Partition, PlayerID, Score, EventTime, Win, Stake, GameID FROM (
                 SELECT *, row_number() OVER (PARTITION BY Bucket, Partition, PlayerID
                     ORDER BY Score DESC, EventTime ASC, Stake DESC, GameID ASC) AS mine
                 FROM (SELECT (EventTime - ((EventTime % ?1) + ?1) % ?1) AS Bucket,
                              CASE WHEN ?2 THEN ?3 ELSE GameID END AS Partition, PlayerID, GameID,
                              CAST(Win AS REAL) / Stake AS Score, EventTime, Win, Stake
                       FROM GamePlay WHERE Win > 0 AND Stake > 0)
             ) WHERE mine = 1",
            params![span, all_games, ALL_GAMES],
        )?;
    }
    Ok(())
}
