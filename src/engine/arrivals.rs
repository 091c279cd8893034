//! What the backend tells of stored spins, taken to the views it may change: a batch within a
//! live view brings the view's next refresh forward ([`Command::Touched`]), so that a change is
//! seen without waiting for the period; late spins within a final view make it be computed
//! again ([`Command::Recheck`]), and are counted. Each view touched is marked with the batch's
//! number before the engine counts the batch as dispatched, so that a view none touched since a
//! refresh that saw them all is known unchanged (see `owner::untouched`). Ends with the engine.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use tokio::sync::broadcast::{self, error::RecvError};

use super::Shared;
use super::handle::{Command, Published};
use super::registry::Registry;
use crate::backend::Arrived;

pub(super) async fn listen(
    mut told: broadcast::Receiver<Arrived>,
    registry: Weak<Registry>,
    shared: Arc<Shared>,
) {
    loop {
        let arrived = match told.recv().await {
            // One told past a batch never told (numbers are consecutive): as if some were missed.
            Ok(arrived) if arrived.seq > shared.dispatched.load(Ordering::Relaxed) + 1 => None,
            Ok(arrived) => Some(arrived),
            // Some were missed: every view takes itself as touched.
            Err(RecvError::Lagged(_)) => None,
            Err(RecvError::Closed) => return,
        };
        let Some(registry) = registry.upgrade() else { return };
        // Missed batches are numbered up to what the backend has told of by now.
        let seq = arrived.as_ref().map_or_else(|| shared.backend.told(), |a| a.seq);
        dispatch(arrived.as_ref(), seq, &registry, &shared);
        shared.dispatched.fetch_max(seq, Ordering::AcqRel);
    }
}

/// Tells the views `arrived` (`None`: any batch) may change, and marks them with its number.
fn dispatch(arrived: Option<&Arrived>, seq: u64, registry: &Registry, shared: &Shared) {
    let late = arrived.map_or(&[][..], |a| &a.late[..]);
    let mut counted = vec![false; late.len()];
    // The late spins past those listed: counted together, once, if they reach a final view.
    let beyond = arrived.and_then(|a| a.late_beyond.map(|(n, span)| (n, Arrived { span, ..a.clone() })));
    let mut beyond_seen = false;
    for handle in registry.all() {
        // A view still loading may or may not have seen the batch: it is touched.
        let Some(published) = handle.published() else {
            handle.touch(seq);
            continue;
        };
        let command = if published.snapshot.is_final {
            let (range, games) = scope(&published, false);
            let mut hit = arrived.is_none();
            for (&(at, game), seen) in late.iter().zip(&mut counted) {
                let within = range.0 <= at && at < range.1 && games.is_none_or(|g| g.contains(&game));
                *seen |= within;
                hit |= within;
            }
            if let Some((_, beyond)) = &beyond
                && beyond.touches(range, games)
            {
                beyond_seen = true;
                hit = true;
            }
            hit.then_some(Command::Recheck)
        } else {
            let (range, games) = scope(&published, true);
            arrived.is_none_or(|a| a.touches(range, games)).then_some(Command::Touched)
        };
        if let Some(command) = command {
            handle.touch(seq);
            let _ = handle.commands.send(command);
        }
    }
    let beyond = beyond.filter(|_| beyond_seen).map_or(0, |(n, _)| n);
    shared.metrics.late_spins.inc_by(counted.iter().filter(|&&c| c).count() as u64 + beyond);
}

/// The event times (microseconds, `[from, to)`) and games a view ranks spins of: a final view's
/// whole campaign; a live view's window from its start to the campaign's end (a window slides
/// on: spins after its current end belong to its next one).
fn scope(published: &Published, live: bool) -> ((i64, i64), Option<&[i32]>) {
    let campaign = &published.campaign;
    let from = if live { published.snapshot.window.from } else { campaign.start };
    ((from.timestamp_micros(), campaign.end.timestamp_micros()), campaign.games.as_deref())
}
