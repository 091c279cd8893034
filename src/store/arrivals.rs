//! What the store tells of what reaches it: each stored batch, once it is committed (its span of
//! event times and games, so that the views it may change are refreshed at once, and its late
//! spins: a campaign that ended that long ago may have been taken as complete), and whether a
//! feed (the Kafka consumer) is still catching up on a backlog.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::broadcast;

use crate::backend::{Arrived, LATE_LISTED};
use crate::events::Spin;

/// Batches told and not yet read, at most, before a slow reader is told it lagged.
const BACKLOG: usize = 1024;
/// Games listed per batch, at most; a batch of more touches any game.
const GAMES: usize = 64;

/// A source of spins that can say whether everything it has seen is stored.
pub trait Feed: Send + Sync {
    fn caught_up(&self) -> bool;
}

#[derive(Default)]
pub struct Arrivals {
    told: OnceLock<(Duration, broadcast::Sender<Arrived>)>,
    /// Batches told of so far.
    count: AtomicU64,
    feeds: Mutex<Vec<Arc<dyn Feed>>>,
}

impl Arrivals {
    /// Stored batches from now on, with late spins those older than `horizon` when stored (the
    /// first caller's horizon holds).
    pub fn subscribe(&self, horizon: Duration) -> broadcast::Receiver<Arrived> {
        self.told.get_or_init(|| (horizon, broadcast::channel(BACKLOG).0)).1.subscribe()
    }

    /// What `spins` will tell once stored, if anyone listens and any of them can qualify (a
    /// positive stake), as they stand before being stored.
    pub fn of(&self, spins: &[Spin]) -> Option<Arrived> {
        let (horizon, _) = self.told.get()?;
        let cutoff = (chrono::Utc::now() - *horizon).timestamp_micros();
        let (mut span, mut games, mut late) = (None, Vec::new(), Vec::new());
        let mut beyond: Option<(u64, (i64, i64))> = None;
        for spin in spins.iter().filter(|s| s.stake > 0) {
            let at = spin.event_time.timestamp_micros();
            span = Some(span.map_or((at, at), |(first, last): (i64, i64)| (first.min(at), last.max(at))));
            if games.len() <= GAMES && !games.contains(&spin.game_id) {
                games.push(spin.game_id);
            }
            if at < cutoff && late.len() < LATE_LISTED {
                late.push((at, spin.game_id));
            } else if at < cutoff {
                let (n, (first, last)) = beyond.unwrap_or((0, (at, at)));
                beyond = Some((n + 1, (first.min(at), last.max(at))));
            }
        }
        let span = span?;
        games.sort_unstable();
        let games = (games.len() <= GAMES).then(|| games.into());
        Some(Arrived { seq: 0, span, games, late: late.into(), late_beyond: beyond })
    }

    /// Tells of a batch once it is stored, numbered (by the one writer, in the order stored).
    pub fn stored(&self, arrived: Option<Arrived>) {
        if let (Some(arrived), Some((_, sender))) = (arrived, self.told.get()) {
            let seq = self.count.fetch_add(1, Ordering::AcqRel) + 1;
            let _ = sender.send(Arrived { seq, ..arrived });
        }
    }

    /// Batches told of so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Acquire)
    }

    pub fn attach(&self, feed: Arc<dyn Feed>) {
        self.feeds().push(feed);
    }

    /// Whether every feed has caught up.
    pub fn settled(&self) -> bool {
        self.feeds().iter().all(|f| f.caught_up())
    }

    /// Whether a feed is attached.
    pub fn fed(&self) -> bool {
        !self.feeds().is_empty()
    }

    fn feeds(&self) -> std::sync::MutexGuard<'_, Vec<Arc<dyn Feed>>> {
        self.feeds.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    fn spin(ago: i64, game_id: i32, stake: i32) -> Spin {
        Spin { player_id: 1, game_id, win: 0, stake, event_time: Utc::now() - chrono::Duration::minutes(ago) }
    }

    #[test]
    fn a_batch_tells_its_span_games_and_late_spins_once_stored_and_only_once_asked() {
        let arrivals = Arrivals::default();
        assert!(arrivals.of(&[spin(60, 5, 1)]).is_none(), "nobody asked");
        let mut told = arrivals.subscribe(Duration::from_secs(600));
        let batch = [spin(60, 5, 1), spin(1, 3, 1), spin(90, 9, 0), spin(2, 5, 7)];
        let arrived = arrivals.of(&batch).unwrap();
        assert_eq!(arrived.games.as_deref(), Some([3, 5].as_slice()), "no spin of game 9 can qualify");
        assert_eq!(arrived.late.len(), 1, "an hour old; the zero stake is left out");
        assert_eq!(arrived.span.0, batch[0].event_time.timestamp_micros());
        assert_eq!(arrived.span.1, batch[1].event_time.timestamp_micros());
        assert!(told.try_recv().is_err(), "told once stored, not before");
        assert_eq!(arrivals.count(), 0);
        arrivals.stored(Some(arrived.clone()));
        assert_eq!(told.try_recv().unwrap(), Arrived { seq: 1, ..arrived.clone() }, "numbered from 1");
        arrivals.stored(None);
        arrivals.stored(Some(arrived.clone()));
        assert_eq!(told.try_recv().unwrap().seq, 2, "a batch that tells nothing takes no number");
        assert_eq!(arrivals.count(), 2);
        assert!(arrivals.of(&[spin(1, 1, 0)]).is_none(), "nothing can qualify");
        assert!(arrivals.of(&[spin(1, 1, 1)]).unwrap().late.is_empty());
        // However many late spins a batch has, it lists a bounded number and counts the rest.
        let late: Vec<Spin> = (0..LATE_LISTED as i64 + 10).map(|i| spin(30 + i % 7, 2, 1)).collect();
        let arrived = arrivals.of(&late).unwrap();
        assert_eq!(arrived.late.len(), LATE_LISTED);
        let (beyond, (first, last)) = arrived.late_beyond.unwrap();
        assert_eq!(beyond, 10);
        assert!(first < last && arrived.span.0 <= first && last <= arrived.span.1);
        assert_eq!(arrivals.of(&late[..LATE_LISTED]).unwrap().late_beyond, None);
        let many: Vec<Spin> = (0..=GAMES as i32).map(|g| spin(1, g, 1)).collect();
        assert_eq!(arrivals.of(&many).unwrap().games, None, "too many games: any game");
    }

    #[test]
    fn a_batch_touches_the_views_it_overlaps_in_time_and_games() {
        let arrived = Arrived {
            seq: 1,
            span: (10, 20),
            games: Some([2, 4].into()),
            late: [].into(),
            late_beyond: None,
        };
        assert!(arrived.touches((0, 11), None));
        assert!(arrived.touches((20, 30), Some(&[4])), "the latest spin is in [20, 30)");
        assert!(!arrived.touches((0, 10), None), "[0, 10) ends before the first spin");
        assert!(!arrived.touches((21, 30), None));
        assert!(!arrived.touches((0, 30), Some(&[1, 3])), "other games");
        let any = Arrived { games: None, ..arrived };
        assert!(any.touches((0, 30), Some(&[1, 3])));
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
        assert!(!arrivals.fed());
        arrivals.attach(Arc::new(Behind(false)));
        assert!(arrivals.settled());
        assert!(arrivals.fed());
        arrivals.attach(Arc::new(Behind(true)));
        assert!(!arrivals.settled());
    }
}
