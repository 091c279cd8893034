//! The shared result cache: one entry per (campaign, view), living `--cache-ttl`. Concurrent
//! misses for a key run one backend query and share it; a failed query is not cached; and the
//! query runs in its own task, so a client that disconnects cancels nothing others wait on.

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

pub struct ResultCache<V> {
    entries: Cache<CacheKey, Arc<V>>,
    metrics: Arc<Metrics>,
}

impl<V: Send + Sync + 'static> ResultCache<V> {
    pub fn new(ttl: Duration, metrics: Arc<Metrics>) -> Self {
        let entries = Cache::builder().max_capacity(100_000).time_to_live(ttl).build();
        Self { entries, metrics }
    }

    /// The cached value, or the value `fetch` produces, run once however many callers ask.
    pub async fn get_or_fetch<E, F>(&self, key: CacheKey, fetch: F) -> Result<Arc<V>, Arc<E>>
    where
        E: Send + Sync + 'static,
        F: Future<Output = Result<V, E>> + Send + 'static,
    {
        if let Some(hit) = self.entries.get(&key).await {
            self.metrics.cache("hit");
            return Ok(hit);
        }
        let entries = self.entries.clone();
        let ran = Arc::new(AtomicBool::new(false));
        let ran_here = ran.clone();
        let shared = tokio::spawn(
            async move {
                let fetch = async move {
                    ran_here.store(true, Ordering::Relaxed);
                    fetch.await.map(Arc::new)
                };
                entries.try_get_with(key, fetch).await
            }
            // The query logs under the request that asked first.
            .in_current_span(),
        );
        let result = shared.await;
        self.metrics.cache(if ran.load(Ordering::Relaxed) { "miss" } else { "coalesced" });
        result.unwrap_or_else(|join| match join.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(cancelled) => panic!("cache fill task ended early: {cancelled}"),
        })
    }

    /// Forgets everything, e.g. after the campaigns changed.
    pub fn clear(&self) {
        self.entries.invalidate_all();
    }
}
