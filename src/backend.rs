//! The storage seam: what the HTTP layer needs from wherever spins live (ADX or the embedded
//! store), and the one error type every backend reports.

use async_trait::async_trait;

use crate::leaderboard::{LeaderboardQuery, Standing};

/// A view's complete standings as a backend computed them: the best `query.limit` players
/// ordered by rank, and how many players the view ranks in all (even past the cap).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Standings {
    pub rows: Vec<Standing>,
    pub total: u64,
}

#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Short name for logs, metrics and error messages (`adx`, `embedded`).
    fn name(&self) -> &'static str;

    /// The view's standings: at most `query.limit` rows ordered by rank, with the exact total.
    async fn leaderboard(&self, query: &LeaderboardQuery) -> Result<Standings, BackendError>;

    /// Cheap check that the backend answers queries.
    async fn ping(&self) -> Result<(), BackendError>;
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
        }
    }
}
