//! The standings engine: one snapshot per active view (a campaign's `top`, or its `window` for
//! one span) holding the view's complete standings, built by one backend query and shared by
//! every reader of that view whatever page, player or friends they ask for. Views read during a
//! period are refreshed ahead of their readers; views left unread expire and are dropped; the
//! views held are bounded in number and in bytes, and backend work by `--backend-concurrency`.

mod answer;
mod ledger;
#[cfg(test)]
mod memory;
mod slots;
mod snapshot;
mod source;
#[cfg(test)]
mod tests;
mod view;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use crate::backend::{Backend, BackendError, Standings};
use crate::campaigns::{Campaign, CampaignId, Catalogue};
use crate::leaderboard::{Changes, ChangesQuery};
use crate::leaderboard::{LeaderboardQuery, MaxLimit, MaxStandings, View};
use crate::metrics::{BackendLabels, Metrics};
use slots::Slots;
use view::{Now, ViewState};

pub use answer::{Board, Encoded, FriendsBoard, PlayerStanding, Shape};
pub use snapshot::Snapshot;
pub use source::first_query;

/// How the engine keeps views.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// How long a snapshot is fresh: a view read during it is refreshed at its end.
    pub ttl: Duration,
    /// How long one request waits for a snapshot.
    pub budget: Duration,
    pub max_limit: MaxLimit,
    /// The most players a snapshot holds.
    pub max_standings: MaxStandings,
    /// How long a view's last good snapshot is served when its refreshes fail.
    pub stale_if_error: Duration,
    /// Most backend queries running at once (as many more may wait).
    pub backend_concurrency: usize,
    /// A view unread this long is dropped.
    pub idle_after: Duration,
    /// Most views held at once; the least recently read goes first.
    pub max_views: u64,
    /// Most bytes of snapshots held at once.
    pub max_bytes: u64,
    /// A campaign that ended this long ago is final: computed once, never refreshed.
    pub late_arrival: Duration,
    /// How often an incremental view's sealed buckets are watched too, which catches spins
    /// later than `late_arrival`.
    pub reconcile_every: Duration,
    /// Views are refreshed incrementally when the backend answers such queries.
    pub incremental: bool,
}

/// Why no snapshot can be served.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The backend is as busy as the service lets it be; retry shortly.
    #[error("the backend is busy with other queries; retry shortly")]
    Busy,
    #[error("the backend did not answer within the request budget of {0:?}")]
    Budget(Duration),
    /// The refresh itself failed (a bug: it is logged).
    #[error("the refresh failed: {0}")]
    Failed(String),
}

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The view's current snapshot, as it stood.
    Hit,
    /// This request's refresh.
    Miss,
    /// Another request's refresh, waited for.
    Coalesced,
    /// The last good snapshot, because refreshes fail.
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

/// A snapshot as read for one request.
pub struct Read {
    pub snapshot: Arc<Snapshot>,
    pub source: Source,
    /// When the backend last confirmed these standings.
    pub checked_at: DateTime<Utc>,
}

/// An open stream of one view.
pub struct Subscription {
    subscriber: view::Subscriber,
    changes: tokio::sync::watch::Receiver<u64>,
}

