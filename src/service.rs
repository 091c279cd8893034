//! Serving leaderboards: resolves a view of a campaign at the current instant, fetches it
//! through the shared cache, and keeps each response body encoded and tagged once per limit so
//! that a cache hit costs no serialization and no hashing. At most `--backend-concurrency`
//! backend queries run at once, so cached reads keep flowing while misses queue.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{Semaphore, SemaphorePermit};
use utoipa::ToSchema;

use crate::backend::{Backend, BackendError};
use crate::cache::{CacheKey, ResultCache, Source};
use crate::campaigns::{Campaign, CampaignStatus};
use crate::http::caching::Representation;
use crate::leaderboard::{self, Entry, Limit, MaxLimit, View, Window};
use crate::metrics::Metrics;

/// A campaign as served, with its status at the time of the answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CampaignSummary {
    #[serde(flatten)]
    pub campaign: Campaign,
    pub status: CampaignStatus,
}

impl CampaignSummary {
    pub fn at(campaign: &Campaign, now: DateTime<Utc>) -> Self {
        Self { campaign: campaign.clone(), status: campaign.status_at(now) }
    }
}

/// The leaderboard response body.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Leaderboard<'a> {
    pub campaign: &'a CampaignSummary,
    pub window: Window,
    /// When the backend computed these standings.
    pub generated_at: DateTime<Utc>,
    pub entries: &'a [Entry],
}

/// One computed view: up to max-limit entries, and each limit's body encoded and tagged on
/// first use.
pub struct Board {
    campaign: CampaignSummary,
    window: Window,
    generated_at: DateTime<Utc>,
    entries: Vec<Entry>,
    bodies: Box<[OnceLock<Representation>]>,
}

impl Board {
    fn new(
        campaign: CampaignSummary,
        window: Window,
        generated_at: DateTime<Utc>,
        entries: Vec<Entry>,
        max: MaxLimit,
    ) -> Self {
        let bodies = (0..max.get()).map(|_| OnceLock::new()).collect();
        Self { campaign, window, generated_at, entries, bodies }
    }

    /// The JSON body for the first `limit` entries, with its entity tag.
    pub fn body(&self, limit: Limit) -> Representation {
        let slot = &self.bodies[limit.get() as usize - 1];
        slot.get_or_init(|| {
            let shown = &self.entries[..self.entries.len().min(limit.get() as usize)];
            let body = Leaderboard {
                campaign: &self.campaign,
                window: self.window,
                generated_at: self.generated_at,
                entries: shown,
            };
            Representation::json(serde_json::to_vec(&body).expect("a leaderboard always serializes").into())
        })
        .clone()
    }

    pub fn generated_at(&self) -> DateTime<Utc> {
        self.generated_at
    }
}

/// How boards are served.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub cache_ttl: Duration,
    /// How long one request waits for a board.
    pub budget: Duration,
    pub max_limit: MaxLimit,
    /// How long the last good board of a key is served when its refresh fails.
    pub stale_if_error: Duration,
    /// Most backend queries running at once.
    pub backend_concurrency: usize,
}

pub struct LeaderboardService {
    backend: Arc<dyn Backend>,
    cache: ResultCache<Board>,
    settings: Settings,
    metrics: Arc<Metrics>,
    backend_slots: Arc<BackendSlots>,
}

impl LeaderboardService {
    pub fn new(backend: Arc<dyn Backend>, settings: Settings, metrics: Arc<Metrics>) -> Self {
        let cache = ResultCache::new(settings.cache_ttl, settings.stale_if_error, metrics.clone());
        let backend_slots = Arc::new(BackendSlots {
            free: Semaphore::new(settings.backend_concurrency),
            wait: settings.budget,
        });
        Self { backend, cache, settings, metrics, backend_slots }
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    pub fn max_limit(&self) -> MaxLimit {
        self.settings.max_limit
    }

    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// Forgets cached boards, e.g. after the campaigns changed.
    pub fn clear(&self) {
        self.cache.clear();
    }

    /// The board for `view` of `campaign`, from the cache or one shared backend query. Past
    /// the request budget this gives up with a timeout; the query itself goes on. When the
    /// query fails or times out, the key's last good board is served if it is recent enough.
    pub async fn board(
        &self,
        campaign: &Arc<Campaign>,
        view: View,
    ) -> Result<(Arc<Board>, Source), Arc<BackendError>> {
        let key = CacheKey { campaign: campaign.id.clone(), view };
        // The hot path: a hit builds no query, arms no timer and clones nothing else.
        if let Some(board) = self.cache.hit(&key).await {
            return Ok((board, Source::Hit));
        }
        let budget = self.settings.budget;
        let error =
            match tokio::time::timeout(budget, self.cache.fetch(key.clone(), self.query(campaign, view)))
                .await
            {
                Ok(Ok(fetched)) => return Ok(fetched),
                Ok(Err(error)) => error,
                Err(_) => Arc::new(BackendError::Timeout(budget)),
            };
        match self.cache.stale(&key).await {
            Some(board) => {
                tracing::warn!(error = %error, "serving a stale board");
                Ok((board, Source::Stale))
            }
            None => Err(error),
        }
    }

    /// The detached computation of one board, owning everything it needs.
    fn query(
        &self,
        campaign: &Arc<Campaign>,
        view: View,
    ) -> impl Future<Output = Result<Board, BackendError>> + use<> {
        let (campaign, backend, slots, max, metrics) = (
            campaign.clone(),
            self.backend.clone(),
            self.backend_slots.clone(),
            self.settings.max_limit,
            self.metrics.clone(),
        );
        async move { compute(&campaign, view, &*backend, &slots, max, &metrics).await }
    }
}

/// The bound on simultaneous backend queries.
struct BackendSlots {
    free: Semaphore,
    /// How long a query waits for a slot: past the request budget, whoever asked has had a 504
    /// already, and a backlog of queries nobody waits for would only delay the next ones.
    wait: Duration,
}

impl BackendSlots {
    async fn acquire(&self) -> Result<SemaphorePermit<'_>, BackendError> {
        match tokio::time::timeout(self.wait, self.free.acquire()).await {
            Ok(permit) => Ok(permit.expect("the semaphore is never closed")),
            Err(_) => Err(BackendError::Timeout(self.wait)),
        }
    }
}

async fn compute(
    campaign: &Campaign,
    view: View,
    backend: &dyn Backend,
    slots: &BackendSlots,
    max: MaxLimit,
    metrics: &Metrics,
) -> Result<Board, BackendError> {
    let now = leaderboard::now();
    let summary = CampaignSummary::at(campaign, now);
    let Some(query) = view.query(campaign, now, max) else {
        // Not started: nothing can count yet, so there is nothing to ask.
        let empty = Window { from: campaign.start, to: campaign.start };
        let window =
            if view == View::Top { Window { from: campaign.start, to: campaign.end } } else { empty };
        return Ok(Board::new(summary, window, now, Vec::new(), max));
    };
    let _slot = slots.acquire().await?;
    let started = std::time::Instant::now();
    let result = backend.leaderboard(&query).await;
    let outcome = result.as_ref().map_or_else(BackendError::kind, |_| "ok");
    metrics.backend_query(backend.name(), outcome, started.elapsed());
    let standings = result?;
    Ok(Board::new(summary, query.window, now, leaderboard::rank(standings.rows), max))
}
