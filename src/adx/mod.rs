//! The ADX client: runs rendered KQL on a cluster's query endpoint (Kusto REST API v2) and
//! turns the frames into standings. Errors from ADX, partial results and timeouts become
//! [`BackendError`]s; a partial result is never returned.

pub mod auth;
pub mod frames;
mod request;
mod retry;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::backend::{Backend, BackendError, Standings};
use crate::kql;
use crate::leaderboard::{LeaderboardQuery, Standing};
use auth::TokenSource;
use frames::{Table, Value};

pub use request::AdxConfig;

/// The readiness probe: the cheapest query that proves the cluster answers.
pub const PING: &str = "print ready = 1";

pub struct AdxBackend {
    config: AdxConfig,
    http: reqwest::Client,
    auth: Option<TokenSource>,
}

impl AdxBackend {
    pub fn new(config: AdxConfig, auth: Option<TokenSource>) -> Result<Self, BackendError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("leaderboard/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| BackendError::Unreachable(e.to_string()))?;
        Ok(Self { config, http, auth })
    }
}

#[async_trait]
impl Backend for AdxBackend {
    fn name(&self) -> &'static str {
        "adx"
    }

    async fn leaderboard(&self, query: &LeaderboardQuery) -> Result<Standings, BackendError> {
        let csl = kql::render(query, &self.config.table);
        let data = request::run(&self.http, &self.config, self.auth.as_ref(), &csl).await?;
        let table =
            data.primary().ok_or_else(|| BackendError::Malformed("no primary result table".into()))?;
        standings(table)
    }

    async fn ping(&self) -> Result<(), BackendError> {
        request::run(&self.http, &self.config, self.auth.as_ref(), PING).await.map(drop)
    }
}

/// Reads the rows by column name, so column order in the answer does not matter, and the total
/// from the Total every row carries (no rows: no ranked player).
fn standings(table: &Table) -> Result<Standings, BackendError> {
    let rows = rows(table)?;
    let total = match table.rows.first() {
        None => 0,
        Some(first) => {
            let column = table
                .column("Total")
                .ok_or_else(|| BackendError::Malformed("result has no column Total".into()))?;
            let total = int(&first[column], "Total")?;
            u64::try_from(total)
                .ok()
                .filter(|&t| t >= rows.len() as u64)
                .ok_or_else(|| BackendError::Malformed(format!("Total {total} for {} rows", rows.len())))?
        }
    };
    Ok(Standings { rows, total })
}

/// The score is recomputed from the spin's Win and Stake, so that every backend reports exactly
/// the IEEE `win / stake` whatever its own arithmetic or real-number encoding.
fn rows(table: &Table) -> Result<Vec<Standing>, BackendError> {
    let column = |name: &str| {
        table.column(name).ok_or_else(|| BackendError::Malformed(format!("result has no column {name}")))
    };
    let [player, win, stake, game, time] = ["PlayerID", "Win", "Stake", "GameID", "EventTime"].map(column);
    let (player, win, stake, game, time) = (player?, win?, stake?, game?, time?);
    table
        .rows
        .iter()
        .map(|row| {
            let (win, stake) = (int(&row[win], "Win")?, int32(&row[stake], "Stake")?);
            if win <= 0 || stake <= 0 {
                return Err(BackendError::Malformed(format!(
                    "a counted spin has win {win} and stake {stake}"
                )));
            }
            Ok(Standing {
                player_id: int32(&row[player], "PlayerID")?,
                score: win as f64 / f64::from(stake),
                win,
                stake,
                game_id: int32(&row[game], "GameID")?,
                achieved_at: datetime(&row[time])?,
            })
        })
        .collect()
}

fn int(value: &Value, column: &str) -> Result<i64, BackendError> {
    match value {
        Value::Int(n) => Ok(*n),
        other => Err(BackendError::Malformed(format!("{column} is {other:?}, expected an integer"))),
    }
}

fn int32(value: &Value, column: &str) -> Result<i32, BackendError> {
    let n = int(value, column)?;
    i32::try_from(n).map_err(|_| BackendError::Malformed(format!("{column} {n} is outside Int32")))
}

fn datetime(value: &Value) -> Result<DateTime<Utc>, BackendError> {
    match value {
        Value::DateTime(t) => Ok(*t),
        other => Err(BackendError::Malformed(format!("EventTime is {other:?}, expected a datetime"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use frames::Column;

    fn table(columns: &[(&str, &str)], rows: Vec<Vec<Value>>) -> Table {
        Table {
            id: 0,
            kind: "PrimaryResult".into(),
            name: "PrimaryResult".into(),
            columns: columns.iter().map(|(n, t)| Column { name: (*n).into(), ty: (*t).into() }).collect(),
            rows,
        }
    }

    const COLUMNS: [(&str, &str); 6] = [
        ("Total", "long"),
        ("EventTime", "datetime"),
        ("GameID", "int"),
        ("Stake", "int"),
        ("Win", "long"),
        ("PlayerID", "int"),
    ];

    fn row(total: i64) -> Vec<Value> {
        let at = "2026-11-02T08:00:00Z".parse().unwrap();
        [Value::Int(total), Value::DateTime(at), Value::Int(3), Value::Int(4), Value::Int(10), Value::Int(7)]
            .into()
    }

    #[test]
    fn total_is_read_by_name_and_no_rows_means_none_ranked() {
        let read = standings(&table(&COLUMNS, vec![row(42)])).unwrap();
        assert_eq!(read.total, 42);
        assert_eq!((read.rows[0].player_id, read.rows[0].score), (7, 2.5));
        assert_eq!(standings(&table(&COLUMNS, vec![])).unwrap(), Standings::default());
    }

    #[test]
    fn a_missing_or_impossible_total_is_malformed() {
        let malformed = |t: Table| matches!(standings(&t), Err(BackendError::Malformed(_)));
        let mut without = table(&COLUMNS, vec![row(1)]);
        without.columns[0].name = "Count".into();
        assert!(malformed(without));
        assert!(malformed(table(&COLUMNS, vec![row(1), row(1)])), "fewer than the rows");
        assert!(malformed(table(&COLUMNS, vec![row(-1)])));
    }
}
