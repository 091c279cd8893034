//! The answers a snapshot keeps encoded for its readers: each shape asked for is encoded (and
//! compressed, per coding asked for) once while the snapshot is current, then read by every
//! request without a lock and without writing anything readers share but reference counts;
//! they go with the snapshot. Every snapshot's kept answers share one bound in bytes
//! ([`Budget`], a quarter of `--snapshot-memory`), and a snapshot keeps at most
//! [`MAX_SHAPES`]: past either, an answer is encoded for its reader alone. A snapshot that is
//! replaced gives its kept answers back at once (a download or a slow reader may hold it long
//! after), and keeps nothing more.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use super::answer::{Encoded, Shape};

/// Shapes one snapshot keeps: popular pages and streamed players, not every player looked up.
pub const MAX_SHAPES: usize = 64;

/// The bytes all snapshots' kept answers may hold.
#[derive(Debug)]
pub struct Budget {
    used: AtomicU64,
    max: u64,
}

impl Budget {
    pub fn new(max: u64) -> Arc<Self> {
        Arc::new(Self { used: AtomicU64::new(0), max })
    }

    /// Takes `bytes`, if they fit.
    fn take(&self, bytes: u64) -> bool {
        let fits = |used: u64| used.checked_add(bytes).filter(|&total| total <= self.max);
        self.used.fetch_update(Ordering::Relaxed, Ordering::Relaxed, fits).is_ok()
    }

    /// Whether nothing more fits.
    fn full(&self) -> bool {
        self.used.load(Ordering::Relaxed) >= self.max
    }

    #[cfg(test)]
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }
}

/// What one snapshot has taken from the budget, given back when the snapshot goes.
struct Charge {
    budget: Arc<Budget>,
    bytes: u64,
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

#[derive(Default)]
pub struct Kept {
    answers: ArcSwap<Vec<(Shape, Arc<Encoded>)>>,
    /// Held while an answer is encoded and added, so that readers who miss together encode it
    /// once; its charge against the budget.
    adding: Mutex<Option<Charge>>,
    /// The snapshot was replaced: it keeps nothing.
    retired: AtomicBool,
}

impl Kept {
    /// The answer `shape`, kept if it was encoded before, else encoded by `encode` (and kept,
    /// marked shared, if there is room). One that cannot be kept is encoded outside the lock,
    /// so readers past the bound never wait for each other.
    pub fn get_or_encode(
        &self,
        shape: Shape,
        budget: &Arc<Budget>,
        encode: impl FnOnce() -> Encoded,
    ) -> Arc<Encoded> {
        if let Some(kept) = self.find(shape) {
            return kept;
        }
        let full = self.answers.load().len() >= MAX_SHAPES || budget.full();
        if full || self.retired.load(Ordering::Relaxed) {
            return Arc::new(encode());
        }
        let mut charge = self.lock();
        if let Some(kept) = self.find(shape) {
            return kept;
        }
        let encoded = encode();
        let answers = self.answers.load();
        let weight = encoded.weight();
        if self.retired.load(Ordering::Relaxed) || answers.len() >= MAX_SHAPES || !budget.take(weight) {
            return Arc::new(encoded);
        }
        charge.get_or_insert_with(|| Charge { budget: budget.clone(), bytes: 0 }).bytes += weight;
        let encoded = Arc::new(encoded.shared());
        let mut more = Vec::with_capacity(answers.len() + 1);
        more.extend(answers.iter().cloned());
        more.push((shape, encoded.clone()));
        self.answers.store(Arc::new(more));
        encoded
    }

    /// Gives the kept answers and their bytes back; nothing is kept from now on.
    pub fn retire(&self) {
        let mut charge = self.lock();
        self.retired.store(true, Ordering::Relaxed);
        self.answers.store(Arc::default());
        charge.take();
    }

    /// A panic while encoding (a bug) leaves nothing half-done here: the charge changes only
    /// after an answer is encoded.
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Charge>> {
        self.adding.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn find(&self, shape: Shape) -> Option<Arc<Encoded>> {
        self.answers.load().iter().find(|(kept, _)| *kept == shape).map(|(_, encoded)| encoded.clone())
    }
}

impl std::fmt::Debug for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Kept({} answers)", self.answers.load().len())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use bytes::Bytes;

    use super::*;
    use crate::leaderboard::{Limit, MaxLimit, MaxStandings, Offset};
    use crate::representation::Representation;

