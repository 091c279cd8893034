//! Writes to the embedded store: a batch of spins goes into GamePlay and, for spins that
//! count, into the Rollup partitions of their hour and day, which are then trimmed back to
//! their top K players. One transaction per batch, so a batch is stored whole or not at all.

use std::collections::HashSet;

use rusqlite::{Connection, Transaction, params};

use super::{DAY, HOUR, micros};
use crate::events::Spin;

const INSERT_SPIN: &str =
    "INSERT INTO GamePlay (PlayerID, GameID, Win, Stake, EventTime) VALUES (?1, ?2, ?3, ?4, ?5)";

/// Keeps a player's best spin per partition: a higher ratio, or the same ratio earlier.
const UPSERT_BEST: &str = "INSERT INTO Rollup (Span, Bucket, GameID, PlayerID, Score, EventTime, Win, Stake)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
     ON CONFLICT (Span, Bucket, GameID, PlayerID) DO UPDATE SET
         Score = excluded.Score, EventTime = excluded.EventTime, Win = excluded.Win, Stake = excluded.Stake
     WHERE excluded.Score > Rollup.Score
        OR (excluded.Score = Rollup.Score AND excluded.EventTime < Rollup.EventTime)";

/// Drops every player below the partition's K-th. A dropped player can never be needed:
/// the K-th ratio of a partition only rises, so their later spins enter only if better.
const TRIM: &str = "DELETE FROM Rollup WHERE Span = ?1 AND Bucket = ?2 AND GameID = ?3 AND PlayerID IN (
         SELECT PlayerID FROM Rollup WHERE Span = ?1 AND Bucket = ?2 AND GameID = ?3
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
            for span in [HOUR, DAY] {
                let bucket = time.div_euclid(span) * span;
                best.execute(params![
                    span,
                    bucket,
                    spin.game_id,
                    spin.player_id,
                    score,
                    time,
                    spin.win,
                    spin.stake
                ])?;
                touched.insert((span, bucket, spin.game_id));
            }
        }
    }
    trim(&tx, touched, depth)?;
    tx.commit()
}

fn trim(tx: &Transaction, partitions: HashSet<(i64, i64, i32)>, depth: u32) -> rusqlite::Result<()> {
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
    for span in [HOUR, DAY] {
        tx.execute(
            "INSERT INTO Rollup (Span, Bucket, GameID, PlayerID, Score, EventTime, Win, Stake)
             SELECT ?1, Bucket, GameID, PlayerID, Score, EventTime, Win, Stake FROM (
                 SELECT *, row_number() OVER (PARTITION BY Bucket, GameID
                     ORDER BY Score DESC, EventTime ASC, PlayerID ASC) AS place
                 FROM (
                     SELECT *, row_number() OVER (PARTITION BY Bucket, GameID, PlayerID
                         ORDER BY Score DESC, EventTime ASC) AS mine
                     FROM (SELECT (EventTime - ((EventTime % ?1) + ?1) % ?1) AS Bucket, GameID, PlayerID,
                                  CAST(Win AS REAL) / Stake AS Score, EventTime, Win, Stake
                           FROM GamePlay WHERE Win > 0 AND Stake > 0)
                 ) WHERE mine = 1
             ) WHERE place <= ?2",
            params![span, depth],
        )?;
    }
    tx.execute("INSERT OR REPLACE INTO Meta (Key, Value) VALUES ('depth', ?1)", [depth])?;
    tx.commit()
}
