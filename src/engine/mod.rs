//! The standings engine: one snapshot per active view (a campaign's `top`, or its `window` for
//! one span) holding the view's complete standings, built by one backend query and shared by
//! every reader of that view whatever page, player or friends they ask for. Each view has one
//! owner, a task that keeps its schedule, its refresh, its failure and its end
//! ([`owner`]); readers and streams read what it published without locks ([`handle`]). Views
//! read or streamed during a period are refreshed ahead of their readers; views left unread
//! end; the views held are bounded in number and in bytes ([`registry`]), and backend work by
//! `--backend-concurrency`.

mod answer;
mod arrivals;
mod follow;
mod handle;
mod kept;
mod ledger;
#[cfg(test)]
mod memory;
mod owner;
mod registry;
mod slots;
mod snapshot;
mod source;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::backend::{Backend, BackendError, Changed, Cursor, Standings};
use crate::campaigns::{Campaign, CampaignId, Catalogue};
use crate::leaderboard::{Changes, ChangesQuery, LeaderboardQuery, MaxLimit, MaxStandings, View};
use crate::metrics::{BackendLabels, Metrics};
use handle::{Command, Handle, Published, Signal};
use registry::Registry;
use slots::Slots;

pub use answer::{Answer, Board, Encoded, FriendsBoard, PlayerStanding, Shape};
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

/// A snapshot as read for one request: what the view's owner published, held by one reference.
pub struct Read {
    published: Arc<Published>,
    pub source: Source,
    /// Whole seconds since the backend last confirmed these standings, when they were read.
    pub age: u64,
}

impl Read {
    fn new(published: Arc<Published>, source: Source, now: Instant) -> Self {
        let age = now.saturating_duration_since(published.confirmed).as_secs();
        Self { published, source, age }
    }

    pub fn snapshot(&self) -> &Arc<Snapshot> {
        &self.published.snapshot
    }

    /// When the backend last confirmed these standings, on the clock that tells their age.
    #[cfg(test)]
    pub fn confirmed(&self) -> Instant {
        self.published.confirmed
    }

    /// When the backend last confirmed these standings, as RFC 3339 text (milliseconds, `Z`),
    /// formatted once per refresh.
    pub fn checked_text(&self) -> &Bytes {
        &self.published.checked_text
    }
}

/// What a reader finds in a held view.
enum Found {
    /// The snapshot as it is.
    Served(Read),
    /// Nothing to serve yet: a refresh is waited for (`refreshing`: one ahead of the readers runs).
    Due { handle: Arc<Handle>, refreshing: bool },
}

/// An open stream of one view: woken at every change of what the view answers, and told when
/// the view is gone (its client reconnects then, to a view of its own).
pub struct Subscription {
    /// Not a strong hold: a stream whose client stopped reading is not polled again, and must
    /// not keep an ended view's snapshot alive outside `--snapshot-memory`.
    handle: std::sync::Weak<Handle>,
    signal: watch::Receiver<Signal>,
}

impl Subscription {
    /// Waits until what the view answers changes; false once the view is gone.
    pub async fn changed(&mut self) -> bool {
        match self.signal.changed().await {
            Ok(()) => !self.signal.borrow_and_update().ended,
            Err(_) => false,
        }
    }

