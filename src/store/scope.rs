//! Tracked scopes: views known ahead (each campaign's whole window and games) whose complete
//! standings the store keeps in ScopeBest, one row per player, upserted by every insert. A
//! query for exactly such a view reads that table in rank order instead of merging rollup
//! partitions, so refreshing a whole-campaign board costs one index scan. A scope counts the
//! spins of its campaign's games and qualifying stakes, scored as the campaign scores: a best
//! spin per player (ScopeBest), or a total per player (ScopeTotal), added to by every counted
//! spin, losing ones too.

use std::collections::BTreeSet;
use std::num::NonZeroU32;

use rusqlite::{Connection, OptionalExtension, named_params, params};

use super::micros;
use crate::leaderboard::{LeaderboardQuery, Scoring, Stakes, Window};

/// A view to keep standings for: the spins in `window` of `games` (`None`: every game) and
/// `stakes`, scored by `scoring`; with `max_spins`, only each player's first spins from the
/// window's start (kept as a tally in memory, `first`, not in a table: a late spin can change
/// which spins count).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub window: Window,
    pub games: Option<Vec<i32>>,
    pub stakes: Stakes,
    pub scoring: Scoring,
    pub max_spins: Option<NonZeroU32>,
}

/// How the store's SQL numbers a score (the Scope table's Scoring, `:scoring` of
/// kql/totals.sql).
pub fn code(scoring: Scoring) -> i64 {
    match scoring {
        Scoring::BestMultiplier => 0,
        Scoring::TotalMultiplier => 1,
        Scoring::TotalWin => 2,
        Scoring::TotalStake => 3,
        Scoring::Spins => 4,
    }
}

/// A scope as stored: `[from, to)` in microseconds, games sorted and deduplicated, stakes as
/// an inclusive range of positive stakes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Key {
    pub(super) from: i64,
    pub(super) to: i64,
    pub(super) games: Option<Vec<i32>>,
    pub(super) stakes: (i32, i32),
    pub(super) scoring: Scoring,
}

impl Key {
    pub(super) fn new(window: &Window, games: Option<&[i32]>, stakes: Stakes, scoring: Scoring) -> Self {
        let games = games.map(|games| {
            let mut games = games.to_vec();
            games.sort_unstable();
            games.dedup();
            games
        });
        let (from, to) = (micros(window.from), micros(window.to));
        Self { from, to, games, stakes: stakes.range(), scoring }
    }

    /// The Scope table's Games column (a JSON array, or `null` for every game), as the queries'
    /// `:games` take it.
    pub(super) fn games_text(&self) -> String {
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
    /// Whether this scope keeps totals (else best spins).
    pub fn is_total(&self) -> bool {
        self.key.scoring.is_total()
    }

    /// What a counted spin adds to this total scope, as [`Scoring::points`] says.
    pub fn points(&self, win: i64, stake: i32) -> i64 {
        self.key.scoring.points(win, stake)
    }

    /// Whether a spin at `time` of `game` and `stake` counts in this scope (a losing one too).
    pub fn holds(&self, time: i64, game: i32, stake: i32) -> bool {
        let key = &self.key;
        key.from <= time
            && time < key.to
            && key.games.as_ref().is_none_or(|g| g.binary_search(&game).is_ok())
            && (key.stakes.0..=key.stakes.1).contains(&stake)
    }
}

/// An upsert's `SET` for a row of `table` holding a player's best spin and count: the count
/// goes up by one, and the best becomes the new spin when it beats the held one (a higher
/// ratio; the same ratio earlier; at the same instant, the larger stake, then the smaller game:
/// the queries' order). SQLite reads every old value before it assigns any.
pub fn counted_best(table: &str) -> String {
    let beats = format!(
        "(-excluded.Score, excluded.EventTime, -excluded.Stake, excluded.GameID)
         < (-{table}.Score, {table}.EventTime, -{table}.Stake, {table}.GameID)"
    );
    let columns = ["Score", "EventTime", "Win", "Stake", "GameID"];
    let set = columns.map(|c| format!("{c} = CASE WHEN {beats} THEN excluded.{c} ELSE {table}.{c} END"));
    format!("{}, Spins = {table}.Spins + 1", set.join(", "))
}

/// Counts a spin in a player's best in a scope (`?3`: its ratio, 0 for a losing one) and keeps
/// the best, as the Rollup's upsert does; `?8`, the spin's GamePlay rowid, marks the row changed.
pub static UPSERT_BEST: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "INSERT INTO ScopeBest (ScopeID, PlayerID, Score, EventTime, Win, Stake, GameID, Spins, Changed)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8)
         ON CONFLICT (ScopeID, PlayerID) DO UPDATE SET {}, Changed = excluded.Changed",
        counted_best("ScopeBest")
    )
});

