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
        // Interim: the total is the rows' count until the query returns it.
        standings(table).map(|rows| Standings { total: rows.len() as u64, rows })
    }

    async fn ping(&self) -> Result<(), BackendError> {
        request::run(&self.http, &self.config, self.auth.as_ref(), PING).await.map(drop)
    }
}

/// Reads the rows by column name, so column order in the answer does not matter. The score is
/// recomputed from the spin's Win and Stake, so that every backend reports exactly the IEEE
/// `win / stake` whatever its own arithmetic or real-number encoding.
fn standings(table: &Table) -> Result<Vec<Standing>, BackendError> {
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
