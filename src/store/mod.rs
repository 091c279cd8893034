//! The embedded store: spins in a SQLite file (WAL, one writer, a pool of readers), with a
//! rollup and the tracked scopes' standings kept on insert, and first spins' tallies kept between
//! reads (`first`), so that complete standings over millions of spins answer in milliseconds; a
//! scope's read tells where it left off, and the players whose standings changed since.
//! Same semantics as the KQL path; the SQL is `kql/*.sql`. Reads run on tokio's
//! blocking pool, writes on the writer's own thread (`queue`), never on the async runtime.

mod arrivals;
mod consumed;
mod first;
mod idle;
mod plan;
mod query;
mod queue;
mod scope;
mod sums;
mod window;
mod write;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags};

use crate::backend::{Arrived, Backend, BackendError, Changed, Cursor, Sink, Standings};
use crate::events::Spin;
use crate::leaderboard::LeaderboardQuery;
use arrivals::Arrivals;
pub use arrivals::Feed;
pub use consumed::{Consumed, Position, Rejected};
use first::Tallies;
pub use queue::WriteCounters;
use queue::{Batch, Job};
pub use scope::Scope;
use write::Writer;

pub(crate) const SCHEMA: &str = include_str!("../../kql/embedded-schema.sql");
pub(crate) const HOUR: i64 = 3_600_000_000;
pub(crate) const DAY: i64 = 24 * HOUR;
pub(crate) const WEEK: i64 = 7 * DAY;
/// The rollup's partition lengths, shortest first.
pub(crate) const LEVELS: [i64; 3] = [HOUR, DAY, WEEK];
/// The GameID of the all-games partitions: outside Int32, so no game can have it.
pub(crate) const ALL_GAMES: i64 = 1 << 32;
const READERS: u32 = 4;

pub(crate) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub struct EmbeddedStore {
    path: PathBuf,
    /// The writer's queue (see `queue`).
    jobs: tokio::sync::mpsc::Sender<Job>,
    counters: WriteCounters,
    readers: r2d2::Pool<SqliteConnectionManager>,
    arrivals: Arc<Arrivals>,
    /// First spins counted per tracked campaign, kept between reads.
    tallies: Arc<Tallies>,
}

fn storage(e: impl std::fmt::Display) -> BackendError {
    BackendError::Storage(e.to_string())
}

/// The writer stopped answering: it panicked on this write (logged), or the store is closing.
fn writer_gone<E>(_: E) -> BackendError {
    storage("the store's writer failed on this write")
}

impl EmbeddedStore {
    /// Opens (or creates) `dir/leaderboard.sqlite3`, rebuilding the derived tables when they
    /// were kept by another version, on the blocking pool (that can take seconds).
    pub async fn open(dir: &Path) -> Result<Self, BackendError> {
        let dir = dir.to_owned();
        let store =
            tokio::task::spawn_blocking(move || Self::open_blocking(&dir)).await.map_err(storage)??;
        idle::spawn(store.jobs.downgrade(), store.counters.commits.clone());
        Ok(store)
    }

    fn open_blocking(dir: &Path) -> Result<Self, BackendError> {
        std::fs::create_dir_all(dir).map_err(|e| storage(format!("cannot create {}: {e}", dir.display())))?;
        let path = dir.join("leaderboard.sqlite3");
        let writer = Connection::open(&path).map_err(|e| storage(format!("{}: {e}", path.display())))?;
        // FULL: an acknowledged batch is on disk before the answer leaves. A 64 MiB page cache
        // keeps the rollup's and the scopes' hot pages in memory as the file grows.
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;
                 PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY;",
            )
            .map_err(storage)?;
        let writer = Writer::new(writer).map_err(storage)?;
        // Readers sort and group whole windows (a million players at the bench's scale): past
        // their 8 MiB cache they spill to a temporary file, not to memory (with temp_store =
        // MEMORY four such reads held 200 MB of the heap at once; BENCHMARKS.md).
        let manager = SqliteConnectionManager::file(&path)
            .with_flags(OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .with_init(|c| {
                c.execute_batch(
                    "PRAGMA busy_timeout = 5000; PRAGMA cache_size = -8192; PRAGMA temp_store = FILE;",
                )
            });
        let readers = r2d2::Pool::builder().max_size(READERS).build(manager).map_err(storage)?;
        let (jobs, queued) = tokio::sync::mpsc::channel(queue::QUEUE);
        let counters = WriteCounters::default();
        let arrivals = Arc::new(Arrivals::default());
        queue::spawn(writer, queued, counters.clone(), arrivals.clone()).map_err(storage)?;
        Ok(Self { path, jobs, counters, readers, arrivals, tallies: Arc::default() })
    }

