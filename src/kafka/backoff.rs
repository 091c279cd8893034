//! The pause between retries of something that failed: doubling from a fifth of a second up
//! to ten seconds, with jitter so that partitions (and replicas) do not retry in lockstep.

use std::time::Duration;

use rand::RngExt;

const FIRST: Duration = Duration::from_millis(200);
const LONGEST: Duration = Duration::from_secs(10);

pub struct Backoff {
    next: Duration,
}

impl Backoff {
    pub fn new() -> Self {
        Self { next: FIRST }
    }

    /// The pause before the next attempt: between half and all of the current step.
    pub fn next(&mut self) -> Duration {
        let step = self.next;
        self.next = (step * 2).min(LONGEST);
        step.mul_f64(rand::rng().random_range(0.5..=1.0))
    }

    /// After a success: the next failure waits the shortest pause again.
    pub fn reset(&mut self) {
        self.next = FIRST;
    }
}
