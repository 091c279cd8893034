//! A view's owner: the one task that keeps the view's state (its schedule, its refresh, its
//! failure, what incremental refreshes remember) and decides its end. It refreshes when a
//! reader waits for it, and at the end of each period in which the view was read or streamed
//! (ahead of the readers, who keep the current snapshot meanwhile); a view left unread for
//! `--idle-after` ends (a final one stays until it is pushed out). One refresh at a time, in a
//! task of its own, so that a panic in it is a failed refresh and never a stuck view. On a
//! backend that tells of what it stores, a refresh no stored batch can have changed asks nothing
//! and confirms the snapshot as it is ([`untouched`]).

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::Instrument;

use super::handle::{Command, Handle, Published, Settled};
use super::registry::Registry;
use super::snapshot::{Ranked, Snapshot};
use super::source::{Follow, Refresh};
use super::{Error, Shared};
use crate::campaigns::{Campaign, CampaignSummary};
use crate::leaderboard;

/// What one refresh hands back: its outcome (with the number of the batches it saw, when the
/// backend tells of them), and what the next one goes on from.
type Computed = (Result<(Arc<Campaign>, Arc<Snapshot>, Option<u64>), Error>, Option<Follow>);

pub struct Owner {
    handle: Arc<Handle>,
    shared: Arc<Shared>,
    registry: Weak<Registry>,
    commands: mpsc::UnboundedReceiver<Command>,
    /// What the next refresh goes on from (a ledger, or where the last read left off).
    follow: Option<Follow>,
    /// Every batch the backend told of up to this number is in the published snapshot.
    seen: Option<u64>,
    /// The next check of the schedule: `None` while the view is cold (refreshed only when a
    /// reader asks) or final.
    due: Option<Instant>,
    /// A sooner check, because spins the view may rank were stored.
    soon: Option<Instant>,
    /// Spins were stored while a refresh ran (which may not have seen them).
    touched: bool,
    /// When the last refresh started, and how long the last one that ended took.
    started: Option<Instant>,
    took: Duration,
}

/// A refresh running, and what it was started for.
struct Running {
    task: JoinHandle<Computed>,
    started: Instant,
    /// Started for readers who do not wait for it.
    ahead: bool,
}

impl Owner {
    pub fn spawn(
        handle: Arc<Handle>,
        shared: Arc<Shared>,
        registry: Weak<Registry>,
        commands: mpsc::UnboundedReceiver<Command>,
    ) {
        // A root: the view outlives the request that opened it, and logs as itself.
        let span = tracing::info_span!(parent: None, "view", campaign = %handle.key.campaign, view = ?handle.key.view);
        let owner = Self {
            handle,
            shared,
            registry,
            commands,
            follow: None,
            seen: None,
            due: None,
            soon: None,
            touched: false,
            started: None,
            took: Duration::ZERO,
        };
        tokio::spawn(owner.run().instrument(span));
    }

    async fn run(mut self) {
        let mut running: Option<Running> = None;
        // A recheck asked for while a refresh ran: one more follows it.
        let mut again = false;
        loop {
            let idle = self.idle_deadline();
            tokio::select! {
                command = self.commands.recv() => match command {
                    None | Some(Command::End) => break,
                    Some(Command::Campaign(campaign)) => {
                        if *campaign != **self.handle.campaign.load() {
                            self.handle.campaign.store(campaign);
                            // What was computed or remembered for the old campaign is of no use.
                            self.follow = None;
                            self.seen = None;
                            if let Some(old) = running.take() {
                                old.task.abort();
                            }
                            running = Some(self.start(false));
                        }
                    }
                    Some(Command::Touched) if running.is_some() => self.touched = true,
                    Some(Command::Touched) => self.hurry(),
                    Some(Command::Recheck) => {
                        tracing::info!("late spins arrived for these final standings: computing them again");
                        again = running.is_some();
                        running = running.or_else(|| Some(self.start(false)));
                    }
                },
                () = self.handle.wanted(), if running.is_none() => {
                    // Its readers' wishes meanwhile are shared ones.
                    self.handle.set_computing(true);
                    running = Some(self.start(false));
                }
                joined = async { (&mut running.as_mut().expect("guarded").task).await }, if running.is_some() => {
                    let done = running.take().expect("guarded");
                    self.settle(joined, done.started, done.ahead);
                    if std::mem::take(&mut again) {
                        running = Some(self.start(false));
                    }
                }
                () = sleep_until(self.soon), if running.is_none() => {
                    self.soon = None;
                    // Read or streamed since the last refresh: refresh now, else keep the schedule.
                    if self.handle.streams() > 0 || self.handle.take_read() {
                        running = Some(self.start(true));
                    }
                }
                () = sleep_until(self.due), if running.is_none() => {
                    self.due = None;
                    // Read or streamed during the period: refresh ahead, else the view goes cold.
                    let streamed = self.handle.streams() > 0;
                    if self.handle.take_read() || streamed {
                        if streamed {
                            self.handle.mark_read(self.shared.elapsed());
                        }
                        running = Some(self.start(true));
                    }
                }
                () = sleep_until(idle), if running.is_none() && idle.is_some() => {
                    if self.idle() {
                        break;
                    }
                }
            }
        }
        if let Some(running) = running {
            running.task.abort();
        }
        if let Some(registry) = self.registry.upgrade() {
            registry.remove(&self.handle);
        }
        // Readers still waiting on the view are refused as busy: it was pushed out for others.
        self.handle.forget_wishes();
        self.handle.settled.send_modify(|s| *s = Settled { seq: s.seq + 1, error: Some(Error::Busy) });
        self.handle.end();
    }

