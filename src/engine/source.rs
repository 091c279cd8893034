//! Where a refresh gets a view's standings: from the view's [`Ledger`] when the backend answers
//! incremental queries (one query for what changed), else from one full query. A view with no
//! ledger yet, or whose ledger cannot go on, loads: a campaign's whole board by a full query that
//! also counts its buckets, a window by reading its buckets once it is known to fit within
//! `--max-standings`. Views ranking more players than that are refreshed by full queries. On a
//! backend that tells which players changed since a read (the embedded store's tracked scopes),
//! a view holding every player it ranks asks for those alone and merges them in ([`follow`]).

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::follow;
use super::ledger::{Geometry, Ledger, Reload};
use super::snapshot::{Ranked, Snapshot};
use super::{Error, Shared};
use crate::backend::Cursor;
use crate::campaigns::Campaign;
use crate::leaderboard::{
    BucketCount, Changes, CountRun, FirstSpins, LeaderboardQuery, Row, Scoring, Stakes, View, Window,
};

/// Above this many rows, the ledger's work runs off the async workers.
const INLINE_ROWS: usize = 10_000;

/// What a view's next refresh goes on from: its ledger (a backend answering incremental
/// queries), or where its last full read left off (a backend that tells which players changed
/// since).
pub enum Follow {
    Ledger(Box<Ledger>),
    Cursor(Cursor),
}

impl Follow {
    /// Bytes held, for the engine's memory bound.
    pub fn bytes(&self) -> usize {
        match self {
            Self::Ledger(ledger) => ledger.bytes(),
            Self::Cursor(_) => 0,
        }
    }
}

/// What one refresh needs to know of its view.
pub struct Refresh<'a> {
    pub shared: &'a Shared,
    pub campaign: &'a Campaign,
    pub view: View,
    pub current: Option<Arc<Snapshot>>,
    pub now: DateTime<Utc>,
    pub window: Window,
}

impl Refresh<'_> {
    /// The view's ranked rows (at most `--max-standings`) and how many players it ranks, and
    /// what the next refresh goes on from.
    pub async fn standings(&self, follow: Option<Follow>) -> (Result<Ranked, Error>, Option<Follow>) {
        // A view that became final, or capped, lets its ledger go.
        let Some(geometry) = self.geometry() else { return self.followed(follow).await };
        let ledger = match follow {
            Some(Follow::Ledger(ledger)) if *ledger.geometry() == geometry => Some(*ledger),
            _ => None,
        };
        let (standings, ledger) = match ledger {
            Some(ledger) => self.steady(ledger).await,
            None => self.load(geometry).await,
        };
        (standings.map(Ranked::from), ledger.map(|ledger| Follow::Ledger(Box::new(ledger))))
    }

    /// The players who changed since the last read, merged into the held board, where the
    /// backend tells them and the board holds every player the view ranks; else a full read.
    async fn followed(&self, follow: Option<Follow>) -> (Result<Ranked, Error>, Option<Follow>) {
        // A board past the cap cannot be brought up to date: a player past it could rise unseen.
        let held = self
            .current
            .clone()
            .filter(|current| current.window == self.window && current.ranking.is_complete());
        if let (Some(Follow::Cursor(since)), Some(held)) = (follow, held)
            && let Some(outcome) = self.merged(held, since).await
        {
            return outcome;
        }
        match self.shared.query(self.query(Vec::new())).await {
            Ok(standings) => (
                Ok(Ranked::Rows(standings.rows.into(), standings.total)),
                standings.cursor.map(Follow::Cursor),
            ),
            Err(e) => (Err(e), None),
        }
    }

    /// `held`'s board with the players changed since `since` merged in, and where that read left
    /// off; `None` when the backend says to read the view whole.
    async fn merged(
        &self,
        held: Arc<Snapshot>,
        since: Cursor,
    ) -> Option<(Result<Ranked, Error>, Option<Follow>)> {
        let changed = match self.shared.changed_since(&self.query(Vec::new()), since).await {
            Ok(changed) => changed?,
            Err(e) => return Some((Err(e), Some(Follow::Cursor(since)))),
        };
        let cap = self.shared.settings.max_standings.get() as usize;
        let heavy = held.ranking.len() > INLINE_ROWS;
        match off_workers(heavy, move || follow::merge(&held.ranking, changed.rows, cap)).await {
            Ok(ranking) => Some((Ok(Ranked::Indexed(ranking?)), Some(Follow::Cursor(changed.cursor)))),
            Err(e) => Some((Err(e), None)),
        }
    }

    /// How the view's buckets are laid out, if it is refreshed incrementally.
    fn geometry(&self) -> Option<Geometry> {
        let settings = &self.shared.settings;
        if !self.shared.incremental() {
            return None;
        }
        let cap = settings.max_standings.get() as usize;
        if self.current.as_ref().is_some_and(|s| s.ranking.total() > cap as u64) {
            return None;
        }
        let range = (self.campaign.start, self.campaign.end);
        let periods = (settings.late_arrival, settings.reconcile_every);
        Geometry::new(self.view, range, counted(self.campaign), periods, cap)
    }

    async fn steady(&self, ledger: Ledger) -> (Result<(Arc<[Row]>, u64), Error>, Option<Ledger>) {
        let plan = ledger.plan(self.now);
        let changes = if plan.query.segments.is_empty() {
            Changes::default() // nothing in the view can change any more
        } else {
            match self.shared.changes(&plan.query).await {
                Ok(changes) => changes,
                Err(e) => return (Err(e), Some(ledger)),
            }
        };
        let geometry = ledger.geometry().clone();
        let heavy = changes.rows.len() > INLINE_ROWS || ledger.bytes() > INLINE_ROWS * 64;
        match off_workers(heavy, move || ledger.apply(&plan, changes)).await {
            Ok(Ok((ledger, rows))) => {
                let total = rows.len() as u64;
                (Ok((rows, total)), Some(ledger))
            }
            Ok(Err(reload)) => {
                tracing::info!(?reload, "the view's ledger cannot go on: loading it again");
                self.load(geometry).await
            }
            Err(e) => (Err(e), None),
        }
    }

    /// Loads the view: its whole board with its buckets' counts, or a window's buckets.
    async fn load(&self, geometry: Geometry) -> (Result<(Arc<[Row]>, u64), Error>, Option<Ledger>) {
        let ledger = Ledger::new(geometry, self.now);
        if self.view == View::Top {
            return match self.full(ledger.count_runs()).await {
                Ok((rows, total, counts)) => {
                    let fits = total <= rows.len() as u64;
                    let ledger = fits.then(|| ledger.loaded(rows.clone(), &counts, self.now));
                    (Ok((rows, total)), ledger)
                }
                Err(e) => (Err(e), None),
            };
        }
        // A window is read bucket by bucket only once a full query showed that it fits.
        if self.current.is_none() {
            return (self.full_rows().await, None);
        }
        let plan = ledger.plan(self.now);
        let changes = match self.shared.changes(&plan.query).await {
            Ok(changes) => changes,
            Err(e) => return (Err(e), None),
        };
        match off_workers(true, move || ledger.apply(&plan, changes)).await {
            Ok(Ok((ledger, rows))) => {
                let total = rows.len() as u64;
                (Ok((rows, total)), Some(ledger))
            }
            Ok(Err(Reload::Capped | Reload::Changed)) => (self.full_rows().await, None),
            Err(e) => (Err(e), None),
        }
    }

    /// One full query's rows and total.
    async fn full_rows(&self) -> Result<(Arc<[Row]>, u64), Error> {
        self.full(Vec::new()).await.map(|(rows, total, _)| (rows, total))
    }

    /// One full query, with `counts` answered alongside.
    async fn full(&self, counts: Vec<CountRun>) -> Result<(Arc<[Row]>, u64, Vec<BucketCount>), Error> {
        let standings = self.shared.query(self.query(counts)).await?;
        Ok((standings.rows.into(), standings.total, standings.counts))
    }

    /// The view's full query, with `counts` asked for alongside.
    fn query(&self, counts: Vec<CountRun>) -> LeaderboardQuery {
        let limit = self.shared.settings.max_standings.get();
        let (games, stakes, scoring) =
            (self.campaign.games.clone(), self.campaign.stakes, self.campaign.score);
        let first = first_spins(self.campaign);
        LeaderboardQuery { window: self.window, games, stakes, scoring, first, limit, counts }
    }
}

