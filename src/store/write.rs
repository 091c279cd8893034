//! Writes to the embedded store: a batch of spins goes into GamePlay and, for spins of a positive
//! stake, into the Rollup partitions of their hour, day and week (for their game and for all
//! games), each keeping each player's best spin, number of spins and the sums of every total;
//! and into every tracked scope counting them (a best spin's scope keeps the best and the count,
//! a total's adds every counted spin; losing ones count in both).
//! One transaction per call, so what a call stores is stored whole or not at all.

use rusqlite::{Connection, OptionalExtension, params};

use super::consumed::{self, Consumed};
use super::scope::{self, Scope, Tracked};
use super::{ALL_GAMES, LEVELS, micros};
use crate::events::Spin;
use crate::leaderboard::Scoring;

/// The derived tables' version (Meta 'schema'); a store holding another is rebuilt at open.
/// 1 (unversioned, with Meta 'depth'): rollup partitions trimmed to their top K players.
/// 2: untrimmed rollup, tracked scopes.
/// 3: tracked scopes keyed by their qualifying stakes too.
/// 4: tracked scopes keyed by their score too, totals in ScopeTotal.
/// 5: every player's counted spins in the Rollup and ScopeBest (losing spins counted there too).
/// 6: each scope row marked by the last spin that changed it.
/// 7: every total's sums in the Rollup too.
/// 8: sums saturating at `i64::MAX` (`sums`): a 7 that overflowed holds REALs its reads refuse.
/// 9: total scopes built with every player who has a counted spin: an 8 left out those at 0
///    points, whose losing spins then went uncounted once a winning one came.
pub(super) const SCHEMA_VERSION: i64 = 9;

const INSERT_SPIN: &str =
    "INSERT INTO GamePlay (PlayerID, GameID, Win, Stake, EventTime) VALUES (?1, ?2, ?3, ?4, ?5)";

/// Counts a spin in a player's partition, keeps their best spin there (a higher ratio; the same
/// ratio earlier; at the same instant, the larger stake, then the smaller game: the queries'
/// order) and adds it to the partition's sums. `?5` is the spin's ratio (0 for a losing one),
/// `?10` its win if it won (else 0), `?11` its multiplier in millionths.
static UPSERT_ROLLUP: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "INSERT INTO Rollup (Span, Bucket, Partition, PlayerID, Score, EventTime, Win, Stake, GameID, Spins,
                             Wagered, Won, Multiplied, LastSpin, LastWon, LastMultiplied)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 1, ?8, ?10, ?11, ?6,
                 CASE WHEN ?10 > 0 THEN ?6 END, CASE WHEN ?11 > 0 THEN ?6 END)
         ON CONFLICT (Span, Bucket, Partition, PlayerID) DO UPDATE SET {},
             Wagered = sat_add(Rollup.Wagered, excluded.Wagered), Won = sat_add(Rollup.Won, excluded.Won),
             Multiplied = sat_add(Rollup.Multiplied, excluded.Multiplied),
             LastSpin = MAX(Rollup.LastSpin, excluded.LastSpin),
             LastWon = MAX(COALESCE(Rollup.LastWon, excluded.LastWon), COALESCE(excluded.LastWon, Rollup.LastWon)),
             LastMultiplied = MAX(COALESCE(Rollup.LastMultiplied, excluded.LastMultiplied),
                                  COALESCE(excluded.LastMultiplied, Rollup.LastMultiplied))",
        scope::counted_best("Rollup")
    )
});

/// The single writer connection and the scopes its inserts keep up to date (always those
/// the database lists: both change only together, on the writer's thread).
pub struct Writer {
    conn: Connection,
    scopes: Vec<Tracked>,
}

impl Writer {
    /// Lays out the schema (a new store's, or an older version's derived tables anew), then
    /// loads the tracked scopes.
    pub fn new(mut conn: Connection) -> rusqlite::Result<Self> {
        super::sums::register(&conn)?;
        let has_meta: bool =
            conn.query_row("SELECT count(*) > 0 FROM sqlite_master WHERE name = 'Meta'", [], |r| r.get(0))?;
        let version: Option<i64> = if has_meta {
            conn.query_row("SELECT Value FROM Meta WHERE Key = 'schema'", [], |r| r.get(0)).optional()?
        } else {
            None
        };
        if version == Some(SCHEMA_VERSION) {
            conn.execute_batch(super::SCHEMA)?;
        } else {
            tracing::info!(from = ?version, to = SCHEMA_VERSION, "laying out the embedded store's derived tables");
            rebuild(&mut conn)?;
        }
        let scopes = scope::load(&conn)?;
        Ok(Self { conn, scopes })
    }

