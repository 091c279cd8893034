//! What the store tells of what reaches it: spins that arrive late (their event time older than
//! the horizon the engine asked about: a campaign that ended that long ago may have been taken
//! as complete), and whether a feed (the Kafka consumer) is still catching up on a backlog.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::broadcast;

use crate::backend::LateSpins;
use crate::events::Spin;

/// Late spins told and not yet read, at most, before a slow reader is told it lagged.
const BACKLOG: usize = 1024;

/// A source of spins that can say whether everything it has seen is stored.
pub trait Feed: Send + Sync {
    fn caught_up(&self) -> bool;
}

#[derive(Default)]
pub struct Arrivals {
    late: OnceLock<(Duration, broadcast::Sender<LateSpins>)>,
    feeds: Mutex<Vec<Arc<dyn Feed>>>,
}

impl Arrivals {
    /// Late spins from now on, those older than `horizon` when stored (the first caller's
    /// horizon holds).
    pub fn subscribe(&self, horizon: Duration) -> broadcast::Receiver<LateSpins> {
        self.late.get_or_init(|| (horizon, broadcast::channel(BACKLOG).0)).1.subscribe()
    }

    /// The late spins among `spins`, counted ones only, as they stood before being stored.
    pub fn late_among(&self, spins: &[Spin]) -> Option<LateSpins> {
        let (horizon, _) = self.late.get()?;
        let cutoff = chrono::Utc::now() - *horizon;
        let late: LateSpins = spins
            .iter()
            .filter(|s| s.win > 0 && s.stake > 0 && s.event_time < cutoff)
            .map(|s| (s.event_time.timestamp_micros(), s.game_id))
            .collect();
        (!late.is_empty()).then_some(late)
    }

    /// Tells of late spins once they are stored.
    pub fn stored(&self, late: Option<LateSpins>) {
        if let (Some(late), Some((_, sender))) = (late, self.late.get()) {
            let _ = sender.send(late);
        }
    }

    pub fn attach(&self, feed: Arc<dyn Feed>) {
        self.feeds.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(feed);
    }

    /// Whether every feed has caught up.
    pub fn settled(&self) -> bool {
        self.feeds.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter().all(|f| f.caught_up())
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    fn spin(ago: i64, win: i64) -> Spin {
        Spin {
            player_id: 1,
            game_id: 3,
            win,
            stake: 1,
            event_time: Utc::now() - chrono::Duration::minutes(ago),
        }
    }

    #[test]
    fn only_counted_spins_past_the_horizon_are_late_and_only_once_asked() {
        let arrivals = Arrivals::default();
        assert!(arrivals.late_among(&[spin(60, 5)]).is_none(), "nobody asked");
        let mut late = arrivals.subscribe(Duration::from_secs(600));
        let found = arrivals.late_among(&[spin(60, 5), spin(1, 5), spin(60, 0)]).unwrap();
        assert_eq!(found.len(), 1, "on time, and a losing spin, are not");
        assert_eq!(found[0].1, 3);
        arrivals.stored(Some(found));
        assert_eq!(late.try_recv().unwrap().len(), 1);
        assert!(arrivals.late_among(&[spin(1, 5)]).is_none());
    }

    struct Behind(bool);

    impl Feed for Behind {
        fn caught_up(&self) -> bool {
            !self.0
        }
    }

    #[test]
    fn settled_while_every_feed_has_caught_up() {
        let arrivals = Arrivals::default();
        assert!(arrivals.settled(), "no feed");
        arrivals.attach(Arc::new(Behind(false)));
        assert!(arrivals.settled());
        arrivals.attach(Arc::new(Behind(true)));
        assert!(!arrivals.settled());
    }
}