/// Adds a counted spin to a player's total in a scope: `?3` its points, `?4` its stake, `?5` its
/// win (0 for a losing one), `?6` its instant (which counts as reaching the score only when it
/// added points); `?7`, the spin's GamePlay rowid, marks the row changed.
pub const ADD_TOTAL: &str =
    "INSERT INTO ScopeTotal (ScopeID, PlayerID, Points, Counted, Wagered, Won, AchievedAt, Changed)
     VALUES (?1, ?2, ?3, 1, ?4, ?5, CASE WHEN ?3 > 0 THEN ?6 END, ?7)
     ON CONFLICT (ScopeID, PlayerID) DO UPDATE SET
         Points = sat_add(Points, excluded.Points), Counted = Counted + 1,
         Wagered = sat_add(Wagered, excluded.Wagered), Won = sat_add(Won, excluded.Won),
         AchievedAt = MAX(COALESCE(AchievedAt, excluded.AchievedAt), COALESCE(excluded.AchievedAt, AchievedAt)),
         Changed = excluded.Changed";

/// Fills a new scope from GamePlay: each player's best counted spin and number of counted spins
/// in `[:from, :to)` of the games (`:all_games`, or the JSON array `:games`) and stakes
/// (`[:min_stake, :max_stake]`, at least 1).
const BUILD: &str =
    "INSERT INTO ScopeBest (ScopeID, PlayerID, Score, EventTime, Win, Stake, GameID, Spins, Changed)
     SELECT :scope, PlayerID, Score, EventTime, Win, Stake, GameID, Spins,
            (SELECT COALESCE(MAX(rowid), 0) FROM GamePlay) FROM (
         SELECT *, row_number() OVER mine AS n,
                COUNT(*) OVER (mine ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS Spins
         FROM (SELECT PlayerID, CASE WHEN Win > 0 THEN CAST(Win AS REAL) / Stake ELSE 0.0 END AS Score,
                      EventTime, Win, Stake, GameID
               FROM GamePlay
               WHERE EventTime >= :from AND EventTime < :to
                 AND Stake >= :min_stake AND Stake <= :max_stake
                 AND (:all_games OR GameID IN (SELECT value FROM json_each(:games))))
         WINDOW mine AS (PARTITION BY PlayerID ORDER BY Score DESC, EventTime ASC, Stake DESC, GameID ASC)
     ) WHERE n = 1";

const TOTALS: &str = include_str!("../../kql/totals.sql");

/// Fills a new total scope from GamePlay: kql/totals.sql's players (those at 0 points too),
/// with `:scope`.
static BUILD_TOTAL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "INSERT INTO ScopeTotal (ScopeID, PlayerID, Points, Counted, Wagered, Won, AchievedAt, Changed)
         SELECT :scope, *, (SELECT COALESCE(MAX(rowid), 0) FROM GamePlay) FROM (\n{}\n)",
        TOTALS
    )
});

/// A scope's standings (its players with a winning spin) in rank order, read from the covering
/// rank index.
pub const STANDINGS: &str = "SELECT PlayerID, Win, Stake, GameID, EventTime, Spins FROM ScopeBest
     WHERE ScopeID = ?1 AND Score > 0 ORDER BY Score DESC, EventTime ASC, PlayerID ASC";

/// A total scope's standings (its players above 0) in rank order, from its rank index.
pub const TOTAL_STANDINGS: &str = "SELECT PlayerID, Points, Counted, Wagered, Won, AchievedAt FROM ScopeTotal
     WHERE ScopeID = ?1 AND Points > 0 ORDER BY Points DESC, AchievedAt ASC, PlayerID ASC";

/// A scope's players whose row changed after spin `?2` (a GamePlay rowid), ranked or not.
pub const CHANGED: &str = "SELECT PlayerID, Win, Stake, GameID, EventTime, Spins FROM ScopeBest
     WHERE ScopeID = ?1 AND Changed > ?2";

