//! A backend held in memory for the engine's own tests: spins in a list, every query answered by
//! brute force straight from the documented semantics (a reference written apart from the KQL
//! and the ledger), with a script of delays, failures and panics per call, and counts of the
//! queries asked.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use tokio::sync::broadcast;

use crate::backend::{Arrived, Backend, BackendError, Changed, Cursor, Standings};
use crate::leaderboard::{
    BucketCount, BucketRow, Changes, ChangesQuery, Counted, FirstSpins, Grain, LeaderboardQuery, Recount,
    Row, Stakes, Window, reduce,
};

/// What one call does before (or instead of) answering.
#[derive(Debug, Clone)]
pub enum Step {
    Delay(Duration),
    Fail(BackendError),
    Panic,
}

#[derive(Default)]
pub struct Memory {
    spins: Mutex<Vec<Row>>,
    script: Mutex<VecDeque<Step>>,
    pub full_queries: AtomicUsize,
    pub change_queries: AtomicUsize,
    /// Rows answered in all.
    pub rows_answered: AtomicUsize,
    told: std::sync::OnceLock<broadcast::Sender<Arrived>>,
    /// Batches stored so far, told of or not.
    count: std::sync::atomic::AtomicU64,
    /// Full reads tell where they left off, and the players changed since are told.
    follows: std::sync::atomic::AtomicBool,
    pub since_queries: AtomicUsize,
    /// A feed stores into it (`fed`), and has fallen behind (`behind`).
    pub fed: std::sync::atomic::AtomicBool,
    pub behind: std::sync::atomic::AtomicBool,
}

impl Memory {
    /// Adds spins as a backend that stores without telling does: once it tells of others, the
    /// engine sees one batch missing (numbered, never told) and takes every view as touched.
    pub fn add(&self, spins: impl IntoIterator<Item = Row>) {
        self.spins.lock().unwrap().extend(spins);
        self.count.fetch_add(1, Ordering::SeqCst);
    }

    /// Adds spins and tells of them as a store does (none of them late).
    pub fn store(&self, spins: &[Row]) {
        let (first, last) =
            spins.iter().fold((i64::MAX, i64::MIN), |(a, b), s| (a.min(s.achieved_us), b.max(s.achieved_us)));
        let mut games: Vec<i32> = spins.iter().map(|s| s.game_id).collect();
        games.sort_unstable();
        games.dedup();
        self.spins.lock().unwrap().extend(spins.iter().copied());
        let seq = self.count.fetch_add(1, Ordering::SeqCst) + 1;
        let arrived = Arrived {
            seq,
            span: (first, last),
            games: Some(games.into()),
            late: [].into(),
            late_beyond: None,
        };
        if let Some(told) = self.told.get() {
            let _ = told.send(arrived);
        }
    }

    /// From now on, as a store with tracked scopes: full reads (but of first spins) tell where
    /// they left off, and [`Backend::changed_since`] tells the players who spun since.
    pub fn tell_changes(&self) {
        self.follows.store(true, Ordering::SeqCst);
    }

    pub fn remove(&self, keep: impl Fn(&Row) -> bool) {
        self.spins.lock().unwrap().retain(keep);
    }

    /// The next calls' behaviour, in order; calls past the script answer.
    pub fn script(&self, steps: impl IntoIterator<Item = Step>) {
        self.script.lock().unwrap().extend(steps);
    }

    async fn step(&self) -> Result<(), BackendError> {
        let step = self.script.lock().unwrap().pop_front();
        match step {
            None => Ok(()),
            Some(Step::Delay(d)) => {
                tokio::time::sleep(d).await;
                Ok(())
            }
            Some(Step::Fail(e)) => Err(e),
            Some(Step::Panic) => panic!("a scripted backend panic"),
        }
    }

    /// The counted spins of `range`, `games` and `stakes`: every spin of a qualifying stake,
    /// losing ones too.
    fn counted(&self, range: Window, counted: (Option<&[i32]>, Stakes)) -> Vec<Row> {
        let spins = self.spins.lock().unwrap();
        spins.iter().filter(|s| counts(s, range, counted)).copied().collect()
    }

