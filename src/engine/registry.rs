//! The views held: a map from view to handle that readers look up without locks (it is
//! replaced whole, under a lock, when a view comes or goes), bounded in number (`--max-views`)
//! and in bytes (`--snapshot-memory`). Past either bound the least recently read view that has
//! standings to show is told to end, whatever reads it: its open streams end too, and their
//! clients reconnect. Views still loading are not pushed out: when every view held is loading, a
//! new one is refused (the backend is as busy as the service lets it be).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use super::ViewKey;
use super::handle::{Command, Handle};

pub struct Registry {
    views: ArcSwap<HashMap<ViewKey, Arc<Handle>>>,
    /// Held while the map is replaced.
    changing: Mutex<()>,
    max_views: usize,
    max_bytes: u64,
}

impl Registry {
    pub fn new(max_views: u64, max_bytes: u64) -> Self {
        Self {
            views: ArcSwap::from_pointee(HashMap::new()),
            changing: Mutex::new(()),
            max_views: usize::try_from(max_views).unwrap_or(usize::MAX).max(1),
            max_bytes,
        }
    }

    pub fn get(&self, key: &ViewKey) -> Option<Arc<Handle>> {
        self.views.load().get(key).cloned()
    }

    /// The view `key`, made by `make` (and then started by `start`, with what `make` gave it)
    /// unless it is held; room is made for it first. `None`: no room, every view held is loading.
    pub fn get_or_insert<T>(
        &self,
        key: &ViewKey,
        make: impl FnOnce() -> (Arc<Handle>, T),
        start: impl FnOnce(Arc<Handle>, T),
    ) -> Option<Arc<Handle>> {
        if let Some(handle) = self.get(key) {
            return Some(handle);
        }
        let _changing = self.lock();
        let current = self.views.load_full();
        if let Some(handle) = current.get(key) {
            return Some(handle.clone());
        }
        let mut views = (*current).clone();
        while views.len() >= self.max_views {
            if !evict_least_recent(&mut views, None) {
                return None;
            }
        }
        let (handle, made) = make();
        views.insert(key.clone(), handle.clone());
        self.views.store(Arc::new(views));
        start(handle.clone(), made);
        Some(handle)
    }

    /// Forgets `handle` (its owner ended), unless another view took its place.
    pub fn remove(&self, handle: &Arc<Handle>) {
        let _changing = self.lock();
        let current = self.views.load_full();
        if current.get(&handle.key).is_some_and(|held| Arc::ptr_eq(held, handle)) {
            let mut views = (*current).clone();
            views.remove(&handle.key);
            self.views.store(Arc::new(views));
        }
    }

    /// After `handle` grew: while the views hold more bytes than allowed, the least recently
    /// read others end.
    pub fn reweigh(&self, handle: &Arc<Handle>) {
        if self.bytes() <= self.max_bytes {
            return;
        }
        let _changing = self.lock();
        let mut views = (*self.views.load_full()).clone();
        let before = views.len();
        while total(&views) > self.max_bytes && views.len() > 1 {
            if !evict_least_recent(&mut views, Some(handle)) {
                break;
            }
        }
        if views.len() != before {
            self.views.store(Arc::new(views));
        }
    }

    pub fn all(&self) -> Vec<Arc<Handle>> {
        self.views.load().values().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.views.load().len()
    }

    pub fn bytes(&self) -> u64 {
        total(&self.views.load())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.changing.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn total(views: &HashMap<ViewKey, Arc<Handle>>) -> u64 {
    views.values().map(|h| h.bytes() as u64).sum()
}

/// Tells the least recently read view with standings to show (but `keep`) to end, and forgets
/// it; false if there is none.
fn evict_least_recent(views: &mut HashMap<ViewKey, Arc<Handle>>, keep: Option<&Arc<Handle>>) -> bool {
    let victim = views
        .values()
        .filter(|h| keep.is_none_or(|keep| !Arc::ptr_eq(h, keep)) && h.published().is_some())
        .min_by_key(|h| h.last_read())
        .cloned();
    let Some(victim) = victim else { return false };
    tracing::debug!(campaign = %victim.key.campaign, view = ?victim.key.view, "dropping the least recently read view");
    let _ = victim.commands.send(Command::End);
    views.remove(&victim.key);
    true
}
