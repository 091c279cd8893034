//! One view's life: its current snapshot, when it is due for a refresh, whether it was read
//! since the last one, and the one refresh that may run at a time. A view read during a period
//! is refreshed ahead at the end of it (readers keep getting the current snapshot meanwhile); a
//! view nobody read is left to expire, and its next reader waits for a refresh, coalesced.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::Instrument;

use super::snapshot::{Ranking, Snapshot};
use super::source::{Keeper, Refresh};
use super::{Error, Shared};
use crate::campaigns::{Campaign, CampaignSummary};
use crate::leaderboard::{self, Row, View, Window};

/// The outcome of one refresh, as its waiters see it.
pub type Outcome = Result<Arc<Snapshot>, Error>;

pub struct ViewState {
    pub campaign: Arc<Campaign>,
    pub view: View,
    current: ArcSwapOption<Snapshot>,
    /// When the current snapshot stops being fresh, in nanoseconds from the engine's epoch.
    due: AtomicU64,
    /// When the backend last confirmed the current snapshot (Unix microseconds).
    checked_at: AtomicI64,
    /// Read since the last refresh started.
    read: AtomicBool,
    /// The last refresh failed (with this error): the current snapshot is stale.
    failing: ArcSwapOption<Error>,
    /// The refresh in flight, if any; `ahead` when it was started for readers who are not
    /// waiting for it.
    inflight: Mutex<Option<watch::Receiver<Option<Outcome>>>>,
    ahead: AtomicBool,
    /// A task refreshes this view ahead while it is read.
    ticking: AtomicBool,
    /// Open streams of this view: they count as reading it, every period.
    subscribers: AtomicUsize,
    /// Bumped whenever what the view answers changes: a new snapshot, or a failed refresh.
    changes: watch::Sender<u64>,
    /// What incremental refreshes remember.
    pub ledger: Keeper,
}

/// What a reader gets from a view without waiting.
pub enum Now {
    Fresh(Arc<Snapshot>),
    /// The period just ended and the view was read during it: serve this and refresh ahead
    /// (whoever comes first, the reader or the ticker, starts it).
    Due(Arc<Snapshot>),
    /// The last refresh failed: the last good snapshot, the error, and whether another refresh
    /// is due.
    Failing {
        snapshot: Arc<Snapshot>,
        error: Error,
        due: bool,
    },
    /// Nothing to serve at once: wait for a refresh.
    Expired,
}

const FOREVER: u64 = u64::MAX;

impl ViewState {
    pub fn new(campaign: Arc<Campaign>, view: View) -> Self {
        Self {
            campaign,
            view,
            current: ArcSwapOption::empty(),
            due: AtomicU64::new(0),
            checked_at: AtomicI64::new(0),
            read: AtomicBool::new(false),
            failing: ArcSwapOption::empty(),
            inflight: Mutex::new(None),
            ahead: AtomicBool::new(false),
            ticking: AtomicBool::new(false),
            subscribers: AtomicUsize::new(0),
            changes: watch::Sender::new(0),
            ledger: Keeper::default(),
        }
    }

    /// Registers an open stream until the guard is dropped, and the changes it waits on.
    pub fn subscribe(self: &Arc<Self>) -> (Subscriber, watch::Receiver<u64>) {
        self.subscribers.fetch_add(1, Ordering::AcqRel);
        self.read.store(true, Ordering::Relaxed);
        (Subscriber(self.clone()), self.changes.subscribe())
    }

    /// Whether streams are open on this view.
    fn watched(&self) -> bool {
        self.subscribers.load(Ordering::Acquire) > 0
    }

    /// What the view answers now without waiting: its snapshot, or the error of its last
    /// refresh when that failed.
    pub fn latest(&self) -> Option<Result<Arc<Snapshot>, Error>> {
        let snapshot = self.current.load_full()?;
        Some(match self.failing.load_full() {
            Some(error) => Err((*error).clone()),
            None => Ok(snapshot),
        })
    }

