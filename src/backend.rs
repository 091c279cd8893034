//! The storage seam: what the HTTP layer needs from wherever spins live (ADX or the embedded
//! store), and the one error type every backend reports.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::events::Spin;
use crate::leaderboard::{BucketCount, Changes, ChangesQuery, LeaderboardQuery, Row};

/// What one stored batch of spins tells the views (spins that cannot qualify left out): the
/// event times it spans, its games, and which of its spins were late (older than the horizon
/// asked for: a campaign that ended that long ago may have been taken as complete).
#[derive(Debug, Clone, PartialEq)]
pub struct Arrived {
    /// The batch's number among those told, from 1 (see [`Backend::told`]).
    pub seq: u64,
    /// The earliest and the latest event time, microseconds since the Unix epoch.
    pub span: (i64, i64),
    /// The games, sorted; `None`: too many to list, take any game as touched.
    pub games: Option<Arc<[i32]>>,
    /// The late spins: each one's event time and game, the first [`LATE_LISTED`] of the batch.
    pub late: Arc<[(i64, i32)]>,
    /// The late spins past those listed: how many, and the earliest and the latest event time
    /// among them (their games are the batch's).
    pub late_beyond: Option<(u64, (i64, i64))>,
}

/// Late spins listed one by one per batch, at most: a batch of more describes the rest by their
/// number and span, so that what a batch tells stays small whatever its size.
pub const LATE_LISTED: usize = 1024;

impl Arrived {
    /// Whether the batch may change a view of `[from, to)` (microseconds) over `games`.
    pub fn touches(&self, (from, to): (i64, i64), games: Option<&[i32]>) -> bool {
        let overlaps = self.span.0 < to && from <= self.span.1;
        let shared = match (&self.games, games) {
            (Some(arrived), Some(wanted)) => wanted.iter().any(|g| arrived.binary_search(g).is_ok()),
            _ => true,
        };
        overlaps && shared
    }
}

/// A view's complete standings as a backend computed them: the best `query.limit` players
/// ordered by rank, how many players the view ranks in all (even past the cap), the counts
/// the query asked for, and, from a backend that can tell which players changed since, where
/// this read left off.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Standings {
    pub rows: Vec<Row>,
    pub total: u64,
    pub counts: Vec<BucketCount>,
    pub cursor: Option<Cursor>,
}

/// Where a read of a view's standings left off, for [`Backend::changed_since`]: the standings it
/// was read from (the embedded store's tracked scope) and the last spin it held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub scope: i64,
    pub seen: i64,
}

/// The players whose standings changed since a [`Cursor`]: each one's whole standing as it is
/// now (one that no longer ranks too, in no order), and where this read left off.
#[derive(Debug, Clone, PartialEq)]
pub struct Changed {
    pub rows: Vec<Row>,
    pub cursor: Cursor,
}

#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Short name for logs, metrics and error messages (`adx`, `embedded`).
    fn name(&self) -> &'static str;

    /// The view's standings: at most `query.limit` rows ordered by rank, with the exact total.
    async fn leaderboard(&self, query: &LeaderboardQuery) -> Result<Standings, BackendError>;

    /// Whether [`Backend::changes`] is answered; views of a backend that does not are refreshed
    /// by full queries.
    fn answers_changes(&self) -> bool {
        false
    }

    /// Bests per bucket and counts per bucket, for an incremental refresh.
    async fn changes(&self, _query: &ChangesQuery) -> Result<Changes, BackendError> {
        Err(BackendError::Unsupported(self.name()))
    }

    /// The players of `query`'s view whose standings changed since `since` (where a read of the
    /// same view left off), at most `query.limit` of them; `None`: that read's standings are
    /// gone, or more players changed than that, read the view whole.
    async fn changed_since(
        &self,
        _query: &LeaderboardQuery,
        _since: Cursor,
    ) -> Result<Option<Changed>, BackendError> {
        Ok(None)
    }

    /// Cheap check that the backend answers queries.
    async fn ping(&self) -> Result<(), BackendError>;

    /// Every batch stored from now on, once it is, for backends that know (`None`: this one
    /// does not tell): its spins older than `horizon` are its late ones.
    fn arrivals(&self, _horizon: Duration) -> Option<broadcast::Receiver<Arrived>> {
        None
    }

    /// How many batches [`Backend::arrivals`] has told of so far (each told once stored): one
    /// numbered up to this is in every query from now on.
    fn told(&self) -> u64 {
        0
    }

    /// Whether every spin sent to the backend so far is in it (false while a feed catches up
    /// on a backlog): until then no campaign is taken as complete.
    fn settled(&self) -> bool {
        true
    }

    /// Whether a feed stores into this backend, so that [`Backend::settled`] may turn false
    /// again at any time (a stalled partition, a lost broker): final standings are then looked
    /// at again each period, to stop being final meanwhile.
    fn fed(&self) -> bool {
        false
    }
}

/// Where spins sent to the service are stored (the embedded store; ADX takes its spins through
/// its own ingestion).
#[async_trait]
pub trait Sink: Send + Sync + 'static {
    /// Stores a batch durably, all or nothing; once this returns, the views it may change know.
    async fn store(&self, spins: Vec<Spin>) -> Result<(), BackendError>;
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum BackendError {
    /// The backend answered, with an error of its own (bad query, permission, partial result).
    #[error("{code}: {message}")]
    Rejected { code: String, message: String },
    /// The answer could not be understood.
    #[error("unreadable answer: {0}")]
    Malformed(String),
    /// No answer: connection refused or reset, DNS, TLS, auth token unavailable.
    #[error("unreachable: {0}")]
    Unreachable(String),
    #[error("no answer within {0:?}")]
    Timeout(std::time::Duration),
    /// The backend asked us to slow down (HTTP 429).
    #[error("throttled: {0}")]
    Throttled(String),
    /// The embedded store failed on its own disk or data.
    #[error("storage failure: {0}")]
    Storage(String),
    /// The backend does not answer this kind of query.
    #[error("the {0} backend does not answer incremental queries")]
    Unsupported(&'static str),
}

impl BackendError {
    /// A short label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Rejected { .. } => "rejected",
            Self::Malformed(_) => "malformed",
            Self::Unreachable(_) => "unreachable",
            Self::Timeout(_) => "timeout",
            Self::Throttled(_) => "throttled",
            Self::Storage(_) => "storage",
            Self::Unsupported(_) => "unsupported",
        }
    }
}