    /// Tracks exactly `wanted`: builds the new scopes, drops the others, keeps the rest as is.
    pub fn track(&mut self, wanted: &[Scope]) -> rusqlite::Result<()> {
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
            let mut rollup = tx.prepare_cached(&UPSERT_ROLLUP)?;
            let mut scoped = tx.prepare_cached(&scope::UPSERT_BEST)?;
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
                    let changed = tx.last_insert_rowid();
                    let (player, win, stake, game) = (spin.player_id, spin.win, spin.stake, spin.game_id);
                    let score = if win > 0 { win as f64 / f64::from(stake) } else { 0.0 };
                    for tracked in scopes.iter().filter(|s| s.holds(time, game, stake)) {
                        if tracked.is_total() {
                            let (points, won) = (tracked.points(win, stake), win.max(0));
                            totaled
                                .execute(params![tracked.id, player, points, stake, won, time, changed])?;
                        } else {
                            scoped.execute(params![
                                tracked.id, player, score, time, win, stake, game, changed
                            ])?;
                        }
                    }
                    let (won, multiplied) = (win.max(0), Scoring::TotalMultiplier.points(win, stake));
                    for span in LEVELS {
                        let bucket = time.div_euclid(span) * span;
                        for partition in [i64::from(game), ALL_GAMES] {
                            rollup.execute(params![
                                span, bucket, partition, player, score, time, win, stake, game, won,
                                multiplied
                            ])?;
                        }
                    }
                }
            }
        }
        tx.commit()
    }

    /// Empties the page cache (it fills again as pages are needed).
    pub fn empty_cache(&self) -> rusqlite::Result<()> {
        self.conn.execute_batch("PRAGMA shrink_memory")
    }

    /// The connection, for tests that shape how it behaves (a trigger that refuses a spin).
    #[cfg(test)]
    pub(super) fn conn(&self) -> &Connection {
        &self.conn
    }
}

/// Lays out the derived tables for this version from GamePlay: the Rollup recomputed, the
/// scopes dropped and made again, empty (the next `track` builds them). Every older version's
/// tables lack a column or a row this one has (version 5: losing spins' counts), so all are made
/// anew. Each player's best, count and sums per partition come from one sort (the count and sums
/// over the whole of the best's ordered window), in the order a window's read settles a player's
/// spins; the sums as kql/totals.sql adds them.
fn rebuild(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    tx.execute_batch(
        "DROP TABLE IF EXISTS ScopeBest; DROP TABLE IF EXISTS ScopeTotal; DROP TABLE IF EXISTS Scope;
         DROP TABLE IF EXISTS Rollup;",
    )?;
    tx.execute_batch(super::SCHEMA)?;
    tx.execute("DELETE FROM Meta WHERE Key = 'depth'", [])?;
    for (span, all_games) in LEVELS.into_iter().flat_map(|l| [(l, false), (l, true)]) {
        tx.execute(
            "INSERT INTO Rollup (Span, Bucket, Partition, PlayerID, Score, EventTime, Win, Stake, GameID, Spins,
                                 Wagered, Won, Multiplied, LastSpin, LastWon, LastMultiplied)
             SELECT ?1, Bucket, Partition, PlayerID, Score, EventTime, Win, Stake, GameID, Spins,
                    Wagered, Won, Multiplied, LastSpin, LastWon, LastMultiplied FROM (
                 SELECT *, row_number() OVER mine AS n, COUNT(*) OVER whole AS Spins,
                        sat_sum(Stake) OVER whole AS Wagered, sat_sum(Gained) OVER whole AS Won,
                        sat_sum(Multiplier) OVER whole AS Multiplied, MAX(EventTime) OVER whole AS LastSpin,
                        MAX(CASE WHEN Gained > 0 THEN EventTime END) OVER whole AS LastWon,
                        MAX(CASE WHEN Multiplier > 0 THEN EventTime END) OVER whole AS LastMultiplied
                 FROM (SELECT *, multiplier(Gained, Stake) AS Multiplier
                       FROM (SELECT (EventTime - ((EventTime % ?1) + ?1) % ?1) AS Bucket,
                                    CASE WHEN ?2 THEN ?3 ELSE GameID END AS Partition, PlayerID, GameID,
                                    CASE WHEN Win > 0 THEN CAST(Win AS REAL) / Stake ELSE 0.0 END AS Score,
                                    EventTime, Win, Stake, MAX(Win, 0) AS Gained
                             FROM GamePlay WHERE Stake > 0))
                 WINDOW mine AS (PARTITION BY Bucket, Partition, PlayerID
                     ORDER BY Score DESC, EventTime ASC, Stake DESC, GameID ASC),
                     whole AS (mine ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
             ) WHERE n = 1",
            params![span, all_games, ALL_GAMES],
        )?;
    }
    tx.execute("INSERT OR REPLACE INTO Meta (Key, Value) VALUES ('schema', ?1)", [SCHEMA_VERSION])?;
    tx.commit()
}
