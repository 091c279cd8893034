//! Writes to the embedded store: a batch of spins goes into GamePlay and, for spins that
//! count, into the Rollup partitions of their hour, day and week (for their game and for all
//! games), which are then trimmed back to their top K players. One transaction per batch, so a batch is stored whole or not at all.

use std::collections::HashSet;

use rusqlite::{Connection, Transaction, params};

use super::{ALL_GAMES, LEVELS, micros};
use crate::events::Spin;

const INSERT_SPIN: &str =
    "INSERT INTO GamePlay (PlayerID, GameID, Win, Stake, EventTime) VALUES (?1, ?2, ?3, ?4, ?5)";

/// Keeps a player's best spin per partition: a higher ratio, or the same ratio earlier, or at
/// the same instant a larger stake, then a smaller game (the ORDER BY of the queries).
const UPSERT_BEST: &str =
    "INSERT INTO Rollup (Span, Bucket, Partition, PlayerID, Score, EventTime, Win, Stake, GameID)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
     ON CONFLICT (Span, Bucket, Partition, PlayerID) DO UPDATE SET
         Score = excluded.Score, EventTime = excluded.EventTime, Win = excluded.Win, Stake = excluded.Stake,
         GameID = excluded.GameID
     WHERE excluded.Score > Rollup.Score
        OR (excluded.Score = Rollup.Score AND excluded.EventTime < Rollup.EventTime)
        OR (excluded.Score = Rollup.Score AND excluded.EventTime = Rollup.EventTime
            AND (excluded.Stake > Rollup.Stake OR (excluded.Stake = Rollup.Stake AND excluded.GameID < Rollup.GameID)))";

/// Drops every player below the partition's K-th. A dropped player can never be needed:
/// the K-th ratio of a partition only rises, so their later spins enter only if better.
const TRIM: &str = "DELETE FROM Rollup WHERE Span = ?1 AND Bucket = ?2 AND Partition = ?3 AND PlayerID IN (
         SELECT PlayerID FROM Rollup WHERE Span = ?1 AND Bucket = ?2 AND Partition = ?3
         ORDER BY Score DESC, EventTime ASC, PlayerID ASC LIMIT -1 OFFSET ?4)";

pub fn insert(conn: &mut Connection, spins: &[Spin], depth: u32) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    let mut touched = HashSet::new();
    {
        let mut raw = tx.prepare_cached(INSERT_SPIN)?;
        let mut best = tx.prepare_cached(UPSERT_BEST)?;
        for spin in spins {
            let time = micros(spin.event_time);
            raw.execute(params![spin.player_id, spin.game_id, spin.win, spin.stake, time])?;
            if spin.win <= 0 || spin.stake <= 0 {
                continue;
            }
            let score = spin.win as f64 / f64::from(spin.stake);
            for span in LEVELS {
                let bucket = time.div_euclid(span) * span;
                for game in [i64::from(spin.game_id), ALL_GAMES] {
                    let row = params![
                        span,
                        bucket,
                        game,
                        spin.player_id,
                        score,
                        time,
                        spin.win,
                        spin.stake,
                        spin.game_id
                    ];
                    best.execute(row)?;
                    touched.insert((span, bucket, game));
                }
            }
        }
    }
    trim(&tx, touched, depth)?;
    tx.commit()
}

fn trim(tx: &Transaction, partitions: HashSet<(i64, i64, i64)>, depth: u32) -> rusqlite::Result<()> {
    let mut statement = tx.prepare_cached(TRIM)?;
    for (span, bucket, game) in partitions {
        statement.execute(params![span, bucket, game, depth])?;
    }
    Ok(())
}

/// Recomputes the Rollup from GamePlay for depth `depth`, e.g. after `--max-limit` grew.
pub fn rebuild(conn: &mut Connection, depth: u32) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    tx.execute("DELETE FROM Rollup", [])?;
    for (span, all_games) in LEVELS.into_iter().flat_map(|l| [(l, false), (l, true)]) {
        tx.execute(
            "INSERT INTO Rollup (Span, Bucket, Partition, PlayerID, Score, EventTime, Win, Stake, GameID)
             SELECT ?1, Bucket, Partition, PlayerID, Score, EventTime, Win, Stake, GameID FROM (
                 SELECT *, row_number() OVER (PARTITION BY Bucket, Partition
                     ORDER BY Score DESC, EventTime ASC, PlayerID ASC) AS place
                 FROM (
                     SELECT *, row_number() OVER (PARTITION BY Bucket, Partition, PlayerID
                         ORDER BY Score DESC, EventTime ASC, Stake DESC, GameID ASC) AS mine
                     FROM (SELECT (EventTime - ((EventTime % ?1) + ?1) % ?1) AS Bucket,
                                  CASE WHEN ?3 THEN ?4 ELSE GameID END AS Partition, PlayerID, GameID,
                                  CAST(Win AS REAL) / Stake AS Score, EventTime, Win, Stake
                           FROM GamePlay WHERE Win > 0 AND Stake > 0)
                 ) WHERE mine = 1
             ) WHERE place <= ?2",
            params![span, depth, all_games, ALL_GAMES],
        )?;
    }
    tx.execute("INSERT OR REPLACE INTO Meta (Key, Value) VALUES ('depth', ?1)", [depth])?;
    tx.commit()
}