    /// Brings a warm view's next refresh forward, for spins it may rank: no sooner than a quarter
    /// of the period after the last one started (or twice its duration), so that a steady flow
    /// of spins costs at most four refreshes a period. A cold view waits for its next reader; a
    /// failing one keeps its retry.
    fn hurry(&mut self) {
        let failing = self.handle.published().is_some_and(|p| p.failing.is_some());
        if self.due.is_none() || failing {
            return;
        }
        let gap = (self.shared.settings.ttl / 4).max(self.took * 2);
        let soonest = self.started.map_or_else(Instant::now, |started| started + gap);
        let soon = soonest.max(Instant::now());
        self.soon = Some(self.soon.map_or(soon, |s| s.min(soon)));
    }

    /// Starts a refresh: the view's standings now, computed in a task of its own.
    fn start(&mut self, ahead: bool) -> Running {
        self.soon = None;
        self.started = Some(Instant::now());
        if ahead && let Some(published) = self.handle.published() {
            self.handle.publish(Published { refreshing: true, ..(*published).clone() });
        }
        let (shared, handle, follow) = (self.shared.clone(), self.handle.clone(), self.follow.take());
        let task = tokio::spawn(compute(shared, handle, follow, self.seen.take()).in_current_span());
        Running { task, started: Instant::now(), ahead }
    }