impl Subscription {
    /// Waits until what the view answers changes.
    pub async fn changed(&mut self) {
        if self.changes.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// What the view answers now: its snapshot as read, or the error of a failing refresh.
    pub fn latest(&self) -> Option<Result<Read, Error>> {
        let state = self.subscriber.view();
        let checked_at = state.checked_at();
        let latest = state.latest()?;
        Some(latest.map(|snapshot| Read { snapshot, source: Source::Hit, checked_at }))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ViewKey {
    campaign: CampaignId,
    view: View,
}

/// What views and their refresh tasks share.
struct Shared {
    views: moka::sync::Cache<ViewKey, Arc<ViewState>>,
    backend: Arc<dyn Backend>,
    settings: Settings,
    metrics: Arc<Metrics>,
    slots: Slots,
    /// Instants are kept as nanoseconds from here, in atomics.
    epoch: Instant,
}

impl Shared {
    fn elapsed(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    fn at(&self, instant: Instant) -> u64 {
        instant.saturating_duration_since(self.epoch).as_nanos() as u64
    }

    fn instant(&self, nanos: u64) -> Instant {
        self.epoch + Duration::from_nanos(nanos)
    }

    /// Marks a view read in the engine's bookkeeping (its idle clock starts again), if held.
    fn touch(&self, state: &Arc<ViewState>) {
        let key = ViewKey { campaign: state.campaign.id.clone(), view: state.view };
        let _ = self.views.get(&key);
    }

    /// Weighs a view again after its snapshot changed, if it is still held.
    fn reweigh(&self, state: &Arc<ViewState>) {
        let key = ViewKey { campaign: state.campaign.id.clone(), view: state.view };
        if self.views.get(&key).is_some_and(|held| Arc::ptr_eq(&held, state)) {
            self.views.insert(key, state.clone());
        }
    }

    /// One full query, within the bound on backend work.
    async fn query(&self, query: LeaderboardQuery) -> Result<Standings, Error> {
        self.bounded("full", self.backend.leaderboard(&query), |s| s.rows.len()).await
    }

    /// One incremental query, within the bound on backend work.
    async fn changes(&self, query: &ChangesQuery) -> Result<Changes, Error> {
        self.bounded("changes", self.backend.changes(query), |c| c.rows.len()).await
    }

    async fn bounded<T>(
        &self,
        kind: &'static str,
        query: impl Future<Output = Result<T, BackendError>>,
        rows: impl Fn(&T) -> usize,
    ) -> Result<T, Error> {
        let _slot = self.slots.acquire().await.map_err(|_| Error::Busy)?;
        let started = std::time::Instant::now();
        let result = query.await;
        let outcome = result.as_ref().map_or_else(BackendError::kind, |_| "ok");
        let labels = BackendLabels { backend: self.backend.name(), kind, outcome };
        self.metrics.backend_query(labels, started.elapsed(), result.as_ref().ok().map(rows));
        Ok(result?)
    }
}

pub struct Engine {
    shared: Arc<Shared>,
    bodies: answer::Bodies,
}

impl Engine {
    pub fn new(backend: Arc<dyn Backend>, settings: Settings, metrics: Arc<Metrics>) -> Self {
        // A query that got its slot late would answer nobody: half the budget is the most a
        // refresh waits, leaving the other half for the query itself.
        let slots = Slots::new(settings.backend_concurrency, settings.budget / 2);
        let views = views(&settings);
        let bodies = answer::Bodies::new(settings.max_bytes / 4, settings.idle_after);
        let shared = Shared { views, backend, settings, metrics, slots, epoch: Instant::now() };
        Self { shared: Arc::new(shared), bodies }
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.shared.metrics
    }

    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.shared.backend
    }

    pub fn settings(&self) -> &Settings {
        &self.shared.settings
    }

    /// Brings the engine's gauges up to date, e.g. before the metrics are read.
    pub fn observe(&self) {
        let views = &self.shared.views;
        views.run_pending_tasks();
        let bytes: usize = views.iter().map(|(_, v)| v.bytes()).sum();
        self.shared.metrics.views.set(views.entry_count() as i64);
        self.shared.metrics.snapshot_bytes.set(bytes as i64);
    }

    /// Drops the views of campaigns that `catalogue` changed or removed; the others keep their
    /// snapshots.
    pub fn retain(&self, catalogue: &Catalogue) {
        let views = &self.shared.views;
        for (key, state) in views.iter() {
            if catalogue.get(&key.campaign).is_none_or(|c| **c != *state.campaign) {
                views.invalidate(&*key);
            }
        }
    }

    /// The current snapshot of `view`, at once when the view is fresh or being refreshed ahead;
    /// otherwise after one refresh shared with every reader waiting for it, within the request
    /// budget. When refreshes fail, the last good snapshot is served up to `--stale-if-error`.
    pub async fn read(&self, campaign: &Arc<Campaign>, view: View) -> Result<Read, Error> {
        let state = self.view(campaign, view);
        let served = |snapshot, source| Read { snapshot, source, checked_at: state.checked_at() };
        match state.now(&self.shared) {
            Now::Fresh(snapshot) => return Ok(self.counted(served(snapshot, Source::Hit))),
            Now::Due(snapshot) => {
                state.refresh(&self.shared, true);
                return Ok(self.counted(served(snapshot, Source::Hit)));
            }
            Now::Failing { snapshot, error, due } => {
                if due {
                    // Revalidate without making this reader wait for it.
                    state.refresh(&self.shared, true);
                }
                if let Ok(read) = self.stale(&state, snapshot, error) {
                    return Ok(read);
                }
            }
            Now::Expired => {}
        }
        let (mut outcome, started) = state.refresh(&self.shared, false);
        let budget = self.shared.settings.budget;
        let result = match tokio::time::timeout(budget, outcome.wait_for(Option::is_some)).await {
            Ok(Ok(settled)) => settled.clone().expect("waited for an outcome"),
            Ok(Err(_)) | Err(_) => Err(Error::Budget(budget)),
        };
        let source = if started { Source::Miss } else { Source::Coalesced };
        match (result, state.current()) {
            (Ok(snapshot), _) => Ok(self.counted(served(snapshot, source))),
            (Err(error), Some(snapshot)) => self.stale(&state, snapshot, error),
            (Err(error), None) => Err(error),
        }
    }

    /// A stream's hold on a view: it counts as reading the view every period (so the view is
    /// refreshed ahead and kept) and is woken whenever what the view answers changes.
    pub fn subscribe(&self, campaign: &Arc<Campaign>, view: View) -> Subscription {
        let state = self.view(campaign, view);
        let (subscriber, changes) = state.subscribe();
        Subscription { subscriber, changes }
    }

    /// The encoded answer `shape` of a read snapshot.
    pub fn body(&self, read: &Read, shape: Shape) -> Arc<Encoded> {
        self.bodies.get(&read.snapshot, shape)
    }

    fn view(&self, campaign: &Arc<Campaign>, view: View) -> Arc<ViewState> {
        let key = ViewKey { campaign: campaign.id.clone(), view };
        let views = &self.shared.views;
        let state = views.get_with_by_ref(&key, || Arc::new(ViewState::new(campaign.clone(), view)));
        if Arc::ptr_eq(&state.campaign, campaign) || *state.campaign == **campaign {
            return state;
        }
        // The request saw a newer catalogue than the view was made from.
        let fresh = Arc::new(ViewState::new(campaign.clone(), view));
        views.insert(key, fresh.clone());
        fresh
    }

    /// The last good snapshot while it is within `--stale-if-error`, else the error.
    fn stale(&self, state: &ViewState, snapshot: Arc<Snapshot>, error: Error) -> Result<Read, Error> {
        if state.age() > self.shared.settings.stale_if_error {
            return Err(error);
        }
        tracing::warn!(%error, "serving a stale snapshot");
        Ok(self.counted(Read { snapshot, source: Source::Stale, checked_at: state.checked_at() }))
    }

    fn counted(&self, read: Read) -> Read {
        self.shared.metrics.cache(read.source.as_str());
        read
    }
}

/// The views held: bounded in number and bytes (each view weighs at least its share of the
/// byte budget, so the count bound holds too), dropped after `--idle-after` unread, except final
/// ones, which are kept until pushed out.
fn views(settings: &Settings) -> moka::sync::Cache<ViewKey, Arc<ViewState>> {
    let budget_kib = (settings.max_bytes / 1024).max(1);
    let floor_kib = (budget_kib / settings.max_views.max(1)).max(1);
    moka::sync::Cache::builder()
        .max_capacity(budget_kib)
        .weigher(move |_, state: &Arc<ViewState>| {
            let kib = state.bytes() as u64 / 1024;
            u32::try_from(kib.max(floor_kib)).unwrap_or(u32::MAX)
        })
        .expire_after(Idle(settings.idle_after))
        .build()
}

struct Idle(Duration);

impl moka::Expiry<ViewKey, Arc<ViewState>> for Idle {
    fn expire_after_create(
        &self,
        _: &ViewKey,
        _: &Arc<ViewState>,
        _: std::time::Instant,
    ) -> Option<Duration> {
        Some(self.0)
    }

    fn expire_after_read(
        &self,
        _: &ViewKey,
        state: &Arc<ViewState>,
        _: std::time::Instant,
        _: Option<Duration>,
        _: std::time::Instant,
    ) -> Option<Duration> {
        (!state.is_final()).then_some(self.0)
    }

    fn expire_after_update(
        &self,
        _: &ViewKey,
        state: &Arc<ViewState>,
        _: std::time::Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        (!state.is_final()).then_some(self.0)
    }
}
