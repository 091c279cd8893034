//! The shared result cache: one entry per (campaign, view), living `--cache-ttl`. Concurrent
//! misses for a key run one backend query and share it; a failed query is not cached; and the
//! query runs in its own task, so a client that disconnects cancels nothing others wait on.
//! The last good value of each key is also kept for `--stale-if-error`, to answer with when a
//! refresh fails.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use moka::future::Cache;
use tracing::Instrument;

use crate::campaigns::CampaignId;
use crate::leaderboard::View;
use crate::metrics::Metrics;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    pub campaign: CampaignId,
    pub view: View,
}

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Hit,
    /// This request's query.
    Miss,
    /// Another request's query, waited for.
    Coalesced,
    /// The last good value, because the refresh failed.
    Stale,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::Miss => "miss",
            Self::Coalesced => "coalesced",
            Self::Stale => "stale",
        }
    }
}

pub struct ResultCache<V> {
    entries: Cache<CacheKey, Arc<V>>,
    last_good: Cache<CacheKey, Arc<V>>,
    metrics: Arc<Metrics>,
}

impl<V: Send + Sync + 'static> ResultCache<V> {
    pub fn new(ttl: Duration, stale_if_error: Duration, metrics: Arc<Metrics>) -> Self {
        let entries = Cache::builder().max_capacity(100_000).time_to_live(ttl).build();
        let last_good = Cache::builder().max_capacity(100_000).time_to_live(stale_if_error).build();
        Self { entries, last_good, metrics }
    }

    /// The cached value, if it is still fresh.
    pub async fn hit(&self, key: &CacheKey) -> Option<Arc<V>> {
        let value = self.entries.get(key).await?;
        self.metrics.cache(Source::Hit.as_str());
        Some(value)
    }

    /// The value `fetch` produces, run once however many callers ask at the same time (a
    /// caller that finds the key filled meanwhile gets that value). For a miss after [`hit`].
    ///
    /// [`hit`]: Self::hit
    pub async fn fetch<E, F>(&self, key: CacheKey, fetch: F) -> Result<(Arc<V>, Source), Arc<E>>
    where
        E: Send + Sync + 'static,
        F: Future<Output = Result<V, E>> + Send + 'static,
    {
        let (entries, last_good) = (self.entries.clone(), self.last_good.clone());
        let ran = Arc::new(AtomicBool::new(false));
        let ran_here = ran.clone();
        let shared = tokio::spawn(
            async move {
                let good_key = key.clone();
                let fetch = async move {
                    ran_here.store(true, Ordering::Relaxed);
                    let value = Arc::new(fetch.await?);
                    last_good.insert(good_key, value.clone()).await;
                    Ok(value)
                };
                entries.try_get_with(key, fetch).await
            }
            // The query logs under the request that asked first.
            .in_current_span(),
        );
        let result = shared.await;
        let source = if ran.load(Ordering::Relaxed) { Source::Miss } else { Source::Coalesced };
        self.metrics.cache(source.as_str());
        let result = result.unwrap_or_else(|join| match join.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(cancelled) => panic!("cache fill task ended early: {cancelled}"),
        });
        result.map(|value| (value, source))
    }

    /// The last good value of `key` within the stale-if-error window.
    pub async fn stale(&self, key: &CacheKey) -> Option<Arc<V>> {
        let value = self.last_good.get(key).await?;
        self.metrics.cache(Source::Stale.as_str());
        Some(value)
    }

    /// Forgets everything, e.g. after the campaigns changed.
    pub fn clear(&self) {
        self.entries.invalidate_all();
        self.last_good.invalidate_all();
    }
}