    /// Records a refresh's outcome: publishes it, tells streams and waiting readers, and
    /// schedules the next look.
    fn settle(&mut self, joined: Result<Computed, tokio::task::JoinError>, started: Instant, ahead: bool) {
        let (outcome, follow) = joined.unwrap_or_else(|e| (Err(Error::Failed(e.to_string())), None));
        self.follow = follow;
        let ttl = self.shared.settings.ttl;
        self.took = started.elapsed();
        let previous = self.handle.published();
        let error = match outcome {
            Ok((campaign, snapshot, seen)) => {
                self.seen = seen;
                let changed = previous.as_ref().is_none_or(|p| !Arc::ptr_eq(&p.snapshot, &snapshot));
                let recovered = previous.as_ref().is_some_and(|p| p.failing.is_some());
                if recovered {
                    tracing::info!("the view's refreshes work again");
                }
                // A slow backend is not kept saturated: the next refresh starts no sooner than
                // twice the last one's duration after it started.
                let period = ttl.max(started.elapsed() * 2);
                // Final standings are refreshed (ahead of readers, like others) only where a
                // refresh can check them cheaply: incrementally (which asks nothing until a
                // reconcile is due), or on a fed store (where an untouched view asks nothing),
                // so that they stop being final while the feed falls behind. Elsewhere late
                // spins make them be computed again.
                let rechecked = self.shared.incremental() || self.shared.backend.fed();
                let due = (!snapshot.is_final || rechecked).then(|| started + period);
                let checked_text =
                    leaderboard::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true).into();
                self.handle
                    .set_bytes(snapshot.ranking.bytes() + self.follow.as_ref().map_or(0, Follow::bytes));
                let confirmed = Instant::now();
                self.handle.publish(Published {
                    campaign,
                    snapshot,
                    checked_text,
                    confirmed,
                    due,
                    refreshing: false,
                    failing: None,
                });
                self.due = due;
                if std::mem::take(&mut self.touched) {
                    self.hurry();
                }
                if changed && let Some(previous) = &previous {
                    previous.snapshot.retire();
                }
                if changed || recovered {
                    self.handle.changed();
                }
                if changed && let Some(registry) = self.registry.upgrade() {
                    registry.reweigh(&self.handle);
                }
                None
            }
            Err(error) => {
                self.failed(previous.as_deref(), &error, ahead);
                Some(error)
            }
        };
        self.handle.forget_wishes();
        self.handle.set_computing(false);
        self.handle.settled.send_modify(|s| *s = Settled { seq: s.seq + 1, error });
    }

    /// A refresh that did not bring an answer. No slot for it is no failure: the view is just
    /// late, and tries again a period on. A backend that failed turns the view stale (logged once
    /// when it starts failing).
    fn failed(&mut self, previous: Option<&Published>, error: &Error, ahead: bool) {
        let retry = Some(Instant::now() + self.shared.settings.ttl);
        let Some(previous) = previous else {
            // Nothing to serve: the next reader asks again.
            return;
        };
        if matches!(error, Error::Busy) {
            self.handle.publish(Published { refreshing: false, due: retry, ..previous.clone() });
            self.due = retry;
            return;
        }
        if previous.failing.is_none() {
            tracing::warn!(%error, ahead, "the view's refresh failed: serving its last good standings");
        }
        self.handle.publish(Published {
            refreshing: false,
            failing: Some(error.clone()),
            ..previous.clone()
        });
        self.handle.changed();
        self.due = retry;
    }

    /// When the view may have gone idle: `--idle-after` past its last read, while no stream is
    /// open (then it is looked at again a period on); never for final standings, which are kept
    /// until pushed out (they cost a query to get back).
    fn idle_deadline(&self) -> Option<Instant> {
        let idle_after = self.shared.settings.idle_after;
        if self.handle.published().is_some_and(|p| p.snapshot.is_final) {
            None
        } else if self.handle.streams() > 0 {
            Some(Instant::now() + idle_after)
        } else {
            Some(self.shared.instant(self.handle.last_read()) + idle_after)
        }
    }

    /// Whether the view ends for lack of readers: unread for `--idle-after` and no stream open.
    fn idle(&self) -> bool {
        let unread = self.shared.elapsed().saturating_sub(self.handle.last_read());
        Duration::from_nanos(unread) >= self.shared.settings.idle_after && self.handle.streams() == 0
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The view's snapshot now (asking the backend unless the campaign has not started, or nothing
/// it stored since `seen` can have changed it); an unchanged result is the current snapshot
/// itself.
async fn compute(
    shared: Arc<Shared>,
    handle: Arc<Handle>,
    follow: Option<Follow>,
    seen: Option<u64>,
) -> Computed {
    // Before the query: every batch told up to here is in its answer.
    let told = shared.told();
    let now = leaderboard::now();
    let campaign = handle.campaign.load_full();
    let summary = CampaignSummary::at(&campaign, now);
    // Complete once late spins are past due, and nothing waits to be stored (a feed catching up).
    let is_final = now >= campaign.end + shared.settings.late_arrival && shared.backend.settled();
    let current = handle.published().map(|p| p.snapshot.clone());
    let view = handle.key.view;
    let (window, ranked, follow, seen) = match view.window(campaign.start, campaign.end, now) {
        Some(window) if let Some(kept) = untouched(&shared, &handle, &campaign, window, seen, told) => {
            shared.metrics.refreshes_untouched.inc();
            (window, Ranked::Indexed(kept.ranking.clone()), follow, told)
        }
        Some(window) => {
            let refresh =
                Refresh { shared: &shared, campaign: &campaign, view, current: current.clone(), now, window };
            let (standings, follow) = refresh.standings(follow).await;
            match standings {
                Ok(standings) => (window, standings, follow, told),
                Err(e) => return (Err(e), follow),
            }
        }
        // Nothing is asked before the start, so no batch told so far was seen: spins stored
        // before it (stamped inside the campaign by a clock ahead) are read at the first refresh
        // after it.
        None => (upcoming_window(&campaign, view), Ranked::Rows(Arc::from([]), 0), None, None),
    };
    if let Some(current) = current
        && current.says(&summary, window, is_final)
        && current.ranking.holds(ranked.rows(), ranked.total())
    {
        // Unchanged: the same snapshot, so the same bytes and tags, and no index to build.
        return (Ok((campaign, current, seen)), follow);
    }
    let ranking = ranked.index().await;
    (Ok((campaign, Arc::new(Snapshot::new(summary, window, ranking, is_final)), seen)), follow)
}

/// The published snapshot, when no spin stored since it was computed can have changed it: the
/// backend tells of every batch it stores, all those told up to `told` reached the views, none
/// of those past `seen` (the last batch the snapshot saw) touched this one, and its window has
/// not moved. (Where the ledger refreshes, it asks for changes alone already.)
fn untouched(
    shared: &Shared,
    handle: &Handle,
    campaign: &Arc<Campaign>,
    window: leaderboard::Window,
    seen: Option<u64>,
    told: Option<u64>,
) -> Option<Arc<Snapshot>> {
    let (seen, told) = (seen?, told?);
    if shared.incremental() || !shared.dispatched(told) || handle.touched() > seen {
        return None;
    }
    let published = handle.published()?;
    let same = published.failing.is_none()
        && Arc::ptr_eq(&published.campaign, campaign)
        && published.snapshot.window == window;
    same.then(|| published.snapshot.clone())
}

/// What a campaign that has not started shows: its whole range for the top view, an empty range
/// at its start for a window.
fn upcoming_window(campaign: &Campaign, view: leaderboard::View) -> leaderboard::Window {
    let (start, end) = (campaign.start, campaign.end);
    match view {
        leaderboard::View::Top => leaderboard::Window { from: start, to: end },
        leaderboard::View::Window(_) => leaderboard::Window { from: start, to: start },
    }
}