    /// What the view answers now: its snapshot as read, or the error of a failing refresh.
    pub fn latest(&self) -> Option<Result<Read, Error>> {
        let published = self.handle.upgrade()?.published()?;
        Some(match &published.failing {
            Some(error) => Err(error.clone()),
            None => Ok(Read::new(published, Source::Hit, Instant::now())),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ViewKey {
    pub campaign: CampaignId,
    pub view: View,
}

/// What views and their owners share.
struct Shared {
    backend: Arc<dyn Backend>,
    settings: Settings,
    metrics: Arc<Metrics>,
    slots: Slots,
    /// Instants are kept as nanoseconds from here, in atomics.
    epoch: Instant,
    /// Whether the backend tells of what it stores (and the engine listens).
    tells: bool,
    /// Every batch the backend told of up to this number has reached the views it may change.
    dispatched: AtomicU64,
}

impl Shared {
    fn elapsed(&self) -> u64 {
        self.since_epoch(Instant::now())
    }

    fn since_epoch(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_nanos() as u64
    }

    fn instant(&self, nanos: u64) -> Instant {
        self.epoch + Duration::from_nanos(nanos)
    }

    /// How many batches the backend has told of so far, when it tells (`None`: it does not).
    fn told(&self) -> Option<u64> {
        self.tells.then(|| self.backend.told())
    }

    /// Whether every batch told up to `told` has reached the views it may change.
    fn dispatched(&self, told: u64) -> bool {
        self.dispatched.load(Ordering::Acquire) >= told
    }

    /// Whether views are refreshed incrementally: asked for, and answered by the backend.
    fn incremental(&self) -> bool {
        self.settings.incremental && self.backend.answers_changes()
    }

    /// One full query, within the bound on backend work.
    async fn query(&self, query: LeaderboardQuery) -> Result<Standings, Error> {
        self.bounded("full", self.backend.leaderboard(&query), |s| s.rows.len()).await
    }

    /// The players who changed since a read, within the bound on backend work.
    async fn changed_since(&self, query: &LeaderboardQuery, since: Cursor) -> Result<Option<Changed>, Error> {
        let rows = |c: &Option<Changed>| c.as_ref().map_or(0, |c| c.rows.len());
        self.bounded("changed", self.backend.changed_since(query, since), rows).await
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
    registry: Arc<Registry>,
    /// Bytes of the answers snapshots keep encoded.
    kept: Arc<kept::Budget>,
}

impl Engine {
    pub fn new(backend: Arc<dyn Backend>, settings: Settings, metrics: Arc<Metrics>) -> Self {
        // A query that got its slot late would answer nobody: half the budget is the most a
        // refresh waits, leaving the other half for the query itself.
        let slots = Slots::new(settings.backend_concurrency, settings.budget / 2);
        let registry = Arc::new(Registry::new(settings.max_views, settings.max_bytes));
        let kept = kept::Budget::new(settings.max_bytes / 4);
        let told = backend.arrivals(settings.late_arrival);
        // Batches told before the engine listened are in every query it sends.
        let dispatched = AtomicU64::new(backend.told());
        let tells = told.is_some();
        let shared =
            Arc::new(Shared { backend, settings, metrics, slots, epoch: Instant::now(), tells, dispatched });
        if let Some(told) = told {
            tokio::spawn(arrivals::listen(told, Arc::downgrade(&registry), shared.clone()));
        }
        Self { shared, registry, kept }
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

    /// Brings the engine's gauges up to date, e.g. before the metrics are read: every view held
    /// (streamed or read), and their bytes.
    pub fn observe(&self) {
        self.shared.metrics.views.set(self.registry.len() as i64);
        self.shared.metrics.snapshot_bytes.set(self.registry.bytes() as i64);
    }

    /// Brings the views up to `catalogue`: a view of a campaign that changed is refreshed for
    /// the new campaign (its streams get the new answer), one of a campaign that is gone, or
    /// whose span the campaign no longer declares, ends (its streams end); the others keep their
    /// snapshots.
    pub fn reload(&self, catalogue: &Catalogue) {
        for handle in self.registry.all() {
            let command = match catalogue.get(handle.key.campaign.as_str()) {
                Some(campaign) if !campaign.declares(handle.key.view) => Command::End,
                Some(campaign) if **campaign != **handle.campaign.load() => {
                    Command::Campaign(campaign.clone())
                }
                Some(_) => continue,
                None => Command::End,
            };
            let _ = handle.commands.send(command);
        }
    }

    /// The current snapshot of `view`, at once when the view is fresh or being refreshed ahead;
    /// otherwise after one refresh shared with every reader waiting for it, within the request
    /// budget. When refreshes fail, the last good snapshot is served up to `--stale-if-error`.
    pub async fn read(&self, campaign: &Arc<Campaign>, view: View) -> Result<Read, Error> {
        // One clock reading: for the view's last read, its freshness and the answer's age.
        let now = Instant::now();
        // A held view is looked at through the map's borrow, with no reference taken to it.
        let found = match self.registry.with(&campaign.id, view, |handle| self.look(handle, campaign, now)) {
            Some(found) => found,
            None => self.look(&self.handle(campaign, view)?, campaign, now),
        };
        match found {
            Found::Served(read) => Ok(self.counted(read)),
            Found::Due { handle, refreshing } => self.wait(&handle, refreshing, campaign).await,
        }
    }

    /// Marks `handle` read at `now`: its snapshot, when it may be served as it is; else what a
    /// reader waits on.
    fn look(&self, handle: &Arc<Handle>, campaign: &Arc<Campaign>, now: Instant) -> Found {
        self.follow_catalogue(handle, campaign);
        let was_read = handle.mark_read(self.shared.since_epoch(now));
        let ttl = self.shared.settings.ttl;
        let mut refreshing = false;
        // A snapshot of another version of the campaign (the catalogue was reloaded) is not an
        // answer: the reader waits for the new one.
        let current =
            handle.published().filter(|p| Arc::ptr_eq(&p.campaign, campaign) || *p.campaign == **campaign);
        if let Some(published) = current {
            refreshing = published.refreshing;
            match &published.failing {
                // Fresh; or refreshed ahead right now, or about to be (read during the period).
                None if published
                    .due
                    .is_none_or(|due| now < due || refreshing || (was_read && now < due + ttl)) =>
                {
                    return Found::Served(Read::new(published, Source::Hit, now));
                }
                Some(_) if self.within_stale(&published, now) => {
                    return Found::Served(Read::new(published, Source::Stale, now));
                }
                _ => {}
            }
        }
        Found::Due { handle: handle.clone(), refreshing }
    }

    /// Asks the view's owner for a refresh and waits for the next one to end, within the budget.
    async fn wait(
        &self,
        handle: &Arc<Handle>,
        refreshing: bool,
        campaign: &Arc<Campaign>,
    ) -> Result<Read, Error> {
        let mut settled = handle.settled.subscribe();
        let seen = settled.borrow_and_update().seq;
        // The reader whose wish starts the refresh runs the query; every other shares it.
        let asked = handle.want_refresh();
        let budget = self.shared.settings.budget;
        let outcome = match tokio::time::timeout(budget, settled.wait_for(|s| s.seq > seen)).await {
            Ok(Ok(settled)) => settled.error.clone(),
            Ok(Err(_)) => Some(Error::Failed("the view ended".into())),
            Err(_) => Some(Error::Budget(budget)),
        };
        let source = if asked && !refreshing { Source::Miss } else { Source::Coalesced };
        let published = handle.published().filter(|p| *p.campaign == **campaign);
        let read = |published, source| Read::new(published, source, Instant::now());
        match (outcome, published) {
            (None, Some(published)) => Ok(self.counted(read(published, source))),
            // No backend slot for the refresh: late, not failing; the snapshot says its age.
            (Some(Error::Busy), Some(published)) => Ok(self.counted(read(published, Source::Hit))),
            (Some(_), Some(published)) if self.within_stale(&published, Instant::now()) => {
                Ok(self.counted(read(published, Source::Stale)))
            }
            (Some(error), _) => Err(error),
            (None, None) => Err(Error::Failed("a refresh ended with nothing to serve".into())),
        }
    }

    /// A stream's hold on a view: the view counts as read every period while it is open (so it
    /// is refreshed ahead and kept), within the engine's bounds like any view (`Busy` when no
    /// view can be made).
    pub fn subscribe(&self, campaign: &Arc<Campaign>, view: View) -> Result<Subscription, Error> {
        let handle = self.handle(campaign, view)?;
        self.follow_catalogue(&handle, campaign);
        let signal = handle.signal.subscribe();
        Ok(Subscription { handle: Arc::downgrade(&handle), signal })
    }

    /// The encoded answer `shape` of a read snapshot, encoded once for all its readers.
    pub fn body(&self, read: &Read, shape: Shape) -> Arc<Encoded> {
        read.snapshot().encoded(shape, &self.kept)
    }

    /// The view's handle, the view made (and its owner started) if it is not held; `Busy` when
    /// there is no room for it.
    fn handle(&self, campaign: &Arc<Campaign>, view: View) -> Result<Arc<Handle>, Error> {
        let key = ViewKey { campaign: campaign.id.clone(), view };
        let make = || {
            let (commands, receiver) = tokio::sync::mpsc::unbounded_channel();
            (Arc::new(Handle::new(key.clone(), campaign.clone(), commands, self.shared.elapsed())), receiver)
        };
        let start = |handle, commands| {
            owner::Owner::spawn(handle, self.shared.clone(), Arc::downgrade(&self.registry), commands);
        };
        self.registry.get_or_insert(&key, make, start).ok_or(Error::Busy)
    }

    /// Tells the view's owner of `campaign` when the request saw a newer catalogue than the view
    /// was made from.
    fn follow_catalogue(&self, handle: &Handle, campaign: &Arc<Campaign>) {
        let made_from = handle.campaign.load();
        if !Arc::ptr_eq(&made_from, campaign) && **made_from != **campaign {
            let _ = handle.commands.send(Command::Campaign(campaign.clone()));
        }
    }

    /// Whether the last good snapshot may still be served while refreshes fail.
    fn within_stale(&self, published: &Published, now: Instant) -> bool {
        now.saturating_duration_since(published.confirmed) <= self.shared.settings.stale_if_error
    }

    fn counted(&self, read: Read) -> Read {
        self.shared.metrics.cache(read.source.as_str());
        read
    }
}