/// A total scope's players whose row changed after spin `?2`, ranked or not.
pub const TOTAL_CHANGED: &str = "SELECT PlayerID, Points, Counted, Wagered, Won, AchievedAt FROM ScopeTotal
     WHERE ScopeID = ?1 AND Changed > ?2";

/// The built scopes, as listed in the database.
pub fn load(conn: &Connection) -> rusqlite::Result<Vec<Tracked>> {
    let mut statement =
        conn.prepare("SELECT ScopeID, WindowFrom, WindowTo, Games, MinStake, MaxStake, Scoring FROM Scope")?;
    let rows = statement.query_map([], |row| {
        let games: String = row.get(3)?;
        let games = serde_json::from_str(&games).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, Box::new(e))
        })?;
        let code: i64 = row.get(6)?;
        let scoring = Scoring::ALL
            .into_iter()
            .find(|&s| self::code(s) == code)
            .ok_or_else(|| rusqlite::Error::IntegralValueOutOfRange(6, code))?;
        let (from, to, stakes) = (row.get(1)?, row.get(2)?, (row.get(4)?, row.get(5)?));
        let key = Key { from, to, games, stakes, scoring };
        Ok(Tracked { id: row.get(0)?, key })
    })?;
    rows.collect()
}

/// The built scope answering exactly `query`'s window, games, stakes and score, if any.
pub fn lookup(conn: &Connection, query: &LeaderboardQuery) -> rusqlite::Result<Option<i64>> {
    let key = Key::new(&query.window, query.games.as_deref(), query.stakes, query.scoring);
    let mut statement = conn.prepare_cached(
        "SELECT ScopeID FROM Scope
         WHERE WindowFrom = ?1 AND WindowTo = ?2 AND Games = ?3 AND MinStake = ?4 AND MaxStake = ?5
           AND Scoring = ?6",
    )?;
    let (min, max) = key.stakes;
    let key_params = params![key.from, key.to, key.games_text(), min, max, code(key.scoring)];
    statement.query_row(key_params, |r| r.get(0)).optional()
}

/// Makes the database track exactly `wanted` (those counting every spin), given the `built`
/// scopes, in one transaction: the scopes no longer wanted are dropped, the new ones built, the
/// others left untouched.
pub fn track(conn: &mut Connection, built: &[Tracked], wanted: &[Scope]) -> rusqlite::Result<()> {
    let wanted: BTreeSet<Key> = wanted
        .iter()
        .filter(|s| s.max_spins.is_none())
        .map(|s| Key::new(&s.window, s.games.as_deref(), s.stakes, s.scoring))
        .collect();
    let tx = conn.transaction()?;
    let stale: Vec<&Tracked> = built.iter().filter(|t| !wanted.contains(&t.key)).collect();
    for tracked in &stale {
        tx.execute("DELETE FROM ScopeBest WHERE ScopeID = ?1", [tracked.id])?;
        tx.execute("DELETE FROM ScopeTotal WHERE ScopeID = ?1", [tracked.id])?;
        tx.execute("DELETE FROM Scope WHERE ScopeID = ?1", [tracked.id])?;
    }
    let new: Vec<&Key> = wanted.iter().filter(|k| !built.iter().any(|t| &t.key == *k)).collect();
    for key in &new {
        let games = key.games_text();
        let (min_stake, max_stake) = key.stakes;
        tx.execute(
            "INSERT INTO Scope (WindowFrom, WindowTo, Games, MinStake, MaxStake, Scoring)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![key.from, key.to, games, min_stake, max_stake, code(key.scoring)],
        )?;
        let scope = tx.last_insert_rowid();
        let (from, to, all_games) = (key.from, key.to, key.games.is_none());
        if !key.scoring.is_total() {
            tx.execute(
                BUILD,
                named_params! {
                    ":scope": scope, ":from": from, ":to": to, ":min_stake": min_stake,
                    ":max_stake": max_stake, ":all_games": all_games, ":games": games,
                },
            )?;
        } else {
            tx.execute(
                &BUILD_TOTAL,
                named_params! {
                    ":scope": scope, ":from": from, ":to": to, ":min_stake": min_stake,
                    ":max_stake": max_stake, ":all_games": all_games, ":games": games,
                    ":scoring": code(key.scoring),
                },
            )?;
        }
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
