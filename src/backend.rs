//! The storage seam: what the HTTP layer needs from wherever spins live (ADX or the embedded
//! store), and the one error type every backend reports.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::leaderboard::{BucketCount, Changes, ChangesQuery, LeaderboardQuery, Row};

/// Spins stored with an event time older than the horizon asked for (late ones: a campaign that
/// ended that long ago may have been taken as complete): each counted one's event time
/// (microseconds since the Unix epoch) and game.
pub type LateSpins = Arc<[(i64, i32)]>;

/// A view's complete standings as a backend computed them: the best `query.limit` players
/// ordered by rank, how many players the view ranks in all (even past the cap), and the counts
/// the query asked for.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Standings {
    pub rows: Vec<Row>,
    pub total: u64,
    pub counts: Vec<BucketCount>,
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

    /// Cheap check that the backend answers queries.
    async fn ping(&self) -> Result<(), BackendError>;

    /// Every counted spin stored from now on whose event time is more than `horizon` old, as
    /// it is stored, for backends that know (`None`: this one does not tell).
    fn late_spins(&self, _horizon: Duration) -> Option<broadcast::Receiver<LateSpins>> {
        None
    }

    /// Whether every spin sent to the backend so far is in it (false while a feed catches up
    /// on a backlog): until then no campaign is taken as complete.
    fn settled(&self) -> bool {
        true
    }
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
