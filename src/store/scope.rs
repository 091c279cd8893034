//! Tracked scopes: views known ahead (each campaign's whole window and games) whose complete
//! standings the store keeps in ScopeBest, one row per player, upserted by every insert. A
//! query for exactly such a view reads that table in rank order instead of merging rollup
//! partitions, so refreshing a whole-campaign board costs one index scan. A scope counts the
//! spins of its campaign's games and qualifying stakes.

use std::collections::BTreeSet;

use rusqlite::{Connection, OptionalExtension, named_params, params};

use super::micros;
use crate::leaderboard::{LeaderboardQuery, Stakes, Window};

/// A view to keep standings for: the spins in `window` of `games` (`None`: every game) and
/// `stakes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub window: Window,
    pub games: Option<Vec<i32>>,
    pub stakes: Stakes,
}

/// A scope as stored: `[from, to)` in microseconds, games sorted and deduplicated, stakes as
/// an inclusive range of positive stakes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    from: i64,
    to: i64,
    games: Option<Vec<i32>>,
    stakes: (i32, i32),
}

impl Key {
    fn new(window: &Window, games: Option<&[i32]>, stakes: Stakes) -> Self {
        let games = games.map(|games| {
            let mut games = games.to_vec();
            games.sort_unstable();
            games.dedup();
            games
        });
        Self { from: micros(window.from), to: micros(window.to), games, stakes: stakes.range() }
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
    /// Whether a winning spin at `time` of `game` and `stake` belongs to this scope.
    pub fn holds(&self, time: i64, game: i32, stake: i32) -> bool {
        let key = &self.key;
        key.from <= time
            && time < key.to
            && key.games.as_ref().is_none_or(|g| g.binary_search(&game).is_ok())
            && (key.stakes.0..=key.stakes.1).contains(&stake)
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

/// Fills a new scope from GamePlay: each player's best counted spin in `[:from, :to)` of the
/// games (`:all_games`, or the JSON array `:games`) and stakes (`[:min_stake, :max_stake]`, at
/// least 1).
const BUILD: &str = "INSERT INTO ScopeBest (ScopeID, PlayerID, Score, EventTime, Win, Stake, GameID)
     SELECT :scope, PlayerID, Score, EventTime, Win, Stake, GameID FROM (
         SELECT *, row_number() OVER (
             PARTITION BY PlayerID ORDER BY Score DESC, EventTime ASC, Stake DESC, GameID ASC) AS n
         FROM (SELECT PlayerID, CAST(Win AS REAL) / Stake AS Score, EventTime, Win, Stake, GameID
               FROM GamePlay
               WHERE EventTime >= :from AND EventTime < :to AND Win > 0
                 AND Stake >= :min_stake AND Stake <= :max_stake
                 AND (:all_games OR GameID IN (SELECT value FROM json_each(:games))))
     ) WHERE n = 1";

/// A scope's standings in rank order, read from the covering rank index.
pub const STANDINGS: &str = "SELECT PlayerID, Win, Stake, GameID, EventTime FROM ScopeBest
     WHERE ScopeID = ?1 ORDER BY Score DESC, EventTime ASC, PlayerID ASC";

/// The built scopes, as listed in the database.
pub fn load(conn: &Connection) -> rusqlite::Result<Vec<Tracked>> {
    let mut statement =
        conn.prepare("SELECT ScopeID, WindowFrom, WindowTo, Games, MinStake, MaxStake FROM Scope")?;
    let rows = statement.query_map([], |row| {
        let games: String = row.get(3)?;
        let games = serde_json::from_str(&games).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, Box::new(e))
        })?;
        let key = Key { from: row.get(1)?, to: row.get(2)?, games, stakes: (row.get(4)?, row.get(5)?) };
        Ok(Tracked { id: row.get(0)?, key })
    })?;
    rows.collect()
}

/// The built scope answering exactly `query`'s window and games, if any.
pub fn lookup(conn: &Connection, query: &LeaderboardQuery) -> rusqlite::Result<Option<i64>> {
    let key = Key::new(&query.window, query.games.as_deref(), query.stakes);
    let mut statement = conn.prepare_cached(
        "SELECT ScopeID FROM Scope
         WHERE WindowFrom = ?1 AND WindowTo = ?2 AND Games = ?3 AND MinStake = ?4 AND MaxStake = ?5",
    )?;
    let (min, max) = key.stakes;
    statement.query_row(params![key.from, key.to, key.games_text(), min, max], |r| r.get(0)).optional()
}

/// Makes the database track exactly `wanted`, given the `built` scopes, in one transaction:
/// the scopes no longer wanted are dropped, the new ones built, the others left untouched.
pub fn track(conn: &mut Connection, built: &[Tracked], wanted: Vec<Scope>) -> rusqlite::Result<()> {
    let wanted: BTreeSet<Key> =
        wanted.iter().map(|s| Key::new(&s.window, s.games.as_deref(), s.stakes)).collect();
    let tx = conn.transaction()?;
    let stale: Vec<&Tracked> = built.iter().filter(|t| !wanted.contains(&t.key)).collect();
    for tracked in &stale {
        tx.execute("DELETE FROM ScopeBest WHERE ScopeID = ?1", [tracked.id])?;
        tx.execute("DELETE FROM Scope WHERE ScopeID = ?1", [tracked.id])?;
    }
    let new: Vec<&Key> = wanted.iter().filter(|k| !built.iter().any(|t| &t.key == *k)).collect();
    for key in &new {
        let games = key.games_text();
        let (min_stake, max_stake) = key.stakes;
        tx.execute(
            "INSERT INTO Scope (WindowFrom, WindowTo, Games, MinStake, MaxStake) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![key.from, key.to, games, min_stake, max_stake],
        )?;
        tx.execute(
            BUILD,
            named_params! {
                ":scope": tx.last_insert_rowid(), ":from": key.from, ":to": key.to,
                ":min_stake": min_stake, ":max_stake": max_stake,
                ":all_games": key.games.is_none(), ":games": games,
            },
        )?;
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
