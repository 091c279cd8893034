//! The idle writer's release of its page cache: once after each burst of commits, in the
//! writer's turn, and only then.

use super::*;
use crate::store::idle::{IDLE, RELEASING};

/// The writer's page cache in bytes (SQLite's count) and the releases counted, as the writer
/// sees them in its turn in the queue.
async fn cache(store: &EmbeddedStore) -> (i32, u64) {
    let (tx, rx) = std::sync::mpsc::channel();
    let releases = store.counters().releases.clone();
    store
        .write(move |writer| {
            let (mut used, mut highest) = (0, 0);
            // SAFETY: the handle is the writer's open connection, read on its own thread.
            let status = unsafe {
                rusqlite::ffi::sqlite3_db_status(
                    writer.conn().handle(),
                    rusqlite::ffi::SQLITE_DBSTATUS_CACHE_USED,
                    &mut used,
                    &mut highest,
                    0,
                )
            };
            assert_eq!(status, rusqlite::ffi::SQLITE_OK);
            tx.send((used, releases.get())).unwrap();
            Ok(())
        })
        .await
        .unwrap();
    rx.recv().unwrap()
}

fn burst(from: i32) -> Vec<Spin> {
    (from..from + 5_000).flat_map(one).collect()
}

type Inserted = tokio::task::JoinHandle<Result<(), BackendError>>;
type Looked = tokio::task::JoinHandle<(i32, u64)>;

/// Queues a burst from `from` on (its commit answers the task).
fn insert(store: &Arc<EmbeddedStore>, from: i32) -> Inserted {
    let store = store.clone();
    tokio::spawn(async move { store.insert(burst(from)).await })
}

/// Queues a look at the cache (`cache`), taken in the writer's turn.
fn look(store: &Arc<EmbeddedStore>) -> Looked {
    let store = store.clone();
    tokio::spawn(async move { cache(&store).await })
}

/// Lets the held writer go on (`release`), then waits for `committed` and for the look queued
/// after it: the cache the commit filled, nothing released by then. Meanwhile no other test's
/// store may release (the pool of pages is the process's).
async fn filled_after(release: impl FnOnce(), committed: Inserted, looked: Looked) -> i32 {
    let measuring = RELEASING.write().await;
    release();
    committed.await.unwrap().unwrap();
    let (filled, releases) = looked.await.unwrap();
    drop(measuring);
    assert_eq!(releases, 0, "a writer that committed since it last looked idle keeps its cache");
    assert!(filled > 256 * 1024, "the burst filled the cache: {filled} bytes");
    filled
}

#[tokio::test(start_paused = true)]
async fn an_idle_writer_gives_its_page_cache_back_once_per_burst() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(dir.path()).await.unwrap());
    // The burst and the first look at the cache queue behind a held writer: the look runs
    // right after the commit, before any tick can have seen it.
    let held = hold_writer(&store).await;
    let committed = insert(&store, 1);
    queued(&store, 1).await;
    let looked = look(&store);
    queued(&store, 2).await;
    let filled = filled_after(|| drop(held), committed, looked).await;

    tokio::time::sleep(IDLE * 3).await;
    let (emptied, releases) = cache(&store).await;
    assert_eq!(releases, 1, "one release once the writer is idle");
    assert!(emptied < filled / 4, "the cache was emptied: {filled} -> {emptied} bytes");

    tokio::time::sleep(IDLE * 3).await;
    assert_eq!(cache(&store).await.1, 1, "an idle writer releases nothing more");
    store.insert(burst(10_000)).await.unwrap();
    tokio::time::sleep(IDLE * 3).await;
    assert_eq!(cache(&store).await.1, 2, "the next burst's cache goes back too");
    assert_eq!(store.count().await.unwrap(), 10_000, "nothing written was lost");
}

#[tokio::test(start_paused = true)]
async fn a_writer_busy_between_commits_is_not_idle() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(dir.path()).await.unwrap());
    // Queued behind a held writer: a batch, a long write (held too), the next batch.
    let first = hold_writer(&store).await;
    let (second, held) = std::sync::mpsc::channel::<()>();
    let committed = insert(&store, 1);
    queued(&store, 1).await;
    store
        .jobs
        .send(Job::Run(Box::new(move |_| {
            let _ = held.recv();
        })))
        .await
        .unwrap();
    let next = insert(&store, 10_000);
    queued(&store, 3).await;
    drop(first);
    committed.await.unwrap().unwrap();
    // The writer is in its long write: the ticks find no commit and say it looks idle.
    tokio::time::sleep(IDLE * 3).await;
    queued(&store, 2).await;
    let looked = look(&store);
    queued(&store, 3).await;
    filled_after(|| drop(second), next, looked).await;
    tokio::time::sleep(IDLE * 3).await;
    assert_eq!(cache(&store).await.1, 1, "once it is idle, it gives the cache back");
}
