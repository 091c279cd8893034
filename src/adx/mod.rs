//! The ADX client: runs rendered KQL on a cluster's query endpoint (Kusto REST API v2), its
//! answers decoded as they arrive straight into compact rows. Errors from ADX, partial results
//! and timeouts become [`BackendError`]s; a partial result is never returned.

mod answer;
pub mod auth;
pub mod frames;
mod incidents;
mod request;
mod retry;

use std::time::Duration;

use async_trait::async_trait;
use reqwest::Url;

use crate::backend::{Backend, BackendError, Standings};
use crate::kql;
use crate::leaderboard::{BucketRow, Changes, ChangesQuery, LeaderboardQuery};
use answer::Answer;
use auth::TokenSource;

pub use request::{AdxConfig, TIMEOUT_MARGIN};

/// `path` appended to the cluster URL's own path, which may carry a prefix (proxies, API
/// gateways); the URL's query and fragment are dropped.
pub(crate) fn endpoint(cluster: &Url, path: &str) -> Url {
    let mut url = cluster.clone();
    url.set_query(None);
    url.set_fragment(None);
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty().extend(path.split('/'));
    }
    url
}

/// The readiness probe: the cheapest query that proves the cluster answers.
pub const PING: &str = "print ready = 1";

/// The HTTP client of the cluster (queries, auth metadata): connections kept a minute, none made
/// in more than 5 s, and no redirect followed (as Microsoft's SDKs: one would take the query and
/// its token elsewhere).
pub(crate) fn client() -> Result<reqwest::Client, BackendError> {
    reqwest::Client::builder()
        .user_agent(concat!("leaderboard/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(5))
        .pool_idle_timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| BackendError::Unreachable(e.to_string()))
}

pub struct AdxBackend {
    config: AdxConfig,
    http: reqwest::Client,
    auth: Option<TokenSource>,
    incidents: incidents::Incidents,
}

impl AdxBackend {
    pub fn new(config: AdxConfig, auth: Option<TokenSource>) -> Result<Self, BackendError> {
        Ok(Self { config, http: client()?, auth, incidents: incidents::Incidents::default() })
    }

    async fn run(&self, csl: &str) -> Result<Answer, BackendError> {
        request::run(&self.http, &self.config, self.auth.as_ref(), &self.incidents, csl, Answer::default)
            .await
    }
}

#[async_trait]
impl Backend for AdxBackend {
    fn name(&self) -> &'static str {
        "adx"
    }

    async fn leaderboard(&self, query: &LeaderboardQuery) -> Result<Standings, BackendError> {
        let answer = self.run(&kql::render(query, &self.config.table)).await?;
        standings(answer, query.limit)
    }

    fn answers_changes(&self) -> bool {
        true
    }

    async fn changes(&self, query: &ChangesQuery) -> Result<Changes, BackendError> {
        let answer = self.run(&kql::render_changes(query, &self.config.table)).await?;
        let malformed = || BackendError::Malformed("the answer is not one of changes".into());
        let rows: Vec<BucketRow> = if query.recount.first.is_some() {
            // Whole standings (with their total, which says nothing here): the view's rows.
            if !answer.buckets.is_empty() {
                return Err(malformed());
            }
            let bucket = query.recount.window.from.timestamp_micros();
            answer.rows.into_iter().map(|row| BucketRow { bucket, row }).collect()
        } else {
            if answer.total.is_some() || answer.buckets.len() != answer.rows.len() {
                return Err(malformed());
            }
            answer
                .buckets
                .into_iter()
                .zip(answer.rows)
                .map(|(bucket, row)| BucketRow { bucket, row })
                .collect()
        };
        Ok(Changes { rows, counts: answer.counts, counted: answer.counted })
    }

    async fn ping(&self) -> Result<(), BackendError> {
        let ping = request::run(&self.http, &self.config, self.auth.as_ref(), &self.incidents, PING, || {
            frames::Discard
        });
        ping.await.map(drop)
    }
}

/// The rows in rank order (the engine ranks them again, whatever order the answer had), at most
/// `limit` of them, and the total, which is at least their number.
fn standings(answer: Answer, limit: u32) -> Result<Standings, BackendError> {
    let Answer { mut rows, total, counts, .. } = answer;
    let total = total.ok_or_else(|| BackendError::Malformed("the answer has no Total".into()))?;
    if rows.len() as u64 > total || rows.len() > limit as usize {
        return Err(BackendError::Malformed(format!("Total {total} for {} rows", rows.len())));
    }
    rows.sort_unstable_by(|a, b| a.rank_order(b));
    Ok(Standings { rows, total, counts, cursor: None })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::leaderboard::Row;

    fn row(player_id: i32, win: i64) -> Row {
        Row { player_id, stake: 4, game_id: 3, win, achieved_us: 0, ..Row::default() }
    }

    #[test]
    fn rows_are_ranked_and_the_total_checked() {
        let answer = Answer { rows: vec![row(7, 10), row(8, 20)], total: Some(42), ..Answer::default() };
        let read = standings(answer, 10).unwrap();
        assert_eq!(read.total, 42);
        assert_eq!(read.rows.iter().map(|r| r.player_id).collect::<Vec<_>>(), [8, 7], "in rank order");
        let none = Answer { total: Some(0), ..Answer::default() };
        assert_eq!(standings(none, 10).unwrap(), Standings::default());
    }

    #[test]
    fn a_missing_or_impossible_total_is_malformed() {
        let malformed = |answer, limit| matches!(standings(answer, limit), Err(BackendError::Malformed(_)));
        assert!(malformed(Answer { rows: vec![row(7, 10)], ..Answer::default() }, 10), "no total");
        assert!(malformed(Answer { total: None, ..Answer::default() }, 10), "no total, no rows");
        let two = || vec![row(7, 10), row(8, 10)];
        assert!(
            malformed(Answer { rows: two(), total: Some(1), ..Answer::default() }, 10),
            "fewer than the rows"
        );
        assert!(malformed(Answer { rows: two(), total: Some(2), ..Answer::default() }, 1), "past the limit");
    }
}