    /// The spins counted in `window`: every qualifying one, or with `first` each player's first
    /// ones from the campaign's start that fall inside it.
    fn view(&self, window: Window, counted: (Option<&[i32]>, Stakes), first: Option<FirstSpins>) -> Vec<Row> {
        let Some(first) = first else { return self.counted(window, counted) };
        let mut spins = self.counted(Window { from: first.since, to: window.to }, counted);
        first.keep(&mut spins);
        spins.retain(|s| s.achieved_us >= window.from.timestamp_micros());
        spins
    }

    pub fn standings_now(&self, query: &LeaderboardQuery) -> Standings {
        let counted = (query.games.as_deref(), query.stakes);
        let spins = self.view(query.window, counted, query.first);
        let mut rows = reduce::standings(&spins, query.scoring);
        rows.sort_by(Row::rank_order);
        let total = rows.len() as u64;
        rows.truncate(query.limit as usize);
        let mut counts = Vec::new();
        for run in &query.counts {
            let spins = self.counted(run.range, counted);
            counts.extend(count(spins.iter().map(|s| run.width.floor(s.achieved_us))));
        }
        let follows = self.follows.load(Ordering::SeqCst) && query.first.is_none();
        let seen = self.spins.lock().unwrap().len() as i64;
        Standings { rows, total, counts, cursor: follows.then_some(Cursor { scope: 0, seen }) }
    }

    /// The players with a counted spin past `since`, each with their whole standing now (an
    /// unranked one as a row that does not count); `None` past `query.limit` of them.
    fn changed_now(&self, query: &LeaderboardQuery, since: Cursor) -> Option<Changed> {
        let counted = (query.games.as_deref(), query.stakes);
        let spins = self.spins.lock().unwrap().clone();
        let players: BTreeSet<i32> = spins[since.seen as usize..]
            .iter()
            .filter(|s| counts(s, query.window, counted))
            .map(|s| s.player_id)
            .collect();
        if players.len() > query.limit as usize {
            return None;
        }
        let everyone = self.standings_now(&LeaderboardQuery { limit: u32::MAX, ..query.clone() });
        let mut rows: Vec<Row> =
            everyone.rows.into_iter().filter(|r| players.contains(&r.player_id)).collect();
        let ranked: BTreeSet<i32> = rows.iter().map(|r| r.player_id).collect();
        rows.extend(players.difference(&ranked).map(|&player_id| Row { player_id, ..Row::default() }));
        Some(Changed { rows, cursor: Cursor { scope: 0, seen: spins.len() as i64 } })
    }

    pub fn changes_now(&self, query: &ChangesQuery) -> Changes {
        let known: HashMap<i64, u64> = query.known.iter().map(|k| (k.bucket, k.spins)).collect();
        let counted = (query.games.as_deref(), query.stakes);
        let Recount { scoring, window, first } = query.recount;
        let mut counts = Vec::new();
        let mut rows = Vec::new();
        let mut recounted = HashSet::new();
        for segment in &query.segments {
            let spins = self.counted(segment.range, counted);
            let segment_counts = segment.counts.map(|w| count(spins.iter().map(|s| w.floor(s.achieved_us))));
            let changed = |s: &Row| {
                let Some(width) = segment.counts.filter(|_| segment.watched) else { return true };
                let label = width.floor(s.achieved_us);
                let now = segment_counts
                    .as_ref()
                    .and_then(|c| c.iter().find(|c| c.bucket == label))
                    .map_or(0, |c| c.spins);
                known.get(&label).copied().unwrap_or(0) != now
            };
            if segment.leaving {
                recounted.extend(spins.iter().map(|s| s.player_id));
            }
            if let Some(grain) = segment.rows {
                let label = |s: &Row| match grain {
                    Grain::Whole => segment.range.from.timestamp_micros(),
                    Grain::Every(width) => width.floor(s.achieved_us),
                };
                let wanted: Vec<(i64, Row)> =
                    spins.iter().filter(|s| changed(s)).map(|s| (label(s), *s)).collect();
                recounted.extend(wanted.iter().map(|(_, s)| s.player_id));
                if !query.recount.replaces() {
                    let won = wanted.into_iter().filter(|(_, s)| s.counts());
                    rows.extend(bests(won).into_iter().map(|((bucket, _), row)| BucketRow { bucket, row }));
                }
            }
            counts.extend(segment_counts.unwrap_or_default());
        }
        let theirs: Vec<Row> = self
            .view(window, counted, first)
            .into_iter()
            .filter(|s| recounted.contains(&s.player_id))
            .collect();
        let counted = if query.recount.replaces() {
            // Whole standings, and each recounted player who does not rank, with 0.
            let bucket = window.from.timestamp_micros();
            let standings = reduce::standings(&theirs, scoring);
            let ranked: HashSet<i32> = standings.iter().map(|r| r.player_id).collect();
            rows.extend(standings.into_iter().map(|row| BucketRow { bucket, row }));
            let unranked: BTreeSet<i32> = recounted.into_iter().filter(|p| !ranked.contains(p)).collect();
            unranked.into_iter().map(|player_id| Counted { player_id, spins: 0 }).collect()
        } else {
            let mut spins: BTreeMap<i32, u32> = BTreeMap::new();
            theirs.iter().for_each(|s| *spins.entry(s.player_id).or_default() += 1);
            spins.into_iter().map(|(player_id, spins)| Counted { player_id, spins }).collect()
        };
        Changes { rows, counts, counted }
    }
}