/// The first query a refresh of `view` sends (what `leaderboard kql` prints): with `incremental`
/// refreshes, a campaign's whole board comes with the counts they start from (an ended
/// campaign's too: its final board is rechecked by them).
pub fn first_query(
    campaign: &Campaign,
    view: View,
    window: Window,
    now: DateTime<Utc>,
    (late_arrival, incremental): (std::time::Duration, bool),
    max_standings: u32,
) -> LeaderboardQuery {
    let range = (campaign.start, campaign.end);
    let periods = (late_arrival, std::time::Duration::MAX);
    let geometry = Geometry::new(view, range, counted(campaign), periods, max_standings as usize);
    let counts = match geometry {
        Some(geometry) if incremental && view == View::Top => Ledger::new(geometry, now).count_runs(),
        _ => Vec::new(),
    };
    LeaderboardQuery {
        window,
        games: campaign.games.clone(),
        stakes: campaign.stakes,
        scoring: campaign.score,
        first: first_spins(campaign),
        limit: max_standings,
        counts,
    }
}

/// Which spins the campaign counts, and how, as a ledger's geometry takes them.
fn counted(campaign: &Campaign) -> (Option<Vec<i32>>, Stakes, Scoring, Option<FirstSpins>) {
    (campaign.games.clone(), campaign.stakes, campaign.score, first_spins(campaign))
}

/// The campaign's `max-spins`, counted from its start to its end.
fn first_spins(campaign: &Campaign) -> Option<FirstSpins> {
    campaign.max_spins.map(|max| FirstSpins { max, since: campaign.start, until: campaign.end })
}

/// Runs `work` on the blocking pool when `heavy`; a panic there is a failed refresh.
async fn off_workers<T: Send + 'static>(
    heavy: bool,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Error> {
    if !heavy {
        return Ok(work());
    }
    tokio::task::spawn_blocking(work).await.map_err(|e| Error::Failed(e.to_string()))
}
