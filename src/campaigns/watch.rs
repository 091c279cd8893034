//! Live catalogue: the current campaigns shared with every request, reloaded when the file
//! changes or on SIGHUP; a bad edit keeps the last good catalogue. The file is looked at and
//! read off the async workers: a slow or stuck filesystem (a network mount, a pipe) must not
//! stall the requests sharing them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;

use super::{Catalogue, CatalogueError};

/// The catalogue every request reads; swapping it in is atomic and lock-free for readers.
pub type SharedCatalogue = Arc<ArcSwap<Catalogue>>;

/// Where the catalogue comes from.
#[derive(Debug, Clone)]
pub enum CatalogueSource {
    File(PathBuf),
    /// The generated demo campaigns (zero-config start); never reloaded.
    Demo,
}

impl CatalogueSource {
    pub fn load(&self) -> Result<Catalogue, CatalogueError> {
        match self {
            Self::File(path) => Catalogue::load(path),
            Self::Demo => Ok(super::demo_catalogue(chrono::Utc::now())),
        }
    }

    /// Reloads the file whenever its modification time changes or SIGHUP arrives, calling
    /// `on_change` after each successful swap. Runs until the process ends.
    pub fn watch(self, shared: SharedCatalogue, on_change: impl Fn() + Send + 'static) {
        let Self::File(path) = self else { return };
        let path: Arc<Path> = path.into();
        tokio::spawn(async move {
            let mut hangup = hangup_signal();
            // Unknown at first, so the first look reads the file: an edit made since the
            // catalogue was loaded at start-up is not missed.
            let mut seen = None;
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                let forced = tokio::select! {
                    _ = tick.tick() => false,
                    _ = recv(&mut hangup) => true,
                };
                let now = modified(&path).await;
                if !forced && now == seen {
                    continue;
                }
                seen = now;
                match off_runtime(&path, Catalogue::load).await {
                    Ok(fresh) if **shared.load() == fresh => {}
                    Ok(fresh) => {
                        tracing::info!(file = %path.display(), campaigns = fresh.iter().count(), "campaigns reloaded");
                        shared.store(Arc::new(fresh));
                        on_change();
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "campaigns file not reloaded; keeping the last good catalogue")
                    }
                }
            }
        });
    }
}

async fn modified(path: &Arc<Path>) -> Option<SystemTime> {
    off_runtime(path, |p| std::fs::metadata(p).and_then(|m| m.modified()).ok()).await
}

/// Runs `work` on the file at `path` on the blocking pool.
async fn off_runtime<T: Send + 'static>(path: &Arc<Path>, work: fn(&Path) -> T) -> T {
    let path = path.clone();
    tokio::task::spawn_blocking(move || work(&path)).await.expect("file work does not panic")
}

#[cfg(unix)]
type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangup = Option<()>;

#[cfg(unix)]
fn hangup_signal() -> Hangup {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
}
#[cfg(not(unix))]
fn hangup_signal() -> Hangup {
    None
}

#[cfg(unix)]
async fn recv(signal: &mut Hangup) {
    match signal {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}
#[cfg(not(unix))]
async fn recv(_: &mut Hangup) {
    std::future::pending().await
}
