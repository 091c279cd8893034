//! Tracked scopes: views known ahead (each campaign's whole window and games) whose complete
//! standings the store keeps in ScopeBest, one row per player, upserted by every insert. A
//! query for exactly such a view reads that table in rank order instead of merging rollup
//! partitions, so refreshing a whole-campaign board costs one index scan.

use std::collections::BTreeSet;

use rusqlite::{Connection, OptionalExtension, params};

use super::micros;
use crate::leaderboard::{LeaderboardQuery, Window};

/// A view to keep standings for: the spins in `window` of `games` (`None`: every game).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub window: Window,
    pub games: Option<Vec<i32>>,
}

/// A scope as stored: `[from, to)` in microseconds, games sorted and deduplicated.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    from: i64,
    to: i64,
    games: Option<Vec<i32>>,
}

impl Key {
    fn new(window: &Window, games: Option<&[i32]>) -> Self {
        let games = games.map(|games| {
            let mut games = games.to_vec();
            games.sort_unstable();
            games.dedup();
            games
        });
        Self { from: micros(window.from), to: micros(window.to), games }
    }

    /// The Scope table's Games column: a JSON array, or `null` for every game.
    fn games_text(&self) -> String {
        serde_json::to_string(&self.games).expect("ints serialize")
    }
}

/// A built scope, as the writer keeps it to route inserts.
#[derive(Debug, Clone)]
pub struct Tracked {
    pub id: i64,
    key: Key,
}

impl Tracked {
    /// Whether a counted spin at `time` of `game` belongs to this scope.
    pub fn holds(&self, time: i64, game: i32) -> bool {
        let key = &self.key;
        key.from <= time && time < key.to && key.games.as_ref().is_none_or(|g| g.binary_search(&game).is_ok())
    }
}

/// Keeps a player's best spin in a scope, in the same order as the Rollup's upsert.
pub const UPSERT_BEST: &str =
    "INSERT INTO ScopeBest (ScopeID, PlayerID, Score, EventTime, Win, Stake, GameID)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
     ON CONFLICT (ScopeID, PlayerID) DO UPDATE SET
         Score = excluded.Score, EventTime = excluded.EventTime, Win = excluded.Win, Stake = excluded.Stake,
         GameID = excluded.GameID
     WHERE (-excluded.Score, excluded.EventTime, -excluded.Stake, excluded.GameID)
         < (-ScopeBest.Score, ScopeBest.EventTime, -ScopeBest.Stake, ScopeBest.GameID)";

/// Fills a new scope from GamePlay: each player's best counted spin in the window.
const BUILD: &str = "INSERT INTO ScopeBest (ScopeID, PlayerID, Score, EventTime, Win, Stake, GameID)
     SELECT ?1, PlayerID, Score, EventTime, Win, Stake, GameID FROM (
         SELECT *, row_number() OVER (
             PARTITION BY PlayerID ORDER BY Score DESC, EventTime ASC, Stake DESC, GameID ASC) AS n
         FROM (SELECT PlayerID, CAST(Win AS REAL) / Stake AS Score, EventTime, Win, Stake, GameID
               FROM GamePlay
               WHERE EventTime >= ?2 AND EventTime < ?3 AND Win > 0 AND Stake > 0
                 AND (?4 OR GameID IN (SELECT value FROM json_each(?5))))
     ) WHERE n = 1";

/// A scope's standings in rank order, read from the covering rank index.
pub const STANDINGS: &str = "SELECT PlayerID, Win, Stake, GameID, EventTime FROM ScopeBest
     WHERE ScopeID = ?1 ORDER BY Score DESC, EventTime ASC, PlayerID ASC";

/// The built scopes, as listed in the database.
pub fn load(conn: &Connection) -> rusqlite::Result<Vec<Tracked>> {
    let mut statement = conn.prepare("SELECT ScopeID, WindowFrom, WindowTo, Games FROM Scope")?;
    let rows = statement.query_map([], |row| {
        let games: String = row.get(3)?;
        let games = serde_json::from_str(&games).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, Box::new(e))
        })?;
        Ok(Tracked { id: row.get(0)?, key: Key { from: row.get(1)?, to: row.get(2)?, games } })
    })?;
    rows.collect()
}

/// The built scope answering exactly `query`'s window and games, if any.
pub fn lookup(conn: &Connection, query: &LeaderboardQuery) -> rusqlite::Result<Option<i64>> {
    let key = Key::new(&query.window, query.games.as_deref());
    let mut statement = conn
        .prepare_cached("SELECT ScopeID FROM Scope WHERE WindowFrom = ?1 AND WindowTo = ?2 AND Games = ?3")?;
    statement.query_row(params![key.from, key.to, key.games_text()], |r| r.get(0)).optional()
}

/// Makes the database track exactly `wanted`, given the `built` scopes, in one transaction:
/// the scopes no longer wanted are dropped, the new ones built, the others left untouched.
pub fn track(conn: &mut Connection, built: &[Tracked], wanted: Vec<Scope>) -> rusqlite::Result<()> {
    let wanted: BTreeSet<Key> = wanted.iter().map(|s| Key::new(&s.window, s.games.as_deref())).collect();
    let tx = conn.transaction()?;
    let stale: Vec<&Tracked> = built.iter().filter(|t| !wanted.contains(&t.key)).collect();
    for tracked in &stale {
        tx.execute("DELETE FROM ScopeBest WHERE ScopeID = ?1", [tracked.id])?;
        tx.execute("DELETE FROM Scope WHERE ScopeID = ?1", [tracked.id])?;
    }
    let new: Vec<&Key> = wanted.iter().filter(|k| !built.iter().any(|t| &t.key == *k)).collect();
    for key in &new {
        let games = key.games_text();
        tx.execute(
            "INSERT INTO Scope (WindowFrom, WindowTo, Games) VALUES (?1, ?2, ?3)",
            params![key.from, key.to, games],
        )?;
        tx.execute(BUILD, params![tx.last_insert_rowid(), key.from, key.to, key.games.is_none(), games])?;
    }
    tx.commit()?;
    if !(stale.is_empty() && new.is_empty()) {
        tracing::info!(
            built = new.len(),
            dropped = stale.len(),
            tracked = wanted.len(),
            "tracked scopes changed"
        );
    }
    Ok(())
}