    /// What the writer did so far, for `/metrics`.
    pub fn counters(&self) -> &WriteCounters {
        &self.counters
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many spins are stored.
    pub async fn count(&self) -> Result<u64, BackendError> {
        let n: i64 =
            self.read(|conn| conn.query_row("SELECT count(*) FROM GamePlay", [], |r| r.get(0))).await?;
        Ok(n.unsigned_abs())
    }

    /// Whether no spin was ever stored.
    pub async fn is_empty(&self) -> Result<bool, BackendError> {
        self.read(|conn| conn.query_row("SELECT NOT EXISTS (SELECT 1 FROM GamePlay)", [], |r| r.get(0))).await
    }

    /// Stores a batch durably, all or nothing (in one transaction with whatever else is queued
    /// meanwhile, unless that fails).
    pub async fn insert(&self, spins: Vec<Spin>) -> Result<(), BackendError> {
        self.enqueue(spins, None).await
    }

    /// Stores a batch read from a stream together with where each of its partitions resumes
    /// and the messages refused, all or nothing: after any stop, the stored resume points
    /// are exactly past the stored spins.
    pub async fn insert_consumed(&self, spins: Vec<Spin>, consumed: Consumed) -> Result<(), BackendError> {
        self.enqueue(spins, Some(consumed)).await
    }

    /// A feed of spins (the Kafka consumer): until it has caught up, no campaign is complete.
    pub fn attach(&self, feed: Arc<dyn Feed>) {
        self.arrivals.attach(feed);
    }

    /// Queues a batch for the writer and waits until it is stored (the writer tells what it
    /// brought once it is).
    async fn enqueue(&self, spins: Vec<Spin>, consumed: Option<Consumed>) -> Result<(), BackendError> {
        let arrived = self.arrivals.of(&spins);
        let (done, stored) = tokio::sync::oneshot::channel();
        let batch = Batch { spins, consumed, arrived, done };
        self.jobs.send(Job::Insert(batch)).await.map_err(writer_gone)?;
        stored.await.map_err(writer_gone)?.map_err(storage)
    }

    /// Where each partition of `topic` resumes, as stored with the spins.
    pub async fn positions(&self, topic: &str) -> Result<BTreeMap<i32, i64>, BackendError> {
        let topic = topic.to_owned();
        self.read(move |conn| consumed::positions(conn, &topic)).await
    }

    /// Keeps standings for exactly these scopes from now on: scopes not yet built are built from
    /// the stored spins (a campaign's first spins are counted at its first read), scopes left out
    /// are dropped, the others are kept as they are (across restarts, but for first spins' tallies,
    /// which live in memory). Called with every campaign, at start-up and on every catalogue
    /// change.
    pub async fn track(&self, scopes: Vec<Scope>) -> Result<(), BackendError> {
        self.tallies.track(&scopes);
        self.write(move |writer| writer.track(&scopes)).await
    }

    /// Runs `f` on the writer in its turn.
    async fn write(
        &self,
        f: impl FnOnce(&mut Writer) -> rusqlite::Result<()> + Send + 'static,
    ) -> Result<(), BackendError> {
        let (done, written) = tokio::sync::oneshot::channel();
        let job = Job::Run(Box::new(move |writer| {
            let _ = done.send(f(writer));
        }));
        self.jobs.send(job).await.map_err(writer_gone)?;
        written.await.map_err(writer_gone)?.map_err(storage)
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, BackendError> {
        let pool = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            let conn = pool.get().map_err(storage)?;
            f(&conn).map_err(storage)
        })
        .await
        .map_err(storage)?
    }
}

#[async_trait]
impl Sink for EmbeddedStore {
    async fn store(&self, spins: Vec<Spin>) -> Result<(), BackendError> {
        self.insert(spins).await
    }
}

#[async_trait]
impl Backend for EmbeddedStore {
    fn name(&self) -> &'static str {
        "embedded"
    }

    async fn leaderboard(&self, query: &LeaderboardQuery) -> Result<Standings, BackendError> {
        // Counts serve incremental refreshes, which this store does not answer: its rollups
        // make every full query cheap.
        if !query.counts.is_empty() {
            return Err(BackendError::Unsupported(self.name()));
        }
        let query = query.clone();
        if let Some(rules) = query.first {
            let (tallies, readers) = (self.tallies.clone(), self.readers.clone());
            let connect = move || readers.get().map_err(storage);
            let read = move || first::standings(&tallies, &query, rules, connect);
            return tokio::task::spawn_blocking(read).await.map_err(storage)?;
        }
        self.read(move |conn| query::run(conn, &query)).await
    }

    async fn changed_since(
        &self,
        query: &LeaderboardQuery,
        since: Cursor,
    ) -> Result<Option<Changed>, BackendError> {
        // First spins are counted from tallies, which tell no players apart.
        if query.first.is_some() || !query.counts.is_empty() {
            return Ok(None);
        }
        let query = query.clone();
        self.read(move |conn| query::changed_since(conn, &query, since)).await
    }

    async fn ping(&self) -> Result<(), BackendError> {
        self.read(|conn| conn.query_row("SELECT count(*) FROM Meta", [], |_| Ok(()))).await
    }

    fn arrivals(&self, horizon: std::time::Duration) -> Option<tokio::sync::broadcast::Receiver<Arrived>> {
        Some(self.arrivals.subscribe(horizon))
    }

    fn told(&self) -> u64 {
        self.arrivals.count()
    }

    fn settled(&self) -> bool {
        self.arrivals.settled()
    }

    fn fed(&self) -> bool {
        self.arrivals.fed()
    }
}

#[cfg(test)]
mod tests;