    /// The hot path: marks the view read and says what can be served at once.
    pub fn now(&self, shared: &Shared) -> Now {
        let was_read = self.read.load(Ordering::Relaxed);
        if !was_read {
            self.read.store(true, Ordering::Relaxed);
        }
        let Some(snapshot) = self.current.load_full() else { return Now::Expired };
        let (now, due_at) = (shared.elapsed(), self.due.load(Ordering::Acquire));
        let due = now >= due_at && !self.ahead.load(Ordering::Acquire);
        // Read during the period that just ended: still hot, if that period ended moments ago.
        let hot = was_read && now < due_at.saturating_add(shared.settings.ttl.as_nanos() as u64);
        match self.failing.load_full() {
            Some(error) => Now::Failing { snapshot, error: (*error).clone(), due },
            None if due && hot => Now::Due(snapshot),
            None if due => Now::Expired,
            None => Now::Fresh(snapshot),
        }
    }

    pub fn current(&self) -> Option<Arc<Snapshot>> {
        self.current.load_full()
    }

    /// Bytes held: the snapshot's, and what incremental refreshes remember.
    pub fn bytes(&self) -> usize {
        self.current.load().as_ref().map_or(0, |s| s.ranking.bytes()) + self.ledger.bytes()
    }

    /// When the backend last confirmed the current snapshot.
    pub fn checked_at(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.checked_at.load(Ordering::Relaxed)).unwrap_or_default()
    }

    pub fn is_final(&self) -> bool {
        self.current.load().as_ref().is_some_and(|s| s.is_final)
    }

    /// Starts a refresh unless one is running; the receiver sees its outcome, and the flag says
    /// whether this call started it.
    pub fn refresh(
        self: &Arc<Self>,
        shared: &Arc<Shared>,
        ahead: bool,
    ) -> (watch::Receiver<Option<Outcome>>, bool) {
        let mut inflight = self.inflight.lock().expect("never poisoned");
        if let Some(running) = &*inflight {
            return (running.clone(), false);
        }
        let (tx, rx) = watch::channel(None);
        *inflight = Some(rx.clone());
        self.ahead.store(ahead, Ordering::Release);
        self.read.store(false, Ordering::Relaxed);
        let (me, shared) = (self.clone(), shared.clone());
        let task = async move {
            let started = Instant::now();
            // Its own task again, so that a panic in it is a failed refresh, not a view whose
            // refresh never ends.
            let computing = tokio::spawn({
                let (me, shared) = (me.clone(), shared.clone());
                async move { me.compute(&shared).await }.in_current_span()
            });
            let outcome = computing.await.unwrap_or_else(|e| Err(Error::Failed(e.to_string())));
            me.settle(&shared, started, &outcome);
            *me.inflight.lock().expect("never poisoned") = None;
            me.ahead.store(false, Ordering::Release);
            let _ = tx.send(Some(outcome));
        };
        // Its own task: a reader who stops waiting cancels nothing others wait on.
        tokio::spawn(task.in_current_span());
        (rx, true)
    }

    /// Builds the view's snapshot at this moment (asking the backend unless the campaign has
    /// not started); an unchanged result is the current snapshot itself.
    async fn compute(&self, shared: &Shared) -> Outcome {
        let now = leaderboard::now();
        let campaign = &*self.campaign;
        let summary = CampaignSummary::at(campaign, now);
        let is_final = now >= campaign.end + shared.settings.late_arrival;
        let current = self.current.load_full();
        let (window, (rows, total)) = match self.view.window(campaign.start, campaign.end, now) {
            Some(window) => {
                let keeper = &self.ledger;
                let refresh = Refresh {
                    shared,
                    campaign,
                    view: self.view,
                    keeper,
                    current: current.clone(),
                    now,
                    window,
                    is_final,
                };
                (window, refresh.standings().await?)
            }
            None => (self.upcoming_window(), (Arc::from([]), 0)),
        };
        if let Some(current) = current
            && current.says(&summary, window, is_final)
            && current.ranking.holds(&rows, total)
        {
            // Unchanged: the same snapshot, so the same bytes and tags, and no index to build.
            return Ok(current);
        }
        let ranking = index(rows, total).await;
        Ok(Arc::new(Snapshot::new(summary, window, ranking, is_final)))
    }

    /// What a campaign that has not started shows: its whole range for the top view, an empty
    /// range at its start for a window.
    fn upcoming_window(&self) -> Window {
        let (start, end) = (self.campaign.start, self.campaign.end);
        if self.view == View::Top {
            Window { from: start, to: end }
        } else {
            Window { from: start, to: start }
        }
    }

    /// Records a refresh's outcome, and keeps the view refreshing ahead while it is read.
    fn settle(self: &Arc<Self>, shared: &Arc<Shared>, started: Instant, outcome: &Outcome) {
        let took = started.elapsed();
        // A slow backend is not kept saturated: the next refresh starts no sooner than twice
        // the last one's duration after it started.
        let period = shared.settings.ttl.max(took * 2);
        match outcome {
            Ok(snapshot) => {
                let changed = self.current.load().as_ref().is_none_or(|c| !Arc::ptr_eq(c, snapshot));
                self.current.store(Some(snapshot.clone()));
                let recovered = self.failing.swap(None).is_some();
                if changed {
                    shared.reweigh(self);
                }
                if changed || recovered {
                    self.changes.send_modify(|n| *n += 1);
                }
                self.checked_at.store(leaderboard::now().timestamp_micros(), Ordering::Relaxed);
                let due = if snapshot.is_final { FOREVER } else { shared.at(started + period) };
                self.due.store(due, Ordering::Release);
            }
            Err(error) if self.current.load().is_some() => {
                self.failing.store(Some(Arc::new(error.clone())));
                self.changes.send_modify(|n| *n += 1);
                self.due.store(shared.at(Instant::now() + shared.settings.ttl), Ordering::Release);
            }
            // Nothing to serve: the next reader asks again.
            Err(_) => return,
        }
        if !self.is_final() && !self.ticking.swap(true, Ordering::AcqRel) {
            tokio::spawn(tick(Arc::downgrade(self), shared.clone()).in_current_span());
        }
    }

    /// How long ago the current snapshot was last confirmed.
    pub fn age(&self) -> Duration {
        let checked = self.checked_at.load(Ordering::Relaxed);
        let now = leaderboard::now().timestamp_micros();
        Duration::from_micros(now.saturating_sub(checked).max(0) as u64)
    }
}