/// Whether `spin` counts in `range` for `games` and `stakes` (losing or not).
fn counts(spin: &Row, range: Window, (games, stakes): (Option<&[i32]>, Stakes)) -> bool {
    let (from, to) = (range.from.timestamp_micros(), range.to.timestamp_micros());
    (from..to).contains(&spin.achieved_us)
        && games.is_none_or(|g| g.contains(&spin.game_id))
        && stakes.qualifies(spin.stake)
}

/// Each (bucket, player)'s best spin.
fn bests(spins: impl Iterator<Item = (i64, Row)>) -> BTreeMap<(i64, i32), Row> {
    let mut best: BTreeMap<(i64, i32), Row> = BTreeMap::new();
    for (bucket, spin) in spins {
        best.entry((bucket, spin.player_id))
            .and_modify(|b| {
                if spin.beats(b) {
                    *b = spin
                }
            })
            .or_insert(spin);
    }
    best
}

fn count(labels: impl Iterator<Item = i64>) -> Vec<BucketCount> {
    let mut counts: BTreeMap<i64, u64> = BTreeMap::new();
    for label in labels {
        *counts.entry(label).or_default() += 1;
    }
    counts.into_iter().map(|(bucket, spins)| BucketCount { bucket, spins }).collect()
}

#[async_trait]
impl Backend for Memory {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn leaderboard(&self, query: &LeaderboardQuery) -> Result<Standings, BackendError> {
        self.full_queries.fetch_add(1, Ordering::SeqCst);
        self.step().await?;
        let standings = self.standings_now(query);
        self.rows_answered.fetch_add(standings.rows.len(), Ordering::SeqCst);
        Ok(standings)
    }

    fn answers_changes(&self) -> bool {
        true
    }

    async fn changed_since(
        &self,
        query: &LeaderboardQuery,
        since: Cursor,
    ) -> Result<Option<Changed>, BackendError> {
        if !self.follows.load(Ordering::SeqCst) || query.first.is_some() {
            return Ok(None);
        }
        self.since_queries.fetch_add(1, Ordering::SeqCst);
        self.step().await?;
        Ok(self.changed_now(query, since))
    }

    async fn changes(&self, query: &ChangesQuery) -> Result<Changes, BackendError> {
        self.change_queries.fetch_add(1, Ordering::SeqCst);
        self.step().await?;
        let changes = self.changes_now(query);
        self.rows_answered.fetch_add(changes.rows.len(), Ordering::SeqCst);
        Ok(changes)
    }

    async fn ping(&self) -> Result<(), BackendError> {
        Ok(())
    }

    fn arrivals(&self, _horizon: Duration) -> Option<broadcast::Receiver<Arrived>> {
        Some(self.told.get_or_init(|| broadcast::channel(64).0).subscribe())
    }

    fn told(&self) -> u64 {
        self.count.load(Ordering::SeqCst)
    }

    fn settled(&self) -> bool {
        !self.behind.load(Ordering::SeqCst)
    }

    fn fed(&self) -> bool {
        self.fed.load(Ordering::SeqCst)
    }
}
