//! The views held: a map from view to handle that readers look up without locks (it is
//! replaced whole, under a lock, when a view comes or goes), bounded in number (`--max-views`)
//! and in bytes (`--snapshot-memory`). Past either bound the least recently read view that has
//! standings to show is told to end, whatever reads it: its open streams end too, and their
//! clients reconnect. Views still loading are not pushed out: when every view held is loading, a
//! new one is refused (the backend is as busy as the service lets it be).

use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use hashbrown::{Equivalent, HashMap};

use super::ViewKey;
use super::handle::{Command, Handle};
use crate::campaigns::CampaignId;
use crate::leaderboard::View;

/// A view named by borrowed parts: found in the map without a key made (and its id's count
/// taken) per read. It hashes as the [`ViewKey`] it names.
#[derive(Hash)]
struct Named<'a> {
    campaign: &'a str,
    view: View,
}

impl Equivalent<ViewKey> for Named<'_> {
    fn equivalent(&self, key: &ViewKey) -> bool {
        key.campaign.as_str() == self.campaign && key.view == self.view
    }
}

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

    /// What `look` finds in the view `view` of `campaign`, if it is held: the hot path of every
    /// read, which takes no reference to the map or the view unless `look` does.
    pub fn with<T>(
        &self,
        campaign: &CampaignId,
        view: View,
        look: impl FnOnce(&Arc<Handle>) -> T,
    ) -> Option<T> {
        self.views.load().get(&Named { campaign: campaign.as_str(), view }).map(look)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::leaderboard::Span;

    /// Every read finds its view by borrowed parts: they must hash and compare as its key.
    #[test]
    fn a_view_is_found_by_its_parts_and_no_other() {
        let key = |campaign: &str, view| ViewKey { campaign: CampaignId::parse(campaign).unwrap(), view };
        let hour = View::Window(Span::parse("1h").unwrap());
        let keys = [key("a", View::Top), key("a", hour), key("b", View::Top), key("ab", View::Top)];
        let map: HashMap<ViewKey, usize> = keys.iter().cloned().zip(0..).collect();
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(map.get(&Named { campaign: key.campaign.as_str(), view: key.view }), Some(&i));
        }
        let day = View::Window(Span::parse("1d").unwrap());
        assert_eq!(map.get(&Named { campaign: "a", view: day }), None);
        assert_eq!(map.get(&Named { campaign: "c", view: View::Top }), None);
    }
}