/// An open stream of a view, counted while it lives.
pub struct Subscriber(Arc<ViewState>);

impl Subscriber {
    pub fn view(&self) -> &Arc<ViewState> {
        &self.0
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.0.subscribers.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Indexes ranked rows off the async workers when they are many (a million players take a
/// while to index).
async fn index(rows: Arc<[Row]>, total: u64) -> Ranking {
    if rows.len() < 10_000 {
        return Ranking::new(rows, total);
    }
    tokio::task::spawn_blocking(move || Ranking::new(rows, total)).await.expect("indexing does not panic")
}

/// Refreshes a view at the end of each period in which it was read; stops when a period passes
/// unread, when the view is dropped, or when its standings are final.
async fn tick(view: Weak<ViewState>, shared: Arc<Shared>) {
    loop {
        let Some(due) = view.upgrade().map(|v| v.due.load(Ordering::Acquire)) else { return };
        if due == FOREVER {
            break;
        }
        tokio::time::sleep_until(shared.instant(due)).await;
        let Some(state) = view.upgrade() else { return };
        if shared.elapsed() < state.due.load(Ordering::Acquire) {
            continue; // a reader's refresh moved the due time
        }
        if state.watched() {
            // Open streams read the view every period, and keep it from being dropped as idle.
            shared.touch(&state);
        } else if !state.read.load(Ordering::Relaxed) {
            state.ticking.store(false, Ordering::Release);
            return;
        }
        let (mut outcome, _) = state.refresh(&shared, true);
        drop(state);
        let _ = outcome.wait_for(Option::is_some).await;
    }
    if let Some(state) = view.upgrade() {
        state.ticking.store(false, Ordering::Release);
    }
}