    fn page(offset: u32) -> Shape {
        let max = MaxStandings::new(1_000).unwrap();
        let offset = Offset::parse(Some(&offset.to_string()), max).unwrap();
        Shape::Page { offset, limit: Limit::parse(None, MaxLimit::new(100).unwrap()).unwrap() }
    }

    fn body(bytes: usize, encodings: &AtomicUsize) -> impl FnOnce() -> Encoded + '_ {
        move || {
            encodings.fetch_add(1, Ordering::Relaxed);
            Encoded::new(Representation::json(Bytes::from(vec![b' '; bytes])))
        }
    }

    #[test]
    fn an_answer_is_encoded_once_and_its_bytes_given_back_with_its_snapshot() {
        let (budget, encodings) = (Budget::new(1_000), AtomicUsize::new(0));
        let kept = Kept::default();
        let first = kept.get_or_encode(page(0), &budget, body(100, &encodings));
        let again = kept.get_or_encode(page(0), &budget, body(100, &encodings));
        assert!(Arc::ptr_eq(&first, &again), "the kept answer is read again");
        assert_eq!(encodings.load(Ordering::Relaxed), 1);
        assert_eq!(budget.used(), 200, "its body and as much again");
        kept.get_or_encode(page(10), &budget, body(100, &encodings));
        assert_eq!((encodings.load(Ordering::Relaxed), budget.used()), (2, 400));
        drop(kept);
        assert_eq!(budget.used(), 0, "the snapshot went, and its charge with it");
    }

    #[test]
    fn past_the_budget_or_the_shapes_an_answer_is_encoded_for_its_reader_alone() {
        let (budget, encodings) = (Budget::new(300), AtomicUsize::new(0));
        let kept = Kept::default();
        kept.get_or_encode(page(0), &budget, body(100, &encodings));
        kept.get_or_encode(page(1), &budget, body(100, &encodings));
        kept.get_or_encode(page(1), &budget, body(100, &encodings));
        assert_eq!((encodings.load(Ordering::Relaxed), budget.used()), (3, 200), "past the budget: not kept");

        let (budget, encodings) = (Budget::new(u64::MAX), AtomicUsize::new(0));
        let kept = Kept::default();
        for offset in 0..=MAX_SHAPES as u32 {
            kept.get_or_encode(page(offset), &budget, body(1, &encodings));
        }
        kept.get_or_encode(page(0), &budget, body(1, &encodings));
        kept.get_or_encode(page(MAX_SHAPES as u32), &budget, body(1, &encodings));
        assert_eq!(encodings.load(Ordering::Relaxed), MAX_SHAPES + 2, "the first {MAX_SHAPES} kept, no more");
    }

    /// Whether the answer at `offset` is kept: asked twice, the same encoding both times.
    fn encoded(kept: &Kept, budget: &Arc<Budget>, offset: u32) -> bool {
        let plain = || Encoded::new(Representation::json(Bytes::from_static(b"{}")));
        Arc::ptr_eq(
            &kept.get_or_encode(page(offset), budget, plain),
            &kept.get_or_encode(page(offset), budget, plain),
        )
    }

    /// Answers that cannot be kept are encoded for their reader (and told so, so that their
    /// compression takes no extra effort); a panic while encoding leaves the others working.
    #[test]
    fn past_the_bounds_answers_are_encoded_plainly_and_a_panic_wedges_nothing() {
        let (kept, budget) = (Kept::default(), Budget::new(u64::MAX));
        assert!(encoded(&kept, &budget, 0), "room: kept");
        for offset in 1..MAX_SHAPES as u32 {
            encoded(&kept, &budget, offset);
        }
        assert!(!encoded(&kept, &budget, 999), "past the shapes: for its reader alone");
        assert!(!encoded(&Kept::default(), &Budget::new(0), 0), "past the budget too");

        let kept = Kept::default();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            kept.get_or_encode(page(0), &budget, || panic!("a bug while encoding"))
        }));
        assert!(panicked.is_err());
        assert!(encoded(&kept, &budget, 0), "the next reader encodes and keeps it");

        // Replaced: its bytes are given back though the snapshot lives on, and nothing more is
        // kept.
        let (budget, encodings) = (Budget::new(1_000), AtomicUsize::new(0));
        let kept = Kept::default();
        kept.get_or_encode(page(0), &budget, body(100, &encodings));
        assert_eq!(budget.used(), 200);
        kept.retire();
        assert_eq!(budget.used(), 0);
        assert!(!encoded(&kept, &budget, 0), "retired: for its reader alone");
        assert_eq!(budget.used(), 0);
    }
}
