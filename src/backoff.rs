//! The pause between retries of something that failed, said once for every retrier (the ADX
//! client, its token refresh, the Kafka consumer): a step doubling from a first one up to a
//! longest, with jitter so that retrying tasks (and replicas) do not retry in lockstep.

use std::time::Duration;

use rand::RngExt;

/// A doubling step, from `first` up to `longest`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    first: Duration,
    longest: Duration,
}

impl Backoff {
    pub const fn new(first: Duration, longest: Duration) -> Self {
        Self { first, longest }
    }

    /// The step after `failures` failures in a row (from 1).
    pub fn step(self, failures: u32) -> Duration {
        self.first.saturating_mul(1 << failures.saturating_sub(1).min(16)).min(self.longest)
    }

    /// Half to all of the step ("equal jitter"): at least a good wait, spread out.
    pub fn pause(self, failures: u32) -> Duration {
        self.step(failures).mul_f64(rand::rng().random_range(0.5..=1.0))
    }

    /// Anything up to the step ("full jitter"): the most spread, for many clients of one server.
    pub fn up_to(self, failures: u32) -> Duration {
        self.step(failures).mul_f64(rand::rng().random_range(0.0..=1.0))
    }
}

/// Failures in a row, and the pause after each.
#[derive(Debug)]
pub struct Attempts {
    backoff: Backoff,
    failures: u32,
}

impl Attempts {
    pub fn new(backoff: Backoff) -> Self {
        Self { backoff, failures: 0 }
    }

    /// The pause before the next attempt, after one more failure.
    pub fn failed(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        self.backoff.pause(self.failures)
    }

    /// Failures in a row so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Whether the latest failure is the first in a row (the one worth a log line).
    pub fn first(&self) -> bool {
        self.failures == 1
    }

    /// After a success: the next failure waits the shortest pause again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(2));

    #[test]
    fn steps_double_up_to_the_longest_and_pauses_are_jittered_within_them() {
        assert_eq!((B.step(1), B.step(4), B.step(40)), (B.first, B.first * 8, B.longest));
        for failures in [1, 4, 40] {
            let step = B.step(failures);
            let halves: Vec<Duration> = (0..200).map(|_| B.pause(failures)).collect();
            assert!(halves.iter().all(|p| step / 2 <= *p && *p <= step), "{failures}: {halves:?}");
            let full: Vec<Duration> = (0..200).map(|_| B.up_to(failures)).collect();
            // Without jitter every draw would be the step: 200 equal draws are practically
            // impossible, and the spread covers most of [0, step].
            let (low, high) = (full.iter().min().unwrap(), full.iter().max().unwrap());
            assert!(
                *low < step / 4 && *high > step * 3 / 4 && *high <= step,
                "{failures}: {low:?}..{high:?}"
            );
        }
        let mut attempts = Attempts::new(B);
        assert!(attempts.failed() <= B.first && attempts.failed() <= B.first * 2);
        attempts.reset();
        assert!(attempts.failed() <= B.first);
    }
}
